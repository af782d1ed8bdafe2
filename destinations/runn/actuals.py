"""Actuals: the source's time, one Runn actual per person × project × role × day, in minutes.

The rows are time entries (or anything finer than a day): they are summed per person, project and
day, billable and non-billable minutes apart (``billableMinutes``/``nonbillableMinutes`` of one
actual), rounded to whole minutes once summed, notes joined. Runn's ``POST /actuals/bulk/``
*overwrites* the day for the same person/project/role/workstream (reference §6.5), so the writer
always sends the day's total: a re-run sends the same totals and never doubles them. That is also why
the rows must hold every entry of each day they touch (``mode: upsert``, never append).

Before sending, each day is resolved in Runn:

* the person and the project by their external references (as the people and projects targets
  wrote them); missing or ambiguous: skipped with the reason, never dropped silently;
* the role: the person's current role in Runn (from the roles' ``personIds``, else the person's
  current contract). A person whose role is "Unknown" (or who has none) gets no actuals, as in Runn's
  own integrations: the days are skipped until someone gives them a real role;
* the day already in Runn (``GET /actuals/`` over the dates sent): equal totals are unchanged and not
  sent; different ones are updated unless ``update: false``.

What is sent goes in bulk requests of at most 100 actuals. Should Runn refuse a bulk request, its
actuals are sent one by one (``POST /actuals/``), so one bad day does not hold back the others; the
ones refused are reported as failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .client import ItemRejected, RunnClient
from .columns import Rows
from .matching import Index, ReferenceNames, one
from .report import Entry, Report
from .targets import UNKNOWN_ROLE, person_roles

BULK_MAX = 100  # the spec's maxItems of POST /actuals/bulk/
Record = dict[str, Any]
DayKey = tuple[str, str, str, dt.date]  # tool, person id, project id, day (source ids)


@dataclass
class Day:
    billable: float = 0.0
    nonbillable: float = 0.0
    billable_notes: list[str] = field(default_factory=list)
    nonbillable_notes: list[str] = field(default_factory=list)
    rows: int = 0


def days_of(rows: Rows) -> dict[DayKey, Day]:
    """The rows summed per tool, person, project and day (minutes; hours x 60)."""
    days: dict[DayKey, Day] = {}
    for row in rows.items:
        key = (row["source"], row["person_id"], row["project_id"], row["date"])
        day = days.setdefault(key, Day())
        minutes = row["minutes"] if rows.has("minutes") else (row["hours"] or 0.0) * 60
        minutes = minutes or 0.0
        note = row.get("note")
        day.rows += 1
        if row["billable"]:
            day.billable += minutes
            if note and note not in day.billable_notes:
                day.billable_notes.append(note)
        else:
            day.nonbillable += minutes
            if note and note not in day.nonbillable_notes:
                day.nonbillable_notes.append(note)
    return days


class Resolver:
    """Source person/project ids -> Runn ids, and a person's current role, each looked up once."""

    def __init__(
        self, runn: RunnClient, names: ReferenceNames, people: Index, projects: Index, roles: Index
    ) -> None:
        self.runn, self.names = runn, names
        self.people, self.projects, self.roles = people, projects, roles
        self.current = person_roles(roles)
        self._role_of: dict[int, int | None] = {}

    def find(self, index: Index, what: str, tool: str, ident: str) -> tuple[int | None, str | None]:
        ref = self.names.ref(tool, ident)
        item, ambiguous = one(index.find(ref), ref, what)
        if ambiguous:
            return None, ambiguous
        if item is None:
            noun = "person" if what == "people" else "project"
            return None, f"{noun} {ident} ({ref.name}) is not in Runn: write the {what} target first"
        return int(item["id"]), None

    async def role(self, person_id: int) -> tuple[int | None, str | None]:
        """The person's current role id, or why their time cannot be sent."""
        if person_id not in self._role_of:
            role_id = self.current.get(person_id)
            if role_id is None:
                contract = await self.runn.get(f"/people/{person_id}/contracts/current")
                role_id = contract.get("roleId") if isinstance(contract, dict) else None
            self._role_of[person_id] = role_id
        role_id = self._role_of[person_id]
        if role_id is None:
            return None, "the person has no current role (contract) in Runn"
        role = self.roles.by_id.get(role_id)
        if role is not None and str(role.get("name") or "").strip().casefold() == UNKNOWN_ROLE.casefold():
            return None, "the person's role in Runn is Unknown: give them a real role in Runn, then run again"
        return role_id, None


