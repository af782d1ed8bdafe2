"""Holidays, time-off policies, requests and balances, scheduling assignments (reference §4.14-4.16).

The org's public holidays become workspace holidays (fixed dates recur annually, Easter-based and
one-off ones are set per year); its absences become time-off requests under one policy per absence
kind (home-office days are not time off in Clockify; they show in the "Work location" custom field of
time entries instead). Scheduling assignments plan each person on their projects week by week.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.clockify.ids import Ids, day_bounds_utc, utc, zone
from sandbox.org import Org, day_ts, mix

Record = dict[str, Any]
# absence kind -> (policy number, name, time unit, requires approval, negative balance allowed)
POLICIES = {
    "vacation": (1, "Vacation", "DAYS", True, False),
    "special_leave": (2, "Special leave", "DAYS", True, False),
    "sick": (3, "Sick leave", "DAYS", False, True),
    "sick_child": (4, "Sick child", "DAYS", False, True),
    "education": (5, "Education", "DAYS", True, False),
    "overtime_reduction": (6, "Overtime reduction", "HOURS", True, True),
}
ARCHIVED_POLICY = (7, "Sabbatical")
STATUS = {"requested": "PENDING", "approved": "APPROVED", "declined": "REJECTED"}
PLAN_WEEKS_BACK, PLAN_WEEKS_AHEAD = 12, 8


def holidays(org: Org, ids: Ids, ws: str) -> list[Record]:
    everyone = [ids("user", p.id) for p in org.people if p.active]
    years = (org.anchor.year - 1, org.anchor.year, org.anchor.year + 1)
    out = []
    for h in org.holidays:
        if h.kind == "fixed":
            dated = [(h.id * 10_000, h.date_in(org.anchor.year))]
        else:
            dated = [(h.id * 10_000 + y, d) for y in years if (d := h.date_in(y)) is not None]
        for n, d in dated:
            assert d is not None
            out.append({
                "id": ids("holiday", n), "name": h.name, "workspaceId": ws,
                "datePeriod": {"startDate": d.isoformat(), "endDate": d.isoformat()},
                "occursAnnually": h.kind == "fixed", "everyoneIncludingNew": True,
                "automaticTimeEntryCreation": False, "projectId": None, "taskId": None,
                "userIds": everyone, "userGroupIds": [],
            })  # fmt: skip
    return out


def occurrences(row: Record, first: date, last: date) -> list[Record]:
    """A holiday's occurrences within [first, last] (annual ones move to each year)."""
    start = date.fromisoformat(row["datePeriod"]["startDate"])
    end = date.fromisoformat(row["datePeriod"]["endDate"])
    years = range(first.year, last.year + 1) if row.get("occursAnnually") else [start.year]
    out = []
    for y in years:
        try:
            s, e = start.replace(year=y), end.replace(year=y + (end.year - start.year))
        except ValueError:  # 29 February
            continue
        if s <= last and e >= first:
            out.append({**row, "datePeriod": {"startDate": s.isoformat(), "endDate": e.isoformat()}})
    return out


def policies(org: Org, ids: Ids, ws: str) -> list[Record]:
    everyone = [ids("user", p.id) for p in org.people if p.active]
    rows = []
    for kind, (n, name, unit, approval, negative) in POLICIES.items():
        rows.append({
            "id": ids("policy", n), "name": name, "workspaceId": ws, "projectId": None, "timeUnit": unit,
            "archived": False, "allowHalfDay": kind == "vacation", "allowNegativeBalance": negative,
            "everyoneIncludingNew": True, "userIds": everyone, "userGroupIds": [],
            "approve": {"requiresApproval": approval, "specificMembers": False, "teamManagers": approval,
                        "userIds": []},
            "automaticAccrual": {"amount": 28, "period": "YEAR", "timeUnit": "DAYS"} if kind == "vacation" else None,
            "automaticTimeEntryCreation": {"enabled": False, "defaultEntities": None},
            "negativeBalance": {"amount": 5, "period": "YEAR", "shouldReset": True, "timeUnit": unit}
            if negative else None,
        })  # fmt: skip
    n, name = ARCHIVED_POLICY
    rows.append({**rows[1], "id": ids("policy", n), "name": name, "archived": True, "userIds": [],
                 "everyoneIncludingNew": False})  # fmt: skip
    return rows


def _amount(a: Any) -> float:
    return float(a.hours if a.kind == "overtime_reduction" else a.days or 0.0)


