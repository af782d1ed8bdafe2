"""Load flow files: YAML -> validated ``FlowFile``, with errors that point at file, line and key.

``load_flows()`` reads the files named by ``COUPLET_FLOWS`` (files or folders, separated by
``os.pathsep``) or, when unset, the flows shipped in ``pipelines/flows/``. Several files merge;
a connection or flow defined twice is an error naming both files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from connectors import CONNECTORS, get_source

from .config import FlowFile

SHIPPED = Path(__file__).parent / "flows"


class FlowError(ValueError):
    """A mistake in a flow file. ``str()`` gives one line per problem: file:line: key.path: message."""

    def __init__(self, problems: Sequence[tuple[str, int | None, str, str]]) -> None:
        self.problems = list(problems)
        lines = [
            f"{f}:{line if line else '?'}: {path or '(top)'}: {msg}" for f, line, path, msg in self.problems
        ]
        super().__init__("invalid flow file:\n  " + "\n  ".join(lines))


def _node_line(root: yaml.Node | None, path: Sequence[Any]) -> int | None:
    """Line (1-based) of the deepest YAML node reachable along ``path``."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
            if nxt is None:
                break
            key_node = next(k for k, v in node.value if v is nxt)
            node, line = nxt, key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path)


def parse_file(path: Path) -> tuple[FlowFile, yaml.Node | None]:
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FlowError(
            [(str(path), mark.line + 1 if mark else None, "", f"not valid YAML: {exc}")]
        ) from None
    if not isinstance(data, dict):
        raise FlowError([(str(path), 1, "", "a flow file is a mapping with connections: and flows:")])
    try:
        return FlowFile.model_validate(data), root
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal[")))
            ]
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r}"
            problems.append((str(path), _node_line(root, loc), _dotted(loc), msg))
        raise FlowError(problems) from None


Locate = Any  # callable: key path -> (file, line)


def check(flow_file: FlowFile, locate: Locate) -> None:
    """Cross-references the schema cannot see: connectors, entities, settings, sources, keys."""
    from connectors.core.errors import ConfigError
    from connectors.core.extract import staged_schema
    from connectors.core.settings import resolve_settings

    from .steps import StepError, arrow_columns, plan_steps

    problems: list[tuple[str, int | None, str, str]] = []

    def add(loc: list[Any], msg: str) -> None:
        file, line = locate(loc)
        problems.append((file, line, _dotted(loc), msg))

    for name, conn in flow_file.connections.items():
        if conn.connector not in CONNECTORS:
            add(
                ["connections", name, "connector"],
                f"unknown connector {conn.connector!r}; use one of {sorted(CONNECTORS)}",
            )
            continue
        source = get_source(conn.connector)
        env, literals = conn.setting_values()
        known = {s.name for s in source.settings}
        for key in {**env, **literals}:
            if key not in known:
                add(
                    ["connections", name, key],
                    f"unknown setting {key!r} for {conn.connector}; settings are {sorted(known)}",
                )
        try:  # only shape problems here: missing env values are fine until a run starts
            resolve_settings(
                source,
                {k: v for k, v in env.items() if k in known},
                {k: v for k, v in literals.items() if k in known},
                environ={},
            )
        except ConfigError as exc:
            if "is a secret" in exc.message:
                add(["connections", name], exc.message)
    for fname, flow in flow_file.flows.items():
        for sname, spec in flow.sources.items():
            loc = ["flows", fname, "sources", sname]
            conn = flow_file.connections.get(spec.connection)
            if conn is None:
                add(
                    [*loc, "connection"],
                    f"unknown connection {spec.connection!r}; defined: {sorted(flow_file.connections)}",
                )
                continue
            if conn.connector not in CONNECTORS:
                continue
            names = [e.name for e in get_source(conn.connector).entities]
            if spec.entity not in names:
                add(
                    [*loc, "entity"],
                    f"{conn.connector} has no entity {spec.entity!r}; entities: {', '.join(names)}",
                )
        source_errors = len(problems)
        inputs = {}
        for sname, spec in flow.sources.items():
            conn = flow_file.connections.get(spec.connection)
            if conn is not None and conn.connector in CONNECTORS:
                with contextlib.suppress(KeyError):
                    inputs[sname] = arrow_columns(
                        staged_schema(get_source(conn.connector).entity(spec.entity))
                    )
        step_names = [s.name for s in flow.steps]
        if flow.steps and len(problems) == source_errors:
            try:
                plan_steps(flow.steps, inputs)
            except StepError as exc:
                add(["flows", fname, "steps", *exc.path], exc.message)
        for i, out in enumerate(flow.outputs):
            loc = ["flows", fname, "outputs", i]
            if out.from_ not in flow.sources and out.from_ not in step_names:
                add(
                    [*loc, "from"],
                    f"unknown source or step {out.from_!r}; this flow has sources {sorted(flow.sources)}"
                    + (f" and steps {step_names}" if step_names else ""),
                )
            elif out.mode in ("upsert", "append_new") and out.from_ in step_names and not out.primary_key:
                add(
                    [*loc, "primary_key"],
                    f"mode {out.mode!r} from step {out.from_!r} needs primary_key: the columns that identify a row",
                )
        seen: dict[str, int] = {}
        for i, out in enumerate(flow.outputs):
            if out.output_name in seen:
                add(
                    ["flows", fname, "outputs", i],
                    f"two outputs named {out.output_name!r}: give one a distinct name:",
                )
            seen[out.output_name] = i
    if problems:
        raise FlowError(problems)


