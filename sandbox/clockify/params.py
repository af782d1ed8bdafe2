"""Clockify's request parameters, paging and error bodies.

Errors are `{"message": "<text>", "code": <int>}` (reference §1 "Error shape"): 401/1000 for no or
several auth headers, 401/4003 for an unknown key, 400/501 for validation, 400/3001 for missing
required query parameters, 404/405 with 3000 for unbound routes and methods, 403 "Access Denied".
Paged lists take `page` (1-based) and `page-size` (default 50) and answer a `Last-Page: true|false`
header (§2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import QueryParams

from sandbox.app import ApiError
from sandbox.common import JSON
from sandbox.listing import numbered

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 5000  # regular endpoints (Clockify support, quoted in the reference; UNCONFIRMED today)
_INT = re.compile(r"^-?\d+$")


def error(status: int, message: str, code: int) -> JSON:
    return JSON({"message": message, "code": code}, status)


def bad_request(message: str, code: int = 501) -> ApiError:
    return ApiError(error(400, message, code))


def access_denied() -> ApiError:
    return ApiError(error(403, "Access Denied", 403))


def not_bound(path: str) -> ApiError:
    return ApiError(error(404, f"No static resource {path.lstrip('/')}.", 3000))


def method_not_supported(method: str) -> ApiError:
    return ApiError(error(405, f"Request method '{method}' is not supported", 3000))


def page_response(rows: Any, last_page: bool | None) -> JSON:
    """A list answer; paged endpoints add `Last-Page`, unpaged ones do not."""
    response = JSON(rows)
    if last_page is not None:
        response.headers["Last-Page"] = "true" if last_page else "false"
    return response


class Params:
    """The query string of one request, read the way Clockify reads it (kebab-case names)."""

    def __init__(self, query: QueryParams | Iterable[tuple[str, str]]) -> None:
        items = query.multi_items() if isinstance(query, QueryParams) else list(query)
        self.values: dict[str, list[str]] = {}
        for key, value in items:
            self.values.setdefault(key, []).append(value)

    def text(self, name: str) -> str | None:
        raw = self.values.get(name)
        return raw[-1] if raw else None

    def flag(self, name: str, default: bool | None = None) -> bool | None:
        raw = self.text(name)
        if raw is None or raw == "":
            return default
        if raw.lower() not in ("true", "false"):
            raise bad_request(f"Invalid value '{raw}' for parameter '{name}': expected true or false")
        return raw.lower() == "true"

    def ids(self, name: str) -> list[str] | None:
        """Repeated or comma-separated values; None when absent."""
        raw = self.values.get(name)
        if raw is None:
            return None
        return [part.strip() for value in raw for part in value.split(",") if part.strip()]

    def enum(self, name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
        raw = self.text(name)
        if raw is None or raw == "":
            return default
        value = raw.upper()
        allowed = tuple(allowed)
        if value not in allowed:
            raise bad_request(f"Invalid value '{raw}' for parameter '{name}'; allowed: {', '.join(allowed)}")
        return value

    def integer(self, name: str, default: int) -> int:
        raw = self.text(name)
        if raw is None or raw == "":
            return default
        if not _INT.match(raw):
            raise bad_request(f"Invalid value '{raw}' for parameter '{name}': expected an integer")
        return int(raw)

    def required(self, name: str) -> str:
        raw = self.text(name)
        if raw is None or raw == "":
            raise bad_request(f"Required request parameter '{name}' is not present", 3001)
        return raw

    def paging(self, max_size: int = MAX_PAGE_SIZE, max_page: int | None = None) -> tuple[int, int]:
        """(page, page-size). Out-of-range values are refused with 400, not clamped (the reference's
        Power BI story: a too-large page-size broke with Bad Request)."""
        page, size = self.integer("page", 1), self.integer("page-size", DEFAULT_PAGE_SIZE)
        if page < 1 or (max_page is not None and page > max_page):
            limit = f" and {max_page}" if max_page is not None else ""
            raise bad_request(f"page must be between 1{limit}")
        if not 1 <= size <= max_size:
            raise bad_request(f"page-size must be between 1 and {max_size}")
        return page, size


def body_paging(body: dict[str, Any], page_key: str, size_key: str, max_size: int) -> tuple[int, int]:
    """Paging read from a JSON body (reports, time-off requests)."""
    page, size = body.get(page_key, 1), body.get(size_key, DEFAULT_PAGE_SIZE)
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise bad_request(f"{page_key} must be a positive integer")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= max_size:
        raise bad_request(f"{size_key} must be between 1 and {max_size}")
    return page, size


def page_of(rows: list[Any], page: int, size: int) -> tuple[list[Any], bool]:
    """One page of an in-memory list and whether it is the last one (the `Last-Page` header)."""
    cut = numbered(rows, page, size)
    return cut.rows, cut.last


def name_matcher(value: str | None, strict: bool | None) -> Any:
    """`name` filters: case-insensitive substring, or exact with `strict-name-search=true`."""
    if not value:
        return None
    wanted = value.lower()
    if strict:
        return lambda name: (name or "").lower() == wanted
    return lambda name: wanted in (name or "").lower()
