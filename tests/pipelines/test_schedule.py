"""Schedules: every option, every error, time zones, windows, DST days, and agreement with Dagster."""

from __future__ import annotations

import datetime as dt
from itertools import islice, takewhile
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster._utils.schedules import schedule_execution_time_iterator
from pydantic import ValidationError

from pipelines.schedule import Schedule, cron_expressions, describe, iter_runs, next_runs

# schedule_execution_time_iterator is what Dagster's scheduler daemon iterates ticks with (through
# RemoteSchedule.execution_time_iterator): private, but it is the behaviour next_runs promises to
# predict, on the pinned dagster version.

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def make(**fields: Any) -> Schedule:
    return Schedule.model_validate({"timezone": "Europe/Berlin", **fields})


def iso(runs: list[dt.datetime]) -> list[str]:
    # isoformat carries the offset, so the two 02:30s of a fall-back night differ
    return [r.isoformat(timespec="minutes") for r in runs]


def at(text: str, zone: ZoneInfo = BERLIN) -> dt.datetime:
    """An aware local time; ``text`` may end in +HH:MM to pick one side of a fall-back."""
    moment = dt.datetime.fromisoformat(text)
    return moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)


# --- cron strings and descriptions --------------------------------------------------------------

CASES = [
    (
        {"every": "15 minutes", "between": "08:00-18:00", "days": "weekdays"},
        ["*/15 8-17 * * 1-5", "0 18 * * 1-5"],
        "every 15 minutes from 08:00 to 18:00 on Mon–Fri",
    ),
    ({"every": "15 minutes"}, ["*/15 * * * *"], "every 15 minutes"),
    ({"every": "30 mins"}, ["*/30 * * * *"], "every 30 minutes"),
    ({"every": "5 min"}, ["*/5 * * * *"], "every 5 minutes"),
    ({"every": "20 minutes", "days": ["sat", "sun"]}, ["*/20 * * * 0,6"], "every 20 minutes on Sat and Sun"),
    ({"every": "hour"}, ["0 * * * *"], "every hour"),
    ({"every": "hourly"}, ["0 * * * *"], "every hour"),
    ({"every": "60 minutes"}, ["0 * * * *"], "every hour"),
    ({"every": "1 hour", "between": "08:00-18:00"}, ["0 8-18 * * *"], "every hour from 08:00 to 18:00"),
    ({"every": "2 hours"}, ["0 */2 * * *"], "every 2 hours"),
    ({"every": "120 minutes"}, ["0 */2 * * *"], "every 2 hours"),
    ({"every": "12 hours"}, ["0 */12 * * *"], "every 12 hours"),
    # the grid starts at the window start; 18:00 is off the grid, so it doesn't run
    ({"every": "2 hours", "between": "09:00-18:00"}, ["0 9-17/2 * * *"], "every 2 hours from 09:00 to 18:00"),
    ({"every": "15 minutes", "between": "08:10-18:00"}, ["10-55/15 8-17 * * *"], None),
    (
        {"every": "30 minutes", "between": "08:30-10:00"},
        ["30 8 * * *", "*/30 9 * * *", "0 10 * * *"],
        "every 30 minutes from 08:30 to 10:00",
    ),
    ({"every": "day", "at": "06:30"}, ["30 6 * * *"], "every day at 06:30"),
    ({"every": "daily", "at": ["18:00", "06:00", "06:00"]}, ["0 6,18 * * *"], "every day at 06:00 and 18:00"),
    ({"every": "day", "at": ["06:00", "06:30"]}, ["*/30 6 * * *"], "every day at 06:00 and 06:30"),
    (
        {"every": "day", "at": ["06:15", "12:00", "18:45"]},
        ["15 6 * * *", "0 12 * * *", "45 18 * * *"],
        "every day at 06:15, 12:00 and 18:45",
    ),
    (
        {"every": "day", "at": "07:00", "days": "weekends"},
        ["0 7 * * 0,6"],
        "every day at 07:00 on Sat and Sun",
    ),
    ({"every": "day", "at": "07:00", "days": "Mon"}, ["0 7 * * 1"], "every day at 07:00 on Mon"),
    ({"every": "week", "days": ["mon"], "at": "06:30"}, ["30 6 * * 1"], "every week at 06:30 on Mon"),
    ({"every": "weekly", "days": ["sun"], "at": "00:00"}, ["0 0 * * 0"], "every week at 00:00 on Sun"),
    (
        {"every": "week", "days": ["Friday", "monday", "wed"], "at": "06:30"},
        ["30 6 * * 1,3,5"],
        "every week at 06:30 on Mon, Wed and Fri",
    ),
    (
        {"every": "week", "days": ["weekdays", "sun"], "at": "06:30"},
        ["30 6 * * 0-5"],
        "every week at 06:30 on Mon–Fri and Sun",
    ),
    (
        {"every": "week", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "at": "06:30"},
        ["30 6 * * *"],
        "every week at 06:30",
    ),
    ({"every": "month", "day_of_month": 1, "at": "06:00"}, ["0 6 1 * *"], "every month at 06:00 on day 1"),
    (
        {"every": "monthly", "day_of_month": 28, "at": "23:59"},
        ["59 23 28 * *"],
        "every month at 23:59 on day 28",
    ),
    (
        {"every": "month", "day_of_month": "last", "at": "07:00"},
        ["0 7 L * *"],
        "every month at 07:00 on the last day",
    ),
    ({"cron": "0 6 * * 1-5"}, ["0 6 * * 1-5"], "on cron '0 6 * * 1-5'"),
    ({"cron": "  0  6 * *   MON-FRI "}, ["0 6 * * MON-FRI"], "on cron '0 6 * * MON-FRI'"),
]


