"""Reconcile benchmark: the requests of a full re-read of two years against a reconcile. Run by hand.

    .venv/bin/python bench/bench_reconcile.py                          # 200 people, ~200k entries, 8 mutations
    .venv/bin/python bench/bench_reconcile.py --entries 1000000 --mutations 20
    .venv/bin/python bench/bench_reconcile.py --users 12 --entries 0   # the sandbox's default org (~19k)
    .venv/bin/python bench/bench_reconcile.py --only harvest.time_entries --kinds edit,insert
    .venv/bin/python bench/bench_reconcile.py --json /tmp/reconcile.json

For each entity with a drift signal, against the sandbox (started in this process, no rate limit):

1. two years [anchor - 730 days, anchor) are staged with ``stage_entity``: that is the full re-read,
   with the connector's page sizes (the APIs' defaults and maxima for Harvest and Clockodo);
2. a reconcile of the unchanged history (it should re-extract nothing);
3. N random mutations through the sandbox's admin API, older than anchor - 60 days (far behind any
   look-back), cycling through the kinds: an edit in place (hours or duration), a move to another
   day, an insert, a delete;
4. one reconcile, then a fresh full read into a scratch staging to count the records that still
   differ (an edit in place is invisible to Clockodo's counts: see pipelines/reconcile.py).

Requests are the engine's own counters (``ReconcileReport.requests``, ``StageReport.stats``).
couplet's client-side rate limits are switched off: the sandbox enforces none, and Clockodo's
published 300 enhanced-list requests / 15 min would make a million-entry read wait for an hour.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc

from connectors import get_source
from connectors.core.settings import ResolvedSettings, resolve_settings
from pipelines.reconcile import reconcile_entity
from pipelines.staging import Staging, stage_entity
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import RunningServer, client_env, start_background

ANCHOR = dt.date(2026, 6, 1)
START, END = ANCHOR - dt.timedelta(days=730), ANCHOR
OLD = ANCHOR - dt.timedelta(days=60)
ISO = "%Y-%m-%dT%H:%M:%SZ"
ENTITIES = ("harvest.time_entries", "clockodo.entries", "clockify.time_entries", "clockify.detailed_report")
KINDS = ("edit", "move", "insert", "delete")
# The columns compared after the reconcile: key, day, and what the edits change.
COMPARED = {
    "harvest.time_entries": ("id", "spent_date", "hours", "updated_at"),
    "clockodo.entries": ("id", "time_since", "duration"),
    "clockify.time_entries": ("id", "timeInterval_start", "timeInterval_duration_seconds"),
    "clockify.detailed_report": ("_id", "timeInterval_start", "timeInterval_duration"),
}
MOUNTS = {"harvest": "/harvest", "clockodo": "/clockodo/api", "clockify": "/clockify"}


def settings(server: RunningServer, source: str) -> ResolvedSettings:
    """The sandbox's settings for one source, with no client-side rate limit."""
    env = client_env(server.base_url) | {f"{s}_RATE_LIMIT": "off" for s in ("CLOCKIFY", "HARVEST")}
    return resolve_settings(get_source(source), environ=env)


# -- mutations ---------------------------------------------------------------------------------------


def _moment(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.UTC)


def mutation(
    source: str, kind: str, row: dict[str, Any], day: dt.date, rng: random.Random
) -> tuple[str, str, Any]:
    """(method, admin path, body) of one mutation of ``row`` (a staged record), or an insert beside it."""
    rid = row.get("id") or row.get("_id")
    path = "entries" if source == "clockodo" else "time_entries"
    if kind == "delete":
        return "DELETE", f"{path}/{rid}", None
    if source == "harvest":
        bodies = {
            "edit": {"hours": round(rng.uniform(0.25, 8), 2)},
            "move": {"spent_date": day.isoformat()},
            "insert": {k: row[k] for k in ("user_id", "project_id", "task_id")}
            | {"spent_date": day.isoformat(), "hours": 1.5},
        }
    elif source == "clockodo":
        since = _moment(day, 10)
        bodies = {
            "edit": {"duration": int(row["duration"] or 0) + 1800},
            "move": {
                "time_since": since.strftime(ISO),
                "time_until": (since + dt.timedelta(hours=1)).strftime(ISO),
            },
            "insert": {k: row[k] for k in ("users_id", "customers_id", "projects_id", "services_id")}
            | {"time_since": _moment(day, 15).strftime(ISO), "duration": 1800},
        }
    else:
        start = row["timeInterval_start"]
        moved = _moment(day, 9)
        bodies = {
            "edit": {"timeInterval": {"start": start.strftime(ISO), "end": (start + dt.timedelta(hours=6)).strftime(ISO)}},
            "move": {"timeInterval": {"start": moved.strftime(ISO), "end": (moved + dt.timedelta(hours=2)).strftime(ISO)}},
            "insert": {"userId": row["userId"], "projectId": row["projectId"], "timeInterval": {
                "start": _moment(day, 14).strftime(ISO), "end": (_moment(day, 14) + dt.timedelta(minutes=45)).strftime(ISO)}},
        }  # fmt: skip
    if kind == "insert":
        return "POST", path, bodies["insert"]
    return "PATCH", f"{path}/{rid}", bodies[kind]


