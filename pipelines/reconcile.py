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
   after the merge, a report's figure per series (e.g. hours per user) over pieces of up to a year,
   newest first and only while the count still differs, names the series that lost records; each
   is re-read alone over its piece (``pipelines/reconcile_totals.py``, ``reconcile_run.Run``), and
   the counts are narrowed as usual for what remains.
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
import datetime as dt
from typing import Any

import httpx

from connectors.core.drift import changed_records, drift_of, totals_of
from connectors.core.entity import Entity, Source
from connectors.core.errors import ConfigError
from connectors.core.extract import Extractor
from connectors.core.http import RetryPolicy
from connectors.core.settings import ResolvedSettings
from pipelines.reconcile_days import find_days, split_days, years
from pipelines.reconcile_narrow import DriftFound, Plan, Window, join, narrow, narrow_series, probe_windows
from pipelines.reconcile_run import ReconcileReport, Run
from pipelines.reconcile_staged import (
    Merged,
    StagedDays,
    changes_since,
    merge_changed,
    note_refreshed,
    read_longest_ago,
    save_marker,
)
from pipelines.staging import Staging, partition_keys, release_memory

__all__ = ["DriftFound", "ReconcileReport", "reconcile_entity"]

#: The marker stays this far behind our clock, so a source clock that lags ours loses no change.
CLOCK_SKEW = dt.timedelta(minutes=15)


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
    run = Run(source, settings, connection, entity, staging, transport, retry, report)
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
                whole, apart = split_days(plan, staged, by_day, fp.filter_param)
                run.reextract(join(plan, whole, staged))
                for (a, b), who in sorted(apart.items()):
                    if not any(x <= a and b <= y for x, y in report.windows):
                        run.reextract_filtered(a, b, who, fp.filter_param, fp.series_column)
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
        if report.refreshed:
            note_refreshed(staging, connection, entity, report.refreshed, dt.datetime.now(dt.UTC))
        if changes is not None:
            save_marker(staging, connection, entity, start, end, now - CLOCK_SKEW)
    finally:
        release_memory()
    return report
