"""Each shipped example flow end to end against the sandbox, twice, with edits and deletions between:
outputs are complete, keys are never duplicated, edits show, deletions vanish where the mode allows,
and the billable export sends every entry exactly once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from connectors.core.ratelimit import LIMITERS
from dagster_project.build import build_definitions
from dagster_project.demo import demo_env
from pipelines.loader import SHIPPED, load_flows
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

from .helpers import failures, run_job

TODAY = dt.datetime.now(dt.UTC).date()
FIRST = (TODAY - dt.timedelta(days=6)).isoformat()
EXAMPLES = [
    "clockodo_billing",
    "all_time_entries",
    "harvest_utilization",
    "people_and_projects",
    "billable_export",
]


@pytest.fixture(scope="module")
def sandbox():
    server = start_background(SandboxOptions(org=OrgOptions(history_days=40)))  # up to yesterday
    yield server
    server.stop()


@pytest.fixture
def env(sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for key, value in demo_env(sandbox.base_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    for mount in ("/clockodo/api", "/clockify", "/harvest"):
        httpx.post(sandbox.base_url + mount + "/_admin/reset").raise_for_status()
    LIMITERS.clear()
    return sandbox


def run_flow(defs: dg.Definitions, flows, name: str, instance) -> None:
    result = run_job(defs, name, instance, FIRST, TODAY.isoformat())
    assert result.success, failures(result)


def table(name: str) -> list[dict]:
    con = duckdb.connect("data/warehouse.duckdb", read_only=True)
    try:
        rel = con.sql(f'SELECT * FROM "{name}"')
        return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()


def clockodo_entry_ids(sandbox) -> list[int]:
    headers = {
        "X-ClockodoApiUser": "sandbox@couplet.dev",
        "X-ClockodoApiKey": "sandbox-key",
        "X-Clockodo-External-Application": "t;t@t.de",
    }
    since, until = f"{FIRST}T00:00:00Z", f"{TODAY + dt.timedelta(days=1)}T00:00:00Z"
    body = httpx.get(
        sandbox.base_url + "/clockodo/api/v2/entries",
        headers=headers,
        params={"time_since": since, "time_until": until, "enhanced_list": 1},
    ).json()
    return [
        e["id"] for e in body["entries"] if e["type"] == 1 and e.get("billable") == 1 and e.get("projects_id")
    ]


def unique(rows: list[dict], *keys: str) -> bool:
    seen = [tuple(r[k] for k in keys) for r in rows]
    return len(seen) == len(set(seen))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_flow_twice_with_edits_and_deletions(name: str, env, tmp_path: Path) -> None:
    flows = load_flows(sorted(SHIPPED.glob("*.yaml")))
    defs = build_definitions(flows, data_dir=str(tmp_path / "data"))
    admin = env.base_url + "/clockodo/api/_admin/entries"
    victim, edited = clockodo_entry_ids(env)[:2]
    with dg.instance_for_test() as instance:
        run_flow(defs, flows, name, instance)
        first = {
            out.to.settings.table: table(out.to.settings.table)
            for out in flows.flows[name].outputs
            if out.to.kind == "duckdb"
        }
        httpx.delete(f"{admin}/{victim}").raise_for_status()
        httpx.patch(f"{admin}/{edited}", json={"text": "edited after the fact"}).raise_for_status()
        run_flow(defs, flows, name, instance)
        second = {t: table(t) for t in first}

    if name == "clockodo_billing":
        assert first["clockodo_billing"] and unique(second["clockodo_billing"], "customer", "month")
        # the deleted entry's hours left its customer's month
        assert (
            sum(r["entries"] for r in second["clockodo_billing"])
            == sum(r["entries"] for r in first["clockodo_billing"]) - 1
        )
    elif name == "all_time_entries":
        rows = second["all_time_entries"]
        assert {r["source"] for r in rows} == {"clockodo", "clockify", "harvest"} and unique(
            rows, "source", "id"
        )
        assert (
            next(r for r in rows if r["source"] == "clockodo" and r["id"] == str(edited))["note"]
            == "edited after the fact"
        )
    elif name == "harvest_utilization":
        assert second["harvest_utilization"] and unique(second["harvest_utilization"], "person", "month")
        assert all(0 <= (r["utilization"] or 0) <= 1 for r in second["harvest_utilization"])
        assert second["harvest_budget_burn"]
    elif name == "people_and_projects":
        people = second["planning_people"]
        assert (
            unique(people, "source", "source_id")
            and {r["source"] for r in people} == {"clockify_people_cols", "harvest_people_cols"}
        ) or unique(people, "source", "source_id")
        assert len(people) == 24 and {r["role"] for r in people} >= {"Unknown"}
        harvest_roles = [r["role"] for r in people if r["source"] == "harvest"]
        assert any(role != "Unknown" for role in harvest_roles)
    else:  # billable_export: exactly once, ever
        sent = second["billable_export"]
        assert unique(sent, "id") and len(sent) == len(first["billable_export"])
        ids = {r["id"] for r in sent}
        assert victim in ids and edited in ids  # sent in the first run; deleting or editing does not resend
        assert next(r for r in sent if r["id"] == edited)["text"] != "edited after the fact"
