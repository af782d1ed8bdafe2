"""The master-data list endpoints as data: path, envelope, paging, filters, sort keys, rights.

One generic handler (`list_records`) serves every entry of `LISTINGS`; filters are declared as
(parameter, group, field, kind) rows so each endpoint's accepted parameters can be read in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sandbox.clockodo.params import Query, paging
from sandbox.clockodo.records import RESTRICTED
from sandbox.orgdata import easter

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
ACTIVE = ("active", "filter", "active", "bool")


def fulltext(*fields: str) -> tuple[str, str, tuple[str, ...], str]:
    return ("fulltext", "filter", fields, "text")


@dataclass(frozen=True)
class Listing:
    """One list endpoint. `max_per_page=None` means the endpoint is not paged."""

    entity: str
    path: str
    envelope: str = "data"
    max_per_page: int | None = None
    filters: tuple[tuple[str, str | None, Any, str], ...] = ()
    sort: frozenset[str] = frozenset()
    own_only: bool = False  # the worker key sees only its own rows
    style: str = "general"


SORT_BASIC = frozenset({"active", "id", "name"})
LISTINGS = (
    Listing("projects", "/v4/projects", max_per_page=5000, sort=SORT_BASIC, filters=(
        ACTIVE, ("completed", "filter", "completed", "bool"), ("customers_id", "filter", "customers_id", "ints"),
        fulltext("name", "number"))),
    Listing("customers", "/v3/customers", max_per_page=5000, sort=SORT_BASIC,
            filters=(ACTIVE, fulltext("name", "number"))),
    Listing("users", "/v3/users", max_per_page=1000,
            sort=frozenset({"active", "id", "name", "number", "role", "teams_name"}), filters=(
        ACTIVE, fulltext("name", "number", "email"), ("teams_id", "filter", "teams_id", "nullable_ints"))),
    Listing("teams", "/v3/teams", max_per_page=1000, sort=frozenset({"id", "name"}), filters=(fulltext("name"),)),
    Listing("services", "/v4/services", max_per_page=5000, sort=SORT_BASIC,
            filters=(ACTIVE, fulltext("name", "number"))),
    Listing("lumpsum_services", "/v4/lumpSumServices", max_per_page=5000, sort=SORT_BASIC,
            filters=(ACTIVE, fulltext("name", "number"))),
    Listing("absences", "/v4/absences", filters=(
        ("year", "filter", None, "absence_year"), ("users_id", "filter", "users_id", "ints"),
        ("teams_id", "filter", None, "absence_teams"), ("status", "filter", "status", "ints"),
        ("type", "filter", "type", "ints"), ("users_active", "filter", None, "users_active"))),
    Listing("target_hours", "/targethours", envelope="targethours", own_only=True, style="simple",
            filters=(("users_id", None, "users_id", "ints"),)),
    Listing("overtime_carries", "/v3/overtimeCarry", own_only=True,
            filters=(("users_id", None, "users_id", "ints"), ("year", None, "year", "ints"))),
    Listing("holidays_quota", "/v2/holidaysQuota", own_only=True, filters=(
        ("users_id", None, "users_id", "ints"), ("users_id", "filter", "users_id", "ints"),
        ("year", None, None, "quota_year"), ("year", "filter", None, "quota_year"))),
    Listing("holidays_carries", "/v3/holidaysCarry", own_only=True,
            filters=(("users_id", None, "users_id", "ints"), ("year", None, "year", "ints"))),
    Listing("surcharges", "/v2/surchargeModels"),
)  # fmt: skip


def _year(q: Query, name: str, group: str | None) -> int | None:
    year = q.integer(name, group)
    if year is not None and not 2000 <= year <= 2037:
        raise q.error(q.field_name(name, group))
    return year


def predicates(listing: Listing, q: Query, dims: Callable[[str], list[Record]]) -> list[Predicate]:
    """The filters a request asks for, as predicates on wire records; bad values raise 400."""
    out = [p for spec in listing.filters if (p := _predicate(q, dims, *spec)) is not None]
    return out


def _predicate(
    q: Query, dims: Callable[[str], list[Record]], name: str, group: str | None, field: Any, kind: str
) -> Predicate | None:
    # one closure per filter kind; each call has its own scope, so nothing leaks between filters
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
    for key, desc in reversed(keys):  # stable sorts, last key first
        if key == "teams_name":
            rows = sorted(rows, key=lambda r: teams.get(r.get("teams_id")) or "", reverse=desc)
        else:
            rows = sorted(rows, key=_sort_key(key), reverse=desc)
    return rows


def _sort_key(key: str) -> Callable[[Record], tuple[bool, Any]]:
    return lambda r: (r.get(key) is None, r.get(key))


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
    preds = predicates(listing, q, dims)
    rows = [r for r in rows if all(p(r) for p in preds)]
    if listing.sort and (keys := q.sort_keys(set(listing.sort))):
        rows = sort_rows(rows, keys, dims)
    if listing.max_per_page is None:
        return {listing.envelope: [trim(listing.entity, r, principal) for r in rows]}
    page, per_page = q.paging(listing.max_per_page)
    chunk = rows[(page - 1) * per_page : page * per_page]
    return {
        "paging": paging(len(rows), page, per_page),
        listing.envelope: [trim(listing.entity, r, principal) for r in chunk],
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
            out.append(
                {**{k: v for k, v in d.items() if not k.startswith("_")}, "evaluated_date": when.isoformat()}
            )
    return {"data": sorted(out, key=lambda r: (r["evaluated_date"], r["id"]))}


def users_nonbusiness_days(q: Query, definitions: list[Record], users: list[Record], anchor: date) -> Record:
    """`/v2/usersNonbusinessDays?year=&filter[users_id]=`: everyone is in the one holiday group."""
    days = nonbusiness_days(q, definitions, anchor)["data"]
    wanted = q.ints("users_id", "filter")
    rows = [{"users_id": u["id"], "days": days} for u in users if wanted is None or u["id"] in wanted]
    page, per_page = q.paging(100)
    return {
        "paging": paging(len(rows), page, per_page),
        "data": rows[(page - 1) * per_page : page * per_page],
    }
