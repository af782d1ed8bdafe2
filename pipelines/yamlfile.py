"""Flow-file YAML with line numbers, and pydantic errors turned into ``file:line: key.path: problem``.

A file is parsed once with libyaml (``CSafeLoader``): the node tree gives the line of every key, the
constructed data goes to the models. ``problems_of`` turns a pydantic ``ValidationError`` into
problems that point at the line, name the key path and, for an unknown key, suggest the nearest
allowed one ("did you mean 'schedule'?"). A date that does not exist (``2026-13-45``) stays text
while the file is read, and ``bad_dates`` reports it with its line, wherever in the file it is.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_DATE_HINT = "write a real day as YYYY-MM-DD, e.g. 2026-01-31"


class _FlowLoader(_Loader):  # type: ignore[misc,valid-type]  # CSafeLoader, else SafeLoader
    """libyaml, except that a date which does not exist stays text instead of failing the whole
    file with a traceback (``bad_dates`` reports it with its line)."""


def _date_or_text(loader: Any, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_FlowLoader.add_constructor(_TIMESTAMP, _date_or_text)
_DATES = yaml.constructor.SafeConstructor()


@dataclass(frozen=True)
class Problem:
    """One mistake in a flow file: where it is and what to do about it."""

    file: str
    line: int | None
    path: str  # dotted key path, e.g. flows.billing.sources.entries.entity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line or '?'}: {self.path or '(top)'}: {self.message}"


def closest(word: object, choices: Iterable[str]) -> str | None:
    """The choice close enough to ``word`` to be what was meant, if any."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a choice is close to ``word``, else ``""``."""
    meant = closest(word, choices)
    return f"; did you mean {meant!r}?" if meant else ""


def literal_choices(err: Mapping[str, Any]) -> list[str]:
    """The values a pydantic ``literal_error`` allowed (from its ``expected`` text)."""
    return re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """(data, root node) of a YAML file; ``yaml.YAMLError`` for text that is not YAML."""
    loader = _FlowLoader(path.read_text(encoding="utf-8"))
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, root


def node_line(root: yaml.Node | None, path: Sequence[Any]) -> int | None:
    """Line (1-based) of the deepest YAML node reachable along ``path``."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in path:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(key)), None)
            if pair is None:
                break
            node, line = pair[1], pair[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def bad_dates(file: str, root: yaml.Node | None) -> list[Problem]:
    """Every date of the file that does not exist (``2026-13-45``, ``2026-02-30``), with its line."""
    found: list[Problem] = []
    seen: set[int] = set()  # an alias repeats a node (or contains itself): visit each once

    def visit(node: yaml.Node, path: list[Any]) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                visit(key, path)  # a date as a key is reported at its mapping
                visit(value, [*path, getattr(key, "value", "?")])
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                visit(item, [*path, i])
        elif isinstance(node, yaml.ScalarNode) and node.tag == _TIMESTAMP:
            try:
                _DATES.construct_yaml_timestamp(node)
            except ValueError as exc:
                message = f"{node.value} is not a date ({exc}); {_DATE_HINT}"
                found.append(Problem(file, node.start_mark.line + 1, dotted(path), message))

    if root is not None:
        visit(root, [])
    return found


def dotted(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path)


def _models_in(annotation: Any) -> list[Any]:
    """The types an annotation may hold (Optional/Union/Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _models_in(arg) if t is not type(None)]
    return [annotation]


def _descend(annotation: Any, key: Any) -> list[Any]:
    out = []
    for tp in _models_in(annotation):
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for name, field in tp.model_fields.items():
                if key in (name, field.alias):
                    out.append(field.annotation)
        elif origin is dict:
            out.append(typing.get_args(tp)[1])
        elif origin in (list, tuple) and isinstance(key, int):
            out.append(typing.get_args(tp)[0])
    return out


def allowed_keys(model: type[BaseModel], path: Sequence[Any]) -> list[str]:
    """The keys the mapping at ``path`` (a key path inside ``model``) may have."""
    current: list[Any] = [model]
    for key in path:
        current = [t for tp in current for t in _descend(tp, key)]
    names: list[str] = []
    for tp in current:
        for t in _models_in(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                names += [f.alias or n for n, f in t.model_fields.items()]
    return names


def problems_of(
    exc: ValidationError,
    model: type[BaseModel],
    file: str,
    root: yaml.Node | None,
    prefix: Sequence[Any] = (),
) -> list[Problem]:
    """One problem per pydantic error of validating ``model`` at ``prefix`` of the file."""
    out = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal[")))]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = allowed_keys(model, loc[:-1])
            msg = f"unknown key {loc[-1]!r}{did_you_mean(loc[-1], allowed)}"
            if allowed:
                msg += f" (allowed here: {', '.join(allowed)})"
        elif err["type"] == "missing":
            msg = f"missing: add {loc[-1]}:"
        elif err["type"] == "literal_error" and isinstance(err.get("input"), str):
            choices = literal_choices(err)
            msg = f"{err['input']!r} is not one of {', '.join(choices)}{did_you_mean(err['input'], choices)}"
        elif err["type"].startswith(("date_", "datetime_")):
            msg += f"; {_DATE_HINT}"
        full = [*prefix, *loc]
        out.append(Problem(file, node_line(root, full), dotted(full), msg))
    return out


def flow_error_lines(problems: Sequence[Problem]) -> str:
    return "\n  ".join(str(p) for p in problems)


class FlowError(ValueError):
    """Mistakes in flow files. ``str()`` gives one line per problem: file:line: key.path: message."""

    def __init__(self, problems: Sequence[Problem | tuple[str, int | None, str, str]]) -> None:
        self.problems = [p if isinstance(p, Problem) else Problem(*p) for p in problems]
        super().__init__("invalid flow file:\n  " + flow_error_lines(self.problems))
