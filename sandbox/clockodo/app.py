"""The Clockodo sandbox: an ASGI app imitating Clockodo's REST API from its public contract.

Built from `/work/shared/reference/clockodo.md` (see docs/sandbox.md for the facts implemented and the
choices made where the reference is UNCONFIRMED), never from what a connector sends. Mount it where the
real API lives (`https://my.clockodo.com/api`): paths below are relative to that root.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.admin import admin_routes
from sandbox.app import ApiError, Sandbox
from sandbox.clockodo import records
from sandbox.clockodo.admin import ClockodoAdmin
from sandbox.clockodo.entries import Entries
from sandbox.clockodo.listing import (
    LISTINGS,
    Listing,
    list_records,
    nonbusiness_days,
    trim,
    users_nonbusiness_days,
)
from sandbox.clockodo.params import Query, general_error, simple_error
from sandbox.clockodo.reports import UserReports, work_times
from sandbox.common import JSON, RateWindow, SandboxOptions
from sandbox.common import relative_path as rel_path
from sandbox.org import Org
from sandbox.store import GeneratedRecords

Record = dict[str, Any]
Endpoint = Callable[[Request, Query, "Principal"], Any]  # returns a JSON-able payload or RawJSON
# Published limits per authenticated user; the enhanced entries list has its own bucket on top.
DEFAULT_LIMITS = {
    "global": (
        RateWindow(900, 60),
        RateWindow(2250, 900),
        RateWindow(4500, 3600),
        RateWindow(20_000, 86_400),
    ),
    "entries_enhanced": (RateWindow(300, 900),),
}
# Endpoints answering errors as {"error": {...}} (entries, work times, unversioned v1) rather than {"errors": [...]}.
SIMPLE_PREFIXES = ("/v2/entries", "/entries", "/v2/workTimes", "/targethours", "/userreports")
GONE = (
    "/v2/customers",
    "/absences",
    "/v2/absences",
    "/v3/absences",
    "/entries",
)  # 410, live-tested or removed
EXTERNAL_APP = "X-Clockodo-External-Application"
ISO_HEADER = "X-ClockodoEnableIsoUtcDateTimes"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the owner key has full rights, the worker key a worker's."""

    email: str
    user_id: int
    full_rights: bool
    key: str = ""  # the API key used (the sandbox's `forbidden` rules may name it)


def style_for(path: str) -> str:
    return "simple" if path.startswith(SIMPLE_PREFIXES) else "general"


def by_id(entity: str, rows: list[Record]) -> list[Record]:
    return sorted(rows, key=lambda r: r["id"])


