"""The deployment of ``deploy/`` for real (issue 12, item 6): PostgreSQL, an S3 imitation (moto) and
the Dagster daemon with the queued run coordinator and the pools of ``deploy/dagster.yaml``.

A Harvest flow lands in DuckDB with its data dir on S3 and the multiprocess executor. Its schedule
ticks every minute; the moment the daemon has launched the first scheduled run, a backfill of every
partition of the same flow is launched through the webserver's GraphQL API, so the two runs read one
account and write one DuckDB file at the same time. Then:

- every entry of the sandbox is in the destination exactly once;
- the sandbox's request log never holds more requests than the published rate in any window (and
  no 429);
- no run met a DuckDB lock error, and every run succeeded;
- the staged Parquet is in the S3 bucket (and nowhere on local disk).

Marked ``scale``: the normal ``make test`` deselects it; ``make test-scale`` runs it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from connectors import get_source
from sandbox.server import RunningServer, client_env, start_background
from tests.faults.common import harvest_ids
from tests.scale.services import (
    LOCATION,
    S3,
    Deployment,
    Postgres,
    dagster_home,
    deployment,
    moto_s3,
    postgres,
)

pytestmark = [pytest.mark.scale, pytest.mark.timeout(900)]

BUCKET, PREFIX = "couplet-scale", "staging"
TODAY = dt.datetime.now(dt.UTC).date()
START = (TODAY.replace(day=1) - dt.timedelta(days=70)).replace(day=1)  # three months back
FLOW, SCHEDULE = "hours", "hours_schedule"
LOCK_ERROR = re.compile(r"Could not set lock|Conflicting lock|database is locked", re.IGNORECASE)
POOL_WAIT = re.compile(r"blocked by limit for pool (\S+)")
DONE = {"SUCCESS", "FAILURE", "CANCELED"}
# A plan far below Harvest's published 100 per 15 s, so that the test's few requests can break it:
# a step's burst of parallel pages, or a new step's process starting with an empty send log.
PLAN_REQUESTS, PLAN_SECONDS = 5, 10
RATE = f"{PLAN_REQUESTS}/{PLAN_SECONDS}s"

FLOW_FILE = """
settings: {{data_dir: "s3://{bucket}/{prefix}", partitions_start: {start}, executor: multiprocess}}
connections:
  hv: {{connector: harvest, access_token: {{env: HARVEST_ACCESS_TOKEN}}, account_id: {{env: HARVEST_ACCOUNT_ID}}, base_url: {{env: HARVEST_BASE_URL}}, rate_limit: "{rate}"}}
flows:
  hours:
    sources:
      entries: {{connection: hv, entity: time_entries, lookback_days: 20}}
      projects: {{connection: hv, entity: projects}}
      users: {{connection: hv, entity: users}}
    outputs:
      - {{from: entries, to: {{duckdb: {{path: "{duckdb}", table: entries}}}}, mode: upsert}}
      - {{from: projects, to: {{duckdb: {{path: "{duckdb}", table: projects}}}}}}
      - {{from: users, to: {{duckdb: {{path: "{duckdb}", table: users}}}}}}
    schedule: {{cron: "* * * * *", timezone: UTC}}
"""


def months(start: dt.date, last: dt.date) -> list[str]:
    out, day = [], start.replace(day=1)
    while day <= last:
        out.append(day.strftime("%Y-%m"))
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def harvest_truth(base_url: str, env: dict[str, str]) -> set[int]:
    """Every time entry id since START, read by the test's own paging (no couplet code)."""
    return harvest_ids(base_url, env, START, None)


def busiest(sent: list[float], per_seconds: float) -> int:
    """The most requests that arrived within any ``per_seconds`` (half-open)."""
    return max((bisect.bisect_left(sent, t + per_seconds) - i for i, t in enumerate(sent)), default=0)


# -- GraphQL ---------------------------------------------------------------------------------------

REPO_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}

ASSETS = "query { assetNodes { assetKey { path } jobNames isPartitioned } }"
SCHEDULE_STATE = """
query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) { __typename
  ... on Schedule { scheduleState { id status } } ... on PythonError { message } } }
"""
STOP_SCHEDULE = """
mutation($id: String!) { stopRunningSchedule(id: $id) { __typename
  ... on PythonError { message } } }
"""
LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) { __typename
  ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } ... on Error { message } } }
"""
BACKFILL = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status } ... on PythonError { message } } }
"""


def launch_backfill(dep: Deployment) -> str:
    nodes = dep.graphql(ASSETS)["assetNodes"]
    keys = [{"path": n["assetKey"]["path"]} for n in nodes if FLOW in n["jobNames"]]
    assert any(n["isPartitioned"] for n in nodes if FLOW in n["jobNames"])
    params = {"assetSelection": keys, "partitionNames": months(START, TODAY), "title": "scale test"}
    result = dep.graphql(LAUNCH_BACKFILL, {"p": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return str(result["backfillId"])


def stop_schedule(dep: Deployment) -> None:
    state = dep.graphql(SCHEDULE_STATE, {"s": {**REPO_SELECTOR, "scheduleName": SCHEDULE}})
    state_id = state["scheduleOrError"]["scheduleState"]["id"]
    result = dep.graphql(STOP_SCHEDULE, {"id": state_id})["stopRunningSchedule"]
    assert result["__typename"] == "ScheduleStateResult", result


# -- the scenario ----------------------------------------------------------------------------------


@pytest.fixture
def services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Postgres, S3, RunningServer, Path]]:
    with postgres() as pg, moto_s3(tmp_path, [BUCKET]) as s3, start_background() as sandbox:
        for name, value in {**pg.env(), **s3.env()}.items():
            monkeypatch.setenv(name, value)
        yield pg, s3, sandbox, tmp_path


