"""A reconciling run: the look-back is re-read, older history is checked for drift and only the
drifted months are re-extracted; every output of the run then equals the source over the whole
range. Run by ``couplet flows reconcile`` and by a flow's schedule when a reconcile is due."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from dagster_project.build import build_definitions
from dagster_project.cli import main
from dagster_project.demo import demo_env
from dagster_project.jobs import reconcile_due, scheduled_tags
from dagster_project.translator import TAG_RECONCILE, flow_assets
from pipelines.loader import load_flows
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

TODAY = dt.datetime.now(dt.UTC).date()
FLOW = f"""
settings: {{data_dir: data, partitions_start: {(TODAY - dt.timedelta(days=150)).isoformat()}}}
connections:
  cl: {{connector: clockodo, api_user: {{env: CLOCKODO_API_USER}}, api_key: {{env: CLOCKODO_API_KEY}}, base_url: {{env: CLOCKODO_BASE_URL}}}}
flows:
  wh:
    sources:
      entries: {{connection: cl, entity: entries, lookback_days: 5}}
    outputs:
      - {{from: entries, to: {{duckdb: {{path: out/wh.duckdb, table: entries}}}}}}
      - {{from: entries, to: {{duckdb: {{path: out/wh.duckdb, table: entries_up}}}}, mode: upsert}}
    schedule: {{every: day, at: "06:00", timezone: UTC}}
    reconcile: {{reread_when_cheaper: false}}
"""


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    org = OrgOptions(anchor=TODAY + dt.timedelta(days=1), history_days=120, users=4)
    server = start_background(SandboxOptions(org=org))
    for key, value in demo_env(server.base_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flow.yaml").write_text(FLOW)
    monkeypatch.setenv("COUPLET_FLOWS", str(tmp_path / "flow.yaml"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    yield server
    server.stop()


def ids(table: str) -> set[int]:
    with duckdb.connect("out/wh.duckdb", read_only=True) as con:
        return {r[0] for r in con.execute(f"SELECT id FROM {table}").fetchall()}


def truth(base: str, start: dt.date, end: dt.date) -> set[int]:
    """Every entry id of ``[start, end)``, read from the sandbox by the test's own paging."""
    found: set[int] = set()
    page = 1
    while True:
        answer = httpx.get(
            f"{base}/clockodo/api/v2/entries",
            params={
                "time_since": f"{start.isoformat()}T00:00:00Z",
                "time_until": f"{end.isoformat()}T00:00:00Z",
                "page": page,
            },
            headers={
                "X-ClockodoApiUser": os.environ["CLOCKODO_API_USER"],
                "X-ClockodoApiKey": os.environ["CLOCKODO_API_KEY"],
                "X-Clockodo-External-Application": "couplet-test;test@example.com",
            },
        ).json()
        assert "entries" in answer, answer
        found |= {e["id"] for e in answer["entries"]}
        if page >= answer["paging"]["count_pages"]:
            return found
        page += 1


def test_flows_reconcile_catches_a_deletion_beyond_the_look_back(sandbox, tmp_path: Path, capsys) -> None:
    start = TODAY - dt.timedelta(days=150)
    assert main(["flows", "run", "wh", "--start", start.isoformat()]) == 0
    staged = ids("entries")
    old = sorted(i for i in staged)[:3]  # the oldest entries: months before the look-back
    for record in old:
        httpx.delete(f"{sandbox.base_url}/clockodo/api/_admin/entries/{record}").raise_for_status()
    assert main(["flows", "run", "wh"]) == 0  # a scheduled-style run: the look-back only
    assert set(old) <= ids("entries") and set(old) <= ids("entries_up")  # unseen beyond the look-back
    capsys.readouterr()
    assert main(["flows", "reconcile", "wh"]) == 0
    printed = capsys.readouterr().out  # the CLI says what the check found and what it cost
    line = next(x for x in printed.splitlines() if x.startswith("raw/cl/entries: reconciled "))
    assert "drifted none" not in line and "request(s) to find drift" in line, printed
    source = truth(sandbox.base_url, start, TODAY + dt.timedelta(days=1))
    assert ids("entries") == source and ids("entries_up") == source
    instance = dg.DagsterInstance.get()
    run = instance.get_runs(filters=dg.RunsFilter(tags={TAG_RECONCILE: "1"}), limit=1)[0]
    record = instance.fetch_materializations(dg.AssetKey(["raw", "cl", "entries"]), limit=1).records[0]
    meta = record.asset_materialization.metadata
    assert record.run_id == run.run_id
    assert meta["drifted_months"].value != "none"
    full = int(meta["requests"].value)  # the look-back's own read
    assert 0 < int(meta["reconcile_requests"].value) < 60 and full >= 1
    # a second reconcile finds nothing to re-read
    assert main(["flows", "reconcile", "wh"]) == 0
    assert "raw/cl/entries: reconciled " in capsys.readouterr().out
    record = instance.fetch_materializations(dg.AssetKey(["raw", "cl", "entries"]), limit=1).records[0]
    assert record.asset_materialization.metadata["drifted_months"].value == "none"
    assert int(record.asset_materialization.metadata["reconcile_reread_requests"].value) == 0


