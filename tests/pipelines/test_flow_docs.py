"""Every YAML snippet in docs/flows.md is valid: full files load as they are; fragments (steps, outputs,
a flow without connections) load inside a flow file with the shipped connections and sources."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from pipelines.loader import SHIPPED, load_flows

DOCS = Path(__file__).parents[2] / "docs" / "flows.md"
SNIPPETS = [
    textwrap.dedent(s)
    for s in re.findall(r"^( *)```yaml\n(.*?)^\1```", DOCS.read_text(), flags=re.S | re.M)
    for s in [s[1]]
]
SOURCES = {
    "entries": {"connection": "clockodo", "entity": "entries"},
    "customers": {"connection": "clockodo", "entity": "customers"},
    "users": {"connection": "clockodo", "entity": "users"},
    "clockodo_entries": {"connection": "clockodo", "entity": "entries"},
    "clockify_entries": {"connection": "clockify", "entity": "time_entries"},
    "harvest_entries": {"connection": "harvest", "entity": "time_entries"},
}


def test_snippets_found() -> None:
    assert len(SNIPPETS) >= 14


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_is_valid(index: int, tmp_path: Path) -> None:
    data = yaml.safe_load(SNIPPETS[index])
    path = tmp_path / "snippet.yaml"
    if "connections" in data:  # a whole flow file
        path.write_text(SNIPPETS[index])
        load_flows([path])
        return
    if "flows" not in data:  # a fragment of one flow: steps and/or outputs
        data = {"flows": {"doc": {"sources": SOURCES, **data}}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    connections = tmp_path / "connections.yaml"
    shipped = [yaml.safe_load(p.read_text()) for p in sorted(SHIPPED.glob("*.yaml"))]
    connections.write_text(
        yaml.safe_dump(
            {"connections": {k: v for f in shipped for k, v in (f.get("connections") or {}).items()}}
        )
    )
    load_flows([connections, path])
