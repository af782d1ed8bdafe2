"""The Runn sandbox: an ASGI app imitating Runn's REST API v1 (`Accept-Version: 1.0.0`).

Built from `/work/shared/reference/runn.md` only (see docs/sandbox-runn.md for the facts implemented
and the choices made where the reference is UNCONFIRMED), never from what a writer sends. Mount it
where the real API's root is (`https://api.runn.io`): paths below are the API's, e.g. `/clients/`.
Every path answers with and without its trailing slash. Runn is a destination: the account starts
empty and holds what clients write (plus what the admin API seeds as if made by hand in Runn).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.app import Sandbox
from sandbox.common import JSON, RateWindow, SandboxOptions
from sandbox.org import Org
from sandbox.runn import records
from sandbox.runn.admin import RunnAdmin, runn_admin_routes
from sandbox.runn.listing import LISTINGS, contains, has_external_id, page
from sandbox.runn.params import ApiError, Query, error, json_body, path_id
from sandbox.runn.store import Store

Record = dict[str, Any]
Handler = Callable[[Request], Awaitable[tuple[int, Any]]]
# 120 requests per minute per token (reference §3: Runn's own rate-limit test; UNCONFIRMED for v1).
DEFAULT_LIMITS = {"runn": (RateWindow(120, 60),)}
API_VERSION = "1.0.0"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """An API token: `email` names it in the request log and keys its rate limit (per token)."""

    email: str
    key: str
    write: bool


class RunnSandbox(Sandbox):
    """State, authentication and routes of one Runn sandbox app."""

    limits = DEFAULT_LIMITS

    def __init__(self, options: SandboxOptions, org: Org | None = None) -> None:
        super().__init__(options, org)
        self.store = Store()
        self.state.on_reset.append(self.store.reset)  # the admin reset empties the account too
        self.tokens = {options.runn_token: Principal("runn-token", options.runn_token, True)}
        if options.runn_read_token:
            self.tokens[options.runn_read_token] = Principal(
                "runn-read-token", options.runn_read_token, False
            )
        self.admin = RunnAdmin(self.store, self.info)

    def info(self) -> Record:
        return {
            "credentials": {
                "token": self.options.runn_token,
                "read_token": self.options.runn_read_token,
                "accept_version": API_VERSION,
            },
            **self.state.limits_info(),
            "counts": {table: len(rows) for table, rows in self.store.tables.items()},
            "admin_entities": list(self.store.tables),
            "settings": {"unique_names": self.store.unique_names},
        }

    # -- cross-cutting --------------------------------------------------------------------------
    def error(self, request: Request, status: int, kind: str, message: str) -> Response:
        return error(
            status, "Rate limit exceeded" if status == 429 and kind == "TooManyRequests" else message
        )

    def authenticate(self, request: Request) -> Principal | Response:
        """Bearer token (401), then `Accept-Version: 1.0.0` (400), then the token's scope (401 on a
        write with a read token: UNCONFIRMED status, the spec declares only 400/401 for writes)."""
        auth = request.headers.get("authorization", "").strip()
        if not auth:
            return error(401, "Missing Authorization header: send 'Authorization: Bearer <token>'")
        scheme, _, token = auth.partition(" ")
        principal = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            return error(401, "Invalid API token")
        version = request.headers.get("accept-version")
        if version is None:
            return error(400, "headers must have required property 'accept-version'")
        if version.strip() != API_VERSION:
            return error(
                400, f"headers/accept-version must be equal to one of the allowed values: {API_VERSION}"
            )
        if request.method in WRITES and not principal.write:
            return error(401, "This API token has read scope: it cannot create, update or delete")
        return principal

    def _limit_headers(self, request: Request, response: Response) -> None:
        """`X-RateLimit-*` on every answer to a known token, as clients read them (reference §3)."""
        auth = request.headers.get("authorization", "")
        principal = self.tokens.get(auth.partition(" ")[2].strip())
        if not self.options.rate_limit or principal is None:
            return
        limit, remaining, reset = self.state.limiter.status(principal.email, "runn")
        if response.status_code == 429:
            remaining, reset = 0, int(response.headers.get("retry-after", reset) or 0)
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(reset)

    def unrouted(self, request: Request, status: int, detail: str) -> Response:
        if status == 404:
            return error(404, f"Route {request.method}:{request.url.path} not found")
        return error(status, f"Method {request.method} is not allowed on {request.url.path}")

    def api(self, fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request, principal: Principal) -> Response:
            status, payload = await fn(request)
            return Response(status_code=204) if status == 204 else JSON(payload, status)

        inner = self.pipeline.wrap(handler)

        async def endpoint(request: Request) -> Response:
            response = await inner(request)
            self._limit_headers(request, response)
            return response

        return endpoint

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _plain(request: Request, allowed: frozenset[str] = frozenset()) -> Query:
        return Query(request, set(allowed))

    def _role(self, record: Record) -> Record:
        return records.role(record, self.store.role_person_ids(record["id"]))

    async def _body(self, request: Request) -> Any:
        self._plain(request)
        return await json_body(request)

    # -- clients --------------------------------------------------------------------------------
    async def list_clients(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["clients"].query(request)
        rows = [r for r in self.store.rows("clients") if contains(r["name"], q.text("name"))]
        return 200, page(q, LISTINGS["clients"], rows, records.client)

    async def create_client(self, request: Request) -> tuple[int, Any]:
        return 201, records.client(self.store.create_client(await self._body(request)))

    async def bulk_clients(self, request: Request) -> tuple[int, Any]:
        return 200, [records.client(r) for r in self.store.create_clients(await self._body(request))]

    async def get_client(self, request: Request) -> tuple[int, Any]:
        self._plain(request)
        return 200, records.client(self.store.get("clients", path_id(request)))

    async def patch_client(self, request: Request) -> tuple[int, Any]:
        ident = path_id(request)
        return 200, records.client(self.store.update_client(ident, await self._body(request)))

    async def client_projects(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["client_projects"].query(request)
        client_id = self.store.get("clients", path_id(request))["id"]
        archived = q.flag("includeArchived")
        rows = [p for p in self.store.rows("projects")
                if p["clientId"] == client_id and (archived or not p["isArchived"])]  # fmt: skip
        return 200, page(q, LISTINGS["client_projects"], rows, records.project)

    # -- projects and roles ---------------------------------------------------------------------
    async def list_projects(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["projects"].query(request)
        return 200, page(q, LISTINGS["projects"], self.store.rows("projects"), records.project)

    async def create_project(self, request: Request) -> tuple[int, Any]:
        return 201, records.project(self.store.create_project(await self._body(request)))

    async def get_project(self, request: Request) -> tuple[int, Any]:
        self._plain(request)
        return 200, records.project(self.store.get("projects", path_id(request)))

    async def patch_project(self, request: Request) -> tuple[int, Any]:
        ident = path_id(request)
        return 200, records.project(self.store.update_project(ident, await self._body(request)))

    async def list_roles(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["roles"].query(request)
        return 200, page(q, LISTINGS["roles"], self.store.rows("roles"), self._role)

    async def create_role(self, request: Request) -> tuple[int, Any]:
        return 201, self._role(self.store.create_role(await self._body(request)))

    async def get_role(self, request: Request) -> tuple[int, Any]:
        self._plain(request)
        return 200, self._role(self.store.get("roles", path_id(request)))

    # -- people ---------------------------------------------------------------------------------
    async def list_people(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["people"].query(request)
        q.flag("includePlaceholders")  # the sandbox has no placeholders: checked, then nothing to add
        rows = [
            p for p in self.store.rows("people")
            if contains(p["email"], q.text("email")) and contains(p["firstName"], q.text("firstName"))
            and contains(p["lastName"], q.text("lastName")) and has_external_id(p, q.text("externalId"))
        ]  # fmt: skip
        return 200, page(q, LISTINGS["people"], rows, records.person_in_list)

    async def create_person(self, request: Request) -> tuple[int, Any]:
        return 201, records.person(self.store.create_person(await self._body(request)))

    async def get_person(self, request: Request) -> tuple[int, Any]:
        self._plain(request)
        return 200, records.person(self.store.get("people", path_id(request)))

    async def patch_person(self, request: Request) -> tuple[int, Any]:
        ident = path_id(request)
        return 200, records.person(self.store.update_person(ident, await self._body(request)))

    async def delete_person(self, request: Request) -> tuple[int, Any]:
        q = self._plain(request, frozenset({"force"}))
        self.store.delete_person(path_id(request), q.flag("force"))
        return 204, None

    async def person_actuals(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["person_actuals"].query(request)
        ident = self.store.get("people", path_id(request))["id"]
        rows = [a for a in self.store.rows("actuals") if a["personId"] == ident]
        return 200, page(q, LISTINGS["person_actuals"], rows, records.actual)

    async def list_contracts(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["contracts"].query(request)
        ident = self.store.get("people", path_id(request))["id"]
        return 200, page(q, LISTINGS["contracts"], self.store.contracts_of(ident), records.contract)

    async def add_contract(self, request: Request) -> tuple[int, Any]:
        ident = path_id(request)
        return 201, records.contract(self.store.add_contract(ident, await self._body(request)))

    async def current_contract(self, request: Request) -> tuple[int, Any]:
        self._plain(request)
        current = self.store.current_contract(self.store.get("people", path_id(request))["id"])
        if current is None:
            raise ApiError(404, "The person has no contract")
        return 200, records.contract(current)

    # -- actuals --------------------------------------------------------------------------------
    async def list_actuals(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["actuals"].query(request)
        low, high = q.day("minDate"), q.day("maxDate")
        wanted = {k: q.integer(k) for k in ("personId", "projectId", "roleId", "workstreamId")}
        rows = [
            a for a in self.store.rows("actuals")
            if (low is None or a["date"] >= low) and (high is None or a["date"] <= high)
            and all(v is None or a[k] == v for k, v in wanted.items())
        ]  # fmt: skip
        return 200, page(q, LISTINGS["actuals"], rows, records.actual)

    async def project_actuals(self, request: Request) -> tuple[int, Any]:
        q = LISTINGS["project_actuals"].query(request)
        ident = self.store.get("projects", path_id(request))["id"]
        rows = [a for a in self.store.rows("actuals") if a["projectId"] == ident]
        return 200, page(q, LISTINGS["project_actuals"], rows, records.actual)

    async def create_actual(self, request: Request) -> tuple[int, Any]:
        data = self.store.actual_input(await self._body(request))
        return 201, records.actual(self.store.write_actual(data))

    async def bulk_actuals(self, request: Request) -> tuple[int, Any]:
        return 200, [records.actual(r) for r in self.store.write_actuals(await self._body(request))]

    async def time_entry(self, request: Request) -> tuple[int, Any]:
        data = self.store.actual_input(await self._body(request))
        return 201, records.actual(self.store.write_actual(data, additive=True))

    async def delete_actual(self, request: Request) -> tuple[int, Any]:
        self._plain(request)
        self.store.delete_actual(path_id(request))
        return 204, None

    def routes(self) -> list[BaseRoute]:
        """Every endpoint at its spec path (trailing slash as in the spec) and without/with the slash."""
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/clients/", self.list_clients), ("POST", "/clients/", self.create_client),
            ("POST", "/clients/bulk/", self.bulk_clients), ("GET", "/clients/{id}", self.get_client),
            ("PATCH", "/clients/{id}", self.patch_client), ("GET", "/clients/{id}/projects/", self.client_projects),
            ("GET", "/projects/", self.list_projects), ("POST", "/projects/", self.create_project),
            ("GET", "/projects/{id}", self.get_project), ("PATCH", "/projects/{id}", self.patch_project),
            ("GET", "/projects/{id}/actuals/", self.project_actuals),
            ("GET", "/roles/", self.list_roles), ("POST", "/roles/", self.create_role),
            ("GET", "/roles/{id}", self.get_role),
            ("GET", "/people/", self.list_people), ("POST", "/people/", self.create_person),
            ("GET", "/people/{id}", self.get_person), ("PATCH", "/people/{id}", self.patch_person),
            ("DELETE", "/people/{id}", self.delete_person), ("GET", "/people/{id}/actuals/", self.person_actuals),
            ("GET", "/people/{id}/contracts/", self.list_contracts),
            ("POST", "/people/{id}/contracts/", self.add_contract),
            ("GET", "/people/{id}/contracts/current", self.current_contract),
            ("GET", "/actuals/", self.list_actuals), ("POST", "/actuals/", self.create_actual),
            ("POST", "/actuals/bulk/", self.bulk_actuals), ("POST", "/actuals/time-entry", self.time_entry),
            ("DELETE", "/actuals/{id}/", self.delete_actual),
        ]  # fmt: skip
        routes: list[BaseRoute] = list(runn_admin_routes(self.state, self.admin))
        for method, path, fn in table:
            endpoint = self.api(fn)
            bare = path.rstrip("/")
            routes += [Route(bare, endpoint, methods=[method]), Route(bare + "/", endpoint, methods=[method])]
        return routes


create_app = RunnSandbox.create_app
