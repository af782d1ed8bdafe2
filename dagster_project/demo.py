"""``couplet demo``: the shipped flows against the sandbox, through Dagster, then what landed.

Starts the sandbox on a free local port, points the connections' env vars at it, runs every
flow in **one** Dagster run (``all_flows``: a source several flows read is extracted once) over the
last ``days`` days, printing each asset as it finishes, then a table of every output with its rows,
and stops the sandbox. Runs are recorded in the Dagster instance under ``data/dagster_home`` so
``make dev`` shows them.
"""

from __future__ import annotations

import datetime as dt
import os
import sys

import httpx

from pipelines.config import Output
from pipelines.loader import Catalog, load_catalog
from pipelines.outputs import describe


def demo_env(base_url: str) -> dict[str, str]:
    """The connections' env vars pointed at a sandbox running with default options."""
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


def count_rows(output: Output) -> int | None:
    """Rows an output's target holds now; None when it is missing or unreadable."""
    import duckdb
    import openpyxl

    t = output.to.settings
    try:
        if output.to.kind == "duckdb":
            with duckdb.connect(t.path, read_only=True) as con:
                row = con.execute(f'SELECT count(*) FROM "{t.table}"').fetchone()
                return int(row[0]) if row else None
        if output.to.kind == "excel":
            book = openpyxl.load_workbook(t.path, read_only=True)
            try:
                return int(book[t.sheet].max_row or 1) - 1  # the header row
            finally:
                book.close()
    except (duckdb.Error, OSError, KeyError):
        return None
    return None


def landed(catalog: Catalog) -> list[tuple[str, str, int | None, bool]]:
    """(output asset, where, rows, may be empty) for every output of the loaded flows."""
    out = []
    for flow_name, flow in catalog.flow_file.flows.items():
        for o in flow.outputs:
            out.append((f"publish/{flow_name}/{o.output_name}", describe(o), count_rows(o), o.allow_empty))
    return out


def run_demo(days: int = 90) -> int:
    from sandbox.server import start_background

    from .flows_run import run_flows

    print("couplet demo: starting the sandbox ...", flush=True)
    server = start_background()
    try:
        os.environ.update(demo_env(server.base_url))
        catalog = load_catalog()
        today = dt.datetime.now(dt.UTC).date()
        start = (today - dt.timedelta(days=days - 1)).isoformat()
        end = (today + dt.timedelta(days=1)).isoformat()
        print(f"  sandbox at {server.base_url}; running every flow through Dagster, once ...", flush=True)
        status = run_flows(sorted(catalog.flow_file.flows), catalog, start, end)
        requests = httpx.get(server.base_url + "/clockodo/api/_admin/requests", timeout=30).json()
    finally:
        server.stop()
    rows = landed(catalog)
    width = max((len(a) for a, _, _, _ in rows), default=10)
    print(f"\n{'output'.ljust(width)}  {'rows':>8}  where")
    for asset, where, n, may_be_empty in rows:
        shown = "missing" if n is None else ("0 (ok)" if n == 0 and may_be_empty else f"{n:,}")
        print(f"{asset.ljust(width)}  {shown:>8}  {where}")
    print(f"\nClockodo API requests: {requests.get('count', '?')}")
    empty = [a for a, _, n, may_be_empty in rows if n is None or (n == 0 and not may_be_empty)]
    if status or empty:
        print(
            f"\ndemo FAILED: {'the run failed; ' if status else ''}empty or missing: {empty}", file=sys.stderr
        )
        return 1
    print(f"\n{len(rows)} outputs landed (DuckDB: data/warehouse.duckdb, Excel: data/exports/).")
    print("Explore them with `make dev` (Dagster UI), duckdb, or open the workbooks.")
    return 0
