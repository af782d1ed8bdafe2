"""Jobs, schedules and alert sensors of the flows.

One job per flow (its sources, steps and outputs; monthly partitioned when it reads a daily
source) and ``all_flows`` (every flow's assets in one run: what ``couplet demo`` and
``couplet flows run --all`` start, so a source shared by flows is read once).

A flow's schedule starts **running** unless the flow file says ``enabled: false``. Each tick asks
for the flow's job over its look-back: the months holding the last ``lookback_days`` days (today
in the flow's time zone) as the partition range, and those days exactly as ``couplet/window``.

A flow with ``alerts`` gets a run-failure sensor over its own job and ``all_flows``; it alerts when
the failed run touched the flow, naming each failed asset and its cause. Runs the CLI started are
alerted by the CLI itself (Dagster's run-status sensors only see runs launched through a code
location) and tagged so that nothing is sent twice.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import dagster as dg

from connectors.core.sizing import next_month
from pipelines.config import Flow, FlowFile
from pipelines.schedule import cron_expressions, describe

from .runs import failed_steps, op_map, send_alerts
from .translator import (
    ALL_FLOWS_JOB,
    TAG_FLOWS,
    TAG_LOOKBACK,
    TAG_RECONCILE,
    FlowAssets,
    lookback_window,
    reconcile_window,
    window_tags,
)


def build_job(flow_name: str, flow: Flow, assets: FlowAssets) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        flow_name,
        selection=dg.AssetSelection.assets(*(dg.AssetKey(p) for p in assets.paths)),
        description=flow.description or f"flow {flow_name}",
        tags={TAG_FLOWS: flow_name},
    )


def build_all_flows_job(assets: list[FlowAssets]) -> dg.UnresolvedAssetJobDefinition:
    keys = {dg.AssetKey(p) for a in assets for p in a.paths}
    return dg.define_asset_job(
        ALL_FLOWS_JOB,
        selection=dg.AssetSelection.assets(*sorted(keys, key=lambda k: k.to_user_string())),
        description="Every flow in one run: each source is read once, however many flows use it",
    )


def scheduled_tags(
    flow: Flow, flow_file: FlowFile, assets: FlowAssets, now: dt.datetime, reconcile: bool = False
) -> dict[str, str]:
    """Tags of a scheduled run: the flow, and its look-back when it has monthly assets; a reconciling
    run covers the flow's reconcile range (its look-back re-read, older days checked for drift)."""
    if not assets.partitioned:
        return {}
    window = reconcile_window if reconcile else lookback_window
    start, end = window([flow], flow_file, now)
    first = flow_file.settings.partitions_start
    # Partitions exist from partitions_start up to the current UTC month.
    start = max(start, first)
    end = min(end, next_month(now.astimezone(dt.UTC).date()))
    tags = {**window_tags(start, max(end, start + dt.timedelta(days=1))), TAG_LOOKBACK: "1"}
    return {**tags, TAG_RECONCILE: "1"} if reconcile else tags


def reconcile_due(
    instance: dg.DagsterInstance | None, flow_name: str, flow: Flow, assets: FlowAssets, now: dt.datetime
) -> bool:
    """Whether this scheduled run should also reconcile: the flow has dated sources and its last
    successful reconciling run is older than ``reconcile.every_days`` (or there is none)."""
    if not (assets.partitioned and flow.reconcile.enabled) or instance is None:
        return False
    last = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=flow_name, tags={TAG_RECONCILE: "1"}, statuses=[dg.DagsterRunStatus.SUCCESS]
        ),
        limit=1,
    )
    if not last:
        return True
    record = instance.get_run_record_by_id(last[0].run_id)
    started = record.start_time if record is not None and record.start_time else 0.0
    age = now.timestamp() - started
    return age >= flow.reconcile.every_days * 86400 - 3600  # an hour early: a daily tick drifts


def build_schedule(
    flow_name: str, flow: Flow, flow_file: FlowFile, assets: FlowAssets, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    schedule = flow.schedule
    assert schedule is not None

    def evaluate(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        reconcile = reconcile_due(context.instance_ref and context.instance, flow_name, flow, assets, now)
        yield dg.RunRequest(run_key=None, tags=scheduled_tags(flow, flow_file, assets, now, reconcile))

    crons = cron_expressions(schedule)
    return dg.ScheduleDefinition(
        name=f"{flow_name}_schedule",
        job=job,
        cron_schedule=crons[0] if len(crons) == 1 else crons,
        execution_timezone=schedule.timezone,
        execution_fn=evaluate,
        default_status=dg.DefaultScheduleStatus.RUNNING
        if schedule.enabled
        else dg.DefaultScheduleStatus.STOPPED,
        description=f"{describe(schedule)}; re-reads a trailing look-back"
        + (
            f"; every {flow.reconcile.every_days} day(s) also checks older history for drift"
            if flow.reconcile.enabled and assets.partitioned
            else ""
        )
        + ("" if schedule.enabled else " (enabled: false in the flow file)"),
    )


def build_alert_sensor(
    flow_name: str, flow: Flow, assets: FlowAssets, jobs: list[dg.UnresolvedAssetJobDefinition]
) -> dg.SensorDefinition:
    """A run-failure sensor for the flow's job (and ``all_flows``) that sends its alerts."""
    alerts = flow.alerts
    assert alerts is not None
    ops = op_map(assets.paths)

    @dg.run_failure_sensor(
        name=f"{flow_name}_on_failure",
        monitored_jobs=jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Alerts on a failed run of {flow_name}: "
        + ", ".join(filter(None, [", ".join(alerts.email), "webhook" if alerts.webhook else ""])),
    )
    def _on_failure(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        failures = failed_steps(context.instance, run.run_id, ops)
        if run.job_name != flow_name and not failures:
            return  # a run of all_flows that failed elsewhere
        for problem in send_alerts({flow_name: flow}, run, failures, os.environ.get("COUPLET_UI_URL", "")):
            context.log.warning(problem)

    return _on_failure
