"""Clockify's list endpoints over dimension records: its filters, sort columns, paging and envelopes.

Each handler composes the shared engine (`sandbox.listing`: `order`, `numbered` pages via
`params.page_of`) with the endpoint's own parameters, and returns (body, last_page) where last_page is
None for the unpaged endpoints (workspaces, custom fields, holidays: PROBES found they ignore
`page`/`page-size` and send no `Last-Page`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.clockify.ids import parse_duration, parse_instant, parse_wall_clock
from sandbox.clockify.params import ApiError, Params, bad_request, body_paging, error, name_matcher, page_of
from sandbox.clockify.store import Store
from sandbox.clockify.timeoff import occurrences
from sandbox.listing import order, public

Record = dict[str, Any]
Result = tuple[Any, bool | None]
ORDER = ("ASCENDING", "DESCENDING")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def in_ws(rows: list[Record], ws: str) -> list[Record]:
    return [r for r in rows if r.get("workspaceId") == ws]


def sort_rows(
    rows: list[Record], q: Params, columns: dict[str, Callable[[Record], Any]], default: str
) -> list[Record]:
    column = q.enum("sort-column", columns, default) or default
    desc = q.enum("sort-order", ORDER, "ASCENDING") == "DESCENDING"
    return order(rows, [(columns[column], desc), (lambda r: r["id"], desc)])


def paged(rows: list[Record], q: Params, **limits: int) -> Result:
    page, size = q.paging(**limits)
    chunk, last = page_of(rows, page, size)
    return [public(r) for r in chunk], last


def project_missing() -> ApiError:
    return ApiError(error(400, "Project doesn't belong to Workspace", 501))


def flag_filter(rows: list[Record], value: bool | None, field: str) -> list[Record]:
    return rows if value is None else [r for r in rows if bool(r.get(field)) == value]


# -- users ----------------------------------------------------------------------------------------
USER_SORT: dict[str, Callable[[Record], Any]] = {
    "ID": lambda r: r["id"], "EMAIL": lambda r: r["email"], "NAME": lambda r: r["name"],
    "NAME_LOWERCASE": lambda r: r["name"].lower(), "ACCESS": lambda r: r.get("_role") or "",
    "HOURLYRATE": lambda r: (r.get("_hourlyRate") or {}).get("amount", 0),
    "COSTRATE": lambda r: (r.get("_costRate") or {}).get("amount", 0),
}  # fmt: skip
MEMBERSHIPS = ("ALL", "NONE", "WORKSPACE", "PROJECT", "USERGROUP")


def users(store: Store, ws: str, members: set[str] | None, q: Params) -> Result:
    """`members` limits a workspace to some user ids (the personal workspace has only its owner)."""
    rows = [r for r in store.dims("users") if members is None or r["id"] in members]
    # Without `status` only active members (reference §4.2: "use status=ALL" to include leavers).
    status = q.enum("status", ("PENDING", "ACTIVE", "DECLINED", "INACTIVE", "ALL"), "ACTIVE")
    if status != "ALL":
        rows = [r for r in rows if r.get("_membershipStatus", "ACTIVE") == status]
    for field in ("email", "name"):
        match = name_matcher(q.text(field), False)
        if match:
            rows = [r for r in rows if match(r.get(field))]
    if (project := q.text("project-id")) is not None:
        p = store.get("projects", project)
        inside = {m["userId"] for m in (p or {}).get("memberships", ())}
        rows = [r for r in rows if r["id"] in inside]
    if (accounts := q.ids("account-statuses")) is not None:
        rows = [r for r in rows if r.get("status") in {a.upper() for a in accounts}]
    rows = sort_rows(rows, q, USER_SORT, "EMAIL")
    body, last = paged(rows, q)
    kinds = q.enum("memberships", MEMBERSHIPS, "NONE")
    roles = q.flag("include-roles")
    full = {r["id"]: r for r in rows}
    for out in body:
        out["memberships"] = memberships(store, ws, full[out["id"]], kinds or "NONE")
        if roles:
            role = full[out["id"]].get("_role")
            out["roles"] = [] if not role else [{"role": role, "entities": managed(store, out["id"], role)}]
    return body, last


def memberships(store: Store, ws: str, user: Record, kinds: str) -> list[Record]:
    out: list[Record] = []
    if kinds in ("ALL", "WORKSPACE"):
        out.append({"userId": user["id"], "targetId": ws, "membershipType": "WORKSPACE",
                    "membershipStatus": user.get("_membershipStatus", "ACTIVE"),
                    "hourlyRate": user.get("_hourlyRate"), "costRate": user.get("_costRate")})  # fmt: skip
    if kinds in ("ALL", "PROJECT"):
        out += [m for p in in_ws(store.dims("projects"), ws) for m in p.get("memberships", ())
                if m.get("userId") == user["id"]]  # fmt: skip
    if kinds in ("ALL", "USERGROUP"):
        out += [{"userId": user["id"], "targetId": g["id"], "membershipType": "USERGROUP",
                 "membershipStatus": "ACTIVE", "hourlyRate": None, "costRate": None}
                for g in in_ws(store.dims("user_groups"), ws) if user["id"] in g.get("userIds", ())]  # fmt: skip
    return out


def managed(store: Store, user_id: str, role: str) -> list[Record]:
    """What a role covers (shape UNCONFIRMED): the teams a manager leads, nothing for owners/admins."""
    if role != "TEAM_MANAGER":
        return []
    return [{"id": g["id"], "name": g["name"], "type": "USERGROUP"} for g in store.dims("user_groups")
            if g.get("_leader") == user_id]  # fmt: skip


# -- clients, projects, tasks, tags, groups ---------------------------------------------------------
NAME_SORT: dict[str, Callable[[Record], Any]] = {"ID": lambda r: r["id"], "NAME": lambda r: r["name"]}


def clients(store: Store, ws: str, q: Params) -> Result:
    rows = in_ws(store.dims("clients"), ws)
    if not q.flag("archived"):  # reference §4.3: `archived` "include archived"; without it, none
        rows = [r for r in rows if not r.get("archived")]
    match = name_matcher(q.text("name"), False)
    rows = [r for r in rows if match is None or match(r["name"])]
    return paged(sort_rows(rows, q, NAME_SORT, "NAME"), q)


PROJECT_SORT: dict[str, Callable[[Record], Any]] = {
    "ID": lambda r: r["id"], "NAME": lambda r: r["name"], "CLIENT_NAME": lambda r: r.get("clientName") or "",
    "DURATION": lambda r: parse_duration(r.get("duration") or "PT0S"),
    "BUDGET": lambda r: (r.get("budgetEstimate") or {}).get("estimate", 0),
    "PROGRESS": lambda r: parse_duration(r.get("duration") or "PT0S"),
}  # fmt: skip


def projects(store: Store, ws: str, q: Params) -> Result:
    rows = store.with_durations("projects", in_ws(store.dims("projects"), ws))
    rows = flag_filter(rows, q.flag("archived"), "archived")
    rows = flag_filter(rows, q.flag("billable"), "billable")
    rows = flag_filter(rows, q.flag("is-template"), "template")
    match = name_matcher(q.text("name"), q.flag("strict-name-search"))
    rows = [r for r in rows if match is None or match(r["name"])]
    if (wanted := q.ids("clients")) is not None:
        keep = q.flag("contains-client", True)
        rows = [r for r in rows if (r.get("clientId") in wanted) == keep]
    status = q.enum("client-status", ("ACTIVE", "ARCHIVED", "ALL"), "ALL")
    if status != "ALL":
        archived = {c["id"] for c in store.dims("clients") if c.get("archived")}
        rows = [r for r in rows if (r.get("clientId") in archived) == (status == "ARCHIVED")]
    if (people := q.ids("users")) is not None:
        keep = q.flag("contains-user", True)
        rows = [
            r for r in rows if bool({m["userId"] for m in r.get("memberships", ())} & set(people)) == keep
        ]
    access = q.enum("access", ("PUBLIC", "PRIVATE"))
    if access:
        rows = [r for r in rows if bool(r.get("public")) == (access == "PUBLIC")]
    body, last = paged(sort_rows(rows, q, PROJECT_SORT, "NAME"), q)
    if q.flag("hydrated"):
        fields = [public(f) for f in in_ws(store.dims("custom_fields"), ws) if f["entityType"] == "TIMEENTRY"]
        for out in body:
            client = store.get("clients", out.get("clientId"))
            out["client"] = public(client) if client else None
            mine = [t for t in store.dims("tasks") if t["projectId"] == out["id"]]
            out["tasks"] = [public(t) for t in store.with_durations("tasks", mine)]
            out["customFields"] = fields
            out["currency"] = {"id": client["currencyId"], "code": client["currencyCode"]} if client else None
    return body, last


def tasks(store: Store, ws: str, project_id: str, q: Params) -> Result:
    project = store.get("projects", project_id)
    if project is None or project.get("workspaceId") != ws:
        raise project_missing()
    rows = store.with_durations("tasks", [t for t in store.dims("tasks") if t.get("projectId") == project_id])
    active = q.flag("is-active")
    if active is not None:
        rows = [t for t in rows if (t.get("status") == "ACTIVE") == active]
    match = name_matcher(q.text("name"), q.flag("strict-name-search"))
    rows = [r for r in rows if match is None or match(r["name"])]
    return paged(sort_rows(rows, q, NAME_SORT, "ID"), q)


def tags(store: Store, ws: str, q: Params) -> Result:
    rows = flag_filter(in_ws(store.dims("tags"), ws), q.flag("archived"), "archived")
    match = name_matcher(q.text("name"), q.flag("strict-name-search"))
    excluded = set(q.ids("excluded-ids") or ())
    rows = [r for r in rows if (match is None or match(r["name"])) and r["id"] not in excluded]
    return paged(sort_rows(rows, q, NAME_SORT, "NAME"), q)


def user_groups(store: Store, ws: str, q: Params) -> Result:
    rows = in_ws(store.dims("user_groups"), ws)
    match = name_matcher(q.text("name"), False)
    rows = [r for r in rows if match is None or match(r["name"])]
    if (project := q.text("project-id")) is not None:
        inside = {m["userId"] for m in (store.get("projects", project) or {}).get("memberships", ())}
        rows = [r for r in rows if inside & set(r.get("userIds", ()))]
    body, last = paged(sort_rows(rows, q, NAME_SORT, "NAME"), q)
    if not q.flag("includeTeamManagers"):
        for out in body:
            out.pop("teamManagers", None)
    return body, last


# -- unpaged ----------------------------------------------------------------------------------------
def custom_fields(store: Store, ws: str, q: Params, project_id: str | None = None) -> Result:
    rows = in_ws(store.dims("custom_fields"), ws)
    if project_id is not None:
        project = store.get("projects", project_id)
        if project is None or project.get("workspaceId") != ws:
            raise project_missing()
        rows = [r for r in rows if r.get("entityType") == "TIMEENTRY"]
    match = name_matcher(q.text("name"), False)
    status = q.enum("status", ("INACTIVE", "VISIBLE", "INVISIBLE"))
    entity = (q.text("entity-type") or "").upper()
    rows = [
        r for r in rows
        if (match is None or match(r["name"])) and (status is None or r.get("status") == status)
        and (not entity or r.get("entityType") == entity)
    ]  # fmt: skip
    return [public(r) for r in rows], None


def holidays(store: Store, ws: str, q: Params) -> Result:
    rows = in_ws(store.dims("holidays"), ws)
    user = q.text("assigned-to")
    if user:
        rows = [r for r in rows if user in r.get("userIds", ()) or r.get("everyoneIncludingNew")]
    return [public(r) for r in rows], None


def holidays_in_period(store: Store, ws: str, q: Params) -> Result:
    user, start, end = q.required("assigned-to"), q.required("start"), q.required("end")
    try:
        first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    except ValueError:
        raise bad_request("start and end must be dates (yyyy-MM-dd)") from None
    rows = [r for r in in_ws(store.dims("holidays"), ws) if user in r.get("userIds", ())]
    out = [public(o) for r in rows for o in occurrences(r, first, last)]
    return sorted(out, key=lambda r: (r["datePeriod"]["startDate"], r["id"])), None


# -- expenses' categories, time off, scheduling ----------------------------------------------------
def expense_categories(store: Store, ws: str, q: Params) -> Result:
    rows = flag_filter(in_ws(store.dims("expense_categories"), ws), q.flag("archived"), "archived")
    match = name_matcher(q.text("name"), False)
    rows = sort_rows(
        [r for r in rows if match is None or match(r["name"])], q, {"NAME": NAME_SORT["NAME"]}, "NAME"
    )
    body, last = paged(rows, q)
    return {"categories": body, "count": len(rows)}, last


TIME_OFF_LIMITS = {"max_size": 200, "max_page": 1000}


def policies(store: Store, ws: str, q: Params) -> Result:
    # Default ACTIVE: the reference lists ACTIVE|ARCHIVED|ALL without a default (UNCONFIRMED).
    status = q.enum("status", ("ACTIVE", "ARCHIVED", "ALL"), "ACTIVE")
    rows = in_ws(store.dims("time_off_policies"), ws)
    if status != "ALL":
        rows = [r for r in rows if bool(r.get("archived")) == (status == "ARCHIVED")]
    match = name_matcher(q.text("name"), False)
    rows = [r for r in rows if match is None or match(r["name"])]
    return paged(sorted(rows, key=lambda r: (r["name"], r["id"])), q, **TIME_OFF_LIMITS)


def balances(store: Store, ws: str, q: Params, field: str, value: str) -> Result:
    rows = [r for r in in_ws(store.dims("time_off_balances"), ws) if r.get(field) == value]
    rows.sort(key=lambda r: (r.get("userName") or "", r.get("policyName") or "", r["id"]))
    body, last = paged(rows, q, **TIME_OFF_LIMITS)
    return {"balances": body, "count": len(rows)}, last


def assignments(store: Store, ws: str, q: Params) -> Result:
    start, end = q.required("start"), q.required("end")
    for name, value in (("start", start), ("end", end)):
        if not DATETIME.match(value):
            raise bad_request(f"Invalid {name} '{value}': expected yyyy-MM-ddThh:mm:ssZ")
    rows = [
        r for r in in_ws(store.dims("scheduling_assignments"), ws)
        if r["period"]["start"][:19] <= end[:19] and r["period"]["end"][:19] >= start[:19]
    ]  # fmt: skip
    rows.sort(key=lambda r: (r["period"]["start"], r.get("userName") or "", r["id"]))
    return paged(rows, q)


def time_off_requests(store: Store, ws: str, body: Record, tz: ZoneInfo, only_user: str | None) -> Record:
    """`POST .../time-off/requests`: a search; `start`/`end` bound the creation time (requester's zone)."""
    page, size = body_paging(body, "page", "pageSize", 200)
    statuses = {str(s).upper() for s in body.get("statuses") or ["ALL"]}
    if not statuses <= {"PENDING", "APPROVED", "REJECTED", "ALL"}:
        raise bad_request("statuses may be PENDING, APPROVED, REJECTED or ALL")
    rows = in_ws(store.dims("time_off_requests"), ws)
    if "ALL" not in statuses:
        rows = [r for r in rows if r["status"]["statusType"] in statuses]
    users = set(body.get("users") or ())
    groups = set(body.get("userGroups") or ())
    for g in store.dims("user_groups"):
        if g["id"] in groups:
            users |= set(g["userIds"])
    if only_user is not None:
        users = {only_user}
    if users:
        rows = [r for r in rows if r["userId"] in users]
    for name in ("start", "end"):
        if body.get(name):
            try:
                bound = parse_wall_clock(str(body[name]), tz)
            except ValueError:
                raise bad_request(f"{name} must be an ISO date-time") from None
            if name == "start":
                rows = [r for r in rows if parse_instant(r["createdAt"]) >= bound]
            else:
                rows = [r for r in rows if parse_instant(r["createdAt"]) <= bound]
    rows = sorted(rows, key=lambda r: (r["createdAt"], r["id"]), reverse=True)
    chunk, _ = page_of(rows, page, size)
    return {"count": len(rows), "requests": [public(r) for r in chunk]}
