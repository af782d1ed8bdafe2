"""One reconcile's state and report: ``ReconcileReport`` and the run that spends its requests.

``pipelines/reconcile.py`` decides what to probe and what to re-read (see its docstring); ``Run``
holds the connection and counts every request as finding drift (``probing``) or re-reading it
(``stage``, ``reextract``, ``reextract_series``, ``reextract_filtered``), and ``by_totals`` asks an
entity's ``Totals`` where its first counts disagree (``pipelines/reconcile_totals.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pyarrow as pa

from connectors.core.drift import totals_of
from connectors.core.entity import Entity, Source
from connectors.core.errors import ForbiddenError, NotFoundError
from connectors.core.extract import Extractor
from connectors.core.http import RetryPolicy
from connectors.core.settings import ResolvedSettings
from pipelines.ratestate import data_dir_of, handed_over
from pipelines.reconcile_narrow import DriftFound, Plan, Window
from pipelines.reconcile_staged import (
    StagedDays,
    keys_by_day,
    replace_series,
    same,
    series_keys_by_day,
)
from pipelines.reconcile_totals import SeriesDrift, find_series, pieces
from pipelines.reconcile_totals import reason as series_reason
from pipelines.staging import Staging, partition_keys, stage_entity

T = TypeVar("T")


@dataclass
class ReconcileReport:
    entity: str
    start: dt.date
    end: dt.date
    signal: str = ""  # how drift was looked for
    changes_since: dt.datetime | None = None  # the change feed's cursor (None: not asked)
    changed: int = 0  # records the change feed returned
    merged: int = 0  # of those, newer than staged (or not staged): merged into staging
    drifted: list[DriftFound] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)  # windows re-extracted whole (stage_entity)
    series_windows: list[tuple[dt.date, dt.date, tuple[Any, ...]]] = field(default_factory=list)  # + series
    rows_reread: int = 0  # records those re-extractions read
    probes: int = 0  # probe requests asked (windows and series groups)
    fingerprints: int = 0  # fingerprint requests asked (one per calendar year)
    days_compared: int = 0  # (series, day) figures of the fingerprint compared with staging
    unchecked: list[Any] = field(default_factory=list)  # series the fingerprint could not compare
    not_comparable: list[Window] = field(default_factory=list)  # totals too far off: left to counts
    totals_unavailable: str = ""  # why the totals could not be asked (then only the counts were)
    refreshed: list[Window] = field(default_factory=list)  # months re-read as read longest ago
    probe_requests: int = 0  # HTTP requests spent finding drift: probes and change feed (retries too)
    reextract_requests: int = 0  # HTTP requests of the re-extractions
    probe_stats: dict[str, float] = field(default_factory=dict)
    reextract_stats: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return self.probe_requests + self.reextract_requests

    @property
    def days(self) -> list[dt.date]:
        """Every day found drifted (changed records' days and the days of mismatching windows)."""
        out = {d.start + dt.timedelta(days=i) for d in self.drifted for i in range((d.end - d.start).days)}
        return sorted(out)

    @property
    def months(self) -> list[str]:
        return sorted({d.strftime("%Y-%m") for d in self.days})


def _add(total: dict[str, float], stats: dict[str, float]) -> None:
    for k, v in stats.items():
        total[k] = total.get(k, 0) + v


class Run:
    """One reconcile: the connection, the report, and the two ways it spends requests."""

    def __init__(
        self,
        source: Source,
        settings: ResolvedSettings,
        connection: str,
        entity: Entity,
        staging: Staging,
        transport: httpx.AsyncBaseTransport | None,
        retry: RetryPolicy | None,
        report: ReconcileReport,
    ) -> None:
        self.source, self.settings, self.connection, self.entity = source, settings, connection, entity
        self.staging, self.transport, self.retry, self.report = staging, transport, retry, report

    def probing(self, work: Callable[[Extractor], Awaitable[T]]) -> T:
        """Run ``work`` with one extractor; its requests count as finding drift."""

        async def go() -> T:
            extractor = Extractor(self.source, self.settings, transport=self.transport, retry=self.retry)
            async with handed_over(data_dir_of(self.staging), self.connection, extractor) as ex:
                try:
                    return await work(ex)
                finally:
                    self.report.probe_requests += ex.client.stats.requests
                    _add(self.report.probe_stats, ex.client.stats.as_dict())

        return asyncio.run(go())

    def stage(self, entity: Entity, staging: Staging, a: dt.date, b: dt.date) -> int:
        done = stage_entity(
            self.source, self.settings, self.connection, entity, staging, a, b,
            transport=self.transport, retry=self.retry,
        )  # fmt: skip
        self.report.rows_reread += done.rows
        self.report.reextract_requests += int(done.stats.get("requests", 0))
        _add(self.report.reextract_stats, done.stats)
        return done.rows

    def reextract(self, windows: list[Window]) -> None:
        w = self.entity.window
        for a, b in windows:
            entity = self.entity
            if w is not None and w.sizing is not None and (b - a).days <= w.max_days:
                # A short window is one slice anyway: its first page tells its size, no probe needed.
                entity = dataclasses.replace(entity, window=dataclasses.replace(w, sizing=None))
            self.stage(entity, self.staging, a, b)
            self.report.windows.append((a, b))

    def reextract_series(self, a: dt.date, b: dt.date, series: tuple[Any, ...]) -> None:
        """Re-read only ``series`` (fan-out values) over ``[a, b)``: staged apart, then their rows
        of those days replace the staged ones (every other series stays as it is)."""
        fan = self.entity.fan_out
        assert fan is not None
        named = dataclasses.replace(fan, parent="", values=tuple(str(s) for s in series))
        only = dataclasses.replace(self.entity, fan_out=named)
        with tempfile.TemporaryDirectory(prefix="couplet-reconcile-") as scratch:
            apart = Staging(scratch)
            self.stage(only, apart, a, b)
            replace_series(
                self.staging, self.connection, self.entity, apart.read(self.connection, only), a, b, series
            )
        self.report.series_windows.append((a, b, series))

    def by_totals(
        self, plan: Plan, staged: StagedDays, windows: list[Window], months: set[str]
    ) -> dict[Window, dict[str, float]]:
        """Probe the first ``windows``; where a staged one disagrees, ask the ``Totals`` per series
        and re-read the series that differ (``pipelines/reconcile_totals.py``). Returns the probed
        figures, which the narrowing then takes instead of asking again."""
        entity, report = self.entity, self.report

        async def first(ex: Extractor) -> list[dict[str, float]]:
            return list(await asyncio.gather(*(plan.ask(ex, a, b) for a, b in windows)))

        known = dict(zip(windows, self.probing(first), strict=True))
        differ = [
            (a, b)
            for (a, b), theirs in known.items()
            if not same(plan.probe.figures, staged.window(a, b), theirs)
            and set(partition_keys(entity, a, b)) <= months  # staged months only
        ]
        totals = totals_of(entity)
        assert totals is not None
        for a, b in differ:
            # Newest piece first, one at a time: once the window's count agrees, the pieces left
            # hold no deletion (after the merge, only deletions make staging count more), so their
            # reports are not asked.
            for piece in reversed(pieces(a, b, totals.max_days)):

                async def ask(ex: Extractor, piece: Window = piece) -> SeriesDrift:
                    return await find_series(ex, entity, self.staging, self.connection, piece)

                try:
                    found = self.probing(ask)
                except (ForbiddenError, NotFoundError) as exc:  # e.g. a token without report rights
                    report.totals_unavailable = str(exc)
                    return known  # the counts are narrowed as without the totals
                report.not_comparable += found.not_comparable
                for (x, y), who in found.reread:
                    changed = self.reextract_filtered(x, y, who, totals.filter_param, totals.series_column)
                    for d, series in sorted(changed.items()):
                        why = series_reason(entity, found.figures, series)
                        report.drifted.append(
                            DriftFound(d, d + dt.timedelta(days=1), why, series=tuple(series))
                        )
                if found.reread:
                    now = StagedDays(self.staging, self.connection, entity, a, b)
                    if same(plan.probe.figures, now.window(a, b), known[(a, b)]):
                        break
        return known

    def reextract_filtered(
        self, a: dt.date, b: dt.date, series: tuple[Any, ...], param: str, column: str
    ) -> dict[dt.date, set[Any]]:
        """Re-read ``series`` (values of ``column``) over ``[a, b)`` one at a time through the
        entity's own list filtered to each by ``param`` (one request series for the whole window),
        then replace only their rows of those days. Returns the days whose records changed, with
        their series."""
        w = self.entity.window
        assert w is not None
        window = dataclasses.replace(w, max_days=max(w.max_days, (b - a).days), sizing=None)
        tables = []
        with tempfile.TemporaryDirectory(prefix="couplet-reconcile-") as scratch:
            for i, value in enumerate(series):
                params = {**self.entity.params, param: value}
                only = dataclasses.replace(self.entity, params=params, window=window, drift=None)
                apart = Staging(f"{scratch}/{i}")
                self.stage(only, apart, a, b)
                tables.append(apart.read(self.connection, only))
            fresh = pa.concat_tables(tables)
            before = series_keys_by_day(self.staging, self.connection, self.entity, a, b, column, series)
            replace_series(self.staging, self.connection, self.entity, fresh, a, b, series, column=column)
        self.report.series_windows.append((a, b, series))
        after = keys_by_day(self.entity, fresh, column)
        changed = {d: before.get(d, set()) ^ after.get(d, set()) for d in before.keys() | after.keys()}
        return {d: {k[0] for k in keys} for d, keys in changed.items() if keys}
