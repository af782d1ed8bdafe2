"""Reconcile: find drift beyond the look-back cheaply, and re-extract only what drifted.

Scheduled runs re-read the last N days, so an edit, insert or deletion older than that stays unseen.
``reconcile_entity`` checks a long staged range ``[start, end)`` against cheap signals the API gives
(declared per entity as ``Entity.drift``, probed by ``connectors/core/drift.py``):

1. **Changes** (entities with ``drift.changes``): one request series asks for every record changed
   since the last reconcile of the range (a marker in the staging folder; the first time, since the
   oldest staged read of the range) anywhere in it. Records that are not staged, staged on another
   day, or staged in an older version are merged into their month files (no re-read needed; with
   ``merge_changes=False`` their days are re-extracted instead). Deletions leave no trace there.
2. **Days** (entities with ``drift.fingerprint``): one request per calendar year gives a figure per
   series and day (e.g. hours per user and day), compared with staging day by day; the UTC days of
   each local day that differs are re-extracted before the figures are probed
   (``pipelines/reconcile_days.py``).
3. **Series totals** (entities with ``drift.totals``): where a first probe window's count differs
   after the merge, a report's figure per series (e.g. hours per user) over pieces of up to a year
   names the series that lost records; each is re-read alone over its piece
   (``pipelines/reconcile_totals.py``), and the counts are compared again with what remains.
4. **Figures**: each probe window (the whole range where one probe may cover any range, else each
   month) is asked once and compared with the same figures summed from the staged rows. A window
   that disagrees is halved: one half is probed, the other is the whole minus that half (figures are
   counts and sums), down to ``max_window_days``; with ``cost_aware``, less deep where re-reading a
   window costs fewer requests than probing a half and re-reading that, deeper where halving a
   dense window saves requests. Where the probe can be
   restricted to some fan-out series (Clockify's report by users), a drifted window is narrowed to
   the series that differ too (``pipelines/reconcile_narrow.py``).
5. **Re-extraction**: drifted windows, joined where one re-read is cheaper than two, go through
   ``stage_entity``, which replaces exactly their days in the month files; series-scoped ones are
   staged apart and only those series' rows of those days are replaced.
6. **Refresh** (``refresh_months`` N > 0): the N months of the range read longest ago (their
   oldest ``_extracted_at``) are re-read whole whatever the signals say, so what no cheap figure
   shows (a new text or project of an old Clockodo or Clockify entry) lands within a known number
   of reconciles: months in the range / N.

Signals, from ``shared/reference/*.md``:

- Harvest time entries and expenses: ``updated_since`` finds edits and inserts however old their
  ``spent_date`` (harvest.md §3 "use updated_since for change capture — a back-dated entry edited
  today has an old spent_date and a new updated_at"; params §4.1, §4.14); its inclusiveness is
  UNCONFIRMED, so the cursor goes back one second and records are compared by ``updated_at``.
  Deletions "are not visible through updated_since" (§3): ``total_entries`` of a ``per_page=1``
  list (§2: every list answers ``total_entries``, ``per_page`` 1-2000) counts any ``from``/``to``
  range. After the merge only deletions can differ, so counts cannot cancel out: the first probe
  covers the whole range. Where it differs, the team time report (``/v2/reports/time/team``, §4.17:
  ``from``/``to`` of at most a year, one row per user and currency with ``total_hours``; reports
  count rounded hours when the account rounds) says whose hours dropped, and that user's entries
  are re-read alone (``user_id``, §4.1) over that year.
- Clockodo entries: entries have "no documented 'changed since' filter" (§3.1), but
  ``/userreports?type=3`` (§3.16: every user, a whole year, one request, no endpoint quota of its
  own) gives each user's hours per day, and "past years change when entries are edited". Compared
  per user and local day with the staged durations (``pipelines/reconcile_days.py``, the
  ``Drift.fingerprint``) first, then ``paging.count_items`` of a one-item page (§1.8) without
  ``enhanced_list`` (its 300 / 15 min quota, §1.6) over the whole range, for what has no duration.
  Unseen: an edit that keeps every duration, user and day (text, project, service), and an insert
  plus a delete of lump sums in the range.
- Clockify time entries and detailed report: the detailed report's ``totals`` (clockify.md §4.8:
  ``totalTime, totalBillableTime, entriesCount``) at ``pageSize`` 1, per month (FREE plan: at most
  31 days, longer plans UNCONFIRMED, §1); the end bound's inclusiveness is not stated, so a probe
  asks up to the window's last second. The summary report is not described (§4.16): not used.
  In-place edits of descriptions or tags change no total and stay unseen.
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

from connectors.core.drift import changed_records, drift_of, totals_of
from connectors.core.entity import Entity, Source
from connectors.core.errors import ConfigError, ForbiddenError, NotFoundError
from connectors.core.extract import Extractor
from connectors.core.http import RetryPolicy
from connectors.core.settings import ResolvedSettings
from pipelines.ratestate import data_dir_of, handed_over
from pipelines.reconcile_days import find_days, years
from pipelines.reconcile_narrow import DriftFound, Plan, Window, join, narrow, narrow_series, probe_windows
from pipelines.reconcile_staged import (
    Merged,
    StagedDays,
    changes_since,
    keys_by_day,
    merge_changed,
    read_longest_ago,
    replace_series,
    same,
    save_marker,
    series_keys_by_day,
)
from pipelines.reconcile_totals import find_series
from pipelines.reconcile_totals import reason as series_reason
from pipelines.staging import Staging, partition_keys, release_memory, stage_entity

__all__ = ["DriftFound", "ReconcileReport", "reconcile_entity"]

#: The marker stays this far behind our clock, so a source clock that lags ours loses no change.
CLOCK_SKEW = dt.timedelta(minutes=15)
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


class _Run:
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
        if not differ:
            return known
        try:
            found = self.probing(lambda ex: find_series(ex, entity, self.staging, self.connection, differ))
        except (ForbiddenError, NotFoundError) as exc:  # e.g. a token without report rights
            report.totals_unavailable = str(exc)
            return known  # the counts are narrowed as without the totals
        report.not_comparable += found.not_comparable
        for (a, b), who in found.reread:
            for d, series in sorted(self.reextract_filtered(a, b, who).items()):
                why = series_reason(entity, found.figures, series)
                report.drifted.append(DriftFound(d, d + dt.timedelta(days=1), why, series=tuple(series)))
        return known

    def reextract_filtered(self, a: dt.date, b: dt.date, series: tuple[Any, ...]) -> dict[dt.date, set[Any]]:
        """Re-read ``series`` over ``[a, b)`` one at a time through the entity's own list filtered
        to it (``Totals.filter_param``, one request series for the whole window), then replace
        only their rows of those days. Returns the days whose records changed, with their series."""
        totals = totals_of(self.entity)
        w = self.entity.window
        assert totals is not None and w is not None
        window = dataclasses.replace(w, max_days=max(w.max_days, (b - a).days), sizing=None)
        tables = []
        with tempfile.TemporaryDirectory(prefix="couplet-reconcile-") as scratch:
            for i, value in enumerate(series):
                params = {**self.entity.params, totals.filter_param: value}
                only = dataclasses.replace(self.entity, params=params, window=window, drift=None)
                apart = Staging(f"{scratch}/{i}")
                self.stage(only, apart, a, b)
                tables.append(apart.read(self.connection, only))
            fresh = pa.concat_tables(tables)
            before = series_keys_by_day(
                self.staging, self.connection, self.entity, a, b, totals.series_column, series
            )
            replace_series(
                self.staging, self.connection, self.entity, fresh, a, b, series, column=totals.series_column
            )
        self.report.series_windows.append((a, b, series))
        after = keys_by_day(self.entity, fresh, totals.series_column)
        changed = {d: before.get(d, set()) ^ after.get(d, set()) for d in before.keys() | after.keys()}
        return {d: {k[0] for k in keys} for d, keys in changed.items() if keys}


def reconcile_entity(
    source: Source,
    settings: ResolvedSettings,
    connection: str,
    entity: Entity | str,
    staging: Staging,
    start: dt.date,
    end: dt.date,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    now: dt.datetime | None = None,
    max_window_days: int = 7,
    probe_days: int | None = None,
    merge_changes: bool = True,
    cost_aware: bool = True,
    reread_if_cheaper: bool = False,
    fingerprint: bool = True,
    refresh_months: int = 0,
) -> ReconcileReport:
    """Compare ``[start, end)`` of a staged daily entity with the source's cheap signals, narrow
    each disagreement down and re-extract only those days (see the module docstring). Blocking.

    ``probe_days`` overrides how many days the first probes cover (0 = the whole range at once;
    default: the entity's ``Probe.max_days``). A drifted window is halved down to
    ``max_window_days`` (``cost_aware``: unless that costs more requests, and further where it
    saves some). ``reread_if_cheaper`` re-reads the range whole when its first probes alone would
    cost as much (a small account; off by default, so an unchanged history is never re-read).
    ``merge_changes=False`` re-extracts the days of changed records instead of merging them.
    ``fingerprint=False`` skips the entity's ``Drift.fingerprint`` (per-day figures of whole years,
    checked and repaired before the probes; ``pipelines/reconcile_days.py``).
    ``now`` is the reconcile's time, remembered as the change feed's next cursor (less
    ``CLOCK_SKEW``). ``refresh_months``: also re-read that many months read longest ago (step 6).
    """
    if isinstance(entity, str):
        entity = source.entity(entity)
    declared = drift_of(entity)
    if not start < end:
        raise ConfigError(
            f"reconcile needs a range with start < end (got {start} .. {end})",
            source=source.name,
            entity=entity.name,
        )
    now = now or dt.datetime.now(dt.UTC)
    plan = Plan(entity, declared, max_window_days, cost_aware)
    days = declared.max_days if probe_days is None else probe_days
    changes = entity.drift.changes if entity.drift is not None else None
    report = ReconcileReport(entity.name, start, end)
    report.signal = (f"{changes.param} + " if changes else "") + ", ".join(f.name for f in declared.figures)
    report.signal += f" per {days} days" if days > 0 else " over the range"
    fp = entity.drift.fingerprint if fingerprint and entity.drift is not None else None
    if fp is not None:
        report.signal = f"{fp.value_field} per {fp.series_column} and day, yearly + {report.signal}"
    run = _Run(source, settings, connection, entity, staging, transport, retry, report)
    try:
        since = changes_since(staging, connection, entity, start, end) if changes else None
        if changes is not None and since is not None:
            since -= dt.timedelta(seconds=changes.overlap_seconds)
            report.changes_since = since

            async def feed(ex: Extractor) -> tuple[int, Merged]:
                table = await changed_records(ex, entity, start, end, since)
                return table.num_rows, merge_changed(
                    staging, connection, entity, table, start, end, write=merge_changes
                )

            report.changed, merged = run.probing(feed)
            report.merged = merged.records
            report.drifted += [
                DriftFound(
                    d, d + dt.timedelta(days=1), f"changed: {n} record(s) edited, inserted or moved away"
                )
                for d, n in sorted(merged.days.items())
            ]
            if not merge_changes and merged.days:
                staged = StagedDays(staging, connection, entity, start, end)
                run.reextract(join(plan, [(d.start, d.end) for d in report.drifted], staged))
        by_series = bool(declared.series)
        staged = StagedDays(staging, connection, entity, start, end, by_series=by_series)
        months = {p.stem for p in staging.files(connection, entity.name, partition_keys(entity, start, end))}
        windows = probe_windows(start, end, days, months)
        whole_range = plan.cost((end - start).days, staged.window(start, end)["rows"], staged.series)
        checks = len(windows) + (len(years(start, end)) + 1 if fp is not None else 0)
        if reread_if_cheaper and checks >= whole_range:
            reason = f"re-read whole: {checks} probes cost as much as re-reading (~{whole_range} requests)"
            report.drifted.append(DriftFound(start, end, reason))
            run.reextract([(start, end)])
            if changes is not None:
                save_marker(staging, connection, entity, start, end, now - CLOCK_SKEW)
            return report
        if fp is not None:  # per-day figures first: what they repair, the probes then find equal
            by_day = run.probing(lambda ex: find_days(ex, entity, staging, connection, start, end))
            report.drifted += by_day.found
            report.fingerprints, report.days_compared = by_day.requests, by_day.compared
            report.unchecked = sorted(by_day.unchecked, key=str)
            if by_day.windows:
                run.reextract(join(plan, by_day.windows, staged))
                staged = StagedDays(staging, connection, entity, start, end, by_series=by_series)
                months = {
                    p.stem for p in staging.files(connection, entity.name, partition_keys(entity, start, end))
                }
                windows = probe_windows(start, end, days, months)

        known: dict[Window, dict[str, float]] = {}
        if totals_of(entity) is not None and windows:
            known = run.by_totals(plan, staged, windows, months)
            if report.series_windows:  # some series were re-read: their figures changed
                staged = StagedDays(staging, connection, entity, start, end, by_series=by_series)

        async def find(ex: Extractor) -> list[DriftFound]:
            found = await narrow(ex, plan, staged, windows, known)
            if not by_series:
                return found
            parts = await asyncio.gather(*(narrow_series(ex, plan, staged, d) for d in found))
            return [d for part in parts for d in part]

        found = run.probing(find)
        report.drifted += found
        report.probes = plan.probes
        whole = [(d.start, d.end) for d in found if d.series is None]
        run.reextract(join(plan, whole, staged))
        scoped: dict[Window, set[Any]] = {}
        for d in found:
            if d.series is not None and not any(a <= d.start and d.end <= b for a, b in report.windows):
                scoped.setdefault((d.start, d.end), set()).update(d.series)
        for (a, b), series in sorted(scoped.items()):
            run.reextract_series(a, b, tuple(sorted(series)))
        for a, b in read_longest_ago(staging, connection, entity, start, end, refresh_months):
            if not any(x <= a and b <= y for x, y in report.windows):  # not just re-read anyway
                run.reextract([(a, b)])
                report.refreshed.append((a, b))
        if changes is not None:
            save_marker(staging, connection, entity, start, end, now - CLOCK_SKEW)
    finally:
        release_memory()
    return report
