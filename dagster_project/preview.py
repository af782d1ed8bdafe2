"""``couplet flows preview FLOW [NAME] [--rows N]``: a step's or an output's rows before any run.

What a run would compute, from what is staged. First, what the flow reads and staging lacks is
extracted into staging, as a run would stage it, and each read is named on stderr: for a dated
source the missing months of its ``dates`` (resolved in the flow's time zone; without ``dates``,
the days a run now would re-read), for a year-scoped one the missing years, for a dimension nothing
unless it was never staged. Then the flow's steps run over the staged data on the same locked-down
DuckDB connection as in a run, into a temporary folder: never the flow's own step results, which a
later run's outputs read. For each step, output or source shown it prints the columns with their
DuckDB and Arrow types, the row count and the first rows; an output also says where a run would
write them and how. Nothing is written to any destination, no ledger and no Dagster record.

No Dagster here: ``couplet flows preview`` answers in the time the reads and the steps take.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from connectors import get_source
from connectors.core.entity import Entity, Partitioning
from connectors.core.extract import staged_schema
from connectors.core.settings import ResolvedSettings, resolve_settings
from connectors.core.sizing import next_month
from pipelines import datadir
from pipelines.config import Flow, FlowFile, Output
from pipelines.dates import resolve
from pipelines.loader import Catalog
from pipelines.outputs import describe
from pipelines.staging import UNPARTITIONED, Staging, partition_keys, source_files, stage_entity
from pipelines.steps import PlannedStep, StepInput, arrow_columns, execute_step
from pipelines.steps_base import quote
from pipelines.yamlfile import did_you_mean

from .preview_table import render_rows, render_schema
from .translator import entity_of, source_lookback, timezone

ROWS = 10  # rows shown by default


@dataclass(frozen=True)
class Shown:
    """One thing to preview: a step, a source, or an output (the rows of the step or source it reads)."""

    title: str  # "step billed", "output billing", "source entries"
    reads: str  # the step or source whose rows are shown
    output: Output | None = None


@dataclass(frozen=True)
class Read:
    """Partitions of one entity that staging lacks, consecutive: one extraction."""

    connection: str
    entity: Entity
    keys: tuple[str, ...]  # months (2026-11), years (2026) or ("all",)
    start: dt.date | None  # the days read, [start, end); None for a dimension
    end: dt.date | None

    @property
    def what(self) -> str:
        if self.keys == (UNPARTITIONED,):
            return "(never staged)"
        first, last = self.keys[0], self.keys[-1]
        return f"{first if first == last else f'{first}..{last}'} (missing)"


def choose(flow_name: str, flow: Flow, plan: list[PlannedStep], name: str | None) -> list[Shown] | str:
    """What ``NAME`` names (an output, a step or a source; default: each output), or the error."""
    outputs = {o.output_name: o for o in flow.outputs}
    steps = [p.name for p in plan]
    if name is None:
        if outputs:
            return [Shown(f"output {n}", o.from_, o) for n, o in outputs.items()]
        if steps:
            return [Shown(f"step {steps[-1]}", steps[-1])]
        return [Shown(f"source {s}", s) for s in flow.sources]
    if name in outputs:  # an output may be named like its step: the output says more
        return [Shown(f"output {name}", outputs[name].from_, outputs[name])]
    if name in steps or name in flow.sources:
        return [Shown(f"{'step' if name in steps else 'source'} {name}", name)]
    known = [*outputs, *steps, *flow.sources]
    kinds = {"steps": steps, "outputs": list(outputs), "sources": list(flow.sources)}
    listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in kinds.items() if v)
    return f"flow {flow_name!r} has no step, output or source {name!r}{did_you_mean(name, known)}; {listed}"


def needs(reads: Iterable[str], flow: Flow, plan: list[PlannedStep]) -> tuple[list[PlannedStep], set[str]]:
    """The steps (in plan order) and the sources that ``reads`` depend on."""
    by_name = {p.name: p for p in plan}
    steps: set[str] = set()
    sources: set[str] = set()
    todo = list(reads)
    while todo:
        name = todo.pop()
        if name in flow.sources:
            sources.add(name)
        elif name in by_name and name not in steps:
            steps.add(name)
            todo.extend(by_name[name].inputs)
    return [p for p in plan if p.name in steps], sources


def _days(flow: Flow, source: str, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The days a source's rows come from: its ``dates``, else what a run now would re-read."""
    spec = flow.sources[source]
    if spec.dates is not None:
        return resolve(spec.dates, now, timezone(flow))
    today = now.astimezone(ZoneInfo(timezone(flow))).date()
    return today - dt.timedelta(days=source_lookback(flow, source, now)), today + dt.timedelta(days=1)


