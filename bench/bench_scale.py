"""Scale benchmark: N client accounts through the queued run coordinator on PostgreSQL. Run by hand.

    .venv/bin/python bench/bench_scale.py                                # 50 accounts, both DuckDB layouts
    .venv/bin/python bench/bench_scale.py --accounts 10 --entries-per-account 2000 --duckdb shared
    .venv/bin/python bench/bench_scale.py --max-concurrent-runs 4 --latency-ms 0 --json /tmp/scale.json
    .venv/bin/python bench/bench_scale.py --accounts 10 --entries-per-account 100000 --no-set-pools

What runs, for each DuckDB layout of ``--duckdb`` (``scale_config.py``: one file per account, or
one file shared by all):

1. a sandbox process serving ``--accounts`` Harvest accounts (``sandbox/accounts.py``), each with
   its own token, account id, request log and Harvest's published limit (100 requests / 15 s), all
   serving the same agency of ``--entries-per-account`` time entries in May 2026;
2. a fresh PostgreSQL and the Dagster deployment of ``deploy/dagster.yaml`` (code server, daemon,
   webserver; ``tests/scale/services.py``), with ``max_concurrent_runs`` set to
   ``--max-concurrent-runs`` in the copy this run uses, pools at their default limit 1;
3. one flow per account (``client_001`` ...), launched all at once through the webserver's GraphQL
   ``launchRun`` (what the UI and ``dg launch`` do): every run enters the queue, the daemon starts
   them as slots free up. Every pool's limit is set to 1 first (``set_pools``, what ``couplet flows
   pools --set`` does), unless ``--no-set-pools``.

Measured (``scale_measure.py``): wall seconds from the first launch to the last run's end, rows
read back from DuckDB per second; per run the seconds queued (enqueued -> the daemon takes it),
starting (-> the run's process runs) and running, the wait before its publish step (the DuckDB
pool) and the publish step; per account the requests, the most of them in any 15 s (against the
100 allowed) and the 429s; the event rows PostgreSQL stored per run and per second, the rows it
wrote (``pg_stat_database``) and, after the runs, how many events per second it can store; the CPU
seconds of each process tree (code server with its run workers, daemon, webserver, sandbox,
PostgreSQL). Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.scale.services (bench/ itself is sys.path[0])

from bench_peer import commit, machine  # noqa: E402
from scale_config import (  # noqa: E402
    ANCHOR,
    DUCKDB_MODES,
    HISTORY_DAYS,
    account_env,
    account_name,
    duckdb_target,
    run_tags,
    write_flow_file,
)
from scale_cpu import CpuClock, TreeCpu  # noqa: E402
from scale_measure import (  # noqa: E402
    Scenario,
    account_requests,
    db_writes,
    event_write_capacity,
    rows_landed,
    run_events,
)

from destinations.duckdb import file_pool  # noqa: E402
from tests.scale.services import (  # noqa: E402
    LOCATION,
    Deployment,
    ServiceError,
    dagster_home,
    deployment,
    postgres,
    wait_until,
)

PY = sys.executable
DONE = {"SUCCESS", "FAILURE", "CANCELED"}
LAUNCH = """
mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on Error { message } } }
"""
SET_POOL = (
    "mutation($key: String!, $limit: Int!) { setConcurrencyLimit(concurrencyKey: $key, limit: $limit) }"
)
RUNS = """
query($ids: [String!]) { runsOrError(filter: {runIds: $ids}) { __typename
  ... on Runs { results { runId jobName status } } ... on PythonError { message } } }
