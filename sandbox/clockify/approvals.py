"""Approval requests (reference §4.11): weekly timesheets submitted for approval, derived from entries.

The agency switched approvals on eight weeks before the anchor: every person employed in a week has
one request per week (Monday to Sunday in their time zone). Older weeks are APPROVED by the team lead
(the owner approves leads), a few withdrawn (WITHDRAWN_APPROVAL), last week's are PENDING. Times and
amounts are summed from the same entries the time-entry endpoints serve, admin edits included.
Only PENDING, APPROVED and WITHDRAWN_APPROVAL are listable (PROBES); amounts are in cents.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sandbox.clockify.entries import TimeEntries, seconds_of
from sandbox.clockify.ids import Ids, day_bounds_utc, duration, parse_instant, utc, zone
from sandbox.clockify.params import Params, bad_request, page_of
from sandbox.clockify.store import Store
from sandbox.org import Org, day_ts, mix

Record = dict[str, Any]
WEEKS = 8
LISTABLE = ("PENDING", "APPROVED", "WITHDRAWN_APPROVAL")
SORT = ("ID", "USER_ID", "START", "UPDATED_AT")


def week_number(monday: date) -> int:
    return (monday - date(2000, 1, 3)).days // 7


class Approvals:
    """The generated approval requests and their rendering."""

    def __init__(self, org: Org, ids: Ids, ws: str, entries: TimeEntries, store: Store) -> None:
        self.org, self.ids, self.ws, self.entries = org, ids, ws, entries
        self.dims, self.get = store.dims, store.get
        leads = {t.id: t.leader_id for t in org.teams}
        this_monday = org.anchor - timedelta(days=org.anchor.weekday())
        self.by_week: dict[tuple[int, date], tuple[int, str, int]] = {}  # -> (number, state, approver)
        for w in range(WEEKS, 0, -1):
            monday = this_monday - timedelta(weeks=w)
            for p in org.people:
                if not (p.employed(monday) or p.employed(monday + timedelta(days=6))):
                    continue
                n = week_number(monday) * 10_000 + p.id
                state = "PENDING" if w == 1 else "WITHDRAWN_APPROVAL" if mix(n) % 12 == 0 else "APPROVED"
                lead = leads.get(p.team_id) if p.team_id else None
                approver = lead if lead and lead != p.id else org.people[0].id
                self.by_week[(p.id, monday)] = (n, state, approver)

    def for_entry(self, user_id: int | None, start: int, tz_name: str) -> tuple[str, str] | None:
        """(approval request id, state) covering an entry, or None."""
        if user_id is None:
            return None
        local = datetime.fromtimestamp(start, zone(tz_name)).date()
        got = self.by_week.get((user_id, local - timedelta(days=local.weekday())))
        return None if got is None else (self.ids("approval_request", got[0]), got[1])

    def listing(self, ws: str, q: Params) -> tuple[list[Record], bool]:
        page, size = q.paging()
        status = q.enum("status", ("PENDING", "APPROVED", "WITHDRAWN_APPROVAL", "WITHDRAWN_SUBMISSION",
                                   "REJECTED"), "PENDING")  # fmt: skip
        if status not in LISTABLE:
            raise bad_request(
                f"Status {status} is not supported; use PENDING, APPROVED or WITHDRAWN_APPROVAL"
            )
        column = q.enum("sort-column", SORT, "START")
        desc = q.enum("sort-order", ("ASCENDING", "DESCENDING"), "DESCENDING") == "DESCENDING"
        if ws != self.ws:
            return [], True
        keys = [(k, v) for k, v in self.by_week.items() if v[1] == status]
        users = {u["id"]: u for u in self.dims("users")}
        keys = [(k, v) for k, v in keys if self.ids("user", k[0]) in users]

        def order(item: tuple[tuple[int, date], tuple[int, str, int]]) -> Any:
            (uid, monday), (n, _, _) = item
            return {"ID": (n,), "USER_ID": (self.ids("user", uid), monday), "START": (monday, uid),
                    "UPDATED_AT": (self._updated(monday, status), n)}[column or "START"]  # fmt: skip

        keys.sort(key=order, reverse=desc)
        chunk, last = page_of(keys, page, size)
        return [self.render(uid, monday, n, state, approver, users) for (uid, monday), (n, state, approver)
                in chunk], last  # fmt: skip

    def _updated(self, monday: date, state: str) -> int:
        days = 7 if state == "PENDING" else 9  # submitted on Monday, decided on the Wednesday after
        return day_ts(monday + timedelta(days=days)) + 9 * 3600

    def render(
        self, uid: int, monday: date, n: int, state: str, approver: int, users: dict[str, Record]
    ) -> Record:
        ids = self.ids
        user = users[ids("user", uid)]
        tz_name = user["settings"]["timeZone"]
        tz = zone(tz_name)
        boss = users.get(ids("user", approver), user)
        start, end = day_bounds_utc(monday, monday + timedelta(days=6), tz)
        items = self.entries.of_user_days(self.ws, uid, monday, monday + timedelta(days=6), tz)
        rows = [self.entries.wire(x) for x in items]
        rows = [r for r in rows if r["timeInterval"].get("end") is not None]
        tracked = sum(seconds_of(r["timeInterval"]) or 0 for r in rows)
        billable = sum(seconds_of(r["timeInterval"]) or 0 for r in rows if r.get("billable"))
        earned = sum(_money(r, "hourlyRate") for r in rows if r.get("billable"))
        cost = sum(_money(r, "costRate") for r in rows)
        expenses = [
            e for e in self.dims("expenses")
            if e.get("userId") == user["id"] and monday.isoformat() <= str(e.get("date"))[:10]
            <= (monday + timedelta(days=6)).isoformat()
        ]  # fmt: skip
        updated = None if state == "PENDING" else self._updated(monday, state)
        return {
            "approvalRequest": {
                "id": ids("approval_request", n), "workspaceId": self.ws, "dateRange": {"start": start, "end": end},
                "owner": {"userId": user["id"], "userName": user["name"], "timeZone": tz_name,
                          "startOfWeek": user["settings"].get("weekStart", "MONDAY")},
                "creator": {"userId": user["id"], "userName": user["name"], "userEmail": user["email"]},
                "status": {"state": state, "note": "Thanks!" if state == "APPROVED" and n % 5 == 0 else None,
                           "updatedAt": utc(updated if updated else self._updated(monday, "PENDING")),
                           "updatedBy": boss["id"] if updated else user["id"],
                           "updatedByUserName": boss["name"] if updated else user["name"]},
            },
            "approvedTime": duration(tracked if state == "APPROVED" else 0),
            "billableTime": duration(billable), "breakTime": "PT0S",
            "pendingTime": duration(tracked if state == "PENDING" else 0), "trackedTime": duration(tracked),
            "billableAmount": earned, "costAmount": cost,
            "expenseTotal": float(sum(int(e.get("total") or 0) for e in expenses)),
            "entries": [self._entry(r, tz) for r in rows],
            "expenses": [{**e, "approvalStatus": state, "approvalRequestId": ids("approval_request", n),
                          "currency": "EUR", "fileUrl": ""} for e in expenses],
        }  # fmt: skip

    def _entry(self, r: Record, tz: Any) -> Record:
        project = self.get("projects", r.get("projectId"))
        task = self.get("tasks", r.get("taskId"))
        tags = {t["id"]: t["name"] for t in self.dims("tags")}
        interval = r["timeInterval"]
        s, e = parse_instant(interval["start"]), parse_instant(interval["end"])
        zs, ze = datetime.fromtimestamp(s, tz), datetime.fromtimestamp(e, tz)
        return {
            "id": r["id"], "description": r.get("description"), "billable": r.get("billable"),
            "type": r.get("type"), "isLocked": r.get("isLocked"),
            "project": None if project is None else {"id": project["id"], "name": project["name"],
                                                     "color": project["color"], "clientId": project["clientId"],
                                                     "clientName": project["clientName"]},
            "task": None if task is None else {"id": task["id"], "name": task["name"]},
            "tags": [{"id": t, "name": tags.get(t)} for t in r.get("tagIds") or ()],
            "timeInterval": {**interval, "zonedStart": zs.replace(tzinfo=None).isoformat(),
                             "zonedEnd": ze.replace(tzinfo=None).isoformat(),
                             "offsetStart": int(zs.utcoffset().total_seconds()),  # type: ignore[union-attr]
                             "offsetEnd": int(ze.utcoffset().total_seconds())},  # type: ignore[union-attr]
            "hourlyRate": r.get("hourlyRate"), "costRate": r.get("costRate"),
            "customFieldValues": r.get("customFieldValues", []),
        }  # fmt: skip


def _money(r: Record, field: str) -> float:
    """Cents earned (or cost) by an entry at its rate."""
    amount = (r.get(field) or {}).get("amount") or 0
    seconds = seconds_of(r["timeInterval"]) or 0
    return round(amount * seconds / 3600, 2)
