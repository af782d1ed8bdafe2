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

Unpartitioned on purpose: every partition of a run is two event writes in Dagster's storage, and
a table written once per run needs none of them.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.core.sizing import next_month
from destinations.base import Deletes, Mode, ParquetSource, Scope
from pipelines.ledger import Ledger
from pipelines.loader import Catalog
from pipelines.outputs import describe, landing, without_null_keys
from pipelines.staging import Staging, partition_keys

from .failures import reported
from .raw import column_schema
from .resources import CoupletResource
from .steps import result_path
from .translator import (
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

    @dg.asset(
        key=dg.AssetKey(path),
        group_name=flow_name,
        kinds={destination.kind},
        deps=[upstream],
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
    def _publish(context: dg.AssetExecutionContext, couplet: CoupletResource) -> dg.MaterializeResult:
        with reported(label(path), context_lines, secrets):
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
                if not file.exists():
                    raise dg.Failure(
                        description=f"{label(path)}: step {output.from_!r} has no result yet: "
                        f"materialize {label(step_path(flow_name, output.from_))} first"
                    )
                data = ParquetSource((str(file),), pq.read_schema(file).remove_metadata())
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
            return publish(couplet.data_dir, flow_name, output, data, mode, keys, scope, monthly, deletes)

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
    extra: dict[str, object] = {}
    if mode is Mode.UPSERT or exactly_once:
        data, dropped = without_null_keys(data, keys, output, f"{flow_name} -> {describe(output)}")
        if output.null_keys == "drop":
            extra["rows_dropped_null_key"] = dropped
    written: ParquetSource | pa.Table = data
    if ledger is not None:
        fresh = ledger.new_rows(data, keys)
        total = data.num_rows if isinstance(data, pa.Table) else data.to_table().num_rows
        extra.update(rows_new=fresh.num_rows, rows_already_sent=total - fresh.num_rows)
        written = fresh
    # Built here, not at load time: credentials are read when a run needs them.
    result = landing(output, partitioned=partitioned, data_dir=data_dir).write(
        written, mode, keys, scope, output.allow_empty or exactly_once, deletes
    )
    if ledger is not None and isinstance(written, pa.Table):
        # Only after the destination confirmed the write: a failed write sends again next run.
        ledger.record(written, keys)
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
    }
    total = result.extra.get("rows_total")
    if isinstance(total, int):
        metadata["rows_in_target"] = total
    # The table's rows when the writer knows them; else what a whole write wrote.
    if isinstance(total, int) or (scope is None and mode is Mode.REPLACE):
        metadata["dagster/row_count"] = total if isinstance(total, int) else result.rows_written
    return dg.MaterializeResult(metadata=metadata)
