"""Clockodo's admin facts for the shared `RecordAdmin` (`/_admin/{entity}`, on the overlay).

Records are written in Clockodo's wire shape: what an insert needs, the references checked, the
defaults of a new record, and Clockodo's own rules (an entry's project belongs to its customer, ISO
times, only time entries run). Derived entities (work times, user reports, customer/project rights)
cannot be written; edit the entries, absences or users they come from instead. Answers are the stored
records as they are (private fields included).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sandbox.admin import RecordAdmin, blank
from sandbox.clockodo.entries import parse_ts
from sandbox.common import AdminError

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


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClockodoAdmin(RecordAdmin):
    """The `AdminBackend` of the Clockodo app."""

    required, foreign, defaults, derived = REQUIRED, FOREIGN, DEFAULTS, DERIVED

    def blank(self, entity: str, key: str, value: Any) -> Any:
        # a blanked reference or id is "none" (null), not id 0 (a team's leader)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if key in self.foreign.get(entity, {}) or (numeric and (key == "id" or key.endswith("_id"))):
            return None
        return blank(value)

    def template(self, entity: str, body: Record) -> Record:
        if entity == "entries":
            return self._entry_template(body)
        if entity == "non_business_days" and "date" in body:  # shorthand for a one-off holiday
            y, m, d = (int(x) for x in str(body.pop("date")).split("-"))
            body = {"year": y, "month": m, "day": d, **body}
        row = super().template(entity, body)
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

    def derive(self, entity: str, row: Record, body: Record, current: Record | None) -> None:
        # an edit of the times of a time entry moves its duration along unless one is given
        if row.get("type") == 1 and "duration" not in body and ({"time_since", "time_until"} & set(body)):
            since, until = parse_ts(row.get("time_since")), parse_ts(row.get("time_until"))
            row["duration"] = None if since is None or until is None else until - since

    def validate(self, entity: str, row: Record) -> None:
        if entity != "entries":
            return
        project = self.records.get("projects", row.get("projects_id"))
        if project is not None and project["customers_id"] != row.get("customers_id"):
            raise AdminError(400, f"project {project['id']} belongs to customer {project['customers_id']}")
        for field in ("time_since", "time_until"):
            if row.get(field) is not None and not _ISO.match(str(row[field])):
                raise AdminError(400, f"{field} must look like 2024-01-31T09:00:00Z")
        if row.get("time_until") is None and row.get("type") != 1:
            raise AdminError(400, "only time entries (type 1) may be running (time_until null)")

    def public(self, row: Record) -> Record:
        return row
