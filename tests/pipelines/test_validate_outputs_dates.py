"""Caught when flows load, not mid-run: unwritable output paths, keys the data lacks, dates that do not exist.

Each problem names the file, the line and the key path and says how to fix it; the flow with the
problem is set aside, the others in the file still load, and ``couplet flows validate`` prints it
without a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagster_project.cli import main
from pipelines import check_outputs
from pipelines.loader import FlowError, load_catalog, load_flows

FLOW = """\
settings:
  partitions_start: 2025-01-01
connections:
  cl: {connector: clockodo, api_user: {env: CL_USER}, api_key: {env: CL_KEY}}
flows:
  f:
    sources:
      entries: {connection: cl, entity: entries, dates: {start: 2025-06-01}}
    steps:
      - aggregate: {from: entries, group_by: [users_id], metrics: {seconds: {sum: duration}}, as: per_person}
      - filter: {from: entries, where: [{column: time_since, op: ge, value: 2025-07-01}], as: recent}
    outputs:
      - {from: per_person, to: {duckdb: {path: OUT/w.duckdb, table: hours}}, mode: upsert, primary_key: [users_id]}
      - {from: entries, to: {excel: {path: OUT/x/y/report.xlsx, sheet: Entries}}, mode: upsert, primary_key: [id]}
  other:
    sources:
      users: {connection: cl, entity: users}
    outputs:
      - {from: users, to: {duckdb: {path: OUT/other.duckdb, table: users}}}
"""


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def write(tmp_path: Path, out: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(text.replace("OUT", str(out)))
    return path


def problems(path: Path) -> list[str]:
    catalog = load_catalog([path])
    assert set(catalog.flow_file.flows) == {"other"}  # the broken flow is set aside, not the file
    return [str(p) for p in catalog.problems]


def test_a_good_file_loads(tmp_path: Path, out: Path) -> None:
    flows = load_flows([write(tmp_path, out, FLOW)])  # folders to be created are fine
    assert set(flows.flows) == {"f", "other"}


def test_an_output_path_that_is_a_folder(tmp_path: Path, out: Path) -> None:
    (out / "w.duckdb").mkdir()
    path = write(tmp_path, out, FLOW)
    assert problems(path) == [
        f"{path}:13: flows.f.outputs.0.to.duckdb.path: '{out}/w.duckdb' is a folder; name a file inside it, "
        f"e.g. path: {out}/w.duckdb/warehouse.duckdb"
    ]


def test_an_output_path_under_a_file(tmp_path: Path, out: Path) -> None:
    (out / "x").write_text("not a folder")
    path = write(tmp_path, out, FLOW)
    assert problems(path) == [
        f"{path}:14: flows.f.outputs.1.to.excel.path: '{out}/x/y/report.xlsx' lies under '{out}/x', which is "
        f"a file, not a folder; choose a path in a folder (e.g. path: {out}/report.xlsx) or move that file away"
    ]


def test_an_output_folder_that_is_not_writable(
    tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (out / "x").mkdir()
    (out / "x").chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere: play a user without write permission there
        real = os.access
        monkeypatch.setattr(
            check_outputs.os, "access", lambda p, mode: real(p, mode) and Path(p) != out / "x"
        )
    try:
        path = write(tmp_path, out, FLOW)
        assert problems(path) == [
            f"{path}:14: flows.f.outputs.1.to.excel.path: cannot create '{out}/x/y/report.xlsx': the folder "
            f"'{out}/x' is not writable for this user; choose a folder you can write to, or change its permissions"
        ]
    finally:
        (out / "x").chmod(0o755)


def test_a_primary_key_the_data_lacks(tmp_path: Path, out: Path) -> None:
    text = FLOW.replace("primary_key: [users_id]", "primary_key: [user_id]").replace(
        "primary_key: [id]", "primary_key: [ID]"
    )
    path = write(tmp_path, out, text)
    step, source = problems(path)
    assert step.startswith(
        f"{path}:13: flows.f.outputs.0.primary_key: primary key column 'user_id' is not a column of "
        "'per_person'; did you mean 'users_id'? (its columns: users_id, seconds); set primary_key to "
        "columns 'per_person' has"
    )
    assert source.startswith(
        f"{path}:14: flows.f.outputs.1.primary_key: primary key column 'ID' is not a column of 'entries'; "
        "did you mean 'id'? (its columns: id, "
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "where"),
    [
        ("partitions_start: 2025-01-01", "partitions_start: 2026-13-45", 2, "settings.partitions_start"),
        (
            "dates: {start: 2025-06-01}",
            "dates: {start: 2025-02-30}",
            8,
            "flows.f.sources.entries.dates.start",
        ),
        ("value: 2025-07-01}", "value: 2025-07-32}", 11, "flows.f.steps.1.filter.where.0.value"),
    ],
)
def test_a_date_that_does_not_exist(
    tmp_path: Path, out: Path, old: str, new: str, line: int, where: str
) -> None:
    path = write(tmp_path, out, FLOW.replace(old, new))
    bad = new.split(": ")[-1].strip("{}")
    with pytest.raises(FlowError) as info:
        load_flows([path])
    (problem,) = info.value.problems
    assert str(problem).startswith(f"{path}:{line}: {where}: {bad} is not a date (")
    assert str(problem).endswith("); write a real day as YYYY-MM-DD, e.g. 2026-01-31")


def test_a_quoted_date_that_does_not_exist(tmp_path: Path, out: Path) -> None:
    path = write(tmp_path, out, FLOW.replace("{start: 2025-06-01}", '{start: "2025-06-31"}'))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:8: flows.f.sources.entries.dates.start: Input should be a valid date")
    assert problem.endswith("write a real day as YYYY-MM-DD, e.g. 2026-01-31")


def test_flows_validate_reports_them_without_a_traceback(
    tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (out / "w.duckdb").mkdir()
    path = write(tmp_path, out, FLOW.replace("2025-01-01", "2025-13-01"))
    monkeypatch.setenv("COUPLET_FLOWS", str(path))
    assert main(["flows", "validate"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: settings.partitions_start: 2025-13-01 is not a date" in err
    assert f"{path}:13: flows.f.outputs.0.to.duckdb.path: '{out}/w.duckdb' is a folder" in err
    assert "2 problem(s)" in err and "Traceback" not in err
