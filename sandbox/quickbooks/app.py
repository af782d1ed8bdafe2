"""The QuickBooks Online sandbox: an ASGI app imitating the Intuit Accounting API v3 and its OAuth 2.0
token endpoint, from the public contract only (`/work/shared/reference/quickbooks.md`; the facts and
the choices made where it says UNCONFIRMED are listed in docs/sandbox-quickbooks.md).

Mount it where both real hosts' roots would be: the API is `/v3/company/{realmId}/...` (real:
`https://quickbooks.api.intuit.com/v3`), the token endpoint `/oauth2/v1/tokens/bearer` (real:
`https://oauth.platform.intuit.com`). Every API request goes through the shared `ApiPipeline` (request
log, injected faults, bearer authentication, the 500 requests/min and 40 batches/min limits) inside a
gate allowing 10 requests in flight per realm; then `minorversion` and `requestid` are checked, a
repeated `requestid` is answered with the first response, and the operation runs.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.app import ApiPipeline, Sandbox
from sandbox.common import JSON, RateWindow, SandboxOptions, relative_path
from sandbox.org import Org
from sandbox.quickbooks.admin import QuickBooksAdmin, quickbooks_admin_routes
from sandbox.quickbooks.batch import batch_items, run_batch
from sandbox.quickbooks.listing import page, parse, run
from sandbox.quickbooks.oauth import TokenEndpoint, Tokens
from sandbox.quickbooks.options import QuickBooksOptions
from sandbox.quickbooks.params import (
    ApiError,
    GatewayError,
    auth_failed,
    business,
    envelope,
    object_not_found,
    query_error,
    realm_denied,
    response_time,
    server_fault,
    throttled,
    unsupported,
)
from sandbox.quickbooks.records import BY_NAME, BY_PATH, Kind, Writer
from sandbox.quickbooks.seed import seed
from sandbox.quickbooks.store import Company, Replay

Record = dict[str, Any]
# Published limits (reference §3): 500 requests per minute per realm (batch items each count), and
# 40 batch requests per minute per realm. The 10-in-flight limit is the gate of `QuickBooksSandbox`.
DEFAULT_LIMITS = {"quickbooks": (RateWindow(500, 60),), "quickbooks_batch": (RateWindow(40, 60),)}
Endpoint = Callable[[Request, "Principal"], Awaitable[Record]]


@dataclass(frozen=True)
class Principal:
    """An access token's grant: the realm it may use. `email` keys the request log and the limiter."""

    email: str
    key: str
    realm_id: str