@pytest.mark.parametrize(("fields", "crons", "words"), CASES)
def test_cron_expressions_and_description(
    fields: dict[str, Any], crons: list[str], words: str | None
) -> None:
    schedule = make(**fields)
    assert cron_expressions(schedule) == crons
    if words is not None:
        assert describe(schedule) == f"{words} (Europe/Berlin)"


def test_values_are_normalised() -> None:
    schedule = make(every="15 Mins", between="8:00 – 18:00", days=["FRIDAY", "mon", "mon"])
    assert (schedule.every, schedule.between, schedule.days) == ("15 minutes", "08:00-18:00", ("mon", "fri"))
    assert make(every="2 hours").every == "2 hours"
    assert make(every="Hourly").every == "hour"
    assert make(every="1 day", at="6:05").at == ("06:05",)
    assert make(cron="0 6 * * *").every is None


def test_a_flow_file_snippet_loads_from_yaml() -> None:
    text = """
    every: 15 minutes
    between: 08:00-18:00
    days: [mon, tue, wed, thu, fri]
    timezone: Europe/Berlin
    """
    schedule = Schedule.model_validate(yaml.safe_load(text))
    assert cron_expressions(schedule) == ["*/15 8-17 * * 1-5", "0 18 * * 1-5"]


def test_an_unquoted_time_in_yaml_gets_a_hint_to_quote_it() -> None:
    data = yaml.safe_load("{every: day, at: 18:00, timezone: UTC}")
    assert data["at"] == 1080  # YAML 1.1 base-60: the reason for the hint
    with pytest.raises(ValidationError, match='quote times: "18:00"'):
        Schedule.model_validate(data)


# --- validation errors --------------------------------------------------------------------------

