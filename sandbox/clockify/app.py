"""The Clockify sandbox: an ASGI app imitating Clockify's REST API from its public contract.

Built from `/work/shared/reference/clockify.md` (docs/sandbox-clockify.md lists the facts implemented
and the choices made where the reference is UNCONFIRMED), never from what a connector sends. Clockify
serves two hosts; this app serves both: the regular API under `/api` (real: https://api.clockify.me/api)
and the reports API under `/reports` (real: https://reports.api.clockify.me), so mounted at
`/clockify` the base URLs are `{host}/clockify/api` and `{host}/clockify/reports`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.admin import admin_routes, integer_id
from sandbox.app import ApiError, Sandbox
from sandbox.clockify import finance, listing, records, timeoff
from sandbox.clockify.admin import ClockifyAdmin
from sandbox.clockify.approvals import Approvals
from sandbox.clockify.entries import TimeEntries, seconds_of
from sandbox.clockify.ids import Ids, zone
from sandbox.clockify.ledger import ledger
from sandbox.clockify.params import (
    Params,
    access_denied,
    bad_request,
    error,
    method_not_supported,
    not_bound,
    page_of,
    page_response,
)
from sandbox.clockify.reports import DetailedReport
from sandbox.clockify.store import ENTITIES, Store
from sandbox.common import RateWindow, SandboxOptions, relative_path
from sandbox.listing import public
from sandbox.org import Org

Record = dict[str, Any]
# 50 requests per second per key (SPEC, HELP); FREE-plan workspaces get 30 requests per hour (HELP).
DEFAULT_LIMITS = {"global": (RateWindow(50, 1.0),), "free_plan": (RateWindow(30, 3600.0),)}
WS = "/v1/workspaces/{ws}"


@dataclass(frozen=True)
class Principal:
    """The user an API key belongs to: the owner administers both workspaces, the worker is a member."""

    email: str
    user_id: int
    user: str
    admin: bool
    workspaces: frozenset[str] = field(default_factory=frozenset)
    key: str = ""  # the API key used (the sandbox's `forbidden` rules may name it)


@dataclass
class Call:
    request: Request
    principal: Principal
    ws: str
    q: Params
    body: Any


Handler = Callable[[Call], Any]  # returns (body, last_page | None) or a Response


class ClockifySandbox(Sandbox):
    """State, data views and routes of one Clockify sandbox app."""

    limits = DEFAULT_LIMITS

    def __init__(
        self, options: SandboxOptions, org: Org | None = None, personal_workspace: bool = True
    ) -> None:
        super().__init__(options, org)
        org = self.org
        self.ids = ids = Ids(org.options.seed)
        self.ws = ws = ids("workspace", 1)
        self.personal = ids("workspace", 2) if personal_workspace else None
        builders: dict[str, Callable[[], list[Record]]] = {
            name: partial(build, org, ids, ws) for name, build in records.BUILDERS.items()
        }
        builders |= {
            "expense_categories": lambda: finance.expense_categories(org, ids, ws),
            "expenses": lambda: finance.expenses(org, ids, ws),
            "invoices": lambda: finance.invoices(org, ids, ws),
            "invoice_payments": lambda: finance.invoice_payments(org, ids, self._store_base("invoices")),
            "holidays": lambda: timeoff.holidays(org, ids, ws),
            "time_off_policies": lambda: timeoff.policies(org, ids, ws),
            "time_off_requests": lambda: timeoff.time_off_requests(org, ids, ws),
            "time_off_balances": lambda: timeoff.balances(org, ids, ws),
            "scheduling_assignments": lambda: timeoff.assignments(org, ids, ws),
        }
        self.store = Store(self.state.overlay, ids, builders)
        self.entries = TimeEntries(self.state, ids, ws, self.store.dims)
        self.store.durations = self.durations
        self.entries.with_durations = self.store.with_durations
        self._durations: tuple[int, tuple[dict[str, int], dict[str, int]]] | None = None
        self.approvals = Approvals(org, ids, ws, self.entries, self.store)
        self.report = DetailedReport(self.store, self.entries, self.approvals, ids, self.max_report_days)
        owner = org.people[0]
        spaces = frozenset(w for w in (ws, self.personal) if w)
        self.keys = {options.api_key: Principal(owner.email, owner.id, ids("user", owner.id), True, spaces)}
        if options.worker_api_key and len(org.people) > 1:
            worker = org.people[1]
            self.keys[options.worker_api_key] = Principal(
                worker.email, worker.id, ids("user", worker.id), False, frozenset({ws})
            )
        self.keys = {key: replace(p, key=key) for key, p in self.keys.items()}
        self.admin = ClockifyAdmin(self.state, self.store, self.entries, ids, ws, self.info)

    def _store_base(self, entity: str) -> list[Record]:
        return self.store.base(entity)

    # -- derived data ---------------------------------------------------------------------------
    def durations(self) -> tuple[dict[str, int], dict[str, int]]:
        """Tracked seconds per project and per task id: the ledger plus admin edits of entries."""
        version = self.state.overlay.version
        if self._durations is None or self._durations[0] != version:
            ids, book = self.ids, ledger(self.org, {s.id: s.price for s in self.org.lumpsum_services})
            projects = {ids("project", p): s for p, s in book.project_seconds.items()}
            tasks = {ids("task", p * 1000 + s): n for (p, s), n in book.task_seconds.items()}
            for e in self.entries.shadowed():
                projects[ids("project", e.project_id)] -= e.end - e.start
                if e.service_id is not None:
                    tasks[ids("task", e.project_id * 1000 + e.service_id)] -= e.end - e.start
            for r in self.entries.extras()[0]:
                seconds = seconds_of(r.get("timeInterval") or {}) or 0
                for table, key in ((projects, r.get("projectId")), (tasks, r.get("taskId"))):
                    if key:
                        table[key] = table.get(key, 0) + seconds
            self._durations = (version, (projects, tasks))
        return self._durations[1]

    def max_report_days(self, ws: str) -> int:
        # FREE: one month per detailed report (SPEC); paid plans: one year (UNCONFIRMED, 366 days)
        return 31 if ws == self.personal else 366

    def workspaces(self, principal: Principal) -> list[Record]:
        owner = self.org.people[0]
        out = [records.workspace(self.org, self.ids, 1, "Couplet Agency", "PRO", self.org.people)]
        users = {u["id"]: u for u in self.store.dims("users")}
        for m in out[0]["memberships"]:
            user = users.get(m["userId"], {})
            m["membershipStatus"] = user.get("_membershipStatus", m["membershipStatus"])
        if self.personal:
            out.append(records.workspace(self.org, self.ids, 2, f"{owner.name}'s workspace", "FREE", [owner]))
        return [w for w in out if w["id"] in principal.workspaces]

    def info(self) -> Record:
        worker = next(((k, p) for k, p in self.keys.items() if not p.admin), None)
        return {
            "credentials": {"api_key": self.options.api_key, "user": self.options.api_user,
                            "worker_api_key": worker[0] if worker else None,
                            "worker_user": worker[1].email if worker else None},
            "workspace_id": self.ws, "personal_workspace_id": self.personal,
            "workspaces": [{"id": w["id"], "name": w["name"], "plan": w["featureSubscriptionType"]}
                           for w in self.workspaces(next(iter(self.keys.values())))],
            "base_paths": {"api": "/api", "reports": "/reports"}, "id_prefix": self.ids.prefix,
            "org": self.org.describe(), **self.state.limits_info(),
            "admin_entities": sorted(ENTITIES), "derived_entities": ["approval_requests", "reports", "workspaces"],
        }  # fmt: skip

    # -- cross-cutting --------------------------------------------------------------------------
    def error(self, request: Request, status: int, kind: str, message: str) -> Response:
        return error(status, message, status)

    def forbidden(self, request: Request) -> Response:
        return access_denied().response  # reference §1: 403 "Access Denied"

    def unrouted(self, request: Request, status: int, detail: str) -> Response:
        if status == 405:
            return error(405, f"Request method '{request.method}' is not supported", 3000)
        return error(status, f"No static resource {request.url.path.lstrip('/')}.", 3000)

    def authenticate(self, request: Request) -> Principal | Response:
        """Exactly one of X-Api-Key / X-Addon-Token; `Authorization: Bearer` is not a scheme here."""
        key, addon = request.headers.get("X-Api-Key"), request.headers.get("X-Addon-Token")
        bearer = request.headers.get("Authorization", "")[:7].lower() == "bearer "
        if bearer or (bool(key) + bool(addon)) != 1:
            return error(401, "Multiple or none auth tokens present", 1000)
        if addon:  # the sandbox has no add-ons installed
            return error(401, "X-Addon-Token invalid", 4017)
        principal = self.keys.get(key or "")
        if principal is None:
            return error(401, "Api key does not exist", 4003)
        return principal

    def buckets(self, request: Request) -> list[str]:
        if self.personal and self.personal in request.url.path:
            return ["global", "free_plan"]
        return ["global"]

    def tz_of(self, principal: Principal) -> str:
        user = self.store.get("users", principal.user)
        return str(user["settings"]["timeZone"]) if user else "UTC"

    def api(self, fn: Handler, methods: tuple[str, ...] = ("GET",)) -> Callable[..., Any]:
        async def handler(request: Request, principal: Principal) -> Response:
            if request.method not in methods:
                raise method_not_supported(request.method)
            ws = request.path_params.get("ws", "")
            if "ws" in request.path_params and ws not in principal.workspaces:
                raise access_denied()
            body = None
            if request.method == "POST":
                try:
                    body = json.loads(await request.body() or b"{}")
                except ValueError:
                    raise bad_request("Malformed JSON request body") from None
            result = fn(Call(request, principal, ws, Params(request.query_params), body))
            return result if isinstance(result, Response) else page_response(*result)

        return self.pipeline.wrap(handler)

    # -- endpoints ------------------------------------------------------------------------------
    def _admin_only(self, c: Call) -> None:
        if not c.principal.admin:
            raise access_denied()

    def _user(self, c: Call, user_id: str) -> int:
        """The org id of a workspace member, or 400 as Clockify answers foreign ids."""
        n = self.ids.decode(user_id, "user")
        member = self.store.get("users", user_id) is not None and (
            c.ws == self.ws or user_id == c.principal.user
        )
        if n is None or not member:
            raise ApiError(error(400, "User doesn't belong to Workspace", 501))
        if not c.principal.admin and n != c.principal.user_id:
            raise access_denied()
        return n

    def _members(self, c: Call) -> set[str] | None:
        return None if c.ws == self.ws else {self.ids("user", self.org.people[0].id)}

    def _users_info(self, c: Call) -> Any:
        """`POST .../users/info`: the users list with its filters in a JSON body (plus `roles`)."""
        body = c.body if isinstance(c.body, dict) else {}
        names = {"email": "email", "name": "name", "status": "status", "sortColumn": "sort-column",
                 "sortOrder": "sort-order", "memberships": "memberships", "includeRoles": "include-roles",
                 "projectId": "project-id", "accountStatuses": "account-statuses", "page": "page",
                 "pageSize": "page-size"}  # fmt: skip
        items = []
        for key, value in body.items():
            if key in names and value is not None:
                values = value if isinstance(value, list) else [value]
                items += [(names[key], str(v).lower() if isinstance(v, bool) else str(v)) for v in values]
        members = self._members(c)
        if body.get("roles"):
            wanted = {str(r).upper() for r in body["roles"]}
            chosen = {u["id"] for u in self.store.dims("users") if u.get("_role") in wanted}
            members = chosen if members is None else members & chosen
        return listing.users(self.store, c.ws, members, Params(items))

    def _time_entries(self, c: Call) -> Any:
        user = self._user(c, c.request.path_params["userId"])
        return self.entries.user_list(c.ws, user, c.q, zone(self.tz_of(c.principal)))

    def _in_progress(self, c: Call) -> Any:
        rows, last = self.entries.in_progress(c.ws, c.q)
        if not c.principal.admin:
            rows = [r for r in rows if r["userId"] == c.principal.user]
        return rows, last

    def _detailed(self, c: Call) -> Any:
        own = None if c.principal.admin else c.principal.user_id
        return self.report.run(c.ws, c.body, self.tz_of(c.principal), own), None

    def _approvals(self, c: Call) -> Any:
        self._admin_only(c)
        return self.approvals.listing(c.ws, c.q)

    def _expenses(self, c: Call) -> Any:
        rows = self.store.dims("expenses")
        if not c.principal.admin:
            rows = [r for r in rows if r.get("userId") == c.principal.user]
        return finance.list_expenses([public(r) for r in rows], c.ws, c.q)

    def _invoices(self, c: Call) -> Any:
        self._admin_only(c)
        return finance.list_invoices(self.store.dims("invoices") if c.ws == self.ws else [], c.q)

    def _invoice(self, c: Call) -> Record:
        self._admin_only(c)
        row = self.store.get("invoices", c.request.path_params["invoiceId"])
        if row is None or c.ws != self.ws:
            raise finance.missing_invoice()
        return row

    def _payments(self, c: Call) -> Any:
        invoice = self._invoice(c)
        rows = [r for r in self.store.dims("invoice_payments") if r.get("_invoiceId") == invoice["id"]]
        rows.sort(key=lambda r: (r["date"], r["id"]))
        page, size = c.q.paging()
        chunk, last = page_of(rows, page, size)
        return [public(r) for r in chunk], last

    def _time_off_requests(self, c: Call) -> Any:
        body = c.body if isinstance(c.body, dict) else {}
        only = None if c.principal.admin else c.principal.user
        return listing.time_off_requests(self.store, c.ws, body, zone(self.tz_of(c.principal)), only), None

    def _balances(self, kind: str) -> Handler:
        def handler(c: Call) -> Any:
            value = c.request.path_params["id"]
            if kind == "policy":
                self._admin_only(c)
                if self.store.get("time_off_policies", value) is None:
                    raise ApiError(error(400, "Policy doesn't belong to Workspace", 501))
                return listing.balances(self.store, c.ws, c.q, "policyId", value)
            self._user(c, value)
            return listing.balances(self.store, c.ws, c.q, "userId", value)

        return handler

    def routes(self) -> list[BaseRoute]:
        s, ws_only = self.store, WS
        pid = lambda c: c.request.path_params["projectId"]  # noqa: E731
        table: list[tuple[str, Handler, tuple[str, ...]]] = [
            ("/api/v1/workspaces", lambda c: (self._filter_roles(c), None), ("GET",)),
            (f"/api{ws_only}/users", lambda c: listing.users(s, c.ws, self._members(c), c.q), ("GET",)),
            (f"/api{ws_only}/users/info", self._users_info, ("POST",)),
            (f"/api{ws_only}/clients", lambda c: listing.clients(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/projects", lambda c: listing.projects(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/projects/{{projectId}}/tasks", lambda c: listing.tasks(s, c.ws, pid(c), c.q), ("GET",)),
            (f"/api{ws_only}/projects/{{projectId}}/custom-fields",
             lambda c: listing.custom_fields(s, c.ws, c.q, pid(c)), ("GET",)),
            (f"/api{ws_only}/tags", lambda c: listing.tags(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/user/{{userId}}/time-entries", self._time_entries, ("GET",)),
            (f"/api{ws_only}/time-entries/status/in-progress", self._in_progress, ("GET",)),
            (f"/api{ws_only}/user-groups", lambda c: listing.user_groups(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/user-groups/{{id}}", self._unsupported, ()),
            (f"/api{ws_only}/custom-fields", lambda c: listing.custom_fields(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/custom-fields/{{id}}", self._unsupported, ()),
            (f"/api{ws_only}/approval-requests", self._approvals, ("GET",)),
            (f"/api{ws_only}/expenses", self._expenses, ("GET",)),
            (f"/api{ws_only}/expenses/categories", lambda c: listing.expense_categories(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/invoices", self._invoices, ("GET",)),
            (f"/api{ws_only}/invoices/{{invoiceId}}", lambda c: (finance.detail(self._invoice(c)), None), ("GET",)),
            (f"/api{ws_only}/invoices/{{invoiceId}}/payments", self._payments, ("GET",)),
            (f"/api{ws_only}/holidays", lambda c: listing.holidays(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/holidays/in-period", lambda c: listing.holidays_in_period(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/time-off/policies", lambda c: listing.policies(s, c.ws, c.q), ("GET",)),
            (f"/api{ws_only}/time-off/requests", self._time_off_requests, ("POST",)),
            (f"/api{ws_only}/time-off/balance/policy/{{id}}", self._balances("policy"), ("GET",)),
            (f"/api{ws_only}/time-off/balance/user/{{id}}", self._balances("user"), ("GET",)),
            (f"/api{ws_only}/scheduling/assignments/all", lambda c: listing.assignments(s, c.ws, c.q), ("GET",)),
            (f"/reports{ws_only}/reports/detailed", self._detailed, ("POST",)),
        ]  # fmt: skip
        routes: list[BaseRoute] = [*self._admin_routes()]
        all_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        routes += [Route(path, self.api(fn, methods), methods=all_methods) for path, fn, methods in table]
        routes.append(
            Route("/{rest:path}", self.api(self._not_found, tuple(all_methods)), methods=all_methods)
        )
        return routes

    def _filter_roles(self, c: Call) -> list[Record]:
        rows = self.workspaces(c.principal)
        roles = c.q.ids("roles")
        if roles:  # the key's own roles: the owner is OWNER in both workspaces, the worker has none
            mine = {"OWNER", "WORKSPACE_ADMIN"} if c.principal.admin else set()
            rows = rows if mine & {r.upper() for r in roles} else []
        return rows

    def _unsupported(self, c: Call) -> Any:
        raise method_not_supported(c.request.method)

    def _not_found(self, c: Call) -> Any:
        raise not_bound(relative_path(c.request))

    def _admin_routes(self) -> list[BaseRoute]:
        """The shared admin API; record ids in paths may be our 24-hex ids (turned into integers)."""

        def path_id(text: str) -> int:
            n = self.ids.decode(text)
            return integer_id(text) if n is None else n

        return list(admin_routes(self.state, self.admin, path_id=path_id))


def create_app(
    options: SandboxOptions | None = None, org: Org | None = None, *, personal_workspace: bool = True
) -> Starlette:
    """The Clockify sandbox as a Starlette app; `app.state.sandbox` is the `ClockifySandbox`."""
    return ClockifySandbox(options or SandboxOptions(), org, personal_workspace).app()
