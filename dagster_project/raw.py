"""``raw/<connection>/<entity>``: extract an entity and stage it, once per refresh.

One asset per (connection, entity), whichever flows read it. Daily-windowed entities are monthly
partitioned; a run re-reads the days of its ``couplet/window`` inside its months (the look-back of a
schedule), or whole months (a backfill from the UI). Year-scoped entities keep every year since
``partitions_start`` staged: a run reads the years its window touches (last and this year on a
schedule), plus any year not staged yet, or the ``years`` / ``full_refresh`` of its run config.

Read once per refresh: when another run already materialized the same window of this asset after
this run was requested (two flows sharing a source in one run of ``couplet flows run``, or a
second schedule ticking at the same minute), the staged data is as fresh as asked, so the asset
reuses it instead of asking the API again, and says which run it reused.

Every materialization reports rows, pages, requests, retries, throttled seconds, what was read and
a preview; each month partition gets its own ``dagster/row_count``; the primary key is checked. The
fields the API sent that no column declares, and declared ones no record carried, are reported and
checked against the last read (``schema_drift``, see ``schema_drift.py``).
"""

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from connectors.core.entity import Entity, Partitioning, Source
from connectors.core.extract import staged_schema
from connectors.core.settings import resolve_settings
from pipelines import datadir
from pipelines.config import Connection
from pipelines.loader import Catalog
from pipelines.staging import StageReport, Staging, partition_keys, release_memory, stage_entity

from .failures import reported, retry_policy
from .reconcile import reconcile_older, reconciling
from .resources import CoupletResource, monthly_partitions
from .schema_drift import field_metadata, reused_metadata, schema_check, schema_check_spec
from .translator import (
    TAG_FLOWS,
    TAG_LOOKBACK,
    TAG_WINDOW,
    Kind,
    kind_of,
    label,
    parse_window,
    raw_path,
    source_lookback,
    stable_digest,
)

PK_CHECK = "primary_key_unique_not_null"
PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 12


class RawConfig(dg.Config):
    """Run configuration of a raw asset."""

    full_refresh: bool = False  # read everything: all changes (change capture), all years (year-scoped)
    years: list[int] = []  # year-scoped entities: exactly these years


def preview(table: pa.Table) -> dg.MetadataValue:
    cols = table.column_names[:PREVIEW_COLUMNS]
    head = table.select(cols).slice(0, PREVIEW_ROWS).to_pylist()
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in cols])
    records = [dg.TableRecord({c: "" if r[c] is None else str(r[c])[:80] for c in cols}) for r in head]
    return dg.MetadataValue.table(records, schema)


def column_schema(entity: Entity) -> dg.TableSchema:
    descriptions = {c.name: c.description for c in entity.columns}
    stamps = {
        "_extracted_at": "When couplet read the record (UTC).",
        "_window_start": "First day of the partition the record belongs to.",
        "_window_end": "Day after the last day of the record's partition.",
    }
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                f.name, str(f.type), description=descriptions.get(f.name) or stamps.get(f.name, "")
            )
            for f in staged_schema(entity)
        ]
    )


def key_check(files: Sequence[str], entity: Entity) -> dg.AssetCheckResult:
    """Primary key unique and not null over the staged partitions of this run (key columns only)."""
    keys = list(entity.primary_key)
    required = [c.name for c in entity.columns if c.name in keys and not c.nullable]
    if not files:
        return dg.AssetCheckResult(check_name=PK_CHECK, passed=True, metadata={"rows": 0})
    table = pa.concat_tables([datadir.read_table(f, columns=keys) for f in files])
    nulls = sum(table.column(c).null_count for c in required)
    counts = table.group_by(keys, use_threads=False).aggregate([([], "count_all")])
    dupes = pc.sum(pc.greater(counts.column("count_all"), 1)).as_py() or 0
    return dg.AssetCheckResult(
        check_name=PK_CHECK,
        passed=nulls == 0 and dupes == 0,
        metadata={
            "primary_key": ", ".join(keys),
            "null_keys": nulls,
            "duplicate_keys": dupes,
            "rows": table.num_rows,
        },
    )