ERRORS = [
    ({"timezone": None, "every": "hour"}, "a schedule needs timezone: .*Europe/Berlin"),
    ({"timezone": "Europe/Berln", "every": "hour"}, "unknown time zone 'Europe/Berln'; use an IANA name"),
    ({}, "a schedule needs every: .* or cron:"),
    ({"cron": "0 6 * * *", "every": "day", "at": "06:00"}, "either cron: or every:, not both"),
    (
        {"cron": "0 6 * * *", "days": ["mon"]},
        "days only go with every:; with cron: put days and times in the cron",
    ),
    ({"cron": "0 6 * *"}, "has 4 fields; it needs 5: minute hour day-of-month month day-of-week"),
    ({"cron": "@daily"}, "has 1 fields; it needs 5"),
    ({"cron": "61 * * * *"}, "minute field '61': 61 is out of range 0-59"),
    ({"cron": "0 25 * * *"}, "hour field '25': 25 is out of range 0-23"),
    ({"cron": "0 0 32 * *"}, "day-of-month field '32': 32 is out of range 1-31"),
    ({"cron": "0 0 0 * *"}, "day-of-month field '0': 0 is out of range 1-31"),
    ({"cron": "0 0 * 13 *"}, "month field '13': 13 is out of range 1-12"),
    ({"cron": "0 0 * foo *"}, "month field 'foo': 'foo' is not a value; use numbers 1-12 or names jan..dec"),
    ({"cron": "0 0 * * 8"}, "day-of-week field '8': 8 is out of range 0-7"),
    ({"cron": "0 0 * * funday"}, "day-of-week field 'funday': 'funday' is not a value; .* names sun..sat"),
    ({"cron": "0 0 ? * 1"}, "day-of-month field '\\?': can't read '\\?'; .* not supported"),
    ({"cron": "0 0 * * 1#2"}, "day-of-week field '1#2': can't read"),
    ({"cron": "0 0 LW * *"}, "day-of-month field 'LW': 'lw' is not a value"),
    ({"cron": "*-5 * * * *"}, "minute field '\\*-5': can't read"),
    ({"cron": "0 0 * * 5-1"}, "the range '5-1' runs backwards; split it"),
    ({"cron": "*/0 * * * *"}, "the step in '\\*/0' gives at most one value"),
    ({"cron": "*/90 * * * *"}, "the step in '\\*/90' gives at most one value"),
    ({"cron": "0 0 30 2 *"}, "never runs: no month in it has day 30"),
    ({"cron": "0 0 31 4,6,9,11 *"}, "never runs"),
    ({"cron": 600}, "cron: give a string"),
    ({"every": "fortnight"}, "'fortnight' is not an interval; use 15 minutes, 30 minutes, hour"),
    ({"every": 15}, "every: 15 needs a unit, e.g. every: 15 minutes"),
    ({"every": ["day"]}, "is not an interval"),
    ({"every": "45 minutes"}, "minutes must divide the hour .* use one of 5, 10, 15, 20, 30 minutes"),
    ({"every": "0 minutes"}, "minutes must divide the hour"),
    ({"every": "90 minutes"}, "minutes must divide the hour"),
    ({"every": "5 hours"}, "hours must divide the day .* 1, 2, 3, 4, 6, 8, 12 hours"),
    ({"every": "24 hours"}, "hours must divide the day"),
    ({"every": "2 days", "at": "06:00"}, "can't keep a 2-day rhythm .* use every: day"),
    ({"every": "2 weeks", "at": "06:00"}, "2-week rhythm"),
    (
        {"every": "15 minutes", "at": "06:00"},
        "at: sets the time of day for every: day, week or month; .*between:",
    ),
    ({"every": "hour", "day_of_month": 1}, "day_of_month: only goes with every: month"),
    ({"every": "day", "between": "08:00-18:00", "at": "06:00"}, "between: only limits sub-daily intervals"),
    ({"every": "day"}, 'every: day needs at: the time\\(s\\) of day, e.g. at: "06:30"'),
    ({"every": "week", "at": "06:00"}, "every: week needs days: the weekday\\(s\\)"),
    ({"every": "month", "at": "06:00"}, "every: month needs day_of_month: \\(1-28, or last\\)"),
    (
        {"every": "month", "at": "06:00", "day_of_month": 1, "days": ["mon"]},
        "days: doesn't go with every: month",
    ),
    (
        {"every": "day", "at": "06:00", "day_of_month": 1},
        "day_of_month: only goes with every: month, not every: day",
    ),
    ({"every": "day", "at": "25:00"}, "at: '25:00' is not a time; write \"HH:MM\""),
    ({"every": "day", "at": "6pm"}, "at: '6pm' is not a time"),
    ({"every": "day", "at": 6}, "at: 6 is not a time"),
    ({"every": "day", "at": 390}, 'YAML reads an unquoted 6:30 as a number - quote times: "06:30"'),
    ({"every": "day", "at": []}, "at: give at least one time"),
    (
        {"every": "day", "at": "06:00", "days": ["mon", "funday"]},
        "unknown day 'funday'; use mon, tue, wed, thu, fri, sat, sun, weekdays or weekends",
    ),
    ({"every": "day", "at": "06:00", "days": []}, "days: give at least one day"),
    (
        {"every": "month", "at": "06:00", "day_of_month": 31},
        "31 is missing from some months.*use 1-28, or last",
    ),
    ({"every": "month", "at": "06:00", "day_of_month": 0}, "day_of_month: 0; use a day 1-28, or last"),
    ({"every": "month", "at": "06:00", "day_of_month": "first"}, "day_of_month: 'first'"),
    ({"every": "month", "at": "06:00", "day_of_month": True}, "day_of_month: True"),
    ({"every": "hour", "between": "18:00-08:00"}, "ends before it starts; windows can't span midnight"),
    ({"every": "hour", "between": "08:00-08:00"}, "ends before it starts"),
    ({"every": "hour", "between": "08:00"}, 'write a window as "HH:MM-HH:MM"'),
    ({"every": "hour", "between": "8-18"}, "between: '8' is not a time"),
    ({"every": "hour", "tz": "UTC"}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("fields", "message"), ERRORS)
def test_validation_errors_say_what_to_do(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make(**fields)


def test_utc_is_a_zone_like_any_other() -> None:
    assert describe(make(every="hour", timezone="UTC")) == "every hour (UTC)"


# --- next runs ----------------------------------------------------------------------------------


def test_weekday_window_runs_through_its_end_then_skips_the_weekend() -> None:
    schedule = make(every="15 minutes", between="08:00-18:00", days="weekdays")
    runs = next_runs(schedule, at("2025-06-13T17:40"), 4)  # a Friday
    assert iso(runs) == [
        "2025-06-13T17:45+02:00",
        "2025-06-13T18:00+02:00",
        "2025-06-16T08:00+02:00",  # Monday
        "2025-06-16T08:15+02:00",
    ]


def test_runs_are_strictly_after_and_in_the_schedule_zone() -> None:
    schedule = make(every="day", at="06:00")
    runs = next_runs(schedule, dt.datetime(2025, 6, 13, 4, 0, tzinfo=UTC))  # 06:00 in Berlin exactly
    assert iso(runs) == ["2025-06-14T06:00+02:00", "2025-06-15T06:00+02:00", "2025-06-16T06:00+02:00"]
    assert all(r.tzinfo == BERLIN for r in runs)
    assert next_runs(schedule, at("2025-06-13T05:59"), 1) == [at("2025-06-13T06:00")]
    assert next_runs(schedule, at("2025-06-13T06:00"), 0) == []


def test_after_must_be_aware() -> None:
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        next_runs(make(every="hour"), dt.datetime(2025, 1, 1))


def test_the_same_schedule_in_three_zones() -> None:
    def utc_hours(zone: str, day: str) -> list[str]:
        schedule = make(every="day", at="06:00", timezone=zone)
        runs = next_runs(schedule, dt.datetime.fromisoformat(day).replace(tzinfo=UTC), 1)
        return [r.astimezone(UTC).strftime("%H:%M") for r in runs]

    # winter, then summer: local 06:00 stays put; UTC moves with the zones' own DST rules
    assert [utc_hours(z, "2025-01-15") for z in ("Europe/Berlin", "America/New_York", "UTC")] == [
        ["05:00"],
        ["11:00"],
        ["06:00"],
    ]
    assert [utc_hours(z, "2025-07-15") for z in ("Europe/Berlin", "America/New_York", "UTC")] == [
        ["04:00"],
        ["10:00"],
        ["06:00"],
    ]


def test_a_window_evaluated_in_new_york() -> None:
    schedule = make(every="hour", between="09:00-17:00", timezone="America/New_York")
    runs = next_runs(schedule, dt.datetime(2025, 6, 13, 20, 30, tzinfo=UTC), 3)  # 16:30 in New York
    assert iso(runs) == ["2025-06-13T17:00-04:00", "2025-06-14T09:00-04:00", "2025-06-14T10:00-04:00"]


def test_several_times_a_day_and_weekly() -> None:
    daily = make(every="day", at=["18:00", "06:00"], days="weekdays")
    assert iso(next_runs(daily, at("2025-06-13T12:00"), 3)) == [
        "2025-06-13T18:00+02:00",
        "2025-06-16T06:00+02:00",
        "2025-06-16T18:00+02:00",
    ]
    weekly = make(every="week", days=["mon", "thu"], at="07:30")
    assert iso(next_runs(weekly, at("2025-06-13T12:00"), 3)) == [
        "2025-06-16T07:30+02:00",
        "2025-06-19T07:30+02:00",
        "2025-06-23T07:30+02:00",
    ]


def test_monthly_on_the_last_day_across_leap_and_common_years() -> None:
    schedule = make(every="month", day_of_month="last", at="07:00", timezone="UTC")
    runs = next_runs(schedule, dt.datetime(2024, 1, 15, tzinfo=UTC), 4)
    assert [r.date().isoformat() for r in runs] == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]
    runs = next_runs(schedule, dt.datetime(2025, 1, 31, 8, tzinfo=UTC), 2)
    assert [r.date().isoformat() for r in runs] == ["2025-02-28", "2025-03-31"]
    first = make(every="month", day_of_month=1, at="00:00", timezone="UTC")
    assert iso(next_runs(first, dt.datetime(2024, 12, 31, 23, 59, tzinfo=UTC), 2)) == [
        "2025-01-01T00:00+00:00",
        "2025-02-01T00:00+00:00",
    ]


def test_cron_day_fields_either_match_when_both_are_set() -> None:
    # standard cron: day-of-month 13 OR Friday, not "Friday the 13th"
    schedule = make(cron="0 12 13 * 5", timezone="UTC")
    days = [r.date().isoformat() for r in next_runs(schedule, dt.datetime(2025, 6, 1, tzinfo=UTC), 4)]
    assert days == ["2025-06-06", "2025-06-13", "2025-06-20", "2025-06-27"]


def test_a_leap_day_cron_waits_for_the_next_leap_year() -> None:
    schedule = make(cron="0 0 29 2 *", timezone="UTC")
    runs = next_runs(schedule, dt.datetime(2096, 3, 1, tzinfo=UTC), 2)
    assert [r.year for r in runs] == [2104, 2108]  # 2100 is not a leap year


def test_iter_runs_goes_on() -> None:
    runs = list(
        islice(iter_runs(make(every="5 minutes", timezone="UTC"), dt.datetime(2025, 1, 1, tzinfo=UTC)), 600)
    )
    assert runs[-1] == dt.datetime(2025, 1, 3, 2, 0, tzinfo=UTC)


# --- daylight saving time: Berlin 2025-03-30 02:00->03:00 and 2025-10-26 03:00->02:00 ------------


def test_daily_run_in_the_spring_gap_runs_at_the_end_of_the_gap() -> None:
    schedule = make(every="day", at="02:30")
    assert iso(next_runs(schedule, at("2025-03-29T12:00"), 3)) == [
        "2025-03-30T03:00+02:00",
        "2025-03-31T02:30+02:00",
        "2025-04-01T02:30+02:00",
    ]


def test_daily_run_in_the_repeated_hour_runs_once_at_the_second_occurrence() -> None:
    schedule = make(every="day", at="02:30")
    assert iso(next_runs(schedule, at("2025-10-25T12:00"), 2)) == [
        "2025-10-26T02:30+01:00",
        "2025-10-27T02:30+01:00",
    ]
    # between the two 02:30s: the second is still ahead
    assert iso(next_runs(schedule, at("2025-10-26T02:40+02:00"), 1)) == ["2025-10-26T02:30+01:00"]
    assert iso(next_runs(schedule, at("2025-10-26T02:30+01:00"), 1)) == ["2025-10-27T02:30+01:00"]


def test_all_day_intervals_keep_real_time_across_dst() -> None:
    schedule = make(every="30 minutes")
    assert iso(next_runs(schedule, at("2025-03-30T01:00"), 3)) == [
        "2025-03-30T01:30+01:00",
        "2025-03-30T03:00+02:00",  # 02:00 and 02:30 don't exist and don't run
        "2025-03-30T03:30+02:00",
    ]
    assert iso(next_runs(schedule, at("2025-10-26T01:45+02:00"), 5)) == [
        "2025-10-26T02:00+02:00",
        "2025-10-26T02:30+02:00",
        "2025-10-26T02:00+01:00",  # the repeated hour runs again
        "2025-10-26T02:30+01:00",
        "2025-10-26T03:00+01:00",
    ]


def test_windowed_intervals_run_at_clock_times_across_dst() -> None:
    schedule = make(every="30 minutes", between="00:00-06:00")
    assert iso(next_runs(schedule, at("2025-03-30T01:00"), 3)) == [
        "2025-03-30T01:30+01:00",
        "2025-03-30T03:00+02:00",  # 02:00, 02:30 and 03:00 collapse into one run
        "2025-03-30T03:30+02:00",
    ]
    assert iso(next_runs(schedule, at("2025-10-26T01:45+02:00"), 3)) == [
        "2025-10-26T02:00+01:00",  # the first 02:00 and 02:30 are skipped, the second ones run
        "2025-10-26T02:30+01:00",
        "2025-10-26T03:00+01:00",
    ]


def test_new_york_dst_days() -> None:
    # New York: 2025-03-09 02:00->03:00, 2025-11-02 02:00->01:00
    spring = make(every="day", at="02:30", timezone="America/New_York")
    assert iso(next_runs(spring, at("2025-03-08T12:00", NEW_YORK), 2)) == [
        "2025-03-09T03:00-04:00",
        "2025-03-10T02:30-04:00",
    ]
    fall = make(every="day", at="01:30", timezone="America/New_York")
    assert iso(next_runs(fall, at("2025-11-01T12:00", NEW_YORK), 2)) == [
        "2025-11-02T01:30-05:00",
        "2025-11-03T01:30-05:00",
    ]
    hourly = make(every="hour", timezone="America/New_York")
    assert iso(next_runs(hourly, at("2025-11-02T00:30", NEW_YORK), 4)) == [
        "2025-11-02T01:00-04:00",
        "2025-11-02T01:00-05:00",
        "2025-11-02T02:00-05:00",
        "2025-11-02T03:00-05:00",
    ]


def test_a_gap_at_midnight() -> None:
    # Santiago springs forward at 24:00 -> 01:00 (2025-09-07): the 00:30 run moves to 01:00
    schedule = make(every="day", at="00:30", timezone="America/Santiago")
    runs = next_runs(schedule, dt.datetime(2025, 9, 6, 12, tzinfo=UTC), 2)
    assert iso(runs) == ["2025-09-07T01:00-03:00", "2025-09-08T00:30-03:00"]


# --- cron_expressions vs next_runs, through Dagster's own tick iterator ---------------------------

AGREEMENT = [
    {"every": "15 minutes", "between": "08:00-18:00", "days": "weekdays"},
    {"every": "15 minutes"},
    {"every": "30 minutes", "between": "00:00-06:00"},
    {"every": "5 minutes", "between": "01:10-03:20", "days": ["sun"]},
    {"every": "hour"},
    {"every": "2 hours"},
    {"every": "3 hours", "between": "01:30-23:00"},
    {"every": "day", "at": "02:30"},
    {"every": "day", "at": ["01:30", "02:00", "02:30", "03:00"]},
    {"every": "week", "days": ["sun", "sat"], "at": ["02:00", "02:59"]},
    {"every": "month", "day_of_month": "last", "at": "02:30"},
    {"every": "month", "day_of_month": 1, "at": "02:15"},
    {"cron": "*/7 1-3 * * *"},
    {"cron": "0 2 */2 * 0"},
    {"cron": "30 1,2 * 3,10,11 sun"},
    {"cron": "5/20 * * * mon-fri"},
]
# each span holds a spring-forward or fall-back day of both Berlin and New York
SPANS = [(dt.datetime(2025, 3, 5, tzinfo=UTC), 28), (dt.datetime(2025, 10, 22, tzinfo=UTC), 12)]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "UTC"])
@pytest.mark.parametrize("fields", AGREEMENT, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_cron_expressions_fire_exactly_at_next_runs(fields: dict[str, Any], zone: str) -> None:
    schedule = make(**fields, timezone=zone)
    crons = cron_expressions(schedule)
    for start, days in SPANS:
        stop = start + dt.timedelta(days=days)
        ticks = schedule_execution_time_iterator(start.timestamp() + 1, crons, zone)
        expected = [t.timestamp() for t in takewhile(stop.__gt__, ticks)]
        ours = [r.timestamp() for r in takewhile(stop.__gt__, iter_runs(schedule, start))]
        assert ours == expected
        assert expected  # every case runs in every span
