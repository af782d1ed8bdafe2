"""Admin API of the QuickBooks sandbox (`/_admin/...`; not part of QuickBooks).

Besides the shared routes (`sandbox.admin`: reset, requests, faults, org, and record edits; the reset
also brings back a fresh seeded company, the initial refresh token live again and no remembered
requestids), it serves:

    GET  /_admin/state               everything the company holds (?entity=TimeActivity for one kind),
                                     ids deleted, requestids remembered, token states
    GET  /_admin/tokens              token states (refresh and access tokens: live/used/expired/revoked)
    POST /_admin/tokens/issue        a fresh consent: a new refresh token and access token (the response)
    POST /_admin/tokens/expire       {"access": true, "refresh": false}: expire tokens now
    POST /_admin/tokens/revoke       revoke every token, as an app disconnect (refresh: invalid_grant)

Record edits use the API's entity path names (`employee`, `customer`, `vendor`, `item`, `account`,
`timeactivity`) and QuickBooks' own property names: `POST /_admin/customer {"DisplayName": ..}` seeds
with the API's validation (an `Id` in the body chooses the id), `PATCH /_admin/employee/{id}
{"Active": false}` is a sparse update without a SyncToken (it still bumps it), `DELETE
/_admin/employee/{id}` removes the record outright (references to it then fail with 2500).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.admin import admin_routes, json_object, writable_entity
from sandbox.common import AdminError
from sandbox.quickbooks.params import ApiError
from sandbox.quickbooks.records import BY_NAME, BY_PATH, Kind

if TYPE_CHECKING:
    from sandbox.quickbooks.app import QuickBooksSandbox

Record = dict[str, Any]


def _admin_error(exc: ApiError) -> AdminError:
    error = exc.fault["Error"][0]
    return AdminError(400, f"{error['code']} {error['Message']}: {error['Detail']}")


class QuickBooksAdmin:
    """The `AdminBackend` of the QuickBooks app: writes with the API's rules, minus auth and SyncToken."""

    def __init__(self, sandbox: QuickBooksSandbox) -> None:
        self.sandbox = sandbox

    def _kind(self, entity: str) -> Kind:
        return BY_PATH[writable_entity(entity, BY_PATH, ())]

    def insert(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = self._kind(entity)
        record_id = body.get("Id")
        if record_id is not None and (
            not str(record_id).isdigit() or self.sandbox.company.get(kind.name, str(record_id))
        ):
            raise AdminError(409 if str(record_id).isdigit() else 400, f"{kind.name} Id {record_id!r} is taken or not numeric")  # fmt: skip
        try:
            return self.sandbox.writer().create(
                kind, body, record_id=str(record_id) if record_id else None, admin=True
            )
        except ApiError as exc:
            raise _admin_error(exc) from None

    def patch(self, entity: str, record_id: int, body: dict[str, Any]) -> dict[str, Any]:
        kind = self._kind(entity)
        current = self.sandbox.company.get(kind.name, str(record_id))
        if current is None:
            raise AdminError(404, f"{kind.name} {record_id} not found")
        update = {**body, "Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True}
        try:
            return self.sandbox.writer().update(kind, update, admin=True)
        except ApiError as exc:
            raise _admin_error(exc) from None

    def delete(self, entity: str, record_id: int) -> None:
        kind = self._kind(entity)
        if self.sandbox.company.get(kind.name, str(record_id)) is None:
            raise AdminError(404, f"{kind.name} {record_id} not found")
        self.sandbox.company.delete(kind.name, str(record_id))

    def info(self) -> Record:
        s = self.sandbox
        q = s.qbo
        return {
            "credentials": {"client_id": q.client_id, "client_secret": q.client_secret,
                            "refresh_token": q.refresh_token, "realm_id": q.realm_id},
            "paths": {"api_base": "/v3", "company": f"/v3/company/{q.realm_id}",
                      "token_endpoint": "/oauth2/v1/tokens/bearer"},
            "org": s.org.describe(),
            "counts": {name: len(rows) for name, rows in s.company.records.items()},
            **s.state.limits_info(),
            "max_concurrent": q.max_concurrent,
            "batch_max_items": q.batch_max_items,
            "access_token_seconds": q.access_token_seconds,
            "admin_entities": sorted(BY_PATH),
        }  # fmt: skip

    def state(self, entity: str | None) -> Record:
        s = self.sandbox
        if entity is not None and entity not in BY_NAME:
            raise AdminError(404, f"unknown entity {entity!r}; known: {sorted(BY_NAME)}")
        writer = s.writer()
        names = [entity] if entity else list(BY_NAME)
        return {
            "realm_id": s.company.realm_id,
            "entities": {n: [writer.render(BY_NAME[n], r) for r in s.company.all(n)] for n in names},
            "deleted": {n: list(s.company.deleted[n]) for n in names},
            "request_ids": [{"requestid": rid, "status": r.status, "path": r.path}
                            for rid, r in s.company.replays.items()],
            "tokens": s.tokens.snapshot(),
        }  # fmt: skip


def quickbooks_admin_routes(sandbox: QuickBooksSandbox) -> list[Route]:
    """The shared admin routes with the QuickBooks-only ones."""

    async def state(request: Request) -> Any:
        return sandbox.admin.state(request.query_params.get("entity"))

    async def tokens(request: Request) -> Any:
        return sandbox.tokens.snapshot()

    async def issue(request: Request) -> Any:
        return sandbox.tokens.issue()

    async def expire(request: Request) -> Any:
        body = await json_object(request, 'give {"access": true, "refresh": false}')
        if set(body) - {"access", "refresh"}:
            raise AdminError(400, 'give {"access": true, "refresh": false}')
        sandbox.tokens.expire(bool(body.get("access", True)), bool(body.get("refresh", False)))
        return sandbox.tokens.snapshot()

    async def revoke(request: Request) -> Any:
        sandbox.tokens.revoke()
        return sandbox.tokens.snapshot()

    extra = [
        ("/_admin/state", state, ["GET"]),
        ("/_admin/tokens", tokens, ["GET"]),
        ("/_admin/tokens/issue", issue, ["POST"]),
        ("/_admin/tokens/expire", expire, ["POST"]),
        ("/_admin/tokens/revoke", revoke, ["POST"]),
    ]
    return admin_routes(sandbox.state, sandbox.admin, extra)
