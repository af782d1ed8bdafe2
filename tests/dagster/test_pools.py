"""``couplet flows pools``: every pool the flows declare, set on the instance before any run.

With only ``default_limit``, a pool's row is made by the first run that claims it, and two runs
doing that at once on PostgreSQL fail one (Dagster issue #33552); ``--set`` makes every row ahead.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dagster_project.cli import main

FLOW = """
connections:
  cl: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}}
flows:
  f:
    sources:
      users: {connection: cl, entity: users}
    outputs:
      - {from: users, to: {duckdb: {path: w.duckdb, table: users}}, allow_empty: true}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flow.yaml").write_text(FLOW)
    monkeypatch.setenv("COUPLET_FLOWS", str(tmp_path / "flow.yaml"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "concurrency: {pools: {default_limit: 1}}\ntelemetry: {enabled: false}\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def limits(home: Path) -> dict[str, tuple[int, bool]]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return {p.name: (p.limit, p.from_default) for p in instance.event_log_storage.get_pool_limits()}


def test_listing_writes_nothing_and_set_makes_every_declared_pool_explicit(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flows", "pools"]) == 0
    out, err = capsys.readouterr()
    duck = f"duckdb:{tmp_path / 'w.duckdb'}"
    assert "source:cl" in out and duck in out and "not claimed yet" in out and "#33552" in err
    assert limits(home) == {}

    assert main(["flows", "pools", "--set"]) == 0
    assert limits(home) == {"source:cl": (1, False), duck: (1, False)}

    assert main(["flows", "pools", "--set", "--limit", "3"]) == 0  # set already: kept
    assert limits(home)["source:cl"] == (1, False)
    assert main(["flows", "pools", "--set", "--limit", "3", "--force"]) == 0
    assert limits(home)["source:cl"] == (3, False)
    capsys.readouterr()
    assert main(["flows", "pools", "--limit", "0"]) == 2
    assert "--limit must be 1 or more" in capsys.readouterr().err
