"""``couplet flows``: validate, list, show and run flows from the command line.

``run`` executes the flow's jobs in this process through Dagster (runs are recorded in the instance
under ``DAGSTER_HOME``, default ``data/dagster_home``, so the UI shows them), printing each step
as it finishes and a table of rows per asset at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time
import uuid

import dagster as dg

from pipelines.config import Flow, FlowFile
from pipelines.loader import flow_paths, load_flows

from .definitions import RANGE_END, RANGE_START, build_definitions, flow_groups, job_name, lookback_range


def add_parser(sub: argparse._SubParsersAction) -> None:
    flows = sub.add_parser("flows", help="validate, list, show and run flows")
    fsub = flows.add_subparsers(dest="flows_command", required=True)
    v = fsub.add_parser("validate", help="check flow files; every mistake with file, line and key")
    v.add_argument(
        "files", nargs="*", help="flow files or folders (default: COUPLET_FLOWS or the shipped flows)"
    )
    fsub.add_parser("list", help="the flows, their sources, outputs and schedules")
    s = fsub.add_parser("show", help="a flow's plan: assets, partitions, schedule, next runs")
    s.add_argument("flow")
    r = fsub.add_parser("run", help="run a flow now, through Dagster, in this process")
    r.add_argument("flow")
    r.add_argument("--start", help="first day (YYYY-MM-DD) of the time-partitioned sources")
    r.add_argument("--end", help="day after the last (YYYY-MM-DD); default: today + 1")


def run(args: argparse.Namespace) -> int:
    command = args.flows_command
    if command == "validate":
        paths = [p for f in args.files for p in flow_paths(f)] if args.files else flow_paths()
        flow_file = load_flows(paths)
        print(
            f"ok: {len(paths)} file(s), {len(flow_file.connections)} connection(s), {len(flow_file.flows)} flow(s)"
        )
        return 0
    flow_file = load_flows()
    if command == "list":
        for name, flow in flow_file.flows.items():
            print(
                f"{name}: {len(flow.sources)} source(s), {len(flow.outputs)} output(s); {schedule_text(flow)}"
            )
            if flow.description:
                print(f"    {flow.description}")
        return 0
    flow = _flow(flow_file, args.flow)
    if command == "show":
        show(args.flow, flow, flow_file)
        return 0
    return run_flow(args.flow, flow, flow_file, args.start, args.end)


def _flow(flow_file: FlowFile, name: str) -> Flow:
    if name not in flow_file.flows:
        raise KeyError(f"no flow {name!r}; flows: {', '.join(sorted(flow_file.flows))}")
    return flow_file.flows[name]


def schedule_text(flow: Flow) -> str:
    if flow.schedule is None:
        return "no schedule (run on demand)"
    from pipelines.schedule import describe

    return describe(flow.schedule)


def show(name: str, flow: Flow, flow_file: FlowFile) -> None:
    print(f"flow {name}" + (f": {flow.description}" if flow.description else ""))
    for kind, keys in flow_groups(name, flow, flow_file).items():
        print(
            f"  job {job_name(name, kind)} ({kind.value} partitions and unpartitioned assets)"
            if kind.value == "daily"
            else f"  job {job_name(name, kind)} (yearly partitions)"
        )
        for key in keys:
            print(f"    {'/'.join(key.path)}")
    print(f"  schedule: {schedule_text(flow)}")
    if flow.schedule is not None:
        from pipelines.schedule import next_runs

        now = dt.datetime.now(dt.UTC)
        for when in next_runs(flow.schedule, now, 3):
            print(f"    next: {when.isoformat(sep=' ', timespec='minutes')}")
        days = max((s.lookback_days for s in flow.sources.values()), default=31)
        print(
            f"  each scheduled run re-reads the last {days} days (and last year + this year for yearly sources)"
        )


def run_range(
    kind_value: str, lookback: tuple[str, str], start: str | None, end: str | None
) -> tuple[str, str]:
    """Partition keys [first, last] of a run: the given days, or the schedule's look-back."""
    if not (start or end):
        return lookback
    today = dt.datetime.now(dt.UTC).date()
    first_day = dt.date.fromisoformat(start) if start else today - dt.timedelta(days=31)
    last_day = (dt.date.fromisoformat(end) if end else today + dt.timedelta(days=1)) - dt.timedelta(days=1)
    if last_day < first_day:
        raise ValueError(f"--end must be after --start (got {start} .. {end})")
    if kind_value == "daily":
        return first_day.isoformat(), last_day.isoformat()
    return str(first_day.year), str(last_day.year)


def run_flow(name: str, flow: Flow, flow_file: FlowFile, start: str | None, end: str | None) -> int:
    from .demo import instance

    defs = build_definitions(flow_file)
    inst = instance()
    now = dt.datetime.now(dt.UTC)
    failed = False
    totals: dict[str, str] = {}
    for kind in flow_groups(name, flow, flow_file):
        first, last = run_range(kind.value, lookback_range(flow, kind, now), start, end)
        job = defs.resolve_job_def(job_name(name, kind))
        print(f"run {job.name} [{first} .. {last}]")
        run_id = str(uuid.uuid4())  # a Dagster run id, chosen here so progress can follow the run
        outcome: dict[str, object] = {}

        def execute(job=job, run_id=run_id, first=first, last=last, outcome=outcome) -> None:
            outcome["result"] = job.execute_in_process(
                instance=inst,
                run_id=run_id,
                tags={RANGE_START: first, RANGE_END: last},
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )

        thread = threading.Thread(target=execute, daemon=True)
        thread.start()
        totals.update(_follow(inst, run_id, thread))
        result = outcome.get("result")
        ok = bool(getattr(result, "success", False))
        failed |= not ok
        print(f"  {'ok' if ok else 'FAILED'}")
    width = max((len(a) for a in totals), default=10)
    print(f"\n{'asset'.ljust(width)}  rows")
    for asset, rows in totals.items():
        print(f"{asset.ljust(width)}  {rows}")
    return 1 if failed else 0


def _follow(inst: dg.DagsterInstance, run_id: str, thread: threading.Thread) -> dict[str, str]:
    """Print each step as it finishes; return rows per materialized asset."""
    seen = 0
    totals: dict[str, str] = {}
    started: dict[str, float] = {}
    while True:
        alive = thread.is_alive()
        records = inst.get_records_for_run(run_id).records if inst.get_run_by_id(run_id) else []
        for rec in records[seen:]:
            entry = rec.event_log_entry
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            kind = event.event_type_value
            if kind == "STEP_START":
                started[event.step_key] = entry.timestamp
            elif kind == "ASSET_MATERIALIZATION":
                # One event per partition of a range, all with the run's numbers: keep one per asset.
                mat = event.event_specific_data.materialization
                rows = mat.metadata.get("rows") or mat.metadata.get("rows_written")
                totals["/".join(mat.asset_key.path)] = str(getattr(rows, "value", ""))
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                took = entry.timestamp - started.get(event.step_key, entry.timestamp)
                mark = "done" if kind == "STEP_SUCCESS" else "FAILED"
                print(f"  {mark:6} {event.step_key.replace('__', '/')}  {took:.1f}s", flush=True)
                if kind == "STEP_FAILURE" and event.step_failure_data and event.step_failure_data.error:
                    print(f"         {event.step_failure_data.error.message.strip()}", file=sys.stderr)
        seen = len(records)
        if not alive:
            return totals
        time.sleep(0.5)
