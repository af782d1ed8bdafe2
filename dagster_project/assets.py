"""Asset factories: ``raw/<connection>/<entity>`` (extract + stage) and ``publish/<flow>/<output>``.

Raw assets are defined once per (connection, entity), whichever flows use them. Time entities are
daily-partitioned, year-scoped ones yearly, dimensions unpartitioned; partitioned assets back-fill
a whole range in one run (``BackfillPolicy.single_run()``), fetching its windows concurrently.
Each raw materialization reports rows, pages, requests, retries, throttled seconds, the window and
a preview, and checks its primary key (unique, not null) in the same step.
"""

import datetime as dt
import hashlib
import time

import dagster as dg
import duckdb
import pyarrow as pa

from connectors import get_source
from connectors.core.entity import Entity, Partitioning, Source
from connectors.core.errors import ConnectorError
from connectors.core.extract import staged_schema
from connectors.core.settings import resolve_settings
from destinations.base import DestinationError, Mode, ParquetSource, Scope
from pipelines.config import Connection, FlowFile, Output
from pipelines.ledger import Ledger
from pipelines.outputs import describe, landing
from pipelines.staging import UNPARTITIONED, Staging, stage_entity

from .resources import CoupletResource, daily_partitions, yearly_partitions

PK_CHECK = "primary_key_unique_not_null"
PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 12


class RawConfig(dg.Config):
    """Run configuration of a raw asset."""

    full_refresh: bool = False  # change-capture entities: read everything instead of the changes


def partitions_for(entity: Entity, flow_file: FlowFile) -> dg.PartitionsDefinition | None:
    start = flow_file.settings.partitions_start
    if entity.partitioning is Partitioning.DAILY:
        return daily_partitions(start)
    if entity.partitioning is Partitioning.YEARLY:
        return yearly_partitions(start)
    return None


def raw_key(connection: str, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", connection, entity])


def _window(context: dg.AssetExecutionContext, entity: Entity) -> tuple[dt.date | None, dt.date | None]:
    if entity.partitioning is Partitioning.NONE:
        return None, None
    tw = context.partition_time_window
    return tw.start.date(), tw.end.date()


def _partition_keys(entity: Entity, start: dt.date | None, end: dt.date | None) -> list[str] | None:
    if entity.partitioning is Partitioning.NONE or start is None or end is None:
        return [UNPARTITIONED] if entity.partitioning is Partitioning.NONE else None
    if entity.partitioning is Partitioning.YEARLY:
        return [str(y) for y in range(start.year, end.year)]
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days)]


def preview(table: pa.Table) -> dg.MetadataValue:
    cols = table.column_names[:PREVIEW_COLUMNS]
    head = table.select(cols).slice(0, PREVIEW_ROWS).to_pylist()
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in cols])
    records = [dg.TableRecord({c: "" if r[c] is None else str(r[c])[:80] for c in cols}) for r in head]
    return dg.MetadataValue.table(records, schema)


def column_schema(entity: Entity) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                f.name,
                str(f.type),
                description=next((c.description for c in entity.columns if c.name == f.name), ""),
            )
            for f in staged_schema(entity)
        ]
    )


