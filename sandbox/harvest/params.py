"""Harvest query parameters, error bodies and the paging envelope (page-based and cursor-based).

Every list answers `{"<key>": [...], "per_page", "total_pages", "total_entries", "next_page",
"previous_page", "page", "links": {"first", "next", "previous", "last"}}`. Links are absolute URLs
built from the request's own URL (so a mount prefix such as `/harvest` stays in them) and keep the
request's other parameters, so a client can follow `links.next` verbatim.

Cursor-paginated endpoints put `cursor=<base64 {"after":{"id":N}}>&per_page=..&ref=next_cursor` in
`links.next`; their `page`, `next_page` and `previous_page` are null except on the first and last
pages (HDOCS pagination page).
"""

from __future__ import annotations

import calendar
import json
import math
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from sandbox.app import ApiError
from sandbox.common import JSON
from sandbox.listing import Page, beyond, decode_cursor, encode_cursor, numbered

Record = dict[str, Any]
MAX_PER_PAGE = 2000
AUTH_ERROR = {
    "error": "invalid_token",
    "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons.",
}
_PAGING_PARAMS = {"page", "cursor", "per_page", "ref"}
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_TRUE, _FALSE = {"true", "1"}, {"false", "0"}


def error(status: int, message: str) -> JSON:
    """Harvest's 4xx/5xx body outside OAuth errors (shape UNCONFIRMED in the reference)."""
    return JSON({"message": message}, status)


def invalid(message: str) -> ApiError:
    return ApiError(error(422, message))


def not_found(what: str = "Resource") -> ApiError:
    return ApiError(error(404, f"{what} not found"))


def epoch(value: datetime) -> int:
    return calendar.timegm(value.utctimetuple())


class Query:
    """The query string of one request; the last value of a repeated parameter wins."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.values = dict(request.query_params.items())

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None or value == "" else value

    def integer(self, name: str) -> int | None:
        raw = self.text(name)
        if raw is None:
            return None
        if not re.fullmatch(r"-?\d+", raw):
            raise invalid(f"{name} must be an integer")
        return int(raw)

    def flag(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw.lower() not in _TRUE | _FALSE:
            raise invalid(f"{name} must be true or false")
        return raw.lower() in _TRUE

    def day(self, name: str, required: bool = False) -> date | None:
        """`YYYY-MM-DD` (lists) or `YYYYMMDD` (reports); both are accepted everywhere."""
        raw = self.text(name)
        if raw is None:
            if required:
                raise invalid(f"{name} is required")
            return None
        m = _DATE.match(raw)
        try:
            if not m:
                raise ValueError(raw)
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            raise invalid(f"{name} must be a date (YYYY-MM-DD or YYYYMMDD)") from None

    def timestamp(self, name: str) -> int | None:
        """An ISO 8601 date-time (a bare date means its UTC midnight) as epoch seconds."""
        raw = self.text(name)
        if raw is None:
            return None
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise invalid(f"{name} must be an ISO 8601 date-time") from None
        return epoch(when) if when.tzinfo else calendar.timegm(when.timetuple())

    def per_page(self) -> int:
        per_page = self.integer("per_page")
        if per_page is None:
            return MAX_PER_PAGE
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise invalid(f"per_page must be between 1 and {MAX_PER_PAGE}")
        return per_page

    def page(self) -> int:
        page = self.integer("page")
        if page is None:
            return 1
        if page < 1:
            raise invalid("page must be 1 or more")
        return page

    def cursor(self) -> tuple[str, int] | None:
        """("after" | "before", id) from an opaque cursor, or None."""
        raw = self.text("cursor")
        if raw is None:
            return None
        try:
            ((direction, ref),) = decode_cursor(raw).items()
            if direction not in ("after", "before"):
                raise ValueError(direction)
            return direction, int(ref["id"])
        except (ValueError, TypeError, KeyError, AttributeError):
            raise invalid("cursor is invalid") from None

    # -- links ----------------------------------------------------------------------------------
    def link(self, first: dict[str, Any], ref: str) -> str:
        """This request's URL with paging replaced: `first` params, the other params, then `ref`."""
        rest = [(k, v) for k, v in self.request.query_params.multi_items() if k not in _PAGING_PARAMS]
        query = urlencode([*first.items(), *rest, ("ref", ref)])
        return str(self.request.url.replace(query=query))


