"""An output's ``to:`` is validated by the registered destinations: errors keep file, line, key path
and "did you mean", for every kind in ``destinations.DESTINATIONS`` (cases made from each
declaration's ``example``); names, labels and the run's target come from the declarations."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from destinations import DESTINATIONS, get_destination
from pipelines.config import Output
from pipelines.loader import FlowError, load_flows
from pipelines.outputs import describe, landing

KINDS = list(DESTINATIONS)
HEAD = """\
connections:
  cl: {connector: clockodo, api_user: {env: CL_USER}, api_key: {env: CL_KEY}}
flows:
  f:
    sources:
      entries: {connection: cl, entity: entries}
    outputs:
      - from: entries
        to:
"""
KIND_LINE = 10  # the line of the kind under ``to:``; its settings follow, one per line


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative output paths (data/...) are checked from here
    monkeypatch.delenv("COUPLET_GOOGLE_SHEETS_ENDPOINT", raising=False)
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)


def flow(to: dict[str, Any]) -> str:
    """The flow file with ``to:`` written block style: each setting on a line of its own."""
    body = yaml.safe_dump(to, sort_keys=False, default_flow_style=False, width=1000)
    modes = [get_destination(k).modes for k in to if k in KINDS]
    mode = f"        mode: {modes[0][0]}\n" if modes and modes[0] else ""  # one it can honour
    return HEAD + "".join(f"          {line}\n" for line in body.splitlines()) + mode


def problems(tmp_path: Path, to: dict[str, Any]) -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(flow(to))
    with pytest.raises(FlowError) as info:
        load_flows([path])
    return str(info.value)


def example(kind: str) -> dict[str, Any]:
    return dict(get_destination(kind).example)


@pytest.mark.parametrize("kind", KINDS)
def test_the_example_loads(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(flow({kind: example(kind)}))
    out = load_flows([path]).flows["f"].outputs[0]
    destination = get_destination(kind)
    assert out.to.kind == kind and out.to.destination is destination
    assert out.to.settings == destination.settings.model_validate(example(kind))
    default = destination.default_name(out.to.settings)
    assert out.output_name == re.sub(r"[^a-z0-9_]+", "_", default.lower()).strip("_")


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_kind_suggests_the_nearest(tmp_path: Path, kind: str) -> None:
    typo = kind + kind[-1]
    msg = problems(tmp_path, {typo: example(kind)})
    allowed = ", ".join(KINDS)
    assert (
        f"flow.yaml:{KIND_LINE}: flows.f.outputs.0.to.{typo}: unknown key {typo!r}; did you mean {kind!r}? "
        f"(allowed here: {allowed})"
    ) in msg


@pytest.mark.parametrize("kind", KINDS)
def test_a_misspelt_setting_points_at_its_line(tmp_path: Path, kind: str) -> None:
    settings = example(kind)
    key = next(iter(settings))
    typo = key + key[-1]
    msg = problems(tmp_path, {kind: {typo if k == key else k: v for k, v in settings.items()}})
    model = get_destination(kind).settings
    allowed = ", ".join(f.alias or n for n, f in model.model_fields.items())
    assert (
        f"flow.yaml:{KIND_LINE + 1}: flows.f.outputs.0.to.{kind}.{typo}: unknown key {typo!r}; "
        f"did you mean {key!r}? (allowed here: {allowed})"
    ) in msg


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_setting_is_named(tmp_path: Path, kind: str) -> None:
    model = get_destination(kind).settings
    for required in [n for n, f in model.model_fields.items() if f.is_required()]:
        msg = problems(tmp_path, {kind: {k: v for k, v in example(kind).items() if k != required}})
        assert (
            f"flow.yaml:{KIND_LINE}: flows.f.outputs.0.to.{kind}.{required}: missing: add {required}:" in msg
        )


def test_two_kinds_or_none_are_refused(tmp_path: Path) -> None:
    two = problems(tmp_path, {"duckdb": example("duckdb"), "excel": example("excel")})
    assert (
        f"flow.yaml:9: flows.f.outputs.0.to: name exactly one destination (one of: {', '.join(KINDS)}); "
        "got ['duckdb', 'excel']"
    ) in two
    assert "got []" in problems(tmp_path, {})


@pytest.mark.parametrize(
    ("kind", "change", "where", "message"),
    [
        ("duckdb", {"table": "my table"}, "duckdb.table", "String should match pattern"),
        ("excel", {"path": "data/report.csv"}, "excel.path", "an Excel output must be an .xlsx file"),
        ("excel", {"sheet": "a/b"}, "excel.sheet", "'a/b' is not a valid sheet name"),
        ("excel", {"sheet": "History"}, "excel.sheet", "Excel reserves the sheet name 'History'"),
        ("google_sheets", {"worksheet": "x" * 101}, "google_sheets.worksheet", "at most 100 characters"),
        ("google_sheets", {"endpoint": "ftp://h/x"}, "google_sheets.endpoint", "should match pattern"),
        ("bigquery", {"dataset": "a.b"}, "bigquery", "BigQuery dataset 'a.b' is not a valid name"),
        ("bigquery", {"clustering": ["a", "b", "c", "d", "e"]}, "bigquery", "clusters by at most 4 columns"),
    ],
)
def test_bad_values_are_caught_when_flows_load(
    tmp_path: Path, kind: str, change: dict[str, Any], where: str, message: str
) -> None:
    msg = problems(tmp_path, {kind: {**example(kind), **change}})
    assert re.search(
        rf"flow\.yaml:\d+: flows\.f\.outputs\.0\.to\.{re.escape(where)}: [^\n]*{re.escape(message)}", msg
    )


def output(to: dict[str, Any]) -> Output:
    return Output.model_validate({"from": "x", "to": to})


def test_names_and_labels_of_the_shipped_destinations() -> None:
    outs = {kind: output({kind: example(kind)}) for kind in ("duckdb", "excel", "google_sheets", "bigquery")}
    assert {k: o.output_name for k, o in outs.items()} == {
        "duckdb": "billing",
        "excel": "xlsx_billing",
        "google_sheets": "gsheet_billing",
        "bigquery": "billing",
    }
    assert {k: describe(o) for k, o in outs.items()} == {
        "duckdb": "data/warehouse.duckdb#billing",
        "excel": "data/exports/billing.xlsx#Billing",
        "google_sheets": "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 [Billing]",
        "bigquery": "acme-data.reporting.billing",
    }


def test_a_dated_source_partitions_bigquery_by_its_window() -> None:
    out = output({"bigquery": example("bigquery")})
    assert landing(out, partitioned=True).target.partition_column == "_window_start"
    assert landing(out, partitioned=False).target.partition_column is None
    own = output({"bigquery": {**example("bigquery"), "partition_column": "day"}})
    assert landing(own, partitioned=True).target.partition_column == "day"


def test_an_excel_landing_sweeps_a_killed_writers_temp_file(tmp_path: Path) -> None:
    book = tmp_path / "out" / "report.xlsx"
    book.parent.mkdir()
    stale, fresh = book.parent / ".report.xlsx.dead.tmp", book.parent / ".report.xlsx.live.tmp"
    for temp in (stale, fresh):
        temp.write_bytes(b"half a workbook")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    out = output({"excel": {"path": str(book), "sheet": "Entries"}})
    table = pa.table({"id": [1, 2]})
    assert landing(out, partitioned=False).write(table, "replace", (), None, False).rows_written == 2
    assert not stale.exists() and fresh.exists()  # a live writer's file is kept
