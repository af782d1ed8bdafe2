"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_flows_cli import FLOW


@pytest.fixture
def flow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``FLOW`` (Clockodo entries and users, one DuckDB output) as the only flow file, in a temp folder."""
    path = tmp_path / "team.yaml"
    path.write_text(FLOW)
    monkeypatch.setenv("COUPLET_FLOWS", str(path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return path
