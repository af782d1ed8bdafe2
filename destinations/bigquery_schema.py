"""Arrow <-> BigQuery types, schema evolution rules, and the SQL the BigQuery writer runs.

Types (explicit, never autodetected):

==========================  ===============  =============================================
Arrow                       BigQuery         note
==========================  ===============  =============================================
bool                        BOOL
int8..int64, uint8..uint64  INT64            uint64 above 2**63-1 fails the load (checked cast)
float16/32/64               FLOAT64
decimal128(p, s)            NUMERIC          when s <= 9 and p - s <= 29, else BIGNUMERIC
decimal256                  BIGNUMERIC
string, large_string        STRING
binary                      BYTES
date32/date64               DATE
timestamp with tz           TIMESTAMP        stored as UTC
timestamp without tz        DATETIME
time32/time64               TIME
duration                    INT64            whole seconds (Parquet has no duration BigQuery loads)
list<x>                     x, REPEATED
struct                      RECORD
dictionary<_, x>            as x
null                        STRING
==========================  ===============  =============================================

Evolution on an existing table: a new column is added (nullable); a column whose type differs is
converted when BigQuery would widen it losslessly (INT64 into FLOAT64, NUMERIC or BIGNUMERIC;
NUMERIC into BIGNUMERIC), anything else is a ``SchemaConflictError`` naming the column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa
from google.cloud.bigquery import SchemaField

from .base import DELETED_AT, Deletes, DestinationConfigError, SchemaConflictError

LEGACY = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
STANDARD = {v: k for k, v in LEGACY.items()}
WIDENS = {("INT64", "FLOAT64"), ("INT64", "NUMERIC"), ("INT64", "BIGNUMERIC"), ("NUMERIC", "BIGNUMERIC")}
CLUSTERABLE = {"STRING", "INT64", "NUMERIC", "BIGNUMERIC", "DATE", "DATETIME", "TIMESTAMP", "BOOL"}
TIME_TYPES = {"DATE", "DATETIME", "TIMESTAMP"}


def standard(type_name: str) -> str:
    """One spelling per type: the API answers INTEGER/FLOAT/BOOLEAN/RECORD, SQL says INT64/FLOAT64..."""
    return STANDARD.get(type_name.upper(), type_name.upper())


def _plain(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def bq_type(t: pa.DataType, column: str) -> tuple[str, str, list[SchemaField]]:
    """(type, mode, subfields) for an Arrow type."""
    t = _plain(t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner, mode, sub = bq_type(t.value_type, column)
        if mode == "REPEATED":
            raise DestinationConfigError(f"column {column!r}: BigQuery cannot hold a list of lists")
        return inner, "REPEATED", sub
    if pa.types.is_struct(t):
        return "RECORD", "NULLABLE", [to_field(t.field(i)) for i in range(t.num_fields)]
    if pa.types.is_boolean(t):
        return "BOOL", "NULLABLE", []
    if pa.types.is_integer(t) or pa.types.is_duration(t):
        return "INT64", "NULLABLE", []
    if pa.types.is_floating(t):
        return "FLOAT64", "NULLABLE", []
    if pa.types.is_decimal(t):
        if pa.types.is_decimal128(t) and t.scale <= 9 and t.precision - t.scale <= 29:
            return "NUMERIC", "NULLABLE", []
        if t.scale <= 38:
            return "BIGNUMERIC", "NULLABLE", []
        raise DestinationConfigError(
            f"column {column!r}: {t} has more than 38 decimal places; BigQuery allows 38"
        )
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t) or pa.types.is_map(t):
        return "STRING", "NULLABLE", []
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "BYTES", "NULLABLE", []
    if pa.types.is_date(t):
        return "DATE", "NULLABLE", []
    if pa.types.is_timestamp(t):
        return ("TIMESTAMP" if t.tz else "DATETIME"), "NULLABLE", []
    if pa.types.is_time(t):
        return "TIME", "NULLABLE", []
    raise DestinationConfigError(
        f"column {column!r}: no BigQuery type for Arrow {t}; cast it (e.g. to string)"
    )


def to_field(f: pa.Field) -> SchemaField:
    type_, mode, sub = bq_type(f.type, f.name)
    return SchemaField(f.name, type_, mode=mode, fields=sub)


def arrow_type(f: SchemaField) -> pa.DataType:
    """The Arrow type that loads into ``f`` (used to fill columns the incoming data lacks)."""
    t = standard(f.field_type)
    if t == "RECORD":
        base: pa.DataType = pa.struct([pa.field(s.name, arrow_type(s)) for s in f.fields])
    else:
        base = {
            "BOOL": pa.bool_(), "INT64": pa.int64(), "FLOAT64": pa.float64(), "NUMERIC": pa.decimal128(38, 9),
            "BIGNUMERIC": pa.decimal256(76, 38), "STRING": pa.string(), "JSON": pa.string(), "BYTES": pa.binary(),
            "DATE": pa.date32(), "DATETIME": pa.timestamp("us"), "TIMESTAMP": pa.timestamp("us", tz="UTC"),
            "TIME": pa.time64("us"),
        }.get(t, pa.string())  # fmt: skip
    return pa.list_(base) if f.mode == "REPEATED" else base


def parquet_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type written to Parquet for a column of type ``t`` (see the table above)."""
    t = _plain(t)
    if pa.types.is_duration(t) or pa.types.is_unsigned_integer(t):
        return pa.int64()
    if pa.types.is_large_string(t) or pa.types.is_null(t) or pa.types.is_map(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(parquet_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct(
            [pa.field(t.field(i).name, parquet_type(t.field(i).type)) for i in range(t.num_fields)]
        )
    return t


def convert(arr: pa.Array | pa.ChunkedArray, want: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """Cast a column to its Parquet type (``parquet_type`` or the table's wider type)."""
    have = arr.type
    if have == want:
        return arr
    if pa.types.is_dictionary(have):
        arr = arr.cast(have.value_type)
        have = arr.type
    if pa.types.is_duration(have):
        return arr.cast(pa.duration("s"), safe=False).cast(pa.int64()).cast(want)  # sub-seconds dropped
    if pa.types.is_null(have):
        return pa.nulls(len(arr), want)
    if pa.types.is_map(have):
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in arr.to_pylist()], pa.string()
        )
    if pa.types.is_timestamp(have) and pa.types.is_timestamp(want):
        return arr.cast(want, safe=False)  # ns -> us: BigQuery keeps microseconds
    return arr.cast(want)  # checked: a uint64 beyond INT64 fails here, before any upload


def plan_fields(
    incoming: Sequence[SchemaField], existing: Sequence[SchemaField] | None, target: str
) -> tuple[list[SchemaField], list[SchemaField]]:
    """(fields to load, fields the table lacks). Loaded fields take the table's type when it
    widens the incoming one; an incompatible type is a ``SchemaConflictError``."""
    if existing is None:
        return list(incoming), list(incoming)
    by_name = {f.name.lower(): f for f in existing}  # BigQuery column names ignore case
    load, added = [], []
    for f in incoming:
        old = by_name.get(f.name.lower())
        if old is None:
            load.append(f)
            added.append(f)
            continue
        have, want = standard(f.field_type), standard(old.field_type)
        repeated_changed = (f.mode == "REPEATED") != (old.mode == "REPEATED")
        if repeated_changed or (have != want and (have, want) not in WIDENS):
            raise SchemaConflictError(
                f"{target}: column {f.name!r} is {want}{' REPEATED' if old.mode == 'REPEATED' else ''} in the table "
                f"but {have}{' REPEATED' if f.mode == 'REPEATED' else ''} in the data. Cast the column in a "
                "transform step, write it under a new name, or replace the whole table once (mode replace)."
            )
        load.append(
            SchemaField(
                old.name,
                old.field_type,
                mode="REPEATED" if old.mode == "REPEATED" else "NULLABLE",
                fields=old.fields,
            )
        )
    return load, added


def clustering_for(fields: Sequence[SchemaField], keys: Sequence[str]) -> list[str]:
    """The key columns BigQuery can cluster by (at most four, clusterable types only)."""
    types = {f.name: standard(f.field_type) for f in fields if f.mode != "REPEATED"}
    return [k for k in keys if types.get(k) in CLUSTERABLE][:4]


# -- SQL ----------------------------------------------------------------------------------------
def ident(name: str) -> str:
    if "`" in name or "\\" in name or not name:
        raise DestinationConfigError(f"{name!r} cannot be used as a BigQuery name")
    return f"`{name}`"


def merge_upsert(
    target: str,
    staging: str,
    columns: Sequence[str],
    keys: Sequence[str],
    seq: str,
    deletes: Deletes | None = None,
) -> str:
    """MERGE the staged rows into ``target`` by ``keys``; the last staged row of a key wins.

    With ``deletes``, the same statement handles the target rows no staged row matches: ``WHEN NOT
    MATCHED BY SOURCE [AND <scope on T>]`` deletes them (hard), or sets ``_deleted_at`` to
    ``@deleted_at`` where it is still null (soft; the staged rows carry ``_deleted_at`` null, so
    matched and inserted rows are live). The scope bounds are ``@scope_start`` / ``@scope_end``."""
    cols = [ident(c) for c in columns]
    partition = ", ".join(ident(k) for k in keys)
    on = " AND ".join(f"T.{ident(k)} = S.{ident(k)}" for k in keys)
    updates = [f"{ident(c)} = S.{ident(c)}" for c in columns if c not in keys]
    source = (
        f"(SELECT {', '.join(cols)} FROM {staging} WHERE TRUE "
        f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {ident(seq)} DESC) = 1)"
    )
    sql = f"MERGE INTO {target} AS T USING {source} AS S ON {on}"
    if updates:
        sql += f" WHEN MATCHED THEN UPDATE SET {', '.join(updates)}"
    sql += f" WHEN NOT MATCHED THEN INSERT ({', '.join(cols)}) VALUES ({', '.join('S.' + c for c in cols)})"
    if deletes is not None:
        sql += " WHEN NOT MATCHED BY SOURCE" + gone_condition(deletes, "T.", " AND ")
        sql += f" THEN UPDATE SET {ident(DELETED_AT)} = @deleted_at" if deletes.soft else " THEN DELETE"
    return sql


