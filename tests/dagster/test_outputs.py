"""Flow outputs through Dagster into Excel (upsert, re-run with an edit), and output validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import httpx
import openpyxl
import pytest

from dagster_project.build import build_definitions
from dagster_project.demo import demo_env
from pipelines.loader import FlowError, load_flows
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

from .helpers import days

FLOW = """
connections:
  cl: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
flows:
  export:
    sources:
      entries: {connection: cl, entity: entries}
      customers: {connection: cl, entity: customers}
    outputs:
      - {from: entries, to: {excel: {path: out/report.xlsx, sheet: Entries}}, mode: upsert}
      - {from: customers, to: {excel: {path: out/report.xlsx, sheet: Customers}}, mode: replace}
"""


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    server = start_background(SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=30)))
    for key, value in demo_env(server.base_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    yield server
    server.stop()


def sheet(name: str) -> list[dict]:
    book = openpyxl.load_workbook("out/report.xlsx", read_only=True)
    rows = list(book[name].iter_rows(values_only=True))
    book.close()
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_excel_upsert_through_dagster(sandbox, tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    defs = build_definitions(load_flows([path]), data_dir=str(tmp_path / "data"))
    job = defs.resolve_job_def("export")
    tags = days("2026-05-11", "2026-05-12")
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, tags=tags, run_config=quiet).success
        first = sheet("Entries")
        assert first and len({r["id"] for r in first}) == len(first)
        assert isinstance(first[0]["time_since"], dt.datetime)  # a real Excel date, not text
        edited = first[0]["id"]
        httpx.patch(
            f"{sandbox.base_url}/clockodo/api/_admin/entries/{edited}", json={"text": "changed"}
        ).raise_for_status()
        result = job.execute_in_process(instance=instance, tags=tags, run_config=quiet)
        assert result.success
    second = sheet("Entries")
    assert len(second) == len(first)  # merged on the key: no duplicates
    assert [r["id"] for r in second] == [r["id"] for r in first]  # order stable
    assert next(r for r in second if r["id"] == edited)["text"] == "changed"
    assert len(sheet("Customers")) >= 8  # the other sheet is still there
    mats = result.asset_materializations_for_node("publish__export__xlsx_entries")
    assert mats[0].metadata["rows_written"].value == len(first)


def test_output_validation(tmp_path: Path) -> None:
    bad = FLOW.replace("sheet: Customers", "sheet: ThisSheetNameIsFarTooLongForExcel")
    path = tmp_path / "flow.yaml"
    path.write_text(bad)
    with pytest.raises(FlowError, match=r"flows\.export\.outputs\.1\.to\.excel\.sheet"):
        load_flows([path])
    path.write_text(
        FLOW.replace(
            "{excel: {path: out/report.xlsx, sheet: Entries}}",
            "{excel: {path: a.xlsx, sheet: E}, duckdb: {table: t}}",
        )
    )
    with pytest.raises(FlowError, match="exactly one destination"):
        load_flows([path])