def key_check(files: list[str], entity: Entity) -> dg.AssetCheckResult:
    """Primary key unique and not null over the staged partitions just written."""
    keys = entity.primary_key
    required = [c.name for c in entity.columns if c.name in keys and not c.nullable]
    if not files:
        return dg.AssetCheckResult(check_name=PK_CHECK, passed=True, metadata={"rows": 0})
    q = lambda c: '"' + c + '"'  # noqa: E731
    con = duckdb.connect()
    try:
        rel = f"read_parquet({[str(f) for f in files]!r})"
        nulls = con.execute(
            f"SELECT count(*) FROM {rel} WHERE {' OR '.join(q(c) + ' IS NULL' for c in required) or 'false'}"
        ).fetchone()[0]
        dupes = con.execute(
            f"SELECT count(*) FROM (SELECT {', '.join(map(q, keys))} FROM {rel} GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
    finally:
        con.close()
    return dg.AssetCheckResult(
        check_name=PK_CHECK,
        passed=nulls == 0 and dupes == 0,
        metadata={"primary_key": ", ".join(keys), "null_keys": nulls, "duplicate_keys": dupes},
    )


def _code_version(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


def build_raw_asset(
    name: str, conn: Connection, source: Source, entity: Entity, flow_file: FlowFile
) -> dg.AssetsDefinition:
    key = raw_key(name, entity.name)
    partitions = partitions_for(entity, flow_file)
    env, literals = conn.setting_values()

    @dg.asset(
        key=key,
        group_name=name,
        kinds={source.name, "parquet"},
        description=entity.description,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions else None,
        check_specs=[
            dg.AssetCheckSpec(
                PK_CHECK,
                asset=key,
                description=f"primary key ({', '.join(entity.primary_key)}) unique and not null",
            )
        ],
        metadata={
            "dagster/column_schema": column_schema(entity),
            "connector": source.name,
            "primary_key": ", ".join(entity.primary_key),
        },
        code_version=_code_version(entity, env, literals),
    )
    def _raw(
        context: dg.AssetExecutionContext, config: RawConfig, couplet: CoupletResource
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        start, end = _window(context, entity)
        staging = couplet.staging
        try:
            settings = resolve_settings(source, env, literals)
            report = stage_entity(
                source, settings, name, entity, staging, start, end, full_refresh=config.full_refresh
            )
        except ConnectorError as exc:
            # A clean failure: the message names what to fix; the traceback would only hide it.
            raise dg.Failure(description=str(exc), allow_retries=exc.retryable) from exc
        files = [str(staging.path(name, entity.name, k)) for k in report.partitions]
        window = f"[{start}, {end})" if start else "all"
        context.log.info(
            f"{source.name}.{entity.name} {window}: {report.rows} rows in {len(report.partitions)} partition(s)"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": report.rows,
                "rows": report.rows,
                "partitions": len(report.partitions),
                "pages": int(report.stats.get("pages", 0)),
                "requests": int(report.stats.get("requests", 0)),
                "retries": int(report.stats.get("retries", 0)),
                "throttled_seconds": float(report.stats.get("throttled_seconds", 0.0)),
                "seconds": round(time.perf_counter() - started, 3),
                "window": window,
                "read": report.mode,
                "staging": dg.MetadataValue.path(str(staging.folder(name, entity.name))),
                "preview": preview(report.preview),
            },
            check_results=[key_check(files, entity)],
        )

    return _raw


def build_publish_asset(flow_name: str, output: Output, flow_file: FlowFile) -> dg.AssetsDefinition:
    flow = flow_file.flows[flow_name]
    if output.from_ not in flow.sources:
        return _publish_step_output(flow_name, output)
    spec = flow.sources[output.from_]
    conn = flow_file.connections[spec.connection]
    entity = get_source(conn.connector).entity(spec.entity)
    partitions = partitions_for(entity, flow_file)
    where = describe(output)
    keys = tuple(output.primary_key or entity.primary_key)
    exactly_once = output.mode == "append_new"
    mode = Mode.APPEND if exactly_once else Mode(output.mode)

    @dg.asset(
        key=dg.AssetKey(["publish", flow_name, output.output_name]),
        group_name=flow_name,
        kinds={output.to.kind},
        deps=[raw_key(spec.connection, spec.entity)],
        description=f"{spec.connection}.{spec.entity} -> {where} ({output.mode})",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions else None,
        metadata={"target": where, "mode": output.mode, "primary_key": ", ".join(keys)},
    )
    def _publish(context: dg.AssetExecutionContext, couplet: CoupletResource) -> dg.MaterializeResult:
        start, end = _window(context, entity)
        staging: Staging = couplet.staging
        data = staging.source(spec.connection, entity, _partition_keys(entity, start, end))
        scope = Scope("_window_start", start, end) if (mode is Mode.REPLACE and start is not None) else None
        return publish(couplet, flow_name, output, data, mode, keys, scope, partitions is not None)

    return _publish


def publish(
    couplet: CoupletResource,
    flow_name: str,
    output: Output,
    data: ParquetSource,
    mode: Mode,
    keys: tuple[str, ...],
    scope: Scope | None,
    partitioned: bool,
) -> dg.MaterializeResult:
    """Write one output (through the ledger for append_new) and describe what landed."""
    exactly_once = output.mode == "append_new"
    ledger = Ledger(couplet.data_dir, flow_name, output.output_name) if exactly_once else None
    extra: dict[str, object] = {}
    written: ParquetSource | pa.Table = data
    try:
        if ledger is not None:
            fresh = ledger.new_rows(data, keys)
            extra = {
                "rows_new": fresh.num_rows,
                "rows_already_sent": data.to_table().num_rows - fresh.num_rows,
            }
            written = fresh
        # Built here, not at load time: credentials are read when a run needs them.
        result = landing(output, partitioned=partitioned).write(
            written, mode, keys, scope, output.allow_empty or exactly_once
        )
        if ledger is not None and isinstance(written, pa.Table):
            # Only after the destination confirmed the write: a failed write sends again next run.
            ledger.record(written, keys)
    except DestinationError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    target_settings = output.to.settings
    return dg.MaterializeResult(
        metadata={
            "target": result.target,
            **({"url": dg.MetadataValue.url(result.target)} if result.target.startswith("http") else {}),
            **(
                {"path": dg.MetadataValue.path(target_settings.path)}
                if hasattr(target_settings, "path")
                else {}
            ),
            "mode": output.mode,
            "rows_written": result.rows_written,
            "rows_deleted": result.rows_deleted,
            "seconds": round(result.duration_s, 3),
            "scope": str(scope) if scope else "whole target",
            **extra,
        }
    )


def _publish_step_output(flow_name: str, output: Output) -> dg.AssetsDefinition:
    """An output of a step's result: unpartitioned, the whole result each run."""
    import pyarrow.parquet as pq

    from .steps import step_key, step_path

    keys = tuple(output.primary_key or ())
    mode = Mode.APPEND if output.mode == "append_new" else Mode(output.mode)

    @dg.asset(
        key=dg.AssetKey(["publish", flow_name, output.output_name]),
        group_name=flow_name,
        kinds={output.to.kind},
        deps=[step_key(flow_name, output.from_)],
        description=f"step {output.from_} -> {describe(output)} ({output.mode})",
        metadata={"target": describe(output), "mode": output.mode, "primary_key": ", ".join(keys)},
    )
    def _publish(context: dg.AssetExecutionContext, couplet: CoupletResource) -> dg.MaterializeResult:
        path = step_path(couplet.data_dir, flow_name, output.from_)
        if not path.exists():
            raise dg.Failure(
                description=f"step {output.from_!r} has no result yet: materialize flow/{flow_name}/{output.from_} first"
            )
        data = ParquetSource((str(path),), pq.read_schema(path).remove_metadata())
        return publish(couplet, flow_name, output, data, mode, keys, None, False)

    return _publish
