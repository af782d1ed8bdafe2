"""Which days a flow source reads: Coupler-style date ranges, evaluated in the flow's time zone.

One way at a time::

    {start: 2024-01-01}                    2024-01-01 through today
    {start: 2024-01-01, end: 2024-12-31}   both dates included (end: may also be today or yesterday)
    {last: 90 days}                        the 90 days before today; include_today: true shifts it to end today
    {this: month}                          the current day/week/month/quarter/year up to and including today
    {previous: month}                      the whole previous period; previous: 3 months = the 3 before this one
    {years: [2025, 2026]}                  whole calendar years, consecutive
    {today: true}, {yesterday: true}
    "last 90 days", "this month", "previous quarter", "today", "yesterday"   (the same, as one string)

``resolve(range, now, tz)`` turns it into a half-open ``[start, end)`` of local dates, where "today" is
``now`` seen in ``tz`` (a Berlin flow at 00:30 local on the 1st is already in the new month, though UTC
isn't). ``last`` counts back whole calendar units and clamps to month ends (31 May minus 3 months is
28/29 Feb). Weeks start on Monday unless ``week_start`` says otherwise.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationInfo, field_validator, model_validator

from .model import Strict

Period = Literal["day", "week", "month", "quarter", "year"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "quarter", "year")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WAYS = ("start", "last", "this", "previous", "years", "today", "yesterday")
_MAX_COUNT = 1000


def _span(value: Any, key: str) -> str:
    """Normalise '90 days' / '1 month' / 'quarter' to '90 days' / '1 month' / '1 quarter'."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f'{key}: {value} needs a unit, e.g. {key}: "{value} days"')
    m = re.fullmatch(r"(?:(\d+)\s*)?([a-z]+?)s?", value.strip().lower()) if isinstance(value, str) else None
    if m is None or m[2] not in PERIODS:
        raise ValueError(f'{key}: {value!r}; use a count and one of {", ".join(PERIODS)}, e.g. "90 days"')
    count = int(m[1]) if m[1] else 1
    if not 1 <= count <= _MAX_COUNT:
        raise ValueError(f"{key}: {value!r}; the count must be 1-{_MAX_COUNT}")
    return f"{count} {m[2]}{'s' if count > 1 else ''}"


def _split(span: str) -> tuple[int, Period]:
    count, period = span.split()
    return int(count), period.removesuffix("s")  # type: ignore[return-value]  # checked by _span


def _add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, clamped to the month's last day (31 Mar - 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return day.replace(year=year, month=month + 1, day=min(day.day, calendar.monthrange(year, month + 1)[1]))


def _shift(day: dt.date, count: int, period: str) -> dt.date:
    """``day`` moved by ``count`` periods (negative: back)."""
    if period in ("day", "week"):
        return day + dt.timedelta(days=count * (7 if period == "week" else 1))
    return _add_months(day, count * {"month": 1, "quarter": 3, "year": 12}[period])


def _period_start(day: dt.date, period: str, week_start: int) -> dt.date:
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=(day.weekday() - week_start) % 7)
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


