"""``publish/<flow>/<output>``: land a source or a step result in a destination, mode-aware.

A destination table is one asset, unpartitioned: its source's months live in ``raw/...`` (each with
its own row count). An output of a daily source replaces exactly the days of the run (the months of
its partition range; ``_window_start`` in scope), or everything staged when it runs on its own; an
output of a year-scoped source, a dimension or a step writes the whole table. ``append_new`` goes
through the ledger: only rows never sent before are appended, recorded after the destination
confirmed. Each materialization carries the target, the rows written and deleted, and the
output's column schema and row count.

An asset declares the concurrency pool its destination names for the output (``Destination.pool``):
a DuckDB file's is ``duckdb:<absolute path>``. DuckDB lets one process at a time write a file, so
with a pool limit of 1 on the instance the writers of one file queue in Dagster instead of waiting
on the file's lock (``destinations/duckdb_lock.py``). Each publish asset writes exactly one output,
hence at most one file and one pool. Its Dagster kind is the destination's kind.

Outputs of one destination that must land in order (Runn: clients, then projects, people, actuals)
depend on each other (``Destination.sequence``). A dry run (``couplet flows run --dry-run``, or an
output whose settings say ``dry_run: true``) writes nothing: its materialization is marked
``dry_run: true`` with ``rows_written: 0`` and says what would have been written (the destination's
own dry run where it has one: what it would create, update and send). It is a materialization, not an
observation, so that the outputs waiting on it run in the dry run too. A writer's report (``WriteResult.extra``) becomes metadata, and a
table in it (QuickBooks' entries not sent, with the reason) is saved beside the staging as
``reports/<flow>/<output>.csv``, its first rows shown in the UI. With the data directory on an object
store (``pipelines.datadir``), the staged files or step result an output reads are downloaded to a
temp folder for the writer first (writers read local Parquet), and the report is uploaded.

Unpartitioned on purpose: every partition of a run is two event writes in Dagster's storage, and
a table written once per run needs none of them.
"""

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pcsv

from connectors.core.sizing import next_month
from destinations.base import Deletes, Mode, ParquetSource, Scope
from pipelines import datadir
from pipelines.ledger import Ledger
from pipelines.loader import Catalog
from pipelines.outputs import describe, landing, without_null_keys
from pipelines.staging import Staging, partition_keys

from .failures import reported
from .raw import column_schema, preview
from .resources import CoupletResource
from .steps import result_path
from .translator import (
    TAG_DRY_RUN,
    Kind,
    entity_of,
    kind_of,
    label,
    parse_window,
    publish_path,
    raw_path,
    step_path,
    write_mode,
)


def _step_schema(catalog: Catalog, flow_name: str, step: str) -> dg.TableSchema:
    planned = next(p for p in catalog.plan(flow_name) if p.name == step)
    return dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in planned.columns])


