"""The requests of a spreadsheet ``batchUpdate`` in the Sheets emulator, applied to a draft copy.

``apply(book, request)`` handles one request of ``spreadsheets.batchUpdate``: addSheet, deleteSheet,
updateSheetProperties (title, hidden, index, grid size, frozen rows), updateCells and repeatCell
(values, number formats, notes), copyPaste (PASTE_VALUES), and create/update/deleteDeveloperMetadata.
The caller applies every request to a clone and keeps it only if all succeed, as Google does.
Anything else is a 400 naming the request, so a client notices the gap instead of a silent no-op.
"""

from __future__ import annotations

from typing import Any

from .sheets_state import Spreadsheet, Tab, user_entered
from .wire import HttpError


def _box(book: Spreadsheet, grid: dict[str, Any]) -> tuple[Tab, tuple[int, int, int, int]]:
    tab = book.tab(sheet_id=grid.get("sheetId", 0))
    return tab, (
        grid.get("startRowIndex", 0),
        grid.get("endRowIndex", tab.rows),
        grid.get("startColumnIndex", 0),
        grid.get("endColumnIndex", tab.cols),
    )


def _cell_value(cell: dict[str, Any]) -> Any:
    uev = cell.get("userEnteredValue") or {}
    for key in ("numberValue", "stringValue", "boolValue"):
        if key in uev:
            return uev[key]
    if "formulaValue" in uev:
        return user_entered(uev["formulaValue"])
    return None


def apply(book: Spreadsheet, request: dict[str, Any]) -> dict[str, Any]:
    ((kind, args),) = request.items()
    if kind == "addSheet":
        props = args.get("properties", {})
        title = props.get("title") or f"Sheet{len(book.tabs) + 1}"
        if any(t.title.casefold() == title.casefold() for t in book.tabs):
            raise HttpError(
                400, f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists.'
            )
        sheet_id = props.get("sheetId", book.next_sheet_id)
        book.next_sheet_id = max(book.next_sheet_id, sheet_id) + 1
        grid = props.get("gridProperties", {})
        index = props.get("index", len(book.tabs))
        for t in book.tabs:
            if t.index >= index:
                t.index += 1
        tab = Tab(
            sheet_id,
            title,
            index,
            grid.get("rowCount", 1000),
            grid.get("columnCount", 26),
            grid.get("frozenRowCount", 0),
            props.get("hidden", False),
        )
        book.tabs.append(tab)
        return {"addSheet": {"properties": tab.properties()}}
    if kind == "deleteSheet":
        tab = book.tab(sheet_id=args["sheetId"])
        book.tabs.remove(tab)
        book.metadata = [m for m in book.metadata if m["location"].get("sheetId") != tab.sheet_id]
        return {}
    if kind == "updateSheetProperties":
        props, fields = args["properties"], args["fields"].split(",")
        tab = book.tab(sheet_id=props["sheetId"])
        grid = props.get("gridProperties", {})
        for f in fields:
            if f == "title":
                if any(t is not tab and t.title.casefold() == props["title"].casefold() for t in book.tabs):
                    raise HttpError(400, f'A sheet with the name "{props["title"]}" already exists.')
                tab.title = props["title"]
            elif f == "hidden":
                tab.hidden = bool(props.get("hidden", False))
            elif f == "index":
                tab.index = props["index"] - 0.5 if props["index"] < tab.index else props["index"] + 0.5
            elif f == "gridProperties.rowCount":
                tab.resize(grid["rowCount"], tab.cols)
            elif f == "gridProperties.columnCount":
                tab.resize(tab.rows, grid["columnCount"])
            elif f == "gridProperties.frozenRowCount":
                tab.frozen_rows = grid.get("frozenRowCount", 0)
            else:
                raise HttpError(400, f"the emulator does not support updateSheetProperties field {f}")
        return {}
    if kind in ("updateCells", "repeatCell"):
        return _update_cells(book, kind, args)
    if kind == "copyPaste":
        if args.get("pasteType", "PASTE_NORMAL") != "PASTE_VALUES":
            raise HttpError(400, "the emulator only supports copyPaste with pasteType PASTE_VALUES")
        src, (r0, r1, c0, c1) = _box(book, args["source"])
        dst, (d0, _, e0, _) = _box(book, args["destination"])
        if d0 + (r1 - r0) > dst.rows or e0 + (c1 - c0) > dst.cols:
            raise HttpError(400, f"Range exceeds grid limits. Max rows: {dst.rows}, max columns: {dst.cols}")
        width = c1 - c0
        for i, r in enumerate(range(r0, min(r1, len(src.cells)))):
            block = src.cells[r][c0:c1]
            block += [None] * (width - len(block))
            while len(dst.cells) <= d0 + i:
                dst.cells.append([])
            row = dst.cells[d0 + i]
            row.extend([None] * (e0 + width - len(row)))
            row[e0 : e0 + width] = block
        return {}
    if kind == "createDeveloperMetadata":
        meta = dict(args["developerMetadata"])
        book.tab(sheet_id=meta["location"]["sheetId"])
        meta["metadataId"] = book.next_metadata_id
        meta["location"] = {"locationType": "SHEET", "sheetId": meta["location"]["sheetId"]}
        book.next_metadata_id += 1
        book.metadata.append(meta)
        return {"createDeveloperMetadata": {"developerMetadata": meta}}
    if kind in ("deleteDeveloperMetadata", "updateDeveloperMetadata"):
        filters = [args["dataFilter"]] if "dataFilter" in args else args.get("dataFilters", [])
        hit = [
            m
            for m in book.metadata
            if any(_meta_match(m, f.get("developerMetadataLookup", {})) for f in filters)
        ]
        if kind == "deleteDeveloperMetadata":
            book.metadata = [m for m in book.metadata if m not in hit]
            return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": hit}}
        for m in hit:
            for f in args["fields"].split(","):
                m[f] = args["developerMetadata"][f]
        return {"updateDeveloperMetadata": {"developerMetadata": hit}}
    raise HttpError(400, f"Invalid requests: the emulator does not implement {kind!r}")


