"""How many days back a run re-reads a dated source, when the flow does not say (``lookback_days``).

Re-reading catches late edits, so a run re-reads what may have changed since the previous run and
that the flow shows. By default that follows the flow:

- never further back than the flow's own range: a flow over ``today`` re-reads today, not a month
  (what lies before its range never reaches its outputs);
- and back to the day of the previous scheduled run (in the flow's zone), so a run just after
  midnight still re-reads yesterday, where the last edits of the day went (the margin); a flow
  without a schedule gets one day of margin;
- never more than ``DEFAULT_LOOKBACK`` (31) days: a flow over all history re-reads the last month,
  as before, and a reconcile (``reconcile:``) looks further back for drift.

``lookback_days: N`` on the source overrides all of this. The function is pure: the same flow and
the same ``now`` give the same days in every process.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .dates import DateRange, resolve
from .schedule import Schedule, iter_runs

DEFAULT_LOOKBACK = 31
_SEARCH_BACK = (dt.timedelta(days=2), dt.timedelta(days=DEFAULT_LOOKBACK + 1))


def lookback(
    lookback_days: int | None,
    dates: DateRange | None,
    schedule: Schedule | None,
    tz: str,
    now: dt.datetime,
) -> int:
    """Days before today (in ``tz``) that a run at ``now`` re-reads: ``lookback_days`` when set."""
    if lookback_days is not None:
        return lookback_days
    if dates is None:
        return DEFAULT_LOOKBACK
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    first, _ = resolve(dates, now, tz)
    previous = previous_run(schedule, now)
    since = previous.astimezone(zone).date() if previous else today - dt.timedelta(days=1)
    start = max(today - dt.timedelta(days=DEFAULT_LOOKBACK), min(first, since))
    return max(0, (today - start).days)


def previous_run(schedule: Schedule | None, now: dt.datetime) -> dt.datetime | None:
    """The run before the one due at ``now``: the schedule's second-latest time at or before ``now``
    (the latest is this run's own tick, even when it starts a little late), within the last month."""
    if schedule is None:
        return None
    for back in _SEARCH_BACK:
        ticks: list[dt.datetime] = []
        for when in iter_runs(schedule, now - back):
            if when > now:
                break
            ticks = [*ticks[-1:], when]
        if len(ticks) == 2:
            return ticks[0]
    return None
