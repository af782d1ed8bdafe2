"""Expenses: the org's lump-sum entries, which Harvest books as expenses rather than time.

A lump-sum service entry (km driven, hosting months, printed pieces) becomes an expense of the
matching unit-priced category (`units` x `unit_price`); a plain lump-sum amount becomes an expense of
the "Other" category. There are few of them (one cell in a few hundred ends in a lump sum), so the
whole list is built once and filtered like any other dimension.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sandbox.common import iso_utc
from sandbox.harvest.billing import approved_before, invoice_ref, lock
from sandbox.harvest.ledger import Ledger
from sandbox.harvest.records import CURRENCY, ref
from sandbox.org import Org, mix

Record = dict[str, Any]
EXPENSE_BASE = 3_000_000
NOTES = {"Travel": "Travel to the client", "Hosting": "Hosting fee", "Printing": "Printed material",
         "Other": "Stock photos and fonts"}  # fmt: skip


def nested_user_assignment(row: Record) -> Record:
    """The user assignment as embedded in time entries and expenses (no project, no user)."""
    keys = ("id", "is_project_manager", "is_active", "use_default_rates", "budget", "created_at", "updated_at",
            "hourly_rate")  # fmt: skip
    return ref(row, *keys)


def expenses(org: Org, ledger: Ledger, categories: list[Record], assignments: list[Record]) -> list[Record]:
    by_lumpsum = {c["_lumpsum_id"]: c for c in categories if "_lumpsum_id" in c}
    other = next(c for c in categories if c["name"] == "Other")
    ua = {(r["user"]["id"], r["project"]["id"]): r for r in assignments}
    closed_before, slug = approved_before(org), org.options.domain.split(".")[0]
    out = []
    for k, (d, u) in enumerate(np.argwhere(ledger.lump).tolist()):  # (day, person) order: stable ids
        e = org.entries_for(u, d)[-1]
        expense_id, h = EXPENSE_BASE + k + 1, mix(e.id * 5)
        spent = org.day(d)
        category = by_lumpsum.get(e.lumpsum_service_id, other) if e.kind == "lumpsum_service" else other
        units = float(e.amount) if category is not other else 1.0
        total = round(units * category["unit_price"], 2) if category is not other else float(e.amount)
        project, client, person = (
            org.project_by_id[e.project_id],
            org.client_by_id[e.client_id],
            org.people[u],
        )
        invoice = invoice_ref(org, e.client_id, spent) if e.billed else None
        closed = spent < closed_before
        receipt = None
        if h % 3 == 0:
            receipt = {"url": f"https://{slug}.harvestapp.com/expenses/{expense_id}/receipt",
                       "file_name": f"receipt-{expense_id}.pdf", "file_size": 20_000 + h % 80_000,
                       "content_type": "application/pdf"}  # fmt: skip
        assignment = ua.get((person.id, project.id))
        out.append({
            "id": expense_id, "client": {"id": client.id, "name": client.name, "currency": CURRENCY},
            "project": {"id": project.id, "name": project.name, "code": project.number},
            "expense_category": ref(category, "id", "name", "unit_price", "unit_name"),
            "user": {"id": person.id, "name": person.name},
            "user_assignment": nested_user_assignment(assignment) if assignment else None,
            "receipt": receipt, "invoice": {"id": invoice[0], "number": invoice[1]} if invoice else None,
            "notes": NOTES.get(category["name"], "Expense"), "units": units, "total_cost": total,
            "billable": e.billable, "is_closed": closed, "is_locked": e.billed or closed, "is_billed": e.billed,
            "locked_reason": lock(e.billed, closed), "spent_date": spent.isoformat(),
            "created_at": iso_utc(e.inserted), "updated_at": iso_utc(e.changed),
        })  # fmt: skip
    return out