def test_the_schedule_reconciles_when_due(sandbox, tmp_path: Path) -> None:
    flow_file = load_flows([tmp_path / "flow.yaml"])
    flow = flow_file.flows["wh"]
    assets = flow_assets("wh", flow, flow_file)
    now = dt.datetime.now(dt.UTC)
    with dg.instance_for_test() as instance:
        assert reconcile_due(instance, "wh", flow, assets, now)  # never reconciled
        tags = scheduled_tags(flow, flow_file, assets, now, reconcile=True)
        assert tags[TAG_RECONCILE] == "1" and tags["couplet/window"].startswith(
            flow_file.settings.partitions_start.isoformat()
        )
        defs = build_definitions(flow_file, data_dir=str(tmp_path / "data"))
        result = defs.resolve_job_def("wh").execute_in_process(
            instance=instance,
            tags=tags,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        )
        assert result.success
        assert not reconcile_due(instance, "wh", flow, assets, now + dt.timedelta(days=1))
        assert reconcile_due(instance, "wh", flow, assets, now + dt.timedelta(days=7))
        schedule = defs.resolve_schedule_def("wh_schedule")
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=now) as context:
            (request,) = schedule.evaluate_tick(context).run_requests or []
        assert TAG_RECONCILE not in request.tags  # reconciled a moment ago: a plain look-back run


def test_a_small_account_is_re_read_whole_when_that_is_cheaper(sandbox, tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW.replace("    reconcile: {reread_when_cheaper: false}\n", ""))
    start = TODAY - dt.timedelta(days=150)
    assert main(["flows", "run", "wh", "--start", start.isoformat()]) == 0
    old = sorted(ids("entries"))[0]
    httpx.delete(f"{sandbox.base_url}/clockodo/api/_admin/entries/{old}").raise_for_status()
    assert main(["flows", "reconcile", "wh"]) == 0
    assert old not in ids("entries") and old not in ids("entries_up")
    instance = dg.DagsterInstance.get()
    meta = instance.fetch_materializations(dg.AssetKey(["raw", "cl", "entries"]), limit=1).records[0]
    metadata = meta.asset_materialization.metadata
    assert str(metadata["drifted_months"].value).startswith("re-read whole")
    assert int(metadata["reconcile_probe_requests"].value) == 0  # no probe was worth asking


def test_refresh_months_lands_an_edit_no_figure_shows(sandbox, tmp_path: Path) -> None:
    flow = FLOW.replace("{reread_when_cheaper: false}", "{reread_when_cheaper: false, refresh_months: 12}")
    (tmp_path / "flow.yaml").write_text(flow)
    start = TODAY - dt.timedelta(days=150)
    assert main(["flows", "run", "wh", "--start", start.isoformat()]) == 0
    oldest = sorted(ids("entries"))[0]
    edit = {"text": "a new text, months later"}
    httpx.patch(f"{sandbox.base_url}/clockodo/api/_admin/entries/{oldest}", json=edit).raise_for_status()
    assert main(["flows", "reconcile", "wh"]) == 0
    with duckdb.connect("out/wh.duckdb", read_only=True) as con:
        for table in ("entries", "entries_up"):
            row = con.execute(f"SELECT text FROM {table} WHERE id = ?", [oldest]).fetchone()
            assert row == ("a new text, months later",), table
    instance = dg.DagsterInstance.get()
    record = instance.fetch_materializations(dg.AssetKey(["raw", "cl", "entries"]), limit=1).records[0]
    metadata = record.asset_materialization.metadata
    assert metadata["drifted_months"].value == "none"  # no figure moved: the refresh re-read it
    assert str(metadata["reconcile_refreshed"].value).count("..") >= 5