class QuickBooksSandbox(Sandbox):
    """State and routes of one QuickBooks sandbox app (one app client, one company)."""

    limits = DEFAULT_LIMITS

    def __init__(self, options: SandboxOptions, org: Org | None = None) -> None:
        super().__init__(options, org)
        self.qbo = options.quickbooks or QuickBooksOptions()
        self.company = Company(self.qbo.realm_id)
        self.tokens = Tokens(self.qbo)
        self.token_endpoint = TokenEndpoint(self.tokens, self.qbo)
        self.token_pipeline = ApiPipeline(self.state, self.token_endpoint.authenticate, lambda r: (), self.token_endpoint.error)  # fmt: skip
        self.in_flight: Counter[str] = Counter()
        self.admin = QuickBooksAdmin(self)
        self.state.on_reset.append(self._fresh_company)  # `POST /_admin/reset` starts the company anew
        self._fresh_company()

    def _fresh_company(self) -> None:
        """A fresh seeded company, the initial refresh token live again, no request in flight."""
        self.company.reset()
        seed(self.company, self.org, self.qbo.seed)
        self.tokens.reset()
        self.in_flight.clear()

    def reset(self) -> None:
        """A fresh company, the initial refresh token live again, logs, limits and faults cleared."""
        self.state.reset()

    def writer(self, cutoff: int | None = None) -> Writer:
        return Writer(self.company, self.qbo, cutoff)

    # -- cross-cutting ----------------------------------------------------------------------------
    def authenticate(self, request: Request) -> Principal | Response:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() != "bearer " or not header[7:].strip():
            return auth_failed("Token invalid: no bearer access token in the Authorization header")
        access = self.tokens.check(header[7:].strip())
        if isinstance(access, str):
            return auth_failed(access)
        realm = request.path_params.get("realm", "")
        if realm != access.realm_id:
            return realm_denied(realm)  # an unknown realm: 403 (UNCONFIRMED: 401 or 403)
        return Principal(f"realm:{realm}", access.token, realm)

    @staticmethod
    def buckets(request: Request) -> tuple[str, ...]:
        is_batch = relative_path(request).endswith("/batch")
        return ("quickbooks", "quickbooks_batch") if is_batch else ("quickbooks",)

    @staticmethod
    def error(request: Request, status: int, kind: str, message: str) -> Response:
        """Errors the shared pipeline makes (limits, injected faults) in QuickBooks' shapes."""
        if status == 401:
            return auth_failed(message)
        if status == 403:
            return realm_denied(request.path_params.get("realm", ""))
        if status == 429:
            response = throttled()
            response.keep_retry_after = kind == "Injected"  # `fail_next` asked for one explicitly
            return response
        if status >= 500:
            return server_fault(status, message)
        return ApiError(status, "6000", "A business validation error has occurred", message).response

    @staticmethod
    def forbidden(request: Request) -> Response:
        return realm_denied(request.path_params.get("realm", ""))

    def unrouted(self, request: Request, status: int, detail: str) -> Response:
        return unsupported(
            f"Unsupported Operation: {request.method} {relative_path(request)}", status
        ).response

    def gated(
        self, endpoint: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """At most `max_concurrent` requests in flight per realm (429 beyond); Retry-After only on request."""

        async def run_gated(request: Request) -> Response:
            realm = request.path_params.get("realm", "")
            if self.options.rate_limit and self.in_flight[realm] >= self.qbo.max_concurrent:
                self.state.log.add(request, relative_path(request))["status"] = 429
                response: Response = throttled(f"More than {self.qbo.max_concurrent} concurrent requests.")
            else:
                self.in_flight[realm] += 1
                try:
                    response = await endpoint(request)
                finally:
                    self.in_flight[realm] -= 1
            if response.status_code == 429 and isinstance(response, GatewayError):
                if self.qbo.retry_after:
                    response.headers.setdefault("Retry-After", "1")
                elif not response.keep_retry_after:
                    del response.headers["Retry-After"]
            return response

        return run_gated

    def api(self, fn: Endpoint, batch: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """An API endpoint: minorversion, requestid (replay or remember), the operation, its Fault."""

        async def handler(request: Request, principal: Principal) -> Response:
            try:
                self._minor_version(request)
                request_id = self._request_id(request, batch)
            except ApiError as exc:
                return exc.response
            replay = self.company.replay(request_id) if request_id else None
            if replay is not None:
                return Response(replay.body, replay.status, media_type="application/json")
            try:
                response: Response = JSON(await fn(request, principal))
            except ApiError as exc:
                response = exc.response
            except _Throttled as exc:
                return exc.response
            if request_id:
                self.company.remember(request_id, Replay(response.status_code, bytes(response.body), relative_path(request)))  # fmt: skip
            return response

        return self.gated(self.pipeline.wrap(handler))

    def _minor_version(self, request: Request) -> None:
        raw = request.query_params.get("minorversion")
        if raw is None:  # never required (reference §10.3); the sandbox's shapes do not vary by version
            return
        if not raw.isdigit():
            raise business(f"minorversion must be a whole number, not {raw!r}", "minorversion")
        low = self.qbo.min_minor_version
        if low is not None and int(raw) < low:
            raise business(f"minor version {raw} is no longer supported: use {low} or later", "minorversion")

    @staticmethod
    def _request_id(request: Request, batch: bool) -> str | None:
        request_id = request.query_params.get("requestid") or None
        limit = 36 if batch else 50
        if request_id is not None and len(request_id) > limit:
            raise business(
                f"requestid has at most {limit} characters here, not {len(request_id)}", "requestid"
            )
        return request_id

    # -- endpoints --------------------------------------------------------------------------------
    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return json.loads((await request.body()).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise unsupported("Unsupported Operation: the request body is not UTF-8 JSON") from None

    @staticmethod
    def _kind(request: Request) -> Kind:
        kind = BY_PATH.get(request.path_params["entity"])
        if kind is None:
            raise unsupported(f"Unsupported Operation: {relative_path(request)} is not supported", 404)
        return kind

    def operate(self, kind: Kind, operation: str, body: Any, writer: Writer) -> Record:
        if operation == "delete":
            return writer.delete(kind, body)
        if operation == "update":
            return writer.update(kind, body)
        return writer.create(kind, body)

    async def _write(self, request: Request, p: Principal) -> Record:
        kind = self._kind(request)
        body = await self._json(request)
        operation = request.query_params.get("operation")
        if operation not in (None, "update", "delete"):
            raise ApiError(400, "2170", "Invalid Enumeration", f"Invalid Enumeration : operation={operation}", "operation")  # fmt: skip
        if operation is None:
            operation = "update" if isinstance(body, dict) and body.get("Id") not in (None, "") else "create"
        return envelope(kind.name, self.operate(kind, operation, body, self.writer()))

    async def _read(self, request: Request, p: Principal) -> Record:
        kind = self._kind(request)
        record = self.company.get(kind.name, request.path_params["id"])
        if record is None:
            raise object_not_found(kind.name, request.path_params["id"])
        return envelope(kind.name, self.writer().render(kind, record))

    def run_query(self, text: Any, cutoff: int | None = None) -> Record:
        """The `QueryResponse` object of a query text (see sandbox.quickbooks.listing)."""
        if not isinstance(text, str) or not text.strip():
            raise query_error("no query given")
        query = parse(text)
        kind = BY_NAME.get(query.entity)
        if kind is None:
            raise query_error(f"unknown entity {query.entity!r} (entity names are case-sensitive)")
        writer = self.writer(cutoff)
        rows = run(
            query, [writer.render(kind, r) for r in self.company.all(kind.name, cutoff)], kind.filterable
        )
        if query.count:
            return {"totalCount": len(rows)}
        return page(query, rows, kind.name, self.qbo.default_max_results, self.qbo.max_results)

    async def _query(self, request: Request, p: Principal) -> Record:
        if request.method == "GET":
            text: Any = request.query_params.get("query")
        else:
            media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if media not in ("application/text", "text/plain"):
                raise unsupported(f"Unsupported Operation: a query POST is sent as application/text, not {media or 'nothing'}")  # fmt: skip
            try:
                text = (await request.body()).decode("utf-8")
            except UnicodeDecodeError:
                raise unsupported("Unsupported Operation: the query is not UTF-8") from None
        return {"QueryResponse": self.run_query(text), "time": response_time()}

    async def _batch(self, request: Request, p: Principal) -> Record:
        items = batch_items(
            await self._json(request), self.qbo.batch_max_items, self._request_id(request, True)
        )
        if self.options.rate_limit:  # each item is metered like a call; the batch request was one
            for _ in items[1:]:
                if self.state.limiter.hit(p.email, ("quickbooks",)) is not None:
                    raise _Throttled(throttled())
        return run_batch(items, self.writer(self.company.seq), self.operate, self.run_query)

    def routes(self) -> list[BaseRoute]:
        base = "/v3/company/{realm}"
        token = self.token_pipeline.wrap(self.token_endpoint.handle)
        return [
            *quickbooks_admin_routes(self),
            Route("/oauth2/v1/tokens/bearer", token, methods=["POST"]),
            Route(f"{base}/query", self.api(self._query), methods=["GET", "POST"]),
            Route(f"{base}/batch", self.api(self._batch, batch=True), methods=["POST"]),
            Route(f"{base}/{{entity}}", self.api(self._write), methods=["POST"]),
            Route(f"{base}/{{entity}}/{{id}}", self.api(self._read), methods=["GET"]),
        ]


class _Throttled(Exception):
    """A batch whose items overflow the per-minute limit: answered 429, not remembered for requestid."""

    def __init__(self, response: Response) -> None:
        super().__init__("throttled")
        self.response = response


create_app = QuickBooksSandbox.create_app