def page_meta(q: Query, total: int, page: int, per_page: int) -> Record:
    """Paging fields and links of a page-based list."""
    pages = math.ceil(total / per_page)
    last = max(1, pages)

    def at(n: int, ref: str) -> str:
        return q.link({"page": n, "per_page": per_page}, ref)

    return {
        "per_page": per_page,
        "total_pages": pages,
        "total_entries": total,
        "next_page": page + 1 if page < pages else None,
        "previous_page": page - 1 if page > 1 else None,
        "page": page,
        "links": {
            "first": at(1, "first"),
            "next": at(page + 1, "next") if page < pages else None,
            "previous": at(page - 1, "previous") if page > 1 else None,
            "last": at(last, "last"),
        },
    }


def envelope(key: str, rows: list[Any], meta: Record) -> Record:
    return {key: rows, **meta}


def raw_envelope(key: str, parts: Sequence[str], meta: Record) -> str:
    """`envelope` for rows already encoded as JSON text (the hot time-entries path)."""
    tail = json.dumps(meta, separators=(",", ":"), ensure_ascii=False)
    return '{"' + key + '":[' + ",".join(parts) + "]," + tail[1:]


def page_of(q: Query, key: str, rows: list[Record]) -> Record:
    """Page `page` of `per_page` rows (already filtered and sorted) in the envelope."""
    per_page = q.per_page()
    page = numbered(rows, q.page(), per_page)
    return envelope(key, page.rows, page_meta(q, page.total, page.number, page.size))


SortKey = Callable[[Record], Any]


def paged(
    q: Query,
    key: str,
    rows: list[Record],
    cursor_paged: bool,
    sort_key: SortKey | None = None,
    lookup: Callable[[int], Record | None] | None = None,
) -> Record:
    """One page of `rows` (already filtered and sorted newest first by `sort_key`) in the envelope.

    A cursor names the last (or first) record of the page before; when that record has been deleted
    since, `lookup` finds its generated version so the position is still known.
    """
    per_page = q.per_page()
    cursor = q.cursor() if cursor_paged else None
    if cursor is None:
        body = page_of(q, key, rows)
        if cursor_paged and body[key] and body["links"]["next"]:
            body["links"]["next"] = _cursor_link(q, "after", body[key][-1], per_page)
        return body
    direction, ref_id = cursor
    sort_key = sort_key or (lambda r: r["id"])
    ref = next((r for r in rows if r["id"] == ref_id), None) or (lookup(ref_id) if lookup else None)
    if ref is None:
        raise invalid("cursor is invalid")
    pivot, total = sort_key(ref), len(rows)
    if direction == "after":  # rows sort newest (largest key) first: later rows have smaller keys
        later = beyond(rows, sort_key, pivot, descending=True)
        page = Page(later[:per_page], total, total - len(later), per_page)
    else:
        earlier = beyond(rows, sort_key, pivot)
        start = max(0, len(earlier) - per_page)
        page = Page(earlier[start:], total, start, per_page)
    pages, chunk = page.pages, page.rows
    meta = {
        "per_page": per_page,
        "total_pages": pages,
        "total_entries": total,
        "next_page": 2 if page.first and not page.last else None,
        "previous_page": pages - 1 if page.last and pages > 1 else None,
        "page": 1 if page.first else pages if page.last else None,
        "links": {
            "first": q.link({"page": 1, "per_page": per_page}, "first"),
            "next": None if page.last or not chunk else _cursor_link(q, "after", chunk[-1], per_page),
            "previous": None if page.first or not chunk else _cursor_link(q, "before", chunk[0], per_page),
            "last": q.link({"page": max(1, pages), "per_page": per_page}, "last"),
        },
    }
    return envelope(key, chunk, meta)


def _cursor_link(q: Query, direction: str, row: Record, per_page: int) -> str:
    ref = "next_cursor" if direction == "after" else "prev_cursor"
    token = encode_cursor({direction: {"id": row["id"]}})
    return q.link({"cursor": token, "per_page": per_page}, ref)
