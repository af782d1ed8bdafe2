"""Invoices (with line items), payments, invoice messages, estimates and estimate messages.

Invoices are derived from the billed work: one per client and month over the `INVOICE_MONTHS` months
before the anchor's month, with a line item per project for its billed time (rounded hours x rate)
and one for its billed expenses, so `time_entries[].invoice.id` joins to `invoices[].id` and the
amounts add up. Billed entries older than that were "marked as invoiced" without a Harvest invoice
(`is_billed` true, `invoice` null), which Harvest allows. Drafts (fixed-fee installments) and one
estimate per billable project complete the picture. Built once from the ledger, on first use.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import numpy as np

from sandbox.harvest.ledger import Ledger
from sandbox.harvest.records import CURRENCY, at, ref
from sandbox.org import Org, mix
from sandbox.orgdata import CLIENT_BASE, PROJECT_BASE

Record = dict[str, Any]
INVOICE_MONTHS = 13
INVOICE_BASE, ESTIMATE_BASE, LINE_ITEM_BASE, DRAFT_LINE_ITEM_BASE = 500_000, 700_000, 1_000_000, 1_400_000
ESTIMATE_LINE_ITEM_BASE = 1_500_000
PAYMENT_BASE, INVOICE_MESSAGE_BASE, ESTIMATE_MESSAGE_BASE = 2_000_000, 2_100_000, 2_200_000
TAX = 19.0


def month_key(d: date) -> int:
    return d.year * 12 + d.month - 1


def invoice_ref(org: Org, client_id: int, spent: date) -> tuple[int, str] | None:
    """(id, number) of the invoice billing a client's work of that month, if Harvest invoiced it."""
    mk, anchor_mk = month_key(spent), month_key(org.anchor)
    if not anchor_mk - INVOICE_MONTHS <= mk < anchor_mk:
        return None
    return _invoice_id(org, client_id, mk), _invoice_number(mk, client_id)


def _invoice_id(org: Org, client_id: int, mk: int) -> int:
    return INVOICE_BASE + (mk - month_key(org.founded)) * 1000 + (client_id - CLIENT_BASE)


def _invoice_number(mk: int, client_id: int) -> str:
    return f"{mk // 12}-{mk % 12 + 1:02d}-{client_id - CLIENT_BASE:03d}"


def approved_before(org: Org) -> date:
    """Timesheets are approved weekly: everything before last week's Monday is closed."""
    return org.anchor - timedelta(days=org.anchor.weekday() + 7)


def lock(billed: bool, closed: bool) -> str | None:
    if billed and closed:
        return "Item Invoiced and Approved"
    return "Item Invoiced" if billed else "Item Approved" if closed else None


def _person(org: Org) -> tuple[dict[str, Any], str, str]:
    owner = org.people[0]
    return {"id": owner.id, "name": owner.name}, owner.name, owner.email


def _recipients(contacts: list[Record], client_id: int) -> list[Record]:
    mine = [c for c in contacts if c["client"]["id"] == client_id][:1]
    return [{"name": f"{c['first_name']} {c['last_name']}", "email": c["email"]} for c in mine]


def _totals(lines: list[Record], discount: float | None = None) -> dict[str, Any]:
    subtotal = round(sum(li["amount"] for li in lines), 2)
    discount_amount = round(subtotal * (discount or 0) / 100, 2)
    tax_amount = round((subtotal - discount_amount) * TAX / 100, 2)
    return {
        "amount": round(subtotal - discount_amount + tax_amount, 2), "tax": TAX, "tax_amount": tax_amount,
        "tax2": None, "tax2_amount": 0.0, "discount": discount, "discount_amount": discount_amount,
    }  # fmt: skip