class DateRange(Strict):
    """The days a source reads; exactly one of start (+end), last, this, previous, years, today, yesterday."""

    start: dt.date | None = None
    end: dt.date | Literal["today", "yesterday"] | None = None  # included; default today
    last: str | None = None  # "<n> <period>s", rolling, ends yesterday
    include_today: bool | None = None  # with last: end today instead of yesterday
    this: Period | None = None
    previous: str | None = None  # "<n> <period>s": whole periods before the current one
    years: tuple[int, ...] | None = None
    today: bool | None = None
    yesterday: bool | None = None
    week_start: str | None = None  # mon..sun, for this/previous: week

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """'last 90 days', 'this month', 'previous quarter', 'today', 'yesterday' as one string."""
        if not isinstance(data, str):
            return data
        text = data.strip().lower()
        if text in ("today", "yesterday"):
            return {text: True}
        way, _, rest = text.partition(" ")
        if way in ("last", "this", "previous") and rest:
            return {way: rest}
        raise ValueError(
            f"dates: {data!r}; as a string use today, yesterday, 'last 90 days', 'this month' or "
            "'previous quarter' - or a mapping such as {start: 2024-01-01}"
        )

    @field_validator("last", "previous", mode="before")
    @classmethod
    def _spans(cls, value: Any, info: ValidationInfo) -> Any:
        return _span(value, str(info.field_name))

    @field_validator("this", mode="before")
    @classmethod
    def _this(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower().rstrip("s") in PERIODS:
            return value.strip().lower().rstrip("s")
        raise ValueError(
            f"this: {value!r}; use one of {', '.join(PERIODS)} (the period so far, today included)"
        )

    @field_validator("years", mode="before")
    @classmethod
    def _years(cls, value: Any) -> Any:
        items = value if isinstance(value, list | tuple) else [value]
        if not items or any(
            isinstance(y, bool) or not isinstance(y, int) or not 1 <= y <= 9998 for y in items
        ):
            raise ValueError(f"years: {value!r}; give a year or a list of years, e.g. years: [2025, 2026]")
        years = sorted(set(items))
        if years != list(range(years[0], years[-1] + 1)):
            missing = sorted(set(range(years[0], years[-1] + 1)) - set(years))
            raise ValueError(
                f"years: {value!r} skips {', '.join(map(str, missing))}; one range covers consecutive years only"
            )
        return tuple(years)

    @field_validator("week_start", mode="before")
    @classmethod
    def _week_start(cls, value: Any) -> Any:
        names = {d: d for d in WEEKDAYS} | {calendar.day_name[i].lower(): d for i, d in enumerate(WEEKDAYS)}
        name = names.get(value.strip().lower()) if isinstance(value, str) else None
        if name is None:
            raise ValueError(f"week_start: {value!r}; use one of {', '.join(WEEKDAYS)}")
        return name

    @model_validator(mode="after")
    def _one_way(self) -> DateRange:
        for flag in ("today", "yesterday"):
            if getattr(self, flag) is False:
                raise ValueError(f"{flag}: false selects no days; remove it, or use {flag}: true")
        if self.end is not None and self.start is None:
            raise ValueError("end: needs start:; for a range that ends today use last: or this:")
        ways = [w for w in _WAYS if getattr(self, w) is not None]
        if not ways:
            raise ValueError(f"a date range needs one of: {', '.join(_WAYS)}")
        if len(ways) > 1:
            raise ValueError(f"a date range takes one way at a time; got {' and '.join(ways)} - keep one")
        if isinstance(self.start, dt.date) and isinstance(self.end, dt.date) and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}; both days are included")
        if self.include_today is not None and self.last is None:
            raise ValueError("include_today: only goes with last: (this: already includes today)")
        if self.week_start is not None and "week" not in (
            self.this,
            self.previous and _split(self.previous)[1],
        ):
            raise ValueError("week_start: only matters with this: week or previous: week")
        return self


def resolve(dates: DateRange, now: dt.datetime, tz: str) -> tuple[dt.date, dt.date]:
    """``[start, end)`` local dates of ``dates`` as of ``now`` (aware) seen in the zone ``tz``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(UTC)); a naive time is ambiguous")
    try:
        today = now.astimezone(ZoneInfo(tz)).date()
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name such as Europe/Berlin or UTC") from None
    tomorrow = today + dt.timedelta(days=1)
    week_start = WEEKDAYS.index(dates.week_start or "mon")
    if dates.start is not None:
        end = dates.end if isinstance(dates.end, dt.date) else today
        if dates.end == "yesterday":
            end = today - dt.timedelta(days=1)
        if end < dates.start:
            raise ValueError(f"start {dates.start} is after the end ({end}, as of {today} in {tz})")
        return dates.start, end + dt.timedelta(days=1)
    if dates.last is not None:
        count, period = _split(dates.last)
        stop = tomorrow if dates.include_today else today
        return _shift(stop, -count, period), stop
    if dates.this is not None:
        return _period_start(today, dates.this, week_start), tomorrow
    if dates.previous is not None:
        count, period = _split(dates.previous)
        current = _period_start(today, period, week_start)
        return _shift(current, -count, period), current
    if dates.years is not None:
        return dt.date(dates.years[0], 1, 1), dt.date(dates.years[-1] + 1, 1, 1)
    if dates.yesterday:
        return today - dt.timedelta(days=1), today
    return today, tomorrow
