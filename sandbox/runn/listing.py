"""Runn's collection endpoints: per-endpoint `limit` bounds and filters, sorting, and cursor paging.

The shared engine (`sandbox.listing`) orders the rows and cuts the keyset page. Every list answers `{"values": [...], "nextCursor": <opaque string> | null}` (reference §2); the next
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

from sandbox.listing import beyond, decode_cursor, encode_cursor, order, select
from sandbox.runn.params import Query, bad

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
    sort_by, direction = q.choice("sortBy", SORT_BY), q.choice("order", ORDER)
    after = q.moment("modifiedAfter")
    desc = direction == "desc"

    def key(r: Record) -> tuple[Any, int]:
        return r[sort_by], r["id"]

    chosen = order(select(rows, [] if after is None else [lambda r: r["updatedAt"] > after]), [(key, desc)])
    cursor = q.text("cursor")
    if cursor:
        chosen = beyond(chosen, key, _position(cursor, sort_by, direction), desc)
    values = chosen[:limit]
    next_cursor = None
    if len(chosen) > limit:
        position = list(key(values[-1]))
        next_cursor = encode_cursor({"sortBy": sort_by, "order": direction, "after": position})
    return {"values": [render(r) for r in values], "nextCursor": next_cursor}


def _position(cursor: str, sort_by: str, direction: str) -> tuple[Any, int]:
    """The keyset position a cursor holds: the last row's sort value and id."""
    try:
        data = decode_cursor(cursor)
    except ValueError:
        raise bad("querystring/cursor is not a valid cursor") from None
    if not isinstance(data, dict):
        raise bad("querystring/cursor is not a valid cursor")
    key = data.get("after")
    if data.get("sortBy") != sort_by or data.get("order") != direction:
        raise bad("querystring/cursor was made for another sortBy/order")
    kind = int if sort_by == "id" else str
    if not (isinstance(key, list) and len(key) == 2 and isinstance(key[0], kind) and isinstance(key[1], int)):
        raise bad("querystring/cursor is not a valid cursor")
    return key[0], key[1]


def contains(value: Any, needle: str | None) -> bool:
    """Runn's text filters: a case-insensitive substring."""
    return needle is None or (isinstance(value, str) and needle.lower() in value.lower())


def has_external_id(record: Record, external_id: str | None) -> bool:
    return external_id is None or any(ref["externalId"] == external_id for ref in record["references"])
