"""`couplet extract` for Clockify and Harvest against their sandboxes: every entity, every record once,
and the same work seen in all three tools."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest

from connectors import get_source
from connectors.core.ratelimit import LIMITERS
from dagster_project.cli import main
from dagster_project.demo import demo_env
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

ANCHOR = dt.date(2026, 6, 1)
START, END = "2026-04-01", "2026-06-01"


@pytest.fixture(scope="module")
def sandbox():
    server = start_background(SandboxOptions(org=OrgOptions(anchor=ANCHOR, history_days=90)))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def env(sandbox, monkeypatch: pytest.MonkeyPatch):
    for key, value in demo_env(sandbox.base_url).items():
        monkeypatch.setenv(key, value)
    for mount in ("/clockify", "/harvest", "/clockodo/api"):
        httpx.post(sandbox.base_url + mount + "/_admin/reset").raise_for_status()
    LIMITERS.clear()


def extract(tmp_path: Path, connector: str, entity: str) -> list[dict]:
    out = tmp_path / f"{connector}-{entity}.jsonl"
    assert main(["extract", connector, entity, "--start", START, "--end", END, "--out", str(out)]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize(
    ("connector", "entity"), [(c, e.name) for c in ("clockify", "harvest") for e in get_source(c).entities]
)
def test_every_entity_extracts(connector: str, entity: str, tmp_path: Path) -> None:
    rows = extract(tmp_path, connector, entity)
    declared = get_source(connector).entity(entity)
    keys = [tuple(r[k] for k in declared.primary_key) for r in rows]
    assert len(keys) == len(set(keys)), "a record came twice"
    if entity not in ("invoice_payments",):  # the sandbox's young invoices may be unpaid
        assert rows, f"{connector}.{entity}: nothing extracted"


def test_the_same_work_in_all_three_tools(tmp_path: Path) -> None:
    clockodo = [r for r in extract(tmp_path, "clockodo", "entries") if r["type"] == 1]
    clockify = extract(tmp_path, "clockify", "time_entries")
    report = extract(tmp_path, "clockify", "detailed_report")
    harvest = extract(tmp_path, "harvest", "time_entries")
    assert len(clockify) == len(report) == len(harvest) == len(clockodo)
    hours = round(sum(r["duration"] for r in clockodo) / 3600, 1)
    assert round(sum(r["timeInterval_duration_seconds"] for r in clockify) / 3600, 1) == hours
    assert round(sum(r["hours"] for r in harvest), 0) == round(hours, 0)
