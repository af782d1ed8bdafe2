"""Shared by the fault suite: a flow over one source into DuckDB and Excel, the source's truth read
by the test's own paging, and what each destination holds."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import openpyxl

TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(days=60)
COUPLET = Path(sys.executable).with_name("couplet")

FLOW = f"""
settings: {{data_dir: data, partitions_start: {START.isoformat()}}}
connections:
  hv: {{connector: harvest, access_token: {{env: HARVEST_ACCESS_TOKEN}}, account_id: {{env: HARVEST_ACCOUNT_ID}}, base_url: {{env: HARVEST_BASE_URL}}}}
flows:
  hours:
    sources:
      entries: {{connection: hv, entity: time_entries}}
    outputs:
      - {{from: entries, to: {{duckdb: {{path: out/hours.duckdb, table: entries}}}}}}
      - {{from: entries, to: {{duckdb: {{path: out/hours.duckdb, table: entries_up}}}}, mode: upsert}}
      - {{from: entries, to: {{excel: {{path: out/hours.xlsx, sheet: entries}}}}}}
"""


def harvest_ids(
    base_url: str, env: dict[str, str], start: dt.date = START, end: dt.date | None = TODAY
) -> set[int]:
    """Every time entry id of [start, end] (no end: all after start), read by the test's own paging
    (not the connector's)."""
    headers = {
        "Authorization": f"Bearer {env['HARVEST_ACCESS_TOKEN']}",
        "Harvest-Account-Id": env["HARVEST_ACCOUNT_ID"],
        "User-Agent": "couplet-tests (tests@couplet.dev)",
    }
    url: str | None = f"{base_url}/harvest/v2/time_entries"
    params: dict[str, str] | None = {"from": start.isoformat(), "per_page": "2000"}
    if end is not None:
        params["to"] = end.isoformat()
    found: set[int] = set()
    while url:
        page = httpx.get(url, params=params, headers=headers, timeout=30).json()
        found |= {e["id"] for e in page["time_entries"]}
        url, params = page["links"]["next"], None
    return found


def duckdb_ids(work: Path, table: str) -> set[int]:
    with duckdb.connect(str(work / "out" / "hours.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute(f'SELECT id FROM "{table}"').fetchall()}


def excel_ids(work: Path) -> set[int]:
    book = openpyxl.load_workbook(work / "out" / "hours.xlsx", read_only=True)
    try:
        rows = book["entries"].iter_rows(values_only=True)
        header = list(next(rows))
        at = header.index("id")
        return {int(r[at]) for r in rows if r[at] is not None}
    finally:
        book.close()


def holdings(work: Path) -> dict[str, set[int]]:
    """The ids every destination of the flow holds now."""
    return {
        "duckdb entries": duckdb_ids(work, "entries"),
        "duckdb entries_up": duckdb_ids(work, "entries_up"),
        "excel entries": excel_ids(work),
    }


def start_run(work: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``couplet flows run hours`` in its own process group (so kill -9 takes all of it)."""
    return subprocess.Popen(
        [str(COUPLET), "flows", "run", "hours", "--start", START.isoformat(), *args],
        cwd=work,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 300) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(errors="replace")
