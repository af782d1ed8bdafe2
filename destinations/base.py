"""The writer contract every destination follows, and the logic the writers share.

A writer lands one Arrow table (streamed as record batches) in one target::

    writer.write(target, data, mode, primary_key=(), scope=None, allow_empty=False) -> WriteResult

``mode`` is ``replace`` (whole target, or only the rows inside ``scope``), ``append`` or ``upsert``
(merge on ``primary_key``: matching rows replaced in place, new rows appended, no duplicates).
Each writer is atomic for its destination: when ``write`` raises, the previous content is intact.

Shared pieces live here once so that the writers only do I/O: mode and key validation, the
empty-replace guard, the stable merge used by file/sheet destinations, scope filtering and the
limit checks with errors that say what to do.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from connectors.core.records import dedupe_last  # shared with the engine; re-exported here

__all__ = ["dedupe_last"]  # plus everything defined below


class Mode(enum.StrEnum):
    REPLACE = "replace"
    APPEND = "append"
    UPSERT = "upsert"


class DestinationError(Exception):
    """Base of every destination error. Messages name the target and say how to fix the problem.

    DestinationError
     ├── DestinationConfigError   bad target settings, unknown mode, upsert without a key
     ├── DestinationAuthError     missing or rejected credentials
     ├── EmptyReplaceError        replace with zero rows while the output does not allow empty
     ├── LimitExceededError       the data does not fit the destination (rows, columns, cells)
     └── SchemaConflictError      an existing column has an incompatible type
    """


class DestinationConfigError(DestinationError):
    pass


class DestinationAuthError(DestinationError):
    pass


class EmptyReplaceError(DestinationError):
    pass


class LimitExceededError(DestinationError):
    pass


class SchemaConflictError(DestinationError):
    pass


@dataclass(frozen=True)
class Scope:
    """The rows a scoped ``replace`` owns: ``start <= row[column] < end`` (half-open)."""

    column: str
    start: dt.date | dt.datetime
    end: dt.date | dt.datetime

    def __str__(self) -> str:
        return f"{self.column} in [{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass
class WriteResult:
    target: str
    mode: Mode
    rows_written: int
    rows_deleted: int = 0
    duration_s: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """What a destination can hold. ``None`` means no limit."""

    destination: str
    max_rows: int | None = None  # data rows, header excluded
    max_columns: int | None = None
    max_cells: int | None = None  # rows x columns, header included
    max_cell_chars: int | None = None
    advice: str = ""


def as_table(
    data: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch], schema: pa.Schema | None = None
) -> pa.Table:
    """Materialise the input as one table (writers that must rewrite a whole file or sheet need it)."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, ParquetSource):
        return data.to_table()
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    batches = list(data)
    if not batches:
        if schema is None:
            raise DestinationConfigError("no record batches and no schema given: cannot tell the columns")
        return schema.empty_table()
    return pa.Table.from_batches(batches, schema=schema or batches[0].schema)


def check_mode(mode: Mode | str, primary_key: Sequence[str], schema: pa.Schema, target: str) -> Mode:
    """Validate the mode and the key columns against the data; returns the parsed mode."""
    try:
        parsed = Mode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in Mode)
        raise DestinationConfigError(f"{target}: unknown mode {mode!r}; use one of: {allowed}") from None
    if parsed is Mode.UPSERT and not primary_key:
        raise DestinationConfigError(
            f"{target}: mode 'upsert' needs a primary_key (the columns that identify a row); "
            "set primary_key on the output or use mode 'replace'"
        )
    missing = [k for k in primary_key if k not in schema.names]
    if missing:
        raise DestinationConfigError(
            f"{target}: primary key column(s) {missing} are not in the data; columns are: {schema.names}"
        )
    return parsed


def guard_empty(mode: Mode, rows: int, allow_empty: bool, target: str, scope: Scope | None = None) -> None:
    """Refuse to wipe a target with an empty replace unless the output says empty is fine.

    An expired token that yields zero rows must never blank a report; scoped replaces are exempt
    because an empty day (a weekend, deleted entries) is normal and only touches its own scope.
    """
    if mode is Mode.REPLACE and rows == 0 and not allow_empty and scope is None:
        raise EmptyReplaceError(
            f"{target}: refusing to replace the whole target with 0 rows (it would erase what is there). "
            "If an empty result is expected, set allow_empty: true on the output."
        )


def _key_tuples(table: pa.Table, keys: Sequence[str]) -> list[tuple]:
    cols = [table.column(k).to_pylist() for k in keys]
    return list(zip(*cols, strict=True))


