"""Derived endpoints: `GET /v2/workTimes` and `GET /userreports`, computed from entries and absences.

Both read the same data the listings serve (admin edits included), so a work-time interval always
covers entries, and a user report's `sum_hours` equals the summed durations of that person's time
entries in the year. Days are the person's local calendar days (clockodo.md §4.2: day-based data is
in the user's time zone, entry timestamps are UTC): an entry counts, whole, on the local day its
`time_since` falls on (how the real API splits one crossing midnight is not documented). A day's
`hours` is in seconds like every user-report sum (§2). Sums cover days before the anchor ("today");
later days have targets only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.clockodo.entries import Entries, parse_ts
from sandbox.clockodo.params import ApiError, Query, general_error, paging
from sandbox.common import SandboxState, iso_utc

Record = dict[str, Any]
ABSENCE_KEYS = (
    "regular_holidays", "sick_self", "sick_child", "special_leaves", "school", "maternity_protection",
    "home_office", "out_of_office", "quarantine", "military_service",
)  # fmt: skip
TYPE_KEY = {
    1: "regular_holidays", 2: "special_leaves", 10: "special_leaves", 4: "sick_self", 11: "sick_self",
    15: "sick_self", 5: "sick_child", 12: "sick_child", 6: "school", 7: "maternity_protection",
    8: "home_office", 9: "out_of_office", 13: "quarantine", 14: "military_service",
}  # fmt: skip
WORKED_ABSENCES = {8, 9}  # home office and out of office are worked days: the target stays
SURCHARGE_KEYS = ("saturday", "sunday", "nonbusiness", "nonbusiness_special", "night", "night_increased")


def intervals(rows: list[Record]) -> list[tuple[int, int | None]]:
    """Worked intervals of a day: time entries merged where they touch; an open end stays open."""
    spans = sorted(
        (parse_ts(r["time_since"]) or 0, parse_ts(r.get("time_until"))) for r in rows if r.get("type", 1) == 1
    )
    merged: list[tuple[int, int | None]] = []
    for start, end in spans:
        if merged and (last := merged[-1])[1] is not None and start <= last[1]:
            merged[-1] = (last[0], None if end is None else max(end, last[1]))
        elif not merged or merged[-1][1] is not None:
            merged.append((start, end))
    return merged


def work_times(state: SandboxState, entries: Entries, q: Query, principal: Any) -> Record:
    since, until = q.day("date_since"), q.day("date_until")
    users_id = q.integer("users_id", required=True)
    assert since is not None and until is not None and users_id is not None
    if until < since:
        raise q.error("date_until")
    if users_id not in state.org.person_by_id:
        raise ApiError(general_error(404, "ResourceNotFound", f"User {users_id} not found", "users_id"))
    if not principal.full_rights and users_id != principal.user_id:
        raise ApiError(general_error(403, "InsufficientRights", "Insufficient access rights"))
    page, size = q.page(), state.options.unsized_page_size
    days = []
    for i in range((until - since).days + 1):
        day = since + timedelta(days=i)
        spans = intervals(entries.of_user_day(users_id, day))
        if spans:
            days.append({
                "date": day.isoformat(), "users_id": users_id, "offset": 0,
                "intervals": [{"time_since": iso_utc(s), "time_until": iso_utc(e) if e else None} for s, e in spans],
            })  # fmt: skip
    return {"paging": paging(len(days), page, size), "work_time_days": days[(page - 1) * size : page * size]}


class UserReports:
    """`/userreports` per year; results are cached per (year, type, format, overlay version)."""

    def __init__(self, state: SandboxState, entries: Entries, dims: Callable[[str], list[Record]]) -> None:
        self.state, self.org, self.entries, self.dims = state, state.org, entries, dims
        self._cache: OrderedDict[tuple[Any, ...], list[Record]] = OrderedDict()

    def list(self, q: Query, principal: Any, iso: bool, users_id: int | None = None) -> list[Record]:
        year = q.integer("year", required=True)
        assert year is not None
        if not 1910 <= year <= self.org.anchor.year + 1:
            raise q.error("year")
        kind = q.integer("type") or 0
        if not 0 <= kind <= 4:
            raise q.error("type")
        first, last = date(year, 1, 1), date(year, 12, 31)
        people = [
            u for u in self.dims("users")
            if (p := self.org.person_by_id.get(u["id"])) and p.start_date <= last
            and (p.exit_date is None or p.exit_date >= first)
        ]  # fmt: skip
        if not principal.full_rights:
            people = [u for u in people if u["id"] == principal.user_id]
        if users_id is not None:
            people = [u for u in people if u["id"] == users_id]
        key = (year, kind, iso, self.state.overlay.version, tuple(u["id"] for u in people))
        if key not in self._cache:
            self._cache[key] = [self.report(u, year, kind, iso) for u in people]
            if len(self._cache) > 32:
                self._cache.popitem(last=False)
        return self._cache[key]

    def _absences(self, users_id: int) -> dict[date, Record]:
        out = {}
        for a in self.dims("absences"):
            if a.get("users_id") == users_id and a.get("status") == 1:
                start, end = date.fromisoformat(a["date_since"]), date.fromisoformat(a["date_until"])
                for i in range((end - start).days + 1):
                    out[start + timedelta(days=i)] = a
        return out

    def _per_year(self, entity: str, users_id: int, year: int, field: str) -> float:
        return sum(
            r[field] for r in self.dims(entity) if r.get("users_id") == users_id and r.get("year") == year
        )

    def report(self, user: Record, year: int, kind: int, iso: bool) -> Record:
        person = self.org.person_by_id[user["id"]]
        zone = ZoneInfo(person.timezone)

        def when(ts: int) -> str:  # legacy endpoints answer local time unless ISO UTC is asked for
            return iso_utc(ts) if iso else datetime.fromtimestamp(ts, UTC).astimezone(zone).strftime("%F %T")

        absences = self._absences(person.id)
        total = _Sums()
        months: list[Record] = []
        day = date(year, 1, 1)
        for month in range(1, 13):
            m_sums = _Sums()
            weeks: dict[int, tuple[_Sums, list[Record]]] = {}
            while day.month == month and day.year == year:
                d = self._day(person, day, absences.get(day), when, kind)
                for sums in (total, m_sums, weeks.setdefault(day.isocalendar()[1], (_Sums(), []))[0]):
                    sums.add(d)
                weeks[day.isocalendar()[1]][1].append(d)
                day += timedelta(days=1)
            month_row = {"nr": month, **m_sums.month()}
            if kind >= 2:
                month_row["week_details"] = [
                    {"nr": nr, **s.week(), **({"day_details": [x["row"] for x in days]} if kind >= 3 else {})}
                    for nr, (s, days) in weeks.items()
                ]
            months.append(month_row)
        quota_rows = [
            r for r in self.dims("holidays_quota")
            if r.get("users_id") == person.id and r["year_since"] <= year
            and (r.get("year_until") is None or r["year_until"] >= year)
        ]  # fmt: skip
        carryover = int(self._per_year("overtime_carries", person.id, year, "hours") * 3600)
        row = {
            "users_id": person.id, "users_name": user.get("name"), "users_number": user.get("number"),
            "users_email": user.get("email"), "sum_target": total.target, "sum_hours": total.hours,
            "sum_reduction_used": total.reduction, "sum_reduction_planned": total.planned,
            "overtime_carryover": carryover, "overtime_reduced": total.reduction,
            "diff": total.diff + carryover,
            "holidays_quota": quota_rows[-1]["count"] if quota_rows else 28.0,
            "holidays_carry": self._per_year("holidays_carries", person.id, year, "count"),
            "sum_absence": total.absence, "surcharges": total.surcharges, "workdays": total.workdays,
        }  # fmt: skip
        if kind >= 1:
            row["month_details"] = months
        return row

    def _day(
        self, person: Any, day: date, absence: Record | None, when: Callable[[int], str], kind: int
    ) -> Record:
        holiday = self.org.holiday_on.get(day)
        raw = int(person.hours_on(day) * 3600)
        target = 0 if holiday and not holiday.half_day else raw // 2 if holiday else raw
        counts = dict.fromkeys(ABSENCE_KEYS, 0.0)
        reduction = 0
        if absence and target:
            if absence.get("type") == 3:
                reduction = int((absence.get("count_hours") or 0) * 3600)
            elif absence.get("type") in TYPE_KEY:
                counts[TYPE_KEY[absence["type"]]] = 1.0 if target == raw else 0.5
                if absence["type"] not in WORKED_ABSENCES:
                    target = 0
        past = day < self.org.anchor
        rows = self.entries.of_user_day(person.id, day) if past else []
        spans = intervals(rows)
        hours = sum(r.get("duration") or 0 for r in rows if r.get("type", 1) == 1)
        surcharges = dict.fromkeys(SURCHARGE_KEYS, 0)
        if day.weekday() == 5:
            surcharges["saturday"] = hours
        if day.weekday() == 6:
            surcharges["sunday"] = hours
        if holiday:
            surcharges["nonbusiness"] = hours
        out: Record = {
            "date": day.isoformat(), "weekday": day.isoweekday(), "nonbusiness": holiday is not None,
            "count_absence": counts, "count_reduction_used": reduction, "target": target, "target_raw": raw,
            "surcharges": surcharges,
        }  # fmt: skip
        if past:
            out |= {"hours": hours, "hours_without_compensation": hours, "diff": hours - target}
        if kind >= 4:
            out["breaks"] = [
                {"since": when(a[1]), "until": when(b[0]), "length": b[0] - a[1]}
                for a, b in pairwise(spans)
                if a[1] is not None
            ]
            out["work_start"] = when(spans[0][0]) if spans else None
            out["work_end"] = when(spans[-1][1]) if spans and spans[-1][1] else None
        return {"row": out, "past": past, "target": target, "hours": hours, "reduction": reduction,
                "counts": counts, "surcharges": surcharges, "workday": raw > 0 and target > 0}  # fmt: skip


class _Sums:
    """Running sums of days for a week, a month or the year."""

    def __init__(self) -> None:
        self.target = self.hours = self.reduction = self.planned = self.diff = self.workdays = 0
        self.absence = dict.fromkeys(ABSENCE_KEYS, 0.0)
        self.surcharges = dict.fromkeys(SURCHARGE_KEYS, 0)

    def add(self, d: Record) -> None:
        self.target += d["target"]
        self.hours += d["hours"]
        self.workdays += d["workday"]
        if d["past"]:
            self.reduction += d["reduction"]
            self.diff += d["hours"] - d["target"]
        else:
            self.planned += d["reduction"]
        for k, v in d["counts"].items():
            self.absence[k] += v
        for k, v in d["surcharges"].items():
            self.surcharges[k] += v

    def month(self) -> Record:
        return {
            "sum_target": self.target, "sum_hours": self.hours, "sum_hours_without_compensation": self.hours,
            "sum_reduction_used": self.reduction, "sum_overtime_reduced": self.reduction, "diff": self.diff,
            "surcharges": dict(self.surcharges),
        }  # fmt: skip

    def week(self) -> Record:
        return {
            "sum_target": self.target, "sum_hours": self.hours, "sum_reduction_used": self.reduction,
            "diff": self.diff, "surcharges": dict(self.surcharges),
        }  # fmt: skip
