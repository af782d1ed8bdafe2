"""Narrowing for reconcile: which windows (and series) to probe, and where the drift is.

A window whose probed figures disagree with the staged ones is halved: one half is probed and the
other half's figures are the whole's minus that half's (figures are counts and sums). A window is
halved down to ``max_window_days`` unless re-reading it whole costs fewer requests than a probe plus
re-reading a half (``Plan.cost``: slices, pages, fan-out series), and further where that saves
requests (a dense account: a week of many pages). For a fan-out
entity whose probe can be restricted to some series (``Probe.series``, e.g. Clockify's report by
users), a drifted window is then narrowed the same way over its series, so only the series that
differ are re-read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.core.drift import probe
from connectors.core.entity import Entity, Probe
from connectors.core.extract import Extractor
from connectors.core.sizing import month_pieces
from pipelines.reconcile_staged import StagedDays, differences, same

Window = tuple[dt.date, dt.date]
Figures = dict[str, float]


@dataclass
class DriftFound:
    """Days ``[start, end)`` whose staged records disagree with the source, and why."""

    start: dt.date
    end: dt.date
    reason: str  # "count: 812 staged, 811 at the source" or "changed: 2 record(s) edited, ..."
    staged: Figures = field(default_factory=dict)
    source: Figures = field(default_factory=dict)
    series: tuple[Any, ...] | None = None  # the fan-out series that differ (None: all of them)


@dataclass
class Plan:
    """What narrowing needs: the entity, its probe, the limits, and the probes it has asked."""

    entity: Entity
    probe: Probe
    max_window_days: int
    cost_aware: bool
    probes: int = 0

    @property
    def count(self) -> str:
        """The figure that counts records (no column summed), if any."""
        return next((f.name for f in self.probe.figures if not f.column), "")

    def cost(self, days: int, rows: float, series: int) -> int:
        """Requests a ``stage_entity`` of ``days`` holding ``rows`` records of ``series`` fan-out
        series costs, about: a request per slice and series or per page, whichever is more, plus
        the size probe of a sized entity and the fan-out parents' list."""
        w = self.entity.window
        assert w is not None
        sized = w.sizing is not None and days > w.max_days  # a short window is read unprobed
        slices = 1 if sized else math.ceil(days / max(1, w.max_days))
        page = self.entity.paging.size
        pages = max(slices * series, math.ceil(rows / page) if page else 0)
        return pages + int(sized) + int(self.entity.fan_out is not None)

    def splittable(self, days: int, staged: Figures, source: Figures, series: int) -> bool:
        """Whether to halve a drifted window: down to ``max_window_days``; with ``cost_aware``, a
        longer window is kept where halving would cost more requests (a probe plus re-reading the
        bigger half) than re-reading it, and a shorter one is halved where that saves requests."""
        if days <= 1 or (not self.cost_aware and days <= self.max_window_days):
            return False
        if not self.cost_aware:
            return True
        rows = max(staged["rows"], source.get(self.count, 0.0))
        half = days - days // 2
        whole, halved = self.cost(days, rows, series), 1 + self.cost(half, rows * half / days, series)
        return whole >= halved if days > self.max_window_days else whole > halved

    async def ask(
        self, ex: Extractor, a: dt.date, b: dt.date, series: Sequence[Any] | None = None
    ) -> Figures:
        self.probes += 1
        return await probe(ex, self.entity, a, b, series)


def probe_windows(start: dt.date, end: dt.date, days: int, staged_months: set[str]) -> list[Window]:
    """The first windows to probe: the whole range (``days`` 0; months never staged apart, so their
    records cannot cancel a deletion), else months joined while they fit ``days``, cut if longer."""
    out: list[Window] = []
    if days <= 0:
        runs: list[tuple[dt.date, dt.date, bool]] = []
        for a, b in month_pieces(start, end):
            staged = a.strftime("%Y-%m") in staged_months
            if runs and runs[-1][2] == staged:
                runs[-1] = (runs[-1][0], b, staged)
            else:
                runs.append((a, b, staged))
        return [(a, b) for a, b, _ in runs]
    for a, b in month_pieces(start, end):
        if out and (b - out[-1][0]).days <= days:
            out[-1] = (out[-1][0], b)
            continue
        cursor = a
        while cursor < b:
            out.append((cursor, min(cursor + dt.timedelta(days=days), b)))
            cursor = out[-1][1]
    return out


async def narrow(
    ex: Extractor,
    plan: Plan,
    staged: StagedDays,
    windows: list[Window],
    known: dict[Window, Figures] | None = None,
) -> list[DriftFound]:
    """Probe each window (``known``: the source's figures of some windows, already asked), halve
    the ones that disagree, return the drifted windows found."""
    figures = plan.probe.figures

    async def check(a: dt.date, b: dt.date, source: Figures) -> list[DriftFound]:
        mine = staged.window(a, b)
        if same(figures, mine, source):
            return []
        if not plan.splittable((b - a).days, mine, source, staged.series):
            return [DriftFound(a, b, differences(figures, mine, source), mine, source)]
        mid = a + dt.timedelta(days=(b - a).days // 2)
        left = await plan.ask(ex, a, mid)
        right = {k: v - left[k] for k, v in source.items()}  # figures add up over days
        parts = await asyncio.gather(check(a, mid, left), check(mid, b, right))
        return [d for part in parts for d in part]

    async def top(a: dt.date, b: dt.date) -> list[DriftFound]:
        source = (known or {}).get((a, b))
        return await check(a, b, source if source is not None else await plan.ask(ex, a, b))

    parts = await asyncio.gather(*(top(a, b) for a, b in windows))
    return sorted((d for part in parts for d in part), key=lambda d: d.start)


async def narrow_series(ex: Extractor, plan: Plan, staged: StagedDays, found: DriftFound) -> list[DriftFound]:
    """The series of a drifted window whose figures differ (halving the staged series; records of
    series nothing is staged for land in the last group, which then means the whole window)."""
    figures, a, b = plan.probe.figures, found.start, found.end

    async def check(group: list[Any], rest: bool, source: Figures) -> list[DriftFound]:
        mine = staged.window(a, b, group)
        if same(figures, mine, source):
            return []
        if not group or (not rest and len(group) <= 3):  # re-reading three costs what halving does
            series = None if rest else tuple(group)
            return [DriftFound(a, b, differences(figures, mine, source), mine, source, series)]
        half = group[: len(group) // 2] or group
        left = await plan.ask(ex, a, b, half)
        right = {k: v - left[k] for k, v in source.items()}
        if half is group:  # one series left but others may exist: it was probed alone
            parts = await asyncio.gather(check(group, False, left), check([], rest, right))
        else:
            parts = await asyncio.gather(check(half, False, left), check(group[len(half) :], rest, right))
        return [d for part in parts for d in part]

    out = await check(list(staged.series_ids), True, found.source)
    return out or [found]  # figures that only disagree as a whole: re-read the window


def join(plan: Plan, windows: list[Window], staged: StagedDays) -> list[Window]:
    """Windows to re-extract: overlapping ones merged, nearby ones too when one re-read is cheaper."""

    def cost(a: dt.date, b: dt.date) -> int:
        return plan.cost((b - a).days, staged.window(a, b)["rows"], staged.series)

    out: list[Window] = []
    for a, b in sorted(windows):
        if out:
            first, last = out[-1]
            if a <= last or cost(first, max(b, last)) <= cost(first, last) + cost(a, b):
                out[-1] = (first, max(b, last))
                continue
        out.append((a, b))
    return out
