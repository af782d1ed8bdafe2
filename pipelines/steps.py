"""Flow steps: Coupler's combiners (join, append) and friends, planned and run with DuckDB.

``plan_steps`` checks a flow's ``steps:`` against the schemas of its sources before anything
runs: names, references, order, every column named, and every expression. It binds each step's
SQL in an in-memory DuckDB over *empty* tables of the input schemas, so DuckDB itself says what
each step outputs and rejects what it could not run. ``execute_step`` then runs one planned step
over staged Parquet files and writes its result as one Parquet file.

    inputs = {"entries": arrow_columns(staged_schema(entries)), "customers": ...}
    for planned in plan_steps(parse_steps(raw_steps), inputs):
        rows = execute_step(planned, {"entries": [...parquet paths...], ...}, "out/billed.parquet")

Timestamps are handled in UTC (the DuckDB session time zone is pinned), so
``date_trunc('month', time_since)`` means the same month on every machine; use
``time_since AT TIME ZONE 'Europe/Berlin'`` in a derive for local months.

Planning and running both happen on a locked-down connection (``steps_lockdown``): a step's SQL
sees its inputs and nothing else, no file, URL, extension, setting or environment variable.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .datadir import arrow_dataset, is_remote, location, writing
from .steps_lockdown import (
    connect,
    environment_functions,
    looks_like_statement,
    only_inputs,
    outside_query,
    refusal,
)
from .steps_model import (
    FUNCTIONS,
    KINDS,
    OPS,
    Aggregate,
    Append,
    Condition,
    Derive,
    Filter,
    Join,
    Metric,
    Rename,
    Select,
    Sort,
    SortKey,
    SplitDays,
    Step,
    StepError,
    parse_steps,
)
from .steps_names import check_names, check_reads
from .steps_sql import Compiled, Probe, compile_step, derive_hint, quote

__all__ = [
    "FUNCTIONS",
    "KINDS",
    "OPS",
    "Aggregate",
    "Append",
    "Condition",
    "Derive",
    "Filter",
    "Join",
    "Metric",
    "PlannedStep",
    "Rename",
    "Select",
    "Sort",
    "SortKey",
    "SplitDays",
    "Step",
    "StepError",
    "StepInput",
    "arrow_columns",
    "execute_step",
    "parse_steps",
    "plan_steps",
]

Columns = tuple[tuple[str, str], ...]  # (name, DuckDB type), in order


@dataclass(frozen=True)
class PlannedStep:
    name: str  # the step's `as`
    kind: str  # join, append, ...
    inputs: tuple[str, ...]  # names of the sources/steps it reads, in order, each once
    sql: str  # one SELECT reading each input as a view named like the input (quoted)
    params: tuple[Any, ...]  # bound parameters for the `?` placeholders, in order
    columns: Columns  # output (name, DuckDB type), in order
    input_columns: tuple[Columns, ...] = ()  # the schema of each input, as planned (same order)
    index: int = 0  # its place in the flow's steps: list, for messages


_DUCKDB_TYPES: dict[pa.DataType, str] = {
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
    pa.timestamp("us"): "TIMESTAMP",
}


def arrow_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column of an Arrow schema, as DuckDB reads it from Parquet."""
    known = [_DUCKDB_TYPES.get(f.type) for f in schema]
    if all(known):  # the staged types: no DuckDB connection needed (planning many flows stays fast)
        return [(f.name, str(t)) for f, t in zip(schema, known, strict=True)]
    with connect() as con:
        relation = con.from_arrow(schema.empty_table())
        return [(name, str(type_)) for name, type_ in zip(relation.columns, relation.types, strict=True)]


def _canonical(con: duckdb.DuckDBPyConnection, source: str, columns: Sequence[tuple[str, str]]) -> Columns:
    # Types are written into DDL and casts, so each must be one DuckDB type and nothing else.
    if not columns:
        raise ValueError(f"input {source!r} has no columns")
    names = [name.lower() for name, _ in columns]
    if len(set(names)) != len(names):
        raise ValueError(
            f"input {source!r} names a column twice (DuckDB ignores case): {[c for c, _ in columns]}"
        )
    out = []
    for name, type_ in columns:
        try:
            out.append((name, str(con.type(type_))))
        except duckdb.Error:
            raise ValueError(f"input {source!r}, column {name!r}: {type_!r} is not a DuckDB type") from None
    return tuple(out)


def _message(exc: duckdb.Error) -> str:
    """DuckDB's message without the echoed SQL (the path already says where)."""
    lines = []
    for line in str(exc).splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines)


