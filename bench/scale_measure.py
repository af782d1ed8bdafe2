"""What ``bench_scale.py`` measures, read back after the runs: PostgreSQL's event log and statistics,
the sandbox accounts' request logs, the rows in DuckDB (CPU: ``scale_cpu.py``); and the report.

Every figure comes from where the work left its trace, not from what a process said it did: run
phases from the event log rows Dagster stored (``PIPELINE_ENQUEUED`` -> ``PIPELINE_STARTING``, when
the daemon takes the run off the queue -> ``PIPELINE_START``, when its process runs -> the run's
end; the wait before publishing, which holds the DuckDB pool wait, is the publish step's
``STEP_START`` after the read step's ``STEP_SUCCESS``), requests from each account's own log, rows
by counting them in DuckDB.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import statistics
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg2
from scale_config import duckdb_target

from sandbox.accounts import account_mount

HARVEST_LIMIT, HARVEST_WINDOW = 100, 15.0  # requests per seconds, per account (published)
# Run events as PostgreSQL stores them (``dagster_event_type`` keeps the old "PIPELINE_" names).
# The daemon takes a run off the queue and hands it to the launcher: STARTING; its process runs: START.
ENQUEUED, DEQUEUED, STARTED = "PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_START"
END_EVENTS = {"PIPELINE_SUCCESS", "PIPELINE_FAILURE", "PIPELINE_CANCELED"}


def busiest(sent: list[float], seconds: float) -> int:
    """The most of the sorted times ``sent`` within any ``seconds`` (half-open)."""
    return max((bisect.bisect_left(sent, t + seconds) - i for i, t in enumerate(sent)), default=0)


@dataclass
class Account:
    """One account's requests, from its own request log in the sandbox."""

    requests: int
    throttled: int
    busiest_window: int  # most requests in any HARVEST_WINDOW seconds


def account_requests(url: str, accounts: int) -> list[Account]:
    found = []
    for index in range(1, accounts + 1):
        log = httpx.get(f"{url}{account_mount(index)}/_admin/requests", timeout=60).json()
        times = sorted(float(r["at"]) for r in log["requests"])
        statuses = Counter(r["status"] for r in log["requests"])
        found.append(Account(int(log["count"]), statuses[429], busiest(times, HARVEST_WINDOW)))
    return found


def db_writes(dsn: str, before: dict[str, int] | None = None) -> dict[str, int]:
    """PostgreSQL's counters of the database (commits, rows inserted/updated/deleted), less ``before``."""
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
        row = cur.fetchone()
    assert row is not None
    now = dict(zip(("commits", "inserted", "updated", "deleted"), (int(v) for v in row), strict=True))
    return {k: v - (before or {}).get(k, 0) for k, v in now.items()}


CAPACITY_RUN = "bench-scale-capacity"


def event_write_capacity(dsn: str, seconds: float = 5.0, writers: int = 4) -> float:
    """Events PostgreSQL stores per second when ``writers`` connections each insert copies of a
    real stored event into Dagster's own ``event_logs`` (its indexes included), one transaction per
    event as Dagster writes them, for ``seconds``; the copies are deleted afterwards."""
    columns = "event, dagster_event_type, step_key, asset_key, partition"
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM event_logs WHERE dagster_event_type = 'STEP_OUTPUT' LIMIT 1")
        sample = cur.fetchone()
    if sample is None:
        return 0.0
    insert = f"INSERT INTO event_logs (run_id, {columns}, timestamp) VALUES (%s, %s, %s, %s, %s, %s, now())"
    counts = [0] * writers
    deadline = time.monotonic() + seconds

    def write(slot: int) -> None:
        with contextlib.closing(psycopg2.connect(dsn)) as con:
            con.autocommit = True
            with con.cursor() as cur:
                while time.monotonic() < deadline:
                    cur.execute(insert, (CAPACITY_RUN, *sample))
                    counts[slot] += 1

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute("DELETE FROM event_logs WHERE run_id = %s", (CAPACITY_RUN,))
    return sum(counts) / seconds


@dataclass
class Run:
    """One account's run, from the rows of PostgreSQL's ``event_logs``."""

    account: str
    status: str
    events: int
    queued: float  # enqueued -> taken off the queue by the daemon (STARTING)
    starting: float  # STARTING -> the run's process started (START)
    running: float  # started -> ended
    pool_wait: float  # the publish step's start after the read step succeeded (the DuckDB pool)
    publish: float  # the publish step, start -> success: the DuckDB writer's time
    publish_at: float  # epoch seconds the publish step started (0 without one)
    end: float  # epoch seconds
    trace: list[tuple[str, str, float]] = field(default_factory=list, repr=False)  # type, step, time
    error: str = ""  # the first failure's message

    @property
    def stamps(self) -> list[float]:
        return [t for _, _, t in self.trace]

    @property
    def kinds(self) -> Counter[str]:
        return Counter(kind for kind, _, _ in self.trace)