def _wanted(flow: Flow, flow_file: FlowFile, source: str, entity: Entity, now: dt.datetime) -> list[str]:
    """The partitions a run's steps would read for ``source``, within what raw assets stage."""
    if entity.partitioning is Partitioning.NONE:
        return [UNPARTITIONED]
    first = flow_file.settings.partitions_start
    today = now.astimezone(dt.UTC).date()
    if entity.partitioning is Partitioning.DAILY:  # whole months, from partitions_start's, to this one
        start, end = _days(flow, source, now)
        start, end = max(start, first.replace(day=1)), min(end, next_month(today))
        return partition_keys(entity, start, end) if start < end else []
    earliest = entity.window.earliest if entity.window and entity.window.earliest else None
    lowest = max(first.year, earliest.year if earliest else first.year)
    dates = flow.sources[source].dates
    if dates is None:  # every year since partitions_start, as raw assets stage
        years = range(lowest, today.year + 1)
    else:
        start, end = resolve(dates, now, timezone(flow))
        years = range(max(lowest, start.year), min(today.year, (end - dt.timedelta(days=1)).year) + 1)
    return [str(y) for y in years]


def missing(
    flow: Flow, flow_file: FlowFile, sources: Iterable[str], staging: Staging, now: dt.datetime
) -> list[Read]:
    """What staging lacks of what ``sources`` read, as extractions (consecutive partitions together)."""
    wanted: dict[tuple[str, str], set[str]] = {}
    entities: dict[tuple[str, str], Entity] = {}
    for source in sorted(sources):
        spec, entity = flow.sources[source], entity_of(flow_file, flow, source)
        entities[(spec.connection, entity.name)] = entity
        wanted.setdefault((spec.connection, entity.name), set()).update(
            _wanted(flow, flow_file, source, entity, now)
        )
    reads = []
    for (connection, name), keys in wanted.items():
        entity = entities[(connection, name)]
        absent = sorted(k for k in keys if not datadir.exists(staging.path(connection, name, k)))
        for run in _consecutive(entity, absent):
            start, end = _span(entity, run)
            reads.append(Read(connection, entity, tuple(run), start, end))
    return reads


def _consecutive(entity: Entity, keys: list[str]) -> list[list[str]]:
    runs: list[list[str]] = []
    for key in keys:
        if runs and entity.partitioning is not Partitioning.NONE and _after(entity, runs[-1][-1]) == key:
            runs[-1].append(key)
        else:
            runs.append([key])
    return runs


def _after(entity: Entity, key: str) -> str:
    if entity.partitioning is Partitioning.YEARLY:
        return str(int(key) + 1)
    return next_month(dt.date.fromisoformat(key + "-01")).strftime("%Y-%m")


def _span(entity: Entity, keys: list[str]) -> tuple[dt.date | None, dt.date | None]:
    if entity.partitioning is Partitioning.NONE:
        return None, None
    if entity.partitioning is Partitioning.YEARLY:
        return dt.date(int(keys[0]), 1, 1), dt.date(int(keys[-1]) + 1, 1, 1)
    return dt.date.fromisoformat(keys[0] + "-01"), next_month(dt.date.fromisoformat(keys[-1] + "-01"))


def stage_missing(reads: list[Read], flow_file: FlowFile, staging: Staging, err: TextIO) -> None:
    """Extract each read into staging, saying what on ``err``. Months read whole that had no
    records get an empty file, so that the next preview knows they were read."""
    if not reads:
        print("staged already: nothing to extract", file=err)
        return
    settings: dict[str, ResolvedSettings] = {}
    for read in reads:
        conn = flow_file.connections[read.connection]
        source = get_source(conn.connector)
        if read.connection not in settings:
            settings[read.connection] = resolve_settings(source, *conn.setting_values())
        print(f"staging {read.connection} {read.entity.name} {read.what} ...", end="", file=err, flush=True)
        try:
            report = stage_entity(
                source, settings[read.connection], read.connection, read.entity, staging, read.start, read.end
            )
        except BaseException:
            print(file=err, flush=True)  # the error goes on a line of its own
            raise
        if read.entity.partitioning is Partitioning.DAILY:
            for key in read.keys:
                if not datadir.exists(staging.path(read.connection, read.entity.name, key)):
                    staging.write(
                        read.connection, read.entity.name, key, staged_schema(read.entity).empty_table()
                    )
        requests = int(report.stats.get("requests", 0))
        print(f" {_count(report.rows, 'row')}, {_count(requests, 'request')}", file=err, flush=True)


@dataclass(frozen=True)
class Result:
    path: Path
    rows: int
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)


