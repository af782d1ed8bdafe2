"""Harvest's one reshaping quirk: invoice line items live inside the invoices."""

from __future__ import annotations

from typing import Any

from connectors.core.entity import HookContext


def explode_line_items(records: list[dict[str, Any]], ctx: HookContext) -> list[dict[str, Any]]:
    """One row per line item of each invoice, with the invoice's id (the item has none)."""
    out = []
    for invoice in records:
        for item in invoice.get("line_items") or []:
            out.append({**item, "invoice_id": invoice.get("id")})
    return out
