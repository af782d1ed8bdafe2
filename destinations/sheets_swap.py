"""The staging tab and the one-request swap that make a Google Sheets write atomic.

``stage`` writes every row to a new hidden tab; ``swap`` moves it into place with a single
spreadsheet ``batchUpdate``, which Google applies whole or not at all:

* existing tab: grow its grid if needed (never shrink: ranges like ``A1:D1000`` in charts keep
  their rows), clear values and number formats, paste the staged values (PASTE_VALUES, so the tab
  keeps its sheetId, position, colours, widths, filters, and every formula, chart or pivot table
  on other tabs that points at it), set number formats per column, record the schema, set the
  optional note, delete the staging tab;
* new tab: rename and unhide the staging tab, set formats, record the schema.

The schema (column names and Arrow types) and the row count are recorded on the tab as developer
metadata (``couplet.schema``, invisible to users), so the next upsert reads back a column the data
no longer has with its type, and a whole replace can report how many rows it replaced.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

import pyarrow as pa

from .cells import Kind, table_to_cells, type_from_str
from .sheets_api import SheetsApi, quote_title

SCHEMA_KEY = "couplet.schema"
_SHEET_FORMAT = {Kind.DATE: "DATE", Kind.DATETIME: "DATE_TIME", Kind.DURATION: "TIME", Kind.TIME: "TIME"}


def staging_prefix(worksheet: str) -> str:
    return f"{worksheet[:60]} (couplet staging "


def drop_stale_staging(api: SheetsApi, sheets: list[dict[str, Any]], worksheet: str) -> None:
    """Remove staging tabs of this worksheet left by a write that died before cleaning up."""
    prefix = staging_prefix(worksheet)
    stale = [s["properties"]["sheetId"] for s in sheets if s["properties"]["title"].startswith(prefix)]
    if stale:
        api.batch_update([{"deleteSheet": {"sheetId": sid}} for sid in stale])


def drop(api: SheetsApi, staging_id: int) -> None:
    # The original error matters more; if this fails too, the next write removes the tab.
    with contextlib.suppress(Exception):
        api.batch_update([{"deleteSheet": {"sheetId": staging_id}}])


def stage(api: SheetsApi, worksheet: str, table: pa.Table, chunk_cells: int) -> int:
    """Write header and rows to a new hidden tab in chunked RAW value writes; returns its sheetId."""
    cols = max(table.num_columns, 1)
    title = staging_prefix(worksheet) + uuid.uuid4().hex[:8]
    grid = {"rowCount": table.num_rows + 1, "columnCount": cols}
    reply = api.batch_update(
        [{"addSheet": {"properties": {"title": title, "hidden": True, "gridProperties": grid}}}]
    )
    staging_id = int(reply["replies"][0]["addSheet"]["properties"]["sheetId"])
    try:
        cells = table_to_cells(table)
        step = max(1, chunk_cells // cols)
        api.put_values(f"{quote_title(title)}!A1", [table.column_names])
        for start in range(0, table.num_rows, step):
            chunk = [c.values.slice(start, step).to_pylist() for c in cells]
            api.put_values(f"{quote_title(title)}!A{start + 2}", [list(r) for r in zip(*chunk, strict=True)])
    except BaseException:
        drop(api, staging_id)
        raise
    return staging_id


def swap(
    api: SheetsApi,
    tab: dict[str, Any] | None,
    staging_id: int,
    worksheet: str,
    table: pa.Table,
    note: str | None,
) -> None:
    """Move the staged rows into the tab in one atomic batchUpdate (see the module docstring)."""
    rows, cols = table.num_rows + 1, max(table.num_columns, 1)
    if tab is None:
        sheet_id = staging_id
        props = {
            "sheetId": sheet_id,
            "title": worksheet,
            "hidden": False,
            "gridProperties": {"frozenRowCount": 1},
        }
        requests = [_properties(props, "title,hidden,gridProperties.frozenRowCount")]
    else:
        sheet_id = tab["properties"]["sheetId"]
        grid = tab["properties"]["gridProperties"]
        size = {
            "rowCount": max(grid["rowCount"], rows),
            "columnCount": max(grid["columnCount"], cols),
            "frozenRowCount": 1,
        }
        requests = [
            _properties(
                {"sheetId": sheet_id, "gridProperties": size},
                "gridProperties.rowCount,gridProperties.columnCount,gridProperties.frozenRowCount",
            ),
            {
                "updateCells": {
                    "range": {"sheetId": sheet_id},
                    "fields": "userEnteredValue,userEnteredFormat.numberFormat",
                }
            },
            {
                "copyPaste": {
                    "source": _grid(staging_id, 0, rows, 0, cols),
                    "destination": _grid(sheet_id, 0, rows, 0, cols),
                    "pasteType": "PASTE_VALUES",
                }
            },
        ]
        requests += [
            {
                "deleteDeveloperMetadata": {
                    "dataFilter": {"developerMetadataLookup": {"metadataId": m["metadataId"]}}
                }
            }
            for m in tab.get("developerMetadata", [])
            if m.get("metadataKey") == SCHEMA_KEY
        ]
    requests += _format_requests(sheet_id, table)
    schema = {"columns": [[f.name, str(f.type)] for f in table.schema], "rows": table.num_rows}
    metadata = {"metadataKey": SCHEMA_KEY, "metadataValue": json.dumps(schema), "visibility": "DOCUMENT"}
    requests.append(
        {"createDeveloperMetadata": {"developerMetadata": {**metadata, "location": {"sheetId": sheet_id}}}}
    )
    if note is not None:
        start = {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0}
        requests.append(
            {"updateCells": {"start": start, "rows": [{"values": [{"note": note}]}], "fields": "note"}}
        )
    if tab is not None:
        requests.append({"deleteSheet": {"sheetId": staging_id}})

    def applied() -> bool:  # after a lost reply: the swap removed (or renamed) the staging tab
        sheets = api.metadata().get("sheets", [])
        staged = next((s for s in sheets if s["properties"]["sheetId"] == staging_id), None)
        if tab is not None:
            return staged is None
        return bool(staged and staged["properties"]["title"] == worksheet)

    api.batch_update(requests, applied=applied)


def _properties(props: dict[str, Any], fields: str) -> dict[str, Any]:
    return {"updateSheetProperties": {"properties": props, "fields": fields}}


def _grid(sheet_id: int, r0: int, r1: int, c0: int, c1: int) -> dict[str, int]:
    return {
        "sheetId": sheet_id,
        "startRowIndex": r0,
        "endRowIndex": r1,
        "startColumnIndex": c0,
        "endColumnIndex": c1,
    }


def _format_requests(sheet_id: int, table: pa.Table) -> list[dict[str, Any]]:
    """A number format per date/time/decimal column, over the data rows."""
    out: list[dict[str, Any]] = []
    if table.num_rows == 0:
        return out
    for j, cell in enumerate(table_to_cells(table.slice(0, 1))):
        if cell.number_format is None:
            continue
        fmt = {
            "numberFormat": {"type": _SHEET_FORMAT.get(cell.kind, "NUMBER"), "pattern": cell.number_format}
        }
        grid = _grid(sheet_id, 1, table.num_rows + 1, j, j + 1)
        out.append(
            {
                "repeatCell": {
                    "range": grid,
                    "cell": {"userEnteredFormat": fmt},
                    "fields": "userEnteredFormat.numberFormat",
                }
            }
        )
    return out


def recorded(tab: dict[str, Any] | None) -> dict[str, Any]:
    """What the last write recorded on the tab: its column types and row count."""
    for meta in (tab or {}).get("developerMetadata", []):
        if meta.get("metadataKey") == SCHEMA_KEY:
            try:
                value = json.loads(meta.get("metadataValue", "{}"))
            except json.JSONDecodeError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def schema_hint(tab: dict[str, Any]) -> dict[str, pa.DataType]:
    hints = {str(n): type_from_str(str(t)) for n, t in recorded(tab).get("columns", [])}
    return {n: t for n, t in hints.items() if t is not None}
