"""A flow file with a typo beside the shipped ones: the CLI and Dagster keep every healthy flow.

The CLI lists the healthy flows, names the broken file with ``file:line: key.path: problem`` and a
"did you mean", never a traceback; ``--help`` and the commands that need no Dagster do not load it.
In Dagster the healthy flows keep their assets, jobs and schedules, and the broken file shows in
the UI as an asset of the ``broken_flow_files`` group whose description lists its problems.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.build import build_definitions
from dagster_project.cli import main
from pipelines.loader import SHIPPED, load_catalog

TYPO = """
flows:
  hours_per_client:
    sources:
      entries: {connection: clockodo, entity: entrys}
      customers: {connection: clockodo, entity: customers}
    steps:
      - join: {left: entries, right: customers, on: {customers_id: id}, as: joined}
    outputs:
      - {from: joined, to: {duckdb: {table: hours_per_client}}}
    schedul: {cron: "0 6 * * *", timezone: Europe/Berlin}
"""


@pytest.fixture
def typo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hours.yaml"
    path.write_text(TYPO)
    monkeypatch.setenv("COUPLET_FLOWS", f"{SHIPPED}{os.pathsep}{path}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return path


def test_the_cli_lists_healthy_flows_and_names_every_problem(
    typo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flows", "list"]) == 0
    captured = capsys.readouterr()
    assert "clockodo_warehouse:" in captured.out and "billable_export:" in captured.out
    assert "hours_per_client: set aside" in captured.out
    assert (
        f"{typo}:5: flows.hours_per_client.sources.entries.entity: clockodo has no entity 'entrys'; did you mean 'entries'?"
        in captured.err
    )
    assert (
        f"{typo}:11: flows.hours_per_client.schedul: unknown key 'schedul'; did you mean 'schedule'?"
        in captured.err
    )
    assert "Traceback" not in captured.err

    assert main(["flows", "validate"]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "did you mean 'entries'?" in err and "clockodo_warehouse" in err
    assert main(["flows", "show", "hours_per_client"]) == 2
    assert "set aside" in capsys.readouterr().err
    assert main(["flows", "run", "hours_per_client"]) == 2
    assert main(["flows", "show", "clockodo_warehous"]) == 2
    assert "did you mean 'clockodo_warehouse'?" in capsys.readouterr().err


def test_dagster_keeps_the_healthy_flows_and_shows_the_broken_file(typo: Path) -> None:
    defs = build_definitions(load_catalog())
    repo = defs.get_repository_def()
    shipped = load_catalog(sorted(SHIPPED.glob("*.yaml")))
    assert set(shipped.flow_file.flows) <= set(repo.job_names)
    assert {s.name for s in repo.schedule_defs} == {f"{f}_schedule" for f in shipped.flow_file.flows}
    spec = next(
        s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey(["broken_flow_file", "hours"])
    )
    assert spec.group_name == "broken_flow_files"
    assert str(typo) in (spec.description or "") and "did you mean 'schedule'?" in (spec.description or "")


def python(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, check=True
    )
    return result.stdout


def test_commands_that_need_no_dagster_do_not_load_it(typo: Path) -> None:
    env = {"COUPLET_FLOWS": os.environ["COUPLET_FLOWS"], "DAGSTER_HOME": os.environ["DAGSTER_HOME"]}
    probe = (
        "import sys, contextlib, io\n"
        "from dagster_project.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    try:\n"
        "        main(sys.argv[1:] or {args})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('dagster', 'pyarrow', 'duckdb', 'pipelines') if m in sys.modules))\n"
    )
    assert python(probe.format(args=["--help"]), env).strip() == "[]"
    assert python(probe.format(args=["extract", "--help"]), env).strip() == "[]"
    for args in (["flows", "validate"], ["flows", "list"], ["flows", "show", "clockodo_billing"]):
        assert "'dagster'" not in python(probe.format(args=args), env)


def test_steps_are_planned_once_on_one_connection_per_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    from pipelines import steps

    opened: list[int] = []
    real = duckdb.connect

    def counting(*args, **kwargs):
        opened.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(steps.duckdb, "connect", counting)
    catalog = load_catalog(sorted(SHIPPED.glob("*.yaml")))
    with_steps = [f for f in catalog.flow_file.flows.values() if f.steps]
    assert len(opened) == len(with_steps)
    plans = dict(catalog.plans)
    build_definitions(catalog)
    assert len(opened) == len(with_steps)  # building the definitions reused the plans
    assert all(catalog.plans[n] is plans[n] for n in plans)
