"""Admin inserts, edits and deletes for the Clockify sandbox (`/_admin/{entity}[/{id}]`).

Records are written in Clockify's wire shape (hex ids, `timeInterval`, Rates in cents). An insert may
be partial: the rest comes from a blanked copy of a generated record, the id is assigned, required
fields and references (`userId`, `projectId`, `clientId`, `taskId`, `policyId`, `invoiceId`) are
checked. In paths, a record is named by its 24-hex id or by the integer it encodes. Derived views
(workspaces, approval requests, reports) cannot be written: edit the entries and users they come from.
Fields starting with `_` are the sandbox's own (e.g. `_membershipStatus: "INACTIVE"` deactivates a
user in the workspace).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.admin import writable_entity
from sandbox.clockify.entries import TimeEntries, interval_duration, merge
from sandbox.clockify.ids import Ids, rate
from sandbox.clockify.records import WORKSPACE_RATE
from sandbox.clockify.store import ENTITIES, Store, insert
from sandbox.common import AdminError, SandboxState

Record = dict[str, Any]
DERIVED = {"workspaces", "approval_requests", "reports"}
REQUIRED = {
    "users": ("name", "email"), "clients": ("name",), "projects": ("name",), "tasks": ("name", "projectId"),
    "tags": ("name",), "time_entries": ("userId",), "user_groups": ("name",), "custom_fields": ("name",),
    "expenses": ("userId", "date"), "expense_categories": ("name",), "invoices": ("clientId",),
    "invoice_payments": ("amount",), "holidays": ("name", "datePeriod"),
    "time_off_policies": ("name",), "time_off_requests": ("userId", "policyId"),
    "time_off_balances": ("userId", "policyId"), "scheduling_assignments": ("userId", "projectId", "period"),
}  # fmt: skip
FOREIGN = {"userId": "users", "projectId": "projects", "clientId": "clients", "taskId": "tasks",
           "policyId": "time_off_policies", "invoiceId": "invoices"}  # fmt: skip
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def blank(value: Any) -> Any:
    """A neutral value of the same JSON shape, so inserted records keep every field."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return type(value)(0)
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {k: blank(v) for k, v in value.items()}
    return None


