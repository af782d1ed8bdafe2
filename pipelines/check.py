"""Cross-references a schema cannot see: connectors, settings, connections, entities, steps, outputs.

Each check returns ``(key path, message)`` pairs relative to the file's root so the loader can add
the file and line. A connection is checked on its own; a flow against the connections that loaded
cleanly (a flow whose connection is broken says so and where). A flow's steps are planned here,
once: the plan goes with the loaded flow so nothing plans them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from connectors import CONNECTORS, get_source

from .check_outputs import check_outputs
from .config import Connection, Flow
from .steps import PlannedStep, StepError, arrow_columns, plan_steps
from .steps_names import check_step_names
from .yamlfile import did_you_mean

Found = list[tuple[list[Any], str]]


@cache
def entity_columns(connector: str, entity: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of an entity as staged: what a step sees of it."""
    from connectors.core.extract import staged_schema

    return arrow_columns(staged_schema(get_source(connector).entity(entity)))


def check_connection(name: str, conn: Connection) -> Found:
    from connectors.core.errors import ConfigError
    from connectors.core.settings import resolve_settings

    loc: list[Any] = ["connections", name]
    if conn.connector not in CONNECTORS:
        hint = did_you_mean(conn.connector, CONNECTORS)
        return [
            (
                [*loc, "connector"],
                f"unknown connector {conn.connector!r}{hint} (connectors: {', '.join(sorted(CONNECTORS))})",
            )
        ]
    source = get_source(conn.connector)
    env, literals = conn.setting_values()
    known = [s.name for s in source.settings]
    found: Found = []
    for key in {**env, **literals}:
        if key not in known:
            found.append(
                (
                    [*loc, key],
                    f"unknown setting {key!r} for {conn.connector}{did_you_mean(key, known)} "
                    f"(settings: {', '.join(sorted(known))})",
                )
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
            found.append((loc, exc.message))
    return found


def check_flow(
    name: str,
    flow: Flow,
    connections: Mapping[str, Connection],
    broken: Mapping[str, str],
) -> tuple[Found, list[PlannedStep]]:
    """Problems of one flow, and its planned steps when it has none.

    ``connections`` are the healthy ones; ``broken`` names each connection that failed to load and
    where it is defined, so a flow can say why its connection is missing.
    """
    found: Found = []
    inputs: dict[str, list[tuple[str, str]]] = {}
    for sname, spec in flow.sources.items():
        loc: list[Any] = ["flows", name, "sources", sname]
        conn = connections.get(spec.connection)
        if conn is None:
            if spec.connection in broken:
                found.append(
                    (
                        [*loc, "connection"],
                        f"connection {spec.connection!r} has errors (see {broken[spec.connection]}); "
                        "this flow runs again once it is fixed",
                    )
                )
            else:
                defined = sorted(connections) + sorted(broken)
                found.append(
                    (
                        [*loc, "connection"],
                        f"unknown connection {spec.connection!r}{did_you_mean(spec.connection, defined)} "
                        f"(defined: {', '.join(defined) or 'none'})",
                    )
                )
            continue
        names = [e.name for e in get_source(conn.connector).entities]
        if spec.entity not in names:
            found.append(
                (
                    [*loc, "entity"],
                    f"{conn.connector} has no entity {spec.entity!r}{did_you_mean(spec.entity, names)} "
                    f"(entities: {', '.join(names)})",
                )
            )
            continue
        inputs[sname] = entity_columns(conn.connector, spec.entity)
    plan: list[PlannedStep] = []
    if flow.steps:
        try:
            if found:  # no columns of some source: names only, so a misspelt step still shows
                check_step_names(flow.steps, list(flow.sources))
            else:
                plan = plan_steps(flow.steps, inputs, flow.timezone)
        except StepError as exc:
            found.append((["flows", name, "steps", *exc.path], _step_hint(exc, flow)))
    step_names = [s.name for s in flow.steps]
    for i, out in enumerate(flow.outputs):
        loc = ["flows", name, "outputs", i]
        if out.from_ not in flow.sources and out.from_ not in step_names:
            choices = [*flow.sources, *step_names]
            found.append(
                (
                    [*loc, "from"],
                    f"unknown source or step {out.from_!r}{did_you_mean(out.from_, choices)} (this flow has "
                    f"sources {', '.join(sorted(flow.sources))}"
                    + (f" and steps {', '.join(step_names)}" if step_names else "")
                    + ")",
                )
            )
        elif out.mode in ("upsert", "append_new") and out.from_ in step_names and not out.primary_key:
            found.append(
                (
                    [*loc, "primary_key"],
                    f"mode {out.mode!r} from step {out.from_!r} needs primary_key: the columns that identify a row",
                )
            )
    seen: set[str] = set()
    for i, out in enumerate(flow.outputs):
        if out.output_name in seen:
            found.append(
                (
                    ["flows", name, "outputs", i],
                    f"two outputs named {out.output_name!r}: give one a distinct name:",
                )
            )
        seen.add(out.output_name)
    found += check_outputs(name, flow, {**inputs, **{p.name: p.columns for p in plan}})
    return found, plan


def _step_hint(exc: StepError, flow: Flow) -> str:
    """A step error, with "did you mean" when it names a step or source that does not exist."""
    message = exc.message
    if "which is neither a source nor a step" in message:
        ref = message.split("reads '", 1)[1].split("'", 1)[0]
        hint = did_you_mean(ref, [*flow.sources, *(s.name for s in flow.steps)])
        if hint:
            message = message.replace("; sources:", f"{hint} Sources:", 1)
    return message