"""


# -- the sandbox process ---------------------------------------------------------------------------


def serve_sandbox(port: int, args: argparse.Namespace) -> None:
    """The sandbox process (``--serve-sandbox PORT``): runs until terminated."""
    from sandbox.accounts import serve_accounts
    from sandbox.common import SandboxOptions
    from sandbox.org import OrgOptions

    users = max(12, args.entries_per_account // 250)  # ~10 entries per person and working day
    org = OrgOptions(
        anchor=ANCHOR, history_days=HISTORY_DAYS, users=users, target_entries=args.entries_per_account
    )
    options = SandboxOptions(org=org, latency_ms=args.latency_ms, request_log_size=50_000)
    serve_accounts(args.accounts, options, port=port)


@contextlib.contextmanager
def sandbox(args: argparse.Namespace, work: Path) -> Iterator[tuple[str, int]]:
    """The sandbox process serving the accounts: (its URL, its pid)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [PY, __file__, "--serve-sandbox", str(port), "--accounts", str(args.accounts)]
    command += ["--entries-per-account", str(args.entries_per_account), "--latency-ms", str(args.latency_ms)]
    url = f"http://127.0.0.1:{port}"
    with open(work / "sandbox.log", "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until(
            lambda: httpx.get(url + "/healthz", timeout=5).is_success,
            "the sandbox",
            120,
            work / "sandbox.log",
        )
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- one scenario ----------------------------------------------------------------------------------


