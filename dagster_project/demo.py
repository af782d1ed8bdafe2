"""``couplet demo``: the shipped flows against the sandbox, through Dagster, then what landed.

Starts the sandbox on a free local port, points the connections' env vars at it, runs every
flow's jobs in process (time entities for the last ``days`` days, year-scoped ones for last year
and this year) into ``data/``, prints a table of asset -> rows, and stops the sandbox. Runs are
recorded in the Dagster instance under ``data/dagster_home`` so ``make dev`` shows them.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

import dagster as dg

from pipelines.loader import load_flows
from pipelines.outputs import describe

from .definitions import RANGE_END, RANGE_START, build_definitions, flow_groups, job_name


def demo_env(base_url: str) -> dict[str, str]:
    """The connections' env vars pointed at a sandbox running with default options."""
    import httpx

    from sandbox.common import SandboxOptions

    defaults = SandboxOptions()
    # The sandbox's key sees two Clockify workspaces (like a real owner with a personal one): name the agency's.
    workspace = httpx.get(base_url + "/clockify/_admin/org", timeout=30).json()["workspace_id"]
    return {
        "CLOCKIFY_BASE_URL": base_url + "/clockify/api",
        "CLOCKIFY_REPORTS_URL": base_url + "/clockify/reports",
        "CLOCKIFY_API_KEY": defaults.api_key,
        "CLOCKIFY_WORKSPACE_ID": workspace,
        "CLOCKODO_BASE_URL": base_url + "/clockodo/api",
        "CLOCKODO_API_USER": defaults.api_user,
        "CLOCKODO_API_KEY": defaults.api_key,
        "HARVEST_BASE_URL": base_url + "/harvest",
        "HARVEST_ACCESS_TOKEN": defaults.harvest_token,
        "HARVEST_ACCOUNT_ID": str(defaults.harvest_account_id),
    }


def instance() -> dg.DagsterInstance:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("data/dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.get()


def run_flows(days: int, today: dt.date | None = None) -> list[tuple[str, bool]]:
    """Run every flow's jobs in process; returns (job, success) per run."""
    flow_file = load_flows()
    defs = build_definitions(flow_file)
    today = today or dt.datetime.now(dt.UTC).date()
    ranges = {
        "daily": ((today - dt.timedelta(days=days - 1)).isoformat(), today.isoformat()),
        "yearly": (str(today.year - 1), str(today.year)),
    }
    results = []
    inst = instance()
    for flow_name, flow in flow_file.flows.items():
        for kind in flow_groups(flow_name, flow, flow_file):
            name = job_name(flow_name, kind)
            first, last = ranges[kind.value]
            job = defs.resolve_job_def(name)
            started = time.perf_counter()
            result = job.execute_in_process(
                instance=inst,
                tags={RANGE_START: first, RANGE_END: last},
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            print(
                f"  job {name} [{first} .. {last}]: {'ok' if result.success else 'FAILED'} in {time.perf_counter() - started:.1f}s"
            )
            if not result.success:
                for event in result.all_events:
                    if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
                        print(
                            f"    {event.step_key}: {event.step_failure_data.error.message.strip()}",
                            file=sys.stderr,
                        )
            results.append((name, result.success))
    return results


def landed() -> list[tuple[str, str, int]]:
    """(flow output asset, where, rows) for every DuckDB and Excel output of the loaded flows."""
    import duckdb
    import openpyxl

    flow_file = load_flows()
    out = []
    for flow_name, flow in flow_file.flows.items():
        for o in flow.outputs:
            t = o.to.settings
            rows = -1
            try:
                if o.to.kind == "duckdb":
                    con = duckdb.connect(t.path, read_only=True)
                    try:
                        rows = con.execute(f'SELECT count(*) FROM "{t.table}"').fetchone()[0]
                    finally:
                        con.close()
                elif o.to.kind == "excel":
                    book = openpyxl.load_workbook(t.path, read_only=True)
                    rows = book[t.sheet].max_row - 1  # the header row
                    book.close()
                else:
                    continue  # remote destinations are not counted here
            except (duckdb.Error, OSError, KeyError):
                rows = -1
            # an output that allows empty (a report of exceptions) may rightly have no rows
            if rows == 0 and o.allow_empty:
                rows = -2
            out.append((f"publish/{flow_name}/{o.output_name}", describe(o), rows))
    return out


def run_demo(days: int = 90) -> int:
    from sandbox.server import start_background

    print("couplet demo: starting the sandbox ...")
    server = start_background()
    try:
        os.environ.update(demo_env(server.base_url))
        print(f"  sandbox at {server.base_url}; running the flows through Dagster ...")
        results = run_flows(days)
    finally:
        server.stop()
    rows = landed()
    width = max(len(a) for a, _, _ in rows) if rows else 10
    print(f"\n{'asset'.ljust(width)}  {'rows':>8}  table")
    for asset, table, n in rows:
        print(f"{asset.ljust(width)}  {n if n >= 0 else ('0 (ok)' if n == -2 else 'missing'):>8}  {table}")
    empty = [a for a, _, n in rows if n in (-1, 0)]
    failed = [name for name, ok in results if not ok]
    if failed or empty:
        print(f"\ndemo FAILED: failed jobs {failed}, empty or missing tables {empty}", file=sys.stderr)
        return 1
    print(f"\n{len(rows)} tables landed (DuckDB: data/warehouse.duckdb, Excel: data/exports/).")
    print("Explore them with `make dev` (Dagster UI), duckdb, or open the workbook.")
    return 0
