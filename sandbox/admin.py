"""The admin API of every sandbox (`/_admin/...`): reset, request log, faults, org, record edits.

Not part of any real API. Tests and the demo use it to change data between runs (an edit or a delete
must show up in the next extraction), to inject failures, and to read which requests a client made.

`admin_routes` serves the generic routes for any `AdminBackend`, plus a sandbox's own (`extra`):

    POST /_admin/reset                      fresh state (overlay, log, limits, faults, `on_reset` hooks)
    GET  /_admin/requests[?path=]           the request log
    GET|POST /_admin/faults                 fault knobs (`sandbox.common.Faults.configure`)
    GET  /_admin/org                        `backend.info()`
    POST /_admin/{entity}                   insert a record
    PATCH|DELETE /_admin/{entity}/{id}      edit or delete one

`RecordAdmin` is the backend of a source sandbox (records generated from the org, edits kept in the
overlay). Its API's `admin.py` subclass states the facts (required fields, foreign keys, defaults)
and overrides the hooks where its records differ. Destination sandboxes implement `AdminBackend` over
their own stores, with their API's validation.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.common import JSON, AdminError, SandboxState
from sandbox.listing import public
from sandbox.store import GeneratedRecords

Record = dict[str, Any]
AdminHandler = Callable[[Request], Awaitable[Any]]


class AdminBackend(Protocol):
    """What a sandbox provides for the generic admin routes."""

    def insert(self, entity: str, body: Record) -> Record: ...
    def patch(self, entity: str, record_id: int, body: Record) -> Record: ...
    def delete(self, entity: str, record_id: int) -> None: ...
    def info(self) -> Record: ...


def writable_entity(entity: str, known: Collection[str], derived: Collection[str], fix: str = "") -> str:
    """The entity an admin write names, or the error a client gets: derived entities are computed
    from others (400, with what to edit instead), unknown ones are 404 listing the known ones."""
    if entity in derived:
        raise AdminError(400, f"{entity} is derived from other data and cannot be edited directly{fix}")
    if entity not in known:
        raise AdminError(404, f"unknown entity {entity!r}; known: {sorted(known) + sorted(derived)}")
    return entity


def guarded(fn: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    """An admin endpoint: its result as JSON (a Response as is), an `AdminError` as `{"error": ...}`."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await fn(request)
        except AdminError as exc:
            return JSON({"error": str(exc)}, exc.status)
        return result if isinstance(result, Response) else JSON(result)

    return endpoint


async def json_object(request: Request, shape: str = "body must be a JSON object") -> Record:
    """An admin request's body: a JSON object (an empty body is `{}`), else a 400 (`shape` says what
    to send instead of another JSON value)."""
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise AdminError(400, "body must be JSON") from None
    if not isinstance(data, dict):
        raise AdminError(400, shape)
    return data


def integer_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AdminError(400, "id must be an integer") from None


def admin_routes(
    state: SandboxState,
    backend: AdminBackend,
    extra: Sequence[tuple[str, AdminHandler, Sequence[str]]] = (),
    path_id: Callable[[str], int] = integer_id,
) -> list[Route]:
    """The routes of the module docstring. `extra` are a sandbox's own `(path, handler, methods)`,
    matched before the generic `/_admin/{entity}` ones; `path_id` reads the id in a record's path."""

    async def reset(request: Request) -> Any:
        state.reset()
        return {"reset": True}

    async def requests(request: Request) -> Any:
        return state.log.snapshot(request.query_params.get("path"))

    async def faults(request: Request) -> Any:
        if request.method == "POST":
            state.faults.configure(await json_object(request))
        return state.faults.snapshot()

    async def org(request: Request) -> Any:
        return backend.info()

    async def insert(request: Request) -> Any:
        return JSON(backend.insert(request.path_params["entity"], await json_object(request)), 201)

    async def edit(request: Request) -> Any:
        entity, record_id = request.path_params["entity"], path_id(request.path_params["record_id"])
        if request.method == "DELETE":
            backend.delete(entity, record_id)
            return {"deleted": record_id}
        return backend.patch(entity, record_id, await json_object(request))

    table: list[tuple[str, AdminHandler, Sequence[str]]] = [
        ("/_admin/reset", reset, ["POST"]),
        ("/_admin/requests", requests, ["GET"]),
        ("/_admin/faults", faults, ["GET", "POST"]),
        ("/_admin/org", org, ["GET"]),
        *extra,
        ("/_admin/{entity}", insert, ["POST"]),
        ("/_admin/{entity}/{record_id}", edit, ["PATCH", "DELETE"]),
    ]
    return [Route(path, guarded(fn), methods=list(methods)) for path, fn, methods in table]


def blank(value: Any, deep: bool = False) -> Any:
    """A neutral value of the same JSON type (false, 0, [], null; objects blanked field by field when
    `deep`, else null), so an inserted record keeps every field of the shape."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return type(value)(0)
    if isinstance(value, list):
        return []
    if deep and isinstance(value, dict):
        return {k: blank(v, True) for k, v in value.items()}
    return None


class EntryBook(Protocol):
    """A source's time entries: too many to build whole, so looked up and numbered one by one."""

    def current(self, entry_id: int) -> Record | None: ...
    def next_id(self) -> int: ...