class ClockifyAdmin:
    """The `AdminBackend` of the Clockify app."""

    def __init__(
        self,
        state: SandboxState,
        store: Store,
        entries: TimeEntries,
        ids: Ids,
        ws: str,
        info: Callable[[], Record],
    ) -> None:
        self.state, self.store, self.entries, self.ids, self.ws, self._info = (
            state,
            store,
            entries,
            ids,
            ws,
            info,
        )

    def info(self) -> Record:
        return self._info()

    def _entity(self, entity: str) -> str:
        return writable_entity(entity, ENTITIES, DERIVED, ": edit the entries and users instead")

    def _current(self, entity: str, n: int) -> Record:
        if entity == "time_entries":
            row = self.entries.current(n)
        else:
            row = self.store.get(entity, self.ids(ENTITIES[entity], n))
        if row is None:
            raise AdminError(404, f"{entity} {n} not found")
        return row

    def _check(self, entity: str, row: Record) -> None:
        missing = [k for k in REQUIRED[entity] if row.get(k) is None]
        if entity == "time_entries" and not (row.get("timeInterval") or {}).get("start"):
            missing.append("timeInterval.start")
        if missing:
            raise AdminError(400, f"{entity} needs {missing}")
        for field, target in FOREIGN.items():
            value = row.get(field)
            if value is not None and self.store.get(target, value) is None:
                raise AdminError(400, f"{field}={value!r} does not exist in {target}")
        if entity in ("time_entries", "tasks") and row.get("taskId") and row.get("projectId"):
            task = self.store.get("tasks", row["taskId"])
            if task is not None and task["projectId"] != row["projectId"]:
                raise AdminError(400, f"task {row['taskId']} belongs to project {task['projectId']}")
        if entity == "time_entries":
            interval = row["timeInterval"]
            for key in ("start", "end"):
                if interval.get(key) is not None and not _ISO.match(str(interval[key])):
                    raise AdminError(400, f"timeInterval.{key} must look like 2024-01-31T09:00:00Z")
            if interval.get("end") is not None and interval["end"] < interval["start"]:
                raise AdminError(400, "timeInterval.end must not be before timeInterval.start")

    def _template(self, entity: str, body: Record) -> Record:
        if entity == "time_entries":
            return self._entry_template(body)
        base = self.store.base(entity)
        row = {k: blank(v) for k, v in base[0].items()} if base else {}
        if "workspaceId" in row or entity in ("clients", "projects", "tags", "user_groups", "custom_fields"):
            row["workspaceId"] = self.ws
        if entity == "users":
            owner = self.store.base("users")[0]
            row |= {"status": "ACTIVE", "settings": dict(owner["settings"]), "_membershipStatus": "ACTIVE",
                    "_role": None, "_hourlyRate": None, "_costRate": rate(0.0), "activeWorkspace": self.ws,
                    "defaultWorkspace": self.ws, "customFields": []}  # fmt: skip
        if entity == "projects":
            row |= {"color": "#03a9f4", "duration": "PT0S", "budgetEstimate": None, "hourlyRate": None}
        if entity == "tasks":
            row |= {"status": "ACTIVE", "duration": "PT0S", "estimate": "PT0S"}
        if entity == "invoice_payments":  # payments hang off an invoice; the wire row does not say which
            if self.store.get("invoices", body.get("invoiceId")) is None:
                raise AdminError(400, "invoice_payments need an existing invoiceId")
            row["_invoiceId"] = body.pop("invoiceId")
        return row

    def _entry_template(self, body: Record) -> Record:
        project = self.store.get("projects", body.get("projectId"))
        user = self.store.get("users", body.get("userId"))
        hourly = project.get("hourlyRate") if project else None
        return {
            "id": None, "description": "", "userId": None, "workspaceId": self.ws, "projectId": None,
            "taskId": None, "kioskId": None, "tagIds": [], "billable": bool(project and project.get("billable")),
            "isLocked": False, "type": "REGULAR", "timeInterval": {"start": None, "end": None, "duration": None},
            "hourlyRate": hourly or rate(WORKSPACE_RATE), "costRate": (user or {}).get("_costRate"),
            "customFieldValues": [],
        }  # fmt: skip

    def insert(self, entity: str, body: Record) -> Record:
        entity = self._entity(entity)
        row = self._template(entity, body)
        kind = ENTITIES[entity]
        given = body.get("id")
        if given is not None:
            n = self.ids.decode(given, kind) if isinstance(given, str) else None
            if n is None:
                raise AdminError(400, f"id must be a {kind} id of this sandbox or left out")
            if self._exists(entity, n):
                raise AdminError(409, f"{entity} {given} already exists")
        else:
            n = self._next(entity)
        row = merge(row, body) if entity == "time_entries" else {**row, **body}
        if entity == "time_entries":
            row["timeInterval"]["duration"] = interval_duration(row["timeInterval"])
        row = {"id": self.ids(kind, n), **{k: v for k, v in row.items() if k != "id"}}
        self._check(entity, row)
        insert(self.state.overlay, self.ids, entity, row)
        return self._public(row)

    def patch(self, entity: str, record_id: int, body: Record) -> Record:
        entity = self._entity(entity)
        body = {k: v for k, v in body.items() if k != "id"}
        current = self._current(entity, record_id)
        row = merge(current, body) if entity == "time_entries" else {**current, **body}
        self._check(entity, row)
        changed = {k: row[k] for k in body}
        self.state.overlay.patch(entity, record_id, changed)
        return self._public(self._current(entity, record_id))

    def delete(self, entity: str, record_id: int) -> None:
        entity = self._entity(entity)
        self._current(entity, record_id)
        self.state.overlay.delete(entity, record_id)

    def _exists(self, entity: str, n: int) -> bool:
        try:
            self._current(entity, n)
        except AdminError:
            return False
        return True

    def _next(self, entity: str) -> int:
        if entity == "time_entries":
            return self.entries.next_id()
        used = [self.ids.decode(r["id"]) or 0 for r in self.store.base(entity)]
        return max([0, *used, *self.state.overlay.inserted.get(entity, {})]) + 1

    @staticmethod
    def _public(row: Record) -> Record:
        return {k: v for k, v in row.items() if not k.startswith("_") or k == "_membershipStatus"}
