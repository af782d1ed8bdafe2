"""Staging: Parquet files per (connection, entity, partition), replaced atomically.

Layout under the data directory::

    staging/<connection>/<entity>/<partition>.parquet     partition = 2026-11-20 | 2026 | all

A partition file is written to a temporary name in the same folder and renamed over the old one,
so a failed run leaves the previous file intact and a reader never sees half a file. Every
partition in a requested range is written, including empty ones: replacing a day whole is how
deleted records disappear. DuckDB reads the files directly (``read_parquet``) for publishing and
checks, so concurrent runs never fight over one database lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.core.entity import Entity, Partitioning, Source
from connectors.core.extract import Extractor, SliceResult, staged_schema
from connectors.core.http import RetryPolicy
from connectors.core.records import dedupe_last
from connectors.core.settings import ResolvedSettings
from destinations.base import ParquetSource

UNPARTITIONED = "all"


def partition_key(entity: Entity, day: dt.date | None) -> str:
    kind = entity.partitioning
    if kind is Partitioning.NONE or day is None:
        return UNPARTITIONED
    return str(day.year) if kind is Partitioning.YEARLY else day.isoformat()


@dataclass
class StageReport:
    rows: int = 0
    partitions: dict[str, int] = field(default_factory=dict)  # partition key -> rows
    stats: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    preview: pa.Table | None = None  # the first few rows, for the UI
    mode: str = "full"  # "full", or "changes since <time>" for change capture
    changed: int = 0  # records read in a change-capture run


class Staging:
    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir) / "staging"

    def folder(self, connection: str, entity: str) -> Path:
        return self.root / connection / entity

    def path(self, connection: str, entity: str, key: str) -> Path:
        return self.folder(connection, entity) / f"{key}.parquet"

    def write(self, connection: str, entity: str, key: str, table: pa.Table) -> Path:
        folder = self.folder(connection, entity)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{key}.parquet"
        tmp = folder / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def files(self, connection: str, entity: str, keys: list[str] | None = None) -> list[Path]:
        folder = self.folder(connection, entity)
        if keys is None:
            return sorted(folder.glob("*.parquet"))
        return [p for p in (folder / f"{k}.parquet" for k in keys) if p.exists()]

    def source(self, connection: str, entity: Entity, keys: list[str] | None = None) -> ParquetSource:
        """The staged partitions as a writer input that streams (or that DuckDB reads directly)."""
        return ParquetSource(
            tuple(str(p) for p in self.files(connection, entity.name, keys)), staged_schema(entity)
        )

    def read(self, connection: str, entity: Entity, keys: list[str] | None = None) -> pa.Table:
        files = self.files(connection, entity.name, keys)
        schema = staged_schema(entity)
        if not files:
            return schema.empty_table()
        return pa.concat_tables([pq.read_table(f, schema=schema) for f in files])


def _split(entity: Entity, result: SliceResult) -> list[tuple[str, pa.Table]]:
    """The partition files one slice produces: every day (or the year, or 'all'), empty ones too."""
    sl, table = result.slice, result.table
    kind = entity.partitioning
    if kind is Partitioning.NONE:
        return [(UNPARTITIONED, table)]
    if kind is Partitioning.YEARLY:
        return [(str(sl.year), table)]
    assert sl.start is not None and sl.end is not None
    out = []
    starts = table.column("_window_start")
    day = sl.start
    while day < sl.end:
        part = table.filter(pc.equal(starts, pa.scalar(day, pa.date32()))) if table.num_rows else table
        out.append((day.isoformat(), part))
        day += dt.timedelta(days=1)
    return out


FULL_REFRESH_AT = b"couplet_full_refresh_at"


def _changes_since(
    entity: Entity, staging: Staging, connection: str, now: dt.datetime
) -> tuple[dt.datetime | None, pa.Table | None]:
    """For change capture: (changed_since, previous table), or (None, None) when a full read is due."""
    inc = entity.incremental
    path = staging.path(connection, entity.name, UNPARTITIONED)
    if inc is None or entity.partitioning is not Partitioning.NONE or not path.exists():
        return None, None
    previous = pq.read_table(path, schema=staged_schema(entity))
    stamp = (pq.read_schema(path).metadata or {}).get(FULL_REFRESH_AT)
    if not stamp or previous.num_rows == 0:
        return None, None
    last_full = dt.datetime.fromisoformat(stamp.decode())
    if now - last_full >= dt.timedelta(days=inc.full_refresh_days):
        return None, None  # deletions are only seen by reading everything
    newest = pc.max(previous.column(inc.field)).as_py()
    if newest is None:
        return None, None
    # Never trust a timestamp from the future (clock skew, bad data): the previous read's own time
    # bounds the cursor, so a later edit is never skipped.
    last_read = pc.max(previous.column("_extracted_at")).as_py()
    cursor = min(newest, last_read) if last_read is not None else newest
    return cursor - dt.timedelta(seconds=inc.overlap_seconds), previous.replace_schema_metadata(
        {FULL_REFRESH_AT: stamp}
    )


async def _stage(
    source: Source,
    settings: ResolvedSettings,
    connection: str,
    entity: Entity,
    start: dt.date | None,
    end: dt.date | None,
    staging: Staging,
    transport: httpx.AsyncBaseTransport | None,
    retry: RetryPolicy | None,
    full_refresh: bool,
) -> StageReport:
    report = StageReport()
    now = dt.datetime.now(dt.UTC)
    changed_since, previous = (
        (None, None) if full_refresh else _changes_since(entity, staging, connection, now)
    )
    report.mode = "changes since " + changed_since.isoformat() if changed_since else "full"
    async with Extractor(source, settings, transport=transport, retry=retry) as ex:
        async for result in ex.extract(entity, start, end, changed_since=changed_since):
            for key, table in _split(entity, result):
                if previous is not None:
                    # Changed records replace their old version; the rest stay as staged.
                    report.changed = table.num_rows
                    table = dedupe_last(pa.concat_tables([previous, table]), entity.primary_key)
                    table = table.replace_schema_metadata(previous.schema.metadata)
                elif entity.incremental is not None and entity.partitioning is Partitioning.NONE:
                    table = table.replace_schema_metadata({FULL_REFRESH_AT: now.isoformat().encode()})
                # Writing is CPU work on the event loop thread; a slice at a time keeps it short.
                staging.write(connection, entity.name, key, table)
                report.partitions[key] = table.num_rows
                report.rows += table.num_rows
                if report.preview is None and table.num_rows:
                    report.preview = table.slice(0, 10)
        report.stats = {**ex.client.stats.as_dict(), "pages": ex.stats.pages, "slices": ex.stats.slices}
    report.files = sorted(report.partitions)
    if report.preview is None:
        report.preview = staged_schema(entity).empty_table()
    return report


def stage_entity(
    source: Source,
    settings: ResolvedSettings,
    connection: str,
    entity: Entity | str,
    staging: Staging,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    full_refresh: bool = False,
) -> StageReport:
    """Extract ``entity`` for ``[start, end)`` and replace its staged partitions. Blocking.

    Entities with change capture (``incremental``) read only what changed since the newest record
    staged and merge it in, unless ``full_refresh`` or a full read is due.
    """
    if isinstance(entity, str):
        entity = source.entity(entity)
    return asyncio.run(
        _stage(source, settings, connection, entity, start, end, staging, transport, retry, full_refresh)
    )
