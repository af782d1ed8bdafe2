"""Output checks that need the disk or the planned columns, made when flows load, not mid-run.

* A file output's path (the setting its destination names as ``file_setting``: DuckDB's and Excel's
  ``path``) must be writable from here: not an existing folder, not
  "under" a regular file, and the nearest folder that exists (the parent, or the ancestor the
  writer will create the missing folders in) must let this user create files. The writers resolve
  a relative path against the working directory, so this check does too.
* An output's ``primary_key`` must name columns of what feeds it: the source's staged columns or the
  step's planned ones (``check.check_flow`` passes them). A key the data lacks fails every write.

Each check returns ``(key path, message)`` pairs like ``check.py`` so the loader adds file and line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import Flow, Output
from .yamlfile import did_you_mean

Found = list[tuple[list[Any], str]]


def check_outputs(name: str, flow: Flow, columns: Mapping[str, Sequence[tuple[str, str]]]) -> Found:
    """Problems of the outputs of flow ``name``; ``columns``: (name, type) of each source/step known."""
    found: Found = []
    for i, out in enumerate(flow.outputs):
        loc: list[Any] = ["flows", name, "outputs", i]
        destination = out.to.destination
        path = destination.local_path(out.to.settings)
        if path is not None and path != ":memory:":  # DuckDB's name for a database without a file
            problem = path_problem(path, destination.file_example)
            if problem:
                found.append(([*loc, "to", destination.kind, destination.file_setting], problem))
        if destination.modes is not None and out.mode not in destination.modes:
            found.append(
                (
                    [*loc, "mode"],
                    f"{destination.kind} outputs take mode {' or '.join(destination.modes)}, not "
                    f"{out.mode!r}; write mode: {destination.modes[0]}",
                )
            )
        if out.primary_key and out.from_ in columns:
            found += _key_problems(loc, out, [c for c, _ in columns[out.from_]])
    return found


def path_problem(path: str, example: str = "data.out") -> str:
    """Why a file output cannot be written at ``path`` (``""``: nothing found); ``example``: a file
    name to suggest when ``path`` is a folder."""
    try:
        return _path_problem(Path(path), path, example)
    except OSError as exc:  # e.g. a folder on the way that this user may not even look into
        return f"cannot check {path!r}: {exc.strerror or exc}; choose a path this user can reach"


def _path_problem(target: Path, path: str, example: str) -> str:
    if target.is_dir():
        return f"{path!r} is a folder; name a file inside it, e.g. path: {(target / example).as_posix()}"
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    # ``exists`` is false for a path through a file ("a.txt/x"): find the file among the ancestors.
    under = next((p for p in [target.parent, *target.parent.parents] if p.is_file()), None)
    if under is not None:
        return (
            f"{path!r} lies under {under.as_posix()!r}, which is a file, not a folder; choose a path "
            f"in a folder (e.g. path: {(under.parent / example).as_posix()}) or move that file away"
        )
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        shown = folder.as_posix() if str(folder) else "."
        return (
            f"cannot create {path!r}: the folder {shown!r} is not writable for this user; "
            "choose a folder you can write to, or change its permissions"
        )
    if target.is_file() and not os.access(target, os.W_OK):
        return f"{path!r} is read-only for this user; make it writable (chmod u+w) or choose another path"
    return ""


def _key_problems(loc: list[Any], out: Output, names: list[str]) -> Found:
    assert out.primary_key is not None
    found: Found = []
    for key in out.primary_key:
        if key in names:
            continue
        same_but_case = [n for n in names if n.lower() == key.lower()]
        hint = f"; did you mean {same_but_case[0]!r}?" if same_but_case else did_you_mean(key, names)
        found.append(
            (
                [*loc, "primary_key"],
                f"primary key column {key!r} is not a column of {out.from_!r}{hint} "
                f"(its columns: {', '.join(names)}); set primary_key to columns {out.from_!r} has",
            )
        )
    return found
