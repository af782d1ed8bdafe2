"""Destinations. ``get_destination(kind)`` returns a destination's declaration by its kind.

``DESTINATIONS`` is the one list of destinations: kind (the flow file's key under ``to:``) -> the
module that declares ``DESTINATION`` (a ``spec.Destination``). Modules are imported when first asked
for, and declaring modules import no client library, so registering a destination costs nothing
until an output uses it. Adding one: ``docs/destinations/README.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import Destination

#: Destination kind -> module holding ``DESTINATION``.
DESTINATIONS: dict[str, str] = {
    "duckdb": "destinations.duckdb",
    "excel": "destinations.excel",
    "google_sheets": "destinations.google_sheets",
    "bigquery": "destinations.bigquery",
    "runn": "destinations.runn",
    "quickbooks": "destinations.quickbooks",
}


def get_destination(kind: str) -> Destination[Any]:
    if kind not in DESTINATIONS:
        raise KeyError(f"unknown destination {kind!r}; available: {', '.join(DESTINATIONS)}")
    declared: Destination[Any] = importlib.import_module(DESTINATIONS[kind]).DESTINATION
    if declared.kind != kind:  # a copied module whose kind was not changed
        raise ValueError(f"{DESTINATIONS[kind]} declares kind {declared.kind!r}, registered as {kind!r}")
    return declared


def all_destinations() -> list[Destination[Any]]:
    """Every registered destination, in registration order (the order flow errors list them in)."""
    return [get_destination(kind) for kind in DESTINATIONS]