def _check_expression(
    con: duckdb.DuckDBPyConnection, probe: Probe, step: Step, inputs: Sequence[str]
) -> None:
    """A derive expression must be exactly one expression, so it cannot reshape the statement."""
    assert probe.expression is not None
    who = f"step '{step.name}' ({step.kind}):"
    row = con.execute("SELECT json_serialize_sql(?)", [f"SELECT {probe.expression}\n"]).fetchone()
    tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True, "error_message": "no parse"}
    # A statement smuggled in (`1); COPY ... TO '/tmp/x'; SELECT (1`) never runs: it is not one
    # expression. Say why it is refused, not only that it does not parse.
    refused = f"; {only_inputs(inputs)}" if looks_like_statement(probe.expression) else ""
    if tree.get("error"):
        raise StepError(probe.path, f"{who} not a SQL expression: {tree.get('error_message')}{refused}")
    named = environment_functions(tree)
    if named:
        raise StepError(probe.path, f"{who} {only_inputs(inputs)} (it calls {', '.join(named)})")
    statements: list[dict[str, Any]] = tree["statements"]
    node: dict[str, Any] = statements[0]["node"] if len(statements) == 1 else {}
    items: list[dict[str, Any]] = node.get("select_list", [])
    if len(items) == 1 and items[0].get("alias"):
        raise StepError(
            probe.path, f"{who} leave out 'AS {items[0]['alias']}': the key already names the column"
        )
    single = (
        node.get("type") == "SELECT_NODE"
        and len(items) == 1
        and node.get("from_table", {}).get("type") == "EMPTY"
        and not any(
            node.get(k) for k in ("where_clause", "group_expressions", "having", "modifiers", "qualify")
        )
        and not node.get("cte_map", {}).get("map")
    )
    if not single:
        raise StepError(
            probe.path, f"{who} write one SQL expression, e.g. round(duration / 3600.0, 2){refused}"
        )


def _bind(
    con: duckdb.DuckDBPyConnection,
    index: int,
    step: Step,
    compiled: Compiled,
    schemas: Mapping[str, Columns],
) -> Columns:
    """Bind the step over empty tables of its inputs only (as at run time) and read its output.

    Each step binds in a schema of its own that holds just its inputs, so an expression cannot
    reach a table the step will not have when it runs.
    """
    schema = f"__couplet_plan_{index}"
    con.execute(f"CREATE SCHEMA {schema}")
    con.execute(f"SET search_path = '{schema}'")
    try:
        for name, columns in schemas.items():
            ddl = ", ".join(f"{quote(c)} {t}" for c, t in columns)
            con.execute(f"CREATE TABLE {schema}.{quote(name)} ({ddl})")
        for probe in compiled.probes:
            if probe.expression is not None:
                _check_expression(con, probe, step, list(schemas))
            try:
                con.execute(probe.sql, list(probe.params))
            except duckdb.Error as exc:
                refused = refusal(exc)
                if refused is not None:
                    who = f"step '{step.name}' ({step.kind})"
                    raise StepError(probe.path, f"{who}: {only_inputs(list(schemas))}: {refused}") from None
                message = _message(exc)
                hint = derive_hint(message) if probe.expression is not None else probe.hint
                hint = f" ({hint})" if hint else ""
                raise StepError(probe.path, f"step '{step.name}' ({step.kind}): {message}{hint}") from None
        try:
            con.execute(
                f"CREATE TABLE {schema}.__couplet_out AS SELECT * FROM ({compiled.sql}) LIMIT 0",
                list(compiled.params),
            )
            described = con.execute(f"DESCRIBE {schema}.__couplet_out").fetchall()
        except duckdb.Error as exc:
            refused = refusal(exc)
            message = f"{only_inputs(list(schemas))}: {refused}" if refused is not None else _message(exc)
            raise StepError([index, step.kind], f"step '{step.name}' ({step.kind}): {message}") from None
    finally:
        con.execute("SET search_path = 'main'")
        con.execute(f"DROP SCHEMA {schema} CASCADE")
    return tuple((str(row[0]), str(row[1])) for row in described)


def plan_steps(
    steps: list[Step], inputs: dict[str, list[tuple[str, str]]], zone: str = "UTC"
) -> list[PlannedStep]:
    """Check and compile ``steps`` over sources with the given (column, DuckDB type) schemas.

    ``zone`` is the flow's time zone (its schedule's): ``split_days`` cuts timestamps into its days.

    Raises ``StepError`` (with ``.path`` relative to the steps list) for the first problem.
    Steps come back in dependency order, which is the list's order: a step may read only sources
    and steps above it, so the file reads top to bottom and cannot contain a cycle.
    """
    # One connection for the whole plan (connecting costs ~10 ms), locked down as a run's is but
    # with no files at all: an expression that reaches outside its inputs fails here, when the
    # flow file loads, at its own key.
    with connect() as con:
        schemas = {name: _canonical(con, name, columns) for name, columns in inputs.items()}
        defined = check_names(steps, schemas)
        planned = []
        for i, step in enumerate(steps):
            check_reads(i, steps, schemas, defined)
            names = tuple(dict.fromkeys(ref for _, ref in step.spec.reads()))
            compiled = compile_step(i, step, schemas, zone)
            columns = _bind(con, i, step, compiled, {n: schemas[n] for n in names})
            schemas[step.name] = columns
            planned.append(
                PlannedStep(
                    step.name,
                    step.kind,
                    names,
                    compiled.sql,
                    compiled.params,
                    columns,
                    tuple(schemas[n] for n in names),
                    i,
                )
            )
    return planned


