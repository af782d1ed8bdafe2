"""The ``split_days`` step: one row per day of a record's date range, its numbers shared among the days.

An absence from Monday to Wednesday becomes three rows, an assignment over a month one row per day,
each with the day (``day``), whether it is a working day (``working_day``) and its part of the
record's numbers (``share:``), so that a sum per day, week or month counts each record once::

    - split_days:
        from: absences
        start: date_since
        end: date_until
        share: [count_days, count_hours]
        as: absence_days

The rules (docs/flows.md, "split_days", says the same for users):

- Dates: the end is the last day, included (Clockodo's ``date_until``); ``inclusive_end: false`` for an
  API whose end date is the day after. Timestamps are instants ``[start, end)``: each is seen in the flow's
  time zone (its schedule's, else UTC; ``timezone:`` overrides, ``timezone_column:`` names each row's own),
  and a day is in the range when the range covers any part of it, so a range ending at local midnight
  stops the day before (``inclusive_end: true`` keeps that day). A timestamp without a zone is taken as
  local time already. A range whose end is not before its start always covers its start day.
- ``by: working_days`` (default) shares each number equally among the working days (``working_days:``,
  Monday to Friday by default, less ``holidays:`` and ``holidays_from:``); the other days get 0. A range
  with no working day at all shares among all its days, so the shares of a record always add up to its
  number.
  ``by: calendar_days`` shares equally among all days.
- A record without a range (a start or end missing, the end before the start, or more than
  ``max_days`` days) stays one row with ``day`` empty and its numbers whole: nothing disappears.

The SQL takes every setting as a bound parameter (the zone, weekdays, holiday dates, the limit) and
quotes every column name; it is one SELECT over the input (and the holidays' input) like other steps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator

from .dates import WEEKDAYS
from .model import Strict
from .steps_base import ColumnName, Compiled, Context, OneInput, Probe, StepName, family, quote, unique

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MON_TO_FRI: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class HolidayColumn(Strict):
    """``{from: <source or step>, column: <date column>}``: every date in that column is a day off."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: StepName = Field(alias="from")
    column: ColumnName


class SplitDays(OneInput):
    """One row per day from ``start`` to ``end``, with the ``share`` columns divided among the days."""

    start: ColumnName
    end: ColumnName
    inclusive_end: bool | None = None  # unset: true for dates, false for timestamps
    # [col, ...]: each replaced by the day's part; {col: new_name}: the part in a new column, col kept
    share: list[ColumnName] | dict[ColumnName, ColumnName] = []
    by: Literal["working_days", "calendar_days"] = "working_days"
    working_days: Annotated[list[Weekday], Field(min_length=1)] = list(MON_TO_FRI)
    holidays: list[dt.date] = []  # days off besides the weekdays not listed...
    holidays_from: HolidayColumn | None = None  # ... and the dates in a column of another input
    timezone: str | None = None  # unset: the flow's (its schedule's timezone, else UTC)
    timezone_column: ColumnName | None = None  # each row's own zone; empty or unknown: timezone's
    day_column: ColumnName = "day"
    working_day_column: ColumnName | None = "working_day"  # null: no such column
    max_days: Annotated[int, Field(ge=1, le=36600)] = 3660  # longer ranges are not split (see docstring)

    @field_validator("share", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        # Checked first, so that a wrong shape gets one plain message rather than one per accepted form.
        value = [value] if isinstance(value, str) else value
        named = (
            value.items()
            if isinstance(value, dict)
            else [(v, v) for v in value]
            if isinstance(value, list)
            else [(None, None)]
        )
        if not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in named):
            raise ValueError(
                "share names number columns: [count_days, count_hours] (each replaced by the day's part) "
                "or {count_hours: hours_that_day} (the part in a new column)"
            )
        return value

    @field_validator("share")
    @classmethod
    def _distinct_share(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unique([v.lower() for v in value.values()], "new column")
            return value
        return unique(value, "column")

    @field_validator("working_days")
    @classmethod
    def _distinct_days(cls, value: list[str]) -> list[str]:
        return unique(value, "day")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin or UTC"
                ) from None
        return value

    @model_validator(mode="after")
    def _names_apart(self) -> SplitDays:
        added = [self.day_column, *([self.working_day_column] if self.working_day_column else [])]
        if isinstance(self.share, dict):
            added += list(self.share.values())
        lower = [a.lower() for a in added]
        twice = next((a for i, a in enumerate(added) if a.lower() in lower[:i]), None)
        if twice is not None:
            raise ValueError(
                f"'{twice}' would be added twice (day_column, working_day_column and new share columns "
                "need distinct names)"
            )
        return self

    def reads(self) -> list[tuple[list[Any], str]]:
        reads = [(["from"], self.from_)]
        if self.holidays_from is not None:
            reads.append((["holidays_from", "from"], self.holidays_from.from_))
        return reads

    def shares(self) -> list[tuple[str, str]]:
        """(column shared, column holding the day's part) per ``share`` entry."""
        if isinstance(self.share, dict):
            return list(self.share.items())
        return [(c, c) for c in self.share]


