"""Load flow files: YAML -> the healthy flows, and every mistake with file, line, key path and fix.

``load_catalog()`` reads the files named by ``COUPLET_FLOWS`` (files or folders, separated by
``os.pathsep``) or, when unset, the flows shipped in ``pipelines/flows/``. Files merge: a connection
defined in one file serves flows in another.

One broken file harms only itself. Each connection and each flow is validated on its own; a
mistake sets aside just that entry (a YAML syntax error, the whole file) and is reported, with all
other mistakes of all files, in one pass. A flow whose connection is set aside says so. The
``Catalog`` holds the healthy part (``flow_file``), the problems, and each flow's planned steps, so
nothing is planned twice. ``load_flows()`` is the strict form: any problem raises ``FlowError``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .config import Connection, Flow, FlowFile, ProjectSettings
from .model import NAME
from .steps import PlannedStep
from .yamlfile import (
    FlowError,
    Problem,
    bad_dates,
    closest,
    did_you_mean,
    literal_choices,
    node_line,
    problems_of,
    read_yaml,
)

__all__ = ["SHIPPED", "Catalog", "FlowError", "Problem", "flow_paths", "load_catalog", "load_flows"]

SHIPPED = Path(__file__).parent / "flows"
SECTIONS = ("settings", "connections", "flows")


@dataclass
class Catalog:
    """What the flow files hold: the healthy flows and connections, and every problem found."""

    flow_file: FlowFile
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, name) -> file
    plans: dict[str, list[PlannedStep]] = field(default_factory=dict)  # flow -> its planned steps
    set_aside: dict[str, str] = field(default_factory=dict)  # flow -> file of a flow with problems
    roots: dict[str, yaml.Node | None] = field(default_factory=dict, repr=False)  # file -> its YAML

    def locate(self, loc: list[Any]) -> str:
        """``file:line`` of a key path (``["flows", "billing", "outputs", 0]``), for messages."""
        file = self.origin.get((str(loc[0]), str(loc[1]))) if len(loc) > 1 else None
        if file is None:
            return ""
        return f"{file}:{node_line(self.roots.get(file), loc) or '?'}"

    def broken_files(self) -> dict[str, list[Problem]]:
        """Problems grouped by file, in file order."""
        out: dict[str, list[Problem]] = {}
        for p in self.problems:
            out.setdefault(p.file, []).append(p)
        return out

    def strict(self) -> FlowFile:
        if self.problems:
            raise FlowError(self.problems)
        return self.flow_file

    def plan(self, flow_name: str) -> list[PlannedStep]:
        if flow_name not in self.plans:
            from .check import check_flow

            flow = self.flow_file.flows[flow_name]
            found, plan = check_flow(flow_name, flow, self.flow_file.connections, {})
            if found:
                raise FlowError([("?", None, ".".join(map(str, loc)), msg) for loc, msg in found])
            self.plans[flow_name] = plan
        return self.plans[flow_name]

    @classmethod
    def of(cls, flow_file: FlowFile) -> Catalog:
        """A catalog of flows built in code (tests): planned on first use."""
        return cls(flow_file)


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


class _Loading:
    """The state of one load: what is healthy so far and every problem, across files."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.settings: ProjectSettings | None = None
        self.settings_file = ""
        self.connections: dict[str, Connection] = {}
        self.broken_connections: dict[str, str] = {}  # name -> file:line
        self.flows: list[tuple[str, yaml.Node | None, str, Flow]] = []
        self.broken_flows: dict[str, str] = {}
        self.later: list[tuple[str, yaml.Node | None, str, Flow]] = []  # set aside, still cross-checked
        self.dropped: dict[str, list[str]] = {}  # set-aside flow -> key paths whose problems to skip
        self.origin: dict[tuple[str, str], str] = {}
        self.roots: dict[str, yaml.Node | None] = {}
        self.bad_dates: dict[str, list[str]] = {}  # file -> key paths of dates that do not exist

    def has_bad_date(self, file: str, path: str) -> bool:
        """Whether a nonexistent date (reported already) lies at or under ``path`` of ``file``."""
        return any(_under(b, path) for b in self.bad_dates.get(file, []))

    def add(self, file: str, root: yaml.Node | None, loc: list[Any], message: str) -> None:
        path = ".".join(map(str, loc))
        if any(_under(path, b) for b in self.bad_dates.get(file, [])):
            return  # a consequence of a nonexistent date, which bad_dates reported already
        self.problems.append(Problem(file, node_line(root, loc), path, message))

    def validate(
        self, model: type[BaseModel], value: Any, file: str, root: yaml.Node | None, loc: list[Any]
    ) -> Any:
        try:
            return model.model_validate(value if value is not None else {})
        except ValidationError as exc:
            found = problems_of(exc, model, file, root, loc)
            # A nonexistent date is reported once, by bad_dates, not again as "not a valid date".
            bad = self.bad_dates.get(file, [])
            self.problems += [p for p in found if not any(_under(p.path, b) for b in bad)]
            return None

    def read(self, path: Path) -> None:
        file = str(path)
        try:
            data, root = read_yaml(path)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            self.problems.append(Problem(file, line, "", f"not valid YAML: {exc}"))
            return
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem(file, None, "", f"cannot read the file: {exc}"))
            return
        self.roots[file] = root
        dates = bad_dates(file, root)
        self.problems += dates
        self.bad_dates[file] = [p.path for p in dates]
        if data is None:
            return
        if not isinstance(data, dict):
            self.add(file, root, [], "a flow file is a mapping with settings:, connections: and flows:")
            return
        for key in data:
            if key not in SECTIONS:
                self.add(
                    file,
                    root,
                    [key],
                    f"unknown key {key!r}{did_you_mean(key, SECTIONS)} (allowed: {', '.join(SECTIONS)})",
                )
        if "settings" in data:
            self._settings(file, root, data["settings"])
        for section in ("connections", "flows"):
            entries = data.get(section) or {}
            if not isinstance(entries, dict):
                self.add(file, root, [section], f"{section}: is a mapping of names to their settings")
                continue
            for name, value in entries.items():
                self._entry(file, root, section, str(name), value)

    def _settings(self, file: str, root: yaml.Node | None, value: Any) -> None:
        if self.settings_file:
            self.add(
                file,
                root,
                ["settings"],
                f"settings: given in more than one flow file (also in {self.settings_file})",
            )
            return
        self.settings_file = file
        settings = self.validate(ProjectSettings, value, file, root, ["settings"])
        if settings is not None:
            self.settings = settings

    def _entry(self, file: str, root: yaml.Node | None, section: str, name: str, value: Any) -> None:
        loc: list[Any] = [section, name]
        where = f"{file}:{node_line(root, loc)}"
        if (section, name) in self.origin:
            self.add(file, root, loc, f"also defined in {self.origin[(section, name)]}; rename one")
            return
        self.origin[(section, name)] = file
        named = re.fullmatch(NAME, name) is not None
        ok = named and not self.has_bad_date(file, ".".join(loc))
        if not named:
            self.add(
                file,
                root,
                loc,
                f"name {name!r}: use lower case letters, digits and _, starting with a letter",
            )
        if section == "connections":
            conn = self.validate(Connection, value, file, root, loc)
            if conn is not None:
                from .check import check_connection

                found = check_connection(name, conn)
                for floc, msg in found:
                    self.add(file, root, floc, msg)
                ok = ok and not found
            if ok and conn is not None:
                self.connections[name] = conn
            else:
                self.broken_connections[name] = where
            return
        flow = self.validate(Flow, value, file, root, loc)
        if ok and flow is not None:
            self.flows.append((file, root, name, flow))
            return
        self.broken_flows[name] = file
        lenient, dropped = _without_bad_keys(Flow, value)
        if lenient is not None:  # its bad keys aside, the flow is readable: report its other mistakes too
            self.later.append((file, root, name, lenient))
            # what a dropped key's siblings say could follow from the default that replaced it
            self.dropped[name] = [".".join(map(str, ["flows", name, *d[:-1]])) for d in dropped]


