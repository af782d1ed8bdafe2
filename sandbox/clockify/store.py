"""Clockify's dimension records: the shared `GeneratedRecords` with its ids and denormalised fields.

The shared `Overlay` keys records by integer id; Clockify's ids are 24-hex strings, so records are
filed under the integer their id encodes (`Ids.decode`). Denormalised copies (a project's
`clientName`, an expense's nested `project`, names on time-off rows...) are refreshed from the
current records on every read, so an admin rename shows everywhere, as it would in Clockify.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.clockify.ids import Ids, duration
from sandbox.listing import public
from sandbox.store import GeneratedRecords, Overlay

Record = dict[str, Any]
# admin entity name -> id kind
ENTITIES = {
    "users": "user", "clients": "client", "projects": "project", "tasks": "task", "tags": "tag",
    "time_entries": "time_entry", "user_groups": "user_group", "custom_fields": "custom_field",
    "expenses": "expense", "expense_categories": "expense_category", "invoices": "invoice",
    "invoice_payments": "payment", "holidays": "holiday", "time_off_policies": "policy",
    "time_off_requests": "time_off_request", "time_off_balances": "balance",
    "scheduling_assignments": "assignment",
}  # fmt: skip


class Store(GeneratedRecords):
    """Generated dimensions (built once per entity) and their current, refreshed view."""

    def __init__(self, overlay: Overlay, ids: Ids, builders: dict[str, Callable[[], list[Record]]]) -> None:
        super().__init__(overlay, lambda entity: builders[entity](), self.refresh, ids.decode)
        self.ids = ids
        self.durations: Callable[[], tuple[dict[str, int], dict[str, int]]] = lambda: ({}, {})

    # -- denormalised fields --------------------------------------------------------------------
    def refresh(self, entity: str, rows: list[Record]) -> list[Record]:
        fix = getattr(self, f"_fix_{entity}", None)
        return rows if fix is None else [fix(dict(r)) for r in rows]

    def _name(self, entity: str, record_id: Any, field: str = "name") -> Any:
        row = self.get(entity, record_id)
        return None if row is None else row.get(field)

    def _fix_projects(self, r: Record) -> Record:
        r["clientName"] = self._name("clients", r.get("clientId")) or ""
        return r

    def with_durations(self, entity: str, rows: list[Record]) -> list[Record]:
        """Projects or tasks with their tracked `duration`. Kept out of `dims`: the totals need the
        ledger (a pass over every entry), which name lookups for reports should not pay for."""
        table = self.durations()[0 if entity == "projects" else 1]
        return [{**r, "duration": duration(table.get(r["id"], 0))} for r in rows]

    def _fix_invoices(self, r: Record) -> Record:
        r["clientName"] = self._name("clients", r.get("clientId")) or r.get("clientName")
        return r

    def project_ref(self, project_id: str | None) -> Record | None:
        p = self.get("projects", project_id)
        if p is None:
            return None
        return {"id": p["id"], "name": p["name"], "color": p["color"], "clientId": p.get("clientId"),
                "clientName": self._name("clients", p.get("clientId")) or ""}  # fmt: skip

    def _fix_expenses(self, r: Record) -> Record:
        project = r.get("project") or {}
        r["project"] = self.project_ref(project.get("id")) or (project or None)
        category = self.get("expense_categories", (r.get("category") or {}).get("id"))
        if category is not None:
            r["category"] = public(category)
        return r

    def _fix_scheduling_assignments(self, r: Record) -> Record:
        project = self.get("projects", r.get("projectId"))
        r["userName"] = self._name("users", r.get("userId")) or r.get("userName")
        if project is not None:
            r |= {"projectName": project["name"], "projectColor": project["color"],
                  "projectArchived": project["archived"], "projectBillable": project["billable"],
                  "clientId": project.get("clientId"),
                  "clientName": self._name("clients", project.get("clientId")) or ""}  # fmt: skip
        r["taskName"] = self._name("tasks", r.get("taskId")) if r.get("taskId") else None
        return r

    def _fix_time_off_requests(self, r: Record) -> Record:
        user = self.get("users", r.get("userId"))
        if user is not None:
            r |= {"userName": user["name"], "userEmail": user["email"],
                  "userTimeZone": user["settings"]["timeZone"]}  # fmt: skip
        r["policyName"] = self._name("time_off_policies", r.get("policyId")) or r.get("policyName")
        r["requesterUserName"] = self._name("users", r.get("requesterUserId")) or r.get("requesterUserName")
        return r

    def _fix_time_off_balances(self, r: Record) -> Record:
        r["userName"] = self._name("users", r.get("userId")) or r.get("userName")
        policy = self.get("time_off_policies", r.get("policyId"))
        if policy is not None:
            r |= {"policyName": policy["name"], "policyTimeUnit": policy["timeUnit"],
                  "policyArchived": policy["archived"]}  # fmt: skip
        return r

    def _fix_user_groups(self, r: Record) -> Record:
        r["teamManagers"] = (
            [{"id": r["_leader"], "name": self._name("users", r["_leader"])}] if r.get("_leader") else []
        )
        return r