def gone_condition(deletes: Deletes, alias: str = "", joiner: str = " AND ") -> str:
    """The conditions (each preceded by ``joiner``) a row gone at the source must also meet to be
    deleted or marked: inside the scope (a null scope column is outside), not yet marked (soft)."""
    parts = []
    if deletes.soft:
        parts.append(f"{alias}{ident(DELETED_AT)} IS NULL")
    if deletes.scope is not None:
        col = alias + ident(deletes.scope.column)
        parts.append(f"{col} >= @scope_start AND {col} < @scope_end")
    return "".join(joiner + p for p in parts)


def delete_gone(target: str, deletes: Deletes) -> str:
    """Deletes of an upsert with no incoming rows: every row inside the scope is gone."""
    where = "TRUE" + gone_condition(deletes)
    if deletes.soft:
        return f"UPDATE {target} SET {ident(DELETED_AT)} = @deleted_at WHERE {where}"
    return f"DELETE FROM {target} WHERE {where}"


def count_marked(target: str) -> str:
    """The rows a soft-delete write marked: their ``_deleted_at`` is exactly that write's time."""
    return f"SELECT COUNT(*) FROM {target} WHERE {ident(DELETED_AT)} = @deleted_at"


def merge_scope(target: str, staging: str, columns: Sequence[str], scope_column: str) -> str:
    """One atomic statement: delete the rows inside ``[@scope_start, @scope_end)``, insert the staged rows."""
    cols = [ident(c) for c in columns]
    col = ident(scope_column)
    return (
        f"MERGE INTO {target} AS T USING (SELECT {', '.join(cols)} FROM {staging}) AS S ON FALSE "
        f"WHEN NOT MATCHED BY TARGET THEN INSERT ({', '.join(cols)}) VALUES ({', '.join('S.' + c for c in cols)}) "
        f"WHEN NOT MATCHED BY SOURCE AND T.{col} >= @scope_start AND T.{col} < @scope_end THEN DELETE"
    )


def delete_scope(target: str, scope_column: str) -> str:
    col = ident(scope_column)
    return f"DELETE FROM {target} WHERE {col} >= @scope_start AND {col} < @scope_end"