class RecordAdmin:
    """Admin inserts, edits and deletes of a source sandbox, kept in its overlay.

    An insert may be partial: the rest comes from `template` (a blanked generated record plus
    `defaults`), the id is assigned unless the body gives a free one (409 if taken), `required` fields
    and `foreign` keys are checked so the listings stay consistent. An edit merges the body into the
    current record and is checked the same way. `derived` entities are computed from others (400).
    Time entries (`entries_entity`), too many to generate whole, are looked up and numbered by `entries`.
    """

    required: Mapping[str, tuple[str, ...]] = {}  # entity -> fields an insert needs (the writable entities)
    foreign: Mapping[str, Mapping[str, str]] = {}  # entity -> {field: the entity it names by id}
    defaults: Mapping[str, Record] = {}  # entity -> fields of an inserted record that differ from blank
    derived: Collection[str] = ()
    derived_fix: str = ""  # what to edit instead of a derived entity (appended to the 400)
    entries_entity = "entries"

    def __init__(
        self,
        state: SandboxState,
        records: GeneratedRecords,
        info: Callable[[], Record],
        entries: EntryBook | None = None,
    ) -> None:
        self.state, self.records, self.entries, self._info = state, records, entries, info

    def info(self) -> Record:
        return self._info()

    # -- the admin operations -------------------------------------------------------------------
    def insert(self, entity: str, body: Record) -> Record:
        entity = self.writable(entity)
        row = self.template(entity, body)
        body = self.resolve(entity, body, row)
        given = body.get("id")
        record_id = self.next_id(entity) if given is None else self.parse_id(entity, given)
        if given is not None and self.current(entity, record_id) is not None:
            raise AdminError(409, f"{entity} {self.wire_id(entity, record_id)} already exists")
        row = self.merge(entity, row, body)
        self.derive(entity, row, body, None)
        row = {"id": self.wire_id(entity, record_id), **{k: v for k, v in row.items() if k != "id"}}
        self.check(entity, row)
        self.state.overlay.insert(entity, row, record_id)
        return self.inserted(entity, record_id, row)

    def patch(self, entity: str, record_id: int, body: Record) -> Record:
        entity = self.writable(entity)
        current = self.existing(entity, record_id)
        body = self.resolve(entity, {k: v for k, v in body.items() if k != "id"}, current)
        row = self.merge(entity, current, body)
        self.derive(entity, row, body, current)
        self.check(entity, row)
        changed = {k: v for k, v in row.items() if k in body or k not in current or current[k] != v}
        self.state.overlay.patch(entity, record_id, changed)
        return self.public(self.existing(entity, record_id))

    def delete(self, entity: str, record_id: int) -> None:
        entity = self.writable(entity)
        self.existing(entity, record_id)
        self.state.overlay.delete(entity, record_id)

    # -- lookups --------------------------------------------------------------------------------
    def writable(self, entity: str) -> str:
        return writable_entity(entity, self.required, self.derived, self.derived_fix)

    def current(self, entity: str, record_id: int) -> Record | None:
        if self.entries is not None and entity == self.entries_entity:
            return self.entries.current(record_id)
        return self.records.get(entity, self.wire_id(entity, record_id))

    def existing(self, entity: str, record_id: int) -> Record:
        row = self.current(entity, record_id)
        if row is None:
            raise AdminError(404, f"{entity} {record_id} not found")
        return row

    def exists(self, entity: str, wire_id: Any) -> bool:
        """Whether a reference (a wire id) names a current record."""
        return self.records.get(entity, wire_id) is not None

    def next_id(self, entity: str) -> int:
        if self.entries is not None and entity == self.entries_entity:
            return self.entries.next_id()
        return self.state.overlay.next_id(entity, self.records.largest_id(entity))

    # -- hooks: where an API's records differ ---------------------------------------------------
    def parse_id(self, entity: str, given: Any) -> int:
        """The overlay id of an id a body chooses."""
        try:
            return int(given)
        except (TypeError, ValueError):
            raise AdminError(400, "id must be an integer or left out") from None

    def wire_id(self, entity: str, record_id: int) -> Any:
        """The id as records carry it."""
        return record_id

    def template(self, entity: str, body: Record) -> Record:
        """What an insert starts from (may take convenience keys out of `body`): a blanked `sample`
        without its private fields, then `defaults`."""
        row = {k: self.blank(entity, k, v) for k, v in self.sample(entity).items() if not k.startswith("_")}
        return row | self.defaults.get(entity, {})

    def sample(self, entity: str) -> Record:
        """A record whose shape an insert copies."""
        return (self.records.base(entity) or [{}])[0]

    def blank(self, entity: str, key: str, value: Any) -> Any:
        return blank(value)

    def resolve(self, entity: str, body: Record, row: Record) -> Record:
        """The body with an API's conveniences (`client_id` for a nested client...) turned into fields."""
        return body

    def merge(self, entity: str, row: Record, body: Record) -> Record:
        return {**row, **body}

    def derive(self, entity: str, row: Record, body: Record, current: Record | None) -> None:
        """Fields that follow from others (`current` is None on insert), set in place."""

    def missing(self, entity: str, row: Record) -> list[str]:
        return [k for k in self.required[entity] if row.get(k) is None]

    def foreign_keys(self, entity: str) -> Mapping[str, str]:
        return self.foreign.get(entity, {})

    def check(self, entity: str, row: Record) -> None:
        """Required fields, then foreign keys, then `validate`: a 400 naming what is wrong."""
        missing = self.missing(entity, row)
        if missing:
            raise AdminError(400, f"{entity} needs {missing}")
        for field, target in self.foreign_keys(entity).items():
            value = row.get(field)
            if value is not None and not self.exists(target, value):
                raise AdminError(400, f"{field}={value!r} does not exist in {target}")
        self.validate(entity, row)

    def validate(self, entity: str, row: Record) -> None:
        """An API's own rules of a record (formats, consistency between fields)."""

    def public(self, row: Record) -> Record:
        """A record as the admin API answers it."""
        return public(row)

    def inserted(self, entity: str, record_id: int, row: Record) -> Record:
        """The answer to an insert."""
        return self.public(row)
