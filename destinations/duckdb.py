"""DuckDB destination: replace (whole or a date scope), append and upsert, each in one transaction.

The incoming Arrow data is copied into a temporary table first (so its size is known and it is
read once), then one transaction changes the target: ``CREATE OR REPLACE`` for a whole replace,
``DELETE`` of the scope + ``INSERT`` for a scoped replace, ``INSERT`` for append and ``MERGE`` on
the primary key for upsert. Upsert ``deletes`` (``base.Deletes``) add, in the same transaction, a
``DELETE`` (hard) or an ``UPDATE ... SET _deleted_at`` (soft) of the rows inside the deletes' scope
whose key is not among the incoming ones (``NOT EXISTS``, keys compared with ``IS NOT DISTINCT
FROM`` like the MERGE). New columns, ``_deleted_at`` included, are added with ``ALTER TABLE``; a
column whose type cannot hold the new values is a ``SchemaConflictError``. Identifiers are always
quoted, values bound. ``last_updated`` (``destinations.last_updated``) adds a ``TIMESTAMPTZ``
column to the incoming rows holding the write's time, so every mode stamps exactly the rows it
writes (the MERGE sets it on updated rows) and an existing table gets the column by ``ALTER TABLE``.

DuckDB allows one writing process per file: open it only for the write, never keep it open. While
another process holds the file, ``connect`` waits for it (``duckdb_lock``: bounded backoff up to
``COUPLET_DUCKDB_LOCK_TIMEOUT`` seconds), then fails with ``DestinationLockedError``. Across
processes, the publish assets writing one file share the Dagster pool ``duckdb:<absolute path>``
(``file_pool``), so they queue in Dagster instead of on the lock.

The destination's declaration (``DESTINATION``, see ``spec``) lives here with the writer: duckdb is
imported to plan flow steps anyway, so this module is cheap to import when flows load.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import duckdb
import pyarrow as pa
from pydantic import Field

from .base import (
    DELETED_AT,
    Deletes,
    DestinationConfigError,
    Mode,
    ParquetSource,
    SchemaConflictError,
    Scope,
    WriteResult,
    check_deletes,
    check_deletes_scope,
    check_mode,
    guard_empty,
)
from .duckdb_lock import open_when_free
from .last_updated import WRITE_CLOCK, LastUpdatedSetting, check_clash
from .spec import Context, Destination, Settings


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    """The single value of a query that always returns one row (count(*) and friends)."""
    row = con.execute(sql, params or []).fetchone()
    assert row is not None
    return row[0]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def qualified(table: str) -> str:
    return ".".join(quote(part) for part in table.split("."))


class DuckDBTarget(Settings):
    """``to: {duckdb: {path, table}}``: a table of a DuckDB file."""

    path: str = "data/warehouse.duckdb"  # created with its folder; ":memory:" lives for one write
    table: Annotated[
        str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    ]  # or schema.table
    last_updated: LastUpdatedSetting = None  # a TIMESTAMPTZ column: when each row was last written

    def __str__(self) -> str:
        return f"duckdb:{self.path}#{self.table}"


ROW_GROUP_ROWS = 16_384
# The write's time as a connection variable: bound once as a parameter, and usable in the view over
# staged Parquet (a view cannot hold a prepared parameter).
_WRITE_TIME = "couplet_write_time"
_SET_WRITE_TIME = f"SET VARIABLE {_WRITE_TIME} = CAST(? AS TIMESTAMPTZ)"
ENV_MEMORY_LIMIT = "COUPLET_DUCKDB_MEMORY_LIMIT"
ENV_THREADS = "COUPLET_DUCKDB_THREADS"


def resource_config(env: Mapping[str, str] | None = None) -> dict[str, str | bool | int | float | list[str]]:
    """How much of the machine couplet's DuckDB connections may use.

    DuckDB's own default is 80 % of RAM and every core: a publish of a million rows then holds
    ~500 MB more than it needs. couplet's default (256 MB, one thread) writes as fast here, spills
    what does not fit to disk, and keeps a run's memory flat; raise them for big joins on a big
    machine with ``COUPLET_DUCKDB_MEMORY_LIMIT`` (e.g. ``4GB``) and ``COUPLET_DUCKDB_THREADS``.
    """
    env = os.environ if env is None else env
    return {
        "memory_limit": env.get(ENV_MEMORY_LIMIT) or "256MB",
        "threads": int(env.get(ENV_THREADS) or 1),
    }


class DuckDBWriter:
    def __init__(self, connect_config: dict[str, str | bool | int | float | list[str]] | None = None) -> None:
        self.connect_config = resource_config() if connect_config is None else connect_config

    def connect(self, path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection to ``path``; while another process holds the file, waits (``duckdb_lock``)."""
        if path == ":memory:":
            return duckdb.connect(path, read_only=read_only, config=self.connect_config)
        if read_only:
            return open_when_free(
                lambda: duckdb.connect(path, read_only=True, config=self.connect_config), path
            )
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return open_when_free(lambda: self._attach(path), path)

    def _attach(self, path: str) -> duckdb.DuckDBPyConnection:
        # Attached with row groups of 16k rows: DuckDB holds a row group in memory while it writes,
        # and its default 122,880 rows of a wide table are ~60 MB (the rest of the file is the same).
        con = duckdb.connect(config=self.connect_config)
        try:
            con.execute(
                f"ATTACH '{path.replace(chr(39), chr(39) * 2)}' AS target (ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
            )
            con.execute("USE target")
        except BaseException:
            con.close()
            raise
        return con

    def write(
        self,
        target: DuckDBTarget,
        data: pa.Table | pa.RecordBatchReader | ParquetSource,
        mode: Mode | str,
        primary_key: Sequence[str] = (),
        scope: Scope | None = None,
        allow_empty: bool = False,
        deletes: Deletes | None = None,
    ) -> WriteResult:
        started = time.perf_counter()
        keys = tuple(primary_key)
        parsed = check_mode(mode, keys, data.schema, str(target))
        if scope is not None and parsed is not Mode.REPLACE:
            raise DestinationConfigError(f"{target}: a scope only applies to mode 'replace'")
        check_deletes(parsed, deletes, str(target))
        columns = "*"
        if deletes is not None and deletes.soft and DELETED_AT in data.schema.names:
            columns = f"* EXCLUDE ({quote(DELETED_AT)})"
        if target.last_updated is not None:  # this write's time, bound once (see _SET_WRITE_TIME)
            check_clash(data.schema.names, target.last_updated, str(target), ignore_case=True)
            columns += f", getvariable('{_WRITE_TIME}') AS {quote(target.last_updated.column)}"
        if deletes is not None and deletes.soft:  # incoming rows are live: _deleted_at null, last
            columns += f", CAST(NULL AS TIMESTAMPTZ) AS {quote(DELETED_AT)}"
        now = WRITE_CLOCK.now()
        con = self.connect(target.path)
        try:
            con.execute(_SET_WRITE_TIME, [now])
            if isinstance(data, ParquetSource) and data.paths:
                # DuckDB reads staged Parquet itself: nothing passes through Python memory, and a
                # replace or append streams from the files into the table. Upsert needs row order
                # (the last row of a key wins), so it copies into a temp table first.
                files = ", ".join("'" + p.replace("'", "''") + "'" for p in data.paths)
                kind = "TABLE" if parsed is Mode.UPSERT else "VIEW"
                con.execute(f"CREATE TEMP {kind} __incoming AS SELECT {columns} FROM read_parquet([{files}])")
            else:
                arrow = data.to_reader() if isinstance(data, ParquetSource) else data
                con.register("__incoming_arrow", arrow)
                con.execute(f"CREATE TEMP TABLE __incoming AS SELECT {columns} FROM __incoming_arrow")
                con.unregister("__incoming_arrow")
            rows = scalar(con, "SELECT count(*) FROM __incoming")
            guard_empty(parsed, rows, allow_empty, str(target), scope, deletes)
            con.execute("BEGIN TRANSACTION")
            try:
                written, deleted = self._apply(con, target, parsed, keys, scope, deletes, now)
                total = scalar(con, f"SELECT count(*) FROM {qualified(target.table)}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except duckdb.ConversionException as exc:
            raise SchemaConflictError(
                f"{target}: the new data does not fit the existing column types: {exc}"
            ) from exc
        finally:
            con.close()
        extra = {"rows_total": total, **(deletes.describe() if deletes else {})}
        return WriteResult(str(target), parsed, written, deleted, time.perf_counter() - started, extra)

    # -- one mode each ------------------------------------------------------------------------

    def _apply(
        self,
        con: duckdb.DuckDBPyConnection,
        target: DuckDBTarget,
        mode: Mode,
        keys: tuple[str, ...],
        scope: Scope | None,
        deletes: Deletes | None,
        now: dt.datetime,
    ) -> tuple[int, int]:
        table = qualified(target.table)
        if "." in target.table:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(target.table.split('.')[0])}")
        exists = self._columns(con, target.table)
        rows = scalar(con, "SELECT count(*) FROM __incoming")
        if mode is Mode.REPLACE and scope is None:
            before = scalar(con, f"SELECT count(*) FROM {table}") if exists else 0
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM __incoming")
            return rows, before
        if not exists:
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM __incoming")
            return rows, 0
        if mode is Mode.UPSERT:
            check_deletes_scope(deletes, list(exists), str(target), ignore_case=True)
        incoming = self._add_new_columns(con, target, exists)
        if mode is Mode.REPLACE:
            assert scope is not None
            if scope.column not in exists:
                raise DestinationConfigError(f"{target}: scope column {scope.column!r} is not in the table")
            col = quote(scope.column)
            outside = scalar(
                con,
                f"SELECT count(*) FROM __incoming WHERE NOT ({col} >= ? AND {col} < ?) OR {col} IS NULL",
                [scope.start, scope.end],
            )
            if outside:
                raise DestinationConfigError(
                    f"{target}: {outside} incoming row(s) lie outside the scope {scope}"
                )
            deleted = scalar(
                con, f"DELETE FROM {table} WHERE {col} >= ? AND {col} < ?", [scope.start, scope.end]
            )
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM __incoming")
            return rows, deleted
        if mode is Mode.APPEND:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM __incoming")
            return rows, 0
        written = self._merge(con, table, keys, list(incoming))
        return written, self._delete_gone(con, table, keys, deletes, now, exists) if deletes else 0

    def _merge(
        self, con: duckdb.DuckDBPyConnection, table: str, keys: tuple[str, ...], columns: list[str]
    ) -> int:
        names = [quote(n) for n in columns]
        key_list = ", ".join(quote(k) for k in keys)
        # The last row of a key within one batch wins (rowid is insertion order in a temp table).
        source = f"(SELECT * FROM __incoming QUALIFY row_number() OVER (PARTITION BY {key_list} ORDER BY rowid DESC) = 1)"
        on = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM s.{quote(k)}" for k in keys)
        updates = (
            ", ".join(f"{n} = s.{n}" for n in names if n not in {quote(k) for k in keys})
            or f"{names[0]} = s.{names[0]}"
        )
        sql = (
            f"MERGE INTO {table} AS t USING {source} AS s ON {on} "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('s.' + n for n in names)})"
        )
        con.execute(sql)
        return scalar(con, f"SELECT count(*) FROM {source}")

    def _delete_gone(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        keys: tuple[str, ...],
        deletes: Deletes,
        now: dt.datetime,
        types: dict[str, str],
    ) -> int:
        """Remove (hard) or mark (soft) the rows inside the deletes' scope whose key did not arrive;
        returns how many rows were removed or newly marked. Runs after the MERGE, so the rows it
        inserted or updated have incoming keys and are never touched. ``types``: the table's columns."""
        match = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM s.{quote(k)}" for k in keys)
        where = f"NOT EXISTS (SELECT 1 FROM __incoming AS s WHERE {match})"
        params: list[object] = []
        if deletes.scope is not None:
            column = quote(deletes.scope.column)
            kind = next((t for c, t in types.items() if c.lower() == deletes.scope.column.lower()), "")
            where += f" AND t.{column} >= ? AND t.{column} < ?"
            params = [_bound(deletes.scope.start, kind), _bound(deletes.scope.end, kind)]
        if deletes.soft:
            marked = quote(DELETED_AT)
            sql = f"UPDATE {table} AS t SET {marked} = ? WHERE t.{marked} IS NULL AND {where}"
            return int(scalar(con, sql, [now, *params]))
        return int(scalar(con, f"DELETE FROM {table} AS t WHERE {where}", params))

    @staticmethod
    def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
        schema, _, name = table.rpartition(".")
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_name = ? "
            "AND table_schema = coalesce(nullif(?, ''), current_schema()) ORDER BY ordinal_position",
            [name, schema],
        ).fetchall()
        return dict(rows)

    def _add_new_columns(
        self,
        con: duckdb.DuckDBPyConnection,
        target: DuckDBTarget,
        existing: dict[str, str],
    ) -> dict[str, str]:
        """Add the incoming columns the table lacks; returns the incoming columns and their types."""
        incoming = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '__incoming' "
                "ORDER BY ordinal_position"
            ).fetchall()
        )
        for name, typ in incoming.items():
            if name not in existing:
                con.execute(f"ALTER TABLE {qualified(target.table)} ADD COLUMN {quote(name)} {typ}")
            elif existing[name] != typ and not _widens(existing[name], typ):
                raise SchemaConflictError(
                    f"{target}: column {name!r} is {existing[name]} in the table but {typ} in the new data; "
                    "rename the column in the flow, or replace the table"
                )
        return incoming

    def read(self, target: DuckDBTarget) -> pa.Table:
        con = self.connect(target.path, read_only=True)
        try:
            return con.sql(f"SELECT * FROM {qualified(target.table)}").to_arrow_table()
        finally:
            con.close()