def mutate(
    server: RunningServer, source: str, staging: Staging, entity: Any, n: int, kinds: list[str], seed: int
) -> None:
    rng = random.Random(seed)
    table = staging.read(source, entity)
    table = table.filter(pc.less(table.column("_window_start"), OLD))
    if source == "clockodo":
        table = table.filter(pc.equal(table.column("type"), 1))  # time entries: they have a duration
    rows = [table.slice(i, 1).to_pylist()[0] for i in rng.sample(range(table.num_rows), n)]
    for i, row in enumerate(rows):
        day = START + dt.timedelta(days=rng.randrange((OLD - START).days))
        method, path, body = mutation(source, kinds[i % len(kinds)], row, day, rng)
        r = httpx.request(method, server.url(MOUNTS[source] + "/_admin/" + path), json=body, timeout=60)
        if r.status_code not in (200, 201):
            raise SystemExit(f"{source} admin {method} {path}: {r.status_code} {r.text[:200]}")


# -- one entity ------------------------------------------------------------------------------------------


@dataclass
class Result:
    entity: str
    records: int
    full_reread: int  # requests of staging two years
    unchanged: int  # requests of a reconcile with nothing changed
    unchanged_windows: int  # windows it re-extracted (0 expected)
    after: int  # requests of the reconcile after the mutations
    probe: int
    reextract: int
    rows_reread: int
    differing: int  # records that still differ from a fresh full read
    seconds_full: float
    seconds_reconcile: float

    @property
    def ratio(self) -> float:
        return self.after / self.full_reread if self.full_reread else 0.0


def compared(staging: Staging, source: str, entity: Any, name: str) -> dict[Any, tuple[Any, ...]]:
    cols = COMPARED[name]
    table = staging.read(source, entity).select(list(cols))
    return {r[cols[0]]: tuple(r.values()) for r in table.to_pylist()}


def run(server: RunningServer, name: str, args: argparse.Namespace) -> Result:
    source, entity_name = name.split(".")
    src, conf = get_source(source), settings(server, source)
    src = dataclasses.replace(src, rate_limits=(), rate_groups={g: () for g in src.rate_groups})  # no waits
    entity = src.entity(entity_name)
    httpx.post(server.url(MOUNTS[source] + "/_admin/reset"), timeout=60).raise_for_status()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as scratch:
        staging = Staging(home)
        t = time.perf_counter()
        full = stage_entity(src, conf, source, entity, staging, START, END)
        seconds_full = time.perf_counter() - t
        unchanged = reconcile_entity(src, conf, source, entity, staging, START, END)
        mutate(server, source, staging, entity, args.mutations, args.kinds, args.seed)
        t = time.perf_counter()
        after = reconcile_entity(src, conf, source, entity, staging, START, END)
        seconds = time.perf_counter() - t
        truth = Staging(scratch)
        stage_entity(src, conf, source, entity, truth, START, END)
        mine, theirs = compared(staging, source, entity, name), compared(truth, source, entity, name)
        differing = len({k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)})
    return Result(
        name, full.rows, int(full.stats["requests"]), unchanged.requests,
        len(unchanged.windows) + len(unchanged.series_windows), after.requests, after.probe_requests,
        after.reextract_requests, after.rows_reread, differing, seconds_full, seconds,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200, help="people in the sandbox org")
    parser.add_argument(
        "--entries", type=int, default=200_000, help="entries over two years (0: the default rate)"
    )
    parser.add_argument(
        "--mutations", type=int, default=8, help="random mutations before the second reconcile"
    )
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help=f"mutation kinds to cycle through ({','.join(KINDS)})"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default=",".join(ENTITIES), help="comma-separated source.entity subset")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    if set(args.kinds) - set(KINDS):
        parser.error(f"--kinds takes {', '.join(KINDS)}")
    org = OrgOptions(anchor=ANCHOR, users=args.users, target_entries=args.entries or None)
    print(f"sandbox: {args.users} people, {args.entries or 'default'} entries, two years [{START}, {END})")
    print(f"mutations: {args.mutations} ({', '.join(args.kinds)}), seed {args.seed}\n")
    server = start_background(SandboxOptions(org=org, rate_limit=False), timeout=600)
    results = []
    try:
        header = f"{'entity':26} {'records':>9} {'full':>6} {'unchanged':>9} {'after':>6} {'probe+re':>9} {'ratio':>7} {'rows re-read':>12} {'differ':>6}"
        print(header)
        for name in [n for n in args.only.split(",") if n]:
            r = run(server, name, args)
            results.append(r)
            print(f"{r.entity:26} {r.records:>9,} {r.full_reread:>6} {r.unchanged:>9} {r.after:>6} "
                  f"{f'{r.probe}+{r.reextract}':>9} {r.ratio:>7.1%} {r.rows_reread:>12,} {r.differing:>6}", flush=True)  # fmt: skip
            if r.unchanged_windows:
                print(f"  ! the unchanged reconcile re-extracted {r.unchanged_windows} window(s)")
    finally:
        server.stop()
    if args.json:
        out: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "args": vars(args) | {"json": str(args.json)},
        }
        out["results"] = [asdict(r) | {"ratio": r.ratio} for r in results]
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"results -> {args.json}")


if __name__ == "__main__":
    main()
