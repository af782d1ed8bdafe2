"""Honest runs: every failure shows its real cause, retries where a retry can help, alerts always.

Against the sandbox, through ``couplet flows run`` (the CLI) and through Dagster directly: a DuckDB
file locked by another process (past the lock wait), an Excel path that became a folder after the
flow loaded (one that is a folder already is refused when the flow loads) and a step that cannot run
each reach the CLI and the UI's failure message with the cause, the output and the YAML line; the
final table lists failed and skipped assets and the exit code says it failed. A 429 that outlasts
the client's retries is retried by Dagster's retry policy, a 401 is not. Failure alerts fire for
runs started by a schedule, the UI and the CLI, each once. Code versions are the same in every
process; schedules start running unless the flow file says ``enabled: false``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from dagster_project.build import build_definitions
from dagster_project.cli import main
from dagster_project.demo import demo_env
from dagster_project.translator import TAG_ALERTED
from pipelines.loader import load_catalog
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

from .helpers import failures, run_job

FLOW = """
settings: {data_dir: data, retries: 1, retry_delay_seconds: 0}
connections:
  cl: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
flows:
  team:
    sources:
      entries: {connection: cl, entity: entries}
      users: {connection: cl, entity: users}
      absences: {connection: cl, entity: absences}
    steps:
      - aggregate: {from: entries, group_by: [users_id], metrics: {seconds: {sum: duration}}, as: per_person}
      - join: {left: per_person, right: users, on: {users_id: id}, as: named}
      - aggregate: {from: absences, group_by: [users_id], metrics: {absences: {count: "*"}}, as: away}
    outputs:
      - {from: named, to: {duckdb: {path: out/warehouse.duckdb, table: hours}}}
      - {from: away, to: {duckdb: {path: out/warehouse.duckdb, table: away}}}
      - {from: users, to: {excel: {path: out/users.xlsx, sheet: Users}}}
    schedule: {every: day, at: "06:30", timezone: Europe/Berlin}
    alerts: {webhook: {env: ALERT_HOOK}}
  quiet:
    sources:
      users: {connection: cl, entity: users}
    outputs:
      - {from: users, to: {duckdb: {path: out/quiet.duckdb, table: users}}}
    schedule: {cron: "0 5 * * *", timezone: UTC, enabled: false}