def why_failed(instance: Any, run_id: str) -> str:
    """The failed steps of a run with the first line of each error."""
    import dagster as dg

    lines = [f"run {run_id}:"]
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        error = record.dagster_event.step_failure_data.error
        lines.append(
            f"  {record.step_key}: {(error.message if error else record.message).splitlines()[0][:300]}"
        )
    return "\n".join(lines)


def wait_for(what: str, check: Any, dep: Deployment, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dep.check_alive()
        found = check()
        if found:
            return found
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def test_scheduled_run_and_backfill_together_on_postgres_and_s3(
    services: tuple[Postgres, S3, RunningServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    _pg, s3, sandbox, work = services
    flows, out = work / "flows", work / "out"
    flows.mkdir()
    out.mkdir()
    warehouse = out / "hours.duckdb"
    flows.joinpath("hours.yaml").write_text(
        FLOW_FILE.format(bucket=BUCKET, prefix=PREFIX, start=START.isoformat(), duckdb=warehouse, rate=RATE)
    )
    home = dagster_home(work / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    sources = client_env(sandbox.base_url)
    env = {**os.environ, **sources, "COUPLET_FLOWS": str(flows), "DAGSTER_HOME": str(home)}

    # Every pool's limit set before any run claims it, as deploy/README.md does (Dagster #33552).
    pools = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "flows", "pools", "--set"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pools.returncode == 0, pools.stderr
    assert "source:hv" in pools.stdout and "set now" in pools.stdout, pools.stdout

    with deployment(work, env) as dep, dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"

        def runs() -> list[dg.DagsterRun]:
            return list(instance.get_runs())

        scheduled = wait_for(
            "a run launched by the schedule's tick",
            lambda: [r for r in runs() if r.tags.get("dagster/schedule_name") == SCHEDULE],
            dep,
            180,
        )
        backfill_id = launch_backfill(dep)
        stop_schedule(dep)

        def backfill_done() -> bool:
            status = dep.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]["status"]
            return status in (
                "COMPLETED",
                "COMPLETED_SUCCESS",
                "COMPLETED_FAILED",
                "FAILED",
                "CANCELED",
            ) and all(r.status.value in DONE for r in runs())

        wait_for("the scheduled run and the backfill to finish", backfill_done, dep, 600)
        all_runs = runs()

        # Both kinds of run happened, and every run succeeded.
        backfill_runs = [r for r in all_runs if r.tags.get("dagster/backfill") == backfill_id]
        assert scheduled and backfill_runs, [r.tags for r in all_runs]
        failed = [r for r in all_runs if r.status != dg.DagsterRunStatus.SUCCESS]
        assert not failed, f"runs not successful (log: {work}/code-server.log):\n" + "\n".join(
            why_failed(instance, r.run_id) for r in failed
        )

        # No DuckDB lock error in any run's events; steps ran in their own processes (multiprocess).
        # The pools of deploy/dagster.yaml held steps back (source:<connection>, duckdb:<file>).
        worker_steps, pool_waits = 0, set()
        for run in all_runs:
            for record in instance.all_logs(run.run_id):
                text = record.message + " " + str(record.dagster_event or "")
                assert not LOCK_ERROR.search(text), f"run {run.run_id}: {text[:500]}"
                worker_steps += record.dagster_event_type == dg.DagsterEventType.STEP_WORKER_STARTED
                pool_waits |= set(POOL_WAIT.findall(record.message))
        assert worker_steps > 0, "no step ran in a worker process: the multiprocess executor was not used"
        assert "source:hv" in pool_waits, f"no step waited for the pool source:hv ({pool_waits})"

    # The request log (read before the test's own reads below): within every published window of
    # Harvest, and never a 429.
    log = httpx.get(sandbox.base_url + "/harvest/_admin/requests", timeout=60).json()
    assert log["count"] == len(log["requests"]), "the request log overflowed: raise request_log_size"
    sent = sorted(r["at"] for r in log["requests"])
    assert sent, "the sandbox saw no request"
    for limit in get_source("harvest").rate_limits:
        assert busiest(sent, limit.per_seconds) <= limit.requests, f"{limit} exceeded"
    # The connection's own, much smaller plan: a handful of requests spread over several steps, each
    # its own process, and two runs, so only the pool plus the hand-over of the send log keep it.
    assert busiest(sent, PLAN_SECONDS) <= PLAN_REQUESTS, f"{RATE} exceeded across processes"
    assert not [r for r in log["requests"] if r["status"] == 429]

    # Every entry exactly once in the destination, against the sandbox's own truth.
    truth = harvest_truth(sandbox.base_url, sources)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ids = [r[0] for r in con.execute('SELECT id FROM "entries"').fetchall()]
    assert len(ids) == len(set(ids)), "an entry landed twice"
    assert set(ids) == truth, f"missing {len(truth - set(ids))}, extra {len(set(ids) - truth)}"

    # Staging on S3: Parquet of every backfilled month, nothing staged on local disk.
    keys = s3.keys(BUCKET, PREFIX + "/")
    assert any(k.endswith(".parquet") for k in keys), keys[:20]
    for month in months(START, TODAY):
        assert any("time_entries" in k and month in k for k in keys), f"no staged time_entries of {month}"
    assert not list(work.glob("**/*.parquet")), "something was staged on local disk"
