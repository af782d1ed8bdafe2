"""The default look-back follows the flow: its own range, the previous scheduled run's day, at most
31 days; ``lookback_days`` overrides it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from pipelines.dates import DateRange
from pipelines.lookback import DEFAULT_LOOKBACK, lookback, previous_run
from pipelines.schedule import Schedule

BERLIN = "Europe/Berlin"
QUARTER_HOURLY = Schedule.model_validate({"every": "15 minutes", "timezone": BERLIN})
DAILY = Schedule.model_validate({"every": "day", "at": "06:00", "timezone": BERLIN})


def at(text: str) -> dt.datetime:
    """A Berlin wall time as an aware instant."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(BERLIN))


def days(dates: str | None, schedule: Schedule | None, now: str, explicit: int | None = None) -> int:
    rng = DateRange.model_validate(dates) if dates else None
    return lookback(explicit, rng, schedule, BERLIN, at(now))


def test_a_quarter_hourly_flow_over_today_rereads_today_only() -> None:
    assert days("today", QUARTER_HOURLY, "2026-03-10 10:00") == 0


def test_just_after_midnight_it_rereads_yesterday_too() -> None:
    # The midnight run in Berlin (23:00 UTC the day before), even started late: its previous run,
    # 23:45, was yesterday there. The next one's previous run is today's 00:00.
    assert days("today", QUARTER_HOURLY, "2026-03-10 00:00") == 1
    assert days("today", QUARTER_HOURLY, "2026-03-10 00:04") == 1
    assert days("today", QUARTER_HOURLY, "2026-03-10 00:15") == 0


def test_a_daily_flow_over_today_rereads_since_its_previous_run() -> None:
    assert days("today", DAILY, "2026-03-10 06:00") == 1


def test_ranges_longer_than_a_month_keep_the_default_and_shorter_ones_their_length() -> None:
    assert days("last 7 days", DAILY, "2026-03-10 06:00") == 7
    assert days("last 90 days", DAILY, "2026-03-10 06:00") == DEFAULT_LOOKBACK
    assert days("this month", DAILY, "2026-03-10 06:00") == 9  # since 1 March
    assert days(None, QUARTER_HOURLY, "2026-03-10 10:00") == DEFAULT_LOOKBACK  # all history


def test_without_a_schedule_one_day_of_margin_and_an_explicit_setting_wins() -> None:
    assert days("today", None, "2026-03-10 10:00") == 1
    assert days("today", QUARTER_HOURLY, "2026-03-10 10:00", explicit=45) == 45
    assert days("last 90 days", DAILY, "2026-03-10 06:00", explicit=0) == 0


@pytest.mark.parametrize(
    ("now", "expected"),
    [("2026-03-10 10:00", "2026-03-10 09:45"), ("2026-03-10 10:07", "2026-03-10 09:45")],
)
def test_previous_run_is_the_one_before_this_runs_own_tick(now: str, expected: str) -> None:
    assert previous_run(QUARTER_HOURLY, at(now)) == at(expected)
    assert previous_run(None, at(now)) is None