class ClockodoSandbox(Sandbox):
    """State, data views and routes of one Clockodo sandbox app."""

    limits = DEFAULT_LIMITS

    def __init__(self, options: SandboxOptions, org: Org | None = None) -> None:
        super().__init__(options, org)
        # generated records, listed by id, with admin edits applied
        self.records = GeneratedRecords(self.state.overlay, lambda e: records.BUILDERS[e](self.org), by_id)
        self.base, self.dims = self.records.base, self.records.dims
        self.entries = Entries(self.state, self.dims)
        self.reports = UserReports(self.state, self.entries, self.dims)
        owner = self.org.people[0]
        self.credentials = {
            (options.api_user.lower(), options.api_key): Principal(options.api_user, owner.id, True)
        }
        if options.worker_api_key and len(self.org.people) > 1:
            worker = self.org.people[1]
            self.credentials[(worker.email.lower(), options.worker_api_key)] = Principal(
                worker.email, worker.id, False
            )
        self.credentials = {(u, k): replace(p, key=k) for (u, k), p in self.credentials.items()}
        self.admin = ClockodoAdmin(self.state, self.records, self.info, self.entries)

    def info(self) -> Record:
        worker = next((c for c in self.credentials.items() if not c[1].full_rights), None)
        return {
            "credentials": {
                "api_user": self.options.api_user,
                "api_key": self.options.api_key,
                "worker_api_user": worker[0][0] if worker else None,
                "worker_api_key": worker[0][1] if worker else None,
                "external_application": "couplet;dev@couplet.dev",
            },
            "org": self.org.describe(),
            **self.state.limits_info(),
            "admin_entities": sorted([*records.BUILDERS, "entries"]),
            "derived_entities": ["customers_projects", "user_reports", "work_times"],
        }

    # -- cross-cutting --------------------------------------------------------------------------
    def error(self, request: Request, status: int, kind: str, message: str) -> Response:
        if style_for(rel_path(request)) == "simple":
            return simple_error(status, message)
        return general_error(status, kind, message)

    def forbidden(self, request: Request) -> Response:
        # reference §1.7: 403 = insufficient rights, in the endpoint's error shape
        return self.error(request, 403, "InsufficientRights", "Insufficient access rights")

    def authenticate(self, request: Request) -> Principal | Response:
        """Headers X-ClockodoApiUser + X-ClockodoApiKey, or HTTP Basic (e-mail:key); then the client id."""
        user, key = request.headers.get("X-ClockodoApiUser"), request.headers.get("X-ClockodoApiKey")
        auth = request.headers.get("Authorization", "")
        if user is None and key is None and auth[:6].lower() == "basic ":
            try:
                user, _, key = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = key = None
        principal = self.credentials.get(((user or "").lower(), key or ""))
        if principal is None:
            return self.error(request, 401, "AuthenticationFailed", "Authentication failed")
        client = request.headers.get(EXTERNAL_APP)
        if not client:
            return self._bad_header(request, f"Missing header {EXTERNAL_APP}")
        name, _, contact = client.partition(";")
        if not name or "@" not in contact or len(client) > 50:
            return self._bad_header(
                request, f"{EXTERNAL_APP} must be '<application>;<e-mail>', at most 50 chars"
            )
        return principal

    def _bad_header(self, request: Request, message: str) -> Response:
        if style_for(rel_path(request)) == "simple":
            return simple_error(400, message, [EXTERNAL_APP])
        return general_error(400, "MissingHeader", message, path=EXTERNAL_APP)

    def buckets(self, request: Request) -> list[str]:
        path = rel_path(request)
        enhanced = request.query_params.get("enhanced_list", "").lower() in ("1", "true")
        if request.method == "GET" and path.startswith(("/v2/entries", "/entries")) and enhanced:
            return ["global", "entries_enhanced"]
        return ["global"]

    def unrouted(self, request: Request, status: int, detail: str) -> Response:
        kind = {404: "RouteNotFound", 405: "MethodNotAllowed"}.get(status, "Error")
        return general_error(status, kind, detail or kind)

    def api(self, fn: Endpoint, style: str) -> Callable[..., Any]:
        async def handler(request: Request, principal: Principal) -> Response:
            return JSON(fn(request, Query(request.query_params.multi_items(), style), principal))

        return self.pipeline.wrap(handler)

    # -- endpoints ------------------------------------------------------------------------------
    def _single(self, entity: str, envelope: str = "data") -> Endpoint:
        def handler(request: Request, q: Query, p: Principal) -> Record:
            rid = request.path_params["id"]
            row = self.records.get(entity, rid)
            own = next((li.own_only for li in LISTINGS if li.entity == entity), False)
            if row is None or (own and not p.full_rights and row.get("users_id") != p.user_id):
                if style_for(rel_path(request)) == "simple":
                    raise ApiError(simple_error(404, f"{entity} {rid} not found"))
                raise ApiError(general_error(404, "ResourceNotFound", f"{entity} {rid} not found"))
            return {envelope: trim(entity, row, p)}

        return handler

    def _list(self, listing: Listing) -> Endpoint:
        return lambda request, q, p: list_records(listing, q, p, self.dims)

    def _me(self, request: Request, q: Query, p: Principal) -> Record:
        me = self.records.get("users", p.user_id)
        if me is None:
            raise ApiError(general_error(404, "ResourceNotFound", "User not found"))
        return {"data": trim("users", me, p)}

    def _user_reports(self, request: Request, q: Query, p: Principal) -> Record:
        iso = request.headers.get(ISO_HEADER) == "1"
        if "users_id" in request.path_params:
            rows = self.reports.list(q, p, iso, request.path_params["users_id"])
            if not rows:
                raise ApiError(simple_error(404, "User report not found"))
            return {"userreport": rows[0]}
        return {"userreports": self.reports.list(q, p, iso)}

    def _access(self, request: Request, q: Query, p: Principal) -> Record:
        uid = request.path_params["users_id"]
        if self.records.get("users", uid) is None:
            raise ApiError(general_error(404, "ResourceNotFound", f"User {uid} not found"))
        if not p.full_rights and uid != p.user_id:
            raise ApiError(general_error(403, "InsufficientRights", "Insufficient access rights"))
        if uid not in self.org.person_by_id:  # an admin-inserted user has not been granted anything
            return {"add": False, "report": False, "edit": False}
        return records.access(self.org, uid)

    def _gone(self, request: Request, q: Query, p: Principal) -> Record:
        raise ApiError(
            general_error(410, "Deprecated", "This API version is deprecated and no longer available")
        )

    def _not_found(self, request: Request, q: Query, p: Principal) -> Record:
        raise ApiError(general_error(404, "RouteNotFound", f"No route for {rel_path(request)}"))

    def routes(self) -> list[BaseRoute]:
        simple, general = "simple", "general"
        table: list[tuple[str, Endpoint, str]] = [
            ("/v2/entries", lambda r, q, p: self.entries.listing(q, p), simple),
            ("/v2/entries/{id:int}", lambda r, q, p: {
                "entry": self.entries.get(r.path_params["id"], p, bool(q.flag("enhanced_list")))}, simple),
            ("/v4/users/me", self._me, general),
            ("/v2/workTimes", lambda r, q, p: work_times(self.state, self.entries, q, p), simple),
            ("/userreports", self._user_reports, simple),
            ("/userreports/{users_id:int}", self._user_reports, simple),
            ("/v2/nonbusinessDays", lambda r, q, p: nonbusiness_days(
                q, self.dims("non_business_days"), self.org.anchor), general),
            ("/v2/usersNonbusinessDays", lambda r, q, p: users_nonbusiness_days(
                q, self.dims("non_business_days"), self.dims("users"), self.org.anchor), general),
            ("/v2/nonbusinessGroups", lambda r, q, p: {"data": [
                {"id": records.NONBUSINESS_GROUP, "name": "Berlin", "company_default": True}]}, general),
            ("/v2/users/{users_id:int}/access/customers-projects", self._access, general),
            ("/targethours/{id:int}", self._single("target_hours", "targethoursRow"), simple),
        ]  # fmt: skip
        for listing in LISTINGS:
            table.append((listing.path, self._list(listing), listing.style))
            if listing.entity not in (
                "target_hours",
                "overtime_carries",
                "holidays_quota",
                "holidays_carries",
            ):
                table.append((listing.path + "/{id:int}", self._single(listing.entity), listing.style))
        for path in GONE:
            table += [
                (path, self._gone, style_for(path)),
                (path + "/{rest:path}", self._gone, style_for(path)),
            ]
        routes: list[BaseRoute] = [*admin_routes(self.state, self.admin)]
        routes += [Route(path, self.api(fn, style), methods=["GET"]) for path, fn, style in table]
        routes.append(Route("/{rest:path}", self.api(self._not_found, general), methods=["GET"]))
        return routes


create_app = ClockodoSandbox.create_app
