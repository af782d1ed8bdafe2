"""Dagster end to end against the sandbox: definitions load, partition ranges materialize, re-runs are
idempotent, and edits and deletions in the source show after re-materializing their partition."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from dagster_project.build import build_definitions
from dagster_project.demo import demo_env
from dagster_project.translator import RANGE_END, RANGE_START, TAG_WINDOW
from pipelines.loader import SHIPPED, load_flows
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

from .helpers import failures, run_job

ANCHOR = dt.date(2026, 6, 1)  # the sandbox's last generated day is the day before
FIRST, LAST = "2026-05-11", "2026-05-13"  # a Monday to Wednesday: every user has entries
INSTANCE: dg.DagsterInstance | None = None


@pytest.fixture(scope="module")
def sandbox():
    server = start_background(SandboxOptions(org=OrgOptions(anchor=ANCHOR)))
    yield server
    server.stop()


@pytest.fixture
def env(sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for key, value in demo_env(sandbox.base_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # the shipped flow writes data/warehouse.duckdb relative to here
    httpx.post(sandbox.base_url + "/clockodo/api/_admin/reset").raise_for_status()
    return sandbox


@pytest.fixture
def defs(tmp_path: Path) -> dg.Definitions:
    return build_definitions(load_flows([SHIPPED / "clockodo.yaml"]), data_dir=str(tmp_path / "data"))


@pytest.fixture(autouse=True)
def instance():
    global INSTANCE
    with dg.instance_for_test() as INSTANCE:  # closed properly: no stray SQLite connections
        yield INSTANCE


def run(defs: dg.Definitions, job: str, first: str, last: str):
    assert INSTANCE is not None
    return run_job(defs, job, INSTANCE, first, last)


def warehouse(table: str) -> list[dict]:
    con = duckdb.connect("data/warehouse.duckdb", read_only=True)
    try:
        rel = con.sql(f'SELECT * EXCLUDE (_extracted_at) FROM "{table}" ORDER BY ALL')
        cols = rel.columns
        return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()


def api_entries(server, since: str, until: str) -> list[dict]:
    """What the sandbox itself lists for a window (paging through it)."""
    out, page = [], 1
    while True:
        r = httpx.get(
            server.base_url + "/clockodo/api/v2/entries",
            params={"time_since": since, "time_until": until, "page": page, "items_per_page": 1000},
            headers={
                "X-ClockodoApiUser": "sandbox@couplet.dev",
                "X-ClockodoApiKey": "sandbox-key",
                "X-Clockodo-External-Application": "tests;tests@couplet.dev",
            },
        )
        r.raise_for_status()
        body = r.json()
        out += body["entries"]
        if page >= body["paging"]["count_pages"]:
            return out
        page += 1


def test_definitions_load_without_credentials(defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CLOCKODO_API_USER", "CLOCKODO_API_KEY", "CLOCKODO_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    repo = defs.get_repository_def()
    raw = [k for k in repo.assets_defs_by_key if k.path[0] == "raw"]
    assert len(raw) == 17
    # one job per flow: its year-scoped sources run in it, before its steps
    assert {job for job in repo.job_names if not job.startswith("__")} == {"clockodo_warehouse", "all_flows"}
    entries = repo.assets_defs_by_key[dg.AssetKey(["raw", "clockodo", "entries"])]
    assert isinstance(entries.partitions_def, dg.MonthlyPartitionsDefinition)
    assert entries.partitions_def.get_partition_keys()[:2] == ["2024-01", "2024-02"]
    absences = repo.assets_defs_by_key[dg.AssetKey(["raw", "clockodo", "absences"])]
    assert absences.partitions_def is None  # every year staged inside; a run reads its years
    assert repo.assets_defs_by_key[dg.AssetKey(["raw", "clockodo", "users"])].partitions_def is None
    policy = entries.node_def.retry_policy
    assert policy is not None and policy.max_retries >= 1


def test_missing_credentials_fail_the_run_with_the_env_var_names(
    defs: dg.Definitions, monkeypatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLOCKODO_API_KEY", raising=False)
    monkeypatch.setenv("CLOCKODO_API_USER", "x@example.com")
    result = run(defs, "clockodo_warehouse", FIRST, FIRST)
    assert not result.success
    messages = " ".join(failures(result))
    assert "CLOCKODO_API_KEY" in messages and "raw/clockodo/" in messages


def test_partition_range_lands_every_entry_once_and_reruns_are_identical(env, defs: dg.Definitions) -> None:
    result = run(defs, "clockodo_warehouse", FIRST, LAST)
    assert result.success
    landed = warehouse("clockodo_entries")
    expected = api_entries(env, f"{FIRST}T00:00:00Z", "2026-05-14T00:00:00Z")
    assert expected, "the sandbox has entries on these days"
    assert sorted(r["id"] for r in landed) == sorted(e["id"] for e in expected)
    assert {r["_window_start"].isoformat() for r in landed} <= {FIRST, "2026-05-12", LAST}
    # each raw materialization reported its numbers and passed its key check
    mats = result.asset_materializations_for_node("raw__clockodo__entries")
    assert mats and mats[0].metadata["requests"].value >= 1
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert checks and all(e.event_specific_data.passed for e in checks)

    again = run(defs, "clockodo_warehouse", FIRST, LAST)
    assert again.success
    assert warehouse("clockodo_entries") == landed
    assert len(warehouse("clockodo_users")) == 12


def test_edits_and_deletions_show_after_rematerializing(env, defs: dg.Definitions) -> None:
    assert run(defs, "clockodo_warehouse", FIRST, LAST).success
    before = {r["id"]: r for r in warehouse("clockodo_entries")}
    victim, edited = sorted(before)[:2]
    admin = env.base_url + "/clockodo/api/_admin/entries"
    httpx.delete(f"{admin}/{victim}").raise_for_status()
    httpx.patch(f"{admin}/{edited}", json={"text": "edited after the fact"}).raise_for_status()

    assert run(defs, "clockodo_warehouse", FIRST, LAST).success
    after = {r["id"]: r for r in warehouse("clockodo_entries")}
    assert victim not in after
    assert after[edited]["text"] == "edited after the fact"
    assert len(after) == len(before) - 1
    # rows of other days were not touched by the scoped replace
    assert all(before[i] == after[i] for i in after if i != edited)


def test_year_scoped_sources_keep_every_year(env, defs: dg.Definitions) -> None:
    # A run over some May days reads 2026 and, on the first run, every year since partitions_start.
    assert run(defs, "clockodo_warehouse", FIRST, LAST).success
    absences = warehouse("clockodo_absences")
    assert absences and {r["date_since"].year for r in absences} <= {2024, 2025, 2026}
    reports = warehouse("clockodo_user_reports")
    assert {r["year"] for r in reports} == {2024, 2025, 2026}
    mats = INSTANCE.fetch_materializations(dg.AssetKey(["raw", "clockodo", "user_reports"]), limit=1).records
    assert mats[0].asset_materialization.metadata["read"].value == "years 2024, 2025, 2026"
    # later runs re-read only the years of their window
    assert run(defs, "clockodo_warehouse", FIRST, LAST).success
    mats = INSTANCE.fetch_materializations(dg.AssetKey(["raw", "clockodo", "user_reports"]), limit=1).records
    assert mats[0].asset_materialization.metadata["read"].value == "years 2026"


def test_each_month_records_its_own_row_count(env, defs: dg.Definitions) -> None:
    assert run(defs, "clockodo_warehouse", "2026-03-30", "2026-04-02").success
    key = dg.AssetKey(["raw", "clockodo", "entries"])
    counts = {
        r.asset_materialization.partition: r.asset_materialization.metadata["dagster/row_count"].value
        for r in INSTANCE.fetch_materializations(key, limit=10).records
    }
    march = len(api_entries(env, "2026-03-30T00:00:00Z", "2026-04-01T00:00:00Z"))
    april = len(api_entries(env, "2026-04-01T00:00:00Z", "2026-04-03T00:00:00Z"))
    assert counts == {"2026-03": march, "2026-04": april} and march and april and march != april
    # the destination table is one asset: its row count is the table's
    (publish,) = INSTANCE.fetch_materializations(
        dg.AssetKey(["publish", "clockodo_warehouse", "clockodo_entries"]), limit=10
    ).records
    assert publish.asset_materialization.metadata["dagster/row_count"].value == march + april
    schema = defs.get_assets_def(
        dg.AssetKey(["publish", "clockodo_warehouse", "clockodo_entries"])
    ).metadata_by_key
    columns = next(iter(schema.values()))["dagster/column_schema"].columns
    assert {"id", "duration", "time_since"} <= {c.name for c in columns}
    assert next(c for c in columns if c.name == "duration").description


def test_schedule_requests_the_lookback(defs: dg.Definitions) -> None:
    schedule = defs.resolve_schedule_def("clockodo_warehouse_schedule")
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "Europe/Berlin"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    when = dt.datetime(2026, 3, 10, 6, tzinfo=dt.UTC)
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        requests = schedule.evaluate_tick(context).run_requests
    # the months of the last 31 days as the partition range, the days themselves exactly
    assert [(r.tags[RANGE_START], r.tags[RANGE_END], r.tags[TAG_WINDOW]) for r in requests] == [
        ("2026-02", "2026-03", "2026-02-07..2026-03-11")
    ]


def test_all_shipped_flows_load_every_entity_once() -> None:
    defs = build_definitions(load_flows(sorted(SHIPPED.glob("*.yaml"))))
    repo = defs.get_repository_def()
    raw = {tuple(k.path[1:]) for k in repo.assets_defs_by_key if k.path[0] == "raw"}
    for connector, count in (("clockodo", 17), ("clockify", 20), ("harvest", 25)):
        assert len({e for c, e in raw if c == connector}) == count
    entries = repo.assets_defs_by_key[dg.AssetKey(["raw", "harvest", "time_entries"])]
    assert isinstance(entries.partitions_def, dg.MonthlyPartitionsDefinition)
    assert (
        repo.assets_defs_by_key[dg.AssetKey(["raw", "harvest", "report_time_clients"])].partitions_def is None
    )
    assert repo.assets_defs_by_key[dg.AssetKey(["raw", "clockify", "users"])].partitions_def is None
