"""When a flow runs: Coupler-style intervals or a cron string, always at local times of a named zone.

    schedule: {every: 15 minutes, between: "08:00-18:00", days: weekdays, timezone: Europe/Berlin}
    schedule: {every: day, at: "06:30", timezone: Europe/Berlin}
    schedule: {every: week, days: [mon, thu], at: ["06:00", "18:00"], timezone: America/New_York}
    schedule: {every: month, day_of_month: last, at: "07:00", timezone: UTC}
    schedule: {cron: "0 6 * * 1-5", timezone: Europe/Berlin}

``cron_expressions`` gives the cron strings for Dagster (``cron_schedule`` takes a list; the zone goes to
``execution_timezone``), ``next_runs`` the coming run times, ``describe`` a sentence. Cron strings are
parsed and rendered by ``pipelines/cron.py``.

Intervals: 5, 10, 15, 20, 30 minutes; 1, 2, 3, 4, 6, 8, 12 hours (steps that divide the hour or the day,
so every run lands on the same clock times each day); day, week, month. A window ``between:
"08:00-18:00"`` includes both ends: 18:00 runs when it lies on the interval's grid, which starts at the
window's start (every 2 hours between 09:00-18:00 runs at 09, 11, 13, 15 and 17). Windows can't span
midnight.

Daylight saving time follows Dagster's documented behaviour for cron schedules in a time zone
(docs.dagster.io/guides/automate/schedules/customizing-execution-timezone); ``next_runs`` mirrors it so
it predicts what Dagster will do:
- a schedule that runs in every hour of the day (every 15 minutes, every hour, no window) keeps its
  rhythm in real time: on spring-forward the runs in the missing hour don't happen; on fall-back the
  runs in the repeated hour happen twice, once per UTC offset;
- every other schedule runs at clock times: a time that doesn't exist (02:30 on Berlin's spring-forward
  day) runs once at the end of the gap (03:00), and a time that occurs twice (02:30 on fall-back day)
  runs once, at its second occurrence (02:30 CET, +01:00).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from itertools import islice
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator, model_validator

from .cron import Cron, parse_cron, render
from .model import Strict

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Python's weekday() order
DAY_SHORTHANDS = {"weekdays": DAYS[:5], "weekends": DAYS[5:]}
MINUTE_STEPS = (5, 10, 15, 20, 30)  # divide the hour: the same minutes every hour
HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)  # divide the day: the same hours every day
_UNITS = {
    **dict.fromkeys(("minute", "minutes", "min", "mins"), "minute"),
    **dict.fromkeys(("hour", "hours", "hourly"), "hour"),
    **dict.fromkeys(("day", "days", "daily"), "day"),
    **dict.fromkeys(("week", "weeks", "weekly"), "week"),
    **dict.fromkeys(("month", "months", "monthly"), "month"),
}
_SCAN_DAYS = 366 * 9  # a 29 February cron can wait 8 years (2096 -> 2104)


def _hhmm(value: Any, key: str) -> int:
    """Minutes after midnight of an ``HH:MM`` string."""
    if isinstance(value, int) and not isinstance(value, bool) and 60 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080 (6:30 as 390)
        raise ValueError(
            f"{key}: got the number {value}; YAML reads an unquoted {value // 60}:{value % 60:02d} "
            f'as a number - quote times: "{value // 60:02d}:{value % 60:02d}"'
        )
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip()) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f'{key}: {value!r} is not a time; write "HH:MM" from "00:00" to "23:59"')
    return int(m[1]) * 60 + int(m[2])


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _interval(every: str) -> tuple[str, int]:
    """(unit, count) of an ``every:`` value, e.g. '2 hours' -> ('hour', 2)."""
    m = re.fullmatch(r"(?:(\d+)\s*)?([a-z]+)", every.strip().lower())
    unit = _UNITS.get(m[2]) if m else None
    if m is None or unit is None:
        raise ValueError(
            f"every: {every!r} is not an interval; use 15 minutes, 30 minutes, hour, 2 hours, day, week or month"
        )
    count = int(m[1]) if m[1] else 1
    if unit == "minute" and count % 60 == 0 and count // 60 in HOUR_STEPS:
        unit, count = "hour", count // 60
    if unit == "minute" and count not in MINUTE_STEPS:
        raise ValueError(
            f"every: {every!r}: minutes must divide the hour so runs keep the same clock times; "
            f"use one of {', '.join(map(str, MINUTE_STEPS))} minutes"
        )
    if unit == "hour" and count not in HOUR_STEPS:
        raise ValueError(
            f"every: {every!r}: hours must divide the day so runs keep the same clock times; "
            f"use one of {', '.join(map(str, HOUR_STEPS))} hours, or every: day with several at: times"
        )
    if unit in ("day", "week", "month") and count != 1:
        raise ValueError(
            f"every: {every!r}: cron can't keep a {count}-{unit} rhythm across months; use every: "
            f"{unit} (with days: [...] or day_of_month:) or give a cron: string"
        )
    return unit, count


def _canonical_every(unit: str, count: int) -> str:
    return unit if count == 1 and unit != "minute" else f"{count} {unit}s"


class Schedule(Strict):
    """``cron:`` or ``every:`` (with ``at``, ``days``, ``day_of_month``, ``between``), and ``timezone``."""

    cron: str | None = None
    every: str | None = None
    at: tuple[str, ...] | None = None  # "HH:MM", sorted
    days: tuple[str, ...] | None = None  # mon..sun, in week order
    day_of_month: int | Literal["last"] | None = None
    between: str | None = None  # "HH:MM-HH:MM", both ends included
    timezone: str | None = None  # required; None only so the error can say why
    enabled: bool = True  # false: the schedule exists in Dagster but starts stopped

    @field_validator("timezone", mode="before")
    @classmethod
    def _tz(cls, value: Any) -> Any:
        if value is None:
            return None
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin or UTC"
            ) from None
        return str(value)

    @field_validator("cron", mode="before")
    @classmethod
    def _cron(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"cron: give a string such as '0 6 * * 1-5', not {value!r}")
        return parse_cron(value).text

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(f"every: {value} needs a unit, e.g. every: {value} minutes")
        if not isinstance(value, str):
            raise ValueError(f"every: {value!r} is not an interval; use 15 minutes, hour, day, week or month")
        return _canonical_every(*_interval(value))

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> Any:
        items = value if isinstance(value, list | tuple) else [value]
        if not items:
            raise ValueError('at: give at least one time, e.g. at: "06:30"')
        return tuple(_fmt(m) for m in sorted({_hhmm(v, "at") for v in items}))

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        chosen: set[str] = set()
        for item in value if isinstance(value, list | tuple) else [value]:
            name = str(item).strip().lower()
            full = {d: d for d in DAYS} | {calendar.day_name[i].lower(): d for i, d in enumerate(DAYS)}
            if name in DAY_SHORTHANDS:
                chosen.update(DAY_SHORTHANDS[name])
            elif name in full:
                chosen.add(full[name])
            else:
                raise ValueError(f"days: unknown day {item!r}; use {', '.join(DAYS)}, weekdays or weekends")
        if not chosen:
            raise ValueError("days: give at least one day, e.g. days: [mon]")
        return tuple(d for d in DAYS if d in chosen)

    @field_validator("day_of_month", mode="before")
    @classmethod
    def _day_of_month(cls, value: Any) -> Any:
        if value == "last":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 31:
            raise ValueError(f"day_of_month: {value!r}; use a day 1-28, or last")
        if value > 28:
            raise ValueError(
                f"day_of_month: {value} is missing from some months, which would then have no run; "
                "use 1-28, or last for the month's last day"
            )
        return value

    @field_validator("between", mode="before")
    @classmethod
    def _between(cls, value: Any) -> Any:
        parts = re.split(r"\s*[-–]\s*", value.strip()) if isinstance(value, str) else []
        if len(parts) != 2:
            raise ValueError(f'between: {value!r}; write a window as "HH:MM-HH:MM", e.g. "08:00-18:00"')
        start, end = (_hhmm(p, "between") for p in parts)
        if end <= start:
            raise ValueError(
                f"between: {value!r} ends before it starts; windows can't span midnight - "
                'use a start before the end, e.g. "08:00-18:00"'
            )
        return f"{_fmt(start)}-{_fmt(end)}"

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if self.timezone is None:
            raise ValueError(
                "a schedule needs timezone: (an IANA name such as Europe/Berlin or UTC); "
                "runs happen at clock times in that zone"
            )
        extras = [k for k in ("at", "days", "day_of_month", "between") if getattr(self, k) is not None]
        if self.cron is not None:
            if self.every is not None:
                raise ValueError("give either cron: or every:, not both")
            if extras:
                raise ValueError(
                    f"{', '.join(extras)} only go with every:; with cron: put days and times in the cron string"
                )
            return self
        if self.every is None:
            raise ValueError(
                'a schedule needs every: (e.g. every: day, at: "06:00") or cron: (e.g. "0 6 * * *")'
            )
        unit, _ = _interval(self.every)
        if unit in ("minute", "hour"):
            if self.at is not None:
                raise ValueError(
                    f"at: sets the time of day for every: day, week or month; every: {self.every} runs all day - "
                    'limit it with between: "08:00-18:00" (runs line up with the window start)'
                )
            if self.day_of_month is not None:
                raise ValueError("day_of_month: only goes with every: month")
            return self
        if self.between is not None:
            raise ValueError(f"between: only limits sub-daily intervals; every: {unit} runs at its at: times")
        if self.at is None:
            raise ValueError(
                f'every: {unit} needs at: the time(s) of day, e.g. at: "06:30" or at: ["06:00", "18:00"]'
            )
        if unit == "week" and self.days is None:
            raise ValueError("every: week needs days: the weekday(s) to run on, e.g. days: [mon]")
        if unit == "month":
            if self.days is not None:
                raise ValueError("days: doesn't go with every: month; use day_of_month: (1-28 or last)")
            if self.day_of_month is None:
                raise ValueError("every: month needs day_of_month: (1-28, or last)")
        elif self.day_of_month is not None:
            raise ValueError(f"day_of_month: only goes with every: month, not every: {unit}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(str(self.timezone))


def _local_times(schedule: Schedule) -> list[int]:
    """Minutes after midnight at which an ``every:`` schedule runs on a run day."""
    unit, count = _interval(str(schedule.every))
    if unit not in ("minute", "hour"):
        return [_hhmm(t, "at") for t in schedule.at or ()]
    step = count * (60 if unit == "hour" else 1)
    start, end = (0, 24 * 60 - 1)
    if schedule.between is not None:
        start, end = (_hhmm(t, "between") for t in schedule.between.split("-"))
    return list(range(start, end + 1, step))


def _crons(schedule: Schedule) -> list[Cron]:
    if schedule.cron is not None:
        return [parse_cron(schedule.cron)]
    dow = render(frozenset((DAYS.index(d) + 1) % 7 for d in schedule.days or DAYS), 0, 6, steps=False)
    dom = "*" if schedule.day_of_month is None else str(schedule.day_of_month).replace("last", "L")
    minutes_by_hour: dict[int, set[int]] = {}
    for t in _local_times(schedule):
        minutes_by_hour.setdefault(t // 60, set()).add(t % 60)
    # hours that share their minutes share a cron string: fewest strings, in time order
    hours_by_minutes: dict[frozenset[int], set[int]] = {}
    for hour, minutes in minutes_by_hour.items():
        hours_by_minutes.setdefault(frozenset(minutes), set()).add(hour)
    # parsed back from the text, so what Dagster gets is exactly what next_runs iterates
    return [
        parse_cron(f"{render(minutes, 0, 59)} {render(frozenset(hours), 0, 23)} {dom} * {dow}")
        for minutes, hours in hours_by_minutes.items()
    ]


def cron_expressions(schedule: Schedule) -> list[str]:
    """Cron strings that together fire at the schedule's local times, in ``schedule.timezone``."""
    return [c.text for c in _crons(schedule)]


