"""Outputs: a flow output's destination settings -> the writer and target that land it.

One place turns the YAML's ``to: {excel: ...}`` (and friends) into ``destinations`` objects, so
Dagster assets, the CLI and tests write the same way. Keyed writes (upsert, append_new) first
check that every row has its key (``without_null_keys``): a null key would merge distinct rows.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from destinations.base import Deletes, Mode, ParquetSource, Scope, WriteResult

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
        deletes: Deletes | None = None,
    ) -> WriteResult:
        extra = {"deletes": deletes} if deletes is not None else {}
        return self.writer.write(self.target, data, mode, keys, scope=scope, allow_empty=allow_empty, **extra)


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


class NullKeyError(ValueError):
    """Rows without a primary key value reached a keyed write (upsert, append_new)."""


def without_null_keys(
    data: ParquetSource | pa.Table, keys: tuple[str, ...], output: Output, what: str
) -> tuple[ParquetSource | pa.Table, int]:
    """``data`` minus rows with a null in a key column, and how many went; an error unless the output
    says ``null_keys: drop``. Only the key columns are read to find out."""
    present = [k for k in keys if k in data.schema.names]
    if not present:
        return data, 0
    if isinstance(data, ParquetSource):
        import pyarrow.dataset as ds

        key_table = (
            ds.dataset(list(data.paths), schema=data.schema, format="parquet").to_table(columns=present)
            if data.paths
            else data.schema.empty_table().select(present)
        )
    else:
        key_table = data.select(present)
    nulls = {k: key_table.column(k).null_count for k in present}
    if not any(nulls.values()):
        return data, 0
    valid = functools.reduce(pc.and_, [pc.is_valid(key_table.column(k)) for k in present])
    dropped = key_table.num_rows - (pc.sum(valid).as_py() or 0)
    if output.null_keys != "drop":
        named = ", ".join(f"{k} ({n:,} null)" for k, n in nulls.items() if n)
        raise NullKeyError(
            f"{what}: {dropped:,} row(s) have no value in primary key column(s) {named}; a {output.mode} "
            "matches rows by key and would merge them into one. Set primary_key on the output to columns "
            "that are always filled, or null_keys: drop to leave those rows out (counted in the metadata)"
        )
    table = data.to_table() if isinstance(data, ParquetSource) else data
    return table.filter(valid), dropped
