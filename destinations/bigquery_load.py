"""The steps of one BigQuery write: Parquet spooling, table creation, load jobs, staging + MERGE.

See ``destinations.bigquery_writer`` for what each mode does and why it is atomic.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from .base import (
    Deletes,
    DestinationConfigError,
    LimitExceededError,
    Mode,
    Scope,
    WriteResult,
    check_deletes_scope,
    check_limits,
    guard_empty,
)
from .bigquery_schema import (
    TIME_TYPES,
    arrow_type,
    clustering_for,
    convert,
    count_marked,
    delete_gone,
    delete_scope,
    ident,
    merge_scope,
    merge_upsert,
    parquet_type,
    plan_fields,
    standard,
    to_field,
)
from .rewrite import check_scope

if TYPE_CHECKING:
    from .bigquery import BigQueryTarget
    from .bigquery_writer import BigQueryWriter

SEQ = "_couplet_seq"  # arrival order of staged rows, so the last row of a key wins the MERGE


class LoadRun:
    """One write: the state shared by its steps."""

    def __init__(self, writer: BigQueryWriter, client: bigquery.Client, target: BigQueryTarget, mode: Mode,
                 keys: list[str], scope: Scope | None, name: str, deletes: Deletes | None = None,
                 now: dt.datetime | None = None) -> None:  # fmt: skip
        self.w, self.client, self.target, self.mode, self.keys, self.scope, self.name = (
            writer, client, target, mode, keys, scope, name,
        )  # fmt: skip
        self.deletes = self.gone = deletes
        # the write's time: soft deletes mark rows with it (and last_updated stamped the rows with it)
        self.now = now or dt.datetime.now(dt.UTC)
        self.job_ids: list[str] = []
        self.location = target.location
        self.table: bigquery.Table | None = None

    # -- steps -------------------------------------------------------------------------------
    def write(self, reader: pa.RecordBatchReader, incoming: list[bigquery.SchemaField], allow_empty: bool,
              started: float) -> WriteResult:  # fmt: skip
        table = self._get_table()
        if table is not None and self.mode is Mode.UPSERT:  # before anything is loaded or changed
            check_deletes_scope(self.deletes, [f.name for f in table.schema], self.name, ignore_case=True)
        self.gone = self.deletes if table is not None else None  # a new table has no rows to delete
        whole = self.mode is Mode.REPLACE and self.scope is None
        replaced = int(table.num_rows or 0) if (table is not None and whole) else 0
        load, added = plan_fields(incoming, None if (table is None or whole) else table.schema, self.name)
        if table is None or whole:
            self._check_layout(load)
        # Append loads straight into the table: the file carries every table column (nulls for the
        # ones the data lacks) so nothing depends on how BigQuery fills missing Parquet columns.
        padding = [f for f in table.schema if f.name.lower() not in {x.name.lower() for x in load}] if (
            table is not None and self.mode is Mode.APPEND) else []  # fmt: skip
        staged = self.mode is Mode.UPSERT or self.scope is not None
        with tempfile.SpooledTemporaryFile(max_size=self.w.spool_max_bytes, mode="r+b") as spool:
            rows = _to_parquet(reader, load, padding, spool, self.mode is Mode.UPSERT, self._check_batch)
            guard_empty(self.mode, rows, allow_empty, self.name, self.scope, self.deletes)
            size = spool.tell()
            if table is None:
                table = self._create(load)
            elif added and not whole:
                table.schema = [*table.schema, *added]
                table = self.client.update_table(
                    table, ["schema"]
                )  # adding nullable columns is harmless if we fail later
            self.table = table
            stats: dict[str, int] = {}
            if rows == 0:
                stats = self._empty(table)
            elif not staged:
                fields = [*load, *padding]
                self._load(
                    spool,
                    size,
                    table.reference,
                    fields,
                    "WRITE_APPEND" if self.mode is Mode.APPEND else "WRITE_TRUNCATE",
                    table,
                )
            else:
                stats = self._via_staging(spool, size, load, table)
        return WriteResult(
            target=self.name,
            mode=self.mode,
            rows_written=rows,
            rows_deleted=stats.get("deleted", replaced),
            duration_s=time.perf_counter() - started,
            extra={
                "table": self.target.path,
                "rows_updated": stats.get("updated", 0),
                "parquet_bytes": size,
                "job_ids": self.job_ids,
                **(self.deletes.describe() if self.deletes else {}),
            },
        )

    def _check_batch(self, batch: pa.Table, rows_before: int) -> None:
        """Limits and scope, per batch as it streams: nothing is uploaded when one fails."""
        limits = self.w.limits
        check_limits(batch, replace(limits, max_rows=None), self.name)
        check_scope(self.mode, batch, self.scope, self.name)
        if limits.max_rows is not None and rows_before + batch.num_rows > limits.max_rows:
            raise LimitExceededError(
                f"{self.name}: more than {limits.max_rows:,} rows, the limit set for this output. {limits.advice}"
            )

    def _check_layout(self, load: list[bigquery.SchemaField]) -> None:
        """A table being (re)created needs its partition and clustering columns in the data."""
        types = {f.name: standard(f.field_type) for f in load}
        part = self.target.partition_column
        if part and types.get(part) not in TIME_TYPES:
            what = (
                "is not in the data" if part not in types else "must be a DATE, DATETIME or TIMESTAMP column"
            )
            raise DestinationConfigError(f"{self.name}: partition_column {part!r} {what}")
        missing = [c for c in self.target.clustering if c not in types]
        if missing:
            raise DestinationConfigError(f"{self.name}: clustering column(s) {missing} are not in the data")

    def _get_table(self) -> bigquery.Table | None:
        try:
            return self.client.get_table(self.target.path)
        except gexc.NotFound:
            return None

    def _create(self, fields: list[bigquery.SchemaField]) -> bigquery.Table:
        ds_ref = bigquery.DatasetReference(self.target.project, self.target.dataset)
        try:
            self.client.get_dataset(ds_ref)
        except gexc.NotFound:
            dataset = bigquery.Dataset(ds_ref)
            dataset.location = self.location
            self.client.create_dataset(dataset, exists_ok=True)
        table = bigquery.Table(self.target.path, schema=fields)
        if self.target.partition_column:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=self.target.partition_column
            )
        cluster = list(self.target.clustering) or (
            clustering_for(fields, self.keys) if self.w.cluster_by_primary_key and self.mode is Mode.UPSERT else [])  # fmt: skip
        if cluster:
            table.clustering_fields = cluster
        table.labels = {"managed-by": "couplet"}
        return self.client.create_table(table, exists_ok=True)

    def _load(self, spool: IO[bytes], size: int, ref: bigquery.TableReference, fields: list[bigquery.SchemaField],
              disposition: str, table: bigquery.Table | None = None) -> None:  # fmt: skip
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET, schema=fields, autodetect=False,
            write_disposition=disposition, create_disposition="CREATE_NEVER",
        )  # fmt: skip
        config.parquet_options = _parquet_options()
        if disposition == "WRITE_APPEND":
            config.schema_update_options = [
                bigquery.SchemaUpdateOption.ALLOW_FIELD_ADDITION, bigquery.SchemaUpdateOption.ALLOW_FIELD_RELAXATION]  # fmt: skip
        if table is not None and disposition == "WRITE_TRUNCATE":  # the job must restate the table's layout
            config.time_partitioning = table.time_partitioning
            config.clustering_fields = table.clustering_fields
        spool.seek(0)
        multipart = size <= self.w.multipart_max_bytes
        job = self.client.load_table_from_file(
            spool, ref, size=size if multipart else None, job_config=config, location=self.location
        )  # fmt: skip
        self.job_ids.append(job.job_id)
        job.result(timeout=self.w.job_timeout_s)

    def _query(self, sql: str) -> bigquery.QueryJob:
        params: list[bigquery.ScalarQueryParameter] = []
        bounds = self.scope or (self.deletes.scope if self.deletes else None)
        if bounds is not None and "@scope_start" in sql:
            params = _scope_params(bounds, self._column_type(bounds.column))
        if "@deleted_at" in sql:
            params.append(bigquery.ScalarQueryParameter("deleted_at", "TIMESTAMP", self.now))
        config = bigquery.QueryJobConfig(query_parameters=params, use_legacy_sql=False)
        job = self.client.query(sql, job_config=config, location=self.location)
        self.job_ids.append(job.job_id)
        job.result(timeout=self.w.job_timeout_s)
        return job

    def _column_type(self, column: str) -> str:
        assert self.table is not None
        return next(standard(f.field_type) for f in self.table.schema if f.name.lower() == column.lower())

    def _empty(self, table: bigquery.Table) -> dict[str, int]:
        target = ident(self.target.path)
        if self.mode is Mode.REPLACE and self.scope is None:
            self._query(f"TRUNCATE TABLE {target}")
        elif self.scope is not None:
            job = self._query(delete_scope(target, self.scope.column))
            return {"deleted": int(job.num_dml_affected_rows or 0)}
        elif self.gone is not None:  # an upsert of nothing: every row inside the scope is gone
            job = self._query(delete_gone(target, self.gone))
            return {"deleted": int(job.num_dml_affected_rows or 0)}
        return {}

    def _via_staging(
        self, spool: IO[bytes], size: int, load: list[bigquery.SchemaField], table: bigquery.Table
    ) -> dict[str, int]:
        staging_id = f"{self.target.table}__couplet_staging_{uuid.uuid4().hex[:8]}"
        staging = bigquery.Table(f"{self.target.project}.{self.target.dataset}.{staging_id}")
        fields = [*load, bigquery.SchemaField(SEQ, "INT64")] if self.mode is Mode.UPSERT else load
        staging.schema = fields
        staging.expires = dt.datetime.now(dt.UTC) + self.w.staging_expiration  # a safety net if we die
        staging.labels = {"managed-by": "couplet", "couplet-staging": "true"}
        try:
            self.client.create_table(staging)
            self._load(spool, size, staging.reference, fields, "WRITE_TRUNCATE")
            target, source = (
                ident(self.target.path),
                ident(f"{self.target.project}.{self.target.dataset}.{staging_id}"),
            )
            columns = [f.name for f in load]
            if self.mode is Mode.UPSERT:
                job = self._query(merge_upsert(target, source, columns, self.keys, SEQ, self.gone))
            else:
                assert self.scope is not None
                job = self._query(merge_scope(target, source, columns, self.scope.column))
            dml = job.dml_stats
            stats = (
                {"deleted": int(dml.deleted_row_count), "updated": int(dml.updated_row_count)} if dml else {}
            )
            if self.gone is not None and self.gone.soft:  # the MERGE counts marks as updates
                marked = next(iter(self._query(count_marked(target)).result()))[0]
                stats = {"deleted": int(marked), "updated": stats.get("updated", 0) - int(marked)}
            return stats
        finally:
            self.client.delete_table(staging.reference, not_found_ok=True)


def _parquet_options() -> bigquery.ParquetOptions:
    options = bigquery.ParquetOptions()
    options.enable_list_inference = True  # list<x> columns load as REPEATED x, not a nested record
    return options


def _scope_params(scope: Scope, column_type: str) -> list[bigquery.ScalarQueryParameter]:
    def bound(value: dt.date | dt.datetime) -> Any:
        if column_type == "DATE":
            return value.date() if isinstance(value, dt.datetime) else value
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        if column_type == "TIMESTAMP":
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if column_type == "DATETIME":
            return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        return value.isoformat()

    kind = column_type if column_type in TIME_TYPES else "STRING"
    return [
        bigquery.ScalarQueryParameter(n, kind, bound(v))
        for n, v in (("scope_start", scope.start), ("scope_end", scope.end))
    ]


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def _to_parquet(
    reader: pa.RecordBatchReader,
    load: list[bigquery.SchemaField],
    padding: list[bigquery.SchemaField],
    out: IO[bytes],
    with_seq: bool,
    check: Callable[[pa.Table, int], None],
) -> int:
    """Stream the batches into one Parquet file with the load schema; returns the row count.
    ``check(batch, rows_so_far)`` vets each batch before it is written."""
    names = reader.schema.names
    want = [parquet_type(reader.schema.field(n).type) for n in names]
    # Where the table holds a wider type (INT64 into FLOAT64...), write that type.
    for i, f in enumerate(load):
        if standard(f.field_type) != standard(to_field(pa.field(names[i], want[i])).field_type):
            want[i] = arrow_type(f)
    fields = [pa.field(f.name, t) for f, t in zip(load, want, strict=True)]
    fields += [pa.field(f.name, arrow_type(f)) for f in padding]
    if with_seq:
        fields.append(pa.field(SEQ, pa.int64()))
    schema = pa.schema(fields)
    rows = 0
    options = {"compression": "snappy", "coerce_timestamps": "us", "allow_truncated_timestamps": True}
    with pq.ParquetWriter(out, schema, **options) as pw:
        for batch in _batches(reader):
            check(pa.Table.from_batches([batch]), rows)
            try:
                arrays = [convert(batch.column(i), t) for i, t in enumerate(want)]
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DestinationConfigError(f"a column cannot be converted for BigQuery: {exc}") from None
            arrays += [pa.nulls(batch.num_rows, arrow_type(f)) for f in padding]
            if with_seq:
                arrays.append(pa.array(range(rows, rows + batch.num_rows), pa.int64()))
            pw.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            rows += batch.num_rows
    return rows