def flow_paths(spec: str | None = None) -> list[Path]:
    """The flow files to load: ``spec`` or ``COUPLET_FLOWS`` (files/folders), else the shipped ones."""
    spec = spec if spec is not None else os.environ.get("COUPLET_FLOWS", "")
    roots = [Path(p) for p in spec.split(os.pathsep) if p] if spec else [SHIPPED]
    paths: list[Path] = []
    for root in roots:
        if root.is_dir():
            paths.extend(sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml")))
        elif root.exists():
            paths.append(root)
        else:
            raise FlowError([(str(root), None, "", "no such file or folder (check COUPLET_FLOWS)")])
    return paths


def load_flows(paths: Sequence[Path | str] | None = None) -> FlowFile:
    """Load, validate and merge flow files."""
    files = [Path(p) for p in paths] if paths is not None else flow_paths()
    merged: dict[str, dict[str, Any]] = {"connections": {}, "flows": {}}
    origin: dict[tuple[str, str], str] = {}
    settings = None
    roots: dict[str, yaml.Node | None] = {}
    problems: list[tuple[str, int | None, str, str]] = []
    for path in files:
        flow_file, root = parse_file(path)
        roots[str(path)] = root
        if "settings" in flow_file.model_fields_set:
            if settings is not None:
                problems.append(
                    (
                        str(path),
                        _node_line(root, ["settings"]),
                        "settings",
                        "settings: given in more than one flow file",
                    )
                )
            settings = flow_file.settings
        for section in ("connections", "flows"):
            for name, value in getattr(flow_file, section).items():
                if (section, name) in origin:
                    problems.append(
                        (
                            str(path),
                            _node_line(root, [section, name]),
                            f"{section}.{name}",
                            f"also defined in {origin[(section, name)]}",
                        )
                    )
                origin[(section, name)] = str(path)
                merged[section][name] = value
    if problems:
        raise FlowError(problems)
    result = FlowFile(
        connections=merged["connections"],
        flows=merged["flows"],
        **({"settings": settings} if settings else {}),
    )

    def locate(loc: list[Any]) -> tuple[str, int | None]:
        file = origin.get((loc[0], loc[1]), str(files[0]) if files else "?")
        return file, _node_line(roots.get(file), loc)

    check(result, locate)
    return result
