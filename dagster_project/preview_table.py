"""Plain-text tables for ``couplet flows preview``: a result's columns with their types, its first rows.

Rows are aligned in columns, numbers to the right; a value longer than ``CELL`` characters is cut
with an ellipsis, line breaks show as spaces, a null as an empty cell. A table wider than the
terminal is printed in blocks of columns, each as wide as the terminal allows, so that nothing
wraps; each block holds the same rows in the same order.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from decimal import Decimal

import pyarrow as pa

CELL = 32  # characters of a value shown at most
GAP = "  "


def cell(value: object) -> str:
    """A value as one short line."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, float):  # 305.41, not 305.40999999999997: what a spreadsheet shows
        text = repr(round(value, 10))
    elif isinstance(value, dt.date | Decimal):
        text = str(value)
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = " ".join(text.split()) if any(c in text for c in "\r\n\t") else text
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def _numeric(type_: pa.DataType) -> bool:
    return pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)


def render_schema(columns: Sequence[tuple[str, str]], schema: pa.Schema) -> str:
    """``column  type  arrow`` for each column: the DuckDB type and the Arrow type it is stored as."""
    arrow = {f.name: str(f.type) for f in schema}
    lines = [("column", "type", "arrow"), *((n, t, arrow.get(n, "?")) for n, t in columns)]
    widths = [max(len(line[i]) for line in lines) for i in range(2)]
    return "\n".join(
        f"{name.ljust(widths[0])}{GAP}{type_.ljust(widths[1])}{GAP}{stored}".rstrip()
        for name, type_, stored in lines
    )


def render_rows(batch: pa.Table | pa.RecordBatch, width: int | None = None) -> str:
    """The rows of ``batch`` as an aligned table, in blocks of columns no wider than ``width``
    (default: the terminal's, else 120)."""
    if batch.num_columns == 0:
        return "(no columns)"
    width = width or shutil.get_terminal_size((120, 24)).columns
    names = batch.schema.names
    cells = [[cell(v) for v in batch.column(i).to_pylist()] for i in range(batch.num_columns)]
    widths = [max(len(name), *(len(c) for c in col)) for name, col in zip(names, cells, strict=True)]
    right = [_numeric(f.type) for f in batch.schema]
    blocks: list[list[int]] = []
    used = 0
    for i, w in enumerate(widths):
        if blocks and used + len(GAP) + w <= width:
            blocks[-1].append(i)
            used += len(GAP) + w
        else:
            blocks.append([i])
            used = w
    out: list[str] = []
    for b, block in enumerate(blocks):
        if len(blocks) > 1:
            span = f"s {block[0] + 1}-{block[-1] + 1}" if len(block) > 1 else f" {block[0] + 1}"
            out.append(("\n" if b else "") + f"column{span} of {len(names)}:")

        def line(values: Sequence[str], block: list[int] = block) -> str:
            return GAP.join(
                v.rjust(widths[i]) if right[i] else v.ljust(widths[i])
                for i, v in zip(block, values, strict=True)
            ).rstrip()

        out.append(line([names[i] for i in block]))
        out.append(line(["-" * widths[i] for i in block]))
        out.extend(line([cells[i][r] for i in block]) for r in range(batch.num_rows))
    return "\n".join(out)
