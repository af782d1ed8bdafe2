"""``couplet demo``: the shipped flows against the sandbox, through Dagster, then what landed.

Starts the sandbox on a free local port, points the connections' env vars at it, runs every
flow in **one** Dagster run (``all_flows``: a source several flows read is extracted once) over the
last ``days`` days, printing each asset as it finishes, then a table of every output with its rows
(for outputs that push into another tool, Runn and QuickBooks, the rows the run handed over and what
the tool's imitation now holds), and stops the sandbox. Runs are recorded in the Dagster instance under ``data/dagster_home`` so
``make dev`` shows them.
"""

from __future__ import annotations

import datetime as dt
import os
import sys

import httpx

from destinations.base import DestinationError
from pipelines.config import Output
from pipelines.loader import SHIPPED, Catalog, flow_paths, load_catalog
from pipelines.outputs import describe


def demo_env(base_url: str) -> dict[str, str]:
    """The connections' env vars pointed at a sandbox running with default options."""
    from sandbox.server import client_env

    return client_env(base_url)


def count_rows(output: Output) -> int | None:
    """Rows an output's target holds now, read by its destination (Google ones from the sandbox's
    emulators, where ``demo_env`` points them); None when it cannot tell."""
    destination = output.to.destination
    if destination.count_rows is None:
        return None
    try:
        return destination.count_rows(output.to.settings)
    except DestinationError:
        return None


def landed(catalog: Catalog) -> list[tuple[str, str, int | None, bool]]:
    """(output asset, where, rows, may be empty) for every output of the loaded flows; an output
    into another tool (not a table) counts the rows its last materialization handed over."""
    out = []
    for flow_name, flow in catalog.flow_file.flows.items():
        for o in flow.outputs:
            asset = f"publish/{flow_name}/{o.output_name}"
            rows = count_rows(o) if o.to.destination.tabular else handed_over(asset)
            out.append((asset, describe(o), rows, o.allow_empty))
    return out


def handed_over(asset: str) -> int | None:
    """Rows the last materialization of a publish asset wrote (None: never materialized)."""
    import dagster as dg

    records = dg.DagsterInstance.get().fetch_materializations(dg.AssetKey(asset.split("/")), limit=1).records
    if not records or records[0].asset_materialization is None:
        return None
    value = records[0].asset_materialization.metadata.get("rows_written")
    return int(value.value) if value is not None and isinstance(value.value, int | float) else None


def received(sandbox: str) -> list[str]:
    """What the Runn and QuickBooks imitations hold now, one line each."""
    lines = []
    runn = httpx.get(f"{sandbox}/runn/_admin/state", timeout=30).json()
    counts = {k: len(v) for k, v in runn.items() if isinstance(v, list)}
    lines.append("Runn received: " + (", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing"))
    qbo = httpx.get(
        f"{sandbox}/quickbooks/_admin/state", params={"entity": "TimeActivity"}, timeout=30
    ).json()
    made = [r for r in qbo["entities"]["TimeActivity"] if r]
    hours = sum(int(r.get("Hours", 0)) * 60 + int(r.get("Minutes", 0)) for r in made) / 60
    lines.append(f"QuickBooks received: {len(made)} TimeActivities ({hours:,.1f} h)")
    return lines


def request_counts(sandbox: str) -> dict[str, int]:
    """Requests each source API answered, from the sandboxes' request logs."""
    counts = {}
    for name, mount in (("Clockodo", "/clockodo/api"), ("Clockify", "/clockify"), ("Harvest", "/harvest")):
        counts[name] = int(httpx.get(f"{sandbox}{mount}/_admin/requests", timeout=30).json().get("count", 0))
    return counts


def run_demo(days: int = 90) -> int:
    from sandbox.common import RateWindow, SandboxOptions
    from sandbox.server import start_background

    from .flows_run import run_flows

    print("couplet demo: starting the sandbox ...", flush=True)
    # QuickBooks meters 500 requests a minute, each batch item one: the first export of 90 days
    # (~1,300 entries, 44 batches of 30 against 40 batches a minute) would wait a minute on it. The
    # demo's company has a plan ten times larger.
    plan = {"quickbooks": (RateWindow(5000, 60),), "quickbooks_batch": (RateWindow(400, 60),)}
    server = start_background(SandboxOptions(rate_limits=plan))
    try:
        os.environ.update(demo_env(server.base_url))
        os.environ.update(QUICKBOOKS_RATE_LIMIT="5000/min", QUICKBOOKS_BATCH_RATE_LIMIT="400/min")
        catalog = load_catalog()
        if catalog.problems:  # the demo shows every flow or says why it cannot
            from .flows_cli import print_problems

            print_problems(catalog)
            return 2
        today = dt.datetime.now(dt.UTC).date()
        start = (today - dt.timedelta(days=days - 1)).isoformat()
        end = (today + dt.timedelta(days=1)).isoformat()
        print(f"  sandbox at {server.base_url}; every flow in one Dagster run ...", flush=True)
        status = run_flows(sorted(catalog.flow_file.flows), catalog, start, end)
        rows = landed(catalog)
        # The cookbook's example flows (pipelines/flows/examples, docs/flows.md#cookbook): cheap,
        # so one more run; they write under data/examples.
        cookbook = load_catalog(flow_paths(str(SHIPPED / "examples")))
        if cookbook.flow_file.flows and not cookbook.problems:
            print("  the cookbook's example flows in one more run ...", flush=True)
            status |= run_flows(sorted(cookbook.flow_file.flows), cookbook, start, end)
            rows += landed(cookbook)
        requests = request_counts(server.base_url)
        pushed = received(server.base_url)
    finally:
        server.stop()
    width = max((len(a) for a, _, _, _ in rows), default=10)
    print(f"\n{'output'.ljust(width)}  {'rows':>8}  where")
    for asset, where, n, may_be_empty in rows:
        shown = "missing" if n is None else ("0 (ok)" if n == 0 and may_be_empty else f"{n:,}")
        print(f"{asset.ljust(width)}  {shown:>8}  {where}")
    print("\n" + "\n".join(pushed))
    print("API requests: " + ", ".join(f"{k} {v:,}" for k, v in requests.items()))
    empty = [a for a, _, n, may_be_empty in rows if n is None or (n == 0 and not may_be_empty)]
    if status or empty:
        print(
            f"\ndemo FAILED: {'the run failed; ' if status else ''}empty or missing: {empty}", file=sys.stderr
        )
        return 1
    print(
        f"\n{len(rows)} outputs landed in DuckDB (data/warehouse.duckdb), Excel (data/exports/), Google Sheets "
        "and BigQuery, Runn and QuickBooks (the sandbox's imitations, gone with it)."
    )
    print("Explore them with `make dev` (Dagster UI and the sandbox), duckdb, or open the workbooks.")
    return 0