async def sync_actuals(
    runn: RunnClient, rows: Rows, names: ReferenceNames, report: Report, update: bool
) -> None:
    days = days_of(rows)
    if not days:
        return
    resolver = Resolver(
        runn,
        names,
        Index(await runn.list_all("/people/")),
        Index(await runn.list_all("/projects/")),
        Index(await runn.list_all("/roles/")),
    )
    skipped: dict[tuple[str, str, str, str], Entry] = {}
    merged: dict[tuple[Any, ...], tuple[DayKey, Record]] = {}
    for key, day in sorted(days.items()):
        actual, reason = await _actual(resolver, key, day, rows.has("note"))
        if reason is not None:
            _skip_day(skipped, key, day, reason)
            continue
        assert actual is not None
        first = merged.get(_key(actual))
        if first is None:
            merged[_key(actual)] = (key, actual)
        else:  # two source ids on one Runn person (or project): one actual, or the second would overwrite
            for minutes in ("billableMinutes", "nonbillableMinutes"):
                first[1][minutes] += actual[minutes]
    ready = list(merged.values())
    existing = await _existing(runn, [a for _, a in ready])
    send: list[tuple[Record, Entry]] = []
    for key, actual in ready:
        entry: Entry = {"source": key[0], "person_id": key[1], "project_id": key[2], "date": key[3].isoformat(),
                        "billableMinutes": actual["billableMinutes"], "nonbillableMinutes": actual["nonbillableMinutes"]}  # fmt: skip
        before = existing.get(_key(actual))
        if before is None:
            if actual["billableMinutes"] == 0 and actual["nonbillableMinutes"] == 0:
                _skip_day(skipped, key, days[key], "0 minutes that day and nothing in Runn: nothing to send")
                continue
            send.append((actual, {**entry, "action": "create"}))
            continue
        was = {k: before.get(k) for k in actual if k in _COMPARED}
        if all(_same(before.get(k), actual[k]) for k in was):
            report.unchanged += 1
        elif not update:
            _skip_day(skipped, key, days[key], "differs from Runn's actual; not updated (update: false)")
        else:
            send.append((actual, {**entry, "action": "update", "runn_before": was}))
    report.skipped.extend(skipped.values())
    report.extra["actuals_to_send"] = len(send)
    if report.dry_run:
        _record(report, [e for _, e in send])
    else:
        report.extra["bulk_requests"] = await _send(runn, send, report)
    done = [*report.created, *report.updated]  # what Runn took (in a dry run: what it would take)
    minutes = sum(e["billableMinutes"] + e["nonbillableMinutes"] for e in done)
    report.extra["minutes_to_send" if report.dry_run else "minutes_sent"] = minutes


_COMPARED = ("billableMinutes", "nonbillableMinutes", "billableNote", "nonbillableNote")


def _same(runn: Any, ours: Any) -> bool:
    if isinstance(runn, int | float) and isinstance(ours, int | float):
        return float(runn) == float(ours)
    return bool((runn or None) == (ours or None))


async def _actual(resolver: Resolver, key: DayKey, day: Day, notes: bool) -> tuple[Record | None, str | None]:
    tool, person, project, date = key
    person_id, reason = resolver.find(resolver.people, "people", tool, person)
    if person_id is None:
        return None, reason
    project_id, reason = resolver.find(resolver.projects, "projects", tool, project)
    if project_id is None:
        return None, reason
    role_id, reason = await resolver.role(person_id)
    if role_id is None:
        return None, reason
    actual: Record = {
        "date": date.isoformat(),
        "billableMinutes": round(day.billable),
        "nonbillableMinutes": round(day.nonbillable),
        "personId": person_id,
        "projectId": project_id,
        "roleId": role_id,
    }
    if notes:  # only a note column makes notes ours; without it Runn's notes are left out of the body
        actual["billableNote"] = "\n".join(day.billable_notes) or None
        actual["nonbillableNote"] = "\n".join(day.nonbillable_notes) or None
        actual = {k: v for k, v in actual.items() if v is not None}
    return actual, None


def _key(actual: Record) -> tuple[Any, ...]:
    return (
        actual["personId"],
        actual["projectId"],
        actual["roleId"],
        actual.get("workstreamId"),
        actual["date"],
    )


async def _existing(runn: RunnClient, actuals: list[Record]) -> dict[tuple[Any, ...], Record]:
    """Runn's actuals over the days being sent, by their overwrite key."""
    if not actuals:
        return {}
    dates = [a["date"] for a in actuals]
    found = await runn.list_all("/actuals/", {"minDate": min(dates), "maxDate": max(dates)})
    return {_key(a): a for a in found}


def _skip_day(skipped: dict[tuple[str, str, str, str], Entry], key: DayKey, day: Day, reason: str) -> None:
    """Skipped days, one entry per person, project and reason (with how many days and minutes)."""
    tool, person, project, date = key
    entry = skipped.setdefault(
        (tool, person, project, reason),
        {"source": tool, "person_id": person, "project_id": project, "days": 0, "minutes": 0,
         "first_date": date.isoformat(), "last_date": date.isoformat(), "reason": reason},
    )  # fmt: skip
    entry["days"] += 1
    entry["minutes"] += round(day.billable + day.nonbillable)
    entry["first_date"] = min(entry["first_date"], date.isoformat())
    entry["last_date"] = max(entry["last_date"], date.isoformat())


def _record(report: Report, entries: list[Entry]) -> None:
    for e in entries:
        (report.created if e["action"] == "create" else report.updated).append(e)


def _chunks(items: list[Any], size: int = BULK_MAX) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def _send(runn: RunnClient, send: list[tuple[Record, Entry]], report: Report) -> int:
    """Bulk requests of at most 100; a refused bulk is sent one by one. Returns the bulk requests made."""
    requests = 0
    for chunk in _chunks(send):
        requests += 1
        try:
            await runn.post("/actuals/bulk/", {"actuals": [a for a, _ in chunk]})
        except ItemRejected as exc:
            report.notes.append(
                f"a bulk request of {len(chunk)} actuals was refused ({exc}); sent one by one"
            )
            for actual, entry in chunk:
                try:
                    await runn.post("/actuals/", actual)
                except ItemRejected as one_exc:
                    report.fail(entry, str(one_exc))
                    continue
                _record(report, [entry])
            continue
        _record(report, [e for _, e in chunk])
    return requests
