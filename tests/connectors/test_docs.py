"""docs/connectors/<source>.md carries the entity table generated from the declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import CONNECTORS, get_source
from connectors.core.docs import BEGIN, END, render_block

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connectors"


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_entity_table_in_sync(name: str) -> None:
    text = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == render_block(get_source(name)), f"run: python -m connectors.core.docs {name}"
    for entity in get_source(name).entities:
        assert f"`{entity.name}`" in block