def compute(
    flow: Flow,
    flow_file: FlowFile,
    steps: list[PlannedStep],
    sources: Iterable[str],
    staging: Staging,
    now: dt.datetime,
    folder: Path,
) -> dict[str, Result]:
    """Run ``steps`` (and a plain read of each of ``sources``) over staged data into ``folder``."""
    inputs: dict[str, StepInput] = {}
    used = {n for p in steps for n in p.inputs if n in flow.sources} | set(sources)
    for name in sorted(used):
        spec, entity = flow.sources[name], entity_of(flow_file, flow, name)
        inputs[name] = source_files(staging, spec.connection, entity, spec.dates, now, timezone(flow))
    results: dict[str, Result] = {}
    for source in sorted(sources):
        columns = tuple(arrow_columns(staged_schema(entity_of(flow_file, flow, source))))
        read = PlannedStep(
            source, "read", (source,), f"SELECT * FROM {quote(source)}", (), columns, (columns,)
        )
        results[source] = _run(read, inputs, folder / f"source.{source}.parquet")
    for planned in steps:
        results[planned.name] = result = _run(planned, inputs, folder / f"step.{planned.name}.parquet")
        inputs[planned.name] = StepInput((str(result.path),))
    return results


def _run(planned: PlannedStep, inputs: Mapping[str, StepInput], out: Path) -> Result:
    rows = execute_step(planned, {n: inputs[n] for n in planned.inputs}, str(out))
    return Result(out, rows, planned.columns)


def heading(shown: Shown, flow: Flow, flow_file: FlowFile, plan: list[PlannedStep], now: dt.datetime) -> str:
    """What is shown: the step or source, and for an output where and how a run would write it."""
    by_name = {p.name: p for p in plan}
    reads = shown.reads
    if reads in by_name:
        what = f"step {reads}: {by_name[reads].kind} of {', '.join(by_name[reads].inputs)}"
    else:
        spec = flow.sources[reads]
        what = f"source {reads}: {spec.connection} {spec.entity}, {_staged_days(flow, reads, now)}"
    if shown.output is None:
        return what
    output = shown.output
    keys = output.primary_key
    if keys is None and reads in flow.sources:
        keys = entity_of(flow_file, flow, reads).primary_key
    keyed = f" on {', '.join(keys)}" if keys and output.mode in ("upsert", "append_new") else ""
    return (
        f"{shown.title} -> {describe(output)}, mode {output.mode}{keyed} (not written: a preview)\n"
        f"from {what}"
    )


def _staged_days(flow: Flow, source: str, now: dt.datetime) -> str:
    dates = flow.sources[source].dates
    if dates is None:
        return "everything staged"
    start, end = resolve(dates, now, timezone(flow))
    return f"{start} .. {end - dt.timedelta(days=1)}"


def run_preview(
    flow_name: str,
    flow: Flow,
    catalog: Catalog,
    name: str | None,
    rows: int = ROWS,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    width: int | None = None,
) -> int:
    """Print the preview of ``name`` (default: each output) of ``flow_name``; 0, or 2 for a bad name."""
    out, err = out or sys.stdout, err or sys.stderr
    flow_file = catalog.flow_file
    plan = catalog.plan(flow_name)
    chosen = choose(flow_name, flow, plan, name)
    if isinstance(chosen, str):
        print(f"couplet: error: {chosen}", file=err)
        return 2
    steps, needed = needs([c.reads for c in chosen], flow, plan)
    staging = Staging(flow_file.settings.data_dir)
    now = dt.datetime.now(dt.UTC)
    stage_missing(missing(flow, flow_file, needed, staging, now), flow_file, staging, err)
    shown_sources = {c.reads for c in chosen if c.reads in flow.sources}
    with tempfile.TemporaryDirectory(prefix="couplet-preview-") as tmp:
        results = compute(flow, flow_file, steps, shown_sources, staging, now, Path(tmp))
        for i, shown in enumerate(chosen):
            result = results[shown.reads]
            print(("\n" if i else "") + heading(shown, flow, flow_file, plan, now), file=out)
            schema = pq.read_schema(result.path)
            print(f"{_count(result.rows, 'row')}, {_count(len(result.columns), 'column')}\n", file=out)
            print(render_schema(result.columns, schema), file=out)
            if not result.rows:
                print("\n(no rows)", file=out)
            elif rows:
                head = _head(result.path, rows)
                print(f"\n{render_rows(head, width)}", file=out)
                print(f"({head.num_rows:,} of {_count(result.rows, 'row')})", file=out)
    return 0


def _head(path: Path, rows: int) -> pa.Table:
    """The first ``rows`` rows of a Parquet file, reading no further than needed."""
    batches: list[pa.RecordBatch] = []
    with pq.ParquetFile(path) as file:
        for batch in file.iter_batches(batch_size=min(rows, 65536)):
            batches.append(batch)
            if sum(b.num_rows for b in batches) >= rows:
                break
        return pa.Table.from_batches(batches, schema=file.schema_arrow).slice(0, rows)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
