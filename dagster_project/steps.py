"""Flow steps as assets: ``flow/<flow>/<step>`` runs one planned DuckDB step over staged data.

A step reads its sources' staged partitions (only the days of the source's ``dates`` range, in the
flow's time zone, when one is set) and earlier steps' results, and writes its own result as Parquet
under ``<data_dir>/flows/<flow>/<step>.parquet`` (local or on an object store). The SQL it ran is in its metadata, so the UI shows
source -> steps -> outputs with the exact query behind each box, and so is a preview of the
result's first rows (``couplet flows preview`` prints the same before any run). Steps were planned
once when the flow files loaded; the plan is reused here.
"""

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pyarrow as pa

from connectors.core.entity import Entity
from pipelines import datadir
from pipelines.config import Flow
from pipelines.datadir import Location
from pipelines.loader import Catalog
from pipelines.staging import Staging, source_files
from pipelines.steps import PlannedStep, StepInput, execute_step

from .failures import reported
from .raw import PREVIEW_ROWS, preview
from .resources import CoupletResource
from .translator import entity_of, label, raw_path, step_path, timezone


def result_path(data_dir: str | Path, flow_name: str, step: str) -> Location:
    """Where a step's result lives: a local path, or an ``ObjectPath`` under a remote data directory."""
    return datadir.location(data_dir) / "flows" / flow_name / f"{step}.parquet"


def source_input(
    staging: Staging, connection: str, entity: Entity, flow: Flow, source: str, now: dt.datetime
) -> StepInput:
    """The staged files a step reads for one source: all of them, or those of its date range."""
    return source_files(staging, connection, entity, flow.sources[source].dates, now, timezone(flow))


def build_step_assets(flow_name: str, catalog: Catalog, secrets: Sequence[str]) -> list[dg.AssetsDefinition]:
    flow = catalog.flow_file.flows[flow_name]
    assets = []
    for index, planned in enumerate(catalog.plan(flow_name)):
        deps = []
        for name in planned.inputs:
            if name in flow.sources:
                spec = flow.sources[name]
                deps.append(dg.AssetKey(raw_path(spec.connection, spec.entity)))
            else:
                deps.append(dg.AssetKey(step_path(flow_name, name)))
        assets.append(_step_asset(flow_name, index, planned, deps, catalog, secrets))
    return assets


def _step_asset(
    flow_name: str,
    index: int,
    planned: PlannedStep,
    deps: list[dg.AssetKey],
    catalog: Catalog,
    secrets: Sequence[str],
) -> dg.AssetsDefinition:
    flow_file = catalog.flow_file
    flow = flow_file.flows[flow_name]
    sql = dg.MetadataValue.md(f"```sql\n{planned.sql}\n```")
    path = step_path(flow_name, planned.name)
    loc = ["flows", flow_name, "steps", index]
    where = [f"flow {flow_name}", f"{catalog.locate(loc)} {'.'.join(map(str, loc))} ({planned.kind})"]

    @dg.asset(
        key=dg.AssetKey(path),
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
        with reported(label(path), where, secrets):
            now = dt.datetime.now(dt.UTC)
            inputs: dict[str, StepInput] = {}
            for name in planned.inputs:
                if name in flow.sources:
                    spec = flow.sources[name]
                    entity = entity_of(flow_file, flow, name)
                    inputs[name] = source_input(couplet.staging, spec.connection, entity, flow, name, now)
                else:
                    file = result_path(couplet.data_dir, flow_name, name)
                    inputs[name] = StepInput((str(file),) if datadir.exists(file) else ())
            out = result_path(couplet.data_dir, flow_name, planned.name)
            rows = execute_step(planned, inputs, str(out))
            return dg.MaterializeResult(
                metadata={
                    "rows": rows,
                    "dagster/row_count": rows,
                    "sql": sql,
                    "parameters": ", ".join(map(repr, planned.params)) or "none",
                    "inputs": ", ".join(f"{k} ({len(v.files)} file(s))" for k, v in inputs.items()),
                    "path": dg.MetadataValue.path(str(out)),
                    "preview": preview(_head(out)),
                }
            )

    return _step


def _head(path: Location) -> pa.Table:
    """The first rows of a step's result."""
    with datadir.parquet_file(path) as file:
        first = next(file.iter_batches(batch_size=PREVIEW_ROWS), None)
        return pa.Table.from_batches([first]) if first is not None else file.schema_arrow.empty_table()