def set_max_concurrent_runs(home: Path, runs: int) -> None:
    """The run queue's limit in this run's copy of ``deploy/dagster.yaml`` (the file itself unchanged)."""
    path = home / "dagster.yaml"
    config = yaml.safe_load(path.read_text())
    config.setdefault("concurrency", {}).setdefault("runs", {})["max_concurrent_runs"] = runs
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def launch(dep: Deployment, job: str) -> str:
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": job},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in run_tags().items()]},
    }
    result = dep.graphql(LAUNCH, {"p": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise ServiceError(f"launching {job}: {result['__typename']}: {result.get('message')}")
    return str(result["run"]["runId"])


def set_pools(dep: Deployment, work: Path, accounts: int, mode: str) -> None:
    """Every pool the runs use set to 1 explicitly, before any run claims it. Left to the instance's
    ``default_limit``, the first claims of a new pool insert its row; when two run workers do that
    at once on PostgreSQL, the loser's transaction is aborted and its run fails (Dagster issue
    #33552, open for 1.13.27). A pool set explicitly is never initialized by a run."""
    pools = {f"source:{account_name(i)}" for i in range(1, accounts + 1)}  # dagster_project.raw.source_pool
    pools |= {file_pool(duckdb_target(work, i, mode)["path"]) for i in range(1, accounts + 1)}
    for pool in sorted(pools):
        if not dep.graphql(SET_POOL, {"key": pool, "limit": 1})["setConcurrencyLimit"]:
            raise ServiceError(f"could not set the limit of pool {pool}")


def wait_for_runs(dep: Deployment, ids: list[str], timeout: float) -> dict[str, str]:
    """Poll every 2 s until every run ended; returns run id -> status."""
    deadline = time.monotonic() + timeout
    while True:
        dep.check_alive()
        found = dep.graphql(RUNS, {"ids": ids})["runsOrError"]
        if found["__typename"] != "Runs":
            raise ServiceError(f"runsOrError: {found.get('message')}")
        statuses = {r["runId"]: r["status"] for r in found["results"]}
        if len(statuses) == len(ids) and set(statuses.values()) <= DONE:
            return statuses
        if time.monotonic() > deadline:
            waiting = sum(1 for s in statuses.values() if s not in DONE)
            raise ServiceError(
                f"{waiting} run(s) not done after {timeout:.0f} s; logs in {dep.workspace.parent}"
            )
        time.sleep(2)


def scenario(args: argparse.Namespace, mode: str) -> Scenario:
    work = Path(tempfile.mkdtemp(prefix=f"bench-scale-{mode}-"))
    names = [account_name(i) for i in range(1, args.accounts + 1)]
    try:
        with sandbox(args, work) as (url, sandbox_pid), postgres() as pg:
            home = dagster_home(work / "dagster_home")
            set_max_concurrent_runs(home, args.max_concurrent_runs)
            flows = write_flow_file(work, args.accounts, mode)
            env = {**os.environ, **pg.env(), **account_env(url, args.accounts)}
            env.update(COUPLET_FLOWS=str(flows), DAGSTER_HOME=str(home))
            env.pop("HARVEST_RATE_LIMIT", None)  # the connector's published limit, as deployed
            print(f"[{mode}] starting the deployment ({work})", flush=True)
            with deployment(work, env) as dep:
                if args.set_pools:
                    set_pools(dep, work, args.accounts, mode)
                before = db_writes(pg.dsn)
                roots = {p.name: p.popen.pid for p in dep.processes}
                postmaster = int((pg.folder / "data" / "postmaster.pid").read_text().split()[0])
                tree_cpu = TreeCpu({**roots, "sandbox": sandbox_pid, "postgres": postmaster})
                tree_cpu.start()
                cpu = CpuClock()
                started = time.time()
                ids = [launch(dep, name) for name in names]
                launched = time.time()
                print(f"[{mode}] {len(ids)} runs launched in {launched - started:.1f} s; waiting", flush=True)
                statuses = wait_for_runs(dep, ids, args.timeout)
                busy = cpu.busy()
                cpu_seconds = tree_cpu.stop()
                time.sleep(1.5)  # PostgreSQL publishes its statistics up to a second late
                writes = db_writes(pg.dsn, before)
                runs = run_events(pg.dsn, dict(zip(ids, names, strict=True)), statuses)
            capacity = event_write_capacity(pg.dsn)  # with the deployment stopped
            requests = account_requests(url, args.accounts)
            rows = rows_landed(work, args.accounts, mode)
        return Scenario.of(
            mode,
            started,
            launched,
            runs,
            requests,
            rows,
            writes,
            capacity,
            busy,
            cpu_seconds,
            args.accounts,
            args.max_concurrent_runs,
        )
    finally:
        if args.keep:
            print(f"[{mode}] kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=50, help="client accounts, one flow and run each")
    parser.add_argument(
        "--entries-per-account", type=int, default=10_000, help="time entries each account serves"
    )
    parser.add_argument("--latency-ms", type=float, default=50.0, help="latency the sandbox adds per request")
    parser.add_argument("--max-concurrent-runs", type=int, default=10, help="the run queue's limit (K)")
    parser.add_argument(
        "--duckdb", default=",".join(DUCKDB_MODES), help="per-account, shared, or both (comma-separated)"
    )
    parser.add_argument(
        "--set-pools",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="set every pool's limit to 1 before the runs, as deploy/README.md does (`couplet flows "
        "pools --set`, against Dagster issue #33552); --no-set-pools leaves them to default_limit",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the runs")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's folder (logs, files)")
    parser.add_argument("--serve-sandbox", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox(args.serve_sandbox, args)
        return
    modes = [m.strip() for m in args.duckdb.split(",") if m.strip()]
    unknown = [m for m in modes if m not in DUCKDB_MODES]
    if unknown or not modes:
        parser.error(
            f"--duckdb: {', '.join(unknown) or 'nothing given'}; choose from {', '.join(DUCKDB_MODES)}"
        )
    if args.accounts < 1 or args.max_concurrent_runs < 1 or args.entries_per_account < 1:
        parser.error("--accounts, --entries-per-account and --max-concurrent-runs must be at least 1")
    header = (
        f"{args.accounts} accounts x {args.entries_per_account:,} entries, latency {args.latency_ms:g} ms,"
        f" max_concurrent_runs {args.max_concurrent_runs}; couplet {commit()}; {machine()};"
        f" {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.1f} before"
    )
    print(header, flush=True)
    results = []
    for mode in modes:
        try:
            result = scenario(args, mode)
        except ServiceError as exc:
            sys.exit(f"bench_scale: {mode}: {exc}")
        print(result.report(), f"load average {os.getloadavg()[0]:.1f} after", sep="\n", flush=True)
        results.append(result)
    if args.json:
        summary = {
            "header": header,
            "args": {k: str(v) for k, v in vars(args).items()},
            "scenarios": [r.as_json() for r in results],
        }
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
