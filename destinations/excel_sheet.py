"""Stream one worksheet part (SpreadsheetML ``sheetN.xml``) from an Arrow table.

This is what openpyxl's write-only mode does (rows streamed to the part, inline strings, constant
memory), with three differences that matter here: whole batches are turned into XML by Arrow
compute kernels instead of one Python object per cell (several times faster); text that starts
with ``=`` stays text (openpyxl would turn it into a formula); and style ids refer to the styles of
the workbook being patched (see ``excel_package``), so other sheets keep theirs.

The sheet gets a frozen header row, an autofilter over the data and column widths fitted to the
header and a sample of the values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl.utils import get_column_letter

from .cells import CONTROL_CHARS, CellColumn, Kind, to_cells

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

_WIDTH = {Kind.DATE: 11, Kind.DATETIME: 19, Kind.DURATION: 10, Kind.TIME: 9, Kind.BOOL: 6}
_MIN_WIDTH, _MAX_WIDTH, _SAMPLE = 6, 60, 2_000


@dataclass(frozen=True)
class SheetLayout:
    header_style: int  # cellXfs index of the bold header
    format_styles: Mapping[str, int]  # number format code -> cellXfs index
    freeze_header: bool = True
    autofilter: bool = True


def number_formats(table: pa.Table) -> set[str]:
    """The number format codes the sheet will use (the package must have a style for each)."""
    sample = table.slice(0, 1)
    return {
        c.number_format
        for c in (to_cells(n, sample.column(n)) for n in table.column_names)
        if c.number_format
    }


def data_ref(num_rows: int, num_columns: int) -> str:
    return f"A1:{get_column_letter(max(num_columns, 1))}{num_rows + 1}"


def _escape_text(text: pa.Array) -> pa.Array:
    text = pc.replace_substring(text, "&", "&amp;")
    text = pc.replace_substring(text, "<", "&lt;")
    text = pc.replace_substring(text, ">", "&gt;")
    # A bare CR would be read back as LF (XML end-of-line handling); a character reference keeps it.
    return pc.replace_substring(text, "\r", "&#13;")


def _fragments(col: CellColumn, letter: str, rows: pa.Array, style: int | None) -> pa.Array:
    """``<c>`` elements for one column of a batch; empty string where the value is null."""
    s_attr = f' s="{style}"' if style is not None else ""
    if col.kind is Kind.TEXT:
        head, body, tail = (
            '" t="inlineStr"' + s_attr + '><is><t xml:space="preserve">',
            _escape_text(col.values),
            "</t></is></c>",
        )
    elif col.kind is Kind.BOOL:
        head, body, tail = '" t="b"' + s_attr + "><v>", pc.if_else(col.values, "1", "0"), "</v></c>"
    else:
        head, body, tail = '"' + s_attr + "><v>", pc.cast(col.values, pa.string()), "</v></c>"
    joined = pc.binary_join_element_wise(f'<c r="{letter}', rows, head, body, tail, "")
    return pc.fill_null(joined, "")


def _bytes(arr: pa.Array) -> bytes:
    """The concatenation of a null-free string array, read straight from its buffers."""
    if len(arr) == 0:
        return b""
    _, offsets, data = arr.buffers()
    if data is None:
        return b""
    bounds = np.frombuffer(offsets, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    return memoryview(data)[int(bounds[0]) : int(bounds[-1])].tobytes()


def _widths(table: pa.Table) -> list[float]:
    sample = table.slice(0, _SAMPLE)
    widths = []
    for name in table.column_names:
        col = to_cells(name, sample.column(name))
        content = _WIDTH.get(col.kind)
        if content is None:
            text = col.values if col.kind is Kind.TEXT else pc.cast(col.values, pa.string())
            content = (pc.max(pc.utf8_length(text)).as_py() or 0) if len(text) else 0
            if col.number_format and col.kind is Kind.NUMBER:
                content += 3  # room for the decimals the format adds
        header = len(name) + 3  # the autofilter button sits over the header text
        widths.append(float(min(_MAX_WIDTH, max(_MIN_WIDTH, header, content + 1))))
    return widths


def _head(table: pa.Table, layout: SheetLayout, letters: list[str]) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
        f'<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">',
        f'<dimension ref="{data_ref(table.num_rows, table.num_columns)}"/>',
        '<sheetViews><sheetView workbookViewId="0">',
    ]
    if layout.freeze_header:
        parts.append('<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>')
        parts.append('<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>')
    parts.append('</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>')
    for i, width in enumerate(_widths(table), start=1):
        parts.append(f'<col min="{i}" max="{i}" width="{width:g}" customWidth="1"/>')
    parts.append('</cols><sheetData><row r="1">')
    for letter, name in zip(letters, table.column_names, strict=True):
        parts.append(
            f'<c r="{letter}1" t="inlineStr" s="{layout.header_style}"><is>'
            f'<t xml:space="preserve">{escape(re.sub(CONTROL_CHARS, "", name))}</t></is></c>'
        )
    parts.append("</row>")
    return "".join(parts).encode()


def write_sheet(out: IO[bytes], table: pa.Table, layout: SheetLayout, batch_rows: int = 10_000) -> None:
    """Write the whole worksheet part for ``table`` (header row + data) to ``out``."""
    letters = [get_column_letter(i) for i in range(1, table.num_columns + 1)]
    out.write(_head(table, layout, letters))
    row = 2
    for batch in table.to_batches(max_chunksize=batch_rows):
        n = batch.num_rows
        if n == 0:
            continue
        rows = pa.array(np.arange(row, row + n, dtype=np.int64)).cast(pa.string())
        cells = [to_cells(name, batch.column(name), clean_text=True) for name in batch.schema.names]
        frags = [
            _fragments(col, letter, rows, layout.format_styles.get(col.number_format or "", None))
            for col, letter in zip(cells, letters, strict=True)
        ]
        xml = pc.binary_join_element_wise('<row r="', rows, '">', *frags, "</row>", "")
        out.write(_bytes(xml))
        row += n
    out.write(b"</sheetData>")
    if layout.autofilter and table.num_columns:
        out.write(f'<autoFilter ref="{data_ref(table.num_rows, table.num_columns)}"/>'.encode())
    out.write(
        b'<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/></worksheet>'
    )
