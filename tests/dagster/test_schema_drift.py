"""Schema drift is visible: raw assets report undeclared and missing fields, and ``schema_drift`` warns
when they change; ``couplet extract`` names them on stderr.

Against the sandbox, whose admin API can add a field to any record (a PATCH with a key the API does
not have): the next read carries it, as a real API that starts sending a new field.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import httpx
import pytest

from dagster_project import raw as raw_module
from dagster_project.build import build_definitions
from dagster_project.cli import main
from dagster_project.demo import demo_env
from dagster_project.schema_drift import SCHEMA_CHECK
from pipelines.loader import load_flows
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

from .helpers import QUIET, days

FLOW = """
connections:
  cl: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
flows:
  f:
    sources:
      customers: {connection: cl, entity: customers}
      entries: {connection: cl, entity: entries}
    outputs:
      - {from: customers, to: {duckdb: {path: out.duckdb, table: customers}}, allow_empty: true}
      - {from: entries, to: {duckdb: {path: out.duckdb, table: entries}}, allow_empty: true}
"""
CUSTOMERS = dg.AssetKey(["raw", "cl", "customers"])
ENTRIES = dg.AssetKey(["raw", "cl", "entries"])
HEADERS = {
    "X-ClockodoApiUser": "sandbox@couplet.dev",
    "X-ClockodoApiKey": "sandbox-key",
    "X-Clockodo-External-Application": "tests;tests@couplet.dev",
}


@pytest.fixture(scope="module")
def sandbox():
    server = start_background(SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=60)))
    yield server
    server.stop()


@pytest.fixture
def api(sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for key, value in demo_env(sandbox.base_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    base = sandbox.base_url + "/clockodo/api"
    httpx.post(base + "/_admin/reset").raise_for_status()
    return base


@pytest.fixture
def defs(tmp_path: Path) -> dg.Definitions:
    (tmp_path / "flow.yaml").write_text(FLOW)
    return build_definitions(load_flows([tmp_path / "flow.yaml"]), data_dir=str(tmp_path / "data"))


def materialize(
    defs: dg.Definitions, instance: dg.DagsterInstance, key: dg.AssetKey, tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def("f").execute_in_process(
        instance=instance, asset_selection=[key], tags=tags or {}, run_config=QUIET, raise_on_error=False
    )
    assert result.success  # a WARN check never fails the run
    return result


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    mats = result.get_asset_materialization_events()
    assert mats
    return {k: v.value for k, v in mats[0].step_materialization_data.materialization.metadata.items()}


def first_customer(api: str) -> int:
    return httpx.get(api + "/v3/customers", headers=HEADERS).json()["data"][0]["id"]


def test_a_new_field_is_reported_and_warns_once(api: str, defs: dg.Definitions) -> None:
    with dg.instance_for_test() as instance:
        first = materialize(defs, instance, CUSTOMERS)
        meta = metadata(first)
        assert meta["undeclared_fields"] == len(meta["undeclared_field_records"])
        assert "vat_id" not in meta["undeclared_field_records"]
        assert isinstance(meta["missing_fields"], list)
        baseline = checks(first)[SCHEMA_CHECK]
        assert baseline.passed and "first read" in (baseline.description or "")
        assert checks(first)[raw_module.PK_CHECK].passed  # both declared checks, every time

        second = materialize(defs, instance, CUSTOMERS)
        again = checks(second)[SCHEMA_CHECK]
        assert again.passed and again.description == "the same fields as the last read"

        # The API starts sending a field that no column declares.
        httpx.patch(
            f"{api}/_admin/customers/{first_customer(api)}", json={"vat_id": "DE123"}
        ).raise_for_status()
        drifted = materialize(defs, instance, CUSTOMERS)
        meta = metadata(drifted)
        assert meta["undeclared_field_records"]["vat_id"] == 1
        assert meta["undeclared_fields"] == len(meta["undeclared_field_records"])
        warned = checks(drifted)[SCHEMA_CHECK]
        assert not warned.passed and warned.severity is dg.AssetCheckSeverity.WARN
        assert "vat_id" in (warned.description or "")
        assert warned.metadata["new_undeclared_fields"].value == ["vat_id"]
        assert warned.metadata["compared_with_run"].value == second.run_id
        assert checks(drifted)[raw_module.PK_CHECK].passed

        settled = checks(materialize(defs, instance, CUSTOMERS))[SCHEMA_CHECK]
        assert settled.passed  # the new shape is the baseline now


def test_partitioned_assets_compare_with_the_last_read_of_any_month(api: str, defs: dg.Definitions) -> None:
    with dg.instance_for_test() as instance:
        may = materialize(defs, instance, ENTRIES, days("2026-05-11", "2026-05-13"))
        assert checks(may)[SCHEMA_CHECK].passed
        entries = httpx.get(
            api + "/v2/entries",
            params={"time_since": "2026-04-14T00:00:00Z", "time_until": "2026-04-15T00:00:00Z"},
            headers=HEADERS,
        ).json()["entries"]
        httpx.patch(f"{api}/_admin/entries/{entries[0]['id']}", json={"tags": ["x"]}).raise_for_status()
        april = materialize(defs, instance, ENTRIES, days("2026-04-13", "2026-04-15"))
        warned = checks(april)[SCHEMA_CHECK]
        assert not warned.passed and warned.severity is dg.AssetCheckSeverity.WARN
        assert "tags" in (warned.description or "")
        assert metadata(april)["undeclared_field_records"]["tags"] == 1


def test_a_run_that_reuses_another_runs_read_yields_both_checks(
    api: str, defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch
) -> None:
    with dg.instance_for_test() as instance:
        read = materialize(defs, instance, CUSTOMERS)
        record = instance.fetch_materializations(CUSTOMERS, limit=1).records[0]
        monkeypatch.setattr(raw_module, "_reuse", lambda *args: record)
        reused = materialize(defs, instance, CUSTOMERS)
        meta = metadata(reused)
        assert meta["reused_from_run"] == read.run_id
        assert meta["undeclared_field_records"] == metadata(read)["undeclared_field_records"]
        found = checks(reused)
        assert set(found) == {raw_module.PK_CHECK, SCHEMA_CHECK} and found[SCHEMA_CHECK].passed


def test_a_read_without_records_passes_and_keeps_the_baseline(api: str, defs: dg.Definitions) -> None:
    with dg.instance_for_test() as instance:
        baseline = materialize(defs, instance, ENTRIES, days("2026-05-11", "2026-05-13"))
        nothing = materialize(defs, instance, ENTRIES, days("2026-05-30", "2026-05-31"))  # a weekend
        assert "undeclared_fields" not in metadata(nothing)
        check = checks(nothing)[SCHEMA_CHECK]
        assert check.passed and "no records" in (check.description or "")
        later = checks(materialize(defs, instance, ENTRIES, days("2026-05-11", "2026-05-13")))[SCHEMA_CHECK]
        assert later.passed and later.metadata["compared_with_run"].value == baseline.run_id


def test_extract_prints_one_warning_line_naming_the_fields(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpx.patch(f"{api}/_admin/customers/{first_customer(api)}", json={"vat_id": "DE123"}).raise_for_status()
    assert main(["extract", "clockodo", "customers", "--out", str(tmp_path / "c.csv")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("couplet: warning: clockodo.customers: ")
    assert "vat_id (1)" in err[0]
    assert "sandbox-key" not in err[0]