def _exists(moment: dt.datetime, wall: dt.datetime) -> bool:
    return moment.astimezone(dt.UTC).astimezone(moment.tzinfo).replace(tzinfo=None) == wall


def _gap_end(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first instant after the DST gap that swallows ``wall``: where the clocks jump to."""

    def offset(minute: int) -> dt.timedelta | None:
        return dt.datetime.fromtimestamp(minute * 60, zone).utcoffset()

    # In a gap fold=1 reads the wall time with the later offset (an instant before the jump), fold=0
    # with the earlier one (an instant after it); the jump lies between, on a whole minute.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp()) // 60
    high = int(wall.replace(tzinfo=zone, fold=0).timestamp()) // 60
    later = offset(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if offset(mid) == later else (mid, high)
    return dt.datetime.fromtimestamp(high * 60, zone)


def _instants(wall: dt.datetime, zone: ZoneInfo, every_hour: bool) -> list[dt.datetime]:
    """The moments a run at local ``wall`` time happens (see the module docstring for DST)."""
    first, second = wall.replace(tzinfo=zone), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return [first]
    if _exists(first, wall):  # fall-back: the wall time happens twice
        return [first, second] if every_hour else [second]
    return [] if every_hour else [_gap_end(wall, zone)]  # spring-forward: the wall time never happens


def iter_runs(schedule: Schedule, after: dt.datetime) -> Iterator[dt.datetime]:
    """Run times strictly after ``after`` (timezone-aware), in order, in the schedule's zone."""
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be timezone-aware (e.g. datetime.now(UTC)); a naive time is ambiguous")
    zone, crons = schedule.zone, _crons(schedule)
    since = after.timestamp()
    # start a day early: with fold=1 a run dated yesterday can still be ahead of `after`
    day = after.astimezone(zone).date() - dt.timedelta(days=1)
    idle = 0  # days since the last run: a valid schedule runs within _SCAN_DAYS, so stop after that
    while idle < _SCAN_DAYS:
        idle += 1
        batch: dict[float, dt.datetime] = {}  # by timestamp: aware datetimes of one zone ignore fold in ==
        for cron in crons:
            if not cron.runs_on(day):
                continue
            every_hour = len(cron.hours) == 24  # Dagster's test for "repeats every hour"
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    wall = dt.datetime.combine(day, dt.time(hour, minute))
                    for moment in _instants(wall, zone, every_hour):
                        if moment.timestamp() > since:
                            batch[moment.timestamp()] = moment
        for stamp in sorted(batch):
            if stamp > since:  # a gap's end can repeat the previous day's last run
                since, idle = stamp, 0
                yield batch[stamp].astimezone(zone)
        day += dt.timedelta(days=1)


def next_runs(schedule: Schedule, after: dt.datetime, n: int = 3) -> list[dt.datetime]:
    """The next ``n`` run times strictly after ``after``, timezone-aware in the schedule's zone."""
    return list(islice(iter_runs(schedule, after), n))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _days_text(days: tuple[str, ...]) -> str:
    """'Mon–Fri', 'Sat and Sun', 'Mon, Wed and Fri': runs of three or more days as a span."""
    runs: list[list[str]] = []
    for day in DAYS:
        if day not in days:
            continue
        if runs and DAYS.index(runs[-1][-1]) == DAYS.index(day) - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        parts += [f"{run[0].title()}–{run[-1].title()}"] if len(run) > 2 else [d.title() for d in run]
    return _join(parts)


def describe(schedule: Schedule) -> str:
    """A sentence, e.g. 'every 15 minutes from 08:00 to 18:00 on Mon–Fri (Europe/Berlin)'."""
    if schedule.cron is not None:
        return f"on cron '{schedule.cron}' ({schedule.timezone})"
    unit, count = _interval(str(schedule.every))
    words = [f"every {'' if count == 1 else f'{count} '}{unit}{'' if count == 1 else 's'}"]
    if schedule.between is not None:
        start, end = schedule.between.split("-")
        words.append(f"from {start} to {end}")
    if schedule.at is not None:
        words.append(f"at {_join(list(schedule.at))}")
    if schedule.days is not None and len(schedule.days) < 7:
        words.append(f"on {_days_text(schedule.days)}")
    if schedule.day_of_month is not None:
        last = schedule.day_of_month == "last"
        words.append("on the last day" if last else f"on day {schedule.day_of_month}")
    return f"{' '.join(words)} ({schedule.timezone})"
