"""Arrow columns to spreadsheet cells and back, shared by the Excel and Google Sheets writers.

Both products store a cell as a number, a text, a boolean or nothing, and both show dates as
numbers with a date format: the serial day count since 1899-12-30 (Excel's 1900 date system,
which Sheets copies). So one conversion serves both:

* dates, datetimes, durations and times become serial numbers (float days) plus a number format;
  timezone-aware datetimes are written as naive UTC (neither product has a timezone per cell);
* integers stay numbers unless a column holds a value beyond 2**53, which a double cannot hold
  exactly (Excel and Sheets store doubles): then the whole column is written as text so ids are
  never rounded;
* decimals become numbers (with a format showing their scale), NaN and infinities become empty;
* nested values (lists, structs) become JSON text; empty strings and nulls become empty cells.

Reading back (for upsert and scoped replace) turns cell values into Arrow again with the type the
caller asks for (the incoming column's type, or a recorded hint), or infers one, so a date written
as a date comes back as a date.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .base import SchemaConflictError

EPOCH = dt.datetime(1899, 12, 30)  # serial day 0 of Excel's (and Sheets') 1900 date system
UNIX_EPOCH_SERIAL = 25569  # serial number of 1970-01-01
US_PER_DAY = 86_400_000_000
MAX_EXACT_INT = 2**53  # doubles hold every integer up to here exactly

# The control characters XML 1.0 forbids (openpyxl raises IllegalCharacterError on them).
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


class Kind(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    DURATION = "duration"
    TIME = "time"


# Number formats understood by both Excel (format codes) and Sheets (patterns).
FORMATS = {
    Kind.DATE: "yyyy-mm-dd",
    Kind.DATETIME: "yyyy-mm-dd hh:mm:ss",
    Kind.DURATION: "[h]:mm:ss",
    Kind.TIME: "hh:mm:ss",
}
SERIAL_KINDS = frozenset(FORMATS)


@dataclass(frozen=True)
class CellColumn:
    """One column ready for cells: ``values`` is float64 (numbers, serials), int64, bool or string."""

    name: str
    kind: Kind
    values: pa.Array
    number_format: str | None = None


def _plain(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _serial(arr: pa.Array, unit_per_day: float, offset: float = UNIX_EPOCH_SERIAL) -> pa.Array:
    return pc.add(pc.divide(pc.cast(arr, pa.float64()), unit_per_day), offset)


def _per_day(unit: str) -> float:
    return {"s": 86_400, "ms": 86_400_000, "us": US_PER_DAY, "ns": US_PER_DAY * 1000}[unit]


def _json_text(arr: pa.Array) -> pa.Array:
    return pa.array(
        [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in arr.to_pylist()],
        pa.string(),
    )


def to_cells(name: str, arr: pa.Array | pa.ChunkedArray, clean_text: bool = False) -> CellColumn:
    """Convert one Arrow column to cell values; ``clean_text`` drops XML-illegal control characters."""
    arr = _plain(arr)
    t = arr.type
    if pa.types.is_boolean(t):
        return CellColumn(name, Kind.BOOL, arr)
    if pa.types.is_integer(t):
        bounds = pc.min_max(arr)
        low, high = bounds["min"].as_py() or 0, bounds["max"].as_py() or 0
        if max(abs(low), abs(high)) > MAX_EXACT_INT:
            return CellColumn(name, Kind.TEXT, pc.cast(arr, pa.string()))
        return CellColumn(name, Kind.NUMBER, pc.cast(arr, pa.int64()))
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        floats = pc.cast(arr, pa.float64())
        floats = pc.if_else(pc.is_finite(floats), floats, pa.scalar(None, pa.float64()))
        fmt = None
        if pa.types.is_decimal(t) and 0 < t.scale <= 10:
            fmt = "0." + "0" * t.scale
        return CellColumn(name, Kind.NUMBER, floats, fmt)
    if pa.types.is_date(t):
        days = pc.cast(pc.cast(arr, pa.date32()), pa.int32())
        return CellColumn(name, Kind.DATE, _serial(days, 1), FORMATS[Kind.DATE])
    if pa.types.is_timestamp(t):
        # Arrow stores tz-aware timestamps as UTC instants, naive ones as wall time: the raw
        # integers are exactly the naive-UTC (or naive) value to show.
        raw = pc.cast(arr, pa.int64())
        return CellColumn(name, Kind.DATETIME, _serial(raw, _per_day(t.unit)), FORMATS[Kind.DATETIME])
    if pa.types.is_duration(t):
        raw = pc.cast(arr, pa.int64())
        return CellColumn(name, Kind.DURATION, _serial(raw, _per_day(t.unit), 0), FORMATS[Kind.DURATION])
    if pa.types.is_time(t):
        raw = pc.cast(pc.cast(arr, pa.int64() if pa.types.is_time64(t) else pa.int32()), pa.int64())
        return CellColumn(name, Kind.TIME, _serial(raw, _per_day(t.unit), 0), FORMATS[Kind.TIME])
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        text = pc.cast(arr, pa.string())
        if clean_text:
            text = pc.replace_substring_regex(text, CONTROL_CHARS, "")
        return CellColumn(name, Kind.TEXT, _empty_as_null(text))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        b64 = [None if v is None else base64.b64encode(v).decode() for v in arr.to_pylist()]
        return CellColumn(name, Kind.TEXT, pa.array(b64, pa.string()))
    if pa.types.is_null(t):
        return CellColumn(name, Kind.TEXT, pa.nulls(len(arr), pa.string()))
    text = _json_text(arr)
    if clean_text:
        text = pc.replace_substring_regex(text, CONTROL_CHARS, "")
    return CellColumn(name, Kind.TEXT, text)


def _empty_as_null(text: pa.Array) -> pa.Array:
    # An empty string and an empty cell look the same in a sheet; keep them the same on both sides.
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def table_to_cells(table: pa.Table | pa.RecordBatch, clean_text: bool = False) -> list[CellColumn]:
    return [to_cells(name, table.column(name), clean_text) for name in table.column_names]


# --------------------------------------------------------------------------------------------
# Reading back


def _conflict(column: str, value: Any, want: pa.DataType) -> SchemaConflictError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SchemaConflictError(
        f"column {column!r}: the existing value {shown} cannot be read as {want}; the sheet holds data "
        "of another type in that column. Rename the column, or replace the whole target once (mode replace)."
    )


def _from_serial(v: float) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=round(v * US_PER_DAY))


def _as_datetime(v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return _from_serial(float(v))
    if isinstance(v, str):
        return dt.datetime.fromisoformat(v.strip())
    raise TypeError(v)


def _as_date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        return dt.date.fromisoformat(v.strip()[:10])
    return _as_datetime(v).date()


def _as_timestamp(tz: str | None) -> Callable[[Any], dt.datetime]:
    def convert(v: Any) -> dt.datetime:
        d = _as_datetime(v)
        if tz is None:
            return d.astimezone(dt.UTC).replace(tzinfo=None) if d.tzinfo else d
        # cells hold naive UTC (see module docstring); Arrow converts to the column's zone
        return d if d.tzinfo else d.replace(tzinfo=dt.UTC)

    return convert


def _as_duration(v: Any) -> dt.timedelta:
    if isinstance(v, dt.timedelta):
        return v
    if isinstance(v, dt.time):
        return dt.timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return dt.timedelta(microseconds=round(v * US_PER_DAY))
    raise TypeError(v)


def _as_time(v: Any) -> dt.time:
    if isinstance(v, dt.time):
        return v
    if isinstance(v, dt.datetime):
        return v.time()
    if isinstance(v, int | float) and not isinstance(v, bool):
        return _from_serial(float(v) % 1).time()
    if isinstance(v, str):
        return dt.time.fromisoformat(v.strip())
    raise TypeError(v)


def _as_int(v: Any) -> int:
    if isinstance(v, bool):
        raise TypeError(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        return int(v.strip())
    raise TypeError(v)


def _as_float(v: Any) -> float:
    if isinstance(v, bool):
        raise TypeError(v)
    if isinstance(v, int | float | decimal.Decimal):
        return float(v)
    if isinstance(v, str):
        return float(v.strip())
    raise TypeError(v)


def _as_decimal(scale: int) -> Callable[[Any], decimal.Decimal]:
    quantum = decimal.Decimal(1).scaleb(-scale)

    def convert(v: Any) -> decimal.Decimal:
        if isinstance(v, bool):
            raise TypeError(v)
        # repr of a float is its shortest exact form, so 12.34 comes back as Decimal("12.34")
        number = decimal.Decimal(repr(v) if isinstance(v, float) else str(v).strip())
        return number.quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)

    return convert


_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _as_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in _BOOL_TEXT:
        return _BOOL_TEXT[v.strip().lower()]
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    raise TypeError(v)


def _as_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < MAX_EXACT_INT:
        return str(int(v))  # a number typed into a text column: 12 rather than 12.0
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)


def _converter(t: pa.DataType) -> Callable[[Any], Any]:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _as_str
    if pa.types.is_integer(t):
        return _as_int
    if pa.types.is_floating(t):
        return _as_float
    if pa.types.is_decimal(t):
        return _as_decimal(t.scale)
    if pa.types.is_boolean(t):
        return _as_bool
    if pa.types.is_date(t):
        return _as_date
    if pa.types.is_timestamp(t):
        return _as_timestamp(t.tz)
    if pa.types.is_duration(t):
        return _as_duration
    if pa.types.is_time(t):
        return _as_time
    if pa.types.is_null(t):
        return lambda v: None
    return lambda v: json.loads(v) if isinstance(v, str) else v  # nested values were written as JSON


def from_cells(column: str, values: Sequence[Any], want: pa.DataType) -> pa.Array:
    """Cell values (as openpyxl or the Sheets API return them) to an Arrow array of type ``want``."""
    convert = _converter(want)
    out: list[Any] = []
    for v in values:
        if v is None or v == "":
            out.append(None)
            continue
        try:
            out.append(convert(v))
        except (TypeError, ValueError, ArithmeticError, json.JSONDecodeError):
            raise _conflict(column, v, want) from None
    try:
        return pa.array(out, want)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        bad = next((v for v in values if v not in (None, "")), None)
        raise _conflict(column, bad, want) from None


def infer_type(values: Sequence[Any], date_only: bool = False) -> pa.DataType:
    """The Arrow type of cell values with no recorded type; ``date_only`` for date-formatted cells."""
    kinds = {type(v) for v in values if v is not None and v != ""}
    if not kinds:
        return pa.string()
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    if kinds <= {dt.datetime, dt.date}:
        return pa.date32() if date_only or kinds == {dt.date} else pa.timestamp("us")
    if kinds == {dt.timedelta}:
        return pa.duration("us")
    if kinds == {dt.time}:
        return pa.time64("us")
    return pa.string()


def promote(arrays: Sequence[pa.Array]) -> pa.ChunkedArray:
    """Join per-chunk inferred arrays whose types may differ (ints then floats, numbers then text)."""
    types = {a.type for a in arrays if a.null_count < len(a)}  # an all-empty chunk has no opinion
    if len(types) <= 1:
        target = types.pop() if types else (arrays[0].type if arrays else pa.string())
    else:
        target = pa.float64() if types <= {pa.int64(), pa.float64()} else pa.string()
    return pa.chunked_array([a if a.type == target else a.cast(target) for a in arrays], target)


# --------------------------------------------------------------------------------------------
# Type hints: Arrow types as short strings, recorded next to a sheet so that a column the
# incoming data no longer has still reads back with its type.

_SIMPLE = {
    str(t): t
    for t in (
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.uint64(),
        pa.float32(),
        pa.float64(),
        pa.bool_(),
        pa.string(),
        pa.large_string(),
        pa.date32(),
        pa.date64(),
    )
}
_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]")
_UNIT = re.compile(r"(duration|time32|time64)\[(s|ms|us|ns)\]")
_DECIMAL = re.compile(r"decimal(128|256)\((\d+), (-?\d+)\)")


def type_from_str(text: str) -> pa.DataType | None:
    """Parse ``str(arrow_type)`` for the types sheets hold; ``None`` when unknown (then infer)."""
    if text in _SIMPLE:
        return _SIMPLE[text]
    try:
        if m := _TIMESTAMP.fullmatch(text):
            return pa.timestamp(m[1], tz=m[2])
        if m := _UNIT.fullmatch(text):
            return {"duration": pa.duration, "time32": pa.time32, "time64": pa.time64}[m[1]](m[2])
        if m := _DECIMAL.fullmatch(text):
            make = pa.decimal128 if m[1] == "128" else pa.decimal256
            return make(int(m[2]), int(m[3]))
    except (ValueError, pa.ArrowInvalid):
        return None
    return None
