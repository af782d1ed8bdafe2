"""``couplet flows preview``: a step's or an output's types and first rows, from staged data.

Only what staging lacks for the flow's range is extracted (a second preview asks the API nothing;
after a partial run only the older months); nothing reaches a destination; a wrong name is told
what exists. The step assets of a real run carry the same preview as metadata in the UI.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import httpx
import pyarrow as pa
import pytest

from connectors.core.sizing import next_month
from dagster_project.cli import main
from dagster_project.preview_table import CELL, render_rows
from pipelines.dates import DateRange, resolve
from tests.worlds import HARVEST, world

ZONE = "Europe/Berlin"
NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.date()
FIRST, AFTER = resolve(DateRange(last="40 days"), NOW, ZONE)  # the flow's range of time entries
THIS_MONTH = TODAY.replace(day=1)
FLOW = f"""
settings: {{data_dir: data, partitions_start: {(FIRST - dt.timedelta(days=40)).replace(day=1)}}}
connections:
  {HARVEST}
flows:
  hours:
    sources:
      entries: {{connection: hv, entity: time_entries, dates: "last 40 days"}}
      clients: {{connection: hv, entity: clients}}
    steps:
      - join: {{left: entries, right: clients, on: {{client_id: id}}, how: left, as: billed}}
      - aggregate: {{from: billed, group_by: [client_name], metrics: {{hours: {{sum: hours}}}}, as: per_client}}
    outputs:
      - {{from: per_client, to: {{duckdb: {{path: out/hours.duckdb, table: per_client}}}}}}
      - {{from: billed, to: {{excel: {{path: out/billed.xlsx, sheet: Billed}}}}, mode: upsert, primary_key: [id]}}
    schedule: {{every: day, at: "06:00", timezone: {ZONE}}}
