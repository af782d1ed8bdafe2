"""Flow steps as assets: ``flow/<flow>/<step>`` runs one planned DuckDB step over staged data.

A step reads its sources' staged partitions (only the days of the source's ``dates`` range, in the
flow's time zone, when one is set) and earlier steps' results, and writes its own result as Parquet
under ``<data_dir>/flows/<flow>/<step>.parquet``. The SQL it ran is in its metadata, so the UI shows
source -> steps -> outputs with the exact query behind each box.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb

from connectors import get_source
from connectors.core.entity import Entity, Partitioning
from connectors.core.extract import staged_schema
from pipelines.config import Flow, FlowFile
from pipelines.dates import resolve
from pipelines.staging import Staging
from pipelines.steps import PlannedStep, arrow_columns, execute_step, plan_steps

from .assets import raw_key
from .resources import CoupletResource


def step_key(flow_name: str, step: str) -> dg.AssetKey:
    return dg.AssetKey(["flow", flow_name, step])


def step_path(data_dir: str | Path, flow_name: str, step: str) -> Path:
    return Path(data_dir) / "flows" / flow_name / f"{step}.parquet"


def flow_timezone(flow: Flow) -> str:
    return flow.schedule.timezone if flow.schedule else "UTC"


def plan(flow: Flow, flow_file: FlowFile) -> list[PlannedStep]:
    inputs = {}
    for name, spec in flow.sources.items():
        entity = get_source(flow_file.connections[spec.connection].connector).entity(spec.entity)
        inputs[name] = arrow_columns(staged_schema(entity))
    return plan_steps(flow.steps, inputs)


def source_files(
    staging: Staging, connection: str, entity: Entity, flow: Flow, source: str, now: dt.datetime
) -> list[str]:
    """The staged files a step reads for one source: all of them, or those of its date range."""
    files = staging.files(connection, entity.name)
    spec = flow.sources[source]
    if spec.dates is None or entity.partitioning is Partitioning.NONE:
        return [str(f) for f in files]
    start, end = resolve(spec.dates, now, flow_timezone(flow))
    keep = []
    for f in files:
        key = f.stem
        if entity.partitioning is Partitioning.YEARLY:
            inside = start.year <= int(key) <= (end - dt.timedelta(days=1)).year
        else:
            inside = start <= dt.date.fromisoformat(key) < end
        if inside:
            keep.append(str(f))
    return keep


def build_step_assets(flow_name: str, flow: Flow, flow_file: FlowFile) -> list[dg.AssetsDefinition]:
    assets = []
    for planned in plan(flow, flow_file):
        deps = []
        for name in planned.inputs:
            if name in flow.sources:
                spec = flow.sources[name]
                deps.append(raw_key(spec.connection, spec.entity))
            else:
                deps.append(step_key(flow_name, name))
        assets.append(_step_asset(flow_name, flow, flow_file, planned, deps))
    return assets


def _step_asset(
    flow_name: str, flow: Flow, flow_file: FlowFile, planned: PlannedStep, deps: list[dg.AssetKey]
):
    sql = dg.MetadataValue.md(f"```sql\n{planned.sql}\n```")

    @dg.asset(
        key=step_key(flow_name, planned.name),
        group_name=flow_name,
        kinds={"duckdb"},
        deps=deps,
        description=f"{planned.kind} of {', '.join(planned.inputs)}",
        metadata={
            "sql": sql,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(n, t) for n, t in planned.columns]
            ),
        },
    )
    def _step(context: dg.AssetExecutionContext, couplet: CoupletResource) -> dg.MaterializeResult:
        now = dt.datetime.now(dt.UTC)
        inputs: dict[str, list[str]] = {}
        for name in planned.inputs:
            if name in flow.sources:
                spec = flow.sources[name]
                entity = get_source(flow_file.connections[spec.connection].connector).entity(spec.entity)
                inputs[name] = source_files(couplet.staging, spec.connection, entity, flow, name, now)
            else:
                path = step_path(couplet.data_dir, flow_name, name)
                inputs[name] = [str(path)] if path.exists() else []
        out = step_path(couplet.data_dir, flow_name, planned.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            rows = execute_step(planned, inputs, str(out))
        except duckdb.Error as exc:
            raise dg.Failure(
                description=f"step {planned.name!r} of flow {flow_name!r} failed: {exc}"
            ) from exc
        return dg.MaterializeResult(
            metadata={
                "rows": rows,
                "dagster/row_count": rows,
                "sql": sql,
                "parameters": ", ".join(map(repr, planned.params)) or "none",
                "inputs": ", ".join(f"{k} ({len(v)} file(s))" for k, v in inputs.items()),
                "path": dg.MetadataValue.path(str(out)),
            }
        )

    return _step