def source_pool(connection: str) -> str:
    """The concurrency pool of a source account: ``source:<connection>`` (one per connection)."""
    return f"source:{connection}"


def _days(
    context: dg.AssetExecutionContext,
    reading: Mapping[str, object],
    lookbacks: Callable[[str, dt.datetime], int],
) -> tuple[dt.date, dt.date]:
    """Days this run reads of a monthly asset: its months, narrowed to the run's window if any.

    In a look-back run (a schedule's, or ``flows run`` without dates) the window is the longest
    look-back of the run's flows; this source reads only its own: the look-back of the run's flows
    that read it (``reading``; ``lookbacks(flow, now)``, see ``pipelines.lookback``) up to the
    window's end.
    """
    tw = context.partition_time_window
    start, end = tw.start.date(), tw.end.date()
    tags = context.run.tags
    window = parse_window(tags)
    if window is not None and tags.get(TAG_WINDOW):
        start, end = max(start, window[0]), min(end, window[1])
        flows = _run_flows(tags, reading)
        if tags.get(TAG_LOOKBACK) == "1" and flows:
            now = dt.datetime.now(dt.UTC)
            own = max(lookbacks(f, now) for f in flows)
            start = max(start, window[1] - dt.timedelta(days=own + 1))  # "today" is window[1] - 1 day
    return start, max(start, end)


def _run_flows(tags: Mapping[str, str], reading: Mapping[str, object]) -> list[str]:
    """The run's flows (its ``couplet/flows`` tag) that read this asset."""
    return [f for f in tags.get(TAG_FLOWS, "").split(",") if f in reading]


def _window_start(context: dg.AssetExecutionContext) -> dt.date:
    """The first day of the run's window within this asset's partition range."""
    start = context.partition_time_window.start.date()
    window = parse_window(context.run.tags)
    return max(start, window[0]) if window is not None and context.run.tags.get(TAG_WINDOW) else start


def _years(
    entity: Entity, first_year: int, staging: Staging, conn: str, tags: dict, config: RawConfig
) -> list[int]:
    this = dt.datetime.now(dt.UTC).year
    earliest = entity.window.earliest if entity.window and entity.window.earliest else None
    first = max(first_year, earliest.year if earliest else first_year)
    if config.years:
        return sorted({y for y in config.years if y <= this + 1})
    every = set(range(first, this + 1))
    if config.full_refresh:
        return sorted(every)
    window = parse_window(tags)
    wanted = (
        set(range(window[0].year, (window[1] - dt.timedelta(days=1)).year + 1))
        if window
        else {this - 1, this}
    )
    staged = {p.stem for p in staging.files(conn, entity.name)}
    wanted |= {y for y in every if str(y) not in staged}  # complete on the first run
    return sorted(y for y in wanted if first <= y <= this)


def _runs_of(years: list[int]) -> list[tuple[int, int]]:
    """Consecutive years as (first, last) runs: one extraction each."""
    out: list[tuple[int, int]] = []
    for y in years:
        if out and out[-1][1] == y - 1:
            out[-1] = (out[-1][0], y)
        else:
            out.append((y, y))
    return out


def _covers(theirs: str, ours: str) -> bool:
    """Whether a read described as ``theirs`` includes ``ours`` (days, years or everything)."""
    if theirs == ours:
        return True
    if theirs.startswith("years ") and ours.startswith("years "):
        return set(ours[6:].split(", ")) <= set(theirs[6:].split(", "))
    if ".." in theirs and ".." in ours:
        (a, b), (c, d) = theirs.split(".."), ours.split("..")
        return a <= c and d <= b  # ISO dates compare as text
    return False


