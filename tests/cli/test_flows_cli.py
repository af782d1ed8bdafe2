"""`couplet flows validate | list | show | run`."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from dagster_project.cli import main
from dagster_project.demo import demo_env
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

FLOW = """
connections:
  cl: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
flows:
  team:
    description: Hours per person
    sources:
      entries: {connection: cl, entity: entries}
      users: {connection: cl, entity: users}
    steps:
      - aggregate: {from: entries, group_by: [users_id], metrics: {seconds: {sum: duration}}, as: per_person}
      - join: {left: per_person, right: users, on: {users_id: id}, as: named}
      - select: {from: named, columns: [name, seconds], as: hours}
    outputs:
      - {from: hours, to: {duckdb: {path: out.duckdb, table: hours}}}
    schedule: {every: day, at: "06:30", days: weekdays, timezone: Europe/Berlin}
"""


def test_validate_and_list(flow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "validate", str(flow_file)]) == 0
    assert "1 flow(s)" in capsys.readouterr().out
    assert main(["flows", "list"]) == 0
    out = capsys.readouterr().out
    assert "team: 2 source(s), 1 output(s)" in out and "06:30" in out


def test_validate_reports_file_line_and_fix(flow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow_file.write_text(FLOW.replace("group_by: [users_id]", "group_by: [user_id]"))
    assert main(["flows", "validate", str(flow_file)]) == 2
    err = capsys.readouterr().err
    assert f"{flow_file}:11: flows.team.steps.0.aggregate.group_by" in err and "users_id" in err


def test_show_prints_plan_and_next_runs(flow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "show", "team"]) == 0
    out = capsys.readouterr().out
    assert "raw/cl/entries" in out and "flow/team/per_person" in out and "publish/team/hours" in out
    nexts = [line for line in out.splitlines() if "next:" in line]
    assert len(nexts) == 3 and all("06:30" in line for line in nexts)
    assert main(["flows", "show", "nope"]) == 2


def test_run_through_dagster(
    flow_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_background(SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=30)))
    try:
        for key, value in demo_env(server.base_url).items():
            monkeypatch.setenv(key, value)
        assert main(["flows", "run", "team", "--start", "2026-05-11", "--end", "2026-05-13"]) == 0
    finally:
        server.stop()
    out = capsys.readouterr().out
    assert re.search(r"done +raw/cl/entries", out) and "publish/team/hours" in out
    con = duckdb.connect("out.duckdb", read_only=True)
    rows = con.execute("SELECT count(*), sum(seconds) FROM hours").fetchone()
    con.close()
    assert rows[0] > 0 and rows[1] > 0
