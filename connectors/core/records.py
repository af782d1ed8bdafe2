"""JSON records to Arrow record batches with the entity's declared schema.

The declared schema, not the data, decides the columns: an empty page, or a field that the API
leaves out for a user without rights, still gives the same table. Values are coerced the way APIs
actually send them (ints as strings, booleans as 0/1, ISO datetimes with ``Z``, dates with a time
part); nested objects are reached with dotted column paths and anything left nested (lists,
objects) is kept as JSON text so no value is lost.

The fast path hands whole columns to Arrow (C speed); only a column that Arrow refuses is coerced
value by value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .columnar import ArrowRecords
from .entity import Column
from .errors import ResponseShapeError

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def _dig(record: Any, path: tuple[str, ...]) -> Any:
    value = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _to_bool(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return bool(v)
    s = str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"not a boolean: {v!r}")


def _to_int(v: Any) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        if v != int(v):
            raise ValueError(f"not an integer: {v!r}")
        return int(v)
    return int(str(v).strip())


def _to_float(v: Any) -> float | None:
    if v is None or v == "":
        return None
    return float(v)


def _to_str(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _to_datetime(v: Any) -> dt.datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, int | float):
        return dt.datetime.fromtimestamp(v, dt.UTC)
    text = str(v).strip().replace(" ", "T", 1)
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:  # legacy endpoints without a zone: the caller asked for UTC
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _to_date(v: Any) -> dt.date | None:
    if v is None or v == "":
        return None
    text = str(v).strip()
    return dt.date.fromisoformat(text[:10])


_COERCE = {
    "int": _to_int,
    "float": _to_float,
    "str": _to_str,
    "bool": _to_bool,
    "date": _to_date,
    "datetime": _to_datetime,
    "json": lambda v: None if v is None else json.dumps(v, ensure_ascii=False, separators=(",", ":")),
}


_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def iso_duration_seconds(value: Any) -> float | None:
    """``PT1H30M`` -> 5400.0 (ISO-8601 durations as some APIs send them); numbers pass through."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _ISO_DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"not an ISO-8601 duration: {value!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def cents(value: Any) -> float | None:
    """Minor units (cents) -> currency units."""
    if value is None or value == "":
        return None
    return float(value) / 100


#: Conversions a column may name (``Column.convert``), applied to raw values before typing.
CONVERSIONS: dict[str, Any] = {"iso_duration": iso_duration_seconds, "cents": cents}


def json_column(records: Sequence[Any], column: Column) -> pa.Array:
    """A ``json`` column of parsed records: each value's exact text, as ``to_batch`` makes it."""
    return _column_array([_dig(r, column.source_path) for r in records], column)


def _column_array(values: list[Any], column: Column) -> pa.Array:
    target = column.arrow_type
    kind = column.type
    if kind == "json":
        return pa.array([_COERCE["json"](v) for v in values], target)
    if kind in ("datetime", "date"):
        try:  # ISO strings parse in C; fall back per value for odd shapes
            strings = pa.array(values, pa.string())
            if kind == "date":
                return pc.cast(pc.utf8_slice_codeunits(strings, 0, 10), target)
            return pc.cast(strings, target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
    else:
        try:
            # Infer, then cast safely: ``pa.array([1.5], pa.int64())`` would silently truncate.
            inferred = pa.array(values)
            return inferred if inferred.type == target else inferred.cast(target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            pass
    coerce = _COERCE[kind]
    return pa.array([coerce(v) for v in values], target)


def to_batch(
    records: Sequence[dict[str, Any]] | ArrowRecords,
    columns: Sequence[Column],
    stamps: dict[str, tuple[pa.DataType, Any]] | None = None,
    *,
    where: str = "",
) -> pa.RecordBatch:
    """Build one record batch: declared columns first, then the stamp columns (``_extracted_at``...)."""
    if isinstance(records, ArrowRecords):  # decoded straight into the declared columns
        if stamps:
            raise ValueError("stamps are added by the caller for columnar pages")
        return records.batch
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    parents: dict[str, list[Any]] = {}  # top-level values shared by nested paths (user.id, user.name)
    for column in columns:
        path = column.source_path
        if len(path) == 1:
            key = path[0]
            values = [r.get(key) for r in records]
        else:
            top = parents.get(path[0])
            if top is None:
                top = parents[path[0]] = [r.get(path[0]) for r in records]
            if len(path) == 2:
                leaf = path[1]
                values = [v.get(leaf) if type(v) is dict else None for v in top]
            else:
                rest = path[1:]
                values = [_dig(v, rest) for v in top]
        try:
            if column.convert:
                convert = CONVERSIONS[column.convert]
                values = [convert(v) for v in values]
            arrays.append(_column_array(values, column))
        except (ValueError, TypeError, OverflowError, pa.ArrowException) as exc:
            sample = next((v for v in values if v is not None), None)
            raise ResponseShapeError(
                f"column {column.name!r} declared {column.type} but the API sent {sample!r} ({exc}) {where}".strip()
            ) from exc
        fields.append(pa.field(column.name, column.arrow_type, column.nullable))
    n = len(records)
    for name, (typ, value) in (stamps or {}).items():
        arrays.append(pa.array([value] * n, typ) if n else pa.array([], typ))
        fields.append(pa.field(name, typ))
    # Nullability is declared for documentation and checks; Arrow enforces it only as metadata.
    schema = pa.schema([f.with_nullable(True) for f in fields])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def dedupe_last(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Keep the last row of each key, in the order of those last rows.

    Offset paging can hand out a row twice when records move between pages mid-read, and a batch
    that names a key twice means the later value wins.
    """
    if table.num_rows < 2 or not keys:
        return table
    idx = pa.array(range(table.num_rows), pa.int64())
    grouped = table.select(list(keys)).append_column("__i", idx).group_by(list(keys), use_threads=False)
    last = grouped.aggregate([("__i", "max")]).column("__i_max")
    if len(last) == table.num_rows:
        return table
    return table.take(pc.take(last, pc.sort_indices(last)))
