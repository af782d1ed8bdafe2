"""Source connectors. ``get_source(name)`` returns a connector's declaration by its id."""

from __future__ import annotations

import importlib

from connectors.core.entity import Source

#: Connector id (= folder = the flow file's ``connector:``) -> module holding ``SOURCE``.
CONNECTORS: dict[str, str] = {
    "clockodo": "connectors.clockodo",
    "clockify": "connectors.clockify",
    "harvest": "connectors.harvest",
}


def get_source(name: str) -> Source:
    if name not in CONNECTORS:
        raise KeyError(f"unknown connector {name!r}; available: {', '.join(sorted(CONNECTORS))}")
    return importlib.import_module(CONNECTORS[name]).SOURCE
