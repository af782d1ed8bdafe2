"""Generic admin API of every sandbox (`/_admin/...`): reset, request log, faults, org, record edits.

Not part of any real API. Tests and the demo use it to change data between runs (an edit or a delete
must show up in the next extraction), to inject failures, and to read which requests a connector made.
Each sandbox supplies an `AdminBackend` for the entity-specific part.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.common import JSON, AdminError, SandboxState


class AdminBackend(Protocol):
    """What a sandbox provides for the generic admin routes."""

    def insert(self, entity: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def patch(self, entity: str, record_id: int, body: dict[str, Any]) -> dict[str, Any]: ...
    def delete(self, entity: str, record_id: int) -> None: ...
    def info(self) -> dict[str, Any]: ...


def writable_entity(entity: str, known: Collection[str], derived: Collection[str], fix: str = "") -> str:
    """The entity an admin write names, or the error a client gets: derived entities are computed
    from others (400, with what to edit instead), unknown ones are 404 listing the known ones."""
    if entity in derived:
        raise AdminError(400, f"{entity} is derived from other data and cannot be edited directly{fix}")
    if entity not in known:
        raise AdminError(404, f"unknown entity {entity!r}; known: {sorted(known) + sorted(derived)}")
    return entity


def admin_routes(state: SandboxState, backend: AdminBackend) -> list[Route]:
    """`/_admin/...`: reset, requests, faults, org, and insert/edit/delete of any entity."""

    def guarded(fn: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                result = await fn(request)
            except AdminError as exc:
                return JSON({"error": str(exc)}, exc.status)
            return result if isinstance(result, Response) else JSON(result)

        return endpoint

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise AdminError(400, "body must be JSON") from None
        if not isinstance(data, dict):
            raise AdminError(400, "body must be a JSON object")
        return data

    def record_id(request: Request) -> int:
        try:
            return int(request.path_params["record_id"])
        except ValueError:
            raise AdminError(400, "id must be an integer") from None

    async def reset(request: Request) -> Any:
        state.reset()
        return {"reset": True}

    async def requests(request: Request) -> Any:
        return state.log.snapshot(request.query_params.get("path"))

    async def faults(request: Request) -> Any:
        if request.method == "POST":
            state.faults.configure(await body(request))
        return state.faults.snapshot()

    async def org(request: Request) -> Any:
        return backend.info()

    async def insert(request: Request) -> Any:
        return JSON(backend.insert(request.path_params["entity"], await body(request)), 201)

    async def edit(request: Request) -> Any:
        entity = request.path_params["entity"]
        if request.method == "DELETE":
            backend.delete(entity, record_id(request))
            return {"deleted": record_id(request)}
        return backend.patch(entity, record_id(request), await body(request))

    return [
        Route("/_admin/reset", guarded(reset), methods=["POST"]),
        Route("/_admin/requests", guarded(requests), methods=["GET"]),
        Route("/_admin/faults", guarded(faults), methods=["GET", "POST"]),
        Route("/_admin/org", guarded(org), methods=["GET"]),
        Route("/_admin/{entity}", guarded(insert), methods=["POST"]),
        Route("/_admin/{entity}/{record_id}", guarded(edit), methods=["PATCH", "DELETE"]),
    ]