def merge_on_keys(existing: pa.Table, incoming: pa.Table, keys: Sequence[str]) -> tuple[pa.Table, int]:
    """Upsert ``incoming`` into ``existing`` by ``keys`` with a stable order.

    Rows of ``existing`` keep their position; a row whose key arrives again is replaced in place;
    new keys are appended in arrival order. Returns the merged table and how many rows were updated.
    Both tables must have the same columns (see ``align``).
    """
    incoming = dedupe_last(incoming, keys)
    position = {k: i for i, k in enumerate(_key_tuples(incoming, keys))}
    offset = existing.num_rows  # indices >= offset point into ``incoming`` in the concatenation
    order: list[int] = []
    used: set[int] = set()
    for i, k in enumerate(_key_tuples(existing, keys)):
        j = position.get(k)
        if j is None:
            order.append(i)
        else:
            order.append(offset + j)
            used.add(j)
    order.extend(offset + j for j in range(incoming.num_rows) if j not in used)
    return pa.concat_tables([existing, incoming]).take(order), len(used)


def rows_outside_scope(table: pa.Table, scope: Scope) -> pa.Table:
    """The rows a scoped replace keeps: those whose scope column is outside ``[start, end)`` or null."""
    if scope.column not in table.column_names:
        raise DestinationConfigError(
            f"scope column {scope.column!r} is not in the existing data; columns are: {table.column_names}"
        )
    col = table.column(scope.column)
    start, end = _scope_bound(scope.start, col.type), _scope_bound(scope.end, col.type)
    inside = pc.and_(pc.greater_equal(col, start), pc.less(col, end))
    return table.filter(pc.invert(pc.fill_null(inside, False)))


def _scope_bound(value: dt.date | dt.datetime, type_: pa.DataType) -> pa.Scalar:
    """A scope bound comparable with the column: a date bound on a timestamp column means midnight
    (UTC for a zoned column), a datetime bound on a date column means its day, text compares ISO."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return pa.scalar(value.isoformat(), type_)
    if pa.types.is_timestamp(type_):
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        if type_.tz is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    elif pa.types.is_date(type_) and isinstance(value, dt.datetime):
        value = value.date()
    return pa.scalar(value, type_)


def align(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Give ``table`` exactly the columns of ``schema`` (missing ones null), cast where needed."""
    arrays = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            arrays.append(col if col.type == f.type else col.cast(f.type, safe=False))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def union_schema(old: pa.Schema, new: pa.Schema) -> pa.Schema:
    """Columns of ``old`` in their order, then columns only ``new`` has; new types win on a name clash."""
    fields = [new.field(f.name) if f.name in new.names else f for f in old]
    fields += [f for f in new if f.name not in old.names]
    return pa.schema(fields)


def check_limits(table: pa.Table, limits: Limits, target: str, header_rows: int = 1) -> None:
    """Fail before writing when the data cannot fit the destination; the error says what to do."""
    rows, cols = table.num_rows, table.num_columns
    advice = f" {limits.advice}" if limits.advice else ""
    if limits.max_rows is not None and rows > limits.max_rows:
        raise LimitExceededError(
            f"{target}: {rows:,} rows exceed the {limits.destination} limit of {limits.max_rows:,} data rows.{advice}"
        )
    if limits.max_columns is not None and cols > limits.max_columns:
        raise LimitExceededError(
            f"{target}: {cols:,} columns exceed the {limits.destination} limit of {limits.max_columns:,}."
            " Select fewer columns."
        )
    if limits.max_cells is not None and (rows + header_rows) * cols > limits.max_cells:
        raise LimitExceededError(
            f"{target}: {(rows + header_rows) * cols:,} cells exceed the {limits.destination} limit of "
            f"{limits.max_cells:,} cells.{advice}"
        )
    if limits.max_cell_chars is not None:
        for name in table.column_names:
            col = table.column(name)
            if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                continue
            longest = pc.max(pc.utf8_length(col)).as_py()
            if longest is not None and longest > limits.max_cell_chars:
                raise LimitExceededError(
                    f"{target}: column {name!r} has a value of {longest:,} characters; {limits.destination} "
                    f"allows {limits.max_cell_chars:,} per cell. Shorten or drop that column (select/derive)."
                )


@dataclass(frozen=True)
class ParquetSource:
    """Staged Parquet files as a writer's input, so a writer that reads Parquet itself (DuckDB,
    BigQuery load jobs) never has to hold the data in memory; others stream it batch by batch."""

    paths: tuple[str, ...]
    schema: pa.Schema

    def to_reader(self) -> pa.RecordBatchReader:
        import pyarrow.dataset as ds

        if not self.paths:
            return pa.RecordBatchReader.from_batches(self.schema, [])
        return ds.dataset(list(self.paths), schema=self.schema, format="parquet").scanner().to_reader()

    def to_table(self) -> pa.Table:
        return self.to_reader().read_all()