def _sources_of(catalog: Catalog, flow_name: str, step: str) -> set[str]:
    """The flow's sources a step reads, through earlier steps too."""
    flow = catalog.flow_file.flows[flow_name]
    planned = {p.name: p for p in catalog.plan(flow_name)}
    found: set[str] = set()
    todo = [step]
    while todo:
        name = todo.pop()
        if name in flow.sources:
            found.add(name)
        elif name in planned:
            todo.extend(planned[name].inputs)
    return found


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def build_publish_asset(
    flow_name: str, index: int, catalog: Catalog, secrets: Sequence[str]
) -> dg.AssetsDefinition:
    flow_file = catalog.flow_file
    flow = flow_file.flows[flow_name]
    output = flow.outputs[index]
    path = publish_path(flow_name, output.output_name)
    where = describe(output)
    mode = write_mode(output)
    loc = ["flows", flow_name, "outputs", index]
    context_lines = [
        f"flow {flow_name}",
        f"output -> {where}",
        f"{catalog.locate(loc)} {'.'.join(map(str, loc))}",
    ]
    from_source = output.from_ in flow.sources
    if from_source:
        spec = flow.sources[output.from_]
        entity = entity_of(flow_file, flow, output.from_)
        keys = tuple(output.primary_key or entity.primary_key)
        upstream = dg.AssetKey(raw_path(spec.connection, spec.entity))
        schema = column_schema(entity)
        monthly = kind_of(entity) is Kind.MONTHLY
    else:
        keys = tuple(output.primary_key or ())
        upstream = dg.AssetKey(step_path(flow_name, output.from_))
        schema = _step_schema(catalog, flow_name, output.from_)
        monthly = False
    # A step result is complete (authoritative) unless a source it reads has a date range.
    whole = from_source or not any(
        flow.sources[s].dates for s in _sources_of(catalog, flow_name, output.from_)
    )
    destination = output.to.destination
    local_file = destination.local_path(output.to.settings)
    earlier = []
    if destination.sequence is not None:  # outputs of this destination that must land first
        rank = destination.sequence
        for other in flow.outputs:
            if other.to.kind == destination.kind and rank(other.to.settings) < rank(output.to.settings):
                earlier.append(dg.AssetKey(publish_path(flow_name, other.output_name)))
    dry_by_setting = bool(getattr(output.to.settings, "dry_run", False))

    @dg.asset(
        key=dg.AssetKey(path),
        group_name=flow_name,
        kinds={destination.kind},
        deps=[upstream, *earlier],
        pool=destination.pool_of(output.to.settings),
        description=f"{label(tuple(upstream.path))} -> {where} ({output.mode})",
        metadata={
            "target": where,
            "mode": output.mode,
            "primary_key": ", ".join(keys),
            "dagster/column_schema": schema,
            **({"path": dg.MetadataValue.path(local_file)} if local_file else {}),
        },
    )
    def _publish(
        context: dg.AssetExecutionContext, couplet: CoupletResource
    ) -> Iterator[dg.MaterializeResult]:
        with reported(label(path), context_lines, secrets), ExitStack() as local:
            staging: Staging = couplet.staging
            scope = None
            if from_source:
                window = parse_window(context.run.tags) if monthly else None
                if window is not None:  # the months of the run, whole: what raw staged for it
                    first, after = month_start(window[0]), next_month(window[1] - dt.timedelta(days=1))
                    data = staging.source(spec.connection, entity, partition_keys(entity, first, after))
                    scope = Scope("_window_start", first, after) if mode is Mode.REPLACE else None
                else:
                    data = staging.source(spec.connection, entity)
            else:
                file = result_path(couplet.data_dir, flow_name, output.from_)
                if not datadir.exists(file):
                    raise dg.Failure(
                        description=f"{label(path)}: step {output.from_!r} has no result yet: "
                        f"materialize {label(step_path(flow_name, output.from_))} first"
                    )
                data = ParquetSource((str(file),), datadir.read_schema(file).remove_metadata())
            # Writers read local files (DuckDB's read_parquet): a remote data directory's are downloaded.
            data = local.enter_context(local_source(data))
            deletes = None
            if mode is Mode.UPSERT and output.deletes_mode != "keep" and whole:
                # The rows of the re-read scope are authoritative: a key gone from them is gone at the source.
                span = parse_window(context.run.tags) if monthly else None
                authoritative = (
                    Scope("_window_start", month_start(span[0]), next_month(span[1] - dt.timedelta(days=1)))
                    if span is not None
                    else None
                )
                deletes = Deletes(authoritative, soft=output.deletes_mode == "soft")
            if dry_by_setting or context.run.tags.get(TAG_DRY_RUN) == "1":
                seen = dry_publish(
                    couplet.data_dir, flow_name, output, data, mode, keys, scope, monthly, deletes
                )
                # A materialization marked dry_run (nothing written, rows_written 0), not none: the
                # outputs that wait on this one (Runn's projects on its clients) run in the dry run too.
                yield dg.MaterializeResult(metadata={**seen, "rows_written": 0})
                context.log.info(f"{label(path)}: dry run, nothing written")
                return
            yield publish(couplet.data_dir, flow_name, output, data, mode, keys, scope, monthly, deletes)

    return _publish


def publish(
    data_dir: str,
    flow_name: str,
    output,  # pipelines.config.Output
    data: ParquetSource,
    mode: Mode,
    keys: tuple[str, ...],
    scope: Scope | None,
    partitioned: bool,
    deletes: Deletes | None = None,
) -> dg.MaterializeResult:
    """Write one output (through the ledger for append_new) and describe what landed."""
    exactly_once = output.mode == "append_new"
    ledger = Ledger(data_dir, flow_name, output.output_name) if exactly_once else None
    written, extra = _to_write(flow_name, output, data, mode, keys, ledger)
    # Built here, not at load time: credentials are read when a run needs them.
    result = landing(output, partitioned=partitioned, data_dir=data_dir).write(
        written, mode, keys, scope, output.allow_empty or exactly_once, deletes
    )
    if ledger is not None and isinstance(written, pa.Table):
        # Only after the destination confirmed the write: a failed write sends again next run; a
        # writer that says which rows it delivered (QuickBooks) has only those recorded.
        delivered = result.extra.get("delivered")
        ledger.record(delivered if isinstance(delivered, pa.Table) else written, keys)
    metadata: dict[str, Any] = {
        "target": result.target,
        **({"url": dg.MetadataValue.url(result.target)} if result.target.startswith("http") else {}),
        "mode": output.mode,
        "rows_written": result.rows_written,
        "rows_deleted": result.rows_deleted,
        "seconds": round(result.duration_s, 3),
        "scope": str(scope) if scope else "whole target",
        **(
            {"deletes": f"{'soft' if deletes.soft else 'hard'} in {deletes.scope or 'the whole target'}"}
            if deletes is not None
            else {}
        ),
        **extra,
        **report_metadata(data_dir, flow_name, output.output_name, result.extra),
    }
    total = result.extra.get("rows_total")
    if isinstance(total, int):
        metadata["rows_in_target"] = total
    # The table's rows when the writer knows them; else what a whole write wrote.
    if isinstance(total, int) or (scope is None and mode is Mode.REPLACE):
        metadata["dagster/row_count"] = total if isinstance(total, int) else result.rows_written
    return dg.MaterializeResult(metadata=metadata)


