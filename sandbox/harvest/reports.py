"""The Reports API: time and expense reports, the uninvoiced report and the project budget report.

Aggregates of the same time entries and expenses the list endpoints serve (admin edits included).
Hours are rounded hours (the company rounds up to 15 minutes, and HDOCS says reports use rounded
hours when Time Rounding is on); amounts are rounded hours x billable rate. Every report but the
project budget requires `from` and `to` (`YYYYMMDD`) spanning at most one year; results are paged
like every list, under `results`. Rows are sorted by name, then id (the API's order is not documented).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np

from sandbox.harvest.entries import TimeEntries
from sandbox.harvest.ledger import Ledger
from sandbox.harvest.params import Query, invalid, page_of
from sandbox.harvest.records import CURRENCY

Record = dict[str, Any]
MAX_SPAN_DAYS = 365  # HDOCS: "The timeframe supplied cannot exceed 1 year (365 days)"
TIME_KINDS = ("clients", "projects", "tasks", "team")
EXPENSE_KINDS = ("clients", "projects", "categories", "team")


def window(q: Query) -> tuple[date, date]:
    start, end = q.day("from", required=True), q.day("to", required=True)
    assert start is not None and end is not None
    if end < start:
        raise invalid("to must not be before from")
    if (end - start).days > MAX_SPAN_DAYS:
        raise invalid("The timeframe supplied cannot exceed 1 year (365 days)")
    return start, end


def _money(x: float) -> float:
    return round(float(x), 2)


class Reports:
    """Report endpoints of one sandbox."""

    def __init__(self, ledger: Ledger, entries: TimeEntries, dims: Callable[[str], list[Record]]) -> None:
        self.ledger, self.org, self.entries, self.dims = ledger, ledger.org, entries, dims

    def _time(self, start: date, end: date) -> dict[str, np.ndarray]:
        """Columns of the window's time entries: generated (minus edited/deleted) plus admin ones."""
        d0, d1 = (start - self.org.first_day).days, (end - self.org.first_day).days
        rows = self.ledger.rows(d0, d1)
        touched = self.entries.state.overlay.touched("time_entries")
        if touched:
            rows = rows.take(~np.isin(rows["id"], list(touched)))
        hours = np.ceil(rows["seconds"] / 900) / 4
        cols = {k: rows[k] for k in ("client", "project", "task", "user", "billable", "billed")}
        cols |= {"hours": hours, "rate": rows["rate"]}
        lo, hi = start.isoformat(), end.isoformat()
        extra = [r for r in self.entries.extras() if lo <= str(r.get("spent_date")) <= hi]
        if extra:
            more = {
                "client": [(r.get("client") or {}).get("id", 0) for r in extra],
                "project": [(r.get("project") or {}).get("id", 0) for r in extra],
                "task": [(r.get("task") or {}).get("id", 0) for r in extra],
                "user": [(r.get("user") or {}).get("id", 0) for r in extra],
                "billable": [int(bool(r.get("billable"))) for r in extra],
                "billed": [int(bool(r.get("is_billed"))) for r in extra],
                "hours": [float(r.get("rounded_hours") or r.get("hours") or 0) for r in extra],
                "rate": [float(r.get("billable_rate") or 0) for r in extra],
            }
            cols = {k: np.concatenate([v, np.array(more[k], dtype=v.dtype)]) for k, v in cols.items()}
        return cols

    def _fixed_fee(self, cols: dict[str, np.ndarray], q: Query) -> dict[str, np.ndarray]:
        if q.flag("include_fixed_fee") is not False:
            return cols
        fixed = [p["id"] for p in self.dims("projects") if p.get("is_fixed_fee")]
        keep = ~np.isin(cols["project"], fixed)
        return {k: v[keep] for k, v in cols.items()}

    @staticmethod
    def _group(keys: np.ndarray, *weights: np.ndarray) -> list[tuple[int, list[float]]]:
        if not len(keys):
            return []
        uniq, inv = np.unique(keys, return_inverse=True)
        sums = [np.bincount(inv, weights=w, minlength=len(uniq)) for w in weights]
        return [(int(k), [float(s[i]) for s in sums]) for i, k in enumerate(uniq)]

    def _page(self, q: Query, rows: list[Record], name: str) -> Record:
        rows.sort(key=lambda r: (str(r.get(name) or ""), r.get(name.replace("_name", "_id")) or 0))
        return page_of(q, "results", rows)

    def _names(self) -> dict[str, dict[int, Record]]:
        return {e: {r["id"]: r for r in self.dims(e)} for e in ("clients", "projects", "tasks", "users")}

    def time(self, kind: str, q: Query) -> Record:
        start, end = window(q)
        cols = self._fixed_fee(self._time(start, end), q)
        billable = cols["hours"] * cols["billable"]
        key = {"clients": "client", "projects": "project", "tasks": "task", "team": "user"}[kind]
        n, rows = self._names(), []
        for k, (total, billed_hours, amount) in self._group(
            cols[key], cols["hours"], billable, billable * cols["rate"]
        ):
            row: Record = self._subject(kind, k, n)
            row |= {"total_hours": round(total, 2), "billable_hours": round(billed_hours, 2), "currency": CURRENCY,
                    "billable_amount": _money(amount)}  # fmt: skip
            if kind == "team":
                user = n["users"].get(k, {})
                row |= {"weekly_capacity": user.get("weekly_capacity"), "avatar_url": user.get("avatar_url")}
            rows.append(row)
        return self._page(q, rows, {"clients": "client_name", "projects": "project_name", "tasks": "task_name",
                                    "team": "user_name"}[kind])  # fmt: skip

    def _subject(self, kind: str, k: int, n: dict[str, dict[int, Record]]) -> Record:
        if kind == "projects":
            project = n["projects"].get(k, {})
            client_id = int((project.get("client") or {}).get("id") or 0)
            return {"client_id": client_id or None, "client_name": n["clients"].get(client_id, {}).get("name"),
                    "project_id": k, "project_name": project.get("name")}  # fmt: skip
        if kind == "clients":
            return {"client_id": k, "client_name": n["clients"].get(k, {}).get("name")}
        if kind == "tasks":
            return {"task_id": k, "task_name": n["tasks"].get(k, {}).get("name")}
        user = n["users"].get(k, {})
        name = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip()
        return {"user_id": k, "user_name": name, "is_contractor": bool(user.get("is_contractor"))}

    def _expense_rows(self, start: date, end: date) -> list[Record]:
        lo, hi = start.isoformat(), end.isoformat()
        return [e for e in self.dims("expenses") if lo <= str(e.get("spent_date")) <= hi]

    def expenses(self, kind: str, q: Query) -> Record:
        start, end = window(q)
        expenses = self._expense_rows(start, end)
        path = {"clients": "client", "projects": "project", "categories": "expense_category", "team": "user"}[
            kind
        ]
        sums: dict[int, list[float]] = {}
        for e in expenses:
            cell = sums.setdefault((e.get(path) or {}).get("id", 0), [0.0, 0.0])
            cell[0] += float(e.get("total_cost") or 0)
            cell[1] += float(e.get("total_cost") or 0) if e.get("billable") else 0.0
        n, rows = self._names(), []
        categories = {c["id"]: c for c in self.dims("expense_categories")}
        for k, (total, billable) in sums.items():
            if kind == "categories":
                row = {"expense_category_id": k, "expense_category_name": categories.get(k, {}).get("name")}
            else:
                row = self._subject(kind, k, n)
            rows.append(
                row
                | {"total_amount": _money(total), "billable_amount": _money(billable), "currency": CURRENCY}
            )
        name = {"clients": "client_name", "projects": "project_name", "categories": "expense_category_name",
                "team": "user_name"}[kind]  # fmt: skip
        return self._page(q, rows, name)

    def uninvoiced(self, q: Query) -> Record:
        start, end = window(q)
        cols = self._fixed_fee(self._time(start, end), q)
        open_hours = cols["hours"] * cols["billable"] * (1 - cols["billed"])
        sums = {
            k: v
            for k, v in self._group(cols["project"], cols["hours"], open_hours, open_hours * cols["rate"])
        }
        expenses: dict[int, float] = {}
        for e in self._expense_rows(start, end):
            if e.get("billable") and not e.get("is_billed"):
                pid = (e.get("project") or {}).get("id", 0)
                expenses[pid] = expenses.get(pid, 0.0) + float(e.get("total_cost") or 0)
        n, rows = self._names(), []
        for pid in sorted(set(sums) | set(expenses)):
            project = n["projects"].get(pid, {})
            if not project.get("is_billable"):
                continue
            if q.flag("include_fixed_fee") is False and project.get("is_fixed_fee"):
                continue
            total, hours, amount = sums.get(pid, [0.0, 0.0, 0.0])
            spent = expenses.get(pid, 0.0)
            rows.append(self._subject("projects", pid, n) | {
                "currency": CURRENCY, "total_hours": round(total, 2), "uninvoiced_hours": round(hours, 2),
                "uninvoiced_expenses": _money(spent), "uninvoiced_amount": _money(amount + spent),
            })  # fmt: skip
        return self._page(q, rows, "client_name")

    def project_budget(self, q: Query) -> Record:
        """Budget use over each budgeted project's whole history (no window)."""
        active = q.flag("is_active")
        projects = [
            p for p in self.dims("projects") if p.get("budget_by") not in (None, "none") and p.get("budget")
        ]
        if active is not None:
            projects = [p for p in projects if bool(p.get("is_active")) == active]
        rows: list[Record] = []
        if projects:
            cols = self._time(self.org.first_day, self.org.day(self.org.days - 1))
            by_hours = dict(
                self._group(cols["project"], cols["hours"], cols["hours"] * cols["billable"] * cols["rate"])
            )
            n = self._names()
            for p in projects:
                hours, money = by_hours.get(p["id"], [0.0, 0.0])
                spent = round(hours, 2) if p["budget_by"] in ("project", "task", "person") else _money(money)
                rows.append(self._subject("projects", p["id"], n) | {
                    "budget_is_monthly": bool(p.get("budget_is_monthly")), "budget_by": p["budget_by"],
                    "is_active": bool(p.get("is_active")), "budget": p["budget"], "budget_spent": spent,
                    "budget_remaining": round(float(p["budget"]) - spent, 2),
                })  # fmt: skip
        return self._page(q, rows, "project_name")
