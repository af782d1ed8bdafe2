"""Columnar pages: a JSON page parsed straight into Arrow, with no Python object per record.

For most entities a page is plain data: a list of records under an envelope key, typed by the
declared columns, no quirk hook. Such a page is parsed by Arrow's JSON reader (C++, one pass) and
its columns are picked out of the resulting struct array and cast to the declared types. Compared
with parsing into Python dicts and building columns from them, this halves the CPU per page and
leaves no heap of short-lived dicts behind, so a long extraction stays small in memory.

The result must equal what ``records.to_batch`` makes of the same page. Whenever Arrow cannot say
the same thing exactly (a value whose type differs across records, a path through something that is
not an object, a body that is not one JSON object), the decoder hands the page to the ordinary path
(``http.loads``); nothing is guessed. A ``json`` column that holds values must keep the API's exact
text, which Arrow's inferred struct cannot give back (key order, absent keys, number forms): that
one column is taken from an ordinary parse of the page (once per page, only then), the others stay
columnar (Harvest's time entries carry an ``external_reference`` object on a few records).

Only the page's records come back as Arrow (``ArrowRecords``); the scalars a paginator reads (page
counts, the next link, a size probe's count) come back as ordinary values at their dotted paths.
The records' fields, declared or not, are read off the type Arrow inferred (``fields.sample_struct``),
so schema drift costs nothing per record here.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .entity import BODY, Column, Entity, PagingKind
from .fields import FieldSample, Node, declared_tree, sample_struct
from .http import loads

Decoder = Callable[[bytes], Any]

_PARSE = pj.ParseOptions(newlines_in_values=True)


@dataclass(frozen=True)
class ArrowRecords:
    """A page's records, already typed as the entity's declared columns."""

    batch: pa.RecordBatch
    fields: FieldSample | None = None  # the page's fields, declared or not (see ``fields``)

    def __len__(self) -> int:
        return self.batch.num_rows


class _NotColumnar(Exception):
    """This page needs the ordinary path."""


def columnar_decoder(entity: Entity) -> Decoder | None:
    """A decoder for ``entity``'s pages, or None when its records need Python (hooks and the like).

    One decoder serves one extraction of one entity; once a page needs the ordinary path, the
    rest go there directly (a failed columnar parse costs as much as a successful one).
    """
    window = entity.window
    if (
        entity.hook is not None
        or entity.envelope in (None, BODY)
        or entity.envelope_fallbacks
        or entity.paging.kind not in (PagingKind.SINGLE, PagingKind.PAGE_COUNT, PagingKind.NEXT_LINK)
        or (entity.fan_out is not None and entity.fan_out.inject_as)
        or (window is not None and window.inject_year_as)
        or any(c.convert for c in entity.columns)
    ):
        return None
    assert entity.envelope is not None
    envelope = entity.envelope.split(".")
    scalars = [
        p for p in (entity.paging.count_path, entity.paging.current_path, entity.paging.next_path) if p
    ]
    if window is not None and window.sizing is not None:
        scalars.append(window.sizing.count_path)
    columns = entity.columns
    tree = declared_tree(columns, entity.not_kept)
    tried = {"failed": False}

    def decode(content: bytes) -> Any:
        if tried["failed"]:  # pages of one entity look alike: after one miss, stop trying
            return loads(content)
        try:
            return _decode(content, envelope, scalars, columns, tree)
        except (_NotColumnar, pa.ArrowException, ValueError, TypeError, OverflowError):
            tried["failed"] = True
            return loads(content)

    return decode


def _decode(
    content: bytes, envelope: list[str], scalars: list[str], columns: Sequence[Column], tree: Node
) -> Any:
    if not content.lstrip().startswith(b"{"):
        raise _NotColumnar("not one JSON object")
    options = pj.ReadOptions(use_threads=False, block_size=max(len(content) + 1, 1 << 16))
    table = pj.read_json(io.BytesIO(content), read_options=options, parse_options=_PARSE)
    if table.num_rows != 1:
        raise _NotColumnar("not one JSON object")
    body: dict[str, Any] = {}
    for dotted in scalars:
        _put(body, dotted.split("."), _scalar(table, dotted.split(".")))
    listed = _field(table, envelope)
    if listed is None or not (pa.types.is_list(listed.type) or pa.types.is_large_list(listed.type)):
        raise _NotColumnar("the envelope is not a list")
    if listed.null_count:
        raise _NotColumnar("the envelope is null")
    records = listed.flatten()
    batch = _batch(records, columns, lambda: _listed(loads(content), envelope))
    _put(body, envelope, ArrowRecords(batch, sample_struct(records, tree)))
    return body


def _field(table: pa.Table, path: list[str]) -> pa.Array | None:
    """The (single-row) array at a dotted path of the one-row table, or None when absent."""
    if path[0] not in table.column_names:
        return None
    array: pa.Array = table.column(path[0]).combine_chunks()
    for key in path[1:]:
        if not pa.types.is_struct(array.type) or array.type.get_field_index(key) < 0:
            return None
        array = array.field(key)
    return array


def _scalar(table: pa.Table, path: list[str]) -> Any:
    array = _field(table, path)
    if array is None:
        return None
    if pa.types.is_timestamp(array.type):
        raise _NotColumnar("a paging value that reads as a time")  # keep the API's own text
    return array[0].as_py()


def _put(body: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        body = body.setdefault(key, {})
    body[path[-1]] = value


def _pick(records: pa.Array, path: tuple[str, ...]) -> pa.Array:
    """The values at a column's path; nulls where a record lacks it (as ``records._dig`` does)."""
    array = records
    for key in path:
        if pa.types.is_null(array.type):
            return pa.nulls(len(records))
        if not pa.types.is_struct(array.type):
            raise _NotColumnar(f"{key!r} is reached through a non-object")
        if array.type.get_field_index(key) < 0:
            return pa.nulls(len(records))
        array = pc.struct_field(array, [array.type.get_field_index(key)])  # null where the parent is
    return array