def time_off_requests(org: Org, ids: Ids, ws: str) -> list[Record]:
    used: dict[tuple[int, str, int], float] = defaultdict(float)
    out = []
    for a in sorted(org.absences, key=lambda a: (a.requested_on, a.id)):
        if a.kind not in POLICIES or a.requested_on >= org.anchor:  # not requested yet "today"
            continue
        n, name, unit, _, _ = POLICIES[a.kind]
        p = org.person_by_id[a.user_id]
        tz = zone(p.timezone)
        allowance = float(p.vacation_days) if a.kind == "vacation" else 0.0
        key = (a.user_id, a.kind, a.start.year)
        if a.status == "approved":
            used[key] += _amount(a)
        start, end = day_bounds_utc(a.start, a.end, tz)
        created = int(datetime(a.requested_on.year, a.requested_on.month, a.requested_on.day, 9,
                               tzinfo=tz).timestamp())  # fmt: skip
        approver = org.person_by_id.get(a.approved_by) if a.approved_by else None
        changed = a.approved_on or (a.requested_on + timedelta(days=2) if a.status == "declined" else None)
        out.append({
            "id": ids("time_off_request", a.id), "workspaceId": ws, "userId": ids("user", p.id),
            "userName": p.name, "userEmail": p.email, "userTimeZone": p.timezone, "policyId": ids("policy", n),
            "policyName": name, "requesterUserId": ids("user", p.id), "requesterUserName": p.name,
            "note": a.note or "", "createdAt": utc(created), "timeUnit": unit,
            "balance": allowance - used[key], "balanceDiff": _amount(a),
            "timeOffPeriod": {"period": {"start": start, "end": end}, "halfDay": False,
                              "halfDayPeriod": "NOT_DEFINED", "halfDayHours": None},
            "status": {
                "statusType": STATUS[a.status],
                "changedByUserId": ids("user", approver.id) if approver and a.status != "requested" else None,
                "changedByUserName": approver.name if approver and a.status != "requested" else None,
                "changedForUserName": p.name,
                "changedAt": utc(day_ts(changed) + 10 * 3600) if changed and a.status != "requested" else None,
                "note": None,
            },
        })  # fmt: skip
    return out


def balances(org: Org, ids: Ids, ws: str) -> list[Record]:
    """One balance per (policy, person) for the anchor's year."""
    year = org.anchor.year
    used: dict[tuple[int, str], float] = defaultdict(float)
    for a in org.absences:
        if a.kind in POLICIES and a.status == "approved" and a.start.year == year:
            used[(a.user_id, a.kind)] += _amount(a)
    out = []
    for kind, (n, name, unit, _, negative) in POLICIES.items():
        for p in org.people:
            total = float(p.vacation_days) if kind == "vacation" else 0.0
            spent = used[(p.id, kind)]
            out.append({
                "id": ids("balance", n * 100_000 + p.id), "userId": ids("user", p.id), "userName": p.name,
                "policyId": ids("policy", n), "policyName": name, "policyTimeUnit": unit, "policyArchived": False,
                "balance": total - spent, "used": spent, "total": total,
                "negativeBalanceAmount": max(0.0, spent - total) if negative else 0.0,
                "negativeBalanceLimit": 5.0 if negative else 0.0, "workspaceId": ws,
            })  # fmt: skip
    return out


def assignments(org: Org, ids: Ids, ws: str) -> list[Record]:
    """Weekly plans (Monday-Friday) from 12 weeks back to 8 weeks ahead of the anchor."""
    monday = org.anchor - timedelta(days=org.anchor.weekday())
    out = []
    for w in range(-PLAN_WEEKS_BACK, PLAN_WEEKS_AHEAD + 1):
        start = monday + timedelta(weeks=w)
        week = (start - date(2000, 1, 3)).days // 7
        for p in org.people[1:]:  # the owner plans, but is not planned
            if not (p.employed(start) and p.employed(start + timedelta(days=4))):
                continue
            running = [
                q
                for q in p.portfolio
                if org.project_by_id[q].billable and org.project_by_id[q].running(start)
            ]
            if not running:
                continue
            h = mix(p.id * 1_000_003 + week)
            picks = [running[h % len(running)]]
            if (h >> 8) % 3 == 0 and len(running) > 1:
                picks.append(running[(h // len(running) + 1) % len(running)])
            for k, pid in enumerate(dict.fromkeys(picks)):
                project = org.project_by_id[pid]
                out.append({
                    "id": ids("assignment", week * 100_000 + p.id * 10 + k), "userId": ids("user", p.id),
                    "userName": p.name, "projectId": ids("project", pid), "projectName": project.name,
                    "projectColor": "", "clientId": ids("client", project.client_id), "clientName": "",
                    "taskId": None, "taskName": None,
                    "period": {"start": utc(day_ts(start)), "end": utc(day_ts(start + timedelta(days=4)) + 86_399)},
                    "hoursPerDay": 8.0 if len(picks) == 1 else 4.0, "startTime": "09:00",
                    "billable": True, "note": "", "projectArchived": False, "projectBillable": True,
                    "workspaceId": ws,
                })  # fmt: skip
    return out
