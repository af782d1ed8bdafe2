"""The cookbook (``pipelines/flows/examples/``, listed in docs/flows.md): every example loads without a
problem, stays out of the default flows, and runs against the sandbox to a plausible result."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.cli import main
from pipelines.loader import SHIPPED, flow_paths, load_catalog
from tests.worlds import world

EXAMPLES = SHIPPED / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))
DOCS = Path(__file__).parents[2] / "docs" / "flows.md"
TODAY = dt.datetime.now(dt.UTC).date()
START = (TODAY - dt.timedelta(days=59)).isoformat()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_loads_without_problems(path: Path) -> None:
    catalog = load_catalog(
        [EXAMPLES / "connections.yaml", path] if path.name != "connections.yaml" else [path]
    )
    assert catalog.problems == []
    assert path.name == "connections.yaml" or catalog.flow_file.flows


def test_the_folder_loads_as_a_whole_and_not_by_default() -> None:
    catalog = load_catalog(flow_paths(str(EXAMPLES)))
    assert catalog.problems == []
    assert len(catalog.flow_file.flows) >= 7
    assert not any(p.parent == EXAMPLES for p in flow_paths(""))  # the shipped flows only
    cookbook = DOCS.read_text().split("## Cookbook", 1)[1].split("\n## ", 1)[0]
    for name in catalog.flow_file.flows:  # each example is in the cookbook of docs/flows.md, runnable
        assert re.search(rf"couplet flows run [\w ]*\b{name}\b", cookbook), name


def _rows(path: str, sql: str) -> list[tuple]:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_example_runs_against_the_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with world(monkeypatch, tmp_path, "", days=60, users=3):
        shutil.copytree(EXAMPLES, tmp_path / "examples")
        monkeypatch.setenv("COUPLET_FLOWS", str(tmp_path / "examples"))
        names = sorted(load_catalog().flow_file.flows)
        assert main(["flows", "run", *names, "--start", START]) == 0
    out = "data/examples/"

    weekly = _rows(out + "weekly_hours_per_client.duckdb", "SELECT client, week, hours FROM weekly_hours")
    assert weekly and all(r[0] and r[2] > 0 for r in weekly)
    assert all(r[1].weekday() == 0 for r in weekly)  # weeks start on Monday

    open_ = _rows(out + "outstanding_invoices.duckdb", "SELECT due_amount, days_overdue FROM outstanding")
    assert all(r[0] > 0 and r[1] >= 0 for r in open_)
    owed = _rows(out + "outstanding_invoices.duckdb", "SELECT sum(due_amount) FROM owed_per_client")
    assert owed[0][0] == pytest.approx(sum(r[0] for r in open_)) if open_ else owed[0][0] is None

    db = out + "absence_days_and_overtime.duckdb"
    assert _rows(db, "SELECT count(*) FROM overtime")[0][0] == 3  # one report per person this year
    assert _rows(db, "SELECT count(*) FROM over_target WHERE worked_hours <= target_hours")[0][0] == 0
    assert _rows(db, "SELECT count(*) FROM absence_days WHERE working_days < 1 OR name IS NULL")[0][0] == 0

    db = out + "three_tools_stacked.duckdb"
    tools = dict(_rows(db, "SELECT tool, count(*) FROM time_entries GROUP BY tool"))
    assert set(tools) == {"clockodo", "clockify", "harvest"} and min(tools.values()) > 0
    total = _rows(db, "SELECT sum(entries) FROM hours_per_person_day")[0][0]
    assert total == sum(tools.values())

    db = out + "assignments_vs_hours.duckdb"
    kinds = _rows(
        db,
        "SELECT count(*) FILTER (assigned), count(*) FILTER (entries > 0), count(*),"
        " count(DISTINCT (project_id, user_id)) FROM assignments_vs_hours",
    )[0]
    assert kinds[0] > 0 and kinds[1] > 0  # rows from both sides
    assert kinds[2] == kinds[3]  # one row per project and person
    assert (
        _rows(db, "SELECT count(*) FROM assignments_vs_hours WHERE NOT assigned AND entries = 0")[0][0] == 0
    )

    db = out + "schedules.duckdb"
    assert _rows(db, "SELECT count(*) FROM hours_today")[0][0] >= 0
    months = _rows(db, "SELECT DISTINCT month FROM monthly_hours")
    first = TODAY.replace(day=1)
    assert months == [((first - dt.timedelta(days=1)).strftime("%Y-%m"),)]
