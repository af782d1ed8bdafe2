"""Date ranges: every way, every error, the flow's zone, month ends, leap years, quarter and year edges."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pipelines.dates import DateRange, resolve

UTC = dt.UTC
D = dt.date


def noon(day: str) -> dt.datetime:
    """Midday UTC of ``day``: the same local date in Berlin, New York and UTC."""
    return dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def days(spec: Any, day: str, tz: str = "UTC") -> tuple[dt.date, dt.date]:
    return resolve(DateRange.model_validate(spec), noon(day), tz)


# --- every way ----------------------------------------------------------------------------------

WAYS = [
    # start / end: both days included; the result is half-open
    ({"start": "2024-01-01"}, "2025-06-15", (D(2024, 1, 1), D(2025, 6, 16))),
    ({"start": "2024-01-01", "end": "2024-12-31"}, "2025-06-15", (D(2024, 1, 1), D(2025, 1, 1))),
    ({"start": "2024-02-29", "end": "2024-02-29"}, "2025-06-15", (D(2024, 2, 29), D(2024, 3, 1))),
    ({"start": "2025-06-01", "end": "today"}, "2025-06-15", (D(2025, 6, 1), D(2025, 6, 16))),
    ({"start": "2025-06-01", "end": "yesterday"}, "2025-06-15", (D(2025, 6, 1), D(2025, 6, 15))),
    ({"start": "2025-06-15", "end": "today"}, "2025-06-15", (D(2025, 6, 15), D(2025, 6, 16))),
    # last: rolling, ending yesterday unless include_today
    ({"last": "90 days"}, "2025-06-15", (D(2025, 3, 17), D(2025, 6, 15))),
    ({"last": "1 day"}, "2025-06-15", (D(2025, 6, 14), D(2025, 6, 15))),
    ({"last": "day"}, "2025-06-15", (D(2025, 6, 14), D(2025, 6, 15))),
    ({"last": "7 days", "include_today": True}, "2025-06-15", (D(2025, 6, 9), D(2025, 6, 16))),
    ({"last": "7 days", "include_today": False}, "2025-06-15", (D(2025, 6, 8), D(2025, 6, 15))),
    ({"last": "12 weeks"}, "2025-06-15", (D(2025, 3, 23), D(2025, 6, 15))),
    ({"last": "6 months"}, "2025-06-15", (D(2024, 12, 15), D(2025, 6, 15))),
    ({"last": "2 quarters"}, "2025-06-15", (D(2024, 12, 15), D(2025, 6, 15))),
    ({"last": "2 years"}, "2025-06-15", (D(2023, 6, 15), D(2025, 6, 15))),
    ({"last": "1 year", "include_today": True}, "2025-06-15", (D(2024, 6, 16), D(2025, 6, 16))),
    # this: the period so far, today included
    ({"this": "day"}, "2025-06-15", (D(2025, 6, 15), D(2025, 6, 16))),
    ({"this": "week"}, "2025-06-15", (D(2025, 6, 9), D(2025, 6, 16))),  # a Sunday: Monday-start week
    ({"this": "week", "week_start": "sun"}, "2025-06-15", (D(2025, 6, 15), D(2025, 6, 16))),
    ({"this": "week", "week_start": "Saturday"}, "2025-06-15", (D(2025, 6, 14), D(2025, 6, 16))),
    ({"this": "month"}, "2025-06-15", (D(2025, 6, 1), D(2025, 6, 16))),
    ({"this": "quarter"}, "2025-06-15", (D(2025, 4, 1), D(2025, 6, 16))),
    ({"this": "year"}, "2025-06-15", (D(2025, 1, 1), D(2025, 6, 16))),
    ({"this": "Months"}, "2025-06-15", (D(2025, 6, 1), D(2025, 6, 16))),
    # previous: whole periods before the current one
    ({"previous": "day"}, "2025-06-15", (D(2025, 6, 14), D(2025, 6, 15))),
    ({"previous": "week"}, "2025-06-15", (D(2025, 6, 2), D(2025, 6, 9))),
    ({"previous": "week", "week_start": "sun"}, "2025-06-15", (D(2025, 6, 8), D(2025, 6, 15))),
    ({"previous": "2 weeks"}, "2025-06-15", (D(2025, 5, 26), D(2025, 6, 9))),
    ({"previous": "month"}, "2025-06-15", (D(2025, 5, 1), D(2025, 6, 1))),
    ({"previous": "3 months"}, "2025-06-15", (D(2025, 3, 1), D(2025, 6, 1))),
    ({"previous": "quarter"}, "2025-06-15", (D(2025, 1, 1), D(2025, 4, 1))),
    ({"previous": "4 quarters"}, "2025-06-15", (D(2024, 4, 1), D(2025, 4, 1))),
    ({"previous": "year"}, "2025-06-15", (D(2024, 1, 1), D(2025, 1, 1))),
    ({"previous": "years"}, "2025-06-15", (D(2024, 1, 1), D(2025, 1, 1))),
    # whole years
    ({"years": 2025}, "2025-06-15", (D(2025, 1, 1), D(2026, 1, 1))),
    ({"years": [2026, 2025]}, "2025-06-15", (D(2025, 1, 1), D(2027, 1, 1))),
    ({"years": [2023, 2024, 2024, 2025]}, "2025-06-15", (D(2023, 1, 1), D(2026, 1, 1))),
    # today / yesterday, as flags and as strings
    ({"today": True}, "2025-06-15", (D(2025, 6, 15), D(2025, 6, 16))),
    ({"yesterday": True}, "2025-06-15", (D(2025, 6, 14), D(2025, 6, 15))),
    ("today", "2025-06-15", (D(2025, 6, 15), D(2025, 6, 16))),
    ("Yesterday", "2025-06-15", (D(2025, 6, 14), D(2025, 6, 15))),
    ("last 90 days", "2025-06-15", (D(2025, 3, 17), D(2025, 6, 15))),
    ("this month", "2025-06-15", (D(2025, 6, 1), D(2025, 6, 16))),
    ("previous quarter", "2025-06-15", (D(2025, 1, 1), D(2025, 4, 1))),
]


@pytest.mark.parametrize(("spec", "today", "expected"), WAYS)
def test_every_way(spec: Any, today: str, expected: tuple[dt.date, dt.date]) -> None:
    assert days(spec, today) == expected


# --- calendar edges -----------------------------------------------------------------------------

EDGES = [
    # month ends: "same day N months back", clamped to the shorter month
    ({"last": "1 month"}, "2025-03-31", (D(2025, 2, 28), D(2025, 3, 31))),
    ({"last": "1 month"}, "2024-03-31", (D(2024, 2, 29), D(2024, 3, 31))),
    ({"last": "3 months"}, "2025-05-31", (D(2025, 2, 28), D(2025, 5, 31))),
    ({"last": "1 month", "include_today": True}, "2025-03-30", (D(2025, 2, 28), D(2025, 3, 31))),
    ({"last": "1 year"}, "2024-02-29", (D(2023, 2, 28), D(2024, 2, 29))),
    ({"last": "4 years"}, "2024-02-29", (D(2020, 2, 29), D(2024, 2, 29))),
    ({"last": "30 days"}, "2024-03-01", (D(2024, 1, 31), D(2024, 3, 1))),
    # leap February as a whole previous month
    ({"previous": "month"}, "2024-03-10", (D(2024, 2, 1), D(2024, 3, 1))),
    ({"previous": "month"}, "2025-03-10", (D(2025, 2, 1), D(2025, 3, 1))),
    # quarter boundaries
    ({"this": "quarter"}, "2025-03-31", (D(2025, 1, 1), D(2025, 4, 1))),
    ({"this": "quarter"}, "2025-04-01", (D(2025, 4, 1), D(2025, 4, 2))),
    ({"this": "quarter"}, "2025-12-31", (D(2025, 10, 1), D(2026, 1, 1))),
    ({"previous": "quarter"}, "2025-04-01", (D(2025, 1, 1), D(2025, 4, 1))),
    ({"previous": "quarter"}, "2025-03-31", (D(2024, 10, 1), D(2025, 1, 1))),
    ({"previous": "2 quarters"}, "2025-02-14", (D(2024, 7, 1), D(2025, 1, 1))),
    # year boundaries
    ({"previous": "day"}, "2025-01-01", (D(2024, 12, 31), D(2025, 1, 1))),
    ({"previous": "week"}, "2025-01-01", (D(2024, 12, 23), D(2024, 12, 30))),
    ({"this": "week"}, "2025-01-01", (D(2024, 12, 30), D(2025, 1, 2))),
    ({"previous": "month"}, "2025-01-01", (D(2024, 12, 1), D(2025, 1, 1))),
    ({"previous": "year"}, "2025-01-01", (D(2024, 1, 1), D(2025, 1, 1))),
    ({"this": "year"}, "2025-12-31", (D(2025, 1, 1), D(2026, 1, 1))),
    ({"previous": "13 months"}, "2025-01-20", (D(2023, 12, 1), D(2025, 1, 1))),
    ({"last": "1 week"}, "2025-01-03", (D(2024, 12, 27), D(2025, 1, 3))),
    ({"start": "2024-12-31"}, "2025-01-01", (D(2024, 12, 31), D(2025, 1, 2))),
]


@pytest.mark.parametrize(("spec", "today", "expected"), EDGES)
def test_calendar_edges(spec: Any, today: str, expected: tuple[dt.date, dt.date]) -> None:
    assert days(spec, today) == expected


def test_periods_tile_the_calendar_every_day_for_three_years() -> None:
    day = D(2023, 1, 1)
    while day < D(2026, 1, 1):
        today = day.isoformat()
        for period in ("day", "week", "month", "quarter", "year"):
            this_start, this_end = days({"this": period}, today)
            prev_start, prev_end = days({"previous": period}, today)
            assert prev_start < prev_end == this_start <= day < this_end == day + dt.timedelta(days=1)
            length = (prev_end - prev_start).days
            assert length in {
                "day": {1},
                "week": {7},
                "month": {28, 29, 30, 31},
                "quarter": {90, 91, 92},
            }.get(period, {365, 366})
        start, end = days({"last": "3 months"}, today)
        assert end == day and 89 <= (end - start).days <= 92
        day += dt.timedelta(days=1)


# --- the flow's time zone -----------------------------------------------------------------------


def test_today_is_the_flows_local_date() -> None:
    now = dt.datetime(2025, 1, 1, 3, 0, tzinfo=UTC)  # 04:00 in Berlin, 22:00 on 31 Dec in New York
    spec = DateRange.model_validate({"this": "year"})
    assert resolve(spec, now, "Europe/Berlin") == (D(2025, 1, 1), D(2025, 1, 2))
    assert resolve(spec, now, "UTC") == (D(2025, 1, 1), D(2025, 1, 2))
    assert resolve(spec, now, "America/New_York") == (D(2024, 1, 1), D(2025, 1, 1))


def test_a_berlin_flow_after_local_midnight_is_in_the_new_month() -> None:
    now = dt.datetime(2025, 3, 31, 22, 30, tzinfo=UTC)  # 00:30 on 1 April in Berlin (summer time)
    previous = DateRange.model_validate({"previous": "month"})
    assert resolve(previous, now, "Europe/Berlin") == (D(2025, 3, 1), D(2025, 4, 1))
    assert resolve(previous, now, "UTC") == (D(2025, 2, 1), D(2025, 3, 1))
    # a `now` given in another zone is the same instant
    assert resolve(previous, now.astimezone(dt.timezone(dt.timedelta(hours=-7))), "Europe/Berlin") == (
        D(2025, 3, 1),
        D(2025, 4, 1),
    )


def test_dst_days_are_ordinary_dates() -> None:
    # 23:30 UTC on the fall-back night is 00:30 (CET) on 27 October in Berlin
    now = dt.datetime(2025, 10, 26, 23, 30, tzinfo=UTC)
    assert resolve(DateRange.model_validate("yesterday"), now, "Europe/Berlin") == (
        D(2025, 10, 26),
        D(2025, 10, 27),
    )


def test_resolve_errors() -> None:
    spec = DateRange.model_validate("today")
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        resolve(spec, dt.datetime(2025, 1, 1), "UTC")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        resolve(spec, noon("2025-01-01"), "Mars/Olympus")
    with pytest.raises(
        ValueError, match="start 2025-07-01 is after the end \\(2025-06-15, as of 2025-06-15 in UTC\\)"
    ):
        days({"start": "2025-07-01"}, "2025-06-15")
    with pytest.raises(ValueError, match="is after the end"):
        days({"start": "2025-06-15", "end": "yesterday"}, "2025-06-15")


def test_values_are_normalised() -> None:
    assert DateRange.model_validate({"last": "90 Days"}).last == "90 days"
    assert DateRange.model_validate({"previous": "quarter"}).previous == "1 quarter"
    assert DateRange.model_validate("this weeks").this == "week"
    assert DateRange.model_validate({"years": [2026, 2025, 2025]}).years == (2025, 2026)
    assert DateRange.model_validate({"this": "week", "week_start": "Sunday"}).week_start == "sun"


def test_a_flow_file_snippet_loads_from_yaml() -> None:
    data = yaml.safe_load("{start: 2024-01-01, end: 2024-06-30}")
    assert isinstance(data["start"], dt.date)  # YAML reads dates itself
    assert days(data, "2025-01-01") == (D(2024, 1, 1), D(2024, 7, 1))
    assert days(yaml.safe_load("last: 90 days"), "2025-06-15") == (D(2025, 3, 17), D(2025, 6, 15))


# --- validation errors --------------------------------------------------------------------------

ERRORS = [
    ({}, "a date range needs one of: start, last, this, previous, years, today, yesterday"),
    ({"last": "7 days", "this": "month"}, "one way at a time; got last and this - keep one"),
    ({"start": "2024-01-01", "years": [2024]}, "got start and years"),
    ({"today": True, "yesterday": True}, "got today and yesterday"),
    ({"end": "2024-12-31"}, "end: needs start:"),
    (
        {"start": "2024-12-31", "end": "2024-01-01"},
        "end 2024-01-01 is before start 2024-12-31; both days are included",
    ),
    ({"start": "2024-13-01"}, "start"),
    ({"start": "2024-01-01", "end": "tomorrow"}, "end"),
    ({"last": 90}, 'last: 90 needs a unit, e.g. last: "90 days"'),
    (
        {"last": "90 fortnights"},
        "last: '90 fortnights'; use a count and one of day, week, month, quarter, year",
    ),
    ({"last": "0 days"}, "the count must be 1-1000"),
    ({"last": "1001 days"}, "the count must be 1-1000"),
    ({"last": "-5 days"}, "use a count and one of"),
    ({"previous": "2"}, "previous: '2'; use a count"),
    ({"this": "decade"}, "this: 'decade'; use one of day, week, month, quarter, year"),
    ({"this": "2 weeks"}, "this: '2 weeks'"),
    ({"this": 1}, "this: 1"),
    ({"years": [2023, 2025]}, "skips 2024; one range covers consecutive years only"),
    ({"years": []}, "give a year or a list of years"),
    ({"years": ["2025"]}, "give a year or a list of years"),
    ({"years": True}, "give a year or a list of years"),
    ({"today": False}, "today: false selects no days"),
    ({"yesterday": False}, "yesterday: false selects no days"),
    ({"this": "month", "include_today": True}, "include_today: only goes with last:"),
    ({"this": "month", "week_start": "sun"}, "week_start: only matters with this: week or previous: week"),
    ({"last": "2 weeks", "week_start": "sun"}, "week_start: only matters"),
    (
        {"this": "week", "week_start": "sonday"},
        "week_start: 'sonday'; use one of mon, tue, wed, thu, fri, sat, sun",
    ),
    ({"this": "week", "week_start": 1}, "week_start: 1"),
    ({"this": "month", "since": "2024-01-01"}, "Extra inputs are not permitted"),
    ("the whole time", "as a string use today, yesterday, 'last 90 days'"),
    ("last", "as a string use"),
]


@pytest.mark.parametrize(("spec", "message"), ERRORS)
def test_validation_errors_say_what_to_do(spec: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DateRange.model_validate(spec)