"""


@pytest.fixture(scope="module")
def sandbox():
    server = start_background(SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=30)))
    yield server
    server.stop()


@pytest.fixture
def flow(sandbox, hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in demo_env(sandbox.base_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ALERT_HOOK", hook[0])
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "flows.yaml"
    path.write_text(FLOW)
    monkeypatch.setenv("COUPLET_FLOWS", str(path))
    httpx.post(sandbox.base_url + "/clockodo/api/_admin/reset").raise_for_status()
    return path


RUN = ["flows", "run", "team", "--start", "2026-05-11", "--end", "2026-05-13"]


def test_a_locked_duckdb_file_fails_with_its_cause_and_the_other_outputs_land(
    flow: Path, hook, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer waits this long for the holder, then fails saying who holds the file.
    monkeypatch.setenv("COUPLET_DUCKDB_LOCK_TIMEOUT", "1")
    Path("out").mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect('out/warehouse.duckdb'); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert main(RUN) == 1
    finally:
        holder.kill()
        holder.communicate()
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert re.search(
        rf"publish/team/hours failed:\s+out/warehouse.duckdb is locked by another process \(PID {holder.pid}, "
        r"python[^)]*\); waited 1 s\. .*set COUPLET_DUCKDB_LOCK_TIMEOUT",
        out,
    )
    assert "IOException" not in out and "Could not set lock" not in out
    assert f"{flow}:16 flows.team.outputs.0" in out  # the YAML line of the output
    assert "DagsterExecutionStepExecutionError" not in out and "Traceback" not in out
    table = captured.out.split("asset ", 1)[1]
    assert "publish/team/hours" in table and "failed" in table
    assert "publish/team/xlsx_users" in table and "done" in table  # the Excel output landed
    (alert,) = hook[1]  # the CLI alerted, once
    assert "flow team failed" in alert["text"] and "locked by another process" in alert["text"]


def test_an_excel_path_that_is_a_folder(
    flow: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("out/users.xlsx").mkdir(parents=True)
    assert main(RUN) == 2  # caught when the flow loads: nothing runs
    err = capsys.readouterr().err
    assert f"{flow}:18: flows.team.outputs.2.to.excel.path: 'out/users.xlsx' is a folder; name a file" in err
    # A folder that appears after the flow loaded fails the run with its cause and the YAML line.
    monkeypatch.setattr("pipelines.check_outputs.path_problem", lambda path, kind: "")
    assert main(RUN) == 1
    out = capsys.readouterr().out
    assert "publish/team/xlsx_users failed:" in out and "users.xlsx" in out
    assert f"{flow}:18 flows.team.outputs.2" in out


def test_skipped_assets_are_listed(flow: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fail_next(401, "/v3/users", count=10)
    assert main(RUN) == 1
    table = capsys.readouterr().out.split("asset ", 1)[1]
    assert any("raw/cl/users" in line and "failed" in line for line in table.splitlines())
    assert any("flow/team/named" in line and "skipped" in line for line in table.splitlines())
    assert any("publish/team/hours" in line and "skipped" in line for line in table.splitlines())


def fail_next(status: int, path: str, count: int = 1, retry_after: float | None = None) -> None:
    rule: dict[str, object] = {"status": status, "count": count, "path": path}
    if retry_after is not None:
        rule["retry_after"] = retry_after
    base = os.environ["CLOCKODO_BASE_URL"]
    httpx.post(base + "/_admin/faults", json={"fail_next": [rule]}).raise_for_status()


def test_a_rate_limit_that_outlasts_the_client_is_retried_by_dagster(flow: Path) -> None:
    # A Retry-After longer than the client waits: the client gives up at once, Dagster retries.
    fail_next(429, "/v3/users", retry_after=3600)
    defs = build_definitions(load_catalog())
    with dg.instance_for_test() as instance:
        result = run_job(defs, "team", instance, "2026-05-11", "2026-05-12")
        kinds = [e.event_type_value for e in result.all_events if e.step_key == "raw__cl__users"]
    assert result.success, failures(result)
    assert "STEP_UP_FOR_RETRY" in kinds and kinds[-1] == "STEP_SUCCESS"


def test_an_auth_error_is_not_retried(flow: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCKODO_API_KEY", "wrong-key")
    defs = build_definitions(load_catalog())
    with dg.instance_for_test() as instance:
        result = run_job(defs, "team", instance, "2026-05-11", "2026-05-12")
    kinds = [e.event_type_value for e in result.all_events if e.step_key == "raw__cl__users"]
    assert not result.success and "STEP_UP_FOR_RETRY" not in kinds
    (message,) = [m for m in failures(result) if m.startswith("raw/cl/users")]
    assert "authentication failed" in message and "CLOCKODO_API_KEY" in message and "wrong-key" not in message


@pytest.mark.parametrize("started_by", ["schedule", "ui"])
def test_alerts_fire_for_runs_started_by_a_schedule_or_the_ui(
    flow: Path, hook, monkeypatch: pytest.MonkeyPatch, started_by: str
) -> None:
    monkeypatch.setenv("CLOCKODO_API_KEY", "wrong-key")
    defs = build_definitions(load_catalog())
    sensor = defs.resolve_sensor_def("team_on_failure")
    tags = {"dagster/schedule_name": "team_schedule"} if started_by == "schedule" else {}
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("team").execute_in_process(
            instance=instance, tags={**tags, **_days()}, raise_on_error=False
        )
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name="team_on_failure",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        sensor(context)
    (alert,) = hook[1]
    assert "flow team failed" in alert["text"] and "authentication failed" in alert["text"]


def test_a_cli_run_is_alerted_by_the_cli_and_not_again_by_the_sensor(
    flow: Path, hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOCKODO_API_KEY", "wrong-key")
    assert main(RUN) == 1
    assert len(hook[1]) == 1
    defs = build_definitions(load_catalog())
    sensor = defs.resolve_sensor_def("team_on_failure")
    instance = dg.DagsterInstance.get()
    (run,) = instance.get_runs(limit=1)
    assert run.tags[TAG_ALERTED]
    failure = next(
        r.event_log_entry.dagster_event
        for r in instance.get_records_for_run(run.run_id).records
        if r.event_log_entry.dagster_event
        and r.event_log_entry.dagster_event.event_type_value == "PIPELINE_FAILURE"
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="team_on_failure", dagster_event=failure, dagster_instance=instance, dagster_run=run
    ).for_run_failure()
    sensor(context)
    assert len(hook[1]) == 1


def _days() -> dict[str, str]:
    from .helpers import days

    return days("2026-05-11", "2026-05-12")


def test_year_scoped_sources_are_staged_before_the_steps_on_the_first_run(flow: Path) -> None:
    assert main(RUN) == 0
    with duckdb.connect("out/warehouse.duckdb", read_only=True) as con:
        row = con.execute("SELECT count(*), sum(absences) FROM away").fetchone()
    assert row is not None and row[0] > 0 and row[1] > 0


def test_schedules_start_running_unless_disabled(flow: Path) -> None:
    defs = build_definitions(load_catalog())
    assert defs.resolve_schedule_def("team_schedule").default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_schedule_def("quiet_schedule").default_status == dg.DefaultScheduleStatus.STOPPED


def test_code_versions_are_the_same_in_every_process(flow: Path) -> None:
    code = (
        "from dagster_project.build import build_definitions\n"
        "from pipelines.loader import load_catalog\n"
        "d = build_definitions(load_catalog())\n"
        "g = d.resolve_asset_graph()\n"
        "print(sorted((k.to_user_string(), g.get(k).code_version) for k in g.get_all_asset_keys() if k.path[0] == 'raw'))\n"
    )
    first, second = (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    )
    assert first == second and "raw/cl/entries" in first and "None" not in first
