"""Extraction benchmark: couplet's whole path vs a bare httpx + Arrow + DuckDB loop. Run by hand.

    .venv/bin/python bench/bench_extract.py                 # 200k entries
    .venv/bin/python bench/bench_extract.py --entries 1000000
    .venv/bin/python bench/bench_extract.py --rate-limit 600 # API-bound: share of a 600/min quota reached

The sandbox runs in its own process (so it does not share the GIL with the measured code), with its
rate limits off for the throughput runs. Each measured path runs in a fresh process so its peak RSS
is its own. Printed: rows, seconds, rows/s, peak RSS MiB.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ANCHOR = "2026-06-01"
START, END = dt.date(2024, 6, 1), dt.date(2026, 6, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox(entries: int, per_minute: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    limits = (
        f"rate_limit=True, rate_limits={{'global': (RateWindow({per_minute}, 60),), 'entries_enhanced': (RateWindow({per_minute}, 60),)}}"
        if per_minute
        else "rate_limit=False"
    )
    code = (
        "import datetime as dt\n"
        "from sandbox.server import serve\n"
        "from sandbox.common import SandboxOptions, RateWindow\n"
        "from sandbox.org import OrgOptions\n"
        f"serve(port={port}, options=SandboxOptions(org=OrgOptions(anchor=dt.date.fromisoformat('{ANCHOR}'), users=200, target_entries={entries}), {limits}))\n"
    )
    proc = subprocess.Popen([PY, "-c", code], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(300):
        try:
            httpx.get(url + "/healthz", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("sandbox did not start")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bare(url: str, workdir: str) -> dict:
    """The bar: sequential pages of 1000, Arrow, DuckDB insert — no retries, limits or typing."""
    import duckdb
    import httpx
    import pyarrow as pa

    headers = {
        "X-ClockodoApiUser": "sandbox@couplet.dev",
        "X-ClockodoApiKey": "sandbox-key",
        "X-Clockodo-External-Application": "bench;bench@couplet.dev",
    }
    con = duckdb.connect(os.path.join(workdir, "bare.duckdb"))
    rows, started = 0, time.perf_counter()
    with httpx.Client(base_url=url + "/clockodo/api", headers=headers, timeout=60) as client:
        cursor = START
        created = False
        while cursor < END:
            nxt = min(cursor + dt.timedelta(days=31), END)
            page = 1
            while True:
                body = client.get(
                    "/v2/entries",
                    params={
                        "time_since": f"{cursor}T00:00:00Z",
                        "time_until": f"{nxt}T00:00:00Z",
                        "page": page,
                        "items_per_page": 1000,
                        "enhanced_list": 1,
                    },
                ).json()
                table = pa.Table.from_pylist(body["entries"])
                if table.num_rows:
                    con.register("t", table)
                    if not created:
                        con.execute("CREATE TABLE e AS SELECT * FROM t")
                        columns = set(table.column_names)
                        created = True
                    else:  # the bar keeps the first page's columns (pages of lump sums lack some)
                        shared = ", ".join(f'"{c}"' for c in table.column_names if c in columns)
                        con.execute(f"INSERT INTO e BY NAME SELECT {shared} FROM t")
                rows += table.num_rows
                if page >= body["paging"]["count_pages"]:
                    break
                page += 1
            cursor = nxt
    return {"rows": rows, "seconds": time.perf_counter() - started}


def run_couplet(url: str, workdir: str, limited: bool) -> dict:
    from connectors.clockodo import SOURCE
    from connectors.core.settings import resolve_settings
    from destinations.base import Mode, Scope
    from destinations.duckdb import DuckDBTarget, DuckDBWriter
    from pipelines.staging import Staging, stage_entity

    source = (
        SOURCE
        if limited
        else dataclasses.replace(SOURCE, rate_limits=(), rate_groups={"entries_enhanced_list": ()})
    )
    env = {
        "CLOCKODO_BASE_URL": url + "/clockodo/api",
        "CLOCKODO_API_USER": "sandbox@couplet.dev",
        "CLOCKODO_API_KEY": "sandbox-key",
    }
    settings = resolve_settings(source, environ=env)
    staging = Staging(workdir)
    started = time.perf_counter()
    report = stage_entity(source, settings, "bench", "entries", staging, START, END)
    extracted = time.perf_counter() - started
    table = staging.source("bench", source.entity("entries"))
    result = DuckDBWriter().write(
        DuckDBTarget(path=os.path.join(workdir, "couplet.duckdb"), table="entries"),
        table,
        Mode.REPLACE,
        scope=Scope("_window_start", START, END),
    )
    return {
        "rows": report.rows,
        "seconds": time.perf_counter() - started,
        "extract_stage_seconds": extracted,
        "publish_seconds": result.duration_s,
        "requests": report.stats["requests"],
        "throttled_seconds": report.stats["throttled_seconds"],
    }


def child(mode: str, url: str) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        out = (
            run_bare(url, workdir)
            if mode == "bare"
            else run_couplet(url, workdir, limited=(mode == "limited"))
        )
    out["peak_mib"] = peak_mib()
    print(json.dumps(out))


def measure(mode: str, url: str) -> dict:
    res = subprocess.run(
        [PY, __file__, "--child", mode, "--url", url], cwd=ROOT, capture_output=True, text=True
    )
    if res.returncode:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        help="requests/min on sandbox and client: measure the API-bound case",
    )
    parser.add_argument("--child")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return
    proc, url = start_sandbox(args.entries, args.rate_limit or None)
    try:
        if args.rate_limit:
            r = measure("limited", url)
            achieved = r["requests"] / r["seconds"] * 60
            print(
                f"API-bound: {r['requests']} requests in {r['seconds']:.1f}s = {achieved:.0f}/min of {args.rate_limit}/min ({achieved / args.rate_limit:.0%})"
            )
            return
        for mode in ("bare", "couplet"):
            r = measure(mode, url)
            print(
                f"{mode:8} {r['rows']:>9,} rows  {r['seconds']:7.1f}s  {r['rows'] / r['seconds']:>8,.0f} rows/s  peak {r['peak_mib']:6.0f} MiB"
                + (
                    f"  (extract+stage {r['extract_stage_seconds']:.1f}s, publish {r['publish_seconds']:.1f}s, {r['requests']} requests)"
                    if mode == "couplet"
                    else ""
                )
            )
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
