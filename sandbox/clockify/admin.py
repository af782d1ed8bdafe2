"""Clockify's facts for the shared `RecordAdmin` (`/_admin/{entity}[/{id}]`, on the overlay).

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
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.admin import RecordAdmin, blank
from sandbox.clockify.entries import TimeEntries, interval_duration, merge
from sandbox.clockify.ids import Ids, rate
from sandbox.clockify.records import WORKSPACE_RATE
from sandbox.clockify.store import ENTITIES, Store
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


class ClockifyAdmin(RecordAdmin):
    """The `AdminBackend` of the Clockify app: ids in bodies and answers are 24-hex strings, filed in
    the overlay under the integer they encode."""

    required, derived, derived_fix = REQUIRED, DERIVED, ": edit the entries and users instead"
    entries_entity = "time_entries"
    records: Store

    def __init__(
        self,
        state: SandboxState,
        store: Store,
        entries: TimeEntries,
        ids: Ids,
        ws: str,
        info: Callable[[], Record],
    ) -> None:
        super().__init__(state, store, info, entries)
        self.ids, self.ws = ids, ws

    def parse_id(self, entity: str, given: Any) -> int:
        n = self.ids.decode(given, ENTITIES[entity]) if isinstance(given, str) else None
        if n is None:
            raise AdminError(400, f"id must be a {ENTITIES[entity]} id of this sandbox or left out")
        return n

    def wire_id(self, entity: str, record_id: int) -> Any:
        return self.ids(ENTITIES[entity], record_id)

    def foreign_keys(self, entity: str) -> Mapping[str, str]:
        return FOREIGN

    def missing(self, entity: str, row: Record) -> list[str]:
        missing = super().missing(entity, row)
        if entity == "time_entries" and not (row.get("timeInterval") or {}).get("start"):
            missing.append("timeInterval.start")
        return missing

    def validate(self, entity: str, row: Record) -> None:
        if entity in ("time_entries", "tasks") and row.get("taskId") and row.get("projectId"):
            task = self.records.get("tasks", row["taskId"])
            if task is not None and task["projectId"] != row["projectId"]:
                raise AdminError(400, f"task {row['taskId']} belongs to project {task['projectId']}")
        if entity == "time_entries":
            interval = row["timeInterval"]
            for key in ("start", "end"):
                if interval.get(key) is not None and not _ISO.match(str(interval[key])):
                    raise AdminError(400, f"timeInterval.{key} must look like 2024-01-31T09:00:00Z")
            if interval.get("end") is not None and interval["end"] < interval["start"]:
                raise AdminError(400, "timeInterval.end must not be before timeInterval.start")

    def template(self, entity: str, body: Record) -> Record:
        if entity == "time_entries":
            return self._entry_template(body)
        base = self.records.base(entity)
        row = {k: blank(v, deep=True) for k, v in base[0].items()} if base else {}
        if "workspaceId" in row or entity in ("clients", "projects", "tags", "user_groups", "custom_fields"):
            row["workspaceId"] = self.ws
        if entity == "users":
            owner = self.records.base("users")[0]
            row |= {"status": "ACTIVE", "settings": dict(owner["settings"]), "_membershipStatus": "ACTIVE",
                    "_role": None, "_hourlyRate": None, "_costRate": rate(0.0), "activeWorkspace": self.ws,
                    "defaultWorkspace": self.ws, "customFields": []}  # fmt: skip
        if entity == "projects":
            row |= {"color": "#03a9f4", "duration": "PT0S", "budgetEstimate": None, "hourlyRate": None}
        if entity == "tasks":
            row |= {"status": "ACTIVE", "duration": "PT0S", "estimate": "PT0S"}
        if entity == "invoice_payments":  # payments hang off an invoice; the wire row does not say which
            if self.records.get("invoices", body.get("invoiceId")) is None:
                raise AdminError(400, "invoice_payments need an existing invoiceId")
            row["_invoiceId"] = body.pop("invoiceId")
        return row

    def _entry_template(self, body: Record) -> Record:
        project = self.records.get("projects", body.get("projectId"))
        user = self.records.get("users", body.get("userId"))
        hourly = project.get("hourlyRate") if project else None
        return {
            "id": None, "description": "", "userId": None, "workspaceId": self.ws, "projectId": None,
            "taskId": None, "kioskId": None, "tagIds": [], "billable": bool(project and project.get("billable")),
            "isLocked": False, "type": "REGULAR", "timeInterval": {"start": None, "end": None, "duration": None},
            "hourlyRate": hourly or rate(WORKSPACE_RATE), "costRate": (user or {}).get("_costRate"),
            "customFieldValues": [],
        }  # fmt: skip

    def merge(self, entity: str, row: Record, body: Record) -> Record:
        return merge(row, body) if entity == "time_entries" else {**row, **body}

    def derive(self, entity: str, row: Record, body: Record, current: Record | None) -> None:
        if entity == "time_entries" and current is None:
            row["timeInterval"]["duration"] = interval_duration(row["timeInterval"])

    def public(self, row: Record) -> Record:
        return {k: v for k, v in row.items() if not k.startswith("_") or k == "_membershipStatus"}
