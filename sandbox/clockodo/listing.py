"""Clockodo's master-data list endpoints as data: path, envelope, paging, filters, sort keys, rights.

Each endpoint is a `Listing` (the shared declaration plus Clockodo's page-size maximum, sort keys and
error style); `list_records` serves every one with the shared engine (`sandbox.listing`): the
`Filter` rows become predicates by their kind (how Clockodo reads `filter[...]` parameters is
`params.Query`), rows are sorted by `sort[]`, then paged by `page`/`items_per_page` into a `paging`
object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sandbox import listing
from sandbox.clockodo.params import Query, paging
from sandbox.clockodo.records import RESTRICTED
from sandbox.listing import Filter, numbered, order, predicates, public, select
from sandbox.orgdata import easter

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


def filt(name: str, kind: str, field: Any = None) -> Filter:
    """A `filter[name]` parameter."""
    return Filter(name, kind, field, "filter")


def fulltext(*fields: str) -> Filter:
    return filt("fulltext", "text", fields)


ACTIVE = filt("active", "bool", "active")


@dataclass(frozen=True, kw_only=True)
class Listing(listing.Listing):
    """One list endpoint. `max_per_page=None` means the endpoint is not paged."""

    max_per_page: int | None = None
    sort: frozenset[str] = frozenset()
    style: str = "general"  # the error shape of `params`


SORT_BASIC = frozenset({"active", "id", "name"})
LISTINGS = (
    Listing("projects", "/v4/projects", max_per_page=5000, sort=SORT_BASIC, filters=(
        ACTIVE, filt("completed", "bool", "completed"), filt("customers_id", "ints", "customers_id"),
        fulltext("name", "number"))),
    Listing("customers", "/v3/customers", max_per_page=5000, sort=SORT_BASIC,
            filters=(ACTIVE, fulltext("name", "number"))),
    Listing("users", "/v3/users", max_per_page=1000,
            sort=frozenset({"active", "id", "name", "number", "role", "teams_name"}), filters=(
        ACTIVE, fulltext("name", "number", "email"), filt("teams_id", "nullable_ints", "teams_id"))),
    Listing("teams", "/v3/teams", max_per_page=1000, sort=frozenset({"id", "name"}), filters=(fulltext("name"),)),
    Listing("services", "/v4/services", max_per_page=5000, sort=SORT_BASIC,
            filters=(ACTIVE, fulltext("name", "number"))),
    Listing("lumpsum_services", "/v4/lumpSumServices", max_per_page=5000, sort=SORT_BASIC,
            filters=(ACTIVE, fulltext("name", "number"))),
    Listing("absences", "/v4/absences", filters=(
        filt("year", "absence_year"), filt("users_id", "ints", "users_id"), filt("teams_id", "absence_teams"),
        filt("status", "ints", "status"), filt("type", "ints", "type"), filt("users_active", "users_active"))),
    Listing("target_hours", "/targethours", envelope="targethours", own_only=True, style="simple",
            filters=(Filter("users_id", "ints", "users_id"),)),
    Listing("overtime_carries", "/v3/overtimeCarry", own_only=True,
            filters=(Filter("users_id", "ints", "users_id"), Filter("year", "ints", "year"))),
    Listing("holidays_quota", "/v2/holidaysQuota", own_only=True, filters=(
        Filter("users_id", "ints", "users_id"), filt("users_id", "ints", "users_id"),
        Filter("year", "quota_year"), filt("year", "quota_year"))),
    Listing("holidays_carries", "/v3/holidaysCarry", own_only=True,
            filters=(Filter("users_id", "ints", "users_id"), Filter("year", "ints", "year"))),
    Listing("surcharges", "/v2/surchargeModels"),
)  # fmt: skip


def _year(q: Query, name: str, group: str | None) -> int | None:
    year = q.integer(name, group)
    if year is not None and not 2000 <= year <= 2037:
        raise q.error(q.field_name(name, group))
    return year


def _predicate(q: Query, dims: Callable[[str], list[Record]], f: Filter) -> Predicate | None:
    # one closure per filter kind; each call has its own scope, so nothing leaks between filters
    name, group, field, kind = f.param, f.group, f.field, f.kind
    if kind == "bool":
        flag = q.flag(name, group)
        return None if flag is None else lambda r: bool(r.get(field)) == flag
    if kind in ("ints", "nullable_ints"):
        ids = q.ints(name, group, kind == "nullable_ints")
        return None if ids is None else lambda r: r.get(field) in ids
    if kind == "text":
        text = (q.text(name, group) or "").lower()
        return None if not text else lambda r: any(text in str(r.get(x) or "").lower() for x in field)
    if kind in ("absence_year", "quota_year"):
        year = _year(q, name, group)
        if year is None:
            return None
        if kind == "quota_year":
            return lambda r: r["year_since"] <= year and (r["year_until"] is None or r["year_until"] >= year)
        lo, hi = f"{year}-01-01", f"{year}-12-31"
        return lambda r: r["date_since"] <= hi and r["date_until"] >= lo
    if kind == "absence_teams":
        teams = q.ints(name, group, nullable=True)
        if teams is None:
            return None
        members = {u["id"] for u in dims("users") if u.get("teams_id") in teams}
        return lambda r: r.get("users_id") in members
    if kind == "users_active":
        wanted = q.flag(name, group)
        if wanted is None:
            return None
        active = {u["id"] for u in dims("users") if u.get("active")}
        return lambda r: (r.get("users_id") in active) == wanted
    raise ValueError(f"unknown filter kind {kind!r}")


def sort_rows(
    rows: list[Record], keys: list[tuple[str, bool]], dims: Callable[[str], list[Record]]
) -> list[Record]:
    teams = {t["id"]: t["name"] for t in dims("teams")} if any(k == "teams_name" for k, _ in keys) else {}

    def key(name: str) -> Callable[[Record], Any]:
        if name == "teams_name":
            return lambda r: teams.get(r.get("teams_id")) or ""
        return lambda r: r.get(name)

    return order(rows, [(key(name), desc) for name, desc in keys])


def trim(entity: str, row: Record, principal: Any) -> Record:
    """Drop what the worker key may not see; others' absences lose type and notes."""
    if principal.full_rights:
        return row
    row = {k: v for k, v in row.items() if k not in RESTRICTED.get(entity, ())}
    if entity == "absences" and row.get("users_id") != principal.user_id:
        for key in ("type", "note", "sick_note"):
            row.pop(key, None)
    return row