"""


def months(first: dt.date, after: dt.date) -> list[str]:
    out, month = [], first.replace(day=1)
    while month < after:
        out.append(month.strftime("%Y-%m"))
        month = next_month(month)
    return out


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("COLUMNS", "100")
    with world(monkeypatch, tmp_path, FLOW, days=80, users=3) as server:
        yield server


def requests(server, path: str = "") -> dict:
    url = f"{server.base_url}/harvest/_admin/requests" + (f"?path={path}" if path else "")
    return httpx.get(url).json()


def test_preview_of_each_output_extracts_what_is_missing_and_writes_nothing(
    sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flows", "preview", "hours"]) == 0
    captured = capsys.readouterr()
    expected = months(FIRST, AFTER)
    assert "staging hv clients (never staged)" in captured.err
    span = expected[0] if len(expected) == 1 else f"{expected[0]}..{expected[-1]}"
    assert f"staging hv time_entries {span} (missing)" in captured.err
    out = captured.out
    # each output: where it would go, its columns with DuckDB and Arrow types, its first rows
    assert "output per_client -> " in out and "hours.duckdb#per_client, mode replace (not written" in out
    assert "output xlsx_billed -> " in out and "billed.xlsx#Billed, mode upsert on id" in out
    assert "from step billed: join of entries, clients" in out
    assert re.search(r"^client_name\s+VARCHAR\s+string$", out, re.M)
    assert re.search(r"^hours\s+DOUBLE\s+double$", out, re.M)
    assert re.search(r"^spent_date\s+DATE\s+date32\[day\]$", out, re.M)
    rows = int(re.search(r"^([\d,]+) rows, 49 columns$", out, re.M).group(1).replace(",", ""))
    assert rows > 0 and f"(10 of {rows:,} rows)" in out
    assert "columns 1-" in out  # 49 columns do not fit 100 characters: blocks of columns
    assert all(len(line) <= 100 for line in out.splitlines())
    # nothing reached a destination, and the flow's own step results were not touched
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "data" / "flows").exists()
    staged = sorted(p.stem for p in (tmp_path / "data/staging/hv/time_entries").glob("*.parquet"))
    assert staged == expected

    before = requests(sandbox)["count"]
    assert main(["flows", "preview", "hours", "per_client"]) == 0
    captured = capsys.readouterr()
    assert requests(sandbox)["count"] == before  # everything was staged: the API is not asked again
    assert "staged already: nothing to extract" in captured.err
    assert captured.out.startswith("output per_client -> ")
    assert not (tmp_path / "out").exists()


def test_rows_and_a_step_or_source_by_name(sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "preview", "hours", "per_client", "--rows", "2"]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[-1].splitlines()  # header, rule, rows, "(2 of N rows)"
    assert table[0].split() == ["client_name", "hours"] and set(table[1]) <= {"-", " "}
    assert len(table) == 5 and re.fullmatch(r"\(2 of \d+ rows\)", table[-1])

    assert main(["flows", "preview", "hours", "billed", "--rows", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("step billed: join of entries, clients\n")
    assert "id_clients" in out and " of " not in out.splitlines()[-1]  # types only, no rows

    assert main(["flows", "preview", "hours", "entries", "--rows", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"source entries: hv time_entries, {FIRST} .. {AFTER - dt.timedelta(days=1)}")
    spent = re.findall(r"\b(\d{4}-\d{2}-\d{2})\b", out.split("columns 1-")[1])
    assert spent and FIRST.isoformat() <= spent[0] < AFTER.isoformat()  # only the flow's days


def test_wrong_names_say_what_exists(sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "preview", "hours", "biled"]) == 2
    err = capsys.readouterr().err
    assert "flow 'hours' has no step, output or source 'biled'; did you mean 'billed'?" in err
    assert "steps: billed, per_client; outputs: per_client, xlsx_billed; sources: entries, clients" in err
    assert "flow.yaml:" not in err and "Traceback" not in err
    assert main(["flows", "preview", "houres"]) == 2
    assert "did you mean 'hours'" in capsys.readouterr().err
    assert main(["flows", "preview", "hours", "--rows", "-1"]) == 2
    assert "--rows must be 0 or more" in capsys.readouterr().err
    assert requests(sandbox)["count"] == 0  # nothing was extracted for a mistyped command


def test_after_a_partial_run_only_the_missing_months_are_read(
    sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flows", "run", "hours", "--start", THIS_MONTH.isoformat()]) == 0  # this month only
    capsys.readouterr()
    ran = requests(sandbox, "/v2/time_entries")["requests"]
    httpx.post(f"{sandbox.base_url}/harvest/_admin/reset").raise_for_status()

    assert main(["flows", "preview", "hours", "--rows", "3"]) == 0
    err = capsys.readouterr().err
    older = [m for m in months(FIRST, AFTER) if m < THIS_MONTH.strftime("%Y-%m")]
    span = older[0] if len(older) == 1 else f"{older[0]}..{older[-1]}"
    assert f"staging hv time_entries {span} (missing)" in err
    assert "clients" not in err  # staged by the run: not read again
    log = requests(sandbox)["requests"]
    assert log and {r["path"] for r in log} == {"/v2/time_entries"}
    for r in log:  # only days before this month
        params = dict(r["params"])
        assert params["from"] >= f"{older[0]}-01" and params["to"] < THIS_MONTH.isoformat(), params
    assert ran and all(dict(r["params"])["from"] >= THIS_MONTH.isoformat() for r in ran)

    # the run's step assets carry the same kind of preview as metadata for the UI
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["flow", "hours", "per_client"]))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    preview = metadata["preview"]
    assert isinstance(preview, dg.TableMetadataValue)
    assert [c.name for c in preview.schema.columns] == ["client_name", "hours"]
    assert 0 < len(preview.records) <= 5 and metadata["rows"].value >= len(preview.records)


def test_long_values_are_cut_and_wide_tables_come_in_blocks() -> None:
    table = pa.table(
        {"id": [1, 22], "note": ["x" * 100, None], "line": ["a\nb", "c"], "rate": [0.1 + 0.2, 12.5]}
    )
    lines = render_rows(table, width=200).splitlines()
    assert lines[0].split() == ["id", "note", "line", "rate"]
    assert "x" * (CELL - 1) + "…" in lines[2] and "x" * CELL not in lines[2]
    assert lines[2].startswith(" 1  ") and lines[3].startswith("22  ")  # numbers to the right
    assert "a b" in lines[2] and lines[2].endswith("0.3")  # one line per row; 0.3, not 0.30000000000000004
    blocks = render_rows(table, width=40)
    assert blocks.startswith("columns 1-2 of 4:") and "\ncolumns 3-4 of 4:" in blocks
