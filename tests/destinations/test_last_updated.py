"""``last_updated`` as a flow file writes it: one setting on every tabular destination, checked when
flows load (file, line, key path and the fix), carried by an output to its writer. What it does to
the rows in each mode is in the contract suite (``test_contract``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pyarrow as pa
import pytest
import yaml
from pydantic import ValidationError

from destinations import all_destinations, get_destination
from destinations.base import Mode
from destinations.last_updated import WRITE_CLOCK, LastUpdated
from pipelines.loader import FlowError, load_flows
from pipelines.outputs import landing

TABULAR = [d.kind for d in all_destinations() if d.tabular]
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
SETTING_LINE = 11  # the kind is on line 10; its example's settings follow, then last_updated


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative output paths are checked from here


def flow_file(tmp_path: Path, kind: str, last_updated: Any) -> Path:
    """A flow whose output is the destination's example plus ``last_updated``, each setting on a line."""
    settings = {**get_destination(kind).example, "last_updated": last_updated}
    body = yaml.safe_dump({kind: settings}, sort_keys=False, default_flow_style=False, width=1000)
    path = tmp_path / "flow.yaml"
    path.write_text(HEAD + "".join(f"          {line}\n" for line in body.splitlines()))
    return path


def problems(tmp_path: Path, kind: str, last_updated: Any) -> str:
    with pytest.raises(FlowError) as info:
        load_flows([flow_file(tmp_path, kind, last_updated)])
    return str(info.value)


def line_of(kind: str) -> int:
    return SETTING_LINE + len(get_destination(kind).example)


@pytest.mark.parametrize("kind", TABULAR)
def test_every_tabular_destination_takes_the_same_setting(tmp_path: Path, kind: str) -> None:
    for written, meant in [
        (True, LastUpdated()),
        (False, None),
        ({"timezone": "Europe/Berlin"}, LastUpdated(column="_last_updated", timezone="Europe/Berlin")),
        ({"column": "Last updated"}, LastUpdated(column="Last updated", timezone="UTC")),
    ]:
        output = load_flows([flow_file(tmp_path, kind, written)]).flows["f"].outputs[0]
        assert output.to.settings.last_updated == meant
    settings = get_destination(kind).settings.model_validate(get_destination(kind).example)
    assert settings.last_updated is None  # off unless asked for


@pytest.mark.parametrize("kind", TABULAR)
def test_a_bad_time_zone_names_file_line_key_and_the_fix(tmp_path: Path, kind: str) -> None:
    msg = problems(tmp_path, kind, {"timezone": "Europe/Berln"})
    assert (
        f"flow.yaml:{line_of(kind) + 1}: flows.f.outputs.0.to.{kind}.last_updated.timezone: unknown time "
        "zone 'Europe/Berln': use an IANA name such as Europe/Berlin or UTC; did you mean 'Europe/Berlin'?"
    ) in msg


@pytest.mark.parametrize("kind", TABULAR)
def test_other_mistakes_are_caught_when_flows_load(tmp_path: Path, kind: str) -> None:
    key = f"flows.f.outputs.0.to.{kind}.last_updated"
    msg = problems(tmp_path, kind, "often")
    assert (
        f"flow.yaml:{line_of(kind)}: {key}: give true (a column _last_updated, times in UTC) or a mapping"
        in msg
    )
    inner = f"flow.yaml:{line_of(kind) + 1}: {key}"  # the mapping's keys are on lines of their own
    msg = problems(tmp_path, kind, {"colum": "x"})
    assert (
        f"{inner}.colum: unknown key 'colum'; did you mean 'column'? (allowed here: column, timezone)" in msg
    )
    msg = problems(tmp_path, kind, {"column": "_deleted_at"})
    assert f"{inner}.column: column '_deleted_at' is where soft deletes mark rows" in msg
    assert "flows.f.outputs.0.to" in problems(tmp_path, kind, {"column": " padded"})


def test_the_setting_is_frozen_and_hashable_like_the_rest_of_a_target() -> None:
    setting = LastUpdated(timezone="Asia/Kolkata")
    with pytest.raises(ValidationError, match="frozen"):
        setting.column = "x"  # type: ignore[misc]
    assert hash(setting) == hash(LastUpdated(timezone="Asia/Kolkata"))


@pytest.mark.parametrize("kind", ["duckdb", "excel"])
def test_a_flow_output_lands_with_the_column(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the flow file to the file on disk: the output's target carries the setting to its writer."""
    when = dt.datetime(2024, 6, 1, 6, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(WRITE_CLOCK, "now", lambda: when)
    path = flow_file(tmp_path, kind, {"column": "Last updated", "timezone": "Europe/Berlin"})
    output = load_flows([path]).flows["f"].outputs[0]
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "note": ["a", "b"]})
    landing(output, partitioned=True).write(table, Mode.REPLACE, ("id",), None, allow_empty=False)
    settings = output.to.settings
    if kind == "duckdb":
        with duckdb.connect(settings.path, read_only=True) as con:
            got = con.execute(f'SELECT DISTINCT "Last updated" FROM {settings.table}').fetchall()
        assert [v.astimezone(dt.UTC) for (v,) in got] == [when]  # an instant
    else:
        book = openpyxl.load_workbook(settings.path)
        sheet = book[settings.sheet]
        assert [c.value for c in sheet[1]] == ["id", "note", "Last updated"]
        assert sheet["C2"].value == dt.datetime(2024, 6, 1, 8, 0) and sheet["C2"].is_date  # 08:00 in Berlin
        book.close()
