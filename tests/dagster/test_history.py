"""``couplet flows history``: a flow's last runs with status, trigger, start, duration, rows per output
and each failure's cause, newest first; other flows' runs are not listed."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx
import pytest

from dagster_project.cli import main
from tests.worlds import HARVEST, world

TODAY = dt.datetime.now(dt.UTC).date()
START = (TODAY - dt.timedelta(days=20)).isoformat()
FLOW = f"""
settings: {{data_dir: data, partitions_start: {START}}}
connections:
  {HARVEST}
flows:
  hours:
    sources:
      entries: {{connection: hv, entity: time_entries}}
    outputs:
      - {{from: entries, to: {{duckdb: {{path: out/h.duckdb, table: entries}}}}}}
    schedule: {{every: day, at: "06:00", timezone: Europe/Berlin}}
  people:
    sources:
      users: {{connection: hv, entity: users}}
    outputs:
      - {{from: users, to: {{duckdb: {{path: out/p.duckdb, table: users}}}}}}
"""


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    with world(monkeypatch, tmp_path, FLOW, days=30, users=3) as server:
        yield server


def test_history_lists_the_flows_runs_newest_first_with_rows_and_causes(sandbox, capsys) -> None:
    assert main(["flows", "history", "hours"]) == 0
    assert "no runs yet" in capsys.readouterr().out

    assert main(["flows", "run", "hours", "--start", START]) == 0
    assert main(["flows", "run", "people"]) == 0
    rule = {"status": 401, "count": 20, "path": "/v2/time_entries"}
    httpx.post(f"{sandbox.base_url}/harvest/_admin/faults", json={"fail_next": [rule]}).raise_for_status()
    assert main(["flows", "run", "hours", "--start", START]) == 1
    capsys.readouterr()

    assert main(["flows", "history", "hours"]) == 0
    out = capsys.readouterr().out
    assert "times in Europe/Berlin" in out
    heads = re.findall(r"^(\w{8})  (\w+)\s+(\S+ \S+)\s+(\S+)\s+(.+)$", out, flags=re.M)
    assert [h[1] for h in heads] == ["FAILURE", "SUCCESS"], out  # newest first; the people run is not here
    assert all(h[4] == "couplet CLI" for h in heads)
    failed, ok = re.split(r"^\w{8}  ", out, flags=re.M)[1:3]
    assert "publish/hours/entries  skipped" in failed  # the source failed: nothing was written
    assert "FAILED raw/hv/time_entries:" in failed and "authentication failed" in failed
    rows = re.search(r"publish/hours/entries  done  ([\d,]+) rows", ok)
    assert rows and int(rows.group(1).replace(",", "")) > 0

    assert main(["flows", "history", "hours", "--last", "1"]) == 0
    assert len(re.findall(r"^\w{8}  ", capsys.readouterr().out, flags=re.M)) == 1


def test_history_of_an_unknown_flow_says_which_exist(sandbox, capsys) -> None:
    assert main(["flows", "history", "houres"]) == 2
    err = capsys.readouterr().err
    assert "no flow 'houres'" in err and "did you mean 'hours'" in err
    assert main(["flows", "history", "hours", "--last", "0"]) == 2
