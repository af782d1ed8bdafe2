"""Read an existing worksheet back into Arrow (openpyxl read-only mode), for upsert and scoped replace.

Row 1 holds the column names. A column the incoming data also has is read as the incoming type
(the new type wins, as in ``union_schema``); any other column's type is inferred from its cells,
where date-formatted cells without a time part in their format read as dates. Rows are converted in
chunks so Python objects never pile up for the whole sheet; the result is compact Arrow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
from openpyxl.styles.numbers import is_date_format

from .base import DestinationConfigError
from .cells import from_cells, infer_type, promote

_CHUNK_ROWS = 50_000
_TIME_PART = re.compile(r"[hs]", re.IGNORECASE)


def _date_only(fmt: str | None) -> bool:
    """A date format without a time part: the column holds dates, not datetimes."""
    if not fmt or not is_date_format(fmt):
        return False
    return not _TIME_PART.search(fmt.split(";")[0])


def read_sheet(path: Path, sheet: str, types: Mapping[str, pa.DataType], target: str = "") -> pa.Table | None:
    """The sheet's rows as a table, or ``None`` when the file or sheet does not exist."""
    if not path.exists():
        return None
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        name = next((n for n in wb.sheetnames if n.casefold() == sheet.casefold()), None)
        if name is None:
            return None
        ws = wb[name]
        if not hasattr(ws, "iter_rows"):
            raise DestinationConfigError(
                f"{target}: sheet {name!r} is not a worksheet; pick another sheet name"
            )
        ws.reset_dimensions()  # files from other tools may carry a wrong <dimension>
        rows = ws.iter_rows(values_only=True)
        header = _header(next(rows, ()), target)
        if not header:
            return None
        width = len(header)
        second = next(ws.iter_rows(min_row=2, max_row=2, max_col=width), ())
        date_only = {header[i] for i, c in enumerate(second) if _date_only(getattr(c, "number_format", None))}
        chunks: dict[str, list[pa.Array]] = {n: [] for n in header}
        buffer: list[tuple[Any, ...]] = []
        for row in rows:
            if any(v is not None and v != "" for v in row[:width]):
                buffer.append(tuple(row[:width]) + (None,) * (width - len(row)))
            if len(buffer) >= _CHUNK_ROWS:
                _flush(buffer, header, types, date_only, chunks)
        _flush(buffer, header, types, date_only, chunks)
    finally:
        wb.close()
    columns = {n: promote(a) if n not in types else pa.chunked_array(a, types[n]) for n, a in chunks.items()}
    return pa.table(columns)


def _header(row: tuple[Any, ...], target: str) -> list[str]:
    names = list(row)
    while names and (names[-1] is None or names[-1] == ""):
        names.pop()
    if any(n is None or n == "" for n in names):
        raise DestinationConfigError(
            f"{target}: row 1 of the existing sheet has an empty column name; every column needs a name "
            "in row 1 (or replace the sheet once with mode replace)"
        )
    text = [str(n) for n in names]
    if len(set(text)) != len(text):
        raise DestinationConfigError(f"{target}: row 1 of the existing sheet repeats a column name: {text}")
    return text


def _flush(
    buffer: list[tuple[Any, ...]],
    header: list[str],
    types: Mapping[str, pa.DataType],
    date_only: set[str],
    chunks: dict[str, list[pa.Array]],
) -> None:
    if not buffer and any(chunks.values()):
        return
    columns = list(zip(*buffer, strict=True)) if buffer else [()] * len(header)
    for name, values in zip(header, columns, strict=True):
        want = types.get(name) or infer_type(values, date_only=name in date_only)
        chunks[name].append(from_cells(name, values, want))
    buffer.clear()