def _meta_match(meta: dict[str, Any], lookup: dict[str, Any]) -> bool:
    if "metadataId" in lookup and meta["metadataId"] != lookup["metadataId"]:
        return False
    if "metadataKey" in lookup and meta["metadataKey"] != lookup["metadataKey"]:
        return False
    location = lookup.get("metadataLocation", {})
    return "sheetId" not in location or meta["location"].get("sheetId") == location["sheetId"]


def _update_cells(book: Spreadsheet, kind: str, args: dict[str, Any]) -> dict[str, Any]:
    fields = {f.strip() for f in args["fields"].split(",")}
    known = {"userEnteredValue", "userEnteredFormat", "userEnteredFormat.numberFormat", "note"}
    if fields - known:
        raise HttpError(400, f"the emulator does not support fields {sorted(fields - known)}")
    if "range" in args:
        tab, (r0, r1, c0, c1) = _box(book, args["range"])
    else:
        tab = book.tab(sheet_id=args["start"].get("sheetId", 0))
        r0, c0 = args["start"].get("rowIndex", 0), args["start"].get("columnIndex", 0)
        rows = args.get("rows", [])
        r1, c1 = r0 + len(rows), c0 + max((len(r.get("values", [])) for r in rows), default=0)
    if r1 > tab.rows or c1 > tab.cols:
        raise HttpError(400, f"Range exceeds grid limits. Max rows: {tab.rows}, max columns: {tab.cols}")
    rows = args.get("rows", []) if kind == "updateCells" else None

    def cell_at(i: int, j: int) -> dict[str, Any]:
        if rows is None:
            return args.get("cell", {})
        row = rows[i].get("values", []) if i < len(rows) else []
        return row[j] if j < len(row) else {}

    if fields & {"userEnteredFormat", "userEnteredFormat.numberFormat"}:
        if rows is None or not rows:
            fmt = (cell_at(0, 0).get("userEnteredFormat") or {}).get("numberFormat")
            tab.set_format((r0, r1, c0, c1), fmt)
        else:
            for i in range(r1 - r0):
                for j in range(c1 - c0):
                    fmt = (cell_at(i, j).get("userEnteredFormat") or {}).get("numberFormat")
                    tab.set_format((r0 + i, r0 + i + 1, c0 + j, c0 + j + 1), fmt)
    clearing = "userEnteredValue" in fields and not rows and not args.get("cell", {}).get("userEnteredValue")
    if clearing:
        for row in tab.cells[r0:r1]:
            for c in range(c0, min(c1, len(row))):
                row[c] = None
    for r in range(r0, r1):
        if "userEnteredValue" in fields and not clearing:
            for c in range(c0, c1):
                tab.put(r, c, _cell_value(cell_at(r - r0, c - c0)))
        if "note" in fields:
            for c in range(c0, c1):
                note = cell_at(r - r0, c - c0).get("note")
                if note:
                    tab.notes[(r, c)] = note
                else:
                    tab.notes.pop((r, c), None)
    return {}
