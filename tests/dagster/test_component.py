"""``FlowsComponent`` (``dagster_project/component.py``): the flow files as a Dagster Component.

The shipped ``defs/flows/defs.yaml`` builds what ``build_definitions(load_catalog())`` builds, a
broken flow file beside a good one harms only itself, and ``dg check defs``/``dg list defs`` work
from the repository root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.build import build_definitions
from dagster_project.component import FlowsComponent
from pipelines.loader import SHIPPED, load_catalog

ROOT = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).parent / "dg"
BROKEN = """
flows:
  hours_per_client:
    sources:
      entries: {connection: clockodo, entity: entrys}
    outputs:
      - {from: entries, to: {duckdb: {table: hours_per_client}}}
"""


def summary(defs: dg.Definitions) -> tuple[set[dg.AssetKey], set[str], set[str], set[str]]:
    repo = defs.get_repository_def()
    return (
        set(repo.asset_graph.get_all_asset_keys()),
        set(repo.job_names) - {"__ASSET_JOB"},
        {s.name for s in repo.schedule_defs},
        {s.name for s in repo.sensor_defs},
    )


@pytest.fixture(autouse=True)
def shipped_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COUPLET_FLOWS", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))


def test_the_shipped_defs_folder_builds_what_build_definitions_builds() -> None:
    from_folder = dg.load_from_defs_folder(path_within_project=ROOT / "dagster_project")
    expected = summary(build_definitions(load_catalog()))
    assert summary(from_folder) == expected
    assert set(load_catalog().flow_file.flows) <= expected[1]


def test_a_broken_flow_file_harms_only_itself(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(SHIPPED / "clockodo.yaml", flows / "clockodo.yaml")  # a connection and a good flow
    (flows / "hours.yaml").write_text(BROKEN)
    component = FlowsComponent(flows=[str(flows)])
    keys, jobs, schedules, _ = summary(component.build_defs(dg.ComponentTree.for_test().load_context))
    good = set(load_catalog([flows / "clockodo.yaml"]).flow_file.flows)
    assert good and good <= jobs and "hours_per_client" not in jobs
    assert schedules == {f"{f}_schedule" for f in good}
    assert dg.AssetKey(["broken_flow_file", "hours"]) in keys


def test_a_missing_path_shows_as_a_problem_not_a_crash(tmp_path: Path) -> None:
    component = FlowsComponent(flows=["no/such/folder"])
    keys, jobs, _, _ = summary(component.build_defs(dg.ComponentTree.for_test().load_context))
    assert not jobs - {"all_flows"}
    assert any(k.path[0] == "broken_flow_file" for k in keys)


def test_couplet_flows_takes_the_place_of_flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(SHIPPED / "clockodo.yaml", tmp_path / "clockodo.yaml")
    monkeypatch.setenv("COUPLET_FLOWS", str(tmp_path / "clockodo.yaml"))
    context = dg.ComponentTree.for_test().load_context
    _, jobs, _, _ = summary(FlowsComponent(flows=[str(SHIPPED)]).build_defs(context))
    assert jobs == set(load_catalog([tmp_path / "clockodo.yaml"]).flow_file.flows) | {"all_flows"}
    _, jobs, _, _ = summary(FlowsComponent(flows=[str(SHIPPED)], use_env=False).build_defs(context))
    assert set(load_catalog().flow_file.flows) <= jobs


def dg_run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix, NO_COLOR="1")
    return subprocess.run(
        [str(DG), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_dg_check_and_list_defs_from_the_repository_root() -> None:
    check = dg_run("check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr
    listed = dg_run("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    jobs = {j["name"] for j in found["jobs"]}
    assert set(load_catalog().flow_file.flows) | {"all_flows"} <= jobs
    assert {s["name"] for s in found["schedules"]} == {
        f"{f}_schedule" for f, flow in load_catalog().flow_file.flows.items() if flow.schedule
    }
