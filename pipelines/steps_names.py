"""Flow steps' names: each step's ``as:`` name unique and not a source's, and every name a step reads
defined above it (no forward reference, no cycle). Used by ``steps.plan_steps`` and, for a flow whose
sources cannot be planned, alone (``check_step_names``), so a misspelt name still shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .steps_model import Step, StepError


def _cycle(start: str, goal: str, reads: Mapping[str, list[str]]) -> list[str]:
    """The chain start -> ... -> goal along ``reads``, or [] if there is none."""
    stack, seen = [[start]], {start}
    while stack:
        chain = stack.pop()
        for nxt in reads.get(chain[-1], []):
            if nxt == goal:
                return [*chain, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append([*chain, nxt])
    return []


def check_names(steps: Sequence[Step], sources: Mapping[str, Any]) -> dict[str, int]:
    """Each step's name -> its index; raises ``StepError`` for a name taken twice or by a source."""
    defined: dict[str, int] = {}
    for i, step in enumerate(steps):
        path = [i, step.kind, "as"]
        if step.name in sources:
            raise StepError(path, f"'{step.name}' is already a source of this flow; choose another as: name")
        if step.name in defined:
            raise StepError(
                path, f"two steps are named '{step.name}' (steps {defined[step.name]} and {i}); rename one"
            )
        defined[step.name] = i
    return defined


def check_reads(i: int, steps: Sequence[Step], known: Mapping[str, Any], defined: Mapping[str, int]) -> None:
    """Raise ``StepError`` unless every name step ``i`` reads is ``known`` (a source or a step above it,
    already planned); says whether a missing name is unknown, the step itself, below it or in a cycle."""
    step = steps[i]
    for tail, ref in step.spec.reads():
        if ref in known:
            continue
        path = [i, step.kind, *tail]
        where = defined.get(ref)
        if where is None:
            above = [s.name for s in steps[:i]]
            raise StepError(
                path,
                f"step '{step.name}' reads '{ref}', which is neither a source nor a step above it; "
                f"sources: {', '.join(sorted(n for n in known if n not in above)) or '-'}; "
                f"steps above: {', '.join(above) or '-'}",
            )
        if where == i:
            raise StepError(
                path, f"step '{step.name}' reads its own result; read a source or an earlier step"
            )
        reads = {s.name: [r for _, r in s.spec.reads()] for s in steps}
        chain = _cycle(ref, step.name, reads)
        if chain:
            raise StepError(path, f"steps read each other in a cycle: {' -> '.join([step.name, *chain])}")
        raise StepError(
            path,
            f"step '{step.name}' reads '{ref}', which is defined below it (steps[{where}]); "
            f"move '{ref}' above '{step.name}': a step reads only sources and steps above it",
        )


def check_step_names(steps: Sequence[Step], sources: Sequence[str]) -> None:
    """Check only the names ``steps`` define and read, over sources named ``sources``.

    For a flow whose sources have problems (an unknown entity or connection: no columns to plan
    with), so a misspelt step name still shows in the same pass. Raises ``StepError`` as
    ``plan_steps`` does.
    """
    known = dict.fromkeys(sources)
    defined = check_names(steps, known)
    for i in range(len(steps)):
        check_reads(i, steps, known, defined)
