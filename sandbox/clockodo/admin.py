"""Admin inserts, edits and deletes for the Clockodo sandbox (`/_admin/{entity}`), on the overlay.

Records are written in Clockodo's wire shape. An insert may be partial: missing fields are filled
from a neutral template, the id is assigned when absent, and required fields and foreign keys are
checked so the listings stay consistent. Derived entities (work times, user reports, customer/project
rights) cannot be written; edit the entries, absences or users they come from instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.admin import writable_entity
from sandbox.clockodo.entries import Entries, parse_ts
from sandbox.common import AdminError, SandboxState

Record = dict[str, Any]
DERIVED = {"work_times", "user_reports", "customers_projects"}
REQUIRED = {
    "entries": ("users_id", "customers_id", "time_since"), "projects": ("customers_id", "name"),
    "customers": ("name",), "users": ("name", "email"), "teams": ("name",), "services": ("name",),
    "lumpsum_services": ("name", "price"), "absences": ("users_id", "date_since"),
    "target_hours": ("users_id", "date_since"), "overtime_carries": ("users_id", "year"),
    "holidays_quota": ("users_id", "year_since", "count"), "holidays_carries": ("users_id", "year", "count"),
    "non_business_days": ("name",), "surcharges": ("name",),
}  # fmt: skip
FOREIGN = {
    "entries": {"users_id": "users", "customers_id": "customers", "projects_id": "projects",
                "services_id": "services", "lumpsum_services_id": "lumpsum_services"},
    "projects": {"customers_id": "customers"}, "users": {"teams_id": "teams"}, "teams": {"leader": "users"},
    "absences": {"users_id": "users"}, "target_hours": {"users_id": "users"},
    "overtime_carries": {"users_id": "users"}, "holidays_quota": {"users_id": "users"},
    "holidays_carries": {"users_id": "users"},
}  # fmt: skip
DEFAULTS: dict[str, Record] = {
    "absences": {"status": 1, "type": 1, "count_days": 1.0},
    "users": {"active": True, "role": "worker", "language": "de", "timezone": "Europe/Berlin"},
    "projects": {"active": True, "billable_default": True},
    "customers": {"active": True, "billable_default": True, "color": 1},
    "services": {"active": True},
    "lumpsum_services": {"active": True},
    "target_hours": {"type": "weekly"},
    "non_business_days": {"nonbusiness_group_id": 1, "type": "DISTINCT_ONCE", "half_day": False},
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _blank(key: str, value: Any) -> Any:
    """A neutral value of the same JSON type, so an inserted record keeps every field of the shape."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)) and not key.endswith("_id") and key != "id":
        return type(value)(0)
    if isinstance(value, list):
        return []
    return None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClockodoAdmin:
    """The `AdminBackend` of the Clockodo app."""

    def __init__(
        self,
        state: SandboxState,
        entries: Entries,
        dims: Callable[[str], list[Record]],
        base: Callable[[str], list[Record]],
        info: Callable[[], Record],
    ) -> None:
        self.state, self.entries, self.dims, self.base, self._info = state, entries, dims, base, info

    def info(self) -> Record:
        return self._info()

    def _entity(self, entity: str) -> str:
        return writable_entity(entity, REQUIRED, DERIVED)

    def _current(self, entity: str, record_id: int) -> Record:
        if entity == "entries":
            row = self.entries.overlay_or_generated(record_id)
        else:
            row = next((r for r in self.dims(entity) if r["id"] == record_id), None)
        if row is None:
            raise AdminError(404, f"{entity} {record_id} not found")
        return row

    def _check(self, entity: str, row: Record) -> None:
        missing = [k for k in REQUIRED[entity] if row.get(k) is None]
        if missing:
            raise AdminError(400, f"{entity} needs {missing}")
        for field, target in FOREIGN.get(entity, {}).items():
            value = row.get(field)
            if value is not None and value not in {r["id"] for r in self.dims(target)}:
                raise AdminError(400, f"{field}={value!r} does not exist in {target}")
        if entity == "entries":
            project = next((p for p in self.dims("projects") if p["id"] == row.get("projects_id")), None)
            if project is not None and project["customers_id"] != row.get("customers_id"):
                raise AdminError(
                    400, f"project {project['id']} belongs to customer {project['customers_id']}"
                )
            for field in ("time_since", "time_until"):
                if row.get(field) is not None and not _ISO.match(str(row[field])):
                    raise AdminError(400, f"{field} must look like 2024-01-31T09:00:00Z")
            if row.get("time_until") is None and row.get("type") != 1:
                raise AdminError(400, "only time entries (type 1) may be running (time_until null)")

    def _template(self, entity: str, body: Record) -> Record:
        if entity == "entries":
            return self._entry_template(body)
        if entity == "non_business_days" and "date" in body:  # shorthand for a one-off holiday
            y, m, d = (int(x) for x in str(body.pop("date")).split("-"))
            body = {"year": y, "month": m, "day": d, **body}
        sample = self.base(entity)[0] if self.base(entity) else {}
        refs = FOREIGN.get(entity, {})  # a blanked reference is "none" (null), not id 0 (a team's leader)
        row = {k: None if k in refs else _blank(k, v) for k, v in sample.items() if not k.startswith("_")}
        row |= DEFAULTS.get(entity, {})
        if entity == "absences":
            row["date_until"] = body.get("date_until", body.get("date_since"))
        return row

    def _entry_template(self, body: Record) -> Record:
        kind, now = int(body.get("type", 1)), _now()
        since = parse_ts(body.get("time_since")) if _ISO.match(str(body.get("time_since"))) else None
        if since is None:
            raise AdminError(400, "time_since must look like 2024-01-31T09:00:00Z")
        row: Record = {
            "customers_id": None, "projects_id": None, "subprojects_id": None, "users_id": None, "billable": 0,
            "texts_id": None, "text": None, "time_since": body["time_since"], "time_until": body["time_since"],
            "time_insert": now, "time_last_change": now, "test_data": False, "type": kind,
        }  # fmt: skip
        if kind == 1:
            duration = int(body.get("duration") or 3600)
            until = datetime.fromtimestamp(since + duration, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            row |= {
                "time_until": until, "services_id": self.state.org.services[0].id, "time_last_change_work_time": now,
                "time_clocked_since": None, "clocked_offline": False, "clocked": False, "duration": duration,
                "hourly_rate": 0.0,
            }  # fmt: skip
        elif kind == 2:
            row |= {"billable": 1, "services_id": self.state.org.services[0].id, "lumpsum": 0.0}
        elif kind == 3:
            row |= {"billable": 1, "lumpsum_services_id": self.state.org.lumpsum_services[0].id,
                    "lumpsum_services_amount": 1.0}  # fmt: skip
        else:
            raise AdminError(400, "type must be 1 (time), 2 (lump sum value) or 3 (lump sum service)")
        return row

    @staticmethod
    def _fix_duration(row: Record, body: Record) -> None:
        # an edit of the times of a time entry moves its duration along unless one is given
        if row.get("type") == 1 and "duration" not in body and ({"time_since", "time_until"} & set(body)):
            since, until = parse_ts(row.get("time_since")), parse_ts(row.get("time_until"))
            row["duration"] = None if since is None or until is None else until - since

    def insert(self, entity: str, body: Record) -> Record:
        entity = self._entity(entity)
        row = self._template(entity, body)
        row |= body
        self._fix_duration(row, body)
        if row.get("id") is None:
            row["id"] = self._next_id(entity)
        elif self._exists(entity, int(row["id"])):
            raise AdminError(409, f"{entity} {row['id']} already exists")
        row = {"id": int(row.pop("id")), **row}
        self._check(entity, row)
        self.state.overlay.insert(entity, row)
        return row

    def patch(self, entity: str, record_id: int, body: Record) -> Record:
        entity = self._entity(entity)
        body = {k: v for k, v in body.items() if k != "id"}
        row = {**self._current(entity, record_id), **body}
        self._fix_duration(row, body)
        self._check(entity, row)
        changed = {k: row[k] for k in row if k in body or k == "duration"}
        self.state.overlay.patch(entity, record_id, changed)
        return self._current(entity, record_id)

    def delete(self, entity: str, record_id: int) -> None:
        entity = self._entity(entity)
        self._current(entity, record_id)
        self.state.overlay.delete(entity, record_id)

    def _exists(self, entity: str, record_id: int) -> bool:
        try:
            self._current(entity, record_id)
        except AdminError:
            return False
        return True

    def _next_id(self, entity: str) -> int:
        if entity == "entries":
            return self.entries.next_id()
        ids = [r["id"] for r in self.base(entity)] + list(self.state.overlay.inserted.get(entity, {}))
        return max(ids, default=0) + 1