# Internal names: never an API field's; the input's columns are listed by name in the final SELECT.
_IN, _CONST = '"__couplet_in"', '"__couplet_const"'
_ZONE, _ROWZONE, _WEEKDAYS, _HOLIDAYS, _MAX = (
    '"__couplet_zone"',
    '"__couplet_rowzone"',
    '"__couplet_weekdays"',
    '"__couplet_holidays"',
    '"__couplet_max"',
)
_FIRST, _LAST, _VALID, _N, _NWORK, _K, _DAY = (
    '"__couplet_first"',
    '"__couplet_last"',
    '"__couplet_valid"',
    '"__couplet_n"',
    '"__couplet_nwork"',
    '"__couplet_k"',
    '"__couplet_day"',
)


def _time_kind(type_: str) -> str | None:
    """``date``, ``instant`` (with a zone: converted to the flow's), ``local`` (a wall-clock time) or None."""
    if type_ == "DATE":
        return "date"
    if type_ == "TIMESTAMP WITH TIME ZONE":
        return "instant"
    if type_.startswith("TIMESTAMP"):
        return "local"
    return None


def _local(column: str, kind: str) -> str:
    if kind == "instant":
        return f"timezone({_ROWZONE}, {quote(column)})"
    return f"CAST({quote(column)} AS TIMESTAMP)"


def _working(day: str) -> str:
    return f"(list_contains({_WEEKDAYS}, isodow({day})) AND NOT list_contains({_HOLIDAYS}, {day}))"


@dataclass(frozen=True)
class _Range:
    first: str  # SQL: the first local day
    last: str  # SQL: the last local day (may be before first: see greatest() in the SQL)
    valid: str  # SQL: true when the record has a range at all
    zone: str  # SQL: the zone each row's timestamps are seen in
    probes: tuple[Probe, ...] = ()


def _range(ctx: Context, spec: SplitDays) -> _Range:
    """Where a record's days start and end, checked: dates with dates, timestamps with timestamps."""
    kinds: dict[str, tuple[str, str]] = {}
    for key, column in (("start", spec.start), ("end", spec.end)):
        type_ = ctx.column([key], spec.from_, column)
        kind = _time_kind(type_)
        if kind is None:
            raise ctx.error(
                [key],
                f"{key} needs a date or timestamp column, and '{column}' is {type_}; "
                f"derive one first, e.g. CAST({column} AS DATE)",
            )
        kinds[key] = (kind, type_)
    (skind, stype), (ekind, etype) = kinds["start"], kinds["end"]
    if (skind == "date") != (ekind == "date"):
        raise ctx.error(
            ["end"],
            f"'{spec.start}' is {stype} but '{spec.end}' is {etype}; make both dates or both timestamps "
            "with a derive step first",
        )
    if skind == "date":
        for key in ("timezone", "timezone_column"):
            if getattr(spec, key) is not None:
                raise ctx.error(
                    [key],
                    f"'{spec.start}' and '{spec.end}' are dates, which have no time zone; remove {key}:",
                )
        first, end = quote(spec.start), quote(spec.end)
        inclusive = spec.inclusive_end is not False
        return _Range(first, end if inclusive else f"{end} - 1", f"{end} >= {first}", _ZONE)
    zone = _ZONE
    probes = []
    if spec.timezone_column is not None:
        column = spec.timezone_column
        type_ = ctx.column(["timezone_column"], spec.from_, column)
        if type_ != "VARCHAR":
            raise ctx.error(["timezone_column"], f"'{column}' is {type_}, not a time zone name (text)")
        # A zone DuckDB does not know (or none) falls back to the flow's rather than failing the run.
        known = f"{quote(column)} IN (SELECT name FROM pg_timezone_names())"
        zone = f"CASE WHEN {known} THEN {quote(column)} ELSE {_ZONE} END"
    if "instant" in (skind, ekind):
        probes.append(
            Probe(
                ctx.path(*(["timezone"] if spec.timezone else [])),
                "SELECT timezone(CAST(? AS VARCHAR), TIMESTAMPTZ '2000-01-01 00:00:00+00')",
                (_zone_name(ctx, spec),),
                hint="name an IANA time zone such as Europe/Berlin",
            )
        )
    start, end = _local(spec.start, skind), _local(spec.end, ekind)
    # [start, end): an end at local midnight belongs to the day before, unless the end is inclusive
    last = f"CAST({end} AS DATE)" if spec.inclusive_end else f"CAST({end} - INTERVAL 1 MICROSECOND AS DATE)"
    return _Range(f"CAST({start} AS DATE)", last, f"{end} >= {start}", zone, tuple(probes))


def _zone_name(ctx: Context, spec: SplitDays) -> str:
    return spec.timezone or ctx.zone


