"""Dagster definitions built from the flow files (``workspace.yaml`` loads ``defs`` from here).

Every entity of every configured connection becomes a raw asset, so the UI shows the whole
source even before a flow uses it. Each flow gets a job and a schedule. Dagster runs one
partitions definition per job, so a flow whose sources include year-scoped entities gets a second
job and schedule for them (``<flow>__yearly``); daily and unpartitioned assets share the main job.
Scheduled runs re-materialize a trailing look-back of partitions: late edits and deletions in that
window are caught because each partition is replaced whole.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import dagster as dg

from connectors import get_source
from connectors.core.entity import Partitioning
from pipelines.alerts import Failure, notify
from pipelines.config import Flow, FlowFile
from pipelines.loader import load_flows
from pipelines.schedule import cron_expressions, describe

from .assets import build_publish_asset, build_raw_asset, raw_key
from .resources import CoupletResource
from .steps import build_step_assets

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def flow_groups(flow_name: str, flow: Flow, flow_file: FlowFile) -> dict[Partitioning, list[dg.AssetKey]]:
    """The flow's asset keys by the job they run in (daily+unpartitioned together, yearly apart)."""
    groups: dict[Partitioning, list[dg.AssetKey]] = {Partitioning.DAILY: [], Partitioning.YEARLY: []}
    # Steps and their outputs are unpartitioned: they run in the main job, after the sources.
    step_names = [s.name for s in flow.steps]
    groups[Partitioning.DAILY] += [dg.AssetKey(["flow", flow_name, n]) for n in step_names]
    groups[Partitioning.DAILY] += [
        dg.AssetKey(["publish", flow_name, o.output_name]) for o in flow.outputs if o.from_ in step_names
    ]
    for sname, spec in flow.sources.items():
        entity = get_source(flow_file.connections[spec.connection].connector).entity(spec.entity)
        group = Partitioning.YEARLY if entity.partitioning is Partitioning.YEARLY else Partitioning.DAILY
        groups[group].append(raw_key(spec.connection, spec.entity))
        for out in flow.outputs:
            if out.from_ == sname:
                groups[group].append(dg.AssetKey(["publish", flow_name, out.output_name]))
    return {k: v for k, v in groups.items() if v}


def lookback_range(flow: Flow, kind: Partitioning, now: dt.datetime) -> tuple[str, str]:
    """Partition keys [first, last] a scheduled run re-materializes, as of ``now`` (UTC days)."""
    today = now.astimezone(dt.UTC).date()
    if kind is Partitioning.YEARLY:
        return str(today.year - 1), str(today.year)  # last year's records still change in January
    days = max((s.lookback_days for s in flow.sources.values()), default=31)
    return (today - dt.timedelta(days=days)).isoformat(), today.isoformat()


def job_name(flow_name: str, kind: Partitioning) -> str:
    return flow_name if kind is Partitioning.DAILY else f"{flow_name}__yearly"


def build_flow_jobs(flow_name: str, flow: Flow, flow_file: FlowFile) -> tuple[list, list]:
    jobs, schedules = [], []
    for kind, keys in flow_groups(flow_name, flow, flow_file).items():
        name = job_name(flow_name, kind)
        job = dg.define_asset_job(
            name,
            selection=dg.AssetSelection.assets(*keys),
            description=f"{flow.description or flow_name} ({kind.value} and unpartitioned assets)"
            if kind is Partitioning.DAILY
            else f"{flow.description or flow_name} (year-scoped assets)",
        )
        jobs.append(job)
        if flow.schedule is None:
            continue
        has_partitions = _has_partitions(keys, flow, flow_file, kind)

        def evaluate(
            context: dg.ScheduleEvaluationContext, _kind=kind, _flow=flow, _p=has_partitions
        ) -> Iterator[dg.RunRequest]:
            now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
            if not _p:
                yield dg.RunRequest(run_key=None)
                return
            first, last = lookback_range(_flow, _kind, now)
            yield dg.RunRequest(run_key=None, tags={RANGE_START: first, RANGE_END: last})

        schedules.append(
            dg.ScheduleDefinition(
                name=f"{name}_schedule",
                job=job,
                cron_schedule=_cron(flow),
                execution_timezone=flow.schedule.timezone,
                execution_fn=evaluate,
                description=f"{describe(flow.schedule)}; re-reads a trailing look-back of partitions",
            )
        )
    return jobs, schedules


def _cron(flow: Flow) -> str | list[str]:
    crons = cron_expressions(flow.schedule)
    return crons[0] if len(crons) == 1 else crons


def _has_partitions(keys: list[dg.AssetKey], flow: Flow, flow_file: FlowFile, kind: Partitioning) -> bool:
    if kind is Partitioning.YEARLY:
        return True
    for spec in flow.sources.values():
        entity = get_source(flow_file.connections[spec.connection].connector).entity(spec.entity)
        if entity.partitioning is Partitioning.DAILY and raw_key(spec.connection, spec.entity) in keys:
            return True
    return False


def build_alert_sensor(flow_name: str, flow: Flow, jobs: list) -> dg.SensorDefinition:
    """A run-failure sensor for the flow's jobs that sends its e-mail and/or webhook alert."""
    alerts = flow.alerts
    assert alerts is not None

    @dg.run_failure_sensor(
        name=f"{flow_name}_on_failure",
        monitored_jobs=jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Alerts on a failed run of {flow_name}: "
        + ", ".join(filter(None, [", ".join(alerts.email), "webhook" if alerts.webhook else ""])),
    )
    def _on_failure(context: dg.RunFailureSensorContext) -> None:
        error = context.failure_event.message or ""
        failure = Failure(
            flow_name,
            context.dagster_run.job_name,
            context.dagster_run.run_id,
            error,
            os.environ.get("COUPLET_UI_URL", ""),
        )
        for problem in notify(failure, alerts.email, alerts.webhook_url()):
            context.log.warning(problem)

    return _on_failure


def build_definitions(flow_file: FlowFile | None = None, data_dir: str | None = None) -> dg.Definitions:
    flow_file = flow_file or load_flows()
    assets: list[dg.AssetsDefinition] = []
    for name, conn in flow_file.connections.items():
        source = get_source(conn.connector)
        assets.extend(build_raw_asset(name, conn, source, entity, flow_file) for entity in source.entities)
    jobs: list = []
    schedules: list = []
    sensors: list = []
    for flow_name, flow in flow_file.flows.items():
        assets.extend(build_step_assets(flow_name, flow, flow_file))
        assets.extend(build_publish_asset(flow_name, out, flow_file) for out in flow.outputs)
        j, s = build_flow_jobs(flow_name, flow, flow_file)
        jobs += j
        schedules += s
        if flow.alerts is not None:
            sensors.append(build_alert_sensor(flow_name, flow, j))
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources={"couplet": CoupletResource(data_dir=data_dir or flow_file.settings.data_dir)},
        # Steps share DuckDB files and the connection's rate limiter: run them in one process.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
