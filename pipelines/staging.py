"""Staging: Parquet files per (connection, entity, partition), replaced atomically.

Layout under the data directory (a local folder, or an ``s3://`` / ``gs://`` URI: ``pipelines.datadir``)::

    staging/<connection>/<entity>/<partition>.parquet     partition = 2026-11 | 2026 | all

Daily entities keep a file per calendar month, year-scoped ones per year, dimensions one. A file is
written to a temporary name in the same folder and renamed over the old one, so a failed run leaves
the previous file intact and a reader never sees half a file; the temp file goes with the failure,
and those of killed runs are swept, by age, the next time the entity's folder is written
(``pipelines.tempfiles``).

A read replaces what it covered, whole: a month read entirely is written anew (empty too, so
deleted records disappear); a read of some days of a month (a look-back) replaces exactly those
days' records in the month's file and keeps the rest. A month with nothing read and nothing staged
writes no file. DuckDB reads the files directly (``read_parquet``) for steps, publishing and checks,
so concurrent runs never fight over one database lock (remote files: as an Arrow dataset for steps,
downloaded to a temp folder for writers; see ``pipelines.datadir``). Files of the former per-day layout
(``2026-11-20.parquet``) are merged into month files the first time an entity is read.

Dimensions with change capture (``Entity.incremental``) keep one file that each run merges its
changes into; ``pipelines.changes`` decides what to ask and when a deletion forces a full read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.core.entity import Entity, Partitioning, Source
from connectors.core.extract import Extractor, SliceResult, staged_schema
from connectors.core.fields import FieldTally
from connectors.core.http import RetryPolicy
from connectors.core.settings import ResolvedSettings
from connectors.core.sizing import month_pieces, next_month
from destinations.base import ParquetSource
from pipelines import datadir
from pipelines.changes import Capture, plan
from pipelines.datadir import Location
from pipelines.dates import DateRange, resolve
from pipelines.ratestate import data_dir_of, handed_over
from pipelines.steps import StepInput
from pipelines.tempfiles import replacing

UNPARTITIONED = "all"
_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def partition_key(entity: Entity, day: dt.date | None) -> str:
    kind = entity.partitioning
    if kind is Partitioning.NONE or day is None:
        return UNPARTITIONED
    return str(day.year) if kind is Partitioning.YEARLY else day.strftime("%Y-%m")


def partition_keys(entity: Entity, start: dt.date | None, end: dt.date | None) -> list[str]:
    """The staged partitions that hold ``[start, end)``."""
    if entity.partitioning is Partitioning.NONE or start is None or end is None:
        return [UNPARTITIONED]
    if entity.partitioning is Partitioning.YEARLY:
        return [str(y) for y in range(start.year, (end - dt.timedelta(days=1)).year + 1)]
    return [a.strftime("%Y-%m") for a, _ in month_pieces(start, end)]


def source_files(
    staging: Staging,
    connection: str,
    entity: Entity,
    dates: DateRange | None,
    now: dt.datetime,
    tz: str,
) -> StepInput:
    """The staged files a flow step reads for one source: all of them, or those of its ``dates``
    (resolved at ``now`` in the flow's zone ``tz``), keeping only those days' rows of month files."""
    if dates is None or entity.partitioning is Partitioning.NONE:
        return StepInput(tuple(str(f) for f in staging.files(connection, entity.name)))
    start, end = resolve(dates, now, tz)
    files = tuple(str(f) for f in staging.files(connection, entity.name, partition_keys(entity, start, end)))
    if entity.partitioning is Partitioning.YEARLY:
        return StepInput(files)  # whole years, as the API answers them
    return StepInput(files, (start, end))


@dataclass
class StageReport:
    rows: int = 0  # records read
    partitions: dict[str, int] = field(default_factory=dict)  # partition key -> rows staged in it now
    stats: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    preview: pa.Table | None = None  # the first few rows, for the UI
    mode: str = "full"  # "full", "changes since <time>", or "full: 12 staged vs 11 at the source"
    changed: int = 0  # records read in a change-capture run
    fields: FieldTally | None = None  # undeclared and missing fields of the records read (None: none read)


class Staging:
    """The staged files under a data directory: a local folder or an object store URI
    (``pipelines.datadir``; paths are ``Path`` or ``ObjectPath``, whose ``str()`` is a URI)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root: Location = datadir.location(data_dir) / "staging"
        self._swept: set[Location] = set()  # folders cleared of dead writers' temp files by this instance

    def check(self) -> None:
        """Fail early, naming ``settings.data_dir`` and the fix, when a remote data directory's
        bucket is missing or its credentials are refused (one request; nothing for a local one)."""
        datadir.check(self.root)

    def folder(self, connection: str, entity: str) -> Location:
        return self.root / connection / entity

    def path(self, connection: str, entity: str, key: str) -> Location:
        return self.folder(connection, entity) / f"{key}.parquet"

    def write(self, connection: str, entity: str, key: str, table: pa.Table) -> Location:
        folder = self.folder(connection, entity)
        if isinstance(folder, Path):
            folder.mkdir(parents=True, exist_ok=True)
        self._sweep(folder)
        final = folder / f"{key}.parquet"
        datadir.write_table(final, table, compression="zstd")
        return final

    def _sweep(self, folder: Location) -> None:
        """Remove temp files of killed writers (once per folder and run; live writers' are kept)."""
        if folder not in self._swept:
            datadir.sweep(folder)
            self._swept.add(folder)

    def files(self, connection: str, entity: str, keys: list[str] | None = None) -> list[Location]:
        folder = self.folder(connection, entity)
        if isinstance(folder, Path):
            self._merge_day_files(folder)  # a remote data directory never had the per-day layout
        if keys is None:
            return datadir.parquet_files(folder)
        if isinstance(folder, Path):
            return [p for p in (folder / f"{k}.parquet" for k in keys) if p.exists()]
        present = {p.name for p in datadir.parquet_files(folder)}  # one listing, not a request per key
        return [folder / f"{k}.parquet" for k in keys if f"{k}.parquet" in present]

    def rows(self, connection: str, entity: str, key: str) -> int:
        """Rows staged in one partition (from the file's footer; 0 when nothing is staged)."""
        path = self.path(connection, entity, key)
        return datadir.num_rows(path) if datadir.exists(path) else 0

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
        return pa.concat_tables([datadir.read_table(f, schema=schema) for f in files])

    def replace_days(
        self, connection: str, entity: Entity, key: str, table: pa.Table, start: dt.date, end: dt.date
    ) -> int:
        """Put ``table`` (the records of days ``[start, end)`` of one month) into the month's file.

        Records of those days already staged are replaced; the month's other days are kept. With
        nothing read and nothing staged, no file is written. Returns the rows the month holds now.
        """
        path = self.path(connection, entity.name, key)
        month = dt.date.fromisoformat(key + "-01")
        staged = datadir.exists(path)
        if staged and not (start <= month and end >= next_month(month)):
            kept = datadir.read_table(path, schema=table.schema)
            starts = kept.column("_window_start")
            outside = pc.or_(pc.less(starts, pa.scalar(start)), pc.greater_equal(starts, pa.scalar(end)))
            table = pa.concat_tables([kept.filter(outside), table])
        elif not staged and table.num_rows == 0:
            return 0
        self.write(connection, entity.name, key, table)
        return table.num_rows

    def _merge_day_files(self, folder: Path) -> None:
        """Fold files of the former per-day layout into month files (once, on first read)."""
        days = (
            sorted(p for p in folder.glob("*.parquet") if _DAY_FILE.match(p.stem)) if folder.exists() else []
        )
        by_month: dict[str, list[Path]] = {}
        for p in days:
            by_month.setdefault(p.stem[:7], []).append(p)
        for month, paths in by_month.items():
            tables = [pq.read_table(p) for p in paths]
            target = folder / f"{month}.parquet"
            if target.exists():
                covered = pa.array([dt.date.fromisoformat(p.stem) for p in paths], pa.date32())
                kept = pq.read_table(target, schema=tables[0].schema)
                tables.insert(0, kept.filter(pc.invert(pc.is_in(kept.column("_window_start"), covered))))
            merged = pa.concat_tables(tables, promote_options="permissive")
            self._sweep(folder)
            with replacing(target) as tmp:
                pq.write_table(merged, tmp, compression="zstd")
            for p in paths:
                p.unlink()


Piece = tuple[str, pa.Table, dt.date | None, dt.date | None]


def _split(entity: Entity, result: SliceResult) -> list[Piece]:
    """(partition key, its records, first day read, day after the last) for each partition a slice touches."""
    sl, table = result.slice, result.table
    kind = entity.partitioning
    if kind is Partitioning.NONE:
        return [(UNPARTITIONED, table, None, None)]
    if kind is Partitioning.YEARLY:
        return [(str(sl.year), table, None, None)]
    assert sl.start is not None and sl.end is not None
    pieces = month_pieces(sl.start, sl.end)
    if len(pieces) == 1:
        return [(sl.start.strftime("%Y-%m"), table, sl.start, sl.end)]
    starts = table.column("_window_start")
    out: list[Piece] = []
    for a, b in pieces:
        inside = pc.and_(pc.greater_equal(starts, pa.scalar(a)), pc.less(starts, pa.scalar(b)))
        out.append((a.strftime("%Y-%m"), table.filter(inside) if table.num_rows else table, a, b))
    return out


class _MonthBuffer:
    """Collects the slices of each month until the month's part of ``[start, end)`` is read whole,
    then writes the month once (an API window may be a few days; a month file is not rewritten per
    window). Months a failed read left incomplete are not written: their previous file stays."""

    def __init__(
        self,
        staging: Staging,
        connection: str,
        entity: Entity,
        start: dt.date | None,
        end: dt.date | None,
        report: StageReport,
    ) -> None:
        self.staging, self.connection, self.entity, self.report = staging, connection, entity, report
        self.start, self.end = start, end
        self.pending: dict[str, list[tuple[pa.Table, dt.date, dt.date]]] = {}

    def add(self, key: str, table: pa.Table, first: dt.date, after: dt.date) -> None:
        pieces = self.pending.setdefault(key, [])
        pieces.append((table, first, after))
        if self.start is None or self.end is None:
            return
        month = dt.date.fromisoformat(key + "-01")
        lo, hi = max(self.start, month), min(self.end, next_month(month))
        if sum((b - a).days for _, a, b in pieces) >= (hi - lo).days:
            self._write(key)

    def flush(self) -> None:
        """Write what a read that ended normally left pending (days it covered, exactly)."""
        for key in sorted(self.pending):
            self._write(key)

    def _write(self, key: str) -> None:
        pieces = sorted(self.pending.pop(key), key=lambda p: p[1])
        runs: list[tuple[list[pa.Table], dt.date, dt.date]] = []
        for table, first, after in pieces:  # contiguous days go together; a gap keeps its records
            if runs and runs[-1][2] == first:
                runs[-1] = (runs[-1][0] + [table], runs[-1][1], after)
            else:
                runs.append(([table], first, after))
        for tables, first, after in runs:
            self.report.partitions[key] = self.staging.replace_days(
                self.connection, self.entity, key, pa.concat_tables(tables), first, after
            )


async def _read(
    ex: Extractor,
    entity: Entity,
    start: dt.date | None,
    end: dt.date | None,
    capture: Capture,
    staging: Staging,
    connection: str,
    months: _MonthBuffer,
    report: StageReport,
) -> bool:
    """One extraction into staging. False when change capture found the merged records disagree
    with the source's count (nothing was written: a full read must follow)."""
    agreed = True
    async for result in ex.extract(entity, start, end, changed_since=capture.since):
        for key, table, first, after in _split(entity, result):
            report.rows += table.num_rows
            if report.preview is None and table.num_rows:
                report.preview = table.slice(0, 10)
            # Writing is CPU work on the event loop thread; a month at a time keeps it short.
            if first is not None and after is not None:
                months.add(key, table, first, after)
                continue
            if capture.since is not None:
                report.changed = table.num_rows
            staged = capture.staged(table)  # changes merged into the staged records, or a full read
            if staged is None:
                agreed = False
                continue
            staging.write(connection, entity.name, key, staged)
            report.partitions[key] = staged.num_rows
    return agreed


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
    staging.check()  # a missing bucket or refused credentials fail before the extraction, not after it
    now = dt.datetime.now(dt.UTC)
    capture = plan(entity, staging.path(connection, entity.name, UNPARTITIONED), now, full_refresh)
    report.mode = capture.mode
    months = _MonthBuffer(staging, connection, entity, start, end, report)
    extractor = Extractor(source, settings, transport=transport, retry=retry)
    async with handed_over(data_dir_of(staging), connection, extractor) as ex:  # pipelines.ratestate
        await capture.count(ex)  # before the changes: a later insert cannot hide a deletion
        args = (staging, connection, months, report)
        if not await _read(ex, entity, start, end, capture, *args):
            report.mode, report.preview = capture.mode, None  # "full: 12 staged vs 11 at the source"
            await _read(ex, entity, start, end, capture.full_read(), *args)
        report.stats = {**ex.client.stats.as_dict(), "pages": ex.stats.pages, "slices": ex.stats.slices}
        report.fields = ex.stats.fields.get(entity.name)
    months.flush()
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
    staged and merge it in, unless ``full_refresh`` or a full read is due (``pipelines.changes``).
    """
    if isinstance(entity, str):
        entity = source.entity(entity)
    try:
        return asyncio.run(
            _stage(source, settings, connection, entity, start, end, staging, transport, retry, full_refresh)
        )
    finally:
        release_memory()


def release_memory() -> None:
    """Give the memory an extraction freed back to the system, before the next step needs its own.

    Parsed pages leave free space in Arrow's pool and in the C heap that neither returns by itself;
    without this, a publish after an extraction would stack its memory on top of the extraction's.
    """
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
