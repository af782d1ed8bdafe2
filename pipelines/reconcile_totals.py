"""Reconcile by series totals: which series (e.g. users) a disagreeing count comes from.

After the change feed has merged every edit and insert, a probe window whose count still differs
holds deletions, and a count tells little about where: halving it costs about log2(pages) probes per
deletion. An entity whose ``Drift`` declares ``totals`` (``connectors.core.entity.Totals``, e.g.
Harvest's team time report: hours per user over up to a year, one request) is asked for those
figures over each such window, cut into pieces of at most ``max_days``; they are compared with the
same sums of the staged rows per series, and each series that differs is re-read alone over that
piece (the entity's list filtered to it, ``filter_param``) and its rows replaced. The counts are
then narrowed as usual for what the totals cannot see (a deleted record worth 0 hours).

Where more than ``max_share`` of a piece's compared series differ, the figures are taken as not
comparable (e.g. the report rounds other than the staged column) and the piece is left to the counts.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.core.drift import series_totals, totals_of
from connectors.core.entity import Entity
from connectors.core.extract import Extractor
from pipelines.reconcile_narrow import Window
from pipelines.reconcile_staged import staged_rows
from pipelines.staging import Staging


@dataclass
class SeriesDrift:
    reread: list[tuple[Window, tuple[Any, ...]]] = field(default_factory=list)  # piece, its series
    figures: dict[Any, tuple[float, float]] = field(default_factory=dict)  # series: (staged, source)
    not_comparable: list[Window] = field(default_factory=list)  # too many series differ: left to counts


def pieces(start: dt.date, end: dt.date, max_days: int) -> list[Window]:
    """``[start, end)`` cut into windows of at most ``max_days`` days, as evenly as possible."""
    days = (end - start).days
    n = max(1, -(-days // max(1, max_days)))
    cuts = [start + dt.timedelta(days=days * i // n) for i in range(n + 1)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if a < b]


def staged_totals(table: pa.Table, entity: Entity) -> dict[Any, float]:
    """The totals' figure summed from staged rows (``table``: the rows of one piece), per series."""
    totals = totals_of(entity)
    assert totals is not None
    values = pc.fill_null(pc.cast(table.column(totals.column), pa.float64()), 0.0)
    sums = (
        pa.table({"s": table.column(totals.series_column), "v": values})
        .group_by("s")
        .aggregate([("v", "sum")])
    )
    return {
        s: v
        for s, v in zip(*(sums.column(c).to_pylist() for c in ("s", "v_sum")), strict=True)
        if s is not None
    }


def compare(
    entity: Entity, window: Window, source: dict[Any, float], staged: dict[Any, float]
) -> SeriesDrift:
    """The series of one piece whose figures differ (or the piece as not comparable)."""
    totals = totals_of(entity)
    assert totals is not None
    out = SeriesDrift()
    every = sorted(set(source) | set(staged), key=str)
    rows = [(s, staged.get(s, 0.0), source.get(s, 0.0)) for s in every]
    differ = [r for r in rows if abs(r[1] - r[2]) > totals.tolerance]
    if not differ:
        return out
    if len(differ) > max(1, totals.max_share * len(every)):
        out.not_comparable.append(window)
        return out
    out.reread.append((window, tuple(r[0] for r in differ)))
    out.figures = {r[0]: (r[1], r[2]) for r in differ}
    return out


def reason(entity: Entity, figures: dict[Any, tuple[float, float]], series: set[Any]) -> str:
    """Why a day drifted: the figures of the series whose records changed there."""
    totals = totals_of(entity)
    assert totals is not None
    shown = "; ".join(
        f"{totals.series_column} {s}: {figures[s][0]:g} staged, {figures[s][1]:g} at the source"
        for s in sorted(series, key=str)
        if s in figures
    )
    return f"{totals.value_field} by {totals.series_column} (over the year): {shown}"


async def find_series(
    ex: Extractor, entity: Entity, staging: Staging, connection: str, piece: Window
) -> SeriesDrift:
    """Ask the totals of one piece (at most ``Totals.max_days``) and compare them with staging per
    series."""
    totals = totals_of(entity)
    assert totals is not None
    a, b = piece
    source = await series_totals(ex, entity, a, b)
    table = staged_rows(staging, connection, entity, a, b, {totals.column, totals.series_column})
    return compare(entity, piece, source, staged_totals(table, entity))
