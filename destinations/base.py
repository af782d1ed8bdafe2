"""The writer contract every destination follows, and the logic the writers share.

A writer lands one Arrow table (streamed as record batches) in one target (``Writer``, checked by mypy
where each destination declares its writer factory, see ``spec.Destination``)::

    writer.write(target, data, mode, primary_key=(), scope=None, allow_empty=False, deletes=None) -> WriteResult

``mode`` is ``replace`` (whole target, or only the rows inside ``scope``), ``append`` or ``upsert``
(merge on ``primary_key``: matching rows replaced in place, new rows appended, no duplicates).
Each writer is atomic for its destination: when ``write`` raises, the previous content is intact.

``deletes`` (``Deletes``, upsert only) says the incoming rows are complete for ``deletes.scope``
(the whole target when ``None``): after the merge, every existing row inside that scope whose key
did not arrive is gone at the source. Hard deletes remove it; soft deletes (``soft=True``) keep it
and set its ``_deleted_at`` (``DELETED_AT``, timestamp[us, UTC], added as the last column when
missing) to the write's time, once: a row already marked keeps its first time. Incoming rows get
``_deleted_at`` null, so a record that comes back is revived. Rows whose scope column is null lie
outside every scope. ``WriteResult.rows_deleted`` counts the rows removed (hard) or newly marked
(soft); the deletes happen in the same atomic step as the merge. An empty upsert with deletes over
the whole target is refused like an empty whole replace (``allow_empty`` lets it through).

Shared pieces live here once so that the writers only do I/O: mode and key validation, the
empty-replace guard, the stable merge used by file/sheet destinations, scope filtering and the
limit checks with errors that say what to do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import enum
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

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
     ├── DestinationLockedError   another process holds the target (a DuckDB file) past the wait
     ├── EmptyReplaceError        replace with zero rows while the output does not allow empty
     ├── LimitExceededError       the data does not fit the destination (rows, columns, cells)
     └── SchemaConflictError      an existing column has an incompatible type
    """


class DestinationConfigError(DestinationError):
    pass


class DestinationAuthError(DestinationError):
    pass


class DestinationLockedError(DestinationError):
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


DELETED_AT = "_deleted_at"  # soft deletes: when a row was first found gone at the source
DELETED_AT_TYPE = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Deletes:
    """For upsert: what the incoming rows are complete for, and what becomes of rows gone from it."""

    # None: the whole target; else the existing rows whose scope column lies in [start, end)
    scope: Scope | None = None
    soft: bool = False  # keep gone rows, with _deleted_at set, instead of removing them

    def describe(self) -> dict[str, object]:
        """What ``WriteResult.extra`` reports about the deletes of a write."""
        return {
            "deletes": "soft" if self.soft else "hard",
            "deletes_scope": str(self.scope or "whole target"),
        }


@dataclass
class WriteResult:
    target: str
    mode: Mode
    rows_written: int
    rows_deleted: int = 0
    duration_s: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


TargetT = TypeVar("TargetT", contravariant=True)


class Writer(Protocol[TargetT]):
    """What every destination's writer offers: land ``data`` in ``target`` (see the module docstring).

    ``data`` may be a table, a stream of record batches or staged Parquet files (``ParquetSource``,
    defined below); a writer that needs the whole table calls ``as_table``.
    """

    def write(
        self,
        target: TargetT,
        data: pa.Table | pa.RecordBatchReader | ParquetSource,
        mode: Mode | str,
        primary_key: Sequence[str] = (),
        scope: Scope | None = None,
        allow_empty: bool = False,
        deletes: Deletes | None = None,
    ) -> WriteResult: ...


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


def guard_empty(
    mode: Mode,
    rows: int,
    allow_empty: bool,
    target: str,
    scope: Scope | None = None,
    deletes: Deletes | None = None,
) -> None:
    """Refuse to wipe a target with an empty replace unless the output says empty is fine.

    An expired token that yields zero rows must never blank a report; scoped replaces are exempt
    because an empty day (a weekend, deleted entries) is normal and only touches its own scope.
    An upsert with deletes over the whole target follows the same rule: with 0 rows it would
    delete (or mark) every row. Scoped deletes of an empty period are fine.
    """
    if rows != 0 or allow_empty:
        return
    if mode is Mode.REPLACE and scope is None:
        raise EmptyReplaceError(
            f"{target}: refusing to replace the whole target with 0 rows (it would erase what is there). "
            "If an empty result is expected, set allow_empty: true on the output."
        )
    if mode is Mode.UPSERT and deletes is not None and deletes.scope is None:
        what = "mark every row deleted" if deletes.soft else "delete every row"
        raise EmptyReplaceError(
            f"{target}: refusing to upsert 0 rows with deletes over the whole target (it would {what}). "
            "If an empty result is expected, set allow_empty: true on the output, or give the deletes a scope."
        )


def check_deletes(mode: Mode, deletes: Deletes | None, target: str) -> None:
    """``deletes`` belong to ``upsert``: only a merge on a key can tell which rows went missing."""
    if deletes is not None and mode is not Mode.UPSERT:
        raise DestinationConfigError(
            f"{target}: deletes only apply to mode 'upsert' (this output uses {mode.value!r}); "
            "remove the deletes setting or switch the output to mode upsert with a primary_key"
        )


def check_deletes_scope(
    deletes: Deletes | None, columns: Sequence[str], target: str, ignore_case: bool = False
) -> None:
    """The existing data must have the column the deletes are scoped by (``ignore_case`` for
    destinations whose names ignore case: DuckDB, BigQuery)."""
    if deletes is None or deletes.scope is None:
        return
    column = deletes.scope.column
    found = column.lower() in {c.lower() for c in columns} if ignore_case else column in columns
    if not found:
        raise DestinationConfigError(
            f"{target}: the existing data has no column {column!r} to scope the deletes by; "
            f"columns are: {list(columns)}. Fix the scope column, or replace the target once (mode replace) "
            "to give it that column"
        )


def live(table: pa.Table) -> pa.Table:
    """The incoming rows of a soft-delete upsert: present at the source, so ``_deleted_at`` is null
    (a record that comes back is revived). The column goes last, replacing one the data has."""
    if DELETED_AT in table.column_names:
        table = table.drop_columns([DELETED_AT])
    return table.append_column(
        pa.field(DELETED_AT, DELETED_AT_TYPE), pa.nulls(table.num_rows, DELETED_AT_TYPE)
    )


def live_reader(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """``live`` batch by batch, for writers that stream."""
    schema = live(reader.schema.empty_table()).schema

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield from live(pa.Table.from_batches([batch])).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


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
    return table.filter(pc.invert(inside_scope(table, scope)))


def inside_scope(table: pa.Table, scope: Scope) -> pa.ChunkedArray:
    """Per row: whether its scope column lies in ``[start, end)`` (a null lies outside every scope)."""
    if scope.column not in table.column_names:
        raise DestinationConfigError(
            f"scope column {scope.column!r} is not in the existing data; columns are: {table.column_names}"
        )
    col = table.column(scope.column)
    start, end = _scope_bound(scope.start, col.type), _scope_bound(scope.end, col.type)
    return pc.fill_null(pc.and_(pc.greater_equal(col, start), pc.less(col, end)), False)


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

    @property
    def num_rows(self) -> int:
        """The rows of the files, from their footers (nothing is read)."""
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.paths)


T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run an async write (Runn, QuickBooks) from a writer's synchronous ``write``, also when it is
    called inside a running event loop (then on a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
