"""Every Harvest list endpoint but time entries and reports, as data: path, envelope key, filters, paging.

Each endpoint is a `Listing` (the shared declaration plus Harvest's facts); `list_records` serves every
one with the shared engine (`sandbox.listing`). Filters are `Filter(parameter, kind, field path)` rows;
`updated_since` is accepted wherever the reference documents it (everywhere but roles). Endpoints the
reference names as cursor-paginated (users, projects, clients, contacts, tasks, task/user assignments,
roles, expense categories) answer with cursor links; the others page by number. Lists are sorted newest
first: by creation (`created_at`, then id), expenses by `spent_date`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox import listing
from sandbox.harvest.entries import parse_iso
from sandbox.harvest.params import ApiError, Query, error, invalid, paged
from sandbox.listing import Filter, nested, predicates, public, select

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
ACTIVE = Filter("is_active", "bool", ("is_active",))
CLIENT = Filter("client_id", "id", ("client", "id"))
INVOICE_STATES = ("draft", "open", "paid", "closed")
ESTIMATE_STATES = ("draft", "sent", "accepted", "declined")


@dataclass(frozen=True, kw_only=True)
class Listing(listing.Listing):
    updated_since: bool = True
    cursor: bool = False
    dated: str | None = None  # the date field `from`/`to` filter on
    parent: tuple[str, ...] | None = None  # field matched against the `{parent_id}` of the path
    admin_only: bool = False  # members get 403 (users: "Administrator or Manager")


LISTINGS = (
    Listing("clients", "/v2/clients", "clients", (ACTIVE,), cursor=True),
    Listing("contacts", "/v2/contacts", "contacts", (CLIENT,), cursor=True),
    Listing("projects", "/v2/projects", "projects", (ACTIVE, CLIENT), cursor=True),
    Listing("tasks", "/v2/tasks", "tasks", (ACTIVE,), cursor=True),
    Listing("task_assignments", "/v2/task_assignments", "task_assignments", (ACTIVE,), cursor=True),
    Listing("task_assignments", "/v2/projects/{parent_id:int}/task_assignments", "task_assignments", (ACTIVE,),
            parent=("project", "id"), cursor=True),
    Listing("user_assignments", "/v2/user_assignments", "user_assignments",
            (ACTIVE, Filter("user_id", "id", ("user", "id"))), cursor=True),
    Listing("user_assignments", "/v2/projects/{parent_id:int}/user_assignments", "user_assignments",
            (ACTIVE, Filter("user_id", "id", ("user", "id"))), parent=("project", "id"), cursor=True),
    Listing("users", "/v2/users", "users", (ACTIVE,), admin_only=True, cursor=True),
    Listing("roles", "/v2/roles", "roles", updated_since=False, cursor=True),
    Listing("invoices", "/v2/invoices", "invoices", (
        CLIENT, Filter("project_id", "line_project", ("line_items",)),
        Filter("state", "state", ("state",), choices=INVOICE_STATES)), dated="issue_date"),
    Listing("invoice_payments", "/v2/invoices/{parent_id:int}/payments", "invoice_payments",
            parent=("_parent_id",)),
    Listing("invoice_messages", "/v2/invoices/{parent_id:int}/messages", "invoice_messages",
            parent=("_parent_id",)),
    Listing("invoice_item_categories", "/v2/invoice_item_categories", "invoice_item_categories"),
    Listing("estimates", "/v2/estimates", "estimates", (
        CLIENT, Filter("state", "state", ("state",), choices=ESTIMATE_STATES)), dated="issue_date"),
    Listing("estimate_messages", "/v2/estimates/{parent_id:int}/messages", "estimate_messages",
            parent=("_parent_id",)),
    Listing("estimate_item_categories", "/v2/estimate_item_categories", "estimate_item_categories"),
    Listing("expenses", "/v2/expenses", "expenses", (
        Filter("user_id", "id", ("user", "id")), CLIENT, Filter("project_id", "id", ("project", "id")),
        Filter("is_billed", "bool", ("is_billed",))), dated="spent_date", own_only=True),
    Listing("expense_categories", "/v2/expense_categories", "expense_categories", (ACTIVE,), cursor=True),
    Listing("billable_rates", "/v2/users/{parent_id:int}/billable_rates", "billable_rates", parent=("_parent_id",)),
    Listing("cost_rates", "/v2/users/{parent_id:int}/cost_rates", "cost_rates", parent=("_parent_id",)),
)  # fmt: skip
PARENTS = {"invoice_payments": "invoices", "invoice_messages": "invoices", "estimate_messages": "estimates",
           "billable_rates": "users", "cost_rates": "users", "task_assignments": "projects",
           "user_assignments": "projects"}  # fmt: skip


def sort_key(entity: str) -> Callable[[Record], Any]:
    if entity == "expenses":
        return lambda r: (str(r.get("spent_date") or ""), r["id"])
    return lambda r: (str(r.get("created_at") or ""), r["id"])


def _predicate(q: Query, f: Filter) -> Predicate | None:
    param, path, kind = f.param, f.field, f.kind
    if kind == "bool":
        flag = q.flag(param)
        return None if flag is None else lambda r: bool(nested(r, path)) == flag
    if kind == "id":
        wanted = q.integer(param)
        return None if wanted is None else lambda r: nested(r, path) == wanted
    if kind == "line_project":
        pid = q.integer(param)
        return None if pid is None else lambda r: any((li.get("project") or {}).get("id") == pid
                                                       for li in nested(r, path) or [])  # fmt: skip
    if kind == "state":
        state = q.text(param)
        if state is None:
            return None
        if state not in f.choices:
            raise invalid(f"{param} must be one of {','.join(f.choices)}")
        return lambda r: nested(r, path) == state
    raise ValueError(f"unknown filter kind {kind!r}")


def _predicates(listing: Listing, q: Query) -> list[Predicate]:
    out = predicates(listing.filters, lambda f: _predicate(q, f))
    if listing.updated_since and (since := q.timestamp("updated_since")) is not None:
        out.append(lambda r: (parse_iso(r.get("updated_at")) or 0) >= since)
    if listing.dated:
        start, end, field = q.day("from"), q.day("to"), listing.dated
        if start is not None:
            out.append(lambda r: str(r.get(field)) >= start.isoformat())
        if end is not None:
            out.append(lambda r: str(r.get(field)) <= end.isoformat())
    return out


def list_records(
    listing: Listing,
    q: Query,
    rows: list[Record],
    own_user: int | None,
    parent_id: int | None = None,
    lookup: Callable[[int], Record | None] | None = None,
) -> Record:
    """One page of a listing. `rows` are current records sorted newest first; own_user: a member."""
    if listing.admin_only and own_user is not None:
        raise ApiError(error(403, "You do not have permission to list users"))
    preds = _predicates(listing, q)
    if listing.parent is not None:
        preds.append(lambda r: nested(r, listing.parent or ()) == parent_id)
    if listing.own_only and own_user is not None:
        preds.append(lambda r: (r.get("user") or {}).get("id") == own_user)
    body = paged(q, listing.envelope, select(rows, preds), listing.cursor, sort_key(listing.entity), lookup)
    body[listing.envelope] = [public(r) for r in body[listing.envelope]]
    return body
