"""Runn's collection endpoints: per-endpoint `limit` bounds and filters, sorting, and cursor paging.

Every list answers `{"values": [...], "nextCursor": <opaque string> | null}` (reference §2); the next
page is asked for with `cursor=<nextCursor>`, and `nextCursor` is null on the last page. The cursor is
a keyset position (the last row's sort value and id), so rows created between two pages are neither
skipped nor repeated. A cursor carries the `sortBy`/`order` it was made with; reusing it with another
order is a 400.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from sandbox.runn.params import Query, bad, decode_cursor, encode_cursor

Record = dict[str, Any]
COMMON = frozenset({"cursor", "limit", "sortBy", "order", "modifiedAfter"})
SORT_BY = ("id", "createdAt", "updatedAt")
ORDER = ("asc", "desc")


@dataclass(frozen=True)
class Listing:
    """A collection endpoint: its `limit` default and maximum and the filters it takes (besides COMMON)."""

    default_limit: int = 50
    max_limit: int = 200
    filters: frozenset[str] = frozenset()

    def query(self, request: Request) -> Query:
        return Query(request, set(COMMON | self.filters))


# Reference §2: 50/200 for people, clients, a client's projects, a person's actuals; 100/500 for
# actuals; 20/50 for a person's contracts. Projects, roles and a project's actuals: UNCONFIRMED, 50/200.
LISTINGS = {
    "clients": Listing(filters=frozenset({"name"})),
    "client_projects": Listing(filters=frozenset({"includeArchived"})),
    "projects": Listing(),
    "roles": Listing(),
    "people": Listing(filters=frozenset({"email", "firstName", "lastName", "externalId", "includePlaceholders"})),
    "actuals": Listing(100, 500, frozenset({"minDate", "maxDate", "personId", "projectId", "roleId", "workstreamId"})),
    "person_actuals": Listing(),
    "project_actuals": Listing(),
    "contracts": Listing(20, 50),
}  # fmt: skip


def page(q: Query, listing: Listing, rows: Iterable[Record], render: Callable[[Record], Record]) -> Record:
    """One page of `rows` (already filtered by the endpoint's own filters), rendered."""
    limit = q.integer("limit", listing.default_limit, 1, listing.max_limit)
    assert limit is not None
    sort_by, order = q.choice("sortBy", SORT_BY), q.choice("order", ORDER)
    after = q.moment("modifiedAfter")
    chosen = [r for r in rows if after is None or r["updatedAt"] > after]
    desc = order == "desc"
    chosen.sort(key=lambda r: (r[sort_by], r["id"]), reverse=desc)
    cursor = q.text("cursor")
    if cursor:
        data = decode_cursor(cursor)
        key = data.get("after")
        if data.get("sortBy") != sort_by or data.get("order") != order:
            raise bad("querystring/cursor was made for another sortBy/order")
        kind = int if sort_by == "id" else str
        if not (
            isinstance(key, list) and len(key) == 2 and isinstance(key[0], kind) and isinstance(key[1], int)
        ):
            raise bad("querystring/cursor is not a valid cursor")
        position = (key[0], key[1])
        chosen = [
            r
            for r in chosen
            if ((r[sort_by], r["id"]) < position if desc else (r[sort_by], r["id"]) > position)
        ]
    values = chosen[:limit]
    next_cursor = None
    if len(chosen) > limit:
        last = values[-1]
        next_cursor = encode_cursor({"sortBy": sort_by, "order": order, "after": [last[sort_by], last["id"]]})
    return {"values": [render(r) for r in values], "nextCursor": next_cursor}


def contains(value: Any, needle: str | None) -> bool:
    """Runn's text filters: a case-insensitive substring."""
    return needle is None or (isinstance(value, str) and needle.lower() in value.lower())


def has_external_id(record: Record, external_id: str | None) -> bool:
    return external_id is None or any(ref["externalId"] == external_id for ref in record["references"])
