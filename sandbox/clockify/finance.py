"""Expenses, expense categories, invoices and invoice payments (reference §4.12, §4.13).

The org's lump-sum entries (Clockodo's lump sums) are the agency's Clockify expenses: lump-sum services
become expense categories with a unit price, plain lump-sum values fall into "Other costs". Invoices
bill each client's billed work per month (one line per project plus expenses), computed from the
ledger of all generated entries; money is in cents, invoice `tax`/`discount` in percent x 100 and
item `unitPrice` in cents x 100 (as the reference's PROBES observed).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import numpy as np

from sandbox.clockify.ids import Ids, cents, utc
from sandbox.clockify.ledger import ledger
from sandbox.clockify.params import ApiError, Params, error, page_of
from sandbox.clockify.records import CURRENCY, color
from sandbox.listing import public
from sandbox.org import Org, day_ts, lump_sum_cells, mix

Record = dict[str, Any]
OTHER_COSTS = 599  # integer id of the category of plain lump-sum values
TAX = 1900  # 19 % VAT, percent x 100


def expense_categories(org: Org, ids: Ids, ws: str) -> list[Record]:
    rows = [
        {"id": ids("expense_category", s.id), "name": s.name, "unit": s.unit,
         "priceInCents": cents(s.price), "hasUnitPrice": True, "archived": not s.active, "workspaceId": ws}
        for s in org.lumpsum_services
    ]  # fmt: skip
    rows.append({"id": ids("expense_category", OTHER_COSTS), "name": "Other costs", "unit": None,
                 "priceInCents": None, "hasUnitPrice": False, "archived": False, "workspaceId": ws})  # fmt: skip
    return rows


def expenses(org: Org, ids: Ids, ws: str) -> list[Record]:
    """One expense per generated lump-sum entry (the last entry of the cells `lump_sum_cells` marks)."""
    prices = {s.id: s.price for s in org.lumpsum_services}
    categories = {r["id"]: r for r in expense_categories(org, ids, ws)}
    out = []
    for d, u in np.argwhere(lump_sum_cells(org)):
        e = org.entries_for(int(u), int(d))[-1]
        if e.kind == "lumpsum_service" and e.lumpsum_service_id is not None:
            category, quantity = ids("expense_category", e.lumpsum_service_id), e.amount
            total = cents(prices.get(e.lumpsum_service_id, 0.0) * e.amount)
        else:
            category, quantity, total = ids("expense_category", OTHER_COSTS), 1.0, cents(e.amount)
        project = org.project_by_id[e.project_id]
        out.append({
            "id": ids("expense", e.id), "workspaceId": ws, "userId": ids("user", e.user_id),
            "date": org.day(int(d)).isoformat(),
            "notes": org.text_by_id.get(e.text_id, "") if e.text_id else "", "fileId": "", "fileName": "",
            "billable": e.billable, "isLocked": e.billed, "locked": e.billed, "quantity": quantity, "total": total,
            "category": categories[category],
            "project": {"id": ids("project", project.id), "name": project.name, "color": color(project.id),
                        "clientId": ids("client", project.client_id),
                        "clientName": org.client_by_id[project.client_id].name},
            "task": None,
        })  # fmt: skip
    out.sort(key=lambda r: (r["date"], r["id"]), reverse=True)
    return out


def list_expenses(rows: list[Record], ws: str, q: Params) -> tuple[Record, bool]:
    """`{"expenses": {"count", "expenses"}, "dailyTotals", "weeklyTotals"}`; totals cover the page."""
    page, size = q.paging()
    user = q.text("user-id")
    rows = [r for r in rows if r.get("workspaceId") == ws and (not user or r.get("userId") == user)]
    rows.sort(key=lambda r: (str(r.get("date")), r["id"]), reverse=True)
    chunk, last = page_of(rows, page, size)
    daily: dict[str, int] = defaultdict(int)
    weekly: dict[str, int] = defaultdict(int)
    for r in chunk:
        day = date.fromisoformat(str(r["date"])[:10])
        daily[day.isoformat()] += int(r.get("total") or 0)
        weekly[(day - timedelta(days=day.weekday())).isoformat()] += int(r.get("total") or 0)
    body = {
        "expenses": {"count": len(rows), "expenses": chunk},
        "dailyTotals": [{"date": k, "total": v} for k, v in sorted(daily.items(), reverse=True)],
        "weeklyTotals": [{"date": k, "total": v} for k, v in sorted(weekly.items(), reverse=True)],
    }
    return body, last


def invoice_number(client_id: int, month: str) -> int:
    year, mon = int(month[:4]), int(month[5:7])
    return client_id * 1000 + (year - 2000) * 12 + mon


def invoices(org: Org, ids: Ids, ws: str) -> list[Record]:
    """Monthly invoices per client for billed work, with line items (see the module docstring)."""
    prices = {s.id: s.price for s in org.lumpsum_services}
    book = ledger(org, prices)
    lines: dict[tuple[int, str], list[Record]] = defaultdict(list)
    for (pid, month), seconds in sorted(book.billed_seconds.items()):
        p = org.project_by_id[pid]
        lines[(p.client_id, month)].append({
            "description": f"{p.name} ({month})", "quantity": round(seconds / 3600, 2),
            "unitPrice": cents(p.hourly_rate) * 100, "amount": round(seconds * p.hourly_rate * 100 / 3600),
            "itemType": "SERVICE", "applyTaxes": "TAX1", "timeEntryIds": [],
        })  # fmt: skip
    for (pid, month), amount in sorted(book.billed_lump_sums.items()):
        if amount:
            p = org.project_by_id[pid]
            lines[(p.client_id, month)].append({
                "description": f"Expenses {p.name} ({month})", "quantity": 1.0, "unitPrice": cents(amount) * 100,
                "amount": cents(amount), "itemType": "EXPENSE", "applyTaxes": "TAX1", "timeEntryIds": [],
            })  # fmt: skip
    owner = org.people[0]
    last_month = max((m for _, m in lines), default="")
    out = []
    for seq, ((cid, month), items) in enumerate(sorted(lines.items(), key=lambda kv: (kv[0][1], kv[0][0]))):
        year, mon = int(month[:4]), int(month[5:7])
        issued = date(year + mon // 12, mon % 12 + 1, 3)
        due = issued + timedelta(days=30)
        subtotal = sum(i["amount"] for i in items)
        amount = round(subtotal * (10_000 + TAX) / 10_000)
        h = mix(cid * 7919 + seq)
        if month == last_month:
            status = "UNSENT" if h % 3 == 0 else "SENT"
        elif h % 40 == 0:
            status = "VOID"
        elif due >= org.anchor - timedelta(days=10):
            status = "PARTIALLY_PAID" if h % 4 == 0 else "SENT" if due >= org.anchor else "OVERDUE"
        else:
            status = "PARTIALLY_PAID" if h % 25 == 0 else "PAID"
        paid = amount if status == "PAID" else amount // 2 if status == "PARTIALLY_PAID" else 0
        client = org.client_by_id[cid]
        out.append({
            "id": ids("invoice", invoice_number(cid, month)), "number": f"{year}-{seq + 1:04d}",
            "clientId": ids("client", cid), "clientName": client.name, "currency": CURRENCY, "status": status,
            "amount": amount, "balance": 0 if status == "VOID" else amount - paid, "paid": paid,
            "issuedDate": utc(day_ts(issued)), "dueDate": utc(day_ts(due)),
            "_detail": {"subject": f"Services {month}", "note": "Payable within 30 days.", "tax": TAX,
                        "tax2": 0, "discount": 0, "userId": ids("user", owner.id),
                        "items": [{"order": i + 1, **item} for i, item in enumerate(items)]},
        })  # fmt: skip
    return out


def invoice_payments(org: Org, ids: Ids, invoices_: list[Record]) -> list[Record]:
    owner = org.people[0]
    out = []
    for inv in invoices_:
        if inv["paid"]:
            n = ids.decode(inv["id"])
            assert n is not None
            due = inv["dueDate"]
            paid_on = date.fromisoformat(due[:10]) - timedelta(days=int(mix(n) % 20))
            out.append({
                "id": ids("payment", n * 10 + 1), "amount": inv["paid"], "date": utc(day_ts(paid_on)),
                "author": owner.name, "note": "Bank transfer", "_invoiceId": inv["id"],
            })  # fmt: skip
    return out


INVOICE_SORT = {"ID": "id", "CLIENT": "clientName", "DUE_ON": "dueDate", "ISSUE_DATE": "issuedDate",
                "AMOUNT": "amount", "BALANCE": "balance"}  # fmt: skip


def list_invoices(rows: list[Record], q: Params) -> tuple[Record, bool]:
    """`{"invoices": [...], "total": n}`; list rows leave the detail fields out."""
    page, size = q.paging()
    statuses = q.ids("statuses")
    if statuses:
        wanted = {s.upper() for s in statuses}
        rows = [r for r in rows if r.get("status") in wanted]
    column = INVOICE_SORT[q.enum("sort-column", INVOICE_SORT, "ID") or "ID"]
    desc = q.enum("sort-order", ("ASCENDING", "DESCENDING"), "DESCENDING") == "DESCENDING"
    rows = sorted(rows, key=lambda r: (r.get(column) is None, r.get(column), r["id"]), reverse=desc)
    chunk, last = page_of(rows, page, size)
    return {"invoices": [summary(r) for r in chunk], "total": len(rows)}, last


def summary(invoice: Record) -> Record:
    return public(invoice)


def detail(invoice: Record) -> Record:
    return {**summary(invoice), **invoice.get("_detail", {})}


def missing_invoice() -> ApiError:
    return ApiError(error(400, "Invoice doesn't belong to Workspace", 501))