def _under(path: str, ancestor: str) -> bool:
    """Whether the dotted key path ``path`` is ``ancestor`` or lies inside it."""
    return path == ancestor or path.startswith(ancestor + ".")


def _without_bad_keys(model: type[BaseModel], value: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    """``value`` validated as ``model`` once its unknown keys are dropped, a misspelt choice is
    read as the choice it is closest to (``upsrt`` as ``upsert``, what "did you mean" says), and
    other invalid values are dropped (an optional key then takes its default); with the locations
    dropped. (None, []) when that is not enough (a required key is wrong)."""
    import copy

    data = copy.deepcopy(value)
    dropped: list[tuple[Any, ...]] = []
    for _ in range(20):
        try:
            return model.model_validate(data), dropped
        except ValidationError as exc:
            errors = [e for e in exc.errors() if e["type"] != "missing"]
            if not errors or len(errors) != len(exc.errors()):
                return None, []
            for err in errors:
                loc, unknown = err["loc"], err["type"] == "extra_forbidden"
                meant = None
                if err["type"] == "literal_error" and isinstance(err.get("input"), str):
                    meant = closest(err["input"], literal_choices(err))
                node: Any = data
                for key in [
                    k
                    for k in loc[:-1]
                    if not (isinstance(k, str) and k.startswith(("function-", "literal[")))
                ]:
                    if isinstance(node, dict):
                        node = node.get(key)
                    elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                        node = node[key]
                    else:
                        return None, []
                if not isinstance(node, dict) or loc[-1] not in node:
                    return None, []
                if meant:  # checked as what was meant: what follows from it is worth saying
                    node[loc[-1]] = meant
                    continue
                node.pop(loc[-1])
                if not unknown:  # an unknown key changes nothing else; a bad value gives way to a default
                    dropped.append(tuple(loc))
    return None, []


def load_catalog(paths: Sequence[Path | str] | None = None) -> Catalog:
    """Load, validate and merge flow files; mistakes are collected, never raised."""
    from .check import check_flow

    state = _Loading()
    try:
        files = [Path(p) for p in paths] if paths is not None else flow_paths()
    except FlowError as exc:
        files, state.problems = [], list(exc.problems)
    for path in files:
        state.read(path)
    flows: dict[str, Flow] = {}
    plans: dict[str, list[PlannedStep]] = {}
    for file, root, name, flow in state.flows + state.later:
        found, plan = check_flow(name, flow, state.connections, state.broken_connections)
        skip = state.dropped.get(name, [])
        found = [
            (loc, msg) for loc, msg in found if not any(_under(".".join(map(str, loc)), d) for d in skip)
        ]
        for loc, msg in found:
            state.add(file, root, loc, msg)
        if found:
            state.broken_flows[name] = file
        elif name not in state.broken_flows:
            flows[name], plans[name] = flow, plan
    state.problems.sort(
        key=lambda p: (files.index(Path(p.file)) if Path(p.file) in files else -1, p.line or 0)
    )
    flow_file = FlowFile(
        connections=state.connections,
        flows=flows,
        **({"settings": state.settings} if state.settings else {}),
    )
    return Catalog(
        flow_file,
        state.problems,
        [str(f) for f in files],
        state.origin,
        plans,
        state.broken_flows,
        state.roots,
    )


def load_flows(paths: Sequence[Path | str] | None = None) -> FlowFile:
    """Load, validate and merge flow files; any mistake in any file raises ``FlowError``."""
    return load_catalog(paths).strict()