def _reuse(
    context: dg.AssetExecutionContext, key: dg.AssetKey, keys: list[str] | None, read: str
) -> dg.EventLogRecord | None:
    """A materialization of the same reads by another run since this run was requested, if any."""
    instance = context.instance
    record = instance.get_run_record_by_id(context.run.run_id)
    if record is None:
        return None
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=key, asset_partitions=keys, after_timestamp=record.create_timestamp.timestamp()
        ),
        limit=1000,
    ).records
    covered: dict[str | None, dg.EventLogRecord] = {}
    for rec in found:
        mat = rec.asset_materialization
        if rec.run_id == context.run.run_id or mat is None:
            continue
        if _covers(str(getattr(mat.metadata.get("read"), "value", "")), read):
            covered.setdefault(mat.partition, rec)
    wanted: list[str | None] = list(keys) if keys else [None]
    if all(k in covered for k in wanted):
        return covered[wanted[0]]
    return None


def build_raw_asset(
    name: str, conn: Connection, source: Source, entity: Entity, catalog: Catalog, secrets: Sequence[str]
) -> dg.AssetsDefinition:
    path = raw_path(name, entity.name)
    key = dg.AssetKey(path)
    kind = kind_of(entity)
    start_day = catalog.flow_file.settings.partitions_start
    partitions = monthly_partitions(start_day) if kind is Kind.MONTHLY else None
    env, literals = conn.setting_values()
    reading: dict[str, list[str]] = {}  # flow -> its sources reading this entity
    for f, flow in catalog.flow_file.flows.items():
        for s, spec in flow.sources.items():
            if spec.connection == name and spec.entity == entity.name:
                reading.setdefault(f, []).append(s)
    declared = catalog.flow_file.flows

    def lookbacks(f: str, now: dt.datetime) -> int:
        """The look-back of flow ``f``'s source(s) reading this entity, for a run at ``now``."""
        return max(source_lookback(declared[f], s, now) for s in reading[f])

    where = [
        f"{catalog.locate(['flows', f, 'sources', s])} flows.{f}.sources.{s}"
        for f, flow in catalog.flow_file.flows.items()
        for s, spec in flow.sources.items()
        if spec.connection == name and spec.entity == entity.name
    ]

    @dg.asset(
        key=key,
        group_name=name,
        kinds={source.name, "parquet"},
        # Every read of one account shares a pool: with a limit of 1 on the instance, steps that read
        # the same account queue (across runs), and the limiter's log goes from each step's process
        # to the next (pipelines.ratestate), so the published limits hold.
        pool=source_pool(name),
        description=entity.description,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions else None,
        check_specs=[
            dg.AssetCheckSpec(
                PK_CHECK,
                asset=key,
                description=f"primary key ({', '.join(entity.primary_key)}) unique and not null",
            ),
            schema_check_spec(key),
        ],
        metadata={
            "dagster/column_schema": column_schema(entity),
            "connector": source.name,
            "primary_key": ", ".join(entity.primary_key),
            "partitioned_by": {Partitioning.DAILY: "month", Partitioning.YEARLY: "year (inside)"}.get(
                entity.partitioning, "none"
            ),
        },
        code_version=stable_digest(entity, env, literals),
        retry_policy=retry_policy(catalog.flow_file.settings),
    )
    def _raw(
        context: dg.AssetExecutionContext, config: RawConfig, couplet: CoupletResource
    ) -> dg.MaterializeResult:
        with reported(label(path), [f"connection {name} ({source.name})", *where], secrets):
            return _materialize(context, config, couplet.staging)

    def _materialize(
        context: dg.AssetExecutionContext, config: RawConfig, staging: Staging
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        keys: list[str] | None = None
        spans: list[tuple[dt.date | None, dt.date | None]] = [(None, None)]
        older: tuple[dt.date, dt.date] | None = None  # days a reconciling run checks for drift
        checked: dict[str, Any] = {}
        if entity.partitioning is Partitioning.DAILY:
            first, after = _days(context, reading, lookbacks)
            read = f"{first.isoformat()}..{after.isoformat()}"
            keys, spans = list(context.partition_keys), [(first, after)]
            whole = _window_start(context)
            if reconciling(context.run.tags) and whole < first:
                older = (whole, first)
        elif entity.partitioning is Partitioning.YEARLY:
            years = _years(entity, start_day.year, staging, name, dict(context.run.tags), config)
            read = "years " + ", ".join(map(str, years))
            spans = [(dt.date(a, 1, 1), dt.date(b + 1, 1, 1)) for a, b in _runs_of(years)]
        else:
            read = "all"
        fresh = config.full_refresh or config.years or older is not None
        reused = None if fresh else _reuse(context, key, keys, read)
        if reused is not None:
            report = StageReport(mode=f"reused from run {reused.run_id}")
            context.log.info(
                f"{label(path)} {read}: staged by run {reused.run_id} after this run was requested; reused"
            )
        else:
            settings = resolve_settings(source, env, literals)
            report = StageReport()
            for a, b in spans:
                part = stage_entity(
                    source, settings, name, entity, staging, a, b, full_refresh=config.full_refresh
                )
                report.rows += part.rows
                report.partitions.update(part.partitions)
                report.stats = {k: report.stats.get(k, 0) + v for k, v in part.stats.items()}
                report.preview = (
                    report.preview if report.preview is not None and report.preview.num_rows else part.preview
                )
                report.mode = part.mode
                report.fields = part.fields if report.fields is None else report.fields.merge(part.fields)
            if older is not None:
                flows = _run_flows(context.run.tags, reading)
                specs = [catalog.flow_file.flows[f].reconcile for f in flows]
                cheaper = all(r.reread_when_cheaper for r in specs)
                refresh = max((r.refresh_months for r in specs), default=0)
                checked = reconcile_older(
                    context, source, settings, name, entity, staging, *older, cheaper, refresh
                )
        touched = (
            keys
            if keys is not None
            else (
                partition_keys(entity, spans[0][0], spans[-1][1])
                if spans[0][0]
                else sorted(report.partitions)
            )
        )
        files = [str(p) for p in staging.files(name, entity.name, touched)]
        counts = {  # rows staged per partition now: as written, or from the file's footer
            k: report.partitions[k] if k in report.partitions else staging.rows(name, entity.name, k)
            for k in (keys or sorted(report.partitions))
        }
        if keys is not None:
            for k in keys:  # each month's own count, not the run's total
                context.add_asset_metadata({"dagster/row_count": counts[k]}, partition_key=k)
        staged_rows = sum(counts.values())
        context.log.info(
            f"{label(path)} {read}: {report.rows} rows read, {staged_rows} staged in the partitions read"
        )
        metadata: dict[str, Any] = {
            "rows": report.rows,
            "read": read,
            "pages": int(report.stats.get("pages", 0)),
            "requests": int(report.stats.get("requests", 0)),
            "retries": int(report.stats.get("retries", 0)),
            "throttled_seconds": float(report.stats.get("throttled_seconds", 0.0)),
            "seconds": round(time.perf_counter() - started, 3),
            "mode": report.mode,
            "staging": dg.MetadataValue.path(str(staging.folder(name, entity.name))),
            "preview": preview(
                report.preview if report.preview is not None else staged_schema(entity).empty_table()
            ),
        }
        if keys is None:
            metadata["dagster/row_count"] = staged_rows
        if older is not None:
            metadata.update(checked)
        metadata.update(field_metadata(report.fields) if reused is None else reused_metadata(reused))
        if reused is not None:
            metadata["reused_from_run"] = reused.run_id
        check = key_check(files, entity)
        release_memory()  # what the extraction and the check freed goes back before the next asset runs
        checks = [check, schema_check(context.instance, key, metadata)]
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return _raw