def failure_message(body: str) -> str:
    """The error message in a stored failure event (Dagster's serialized ``EventLogEntry``)."""
    try:
        entry = json.loads(body)
    except ValueError:
        return body[:300]
    stack = [entry]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            error = item.get("error")
            if isinstance(error, dict) and error.get("message"):
                return str(error["message"]).strip()[:300]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return str(entry.get("user_message", ""))[:300]


def run_events(dsn: str, accounts: dict[str, str], statuses: dict[str, str]) -> list[Run]:
    """Each run's phases and event count; ``accounts`` maps run id -> account name."""
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute(
            "SELECT run_id, dagster_event_type, step_key, timestamp,"
            " CASE WHEN dagster_event_type IN ('STEP_FAILURE', 'PIPELINE_FAILURE') THEN event END"
            " FROM event_logs WHERE run_id = ANY(%s) ORDER BY id",
            (list(accounts),),
        )
        rows = cur.fetchall()
    by_run: dict[str, list[tuple[str | None, str | None, float]]] = {rid: [] for rid in accounts}
    errors: dict[str, str] = {}
    for run_id, kind, step, stamp, body in rows:
        by_run[run_id].append((kind, step, stamp.replace(tzinfo=dt.UTC).timestamp()))
        if body and run_id not in errors:
            errors[run_id] = f"{step or 'run'}: {failure_message(body)}"
    runs = []
    for run_id, events in by_run.items():
        first: dict[str, float] = {}
        for kind, _, stamp in events:
            first.setdefault(kind or "", stamp)
        end = min((first[k] for k in END_EVENTS if k in first), default=events[-1][2] if events else 0.0)
        read_done = [s for k, step, s in events if k == "STEP_SUCCESS" and step and "publish" not in step]
        publish = [s for k, step, s in events if k == "STEP_START" and step and "publish" in step]
        wait = publish[0] - max(read_done) if publish and read_done else 0.0
        published = [s for k, step, s in events if k == "STEP_SUCCESS" and step and "publish" in step]
        runs.append(
            Run(
                accounts[run_id],
                statuses.get(run_id, "?"),
                len(events),
                first.get(DEQUEUED, 0.0) - first.get(ENQUEUED, 0.0),
                first.get(STARTED, 0.0) - first.get(DEQUEUED, 0.0),
                end - first.get(STARTED, end),
                max(0.0, wait),
                published[0] - publish[0] if publish and published else 0.0,
                publish[0] if publish else 0.0,
                end,
                [(k or "-", step or "-", s) for k, step, s in events],
                errors.get(run_id, ""),
            )
        )
    return runs


