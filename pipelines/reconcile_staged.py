"""What reconcile compares the API with: staged figures per day, staged record versions, a marker.

``StagedDays`` computes an entity's drift figures (``Figure``: row counts and column sums) per day
of a range from the staged month files, so any window's figures are a difference of prefix sums.
``merge_changed`` folds records a change feed returned into staging when they are newer than (or
absent from) what is staged, moving a record out of its old day too. The marker file remembers up to
when a reconcile saw every change of a range, so the next one asks only for changes since then.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.core.entity import Entity, Figure
from connectors.core.extract import staged_schema
from connectors.core.sizing import month_pieces, next_month
from pipelines import datadir
from pipelines.datadir import Location
from pipelines.staging import Staging, partition_keys

MARKER = ".reconcile.json"  # in the entity's staging folder; not a *.parquet file, so never read as data
REFRESHED = ".refreshed.json"  # month -> when a reconcile's refresh last re-read it whole
MARKERS_KEPT = 8


def staged_rows(
    staging: Staging, connection: str, entity: Entity, start: dt.date, end: dt.date, cols: set[str]
) -> pa.Table:
    """The staged rows of ``[start, end)``, only ``cols`` (+ ``_window_start``)."""
    schema = staged_schema(entity)
    names = [n for n in schema.names if n in cols | {"_window_start"}]
    files = staging.files(connection, entity.name, partition_keys(entity, start, end))
    tables = [datadir.read_table(f, columns=names, schema=schema) for f in files]
    table = pa.concat_tables(tables) if tables else schema.empty_table().select(names)
    day = table.column("_window_start")
    inside = pc.and_(pc.greater_equal(day, pa.scalar(start)), pc.less(day, pa.scalar(end)))
    return table.filter(inside)


def _is_set(column: pa.ChunkedArray) -> pa.ChunkedArray:
    valid = pc.is_valid(column)
    if pa.types.is_boolean(column.type):
        return pc.and_(valid, pc.fill_null(column, False))
    return valid


class StagedDays:
    """Per-day staged figures of ``[start, end)``: ``rows``, the drift figures, and (``by_series``)
    the same per fan-out series (e.g. per user), all as prefix sums over days."""

    def __init__(
        self,
        staging: Staging,
        connection: str,
        entity: Entity,
        start: dt.date,
        end: dt.date,
        by_series: bool = False,
    ) -> None:
        assert entity.drift is not None
        self.start, self.figures = start, entity.drift.probe.figures
        cols = {c for f in self.figures for c in (f.column, *f.where) if c}
        series_col = entity.fan_out.inject_as if entity.fan_out else ""
        table = staged_rows(
            staging, connection, entity, start, end, cols | ({series_col} if series_col else set())
        )
        n, days = table.num_rows, (end - start).days
        codes = np.zeros(n, dtype=np.int64)
        self.series_ids: list[Any] = []
        if series_col and n:
            encoded = pc.dictionary_encode(pc.fill_null(table.column(series_col).combine_chunks(), ""))
            self.series_ids = encoded.dictionary.to_pylist()
            codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.series = max(1, len(self.series_ids))
        self._rank = {s: i for i, s in enumerate(self.series_ids)}
        day = pc.cast(table.column("_window_start"), pa.int32()).to_numpy().astype(np.int64)
        day = day - (start - dt.date(1970, 1, 1)).days + 1
        groups = 1 + (len(self.series_ids) if by_series else 0)
        self.sums: dict[str, np.ndarray] = {}
        for name, values in self._values(table).items():
            grid = np.zeros((groups, days + 1))
            np.add.at(grid[0], day, values)
            if by_series:
                np.add.at(grid, (codes + 1, day), values)
            self.sums[name] = np.cumsum(grid, axis=1)

    def _values(self, table: pa.Table) -> dict[str, np.ndarray]:
        out = {"rows": np.ones(table.num_rows)}
        for f in self.figures:
            amount = out["rows"]
            if f.column:
                amount = pc.fill_null(pc.cast(table.column(f.column), pa.float64()), 0.0).to_numpy()
            for w in f.where:  # rows that lack a where column count 0
                amount = np.where(_is_set(table.column(w)).to_numpy(zero_copy_only=False), amount, 0.0)
            out[f.name] = np.asarray(amount, dtype=np.float64)
        return out

    def window(self, start: dt.date, end: dt.date, series: Sequence[Any] | None = None) -> dict[str, float]:
        """Each figure (and ``rows``) over the days ``[start, end)``, of all rows or of ``series``."""
        a, b = (start - self.start).days, (end - self.start).days
        if series is None:
            return {name: float(g[0, b] - g[0, a]) for name, g in self.sums.items()}
        rows = [1 + self._rank[s] for s in series if s in self._rank]
        return {name: float((g[rows, b] - g[rows, a]).sum()) for name, g in self.sums.items()}


def same(figures: tuple[Figure, ...], staged: dict[str, float], source: dict[str, float]) -> bool:
    return all(
        math.isclose(staged[f.name], source[f.name], rel_tol=1e-9, abs_tol=f.tolerance + 1e-9)
        for f in figures
    )


def differences(figures: tuple[Figure, ...], staged: dict[str, float], source: dict[str, float]) -> str:
    """``count: 812 staged, 811 at the source`` for each figure that disagrees."""
    out = [
        f"{f.name}: {staged[f.name]:g} staged, {source[f.name]:g} at the source"
        for f in figures
        if not same((f,), staged, source)
    ]
    return "; ".join(out) or "figures agree"


# -- change feed --------------------------------------------------------------------------------------


def _keys(table: pa.Table, key: tuple[str, ...]) -> list[Any]:
    columns = [table.column(k).to_pylist() for k in key]
    return columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))


@dataclass
class Merged:
    records: int  # changed records newer than their staged copy (or not staged): merged in
    days: dict[dt.date, int]  # day -> records that changed there (new day, and old day of a move)


def merge_changed(
    staging: Staging,
    connection: str,
    entity: Entity,
    changed: pa.Table,
    start: dt.date,
    end: dt.date,
    *,
    write: bool = True,
) -> Merged:
    """Fold ``changed`` (staged rows read from a change feed) into staging where it is news.

    A record counts as changed when nothing with its key is staged in ``[start, end)``, or it is
    staged on another day, or its change stamp (``drift.changes.field``) is newer than the staged
    one. With ``write``, every month touched is rewritten: old copies out, new versions in.
    """
    assert entity.drift is not None and entity.drift.changes is not None
    stamp, key = entity.drift.changes.field, entity.primary_key
    staged = staged_rows(staging, connection, entity, start, end, {*key, stamp})
    known = dict(zip(_keys(staged, key), zip(staged.column("_window_start").to_pylist(),
                                                staged.column(stamp).to_pylist(), strict=True), strict=True))  # fmt: skip
    news: list[int] = []
    days: dict[dt.date, int] = {}
    for i, (k, day, when) in enumerate(
        zip(_keys(changed, key), changed.column("_window_start").to_pylist(), changed.column(stamp).to_pylist(),
            strict=True)
    ):  # fmt: skip
        old = known.get(k)
        if old is not None and old[0] == day and old[1] is not None and when is not None and old[1] >= when:
            continue
        news.append(i)
        days[day] = days.get(day, 0) + 1
        if old is not None and old[0] != day:
            days[old[0]] = days.get(old[0], 0) + 1
    if write and news:
        _rewrite(staging, connection, entity, changed.take(news), days)
    return Merged(len(news), days)


def _rewrite(
    staging: Staging, connection: str, entity: Entity, news: pa.Table, days: dict[dt.date, int]
) -> None:
    gone = pa.array(_keys(news, entity.primary_key)) if len(entity.primary_key) == 1 else None
    for month in sorted({d.replace(day=1) for d in days}):
        table = staging.read(connection, entity, [month.strftime("%Y-%m")])
        if gone is not None:
            table = table.filter(pc.invert(pc.is_in(table.column(entity.primary_key[0]), gone)))
        else:
            wanted = set(_keys(news, entity.primary_key))
            table = table.filter(pa.array([k not in wanted for k in _keys(table, entity.primary_key)]))
        day = news.column("_window_start")
        mine = news.filter(
            pc.and_(pc.greater_equal(day, pa.scalar(month)), pc.less(day, pa.scalar(next_month(month))))
        )
        table = pa.concat_tables([table, mine.cast(table.schema)])
        staging.replace_days(connection, entity, month.strftime("%Y-%m"), table, month, next_month(month))


def replace_series(
    staging: Staging,
    connection: str,
    entity: Entity,
    fresh: pa.Table,
    start: dt.date,
    end: dt.date,
    values: Sequence[Any],
    column: str = "",
) -> int:
    """Put ``fresh`` (re-read rows of some series over ``[start, end)``) into staging: the staged
    rows of those days whose ``column`` (default: the fan-out's ``inject_as``) is one of ``values``
    go, every other row stays. Returns the rows written."""
    if not column:
        assert entity.fan_out is not None
        column = entity.fan_out.inject_as
    wanted = pa.array(list(values))
    written = 0
    for month in [a.replace(day=1) for a, _ in month_pieces(start, end)]:
        key, after = month.strftime("%Y-%m"), next_month(month)
        table = staging.read(connection, entity, [key])
        day = table.column("_window_start")
        inside = pc.and_(pc.greater_equal(day, pa.scalar(start)), pc.less(day, pa.scalar(end)))
        ours = pc.and_(inside, pc.fill_null(pc.is_in(table.column(column), wanted), False))
        new_day = fresh.column("_window_start")
        mine = fresh.filter(
            pc.and_(pc.greater_equal(new_day, pa.scalar(month)), pc.less(new_day, pa.scalar(after)))
        )
        staging.replace_days(
            connection,
            entity,
            key,
            pa.concat_tables([table.filter(pc.invert(ours)), mine.cast(table.schema)]),
            month,
            after,
        )
        written += mine.num_rows
    return written


def read_longest_ago(
    staging: Staging, connection: str, entity: Entity, start: dt.date, end: dt.date, n: int
) -> list[tuple[dt.date, dt.date]]:
    """The ``n`` month windows of ``[start, end)`` (clipped to it) whose staged rows were read longest
    ago (the oldest ``_extracted_at`` of the rows in the window); months with nothing staged first."""
    if n <= 0:
        return []
    table = staged_rows(staging, connection, entity, start, end, {"_extracted_at"})
    oldest: dict[str, Any] = {}
    if table.num_rows:
        month = pc.strftime(table.column("_window_start").cast(pa.timestamp("s")), format="%Y-%m")
        sums = (
            pa.table({"m": month, "t": table.column("_extracted_at")}).group_by("m").aggregate([("t", "min")])
        )
        oldest = dict(zip(sums.column("m").to_pylist(), sums.column("t_min").to_pylist(), strict=True))
    text = datadir.read_bytes(staging.folder(connection, entity.name) / REFRESHED)
    refreshed = {k: dt.datetime.fromisoformat(v) for k, v in json.loads(text).items()} if text else {}
    never = dt.datetime.min.replace(tzinfo=dt.UTC)

    def last_read(window: tuple[dt.date, dt.date]) -> dt.datetime:
        key = window[0].strftime("%Y-%m")  # a month without rows counts from its last refresh
        return max((t for t in (oldest.get(key), refreshed.get(key)) if t is not None), default=never)

    windows = [(max(a, start), min(b, end)) for a, b in month_pieces(start, end)]
    return sorted(sorted(windows, key=lambda w: (last_read(w), w[0]))[:n])


def note_refreshed(
    staging: Staging,
    connection: str,
    entity: Entity,
    windows: Sequence[tuple[dt.date, dt.date]],
    when: dt.datetime,
) -> None:
    """Remember when these month windows were re-read whole (for months that hold no rows)."""
    path = staging.folder(connection, entity.name) / REFRESHED
    text = datadir.read_bytes(path)
    refreshed: dict[str, str] = json.loads(text) if text else {}
    refreshed.update({a.strftime("%Y-%m"): when.isoformat() for a, _ in windows})
    datadir.write_bytes(path, json.dumps(dict(sorted(refreshed.items())), indent=1).encode())


def keys_by_day(entity: Entity, table: pa.Table, column: str) -> dict[dt.date, set[tuple[Any, ...]]]:
    """``(column, *primary key)`` of ``table``'s rows per staged day."""
    cols = [table.column(k).to_pylist() for k in (column, *entity.primary_key)]
    out: dict[dt.date, set[tuple[Any, ...]]] = {}
    for day, *key in zip(table.column("_window_start").to_pylist(), *cols, strict=True):
        out.setdefault(day, set()).add(tuple(key))
    return out


def series_keys_by_day(
    staging: Staging,
    connection: str,
    entity: Entity,
    start: dt.date,
    end: dt.date,
    column: str,
    values: Sequence[Any],
) -> dict[dt.date, set[tuple[Any, ...]]]:
    """``(column, *primary key)`` of the staged rows of ``[start, end)`` whose ``column`` is one of
    ``values``, per day."""
    table = staged_rows(staging, connection, entity, start, end, {column, *entity.primary_key})
    table = table.filter(pc.fill_null(pc.is_in(table.column(column), pa.array(list(values))), False))
    return keys_by_day(entity, table, column)


# -- marker -----------------------------------------------------------------------------------------


def _marker_path(staging: Staging, connection: str, entity: Entity) -> Location:
    return staging.folder(connection, entity.name) / MARKER


def changes_since(
    staging: Staging, connection: str, entity: Entity, start: dt.date, end: dt.date
) -> dt.datetime | None:
    """The latest time before which every change of ``[start, end)`` is known to be staged: a
    marker of an earlier reconcile that covered the range, or the oldest read of the staged rows
    (a change made before a day was read is in that read). None when nothing is staged."""
    candidates: list[dt.datetime] = []
    text = datadir.read_bytes(_marker_path(staging, connection, entity))
    if text is not None:
        for m in json.loads(text):
            if dt.date.fromisoformat(m["start"]) <= start and dt.date.fromisoformat(m["end"]) >= end:
                candidates.append(dt.datetime.fromisoformat(m["since"]))
    staged = staged_rows(staging, connection, entity, start, end, {"_extracted_at"})
    oldest = pc.min(staged.column("_extracted_at")).as_py() if staged.num_rows else None
    if oldest is not None:
        candidates.append(oldest)
    return max(candidates) if candidates else None


def save_marker(
    staging: Staging, connection: str, entity: Entity, start: dt.date, end: dt.date, since: dt.datetime
) -> None:
    """Remember that every change of ``[start, end)`` made before ``since`` is staged."""
    path = _marker_path(staging, connection, entity)
    text = datadir.read_bytes(path)
    markers = json.loads(text) if text is not None else []
    markers = [m for m in markers if (m["start"], m["end"]) != (start.isoformat(), end.isoformat())]
    markers.append({"start": start.isoformat(), "end": end.isoformat(), "since": since.isoformat()})
    datadir.write_bytes(path, json.dumps(markers[-MARKERS_KEPT:], indent=1).encode())
