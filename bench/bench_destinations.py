"""Benchmark the Excel, Google Sheets and BigQuery writers with a realistic time-entries table.

    .venv/bin/python bench/bench_destinations.py [--rows 100000] [--only excel,sheets,bigquery]

For each destination, four writes of ``--rows`` rows each, in this order:

1. ``replace``: a fresh target gets N entries of 2024;
2. ``append``: N more entries, of 2025;
3. ``upsert`` on ``id``: N rows, half of them edits of 2024 entries, half new ids;
4. scoped ``replace`` of the year 2024: N rows (the 2024 entries, edited again).

Excel writes a real file on disk; Sheets and BigQuery go through the real client libraries to the
wire-level emulators of ``sandbox/google`` (so their figures are client-side cost plus a local server,
not Google's latency or quotas: the Sheets quota of 60 writes/min is lifted here and the request count
printed instead). Each destination runs in its own process so its peak RSS is its own; the emulators
run in this parent process. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make `destinations` and `sandbox` importable

from destinations.base import Scope  # noqa: E402

CUSTOMERS = ["Acme GmbH", "Müller & Söhne", "Globex Corp.", "Initech", "東京商事", "Café Olé SARL"]
TASKS = [
    "Design review",
    "Bugfix: login",
    "Meeting — weekly",
    "Support ticket #",
    "Workshop",
    "Documentation",
]


def entries(n: int, first_id: int, year: int, seed: int) -> pa.Table:
    """N time entries of one year: ids, dates, datetimes, durations, text, money, booleans, nulls."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(f"{year}-01-01T00:00:00", "s")
    offsets = rng.integers(0, 365 * 86_400 - 36_000, n)
    begins = start + offsets.astype("timedelta64[s]")
    seconds = rng.integers(300, 36_000, n)
    rate_cents = rng.choice([6_500, 8_000, 9_500, 12_000], n)
    cents = (seconds * rate_cents) // 3600
    billable = rng.random(n) < 0.8
    described = rng.random(n) < 0.9
    return pa.table(
        {
            "id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
            "user_id": pa.array(rng.integers(1, 60, n), pa.int64()),
            "project_id": pa.array(rng.integers(1_000, 1_200, n), pa.int64()),
            "customer": pa.array(
                np.array(CUSTOMERS, dtype=object)[rng.integers(0, len(CUSTOMERS), n)], pa.string()
            ),
            "description": pa.array(
                [
                    f"{TASKS[i % len(TASKS)]} {i}" if d else None
                    for i, d in zip(rng.integers(0, 10_000, n), described, strict=True)
                ],
                pa.string(),
            ),
            "date": pa.array(begins.astype("datetime64[D]"), pa.date32()),
            "started_at": pa.array(begins.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "ended_at": pa.array(
                (begins + seconds.astype("timedelta64[s]")).astype("datetime64[us]"),
                pa.timestamp("us", tz="UTC"),
            ),
            "duration_s": pa.array(seconds, pa.int64()),
            "hours": pa.array(np.round(seconds / 3600, 4), pa.float64()),
            "hourly_rate": pa.array(rate_cents / 100.0).cast(pa.decimal128(10, 2)),
            "revenue": pa.array(cents / 100.0).cast(pa.decimal128(14, 2)),
            "billable": pa.array(billable),
            "invoiced_at": pa.array(
                np.where(billable, begins.astype("datetime64[D]"), np.datetime64("NaT")), pa.date32()
            ),
        }
    )


def workload(n: int) -> list[tuple[str, pa.Table, dict[str, Any]]]:
    year_2024 = entries(n, 1, 2024, seed=1)
    edits = entries(n // 2, 1, 2024, seed=2)  # same ids as the first half of 2024
    fresh = entries(n - n // 2, 10 * n + 1, 2025, seed=3)
    return [
        ("replace", year_2024, {}),
        ("append", entries(n, 5 * n + 1, 2025, seed=4), {}),
        ("upsert", pa.concat_tables([edits, fresh]), {"primary_key": ["id"]}),
        (
            "replace (scope 2024)",
            entries(n, 1, 2024, seed=5),
            {"scope": Scope("date", dt.date(2024, 1, 1), dt.date(2025, 1, 1))},
        ),
    ]


def peak_mb() -> float:
    """Peak RSS of this process. VmHWM belongs to the current address space; ru_maxrss would also
    count the parent's pages at fork time (Linux keeps it across exec), i.e. the fakes' data."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def run(name: str, rows: int, endpoint: str, results: Any) -> None:
    """Child process: build the writer, write every mode, report timings and peak RSS."""
    from google.auth.credentials import AnonymousCredentials

    work = workload(rows)
    if name == "excel":
        from destinations.excel import ExcelTarget
        from destinations.excel_writer import ExcelWriter

        folder = tempfile.mkdtemp(prefix="couplet-bench-")
        writer: Any = ExcelWriter()
        target: Any = ExcelTarget(path=Path(folder) / "bench.xlsx", sheet="Entries")
    elif name == "sheets":
        import gspread

        from destinations.google_sheets import SheetsTarget
        from destinations.sheets_writer import SheetsWriter, endpoint_http_client

        client = gspread.Client(
            auth=AnonymousCredentials(), http_client=endpoint_http_client(endpoint.split("|")[0])
        )
        writer = SheetsWriter(client=client, writes_per_minute=100_000, reads_per_minute=100_000)
        target = SheetsTarget(spreadsheet=endpoint.split("|")[1], worksheet="Entries")
    else:
        from google.cloud import bigquery

        from destinations.bigquery import BigQueryTarget
        from destinations.bigquery_writer import BigQueryWriter

        client = bigquery.Client(
            project="bench", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
        )
        writer = BigQueryWriter(client=client)
        target = BigQueryTarget(
            project="bench", dataset="reporting", table="entries", partition_column="date"
        )
    baseline = peak_mb()
    for mode, table, kwargs in work:
        started = time.perf_counter()
        result = writer.write(target, table, mode.split()[0], **kwargs)
        seconds = time.perf_counter() - started
        extra = result.extra
        results.put(
            (
                name,
                mode,
                table.num_rows,
                seconds,
                peak_mb(),
                baseline,
                extra.get("rows_total"),
                extra.get("requests"),
                extra.get("bytes") or extra.get("parquet_bytes"),
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", default="excel,sheets,bigquery")
    args = parser.parse_args()
    from sandbox.google import BigQueryEmulator, SheetsEmulator, serve_threaded

    ctx = mp.get_context("spawn")
    results: Any = ctx.Queue()
    print(
        f"{'destination':<10} {'mode':<21} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'peak MB':>8} {'total rows':>10} {'requests':>8} {'bytes':>11}"
    )
    with serve_threaded(SheetsEmulator()) as sheets, serve_threaded(BigQueryEmulator()) as bq:
        endpoints = {
            "excel": "",
            "sheets": f"{sheets.url}|{sheets.create(tabs=('Summary',))}",
            "bigquery": bq.url,
        }
        for name in args.only.split(","):
            child = ctx.Process(target=run, args=(name, args.rows, endpoints[name], results))
            child.start()
            for _ in range(4):
                dest, mode, n, secs, peak, base, total, requests, size = results.get(timeout=3_600)
                print(
                    f"{dest:<10} {mode:<21} {n:>8,} {secs:>8.2f} {n / secs:>9,.0f} {peak:>8.0f} {total or '':>10} {requests or '':>8} {size or '':>11}"
                )
            child.join()
            print(f"{name:<10} baseline RSS after imports and data generation: {base:.0f} MB")


if __name__ == "__main__":
    main()
