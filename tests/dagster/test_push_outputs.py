"""Outputs that push into another tool, through Dagster: Runn outputs land in order (clients before
the projects that link to them), refuse modes they cannot honour when flows load, and a dry run
(``couplet flows run --dry-run``) writes nothing anywhere and says what it would have written;
QuickBooks' entries that could not be sent are saved as a report and offered again next run (the
ledger records only what QuickBooks confirmed)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import dagster as dg
import httpx
import pytest

from dagster_project.build import build_definitions
from dagster_project.cli import main
from pipelines.loader import load_catalog
from tests.worlds import HARVEST, world

TODAY = dt.datetime.now(dt.UTC).date()
START = (TODAY - dt.timedelta(days=20)).isoformat()
HV = "{connection: hv, entity: %s}"
FLOW = f"""
settings: {{data_dir: data, partitions_start: {START}}}
connections:
  {HARVEST}
flows:
  plan:
    sources:
      clients: {HV % "clients"}
      projects: {HV % "projects"}
    outputs:
      - {{from: projects, to: {{runn: {{target: projects, connection_name: hv, source: harvest}}}}, mode: upsert}}
      - {{from: clients, to: {{runn: {{target: clients, connection_name: hv, source: harvest}}}}, mode: upsert}}
      - {{from: clients, to: {{duckdb: {{path: out/p.duckdb, table: clients}}}}}}
  bill:
    sources:
      entries: {HV % "time_entries"}
    steps:
      - derive:
          from: entries
          columns:
            date: spent_date
            users_name: user_name
            customers_name: client_name
            projects_name: project_name
            minutes: "CAST(round(hours * 60) AS INTEGER)"
            text: notes
            hourly_rate: "coalesce(billable_rate, 100.0)"
            is_billable: billable
          as: export
    outputs:
      - to: {{quickbooks: {{source: hv, customer: client}}}}
        from: export
        mode: append_new
        primary_key: [id]
"""


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    with world(monkeypatch, tmp_path, FLOW, days=25, users=3, env={"QUICKBOOKS_RATE_LIMIT": "off"}) as server:
        yield server


def runn(server, table: str) -> list[dict]:
    return httpx.get(f"{server.base_url}/runn/_admin/{table}", timeout=30).json()


def test_runn_outputs_land_in_order_and_a_dry_run_writes_nothing(sandbox, tmp_path: Path, capsys) -> None:
    defs = build_definitions(load_catalog())
    projects = defs.get_assets_def(dg.AssetKey(["publish", "plan", "runn_projects"]))
    deps = {
        k.to_user_string() for k in projects.asset_deps[dg.AssetKey(["publish", "plan", "runn_projects"])]
    }
    assert "publish/plan/runn_clients" in deps  # projects link to clients: clients first

    assert main(["flows", "run", "plan", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and not runn(sandbox, "clients") and not runn(sandbox, "projects")
    assert not (tmp_path / "out" / "p.duckdb").exists()
    instance = dg.DagsterInstance.get()
    for name in ("runn_clients", "runn_projects"):  # projects ran too: clients' dry run let them
        key = dg.AssetKey(["publish", "plan", name])
        seen = instance.fetch_materializations(key, limit=1).records[0].asset_materialization
        assert seen is not None and seen.metadata["dry_run"].value is True
        assert int(seen.metadata["rows_written"].value) == 0
    handed = int(seen.metadata["rows_that_would_be_handed_over"].value)
    assert handed > 0 and int(seen.metadata["skipped"].value) == handed  # their clients are not in Runn yet

    assert main(["flows", "run", "plan"]) == 0  # one run: every project finds its client
    made = runn(sandbox, "projects")
    assert made and all(p["clientId"] for p in made)
    mat = instance.fetch_materializations(dg.AssetKey(["publish", "plan", "runn_projects"]), limit=1)
    meta = mat.records[0].asset_materialization.metadata
    assert int(meta["created"].value) == len(made) and int(meta["skipped"].value) == 0


def test_a_mode_a_destination_cannot_honour_is_refused_when_flows_load(tmp_path: Path, capsys) -> None:
    bad = FLOW.replace(
        "connection_name: hv, source: harvest}}, mode: upsert",
        "connection_name: hv, source: harvest}}, mode: append",
        1,
    )
    (tmp_path / "flow.yaml").write_text(bad)
    assert main(["flows", "validate", str(tmp_path / "flow.yaml")]) == 2
    err = capsys.readouterr()
    text = err.out + err.err
    assert "flows.plan.outputs.0.mode: runn outputs take mode upsert, not 'append'" in text
    assert "flow.yaml:" in text


def test_quickbooks_reports_what_it_did_not_send_and_offers_it_again(sandbox, tmp_path: Path) -> None:
    # One person is not an employee in QuickBooks yet: their entries are skipped and reported.
    qbo = f"{sandbox.base_url}/quickbooks/_admin"
    employees = httpx.get(f"{qbo}/state", params={"entity": "Employee"}, timeout=30).json()["entities"][
        "Employee"
    ]
    missing = employees[0]
    httpx.delete(f"{qbo}/employee/{missing['Id']}", timeout=30).raise_for_status()
    assert main(["flows", "run", "bill", "--start", START]) == 0
    report = tmp_path / "data" / "reports" / "bill" / "quickbooks_hv.csv"
    with report.open() as f:
        rows = list(csv.DictReader(f))
    skipped = [r for r in rows if r["user"] == missing["DisplayName"] and r["reason"] == "unknown_user"]
    assert skipped and all(r["status"] == "skipped" for r in skipped)
    sent = len(
        httpx.get(f"{qbo}/state", params={"entity": "TimeActivity"}, timeout=30).json()["entities"][
            "TimeActivity"
        ]
    )

    # Once they are an employee, the next run sends exactly their entries (nothing twice).
    person = {k: missing[k] for k in ("GivenName", "FamilyName", "DisplayName") if k in missing}
    httpx.post(f"{qbo}/employee", json=person, timeout=30).raise_for_status()
    assert main(["flows", "run", "bill", "--start", START]) == 0
    after = httpx.get(f"{qbo}/state", params={"entity": "TimeActivity"}, timeout=30).json()["entities"][
        "TimeActivity"
    ]
    assert len(after) == sent + len({r["id"] for r in skipped})
    assert main(["flows", "run", "bill", "--start", START]) == 0
    again = httpx.get(f"{qbo}/state", params={"entity": "TimeActivity"}, timeout=30).json()["entities"][
        "TimeActivity"
    ]
    assert len(again) == len(after)
