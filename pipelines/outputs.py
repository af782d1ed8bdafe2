"""Outputs: a flow output's destination settings -> the writer and target that land it.

One place turns the YAML's ``to: {excel: ...}`` (and friends) into ``destinations`` objects, so
Dagster assets, the CLI and tests write the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from destinations.base import Mode, ParquetSource, Scope, WriteResult

from .config import Output


@dataclass(frozen=True)
class Landing:
    writer: Any
    target: Any
    kind: str

    def write(
        self,
        data: ParquetSource | pa.Table,
        mode: Mode,
        keys: tuple[str, ...],
        scope: Scope | None,
        allow_empty: bool,
    ) -> WriteResult:
        return self.writer.write(self.target, data, mode, keys, scope=scope, allow_empty=allow_empty)


def landing(output: Output, partitioned: bool) -> Landing:
    """Writer and target for ``output``; ``partitioned`` sources get BigQuery day partitions."""
    kind, t = output.to.kind, output.to.settings
    if kind == "duckdb":
        from destinations.duckdb import DuckDBTarget, DuckDBWriter

        return Landing(DuckDBWriter(), DuckDBTarget(t.path, t.table), kind)
    if kind == "excel":
        from destinations.excel import ExcelTarget, ExcelWriter

        return Landing(ExcelWriter(), ExcelTarget(t.path, t.sheet), kind)
    if kind == "google_sheets":
        from destinations.google_sheets import SheetsTarget, SheetsWriter

        writer = SheetsWriter(updated_at=t.updated_at, endpoint=t.endpoint)
        return Landing(writer, SheetsTarget(t.spreadsheet, t.worksheet), kind)
    if kind == "bigquery":
        from destinations.bigquery import BigQueryTarget, BigQueryWriter

        partition = t.partition_column or ("_window_start" if partitioned else None)
        target = BigQueryTarget(t.project, t.dataset, t.table, t.location, partition, tuple(t.clustering))
        return Landing(BigQueryWriter(endpoint=t.endpoint), target, kind)
    raise ValueError(f"unknown destination {kind!r}")


def describe(output: Output) -> str:
    """Where an output lands, for people: a path#sheet, a sheet URL, a table id; for Google outputs
    sent to an emulator (the ``endpoint`` setting or its environment variable), ``... at <endpoint>``."""
    t = output.to.settings
    return {
        "duckdb": lambda: f"{t.path}#{getattr(t, 'table', '')}",
        "excel": lambda: f"{getattr(t, 'path', '')}#{getattr(t, 'sheet', '')}",
        "google_sheets": lambda: _sheet(t),
        "bigquery": lambda: (
            f"{getattr(t, 'project', '')}.{getattr(t, 'dataset', '')}.{getattr(t, 'table', '')}"
            + _at(t, "bigquery")
        ),
    }[output.to.kind]()


def _sheet(t: Any) -> str:
    at = _at(t, "google_sheets")
    url = str(t.spreadsheet)
    if not at and not url.startswith("http"):
        url = f"https://docs.google.com/spreadsheets/d/{url}"
    return f"{url} [{t.worksheet}]{at}"


def _at(settings: Any, kind: str) -> str:
    """`` at <endpoint>`` when a Google output goes to an emulator, else nothing."""
    from destinations.google_auth import ENV_BIGQUERY_ENDPOINT, ENV_SHEETS_ENDPOINT, shown_endpoint

    env_var = ENV_SHEETS_ENDPOINT if kind == "google_sheets" else ENV_BIGQUERY_ENDPOINT
    endpoint = getattr(settings, "endpoint", None) or os.environ.get(env_var, "").strip()
    return f" at {shown_endpoint(endpoint.rstrip('/'))}" if endpoint else ""