class Billing:
    """The generated billing documents of one org, by entity name."""

    def __init__(self, org: Org, ledger: Ledger, clients: list[Record], contacts: list[Record],
                 projects: list[Record], expenses: list[Record]) -> None:  # fmt: skip
        self.org, self.ledger = org, ledger
        self.clients = {c["id"]: c for c in clients}
        self.projects = {p["id"]: p for p in projects}
        self.contacts, self.expenses = contacts, expenses
        self.tables: dict[str, list[Record]] = {
            k: []
            for k in ("invoices", "invoice_payments", "invoice_messages", "estimates", "estimate_messages")
        }
        self._invoices()
        self._drafts()
        self._estimates()

    # -- invoices -------------------------------------------------------------------------------
    def _billed(self) -> dict[tuple[int, int], dict[int, list[float]]]:
        """(month key, client) -> project -> [hours, time amount, expense amount] of billed work."""
        sums: dict[tuple[int, int], dict[int, list[float]]] = defaultdict(
            lambda: defaultdict(lambda: [0.0] * 3)
        )
        anchor_mk = month_key(self.org.anchor)
        for mk in range(anchor_mk - INVOICE_MONTHS, anchor_mk):
            rows = self.ledger.month(mk // 12, mk % 12 + 1)
            rows = rows.take(rows["billed"] == 1)
            hours = np.ceil(rows["seconds"] / 900) / 4
            for client, project, h, amount in zip(rows["client"].tolist(), rows["project"].tolist(),
                                                  hours.tolist(), (hours * rows["rate"]).tolist(), strict=True):  # fmt: skip
                cell = sums[(mk, client)][project]
                cell[0] += h
                cell[1] += amount
        for e in self.expenses:
            if e["is_billed"] and e["invoice"] is not None:
                mk = month_key(date.fromisoformat(e["spent_date"]))
                sums[(mk, e["client"]["id"])][e["project"]["id"]][2] += e["total_cost"]
        return sums

    def _invoices(self) -> None:
        creator, owner_name, owner_email = _person(self.org)
        line_id = LINE_ITEM_BASE
        for (mk, client_id), by_project in sorted(self._billed().items()):
            client = self.clients[client_id]
            period_start = date(mk // 12, mk % 12 + 1, 1)
            period_end = date(mk // 12 + (mk % 12 == 11), (mk + 1) % 12 + 1, 1) - timedelta(days=1)
            lines = []
            for pid, (hours, amount, expenses) in sorted(by_project.items()):
                project = ref(self.projects[pid], "id", "name", "code")
                if hours:
                    line_id += 1
                    lines.append({"id": line_id, "project": project, "kind": "Service",
                                  "description": f"[{project['code']}] {project['name']}: {hours:g} hours",
                                  "quantity": round(hours, 2), "unit_price": round(amount / hours, 2),
                                  "amount": round(amount, 2), "taxed": True, "taxed2": False})  # fmt: skip
                if expenses:
                    line_id += 1
                    lines.append({"id": line_id, "project": project, "kind": "Product",
                                  "description": f"[{project['code']}] {project['name']}: expenses",
                                  "quantity": 1.0, "unit_price": round(expenses, 2), "amount": round(expenses, 2),
                                  "taxed": True, "taxed2": False})  # fmt: skip
            invoice_id = _invoice_id(self.org, client_id, mk)
            issue = period_end + timedelta(days=1 + mix(invoice_id) % 3)
            self._add_invoice(invoice_id, _invoice_number(mk, client_id), client, lines, issue,
                              (period_start, period_end), creator, owner_name, owner_email)  # fmt: skip

    def _add_invoice(self, invoice_id: int, number: str, client: Record, lines: list[Record], issue: date,
                     period: tuple[date, date] | None, creator: Record, owner_name: str, owner_email: str,
                     draft: bool = False) -> None:  # fmt: skip
        h, anchor = mix(invoice_id), self.org.anchor
        totals = _totals(lines)
        age = (anchor - issue).days
        state = "draft" if draft else "closed" if h % 25 == 0 and age > 60 else (
            "paid" if age > 45 or (age > 20 and h % 2 == 0) else "open")  # fmt: skip
        due = issue + timedelta(days=30)
        paid_date = (
            min(issue + timedelta(days=10 + h % 30), anchor - timedelta(days=1)) if state == "paid" else None
        )
        closed_on = issue + timedelta(days=60) if state == "closed" else None
        sent_at = None if draft else at(issue, 10)
        updated = paid_date or closed_on or issue
        self.tables["invoices"].append({
            "id": invoice_id, "client": ref(client, "id", "name"), "line_items": lines, "estimate": None,
            "retainer": None, "creator": creator, "client_key": f"{mix(invoice_id * 3):016x}{mix(invoice_id * 5):024x}"[:40],
            "number": number, "purchase_order": f"PO-{h % 100_000:05d}" if h % 3 == 0 else "", **totals,
            "due_amount": 0.0 if state in ("paid", "closed") else totals["amount"],
            "subject": f"Invoice {number} – {client['name']}", "notes": "Thank you for your business.",
            "currency": CURRENCY, "state": state,
            "period_start": period[0].isoformat() if period else None,
            "period_end": period[1].isoformat() if period else None,
            "issue_date": issue.isoformat(), "due_date": due.isoformat(), "payment_term": "net 30",
            "payment_options": ["credit_card"] if h % 4 == 0 else [], "sent_at": sent_at,
            "paid_at": at(paid_date, 12) if paid_date else None, "closed_at": at(closed_on, 12) if closed_on else None,
            "paid_date": paid_date.isoformat() if paid_date else None, "recurring_invoice_id": None,
            "created_at": at(issue, 9), "updated_at": at(updated, 12),
        })  # fmt: skip
        if draft:
            return
        recipients = _recipients(self.contacts, client["id"])
        message = {"sent_by": owner_name, "sent_by_email": owner_email, "sent_from": owner_name,
                   "sent_from_email": owner_email, "recipients": recipients}  # fmt: skip
        events: list[tuple[date, str, bool, bool, str | None]] = [(issue, "Invoice", False, False, None)]
        if paid_date:
            events.append((paid_date, "Thank you for your payment", True, False, None))
        elif state == "open" and due < anchor:
            events.append((due + timedelta(days=7), "Payment reminder", False, True, None))
        elif closed_on:
            events.append((closed_on, "Invoice closed", False, False, "close"))
        for when, subject, thank_you, reminder, event in events:
            self.tables["invoice_messages"].append({
                "id": INVOICE_MESSAGE_BASE + len(self.tables["invoice_messages"]) + 1, **message,
                "subject": f"{subject} {number} from Couplet Agency", "body": f"{subject}: invoice {number}.",
                "include_link_to_client_invoice": True, "attach_pdf": True, "send_me_a_copy": False,
                "thank_you": thank_you, "event_type": event, "reminder": reminder,
                "send_reminder_on": None, "created_at": at(when, 10), "updated_at": at(when, 10),
                "_parent_id": invoice_id,
            })  # fmt: skip
        if paid_date:
            parts = [(totals["amount"], paid_date)]
            if h % 5 == 0 and paid_date - issue > timedelta(days=12):  # paid in two instalments
                half = round(totals["amount"] / 2, 2)
                parts = [
                    (half, paid_date - timedelta(days=10)),
                    (round(totals["amount"] - half, 2), paid_date),
                ]
            for amount, when in parts:
                stripe = h % 4 == 0
                self.tables["invoice_payments"].append({
                    "id": PAYMENT_BASE + len(self.tables["invoice_payments"]) + 1, "amount": amount,
                    "paid_at": at(when, 12), "paid_date": when.isoformat(), "recorded_by": owner_name,
                    "recorded_by_email": owner_email, "notes": "" if stripe else "Bank transfer",
                    "transaction_id": f"ch_{mix(invoice_id + when.toordinal()):016x}" if stripe else None,
                    "payment_gateway": {"id": 1, "name": "Stripe"} if stripe else {"id": None, "name": None},
                    "created_at": at(when, 13), "updated_at": at(when, 13), "_parent_id": invoice_id,
                })  # fmt: skip

    def _drafts(self) -> None:
        """A draft installment invoice per client with a running fixed-fee project."""
        creator, owner_name, owner_email = _person(self.org)
        anchor_mk, issue = month_key(self.org.anchor), self.org.anchor - timedelta(days=1)
        by_client: dict[int, list[Record]] = defaultdict(list)
        for p in self.projects.values():
            if p["is_fixed_fee"] and p["is_active"] and p["fee"]:
                by_client[p["client"]["id"]].append(p)
        line_id = DRAFT_LINE_ITEM_BASE
        for client_id, projects in sorted(by_client.items()):
            lines = []
            for p in projects:
                line_id += 1
                lines.append({"id": line_id, "project": ref(p, "id", "name", "code"), "kind": "Service",
                              "description": f"Fixed fee installment: {p['name']}", "quantity": 1.0,
                              "unit_price": round(p["fee"] / 4, 2), "amount": round(p["fee"] / 4, 2),
                              "taxed": True, "taxed2": False})  # fmt: skip
            self._add_invoice(_invoice_id(self.org, client_id, anchor_mk), _invoice_number(anchor_mk, client_id),
                              self.clients[client_id], lines, issue, None, creator, owner_name, owner_email,
                              draft=True)  # fmt: skip

    # -- estimates ------------------------------------------------------------------------------
    def _estimates(self) -> None:
        creator, owner_name, owner_email = _person(self.org)
        for p in sorted(self.projects.values(), key=lambda r: r["id"]):
            if not p["is_billable"]:
                continue
            eid, h = ESTIMATE_BASE + p["id"] - PROJECT_BASE, mix(p["id"] * 11)
            issue = date.fromisoformat(p["starts_on"]) - timedelta(days=21)
            age = (self.org.anchor - issue).days
            state = (
                "declined" if h % 7 == 0 else "draft" if h % 13 == 0 else "sent" if age < 30 else "accepted"
            )
            if p["is_fixed_fee"]:
                quantity, price = 1.0, p["fee"]
            else:
                quantity, price = (
                    p["budget"] if p["budget_by"] == "project" else 40.0 + 8 * (h % 10),
                    p["hourly_rate"],
                )
            line = {"id": ESTIMATE_LINE_ITEM_BASE + eid - ESTIMATE_BASE, "kind": "Service",
                    "description": f"{p['name']}: estimated effort", "quantity": quantity, "unit_price": price,
                    "amount": round(quantity * price, 2), "taxed": True, "taxed2": False}  # fmt: skip
            decided = issue + timedelta(days=5 + h % 10)
            client = self.clients[p["client"]["id"]]
            self.tables["estimates"].append({
                "id": eid, "client": ref(client, "id", "name"), "line_items": [line], "creator": creator,
                "client_key": f"{mix(eid * 7):016x}{mix(eid * 9):024x}"[:40], "number": f"E-{eid - ESTIMATE_BASE:04d}",
                "purchase_order": "", **_totals([line], 5.0 if h % 4 == 0 else None),
                "subject": f"Estimate: {p['name']}", "notes": "Valid for 30 days.", "currency": CURRENCY,
                "state": state, "issue_date": issue.isoformat(),
                "sent_at": None if state == "draft" else at(issue, 11),
                "accepted_at": at(decided, 15) if state == "accepted" else None,
                "declined_at": at(decided, 15) if state == "declined" else None,
                "created_at": at(issue, 9), "updated_at": at(decided if state in ("accepted", "declined") else issue, 15),
            })  # fmt: skip
            if state == "draft":
                continue
            events: list[tuple[date, str | None]] = [(issue, None)]
            if state in ("accepted", "declined"):
                events.append((decided, {"accepted": "accept", "declined": "decline"}[state]))
            for when, event in events:
                self.tables["estimate_messages"].append({
                    "id": ESTIMATE_MESSAGE_BASE + len(self.tables["estimate_messages"]) + 1,
                    "sent_by": owner_name, "sent_by_email": owner_email, "sent_from": owner_name,
                    "sent_from_email": owner_email, "recipients": _recipients(self.contacts, client["id"]),
                    "subject": f"Estimate E-{eid - ESTIMATE_BASE:04d} from Couplet Agency",
                    "body": "Please find our estimate attached.", "send_me_a_copy": False, "event_type": event,
                    "created_at": at(when, 11), "updated_at": at(when, 11), "_parent_id": eid,
                })  # fmt: skip
