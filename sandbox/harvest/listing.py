"""Every list endpoint but time entries and reports, as data: path, envelope key, filters, paging.

One generic handler (`list_records`) serves each `Listing`. Filters are (parameter, field path, kind)
rows; `updated_since` is accepted wherever the reference documents it (everywhere but roles).
Endpoints the reference names as cursor-paginated (users, projects, clients, contacts, tasks,
task/user assignments, roles, expense categories) answer with cursor links; the others page by
number. Lists are sorted newest first: by creation (`created_at`, then id), expenses by `spent_date`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.harvest.entries import parse_iso
from sandbox.harvest.params import ApiError, Query, error, invalid, nested, paged

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
ACTIVE = ("is_active", ("is_active",), "bool")
INVOICE_STATES = ("draft", "open", "paid", "closed")
ESTIMATE_STATES = ("draft", "sent", "accepted", "declined")


@dataclass(frozen=True)
class Listing:
    entity: str
    path: str
    envelope: str
    filters: tuple[tuple[str, tuple[str, ...], str], ...] = ()
    updated_since: bool = True
    cursor: bool = False
    dated: str | None = None  # the date field `from`/`to` filter on
    parent: tuple[str, ...] | None = None  # field matched against the `{parent_id}` of the path
    admin_only: bool = False  # members get 403 (users: "Administrator or Manager")
    own_only: bool = False  # members see only rows whose user is themselves


LISTINGS = (
    Listing("clients", "/v2/clients", "clients", (ACTIVE,), cursor=True),
    Listing("contacts", "/v2/contacts", "contacts", (("client_id", ("client", "id"), "id"),), cursor=True),
    Listing("projects", "/v2/projects", "projects", (ACTIVE, ("client_id", ("client", "id"), "id")), cursor=True),
    Listing("tasks", "/v2/tasks", "tasks", (ACTIVE,), cursor=True),
    Listing("task_assignments", "/v2/task_assignments", "task_assignments", (ACTIVE,), cursor=True),
    Listing("task_assignments", "/v2/projects/{parent_id:int}/task_assignments", "task_assignments", (ACTIVE,),
            parent=("project", "id"), cursor=True),
    Listing("user_assignments", "/v2/user_assignments", "user_assignments",
            (ACTIVE, ("user_id", ("user", "id"), "id")), cursor=True),
    Listing("user_assignments", "/v2/projects/{parent_id:int}/user_assignments", "user_assignments",
            (ACTIVE, ("user_id", ("user", "id"), "id")), parent=("project", "id"), cursor=True),
    Listing("users", "/v2/users", "users", (ACTIVE,), admin_only=True, cursor=True),
    Listing("roles", "/v2/roles", "roles", updated_since=False, cursor=True),
    Listing("invoices", "/v2/invoices", "invoices", (
        ("client_id", ("client", "id"), "id"), ("project_id", ("line_items",), "line_project"),
        ("state", ("state",), "state:" + ",".join(INVOICE_STATES))), dated="issue_date"),
    Listing("invoice_payments", "/v2/invoices/{parent_id:int}/payments", "invoice_payments",
            parent=("_parent_id",)),
    Listing("invoice_messages", "/v2/invoices/{parent_id:int}/messages", "invoice_messages",
            parent=("_parent_id",)),
    Listing("invoice_item_categories", "/v2/invoice_item_categories", "invoice_item_categories"),
    Listing("estimates", "/v2/estimates", "estimates", (
        ("client_id", ("client", "id"), "id"), ("state", ("state",), "state:" + ",".join(ESTIMATE_STATES))),
        dated="issue_date"),
    Listing("estimate_messages", "/v2/estimates/{parent_id:int}/messages", "estimate_messages",
            parent=("_parent_id",)),
    Listing("estimate_item_categories", "/v2/estimate_item_categories", "estimate_item_categories"),
    Listing("expenses", "/v2/expenses", "expenses", (
        ("user_id", ("user", "id"), "id"), ("client_id", ("client", "id"), "id"),
        ("project_id", ("project", "id"), "id"), ("is_billed", ("is_billed",), "bool")),
        dated="spent_date", own_only=True),
    Listing("expense_categories", "/v2/expense_categories", "expense_categories", (ACTIVE,), cursor=True),
    Listing("billable_rates", "/v2/users/{parent_id:int}/billable_rates", "billable_rates", parent=("_parent_id",)),
    Listing("cost_rates", "/v2/users/{parent_id:int}/cost_rates", "cost_rates", parent=("_parent_id",)),
)  # fmt: skip
PARENTS = {"invoice_payments": "invoices", "invoice_messages": "invoices", "estimate_messages": "estimates",
           "billable_rates": "users", "cost_rates": "users", "task_assignments": "projects",
           "user_assignments": "projects"}  # fmt: skip


def public(row: Record) -> Record:
    """A record as sent: private bookkeeping fields (`_parent_id`...) removed."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


def sort_key(entity: str) -> Callable[[Record], Any]:
    if entity == "expenses":
        return lambda r: (str(r.get("spent_date") or ""), r["id"])
    return lambda r: (str(r.get("created_at") or ""), r["id"])


def _predicate(q: Query, param: str, path: tuple[str, ...], kind: str) -> Predicate | None:
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
    if kind.startswith("state:"):
        state = q.text(param)
        if state is None:
            return None
        if state not in kind[6:].split(","):
            raise invalid(f"{param} must be one of {kind[6:]}")
        return lambda r: nested(r, path) == state
    raise ValueError(f"unknown filter kind {kind!r}")


def predicates(listing: Listing, q: Query) -> list[Predicate]:
    out = [p for spec in listing.filters if (p := _predicate(q, *spec)) is not None]
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
    preds = predicates(listing, q)
    if listing.parent is not None:
        preds.append(lambda r: nested(r, listing.parent or ()) == parent_id)
    if listing.own_only and own_user is not None:
        preds.append(lambda r: (r.get("user") or {}).get("id") == own_user)
    matched = [r for r in rows if all(p(r) for p in preds)]
    body = paged(q, listing.envelope, matched, listing.cursor, sort_key(listing.entity), lookup)
    body[listing.envelope] = [public(r) for r in body[listing.envelope]]
    return body