_NUMERIC = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE"]


def _bound(value: dt.date | dt.datetime, column_type: str) -> dt.date | dt.datetime | str:
    """A deletes scope bound comparable with the column (as ``base._scope_bound`` does for Arrow):
    a date bound on a timestamp column means midnight (UTC for a zoned column), a datetime bound on
    a date column means its day, text compares ISO."""
    kind = column_type.upper()
    if kind.startswith("TIMESTAMP"):
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        zoned = "TIME ZONE" in kind or kind == "TIMESTAMPTZ"
        if zoned and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        if not zoned and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if kind == "DATE" and isinstance(value, dt.datetime):
        return value.date()
    if kind == "VARCHAR":
        return value.isoformat()
    return value


def _widens(existing: str, new: str) -> bool:
    """Whether values of type ``new`` fit a column of type ``existing`` without loss."""
    if existing in _NUMERIC and new in _NUMERIC:
        return _NUMERIC.index(new) <= _NUMERIC.index(existing)
    if new == '"NULL"' or new == "NULL":
        return True
    return existing == "VARCHAR"


def file_pool(path: str) -> str:
    """The concurrency pool of a DuckDB file: ``duckdb:`` and its absolute path (resolved against
    the working directory, as the writer does), whitespace escaped since pool names allow none."""
    full = str(Path(path).resolve())
    return "duckdb:" + re.sub(r"\s", lambda m: f"%{ord(m[0]):02X}", full)


def count_rows(target: DuckDBTarget) -> int | None:
    try:
        with duckdb.connect(target.path, read_only=True) as con:
            return int(scalar(con, f"SELECT count(*) FROM {qualified(target.table)}"))
    except (duckdb.Error, OSError):  # no file, no table
        return None


def _writer(target: DuckDBTarget, context: Context) -> DuckDBWriter:
    return DuckDBWriter()


DESTINATION = Destination(
    kind="duckdb",
    settings=DuckDBTarget,
    writer=_writer,
    label=lambda t: f"{t.path}#{t.table}",
    default_name=lambda t: t.table,
    example={"path": "data/warehouse.duckdb", "table": "billing"},
    file_setting="path",
    file_example="warehouse.duckdb",
    pool=lambda t: file_pool(t.path),
    count_rows=count_rows,
)
