"""Outputs: a flow output's destination settings -> the writer and target that land it.

One place turns the YAML's ``to: {excel: ...}`` (and friends) into ``destinations`` objects, so
Dagster assets, the CLI and tests write the same way.
"""

from __future__ import annotations

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

        return Landing(SheetsWriter(updated_at=t.updated_at), SheetsTarget(t.spreadsheet, t.worksheet), kind)
    if kind == "bigquery":
        from destinations.bigquery import BigQueryTarget, BigQueryWriter

        partition = t.partition_column or ("_window_start" if partitioned else None)
        target = BigQueryTarget(t.project, t.dataset, t.table, t.location, partition, tuple(t.clustering))
        return Landing(BigQueryWriter(), target, kind)
    raise ValueError(f"unknown destination {kind!r}")


def describe(output: Output) -> str:
    """Where an output lands, for people: a path#sheet, a sheet URL, a table id."""
    t = output.to.settings
    return {
        "duckdb": lambda: f"{t.path}#{getattr(t, 'table', '')}",
        "excel": lambda: f"{getattr(t, 'path', '')}#{getattr(t, 'sheet', '')}",
        "google_sheets": lambda: (
            (
                t.spreadsheet
                if str(t.spreadsheet).startswith("http")
                else f"https://docs.google.com/spreadsheets/d/{t.spreadsheet}"
            )
            + f" [{t.worksheet}]"
        ),
        "bigquery": lambda: (
            f"{getattr(t, 'project', '')}.{getattr(t, 'dataset', '')}.{getattr(t, 'table', '')}"
        ),
    }[output.to.kind]()