def _cast(values: pa.Array, column: Column) -> pa.Array:
    target = column.arrow_type
    kind = column.type
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), target)
    if kind == "json":
        if values.null_count == len(values):
            return pa.nulls(len(values), target)
        raise _NotColumnar("a json column holds values: keep their exact text")
    if pa.types.is_nested(values.type):
        raise _NotColumnar(f"{column.name!r} holds objects or lists")
    if kind == "date":
        if pa.types.is_string(values.type):
            return pc.cast(pc.utf8_slice_codeunits(values, 0, 10), target)
        if pa.types.is_timestamp(values.type):
            return pc.cast(values, target)
        raise _NotColumnar("not a date")
    if kind == "datetime":
        if pa.types.is_timestamp(values.type):
            # The reader read ISO text with its offset as UTC; only the unit and the zone change.
            return values.cast(pa.timestamp(values.type.unit, tz="UTC")).cast(target)
        if pa.types.is_string(values.type):
            return pc.cast(values, target)
        raise _NotColumnar("not a time")
    if pa.types.is_timestamp(values.type):
        raise _NotColumnar("text that reads as a time")  # a str column must keep the API's text
    return values if values.type == target else values.cast(target)


def _batch(records: pa.Array, columns: Sequence[Column], ordinary: Callable[[], list[Any]]) -> pa.RecordBatch:
    arrays = []
    parsed: list[Any] | None = None
    for c in columns:
        values = _pick(records, c.source_path)
        if c.type == "json" and not pa.types.is_null(values.type) and values.null_count < len(values):
            if parsed is None:
                parsed = ordinary()
                if len(parsed) != len(records):
                    raise _NotColumnar("the ordinary parse sees other records")
            from .records import json_column  # records imports this module

            arrays.append(json_column(parsed, c))
        else:
            arrays.append(_cast(values, c))
    schema = pa.schema([pa.field(c.name, c.arrow_type) for c in columns])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _listed(body: Any, envelope: list[str]) -> list[Any]:
    """The records of an ordinarily parsed page (the columnar parse already checked the shape)."""
    for key in envelope:
        body = body[key]
    return list(body)
