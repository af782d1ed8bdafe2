"""The Harvest sandbox: an ASGI app imitating Harvest's REST API v2 from its public contract.

Built from `/work/shared/reference/harvest.md` (see docs/sandbox-harvest.md for the facts implemented
and the choices made where the reference is UNCONFIRMED), never from what a connector sends. Mount it
where the real API's root is (`https://api.harvestapp.com`): paths below start with `/v2/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.admin import admin_routes
from sandbox.app import ApiError, Sandbox
from sandbox.common import JSON, RateWindow, SandboxOptions
from sandbox.common import relative_path as rel_path
from sandbox.harvest import records
from sandbox.harvest.admin import HarvestAdmin
from sandbox.harvest.billing import Billing
from sandbox.harvest.entries import TimeEntries, parse_iso
from sandbox.harvest.expenses import expenses
from sandbox.harvest.ledger import ledger_for
from sandbox.harvest.listing import LISTINGS, PARENTS, Listing, list_records, sort_key
from sandbox.harvest.params import AUTH_ERROR, Query, error, not_found, page_of
from sandbox.harvest.reports import EXPENSE_KINDS, TIME_KINDS, Reports
from sandbox.listing import public
from sandbox.org import Org
from sandbox.store import GeneratedRecords

Record = dict[str, Any]
Endpoint = Callable[[Request, Query, "Principal"], Any]
# Published limits: 100 requests per 15 s, and 100 per 15 min for the Reports API (own bucket).
DEFAULT_LIMITS = {"harvest": (RateWindow(100, 15),), "harvest_reports": (RateWindow(100, 900),)}
BILLING = ("invoices", "invoice_payments", "invoice_messages", "estimates", "estimate_messages")


@dataclass(frozen=True)
class Principal:
    """Whose token it is: the administrator sees everything, a member their own time and expenses."""

    email: str
    user_id: int
    member: bool
    key: str = ""  # the token used (the sandbox's `forbidden` rules may name it)

    @property
    def own(self) -> int | None:
        return self.user_id if self.member else None


class HarvestSandbox(Sandbox):
    """State, data views and routes of one Harvest sandbox app."""

    limits = DEFAULT_LIMITS

    def __init__(self, options: SandboxOptions, org: Org | None = None) -> None:
        super().__init__(options, org)
        self.ledger = ledger_for(self.org)
        self.records = GeneratedRecords(self.state.overlay, self._build, self._arrange)
        self.base, self.dims = self.records.base, self.records.dims
        self._billing: Billing | None = None
        self.entries = TimeEntries(self.state, self.ledger, self.dims)
        self.reports = Reports(self.ledger, self.entries, self.dims)
        owner = self.org.people[0]
        self.tokens = {options.harvest_token: Principal(owner.email, owner.id, False)}
        users = records.users(self.org)
        member = next((u for u in users if u["access_roles"] == ["member"] and u["is_active"]), None)
        if options.harvest_member_token and member:
            self.tokens[options.harvest_member_token] = Principal(member["email"], member["id"], True)
        self.tokens = {token: replace(p, key=token) for token, p in self.tokens.items()}
        self.admin = HarvestAdmin(self.state, self.records, self.info, self.entries)

    # -- data -----------------------------------------------------------------------------------
    def _build(self, entity: str) -> list[Record]:
        if entity == "company":
            return records.company(self.org, self.options.harvest_account_id)
        if entity == "expenses":
            return expenses(
                self.org, self.ledger, self.base("expense_categories"), self.base("user_assignments")
            )
        if entity in BILLING:
            if self._billing is None:
                self._billing = Billing(self.org, self.ledger, self.base("clients"), self.base("contacts"),
                                        self.base("projects"), self.base("expenses"))  # fmt: skip
            return self._billing.tables[entity]
        builder = getattr(records, entity, None)
        if entity not in ENTITIES or builder is None:
            raise KeyError(entity)
        return list(builder(self.org))

    def _arrange(self, entity: str, rows: list[Record]) -> list[Record]:
        """Current records (admin edits applied), newest first."""
        if entity == "roles":
            rows = self._roles(rows)
        rows.sort(key=sort_key(entity), reverse=True)
        return rows

    def _roles(self, roles: list[Record]) -> list[Record]:
        """A role's `user_ids` follow the users' `roles` (admin edits of users show up here)."""
        users = self.dims("users")
        out = []
        for role in roles:
            members = [u for u in users if role["name"] in (u.get("roles") or [])]
            ids = sorted(u["id"] for u in members)
            if ids != sorted(role.get("user_ids") or []):
                stamps = [role["updated_at"]] + [u["updated_at"] for u in members]
                role = {**role, "user_ids": ids, "updated_at": max(stamps, key=lambda s: parse_iso(s) or 0)}
            out.append(role)
        return out

    def info(self) -> Record:
        member = next((t for t, p in self.tokens.items() if p.member), None)
        return {
            "credentials": {
                "token": self.options.harvest_token,
                "account_id": self.options.harvest_account_id,
                "member_token": member,
                "member_user_id": self.tokens[member].user_id if member else None,
                "user_agent": "couplet (dev@couplet.dev)",
            },
            "org": self.org.describe(),
            "time_entries": self.ledger.time_entry_count,
            "expenses": int(self.ledger.lump.sum()),
            **self.state.limits_info(),
            "admin_entities": sorted([*ENTITIES, "time_entries"]),
            "derived_entities": ["project_assignments", "teammates", "reports"],
        }

    # -- cross-cutting --------------------------------------------------------------------------
    def error(self, request: Request, status: int, kind: str, message: str) -> Response:
        return JSON(AUTH_ERROR, 401) if status == 401 else error(status, message)

    @staticmethod
    def forbidden(request: Request) -> Response:
        # reference: 403 Forbidden for insufficient permission (body shape as the sandbox's other 4xx)
        return error(403, "You do not have permission to access this resource")

    def authenticate(self, request: Request) -> Principal | Response:
        """User-Agent (400 without), then a token and the account id, as headers or query parameters."""
        if not request.headers.get("User-Agent", "").strip():
            return error(400, "Missing User-Agent header: use 'AppName (contact e-mail or URL)'")
        auth = request.headers.get("Authorization", "")
        token = (
            auth[7:].strip() if auth[:7].lower() == "bearer " else request.query_params.get("access_token")
        )
        account = request.headers.get("Harvest-Account-Id") or request.query_params.get("account_id")
        principal = self.tokens.get(token or "")
        if principal is None or (account or "").strip() != str(self.options.harvest_account_id):
            return JSON(AUTH_ERROR, 401)
        return principal

    def buckets(self, request: Request) -> list[str]:
        return ["harvest_reports"] if rel_path(request).startswith("/v2/reports/") else ["harvest"]

    def unrouted(self, request: Request, status: int, detail: str) -> Response:
        return error(status, detail or "Error")

    def api(self, fn: Endpoint) -> Callable[..., Any]:
        async def handler(request: Request, principal: Principal) -> Response:
            return JSON(fn(request, Query(request), principal))

        return self.pipeline.wrap(handler)

    # -- endpoints ------------------------------------------------------------------------------
    def _find(self, entity: str, record_id: int) -> Record:
        row = self.records.get(entity, record_id)
        if row is None:
            raise not_found(entity.rstrip("s").replace("_", " ").capitalize())
        return row

    def _lookup(self, entity: str) -> Callable[[int], Record | None]:
        return lambda rid: next((r for r in self.base(entity) if r["id"] == rid), None)

    def _list(self, listing: Listing) -> Endpoint:
        def handler(request: Request, q: Query, p: Principal) -> Record:
            parent_id = request.path_params.get("parent_id")
            if parent_id is not None:
                parent = PARENTS[listing.entity]
                self._find(parent, parent_id)
                if parent == "users":
                    self._own_user(p, parent_id)
            rows = self.dims(listing.entity)
            return list_records(listing, q, rows, p.own, parent_id, self._lookup(listing.entity))

        return handler

    def _single(self, entity: str) -> Endpoint:
        def handler(request: Request, q: Query, p: Principal) -> Record:
            row = self._find(entity, request.path_params["id"])
            if entity == "users":
                self._own_user(p, row["id"])
            if entity == "expenses" and p.member and row["user"]["id"] != p.user_id:
                raise not_found("Expense")
            return public(row)

        return handler

    @staticmethod
    def _own_user(p: Principal, user_id: int) -> None:
        if p.member and user_id != p.user_id:
            raise ApiError(error(403, "You do not have permission to view this user"))

    def _user_id(self, request: Request, p: Principal) -> int:
        uid = request.path_params.get("user_id", p.user_id)
        self._find("users", uid)
        self._own_user(p, uid)
        return int(uid)

    def _me(self, request: Request, q: Query, p: Principal) -> Record:
        return public(self._find("users", p.user_id))

    def _project_assignments(self, request: Request, q: Query, p: Principal) -> Record:
        """A user's assignments with the project's client and task assignments embedded."""
        uid = self._user_id(request, p)
        since = q.timestamp("updated_since")
        clients = {c["id"]: c for c in self.dims("clients")}
        projects = {r["id"]: r for r in self.dims("projects")}
        tasks: dict[int, list[Record]] = {}
        for ta in self.dims("task_assignments"):
            nested_ta = {k: v for k, v in public(ta).items() if k != "project"}
            tasks.setdefault(ta["project"]["id"], []).append(nested_ta)
        rows = []
        for ua in self.dims("user_assignments"):
            if ua["user"]["id"] != uid or (since is not None and (parse_iso(ua["updated_at"]) or 0) < since):
                continue
            client = clients.get((projects.get(ua["project"]["id"]) or {}).get("client", {}).get("id"))
            row = {k: v for k, v in public(ua).items() if k != "user"}
            row["client"] = {"id": client["id"], "name": client["name"]} if client else None
            row["task_assignments"] = tasks.get(ua["project"]["id"], [])
            rows.append(row)
        return page_of(q, "project_assignments", rows)

    def _teammates(self, request: Request, q: Query, p: Principal) -> Record:
        uid = self._user_id(request, p)
        led = {m for t in self.org.teams if t.leader_id == uid for m in t.member_ids} - {uid}
        rows = [{k: u[k] for k in ("id", "first_name", "last_name", "email")} for u in self.dims("users")
                if u["id"] in led]  # fmt: skip
        return page_of(q, "teammates", rows)

    def _company(self, request: Request, q: Query, p: Principal) -> Record:
        return {k: v for k, v in public(self.dims("company")[0]).items() if k != "id"}

    @staticmethod
    def _report(report: Callable[[str, Query], Record], kind: str) -> Endpoint:
        return lambda request, q, p: report(kind, q)

    def _not_found(self, request: Request, q: Query, p: Principal) -> Record:
        raise ApiError(error(404, "Not Found"))

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, Endpoint]] = [
            ("/v2/time_entries", lambda r, q, p: self.entries.listing(q, p.own)),
            ("/v2/time_entries/{id:int}", lambda r, q, p: self.entries.get(r.path_params["id"], p.own)),
            ("/v2/company", self._company),
            ("/v2/users/me", self._me),
            ("/v2/users/me/project_assignments", self._project_assignments),
            ("/v2/users/{user_id:int}/project_assignments", self._project_assignments),
            ("/v2/users/{user_id:int}/teammates", self._teammates),
            ("/v2/reports/uninvoiced", lambda r, q, p: self.reports.uninvoiced(q)),
            ("/v2/reports/project_budget", lambda r, q, p: self.reports.project_budget(q)),
        ]
        table += [(f"/v2/reports/time/{kind}", self._report(self.reports.time, kind)) for kind in TIME_KINDS]
        table += [
            (f"/v2/reports/expenses/{kind}", self._report(self.reports.expenses, kind))
            for kind in EXPENSE_KINDS
        ]
        for listing in LISTINGS:
            table.append((listing.path, self._list(listing)))
            if listing.parent is None:
                table.append((listing.path + "/{id:int}", self._single(listing.entity)))
        routes: list[BaseRoute] = [*admin_routes(self.state, self.admin)]
        routes += [Route(path, self.api(fn), methods=["GET"]) for path, fn in table]
        routes.append(Route("/{rest:path}", self.api(self._not_found), methods=["GET"]))
        return routes


ENTITIES = (
    "users", "roles", "clients", "contacts", "projects", "tasks", "task_assignments", "user_assignments",
    "billable_rates", "cost_rates", "expense_categories", "invoice_item_categories", "estimate_item_categories",
    "company", "expenses", *BILLING,
)  # fmt: skip


create_app = HarvestSandbox.create_app
