"""Clockodo query parameters (PHP style) and the two error body shapes.

Clockodo reads `filter[users_id]=1`, `filter[users_id][]=1&filter[users_id][]=2` and CSV strings
(`filter[users_id]=1,2`) alike, and silently ignores parameters it does not know. Validation errors
come back in the endpoint's own shape: "simple" (`{"error": {"message", "fields"}}`, used by entries,
work times and the unversioned v1 endpoints) or "general" (`{"errors": [{"type", "message", "details",
"path"}]}`, the v2+ endpoints). Both are raised as `ApiError`.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import date, datetime
from typing import Any

from sandbox.app import ApiError
from sandbox.common import JSON

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE, _FALSE = {"1", "true"}, {"0", "false"}


def general_error(status: int, kind: str, message: str, path: str | None = None, details: Any = None) -> JSON:
    return JSON({"errors": [{"type": kind, "message": message, "details": details, "path": path}]}, status)


def simple_error(status: int, message: str, fields: list[str] | None = None) -> JSON:
    body: dict[str, Any] = {"message": message}
    if fields is not None:
        body["fields"] = fields
    return JSON({"error": body}, status)


def paging(total: int, page: int, per_page: int) -> dict[str, int]:
    # count_pages is plain ceil(count_items / items_per_page), so an empty result has 0 pages.
    return {
        "items_per_page": per_page,
        "current_page": page,
        "count_pages": math.ceil(total / per_page),
        "count_items": total,
    }


class Query:
    """The query string of one request, read the way Clockodo's PHP backend reads it."""

    def __init__(self, items: list[tuple[str, str]], style: str) -> None:
        self.style = style
        self.plain: dict[str, list[str]] = {}
        self.nested: dict[str, dict[str, list[str]]] = {}
        for key, value in items:
            m = _KEY.match(key)
            if not m:
                continue
            base, brackets = m.group(1), re.findall(r"\[([^\[\]]*)\]", m.group(2))
            if not brackets or brackets[0] == "":
                self.plain.setdefault(base, []).append(value)
            else:
                self.nested.setdefault(base, {}).setdefault(brackets[0], []).append(value)

    def error(self, field: str, message: str = "Wrong format") -> ApiError:
        if self.style == "simple":
            return ApiError(simple_error(400, message, [field]))
        return ApiError(general_error(400, "InvalidParameter", f"{message}: {field}", path=field))

    def missing(self, field: str) -> ApiError:
        if self.style == "simple":
            return ApiError(simple_error(400, f"Missing data: {field}", [field]))
        return ApiError(general_error(400, "MissingParameter", f"Missing parameter: {field}", path=field))

    def values(self, name: str, group: str | None = None) -> list[str] | None:
        """Raw values of `name` (or `group[name]`), CSV split; None when absent."""
        raw = self.nested.get(group, {}).get(name) if group else self.plain.get(name)
        if raw is None:
            return None
        return [part.strip() for value in raw for part in value.split(",")]

    def field_name(self, name: str, group: str | None) -> str:
        return f"{group}[{name}]" if group else name

    def ints(self, name: str, group: str | None = None, nullable: bool = False) -> set[int | None] | None:
        values = self.values(name, group)
        if values is None:
            return None
        out: set[int | None] = set()
        for v in values:
            if nullable and v in ("", "null"):
                out.add(None)
            elif re.fullmatch(r"-?\d+", v):
                out.add(int(v))
            else:
                raise self.error(self.field_name(name, group))
        return out

    def integer(self, name: str, group: str | None = None, required: bool = False) -> int | None:
        values = self.values(name, group)
        if values is None or values == [""]:
            if required:
                raise self.missing(self.field_name(name, group))
            return None
        if len(values) != 1 or not re.fullmatch(r"-?\d+", values[0]):
            raise self.error(self.field_name(name, group))
        return int(values[0])

    def flag(self, name: str, group: str | None = None) -> bool | None:
        raw = self.nested.get(group, {}).get(name) if group else self.plain.get(name)
        if raw is None:
            return None
        value = raw[-1].strip().lower()
        if value not in _TRUE | _FALSE:
            raise self.error(self.field_name(name, group))
        return value in _TRUE

    def text(self, name: str, group: str | None = None) -> str | None:
        raw = self.nested.get(group, {}).get(name) if group else self.plain.get(name)
        return raw[-1] if raw else None

    def timestamp(self, name: str, required: bool = True) -> int | None:
        """An ISO 8601 date-time as epoch seconds; a bare date is `Wrong format`, as on the real API."""
        raw = self.text(name)
        if raw is None or raw == "":
            if required:
                raise self.missing(name)
            return None
        m = _DATETIME.match(raw)
        if not m:
            raise self.error(name)
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise self.error(name) from None
        return calendar.timegm(when.utctimetuple())

    def day(self, name: str, required: bool = True) -> date | None:
        raw = self.text(name)
        if raw is None or raw == "":
            if required:
                raise self.missing(name)
            return None
        try:
            if not _DATE.match(raw):
                raise ValueError(raw)
            return date.fromisoformat(raw)
        except ValueError:
            raise self.error(name) from None

    def page(self) -> int:
        page = self.integer("page")
        if page is None:
            return 1
        if page < 1:
            raise self.error("page")
        return page

    def paging(self, max_items: int, default: int = 1000) -> tuple[int, int]:
        """(page, items_per_page). Above the documented maximum is refused, not clamped (UNCONFIRMED)."""
        per_page = self.integer("items_per_page")
        if per_page is None:
            per_page = min(default, max_items)
        if not 1 <= per_page <= max_items:
            raise self.error("items_per_page", f"items_per_page must be between 1 and {max_items}")
        return self.page(), per_page

    def sort_keys(self, allowed: set[str]) -> list[tuple[str, bool]]:
        """`sort[]=-name&sort[]=id` -> [("name", True), ("id", False)]; unknown keys are refused."""
        out = []
        for value in self.values("sort") or []:
            key, desc = (value[1:], True) if value.startswith("-") else (value, False)
            if key not in allowed:
                raise self.error("sort")
            out.append((key, desc))
        return out
