"""Reconcile day by day: a fingerprint's per-(series, day) figures of whole years against staging.

An entity whose ``Drift`` declares a ``fingerprint`` (``connectors.core.entity.Fingerprint``) gets a
table of figures per series (e.g. per user) and day for a whole calendar year from one request
(``connectors.core.drift.fingerprint``), e.g. Clockodo's ``/userreports?type=3``: the hours each
co-worker booked each day. ``find_days`` asks it once per calendar year of ``[start, end)`` (plus one
list of the series' time zones), sums the same figure from the staged rows, per series and local
day, and returns the days that differ with the UTC days to re-read for them.

Days are local dates in each series' time zone (the report's calendar) while staging is partitioned
by UTC day, so a local day is compared only when every UTC day it spans lies in ``[start, end)``
(with UTC+1, the range's first day also holds the evening before it, which is not staged), and a
drifted local day re-reads every UTC day it spans (for its drifted series only, ``split_days``, where
the fingerprint names a ``filter_param`` and a day holds more than a page). A series the answer does
not list, or whose time zone is unknown, is not compared (``DayDrift.unchecked``); neither is a day
the answer gives no figure for (a future day).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from connectors.core.drift import DayFigures, fingerprint, fingerprint_of, series_zones
from connectors.core.entity import Entity
from connectors.core.extract import Extractor
from pipelines.reconcile_narrow import DriftFound, Plan, Window
from pipelines.reconcile_staged import StagedDays, staged_rows
from pipelines.staging import Staging

UTC = ZoneInfo("UTC")
SHOWN = 3  # series named in a drifted day's reason


@dataclass
class DayDrift:
    found: list[DriftFound] = field(default_factory=list)  # one per drifted local day
    windows: list[Window] = field(default_factory=list)  # UTC days to re-read, merged
    series: dict[Any, list[Window]] = field(default_factory=dict)  # the same, per drifted series
    requests: int = 0  # fingerprint requests (one per calendar year)
    compared: int = 0  # (series, day) figures compared
    unchecked: set[Any] = field(default_factory=set)  # series not compared (no time zone)


def years(start: dt.date, end: dt.date) -> list[int]:
    """The calendar years ``[start, end)`` touches: one fingerprint request each."""
    return list(range(start.year, (end - dt.timedelta(days=1)).year + 1))


def utc_span(day: dt.date, zone: ZoneInfo) -> Window:
    """The UTC days ``[a, b)`` holding some instant of the local ``day`` in ``zone``."""
    first = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    after = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    last = after - dt.timedelta(microseconds=1)
    return first.date(), last.date() + dt.timedelta(days=1)


def staged_sums(
    staging: Staging,
    connection: str,
    entity: Entity,
    start: dt.date,
    end: dt.date,
    zones: dict[Any, ZoneInfo | None] | None,
) -> DayFigures:
    """The fingerprint's figure summed from the staged rows of ``[start, end)``, per series and
    local day of ``time_column`` (``zones`` None: UTC for every series; a series missing from
    ``zones`` or without a zone is left out)."""
    fp = fingerprint_of(entity)
    assert fp is not None
    table = staged_rows(
        staging, connection, entity, start, end, {fp.column, fp.series_column, fp.time_column}
    )
    series = table.column(fp.series_column)
    groups: dict[str, list[Any]] = defaultdict(list)
    if zones is None:
        groups["UTC"] = pc.unique(series).to_pylist()
    else:
        for s, zone in zones.items():
            if zone is not None:
                groups[zone.key].append(s)
    out: DayFigures = {}
    values = pc.fill_null(pc.cast(table.column(fp.column), pa.float64()), 0.0)
    base = pa.table({"s": series, "t": table.column(fp.time_column), "v": values})
    for name, members in groups.items():
        part = base.filter(pc.fill_null(pc.is_in(base.column("s"), pa.array(members, series.type)), False))
        if not part.num_rows:
            continue
        times = part.column("t").cast(pa.timestamp("us", tz=name))
        local = pc.cast(pc.local_timestamp(times), pa.date32())
        sums = pa.table({"s": part.column("s"), "d": local, "v": part.column("v")})
        sums = sums.group_by(["s", "d"]).aggregate([("v", "sum")])
        for s, d, v in zip(*(sums.column(c).to_pylist() for c in ("s", "d", "v_sum")), strict=True):
            if s is not None and d is not None:
                out[(s, d)] = v
    return out


def compare(
    entity: Entity,
    source: DayFigures,
    staged: DayFigures,
    zones: dict[Any, ZoneInfo | None] | None,
    start: dt.date,
    end: dt.date,
) -> DayDrift:
    """The local days whose figures differ, and the UTC days to re-read for them."""
    fp = fingerprint_of(entity)
    assert fp is not None
    out = DayDrift()
    spans: dict[tuple[str, dt.date], Window] = {}
    differ: dict[dt.date, list[tuple[Any, float, float]]] = defaultdict(list)
    reread: dict[dt.date, set[Window]] = defaultdict(set)
    per_series: dict[Any, set[Window]] = defaultdict(set)
    for (s, day), theirs in source.items():
        if not start <= day < end:
            continue
        zone = UTC if zones is None else zones.get(s)
        if zone is None:
            out.unchecked.add(s)
            continue
        span = spans.setdefault((zone.key, day), utc_span(day, zone))
        if span[0] < start or span[1] > end:
            continue  # part of the local day is outside the staged range
        out.compared += 1
        mine = staged.get((s, day), 0.0)
        if abs(mine - theirs) > fp.tolerance:
            differ[day].append((s, mine, theirs))
            reread[day].add(span)
            per_series[s].add(span)
    listed = {s for s, _ in source}
    out.unchecked |= {s for s, _ in staged if s not in listed}  # staged, but not in the answer
    for day, rows in sorted(differ.items()):
        shown = "; ".join(
            f"{fp.series_column} {s}: {a:g} staged, {b:g} at the source" for s, a, b in rows[:SHOWN]
        )
        more = f" (+{len(rows) - SHOWN} more)" if len(rows) > SHOWN else ""
        out.found.append(
            DriftFound(
                day,
                day + dt.timedelta(days=1),
                f"{fp.value_field} by day: {shown}{more}",
                {fp.value_field: sum(r[1] for r in rows)},
                {fp.value_field: sum(r[2] for r in rows)},
            )
        )
    out.windows = merged({w for ws in reread.values() for w in ws})
    out.series = {s: merged(spans) for s, spans in per_series.items()}
    return out


def merged(windows: set[Window]) -> list[Window]:
    """``windows`` sorted, those that overlap or touch joined."""
    out: list[Window] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def split_days(
    plan: Plan, staged: StagedDays, days: DayDrift, filter_param: str
) -> tuple[list[Window], dict[Window, tuple[Any, ...]]]:
    """The drifted days' UTC windows to re-read whole (sorted; ``join`` merges them), and those to
    re-read for their drifted series only (through ``filter_param``, one request each), where that
    takes fewer requests than the whole window's pages. Without ``filter_param`` every window is
    re-read whole."""
    if not filter_param:
        return days.windows, {}
    scoped: dict[Window, set[Any]] = defaultdict(set)
    for s, spans in days.series.items():
        for span in spans:
            scoped[span].add(s)
    whole: list[Window] = []
    apart: dict[Window, tuple[Any, ...]] = {}
    for (a, b), who in sorted(scoped.items()):
        if len(who) < plan.cost((b - a).days, staged.window(a, b)["rows"], staged.series):
            apart[(a, b)] = tuple(sorted(who, key=str))
        else:
            whole.append((a, b))
    return whole, apart


async def find_days(
    ex: Extractor, entity: Entity, staging: Staging, connection: str, start: dt.date, end: dt.date
) -> DayDrift:
    """Ask the fingerprint of every calendar year of ``[start, end)`` (and the series' time zones)
    and compare it with staging day by day (see the module docstring)."""
    fp = fingerprint_of(entity)
    assert fp is not None
    asked = years(start, end)
    answers = await asyncio.gather(*(fingerprint(ex, entity, y) for y in asked))
    zones = await series_zones(ex, entity) if fp.zones else None
    source: DayFigures = {k: v for answer in answers for k, v in answer.items()}
    staged = staged_sums(staging, connection, entity, start, end, zones)
    out = compare(entity, source, staged, zones, start, end)
    out.requests = len(asked)
    return out
