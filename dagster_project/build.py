"""Dagster definitions built from the flow files, once per process.

Every entity of every healthy connection becomes a raw asset (so the UI shows the whole source
before a flow uses it); each healthy flow adds its steps, outputs, job, schedule and alert sensor,
and ``all_flows`` runs them all at once. A flow file with mistakes never takes the others down:
its healthy neighbours load as usual, and the file itself appears in the UI as an asset in the
``broken_flow_files`` group (key ``broken_flow_file/<file>``, first in the catalog) whose
description lists every problem with file, line and fix.
"""

from __future__ import annotations

import logging
import re
from functools import cache

import dagster as dg

from connectors import get_source
from pipelines.config import FlowFile, ProjectSettings
from pipelines.loader import Catalog, load_catalog
from pipelines.yamlfile import Problem

from .failures import secret_values
from .jobs import build_alert_sensor, build_all_flows_job, build_job, build_schedule
from .publish import build_publish_asset
from .raw import build_raw_asset
from .resources import CoupletResource
from .steps import build_step_assets
from .translator import flow_assets

log = logging.getLogger("couplet")
ERRORS_GROUP = "broken_flow_files"  # sorts first in the catalog: a broken file is the first thing seen


def broken_file_asset(file: str, problems: list[Problem]) -> dg.AssetSpec:
    """A flow file with mistakes, shown in the UI: its problems are the asset's description."""
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", file.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip("_") or "file"
    lines = "\n".join(f"- `{p}`" for p in problems)
    return dg.AssetSpec(
        key=dg.AssetKey(["broken_flow_file", stem]),
        group_name=ERRORS_GROUP,
        kinds={"yaml"},
        description=f"{file} has {len(problems)} problem(s): what it defines does not load until "
        f"they are fixed (the other flow files are not affected):\n\n{lines}\n\n"
        "Check with `couplet flows validate`.",
        metadata={
            "file": dg.MetadataValue.path(file),
            "problems": dg.MetadataValue.md(lines),
            "problem_count": len(problems),
        },
    )


def build_definitions(
    flows: Catalog | FlowFile | None = None,
    data_dir: str | None = None,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """The definitions of ``flows``; ``data_dir`` and ``executor`` override the flow files' settings."""
    catalog = flows if isinstance(flows, Catalog) else Catalog.of(flows) if flows else load_catalog()
    flow_file = catalog.flow_file
    secrets = secret_values(flow_file)
    assets: list[dg.AssetsDefinition | dg.AssetSpec] = []
    for name, conn in flow_file.connections.items():
        source = get_source(conn.connector)
        assets += [
            build_raw_asset(name, conn, source, entity, catalog, secrets) for entity in source.entities
        ]
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    every = []
    for flow_name, flow in flow_file.flows.items():
        assets += build_step_assets(flow_name, catalog, secrets)
        assets += [build_publish_asset(flow_name, i, catalog, secrets) for i in range(len(flow.outputs))]
        fa = flow_assets(flow_name, flow, flow_file)
        every.append(fa)
        job = build_job(flow_name, flow, fa)
        jobs.append(job)
        if flow.schedule is not None:
            schedules.append(build_schedule(flow_name, flow, flow_file, fa, job))
    all_flows = build_all_flows_job(every) if every else None
    for flow_name, flow in flow_file.flows.items():
        if flow.alerts is not None:
            fa = flow_assets(flow_name, flow, flow_file)
            monitored = [j for j in jobs if j.name == flow_name] + ([all_flows] if all_flows else [])
            sensors.append(build_alert_sensor(flow_name, flow, fa, monitored))
    for file, problems in catalog.broken_files().items():
        log.warning(
            "couplet: %s has %d problem(s); its flows are set aside:\n  %s",
            file,
            len(problems),
            "\n  ".join(map(str, problems)),
        )
        assets.append(broken_file_asset(file, problems))
    return dg.Definitions(
        assets=assets,
        jobs=[*jobs, *([all_flows] if all_flows else [])],
        schedules=schedules,
        sensors=sensors,
        resources={"couplet": CoupletResource(data_dir=data_dir or flow_file.settings.data_dir)},
        executor=executor or executor_of(flow_file.settings),
    )


def executor_of(settings: ProjectSettings) -> dg.ExecutorDefinition:
    """``settings.executor``: in_process (the default: one process, no start-up cost per asset) or
    multiprocess (``settings.max_concurrent`` assets at once, each in its own process). Either way the
    limits that must hold across processes are Dagster pools, and a connection's rate-limit state
    goes from process to process through the data dir (``pipelines.ratestate``)."""
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": settings.processes})
    return dg.in_process_executor


@cache
def definitions() -> dg.Definitions:
    """The definitions of the flow files in ``COUPLET_FLOWS`` (or the shipped ones), built once."""
    return build_definitions(load_catalog())