@dataclass(frozen=True)
class StepInput:
    """The staged files a step reads for one input, and the days of them it keeps.

    ``days`` keeps rows whose ``_window_start`` lies in ``[start, end)``: a source's ``dates``
    range over month files that also hold other days.
    """

    files: Sequence[str]
    days: tuple[dt.date, dt.date] | None = None


def _input_view(
    con: duckdb.DuckDBPyConnection, index: int, name: str, columns: Columns, given: StepInput
) -> None:
    """A view named like the input with exactly the planned columns and types.

    With no files the view is empty but typed, so a step over a source with nothing staged yet
    still runs. A planned column missing from every file reads as null (as ``union_by_name`` does
    for files that lack it); extra columns in the files are not seen by the step.
    """
    if given.files:
        raw = f"__couplet_raw_{index}"
        if is_remote(given.files[0]):  # on an object store: DuckDB scans them as an Arrow dataset
            con.register(raw, arrow_dataset(given.files))
            relation = con.table(raw)
        else:
            relation = con.read_parquet(list(given.files), union_by_name=True)
            relation.create_view(raw)
        present = {c.lower() for c in relation.columns}
        select = [
            f"CAST({quote(c) if c.lower() in present else 'NULL'} AS {t}) AS {quote(c)}" for c, t in columns
        ]
        where = ""
        if given.days is not None and "_window_start" in present:
            first, after = (d.isoformat() for d in given.days)
            where = f" WHERE _window_start >= DATE '{first}' AND _window_start < DATE '{after}'"
        con.execute(f"CREATE TEMP VIEW {quote(name)} AS SELECT {', '.join(select)} FROM {quote(raw)}{where}")
    else:
        select = [f"CAST(NULL AS {t}) AS {quote(c)}" for c, t in columns]
        con.execute(f"CREATE TEMP VIEW {quote(name)} AS SELECT {', '.join(select)} LIMIT 0")


def execute_step(step: PlannedStep, inputs: Mapping[str, Sequence[str] | StepInput], out_path: str) -> int:
    """Run ``step`` over Parquet files (``inputs``: input name -> file paths, possibly none, or a
    ``StepInput`` that also keeps only some days). Files and ``out_path`` may be on an object store
    (``s3://`` / ``gs://`` URIs, ``pipelines.datadir``): inputs are then scanned as an Arrow dataset
    (lazily, only the columns used) and the result uploaded atomically from a local temp file.

    Input types come from the plan (``step.input_columns``), so an input with no files is an
    empty table of the right shape. The result is streamed by DuckDB's ``COPY`` to a temporary
    file beside ``out_path`` and renamed over it, so readers never see half a file and a failed
    run leaves the previous file in place. Returns the number of rows written.

    The connection may read the inputs' files and write the temporary file, nothing else: SQL that
    reaches further (a plan not made by ``plan_steps``, which refuses it) raises ``StepError``.
    """
    missing = [n for n in step.inputs if n not in inputs]
    if missing:
        raise ValueError(f"step {step.name!r}: no files given for {missing}; pass [] for an input with none")
    given = {
        name: value if isinstance(value, StepInput) else StepInput(tuple(value))
        for name, value in inputs.items()
        if name in step.inputs
    }
    path, refused = [step.index, step.kind], f"step '{step.name}' ({step.kind}): {only_inputs(step.inputs)}"
    # The temp file sits beside a local out_path (renamed over it), in the system temp folder for a
    # remote one (uploaded). Joins, sorts and aggregates larger than memory spill beside it too.
    with (
        writing(location(out_path)) as tmp,
        tempfile.TemporaryDirectory(dir=tmp.parent, prefix=".duckdb-spill-") as spill,
        connect([*(f for g in given.values() for f in g.files if not is_remote(f)), str(tmp)], spill) as con,
    ):
        for i, (name, columns) in enumerate(zip(step.inputs, step.input_columns, strict=True)):
            _input_view(con, i, name, _canonical(con, name, columns), given[name])
        outside = outside_query(con, step.sql)  # one query: no COPY, ATTACH, SET... after it
        if outside is not None:
            raise StepError(path, f"{refused} ({outside})")
        try:
            row = con.execute(
                f"COPY ({step.sql}) TO ? (FORMAT parquet, COMPRESSION zstd)", [*step.params, str(tmp)]
            ).fetchone()
        except duckdb.Error as exc:
            denied = refusal(exc)
            if denied is None:
                raise
            raise StepError(path, f"{refused}: {denied}") from None
    return int(row[0]) if row else 0
