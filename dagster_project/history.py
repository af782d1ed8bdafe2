"""``couplet flows history FLOW``: a flow's last runs, read from the Dagster instance.

A run belongs to a flow when it was started for it (its job, a schedule, ``couplet flows run``, which
tag runs with ``couplet/flows``, several flows comma-separated) or when it materialized any of the
flow's own assets (a materialization started in the UI). For each: status, how it was started,
start time in the flow's time zone, duration, rows per output as the run's materializations recorded
them, and each failure's cause. Runs are read newest first; each run's event log is read by cursor.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.config import Flow, FlowFile

from .runs import AssetOutcome, RunFollower, op_map
from .translator import TAG_ALERTED, TAG_FLOWS, TAG_RECONCILE, Path, flow_assets, label, timezone

SCAN = 500  # recent runs looked through for the flow's (a run may serve other flows)


@dataclass
class RunSummary:
    run_id: str
    status: str
    trigger: str
    started: dt.datetime | None
    seconds: float | None
    outputs: dict[str, AssetOutcome] = field(default_factory=dict)  # publish assets, by label
    failures: list[tuple[str, str]] = field(default_factory=list)  # (asset, cause)


def flow_runs(
    instance: dg.DagsterInstance, name: str, flow: Flow, flow_file: FlowFile, last: int
) -> list[RunSummary]:
    """The flow's ``last`` runs, newest first."""
    paths = flow_assets(name, flow, flow_file).paths
    own = {dg.AssetKey(p) for p in paths if p[0] != "raw"}  # sources may be shared with other flows
    found = []
    for record in instance.get_run_records(limit=SCAN):
        run = record.dagster_run
        if not _belongs(run, name, own):
            continue
        found.append(_summary(instance, record, paths))
        if len(found) == last:
            break
    return found


def _belongs(run: dg.DagsterRun, name: str, own: set[dg.AssetKey]) -> bool:
    if name in run.tags.get(TAG_FLOWS, "").split(","):
        return True
    return run.job_name == name or bool(run.asset_selection and run.asset_selection & own)


def _summary(instance: dg.DagsterInstance, record: dg.RunRecord, paths: Iterable[Path]) -> RunSummary:
    run = record.dagster_run
    follower = RunFollower(instance, run.run_id, op_map(paths))
    follower.poll()
    if run.is_finished:  # what never started was skipped (an upstream failed)
        follower.finish(label(p) for p in paths)
    started = dt.datetime.fromtimestamp(record.start_time, dt.UTC) if record.start_time else None
    seconds = record.end_time - record.start_time if record.start_time and record.end_time else None
    outputs = {a: o for a, o in follower.outcomes.items() if a.startswith("publish/")}
    return RunSummary(
        run.run_id,
        run.status.value,
        _trigger(run),
        started,
        seconds,
        outputs,
        follower.failures(),
    )


def _trigger(run: dg.DagsterRun) -> str:
    tags = run.tags
    reconcile = " (reconcile)" if tags.get(TAG_RECONCILE) else ""
    if "dagster/schedule_name" in tags:
        return f"schedule {tags['dagster/schedule_name']}{reconcile}"
    if "dagster/backfill" in tags:
        return f"backfill {tags['dagster/backfill']}"
    if "dagster/sensor_name" in tags:
        return f"sensor {tags['dagster/sensor_name']}"
    if tags.get(TAG_ALERTED):
        return f"couplet CLI{reconcile}"
    return f"Dagster UI{reconcile}"


def print_history(
    name: str, flow: Flow, flow_file: FlowFile, last: int, instance: dg.DagsterInstance, out=None
) -> int:
    out = out or sys.stdout
    runs = flow_runs(instance, name, flow, flow_file, last)
    if not runs:
        print(f"flow {name}: no runs yet in this Dagster instance (DAGSTER_HOME)", file=out)
        return 0
    zone_name = timezone(flow)
    zone = ZoneInfo(zone_name)
    print(f"flow {name}: the last {len(runs)} run(s), newest first (times in {zone_name})", file=out)
    print(f"\n{'run':8}  {'status':9} {'started':19}  {'took':>8}  started by", file=out)
    for r in runs:
        when = r.started.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if r.started else "not started"
        took = f"{r.seconds:.1f}s" if r.seconds is not None else "-"
        print(f"{r.run_id[:8]}  {r.status:9} {when:19}  {took:>8}  {r.trigger}", file=out)
        for asset, o in sorted(r.outputs.items()):
            rows = f"{o.rows:,} rows" if o.rows is not None else "-"
            print(f"    {asset}  {o.status}  {rows}", file=out)
        for asset, cause in r.failures:
            first = cause.removeprefix(f"{asset} failed: ").splitlines()[0] if cause else "(no cause)"
            print(f"    FAILED {asset}: {first}", file=out)
    return 0
