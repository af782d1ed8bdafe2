"""A source that several flows read is extracted once per refresh.

``couplet flows run a b`` runs both flows in one Dagster run: the shared source is read once. A run
whose source another run refreshed for the same days after it was requested reuses that instead of
asking the API again; a refresh from before it was requested is not enough.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import httpx
import pytest

from dagster_project.cli import main
from dagster_project.demo import demo_env
from dagster_project.raw import _covers, _reuse
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

FLOWS = """
connections:
  cl: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
flows:
  hours:
    sources: {entries: {connection: cl, entity: entries}}
    outputs: [{from: entries, to: {duckdb: {path: out.duckdb, table: hours}}}]
  billing:
    sources: {entries: {connection: cl, entity: entries}, customers: {connection: cl, entity: customers}}
    steps: [{join: {left: entries, right: customers, on: {customers_id: id}, how: left, as: billed}}]
    outputs: [{from: billed, to: {duckdb: {path: out.duckdb, table: billed}}}]
"""


def entry_requests(base: str) -> int:
    log = httpx.get(base + "/clockodo/api/_admin/requests", params={"path": "/v2/entries"}).json()
    return len(log["requests"])


def test_two_flows_sharing_a_source_read_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_background(SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=30)))
    try:
        for key, value in demo_env(server.base_url).items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "flows.yaml").write_text(FLOWS)
        monkeypatch.setenv("COUPLET_FLOWS", str(tmp_path / "flows.yaml"))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
        days = ["--start", "2026-05-04", "--end", "2026-05-16"]
        assert main(["flows", "run", "hours", *days]) == 0
        alone = entry_requests(server.base_url)
        assert main(["flows", "run", "hours", "billing", *days]) == 0
        together = entry_requests(server.base_url) - alone
    finally:
        server.stop()
    assert together == alone  # both flows, the requests of one
    instance = dg.DagsterInstance.get()
    (run, _first) = instance.get_runs(limit=2)
    assert run.tags["couplet/flows"] == "hours,billing" and run.job_name == "all_flows"


def test_a_read_covers_another_when_it_read_at_least_those_days_or_years() -> None:
    assert _covers("2026-05-01..2026-06-01", "2026-05-03..2026-05-20")
    assert not _covers("2026-05-03..2026-05-20", "2026-05-01..2026-06-01")
    assert _covers("years 2024, 2025, 2026", "years 2026")
    assert not _covers("years 2026", "years 2025, 2026")
    assert _covers("all", "all") and not _covers("all", "years 2026")


def test_only_a_refresh_after_the_run_was_requested_is_reused() -> None:
    key = dg.AssetKey(["raw", "cl", "customers"])
    with dg.instance_for_test() as instance:
        older = dg.DagsterRun(job_name="hours", run_id="older-run")
        instance.add_run(older)
        instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata={"read": "all"}))
        mine = dg.DagsterRun(job_name="billing", run_id="my-run")
        instance.add_run(mine)
        context = SimpleNamespace(instance=instance, run=mine)
        assert _reuse(context, key, None, "all") is None  # refreshed before this run was requested
        instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata={"read": "all"}))
        reused = _reuse(context, key, None, "all")
        assert reused is not None and reused.run_id != "my-run"
        assert _reuse(context, key, None, "years 2026") is None  # it read something else
