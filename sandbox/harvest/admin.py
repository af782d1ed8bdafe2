"""Admin inserts, edits and deletes for the Harvest sandbox (`/_admin/{entity}`), on the overlay.

Harvest's facts for the shared `RecordAdmin`. Bodies use Harvest's wire shape, plus conveniences: `user_id`, `client_id`, `project_id`, `task_id`
and `expense_category_id` become the nested `{id, name...}` objects (a time entry's or expense's
client follows its project), and `invoice_id` / `estimate_id` / `user_id` name the parent of
payments, messages and rates. Every insert or edit sets `updated_at` to now (strictly later than
before), so `updated_since` sees it, unless the body sets `updated_at` itself. Inserts may be
partial: missing fields come from a neutral template, ids are assigned when absent.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sandbox.admin import RecordAdmin
from sandbox.common import AdminError, iso_utc
from sandbox.harvest.entries import TimeEntries, parse_iso
from sandbox.harvest.expenses import nested_user_assignment
from sandbox.harvest.records import ref

Record = dict[str, Any]
DERIVED = {"project_assignments", "teammates", "reports"}
REQUIRED = {
    "time_entries": ("user", "project", "task", "spent_date"), "clients": ("name",), "contacts": ("client", "first_name"),
    "projects": ("client", "name"), "tasks": ("name",), "task_assignments": ("project", "task"),
    "user_assignments": ("project", "user"), "users": ("first_name", "last_name", "email"), "roles": ("name",),
    "invoices": ("client",), "invoice_payments": ("_parent_id", "amount"), "invoice_messages": ("_parent_id",),
    "estimates": ("client",), "estimate_messages": ("_parent_id",),
    "expenses": ("user", "project", "expense_category", "spent_date"), "expense_categories": ("name",),
    "invoice_item_categories": ("name",), "estimate_item_categories": ("name",),
    "billable_rates": ("_parent_id", "amount"), "cost_rates": ("_parent_id", "amount"), "company": (),
}  # fmt: skip
NESTED = {"user": "users", "client": "clients", "project": "projects", "task": "tasks",
          "expense_category": "expense_categories"}  # fmt: skip
PARENT_KEYS = {"invoice_payments": ("invoice_id", "invoices"), "invoice_messages": ("invoice_id", "invoices"),
               "estimate_messages": ("estimate_id", "estimates"), "billable_rates": ("user_id", "users"),
               "cost_rates": ("user_id", "users")}  # fmt: skip
DEFAULTS: dict[str, Record] = {
    "clients": {"is_active": True, "currency": "EUR"}, "projects": {"is_active": True, "is_billable": True},
    "tasks": {"is_active": True}, "users": {"is_active": True, "roles": [], "access_roles": ["member"]},
    "task_assignments": {"is_active": True}, "user_assignments": {"is_active": True, "use_default_rates": True},
    "expense_categories": {"is_active": True}, "invoices": {"state": "draft", "currency": "EUR", "line_items": []},
    "estimates": {"state": "draft", "currency": "EUR", "line_items": []}, "roles": {"user_ids": []},
}  # fmt: skip


def now_after(previous: Any) -> str:
    """Now, or one second after `previous` if that is later (generated data may lie ahead)."""
    now = int(datetime.now(UTC).timestamp())
    before = parse_iso(previous) if previous else None
    return iso_utc(max(now, before + 1 if before is not None else now))


class HarvestAdmin(RecordAdmin):
    """The `AdminBackend` of the Harvest app."""

    required, defaults, derived = REQUIRED, DEFAULTS, DERIVED
    entries_entity = "time_entries"
    entries: TimeEntries

    def insert(self, entity: str, body: Record) -> Record:
        if self.writable(entity) == "company":
            raise AdminError(400, "the company is a single record: PATCH /_admin/company/{account_id}")
        return super().insert(entity, body)

    def delete(self, entity: str, record_id: int) -> None:
        if self.writable(entity) == "company":
            raise AdminError(400, "the company cannot be deleted")
        super().delete(entity, record_id)

    def resolve(self, entity: str, body: Record, row: Record) -> Record:
        """Turn the `*_id` conveniences of a body into the nested objects of the wire shape."""
        body = dict(body)
        if entity in PARENT_KEYS and (key := PARENT_KEYS[entity][0]) in body:
            parent = body.pop(key)
            if not self.exists(PARENT_KEYS[entity][1], parent):
                raise AdminError(400, f"{key}={parent!r} does not exist")
            body["_parent_id"] = parent
        for name, target in NESTED.items():
            if f"{name}_id" not in body:
                continue
            value = body.pop(f"{name}_id")
            found = self.records.get(target, value)
            if found is None:
                raise AdminError(400, f"{name}_id={value!r} does not exist in {target}")
            current = row.get(name)
            keys = list(current) if isinstance(current, dict) else ["id", "name"]
            nested = ref(found, *keys)
            if name == "user":
                nested["name"] = f"{found['first_name']} {found['last_name']}".strip()
            body[name] = nested
            if name == "project" and entity in ("time_entries", "expenses"):
                client = self.records.get("clients", found["client"]["id"])
                if client is None:
                    raise AdminError(400, f"the client of project {value!r} does not exist")
                body["client"] = ref(client, "id", "name", "currency")
        return body

    def derive(self, entity: str, row: Record, body: Record, current: Record | None) -> None:
        """Time entries' fields that follow from others, then the stamps: `created_at`/`updated_at`
        of an insert, a strictly later `updated_at` on an edit (unless the body sets them)."""
        self._derive(entity, row, body, current is None)
        if current is None:
            stamp = now_after(None)
            row["created_at"] = body.get("created_at") or stamp
            row["updated_at"] = body.get("updated_at") or stamp
        elif "updated_at" in current and "updated_at" not in body:
            row["updated_at"] = now_after(current.get("updated_at"))

    def _derive(self, entity: str, row: Record, body: Record, inserting: bool) -> None:
        """Fields of a time entry that follow from others (unless the body sets them)."""
        if entity != "time_entries":
            return
        if inserting:
            body = {**body, "user": row.get("user"), "project": row.get("project"), "task": row.get("task")}
        if "hours" in body:
            row.setdefault("hours", 0.0)
            if "rounded_hours" not in body:
                row["rounded_hours"] = math.ceil(float(row["hours"]) * 4 - 1e-9) / 4
            if "hours_without_timer" not in body:
                row["hours_without_timer"] = row["hours"]
        user, project, task = (row.get(k) or {} for k in ("user", "project", "task"))
        if {"user", "project"} & set(body):
            ua = next((r for r in self.records.dims("user_assignments")
                       if r["user"]["id"] == user.get("id") and r["project"]["id"] == project.get("id")), None)  # fmt: skip
            row["user_assignment"] = nested_user_assignment(ua) if ua else None
        if {"project", "task"} & set(body):
            ta = next((r for r in self.records.dims("task_assignments")
                       if r["project"]["id"] == project.get("id") and r["task"]["id"] == task.get("id")), None)  # fmt: skip
            keys = ("id", "billable", "is_active", "created_at", "updated_at", "hourly_rate", "budget")
            row["task_assignment"] = ref(ta, *keys) if ta else None
            if inserting and ta is not None and "billable" not in body:
                row["billable"] = bool(ta["billable"])
        if inserting:
            users = {u["id"]: u for u in self.records.dims("users")}
            row.setdefault("cost_rate", None)
            if "cost_rate" not in body:
                row["cost_rate"] = users.get(user.get("id"), {}).get("cost_rate")
            if "billable_rate" not in body:
                rate = (row.get("task_assignment") or {}).get("hourly_rate")
                row["billable_rate"] = rate if row.get("billable") else None
            if row.get("is_running") and not row.get("timer_started_at"):
                row["timer_started_at"] = now_after(None)
        if "is_billed" in body or "is_closed" in body:
            row["is_locked"] = bool(row.get("is_billed") or row.get("is_closed"))

    def sample(self, entity: str) -> Record:
        if entity == "time_entries":
            return self.entries.render(self._any_entry())
        return super().sample(entity)

    def template(self, entity: str, body: Record) -> Record:
        row = super().template(entity, body)
        if entity == "time_entries":
            row |= {"hours": 1.0, "rounded_hours": 1.0, "hours_without_timer": 1.0, "started_time": None,
                    "ended_time": None, "locked_reason": None, "billable_rate": None}  # fmt: skip
        return row

    def _any_entry(self) -> Any:
        org = self.entries.org
        return next(e for d in range(org.days - 1, -1, -1) for u in range(len(org.people))
                    for e in self.entries.ledger.time_entries(d, u))  # fmt: skip

    def missing(self, entity: str, row: Record) -> list[str]:
        missing = [k for k in self.required[entity] if row.get(k) in (None, "")]
        return [f"{k}_id" if k in NESTED else "invoice_id/estimate_id/user_id" if k == "_parent_id" else k
                for k in missing]  # fmt: skip

    def inserted(self, entity: str, record_id: int, row: Record) -> Record:
        return self.public(self.existing(entity, record_id))