def list_records(listing: Listing, q: Query, principal: Any, dims: Callable[[str], list[Record]]) -> Record:
    rows = dims(listing.entity)
    if listing.own_only and not principal.full_rights:
        rows = [r for r in rows if r.get("users_id") == principal.user_id]
    rows = select(rows, predicates(listing.filters, lambda f: _predicate(q, dims, f)))
    if listing.sort and (keys := q.sort_keys(set(listing.sort))):
        rows = sort_rows(rows, keys, dims)
    if listing.max_per_page is None:
        return {listing.envelope: [trim(listing.entity, r, principal) for r in rows]}
    page = numbered(rows, *q.paging(listing.max_per_page))
    return {
        "paging": paging(page.total, page.number, page.size),
        listing.envelope: [trim(listing.entity, r, principal) for r in page.rows],
    }


def nonbusiness_days(q: Query, definitions: list[Record], anchor: date) -> Record:
    """`/v2/nonbusinessDays?year=`: definitions evaluated for one year (default: the current one)."""
    year = _year(q, "year", None) or anchor.year
    groups = q.ints("nonbusiness_group_id")
    out = []
    for d in definitions:
        try:
            if d["type"] == "SPECIAL":
                when = easter(year) + timedelta(days=int(d.get("_easter_offset", 0)))
            elif d["type"] == "DISTINCT_ONCE":
                if d.get("year") != year:
                    continue
                when = date(year, d["month"], d["day"])
            else:
                when = date(year, d["month"], d["day"])
        except (KeyError, TypeError, ValueError):  # e.g. 29 February in a common year
            continue
        if groups is None or d.get("nonbusiness_group_id") in groups:
            out.append({**public(d), "evaluated_date": when.isoformat()})
    return {"data": sorted(out, key=lambda r: (r["evaluated_date"], r["id"]))}


def users_nonbusiness_days(q: Query, definitions: list[Record], users: list[Record], anchor: date) -> Record:
    """`/v2/usersNonbusinessDays?year=&filter[users_id]=`: everyone is in the one holiday group."""
    days = nonbusiness_days(q, definitions, anchor)["data"]
    wanted = q.ints("users_id", "filter")
    rows = [{"users_id": u["id"], "days": days} for u in users if wanted is None or u["id"] in wanted]
    page = numbered(rows, *q.paging(100))
    return {"paging": paging(page.total, page.number, page.size), "data": page.rows}