def _holidays(ctx: Context, spec: SplitDays) -> tuple[list[dt.date], str]:
    """(``holidays`` bound as a parameter, SQL listing the dates of ``holidays_from``)."""
    dates = sorted(set(spec.holidays))
    if spec.holidays_from is None:
        return dates, "CAST([] AS DATE[])"
    hol = spec.holidays_from
    type_ = ctx.column(["holidays_from", "column"], hol.from_, hol.column)
    if type_ != "DATE":
        raise ctx.error(
            ["holidays_from", "column"],
            f"holidays need a DATE column, and '{hol.column}' of '{hol.from_}' is {type_}; "
            f"derive one first, e.g. CAST({hol.column} AS DATE)",
        )
    col = quote(hol.column)
    return dates, (
        f"(SELECT coalesce(list({col}) FILTER (WHERE {col} IS NOT NULL), CAST([] AS DATE[])) "
        f"FROM {quote(hol.from_)})"
    )


def _outputs(ctx: Context, spec: SplitDays) -> list[str]:
    """The SELECT list: the input's columns (shares in place), new share columns, day, working_day."""
    schema = ctx.schemas[spec.from_]
    existing = {c.lower(): c for c, _ in schema}
    in_place: set[str] = set()
    added: list[tuple[str, str]] = []
    for i, (column, target) in enumerate(spec.shares()):
        tail = ["share", column] if isinstance(spec.share, dict) else ["share", i]
        type_ = ctx.column(tail, spec.from_, column)
        if family(type_) != "number":
            raise ctx.error(
                tail,
                f"share divides numbers, and '{column}' is {type_}; derive a number first, "
                f"e.g. CAST({column} AS DOUBLE)",
            )
        if column == target:
            in_place.add(column)
        elif target.lower() in existing:
            raise ctx.error(
                tail, f"'{spec.from_}' already has a column '{existing[target.lower()]}'; choose another name"
            )
        else:
            added.append((column, target))
    for key, name in (("day_column", spec.day_column), ("working_day_column", spec.working_day_column)):
        if name is not None and name.lower() in existing:
            raise ctx.error(
                [key],
                f"'{spec.from_}' already has a column '{existing[name.lower()]}'; set {key}: to another name",
            )

    def part(column: str) -> str:
        value = f"CAST({quote(column)} AS DOUBLE)"
        share = f"{value} / {_N}"
        if spec.by == "working_days":  # a range without a working day shares among all its days
            share = (
                f"CASE WHEN {_NWORK} = 0 THEN {share} WHEN {_working(_DAY)} THEN {value} / {_NWORK} "
                f"ELSE {value} * 0 END"
            )
        return f"CASE WHEN {_DAY} IS NULL THEN {value} ELSE {share} END"

    select = [f"{part(c)} AS {quote(c)}" if c in in_place else quote(c) for c, _ in schema]
    select += [f"{part(c)} AS {quote(t)}" for c, t in added]
    select.append(f"{_DAY} AS {quote(spec.day_column)}")
    if spec.working_day_column is not None:
        select.append(f"{_working(_DAY)} AS {quote(spec.working_day_column)}")
    return select


def compile_split_days(ctx: Context, spec: SplitDays) -> Compiled:
    """SQL for ``split_days``: settings -> each record's first and last day -> day numbers -> a row each."""
    bounds = _range(ctx, spec)
    hol_dates, hol_query = _holidays(ctx, spec)
    select = _outputs(ctx, spec)
    weekdays = [WEEKDAYS.index(d) + 1 for d in spec.working_days]  # isodow: Monday = 1
    numbers = f"range({_N})"
    working = _working(f"{_FIRST} + CAST(__couplet_i AS INTEGER)")
    sql = (
        f"WITH {_CONST} AS (SELECT CAST(? AS VARCHAR) AS {_ZONE}, CAST(? AS INTEGER[]) AS {_WEEKDAYS}, "
        f"list_distinct(list_concat(CAST(? AS DATE[]), {hol_query})) AS {_HOLIDAYS}, "
        f"CAST(? AS BIGINT) AS {_MAX}), "
        f'"__couplet_zoned" AS (SELECT {_IN}.*, {_CONST}.*, {bounds.zone} AS {_ROWZONE} '
        f"FROM {quote(spec.from_)} AS {_IN} CROSS JOIN {_CONST}), "
        f'"__couplet_bounds" AS (SELECT *, {bounds.first} AS {_FIRST}, '
        f"greatest({bounds.first}, {bounds.last}) AS {_LAST}, coalesce({bounds.valid}, false) AS {_VALID} "
        f'FROM "__couplet_zoned"), '
        f'"__couplet_ranges" AS (SELECT *, CASE WHEN {_VALID} AND {_LAST} - {_FIRST} < {_MAX} '
        f'THEN {_LAST} - {_FIRST} + 1 END AS {_N} FROM "__couplet_bounds"), '
        f'"__couplet_numbered" AS (SELECT *, len(list_filter({numbers}, lambda __couplet_i: {working})) '
        f"AS {_NWORK}, unnest(CASE WHEN {_N} IS NULL THEN [NULL] ELSE {numbers} END) AS {_K} "
        f'FROM "__couplet_ranges"), '
        f'"__couplet_days" AS (SELECT *, {_FIRST} + CAST({_K} AS INTEGER) AS {_DAY} '
        f'FROM "__couplet_numbered") '
        f'SELECT {", ".join(select)} FROM "__couplet_days"'
    )
    params = (_zone_name(ctx, spec), weekdays, hol_dates, spec.max_days)
    return Compiled(sql, params, bounds.probes)
