"""``settings.executor: multiprocess``: every asset in its own process, and nothing breaks for it.

A flow run through ``couplet flows run`` with the multiprocess executor lands exactly the source's
rows, each asset having run in a process of its own. Two runs of one flow at once, on an instance
whose pools are limited to one slot, both succeed (their reads of the account queue on the pool
``source:<connection>``) and the sandbox's request log never shows more than its published rate in
any window: the pool keeps one step on the account at a time, and the limiter's state goes from each
step's process to the next (``pipelines.ratestate``).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from dagster_project.build import build_definitions
from dagster_project.flows_run import run_flows
from dagster_project.sqlite_storage import INSTANCE_YAML
from pipelines.loader import load_catalog, load_flows
from sandbox.common import RateWindow, SandboxOptions
from sandbox.server import client_env, start_background
from tests.connectors.test_ratelimit import busiest
from tests.faults.common import harvest_ids
from tests.worlds import HARVEST, world

COUPLET = Path(sys.executable).with_name("couplet")
ROOT = Path(__file__).resolve().parents[2]


def flow(executor: str = "multiprocess", extra: str = "") -> str:
    return f"""
settings: {{data_dir: data, partitions_start: 2025-01-01, executor: {executor}{extra}}}
connections:
  {HARVEST}
flows:
  hours:
    sources:
      entries: {{connection: hv, entity: time_entries}}
      clients: {{connection: hv, entity: clients}}
    outputs:
      - {{from: entries, to: {{duckdb: {{path: out/hours.duckdb, table: entries}}}}}}
      - {{from: clients, to: {{duckdb: {{path: out/hours.duckdb, table: clients}}}}}}
"""


def test_the_executor_setting_picks_dagsters_executor(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(flow(extra=", max_concurrent: 3"))
    executor = build_definitions(load_flows([path])).resolve_job_def("hours").executor_def
    assert executor.name == "multiprocess"
    assert executor.apply_config_mapping({}).value["config"]["max_concurrent"] == 3
    path.write_text(flow("in_process"))
    assert build_definitions(load_flows([path])).resolve_job_def("hours").executor_def.name == "in_process"


def test_max_concurrent_without_multiprocess_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(flow("in_process", ", max_concurrent: 3"))
    problems = [str(p) for p in load_catalog([path]).problems]
    assert any("max_concurrent applies to executor: multiprocess only" in p for p in problems), problems
    assert all(f"{path}:" in p for p in problems)


def worker_pids(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """Step key -> the pid of the process that ran it (events of the multiprocess executor)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED).records
    return {
        r.event_log_entry.step_key or "": r.event_log_entry.dagster_event.pid or 0  # type: ignore[union-attr]
        for r in records
    }


def test_a_multiprocess_run_lands_exactly_the_sources_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with world(monkeypatch, tmp_path, flow(), days=20) as server:
        printed = io.StringIO()
        assert run_flows(["hours"], load_catalog(), out=printed) == 0
        truth = harvest_ids(server.base_url, dict(os.environ))
        instance = dg.DagsterInstance.get()
        run = instance.get_run_records(limit=1)[0].dagster_run
        pids = worker_pids(instance, run.run_id)
    assert len(pids) == 4 and os.getpid() not in pids.values()  # each asset in a process of its own
    progress = [line for line in printed.getvalue().splitlines() if line.startswith("  done ")]
    assert len(progress) == 4  # each asset as it finished (read from the event log), then the table
    with duckdb.connect(str(tmp_path / "out" / "hours.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT count(*), count(DISTINCT id) FROM entries").fetchone()
        ids = {r[0] for r in con.execute("SELECT id FROM entries").fetchall()}
    assert truth and ids == truth and rows == (len(truth), len(truth))


WINDOW = RateWindow(4, 10)  # the sandbox's published limit for the test
# Two ranges of four months: four requests each (Harvest windows are at most 31 days), and no run
# can reuse what the other read (a source is read once per refresh only for the same days).
RANGES = (("2025-01-01", "2025-05-01"), ("2025-05-01", "2025-09-01"))  # --end: the day after


@pytest.mark.timeout(480)  # two runs of a few processes each, on a machine of two cores
def test_two_runs_at_once_queue_on_the_pool_and_keep_the_published_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # couplet's own instance (kept SQLite connections, batched events) with a pool limit of 1: the
    # run workers and the CLI share it across processes
    (home / "dagster.yaml").write_text(INSTANCE_YAML + "concurrency:\n  pools:\n    default_limit: 1\n")
    (tmp_path / "flow.yaml").write_text(flow())
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # couplet's storage finds its folder by it
    with dg.DagsterInstance.from_config(str(home)):
        pass  # its databases exist before two processes open it (creating them at once races)
    server = start_background(SandboxOptions(rate_limits={"harvest": (WINDOW,)}))
    try:
        env = {
            **os.environ,
            **client_env(server.base_url),
            "HARVEST_RATE_LIMIT": f"{WINDOW.limit}/{int(WINDOW.seconds)}s",  # the published limit
            "COUPLET_FLOWS": str(tmp_path / "flow.yaml"),
            "DAGSTER_HOME": str(home),
            "PYTHONPATH": str(ROOT),
        }
        runs = [
            subprocess.Popen(
                [str(COUPLET), "flows", "run", "hours", "--start", first, "--end", after],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for first, after in RANGES
        ]
        try:
            outputs = [r.communicate(timeout=420)[0] for r in runs]
        finally:
            for r in runs:
                if r.poll() is None:
                    r.kill()
                    r.wait()
        log = httpx.get(server.base_url + "/harvest/_admin/requests", timeout=30).json()["requests"]
    finally:
        server.stop()
    for r, out in zip(runs, outputs, strict=True):
        assert r.returncode == 0, out[-3000:]  # queued, not failed
    api = [r for r in log if r["path"].startswith("/v2/")]
    assert len(api) > WINDOW.limit  # enough requests for the window to matter
    assert all(r["status"] == 200 for r in api)  # none refused with a 429
    assert busiest(sorted(r["at"] for r in api), WINDOW.seconds) <= WINDOW.limit
    with dg.DagsterInstance.from_config(str(home)) as instance:
        done = instance.get_run_records()
        assert len(done) == 2 and all(r.dagster_run.is_success for r in done)
        assert all(worker_pids(instance, r.dagster_run.run_id) for r in done)
