"""The default look-back follows the flow: a 15-minute flow over ``today`` re-reads today (and
yesterday on its first run after midnight in its time zone), not 31 days; an explicit
``lookback_days`` still wins."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from dagster_project.cli import main
from dagster_project.jobs import scheduled_tags
from dagster_project.translator import TAG_WINDOW, flow_assets
from pipelines.loader import load_flows
from tests.worlds import HARVEST, world

TODAY = dt.datetime.now(dt.UTC).date()
FLOW = f"""
settings: {{data_dir: data, partitions_start: {(TODAY - dt.timedelta(days=90)).isoformat()}}}
connections:
  {HARVEST}
flows:
  today:
    sources:
      entries: {{connection: hv, entity: time_entries, dates: today}}
    outputs:
      - {{from: entries, to: {{duckdb: {{path: out/t.duckdb, table: entries}}}}}}
    schedule: {{every: 15 minutes, timezone: Europe/Berlin}}
  month:
    sources:
      entries: {{connection: hv, entity: time_entries, dates: today, lookback_days: 30}}
    outputs:
      - {{from: entries, to: {{duckdb: {{path: out/m.duckdb, table: entries}}}}}}
    schedule: {{every: 15 minutes, timezone: Europe/Berlin}}
"""


def window(flow_file, name: str, now: dt.datetime) -> str:
    flow = flow_file.flows[name]
    return scheduled_tags(flow, flow_file, flow_assets(name, flow, flow_file), now)[TAG_WINDOW]


def test_the_schedules_window_is_today_and_yesterday_only_after_midnight(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW)
    flow_file = load_flows([tmp_path / "flow.yaml"])
    berlin = ZoneInfo("Europe/Berlin")
    # Mid-month: on the 1st, Berlin's first hour is still the previous month in UTC (no partition yet).
    day = TODAY.replace(day=15) - dt.timedelta(days=31 if TODAY.day < 16 else 0)
    morning = dt.datetime.combine(day, dt.time(10, 0), berlin)
    midnight = dt.datetime.combine(day, dt.time(0, 0), berlin)
    after = (day + dt.timedelta(days=1)).isoformat()
    assert window(flow_file, "today", morning) == f"{day}..{after}"
    assert window(flow_file, "today", midnight) == f"{day - dt.timedelta(days=1)}..{after}"
    assert window(flow_file, "month", morning) == f"{day - dt.timedelta(days=30)}..{after}"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    with world(monkeypatch, tmp_path, FLOW, days=60, users=3) as server:
        yield server


def test_a_run_without_dates_reads_today_not_a_month(sandbox) -> None:
    assert main(["flows", "run", "today"]) == 0
    record = (
        dg.DagsterInstance.get()
        .fetch_materializations(dg.AssetKey(["raw", "hv", "time_entries"]), limit=1)
        .records[0]
    )
    first, _, after = str(record.asset_materialization.metadata["read"].value).partition("..")
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date()
    assert dt.date.fromisoformat(after) == today + dt.timedelta(days=1)
    assert (
        today - dt.timedelta(days=1) <= dt.date.fromisoformat(first) <= today
    )  # yesterday only near midnight
