"""Admin API of the Runn sandbox: what a writer wrote, and records "made by hand in Runn".

Not part of Runn. Besides the generic routes of `sandbox.admin` (`POST /_admin/reset`, `GET
/_admin/requests`, `GET|POST /_admin/faults`, `GET /_admin/org`, `POST /_admin/{entity}`, `PATCH|DELETE
/_admin/{entity}/{id}`), the Runn sandbox answers:

    GET  /_admin/state          every table, records with internal details (`_source`: api|admin,
                                `_writes`: how many writes touched it; people: `_roleId`, `_contracts`)
    GET  /_admin/{entity}       one table (clients, projects, roles, people, contracts, actuals)
    GET|POST /_admin/settings   {"unique_names": bool}: 409 on duplicate names (off, as documented)

An admin insert takes the API's create body (so the same rules hold) plus what a record made in
Runn's app may have: an explicit `id` (clients, projects, roles, people), `isArchived`, `createdAt`
and `updatedAt`. Contracts take `personId`; actuals are written as `POST /actuals/` writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.admin import admin_routes, json_object, writable_entity
from sandbox.common import AdminError, SandboxState
from sandbox.runn import records
from sandbox.runn.params import ApiError, Field, parse_moment, validate
from sandbox.runn.store import TABLES, Store

Record = dict[str, Any]
HAND_MADE = ("id", "isArchived", "createdAt", "updatedAt")
STAMPS = {"createdAt": Field("string"), "updatedAt": Field("string")}
ADMIN_PATCH: dict[str, dict[str, Field]] = {
    "clients": records.CLIENT_PATCH,
    "projects": {**records.PROJECT_PATCH, "isTemplate": Field("boolean")},
    "roles": {**{k: replace(f, required=False) for k, f in records.ROLE_INPUT.items()}, "isArchived": Field("boolean")},
    "people": records.PERSON_PATCH,
    "contracts": {**records.CONTRACT_FIELDS, "roleId": Field("integer"), "startDate": Field("date")},
    "actuals": {k: records.ACTUAL_INPUT[k] for k in ("billableMinutes", "nonbillableMinutes", "billableNote",
                                                      "nonbillableNote")},
}  # fmt: skip
# who refers to whom: a referenced record is not deleted (409)
REFERRERS = {"clients": (("projects", "clientId"),), "projects": (("actuals", "projectId"),),
             "roles": (("contracts", "roleId"), ("actuals", "roleId"))}  # fmt: skip


class RunnAdmin:
    """The `AdminBackend` of the Runn app."""

    def __init__(self, store: Store, info: Callable[[], Record]) -> None:
        self.store, self._info = store, info

    def info(self) -> Record:
        return self._info()

    def insert(self, entity: str, body: Record) -> Record:
        entity = writable_entity(entity, TABLES, ())
        extras = {k: body.pop(k) for k in HAND_MADE if k in body}
        ident = extras.pop("id", None)
        try:
            checked = validate(extras, {"isArchived": Field("boolean"), **STAMPS}, "admin body")
            if ident is not None and (entity in ("contracts", "actuals") or type(ident) is not int):
                raise ApiError(
                    400,
                    f"an id can be chosen for clients, projects, roles and people (an integer), not {entity}",
                )
            if "isArchived" in checked and entity in ("contracts", "actuals"):
                raise ApiError(400, f"{entity} have no isArchived")
            record = self._create(entity, body, ident)
        except ApiError as exc:
            raise AdminError(exc.status, exc.message) from None
        stamps = self._stamps(checked)
        if "createdAt" in stamps:  # made by hand a while ago: last changed then too, unless told
            stamps.setdefault("updatedAt", stamps["createdAt"])
        record.update(stamps)
        if "isArchived" in checked:
            record["isArchived"] = checked["isArchived"]
        return self.view(entity, record)

    def _create(self, entity: str, body: Record, ident: int | None) -> Record:
        s = self.store
        if entity == "clients":
            return s.create_client(body, "admin", ident)
        if entity == "projects":
            return s.create_project(body, "admin", ident)
        if entity == "roles":
            return s.create_role(body, "admin", ident)
        if entity == "people":
            return s.create_person(body, "admin", ident)
        if entity == "contracts":
            person = body.pop("personId", None)
            if not isinstance(person, int):
                raise ApiError(400, "a contract needs personId (an integer)")
            return s.add_contract(person, body, "admin")
        return s.write_actual(s.actual_input(body), source="admin")

    @staticmethod
    def _stamps(data: Record) -> Record:
        out: Record = {}
        for name in ("createdAt", "updatedAt"):
            if name in data:
                value = parse_moment(data.pop(name))
                if value is None:
                    raise AdminError(400, f"{name} must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.sss]Z")
                out[name] = value
        return out

    def _get(self, entity: str, record_id: int) -> Record:
        record = self.store.tables[entity].get(record_id)
        if record is None:
            raise AdminError(404, f"{entity} {record_id} not found")
        return record

    def patch(self, entity: str, record_id: int, body: Record) -> Record:
        """An edit made in Runn's app: any editable property, checked as the API checks it."""
        entity = writable_entity(entity, TABLES, ())
        record = self._get(entity, record_id)
        try:
            data = validate(body, {**ADMIN_PATCH[entity], **STAMPS})
            for key, table in (("clientId", "clients"), ("roleId", "roles")):
                if key in data:
                    self.store.linked(table, data[key])
            self.store.absent(data)
        except ApiError as exc:
            raise AdminError(exc.status, exc.message) from None
        stamps = self._stamps(data)
        self.store.update(record, data)
        record.update(stamps)
        return self.view(entity, record)

    def delete(self, entity: str, record_id: int) -> None:
        """A deletion made in Runn's app. A person goes with their contracts and actuals; a record
        others refer to (a client with projects, a role in use...) is refused with 409."""
        entity = writable_entity(entity, TABLES, ())
        record = self._get(entity, record_id)
        for table, key in REFERRERS.get(entity, ()):
            if any(r[key] == record_id for r in self.store.rows(table)):
                raise AdminError(409, f"{entity} {record_id} is referred to by {table}: delete those first")
        if entity == "people":
            self.store.delete_person(record_id, force=True)
        elif entity == "actuals":
            self.store.delete_actual(record_id)
        else:
            if entity == "contracts" and len(self.store.contracts_of(record["personId"])) == 1:
                raise AdminError(409, "a person's only contract cannot be deleted")
            del self.store.tables[entity][record_id]

    def view(self, entity: str, record: Record) -> Record:
        """A stored record with its internal details."""
        out = dict(record)
        if entity == "roles":
            out["personIds"] = self.store.role_person_ids(record["id"])
        if entity == "people":
            current = self.store.current_contract(record["id"])
            out["_roleId"] = current["roleId"] if current else None
            out["_contracts"] = [c["id"] for c in self.store.contracts_of(record["id"])]
        return out

    def table(self, entity: str) -> list[Record]:
        if entity not in TABLES:
            raise AdminError(404, f"unknown entity {entity!r}; known: {list(TABLES)}")
        return [self.view(entity, r) for r in self.store.rows(entity)]


def runn_admin_routes(state: SandboxState, admin: RunnAdmin) -> list[Route]:
    """The shared admin routes with the Runn-specific ones (`GET /_admin/{entity}` lists a table)."""
    store = admin.store

    async def full_state(request: Request) -> Any:
        return {"settings": {"unique_names": store.unique_names}, **{t: admin.table(t) for t in TABLES}}

    async def settings(request: Request) -> Any:
        if request.method == "POST":
            body = await json_object(request, 'settings: {"unique_names": true|false}')
            if set(body) - {"unique_names"}:
                raise AdminError(400, 'settings: {"unique_names": true|false}')
            if "unique_names" in body:
                if not isinstance(body["unique_names"], bool):
                    raise AdminError(400, "unique_names must be true or false")
                store.unique_names = body["unique_names"]
        return {"unique_names": store.unique_names}

    async def one_table(request: Request) -> Any:
        return admin.table(request.path_params["entity"])

    extra = [
        ("/_admin/state", full_state, ["GET"]),
        ("/_admin/settings", settings, ["GET", "POST"]),
        ("/_admin/{entity}", one_table, ["GET"]),
    ]
    return admin_routes(state, admin, extra)
