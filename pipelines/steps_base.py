"""What every step kind shares: names, the error with its key path, base models, compiled SQL, column look-up.

Each step kind is a model (``steps_model``, ``steps_days``) and a compiler to one DuckDB SELECT
(``steps_sql``, ``steps_days``). Both halves import from here, so a kind may live in a module of its
own without importing the others.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field

from .model import NAME, Strict

if TYPE_CHECKING:
    from .steps_model import Step

StepName = Annotated[str, Field(pattern=NAME)]
ColumnName = Annotated[str, Field(min_length=1)]
Schema = Sequence[tuple[str, str]]  # (column, DuckDB type), in order

INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}


class StepError(ValueError):
    """A step that cannot run. ``path`` is relative to the ``steps:`` list, e.g. ``[2, "join", "on", "id"]``."""

    def __init__(self, path: list[Any], message: str) -> None:
        self.path = list(path)
        self.message = message
        super().__init__(f"steps.{'.'.join(str(p) for p in self.path)}: {message}")


class StepSpec(Strict):
    """What every step kind has: the name of its result."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    as_: StepName = Field(alias="as")

    def reads(self) -> list[tuple[list[Any], str]]:
        """(key path inside the step, name) of each source or step this step reads, in order."""
        raise NotImplementedError


class OneInput(StepSpec):
    """A step that reshapes one input, named by ``from``."""

    from_: StepName = Field(alias="from")

    def reads(self) -> list[tuple[list[Any], str]]:
        return [(["from"], self.from_)]


def unique(values: list[str], what: str) -> list[str]:
    """``values`` unchanged, or an error naming the first one listed twice."""
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{what} {seen[0]!r} is listed twice")
    return values


def quote(name: str) -> str:
    """A DuckDB identifier: always quoted, embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def family(type_: str) -> str:
    """What kind of value a DuckDB type holds: number, time, text, true/false, or the type itself."""
    if type_ in INTEGERS or type_ in {"UBIGINT", "HUGEINT", "UHUGEINT", "FLOAT", "DOUBLE"}:
        return "number"
    if type_.startswith("DECIMAL"):
        return "number"
    if type_.startswith(("DATE", "TIMESTAMP")):
        return "time"
    return {"VARCHAR": "text", "BOOLEAN": "true/false"}.get(type_, type_)


@dataclass(frozen=True)
class Probe:
    path: list[Any]  # relative to the steps list
    sql: str
    params: tuple[Any, ...] = ()
    expression: str | None = None  # derive: the author's expression, checked to be exactly one
    hint: str = ""


@dataclass(frozen=True)
class Compiled:
    sql: str
    params: tuple[Any, ...] = ()
    probes: tuple[Probe, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Context:
    """One step being compiled: where it sits, the schemas it may read, the flow's time zone."""

    index: int
    step: Step
    schemas: Mapping[str, Schema]
    zone: str = "UTC"  # the flow's time zone (its schedule's), for steps that cut time into days

    def path(self, *tail: Any) -> list[Any]:
        return [self.index, self.step.kind, *tail]

    def error(self, tail: Sequence[Any], message: str) -> StepError:
        return StepError(self.path(*tail), f"step '{self.step.name}' ({self.step.kind}): {message}")

    def column(self, tail: Sequence[Any], source: str, name: str) -> str:
        """The type of ``source.name``, or an error listing the columns there are."""
        schema = self.schemas[source]
        for column, type_ in schema:
            if column == name:
                return type_
        names = [c for c, _ in schema]
        close = difflib.get_close_matches(name, names, n=1) or [c for c in names if c.lower() == name.lower()]
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise self.error(tail, f"'{source}' has no column '{name}'{hint}; its columns: {', '.join(names)}")