def rows_landed(work: Path, accounts: int, mode: str) -> list[int]:
    """Rows of each account's DuckDB table (0 where the table is missing)."""
    counts = []
    for index in range(1, accounts + 1):
        target = duckdb_target(work, index, mode)
        try:
            with duckdb.connect(target["path"], read_only=True) as con:
                schema, _, table = target["table"].rpartition(".")
                name = f'"{schema}"."{table}"' if schema else f'"{table}"'
                row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            counts.append(int(row[0]) if row else 0)
        except (duckdb.Error, OSError):
            counts.append(0)
    return counts


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass
class Scenario:
    """The figures of one layout, printed by ``report`` and saved by ``as_json``."""

    mode: str
    accounts: int
    max_concurrent_runs: int
    wall: float  # first launch -> last run's end
    launch_seconds: float
    rows: int
    events: int
    peak_events_per_second: int
    cpu_busy: float
    cpu_seconds: dict[str, float]  # per process tree (TreeCpu): run workers are the code server's
    db_writes: dict[str, int]
    event_capacity: float  # events/s PostgreSQL stored in event_write_capacity
    runs: list[Run]
    requests: list[Account]
    rows_per_account: list[int]

    @classmethod
    def of(
        cls,
        mode: str,
        started: float,
        launched: float,
        runs: list[Run],
        requests: list[Account],
        rows: list[int],
        writes: dict[str, int],
        capacity: float,
        busy: float,
        cpu_seconds: dict[str, float],
        accounts: int,
        max_concurrent_runs: int,
    ) -> Scenario:
        stamps = sorted(s for r in runs for s in r.stamps)
        wall = max((r.end for r in runs), default=launched) - started
        return cls(
            mode, accounts, max_concurrent_runs, wall, launched - started, sum(rows), len(stamps),
            busiest(stamps, 1.0), busy, cpu_seconds, writes, capacity, runs, requests, rows,
        )  # fmt: skip

    @property
    def most_publishing(self) -> int:
        """The most publish steps running at one moment (1 when the DuckDB pools serialize them)."""
        edges = sorted(
            [(r.publish_at, 1) for r in self.runs if r.publish_at]
            + [(r.publish_at + r.publish, -1) for r in self.runs if r.publish_at]
        )
        most = now = 0
        for _, step in edges:
            now += step
            most = max(most, now)
        return most

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.wall if self.wall else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall if self.wall else 0.0

    def summary(self) -> dict[str, Any]:
        ok = sum(1 for r in self.runs if r.status == "SUCCESS")
        return {
            "mode": self.mode,
            "runs_ok": f"{ok}/{len(self.runs)}",
            "wall_s": round(self.wall, 1),
            "launch_s": round(self.launch_seconds, 1),
            "rows": self.rows,
            "rows_per_s": round(self.rows_per_second),
            "runs_per_min": round(len(self.runs) / self.wall * 60, 1) if self.wall else 0.0,
            "median_queued_s": round(_median([r.queued for r in self.runs]), 1),
            "max_queued_s": round(max((r.queued for r in self.runs), default=0.0), 1),
            "median_starting_s": round(_median([r.starting for r in self.runs]), 1),
            "median_running_s": round(_median([r.running for r in self.runs]), 1),
            "median_pool_wait_s": round(_median([r.pool_wait for r in self.runs]), 1),
            "max_pool_wait_s": round(max((r.pool_wait for r in self.runs), default=0.0), 1),
            "median_publish_s": round(_median([r.publish for r in self.runs]), 2),
            "most_publishing_at_once": self.most_publishing,
            "writer_rows_per_s": round(self.rows / sum(r.publish for r in self.runs))
            if any(r.publish for r in self.runs)
            else 0,
            "events": self.events,
            "events_per_run": round(self.events / max(1, len(self.runs)), 1),
            "events_per_s": round(self.events_per_second, 1),
            "peak_events_per_s": self.peak_events_per_second,
            "pg_event_capacity_per_s": round(self.event_capacity),
            "db_transactions": self.db_writes.get("commits", 0),  # reads included
            "db_rows_written": sum(self.db_writes.get(k, 0) for k in ("inserted", "updated", "deleted")),
            "requests_per_account": round(_median([float(a.requests) for a in self.requests]), 1),
            "max_requests_in_15s": max((a.busiest_window for a in self.requests), default=0),
            "throttled_429": sum(a.throttled for a in self.requests),
            "cpu_busy": f"{self.cpu_busy:.0%}",
            "cpu_s": {k: round(v, 1) for k, v in self.cpu_seconds.items()},
            "cpu_s_per_run": round(sum(self.cpu_seconds.values()) / max(1, len(self.runs)), 2),
        }

    def report(self) -> str:
        lines = [
            f"\n== DuckDB {self.mode}: {self.accounts} runs, max_concurrent_runs {self.max_concurrent_runs} ==",
            f"{'account':11} {'status':8} {'queued s':>8} {'start s':>7} {'run s':>6} {'wait s':>6} {'pub s':>5}"
            f" {'events':>6} {'requests':>8} {'max/15s':>7} {'429s':>4} {'rows':>8}",
        ]
        for run, acct, rows in zip(self.runs, self.requests, self.rows_per_account, strict=True):
            lines.append(
                f"{run.account:11} {run.status:8} {run.queued:>8.1f} {run.starting:>7.1f} {run.running:>6.1f}"
                f" {run.pool_wait:>6.1f} {run.publish:>5.2f} {run.events:>6} {acct.requests:>8} {acct.busiest_window:>3}/{HARVEST_LIMIT}"
                f" {acct.throttled:>4} {rows:>8,}"
            )
        lines += [f"{r.account} failed: {r.error}" for r in self.runs if r.error]
        lines.append("summary: " + ", ".join(f"{k} {v}" for k, v in self.summary().items()))
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        runs = [{k: v for k, v in asdict(r).items() if k != "trace"} for r in self.runs]
        kinds = sum((r.kinds for r in self.runs), Counter[str]())
        start = self.runs[0].trace[0][2] if self.runs and self.runs[0].trace else 0.0
        first = [(k, step, round(t - start, 3)) for k, step, t in (self.runs[0].trace if self.runs else [])]
        accounts = [
            asdict(a) | {"rows": n} for a, n in zip(self.requests, self.rows_per_account, strict=True)
        ]
        return {
            "summary": self.summary(),
            "db_writes": self.db_writes,
            "event_types": dict(kinds.most_common()),
            "first_run_events": first,
            "runs": runs,
            "accounts": accounts,
        }