def dry_publish(
    data_dir: str,
    flow_name: str,
    output,  # pipelines.config.Output
    data: ParquetSource,
    mode: Mode,
    keys: tuple[str, ...],
    scope: Scope | None,
    partitioned: bool,
    deletes: Deletes | None = None,
) -> dict[str, Any]:
    """What ``publish`` would write, written nowhere: the destination's own dry run where it has
    one, else the rows it would be handed. The ledger is read, never recorded."""
    exactly_once = output.mode == "append_new"
    ledger = Ledger(data_dir, flow_name, output.output_name) if exactly_once else None
    written, extra = _to_write(flow_name, output, data, mode, keys, ledger)
    rows = written.num_rows
    metadata: dict[str, Any] = {
        "dry_run": True,
        "target": describe(output),
        "mode": output.mode,
        "rows_that_would_be_handed_over": rows,
        **extra,
    }
    if output.to.destination.dry_run is not None:
        result = landing(output, partitioned=partitioned, data_dir=data_dir, dry_run=True).write(
            written, mode, keys, scope, output.allow_empty or exactly_once, deletes
        )
        metadata.update(report_metadata(data_dir, flow_name, output.output_name, result.extra, dry=True))
    return metadata


def _to_write(
    flow_name: str,
    output,  # pipelines.config.Output
    data: ParquetSource,
    mode: Mode,
    keys: tuple[str, ...],
    ledger: Ledger | None,
) -> tuple[ParquetSource | pa.Table, dict[str, Any]]:
    """The rows an output hands its writer (keyed writes without null keys; append_new: the rows
    never sent, or all of them for a writer that keeps its own record) and what to say about it."""
    extra: dict[str, Any] = {}
    written: ParquetSource | pa.Table = data
    if mode is Mode.UPSERT or ledger is not None:
        written, dropped = without_null_keys(data, keys, output, f"{flow_name} -> {describe(output)}")
        if output.null_keys == "drop":
            extra["rows_dropped_null_key"] = dropped
    if ledger is not None:
        fresh = ledger.new_rows(written, keys)
        total = written.num_rows
        extra.update(rows_new=fresh.num_rows, rows_already_sent=total - fresh.num_rows)
        keeps = output.to.destination.keeps_sent_record
        written = (written if isinstance(written, pa.Table) else written.to_table()) if keeps else fresh
    return written, extra


def report_metadata(
    data_dir: str, flow_name: str, output_name: str, extra: dict[str, Any], dry: bool = False
) -> dict[str, Any]:
    """A writer's report as metadata: numbers and text as they are, lists and mappings as JSON; its
    ``report`` table saved as ``reports/<flow>/<output>.csv`` (its first rows shown)."""
    out: dict[str, Any] = {}
    for key, value in extra.items():
        if key in ("rows_total", "delivered") or value is None:
            continue
        if isinstance(value, bool | int | float | str):
            out[key] = value
        elif isinstance(value, pa.Table):
            if key != "report":
                continue
            name = f"{output_name}.dry_run.csv" if dry else f"{output_name}.csv"
            file = datadir.location(data_dir) / "reports" / flow_name / name
            with datadir.writing(file) as tmp:
                pcsv.write_csv(_plain(value), tmp)
            out["report_rows"] = value.num_rows
            out["report_file"] = dg.MetadataValue.path(str(file))
            out["report"] = preview(value)
        else:
            try:
                out[key] = dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))
            except (TypeError, ValueError):
                out[key] = str(value)
    return out


@contextmanager
def local_source(data: ParquetSource) -> Iterator[ParquetSource]:
    """``data`` with its files local: as it is for a local data directory; files on an object store
    downloaded to a temp folder (removed afterwards) for the writer, which reads paths itself."""
    with datadir.local_copies(data.paths) as paths:
        yield data if paths == data.paths else ParquetSource(paths, data.schema)


def _plain(table: pa.Table) -> pa.Table:
    """CSV holds no nested values: lists and structs as their text."""
    columns = [
        pa.array([None if v is None else json.dumps(v, default=str) for v in c.to_pylist()], pa.string())
        if pa.types.is_nested(c.type)
        else c
        for c in table.columns
    ]
    return pa.table(columns, names=table.column_names)
