"""A local Google Sheets v4 server for gspread, keeping real cell state (see ``sheets_state``).

Implemented: spreadsheets.get (metadata), values get/update/append/clear/batchGet/batchUpdate,
spreadsheets.batchUpdate with addSheet, deleteSheet, updateSheetProperties, updateCells,
repeatCell, copyPaste (PASTE_VALUES), create/update/deleteDeveloperMetadata; an OAuth token
endpoint for service-account JWTs; per-spreadsheet editors (401/403/404 like Google). Anything
else answers 400 so a test notices the gap instead of passing on a no-op.

gspread has no base-URL option, so ``http_client_class()`` returns an ``HTTPClient`` subclass that
rewrites the Google hosts to this server (stack.md §3).
"""

from __future__ import annotations

import uuid
from typing import Any

from gspread.http_client import HTTPClient

from .http import FakeServer, HttpError, Request, Response
from .sheets_state import Spreadsheet, Tab, col_letters, formatted, parse_range, unformatted, user_entered

GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")


class FakeSheets(FakeServer):
    def __init__(self) -> None:
        self.spreadsheets: dict[str, Spreadsheet] = {}
        super().__init__()

    # -- test helpers ----------------------------------------------------------------------
    def create(
        self, title: str = "Report", tabs: tuple[str, ...] = ("Sheet1",), editors: set[str] | None = None
    ) -> str:
        sid = uuid.uuid4().hex[:20]
        with self.lock:
            self.spreadsheets[sid] = Spreadsheet(
                sid, title, [Tab(i, t, i) for i, t in enumerate(tabs)], editors, next_sheet_id=len(tabs) + 100
            )
        return sid

    def tab(self, sid: str, title: str) -> Tab:
        return self.spreadsheets[sid].tab(title)

    def values(self, sid: str, title: str, render: str = "FORMATTED_VALUE") -> list[list[Any]]:
        """What a person sees (formatted) or the raw cell values, trailing empties trimmed."""
        with self.lock:
            return _read(self.spreadsheets[sid].tab(title), 0, 0, None, None, render)

    def titles(self, sid: str) -> list[str]:
        return [t.title for t in self.spreadsheets[sid].tabs]

    def http_client_class(self) -> type[HTTPClient]:
        return local_http_client(self.url)

    # -- HTTP ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path == "/token":
            return self.issue_token(request)
        parts = request.path.split("/")
        if len(parts) < 4 or parts[1:3] != ["v4", "spreadsheets"]:
            raise HttpError(404, f"no such endpoint in the fake: {request.method} {request.path}")
        sid, _, action = parts[3].partition(":")
        book = self._open(sid, request)
        rest = "/".join(parts[4:])
        if request.method == "GET" and not rest and not action:
            return Response(200, book.resource())
        if action == "batchUpdate" and request.method == "POST":
            return Response(200, self._batch_update(book, request.json() or {}))
        if rest.startswith("values"):
            return Response(200, self._values(book, request, rest))
        raise HttpError(400, f"not implemented in the fake: {request.method} {request.path}")

    def _open(self, sid: str, request: Request) -> Spreadsheet:
        email = self.caller(request)
        book = self.spreadsheets.get(sid)
        if book is None:
            raise HttpError(404, "Requested entity was not found.", "notFound")
        if book.editors is not None and email not in book.editors:
            raise HttpError(403, "The caller does not have permission", "forbidden")
        return book

    # -- values ----------------------------------------------------------------------------
    def _values(self, book: Spreadsheet, request: Request, rest: str) -> dict[str, Any]:
        if rest == "values:batchGet":
            ranges = request.query.get("ranges", [])
            return {"spreadsheetId": book.id, "valueRanges": [self._get(book, r, request) for r in ranges]}
        if rest == "values:batchUpdate":
            body = request.json() or {}
            option = body.get("valueInputOption", "RAW")
            replies = [self._put(book, d["range"], d.get("values", []), option) for d in body.get("data", [])]
            return {"spreadsheetId": book.id, "responses": replies}
        a1, verb = rest.removeprefix("values/"), ""
        for name in ("append", "clear"):
            if a1.endswith(":" + name):
                a1, verb = a1[: -len(name) - 1], name
        if request.method == "GET":
            return self._get(book, a1, request)
        if request.method == "PUT":
            option = request.arg("valueInputOption", "RAW") or "RAW"
            return self._put(book, a1, (request.json() or {}).get("values", []), option)
        if verb == "append":
            option = request.arg("valueInputOption", "RAW") or "RAW"
            return self._append(book, a1, (request.json() or {}).get("values", []), option)
        if verb == "clear":
            title, r0, c0, r1, c1 = parse_range(a1)
            tab = book.tab(title)
            for r in range(r0, min(r1 or tab.rows, len(tab.cells))):
                for c in range(c0, min(c1 or tab.cols, len(tab.cells[r]))):
                    tab.cells[r][c] = None
            return {"spreadsheetId": book.id, "clearedRange": a1}
        raise HttpError(400, f"not implemented in the fake: values {request.method} {rest}")

    def _get(self, book: Spreadsheet, a1: str, request: Request) -> dict[str, Any]:
        title, r0, c0, r1, c1 = parse_range(a1)
        tab = book.tab(title)
        render = request.arg("valueRenderOption", "FORMATTED_VALUE") or "FORMATTED_VALUE"
        if request.arg("dateTimeRenderOption", "SERIAL_NUMBER") != "SERIAL_NUMBER":
            raise HttpError(400, "the fake only serves dateTimeRenderOption=SERIAL_NUMBER")
        rows = _read(tab, r0, c0, r1, c1, render)
        out: dict[str, Any] = {"range": f"'{tab.title}'!{col_letters(c0)}{r0 + 1}", "majorDimension": "ROWS"}
        if rows:
            out["values"] = rows
        return out

    def _put(self, book: Spreadsheet, a1: str, rows: list[list[Any]], option: str) -> dict[str, Any]:
        title, r0, c0, _, _ = parse_range(a1)
        tab = book.tab(title)
        if option not in ("RAW", "USER_ENTERED"):
            raise HttpError(400, f"Invalid valueInputOption: {option}")
        staged = tab.clone()  # a values write is all-or-nothing too
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is None:
                    continue  # null means "leave the cell as it is"
                cell = user_entered(value) if option == "USER_ENTERED" else value
                staged.put(r0 + i, c0 + j, None if cell == "" else cell)
        tab.cells = staged.cells
        width = max((len(r) for r in rows), default=0)
        return {
            "spreadsheetId": book.id,
            "updatedRange": a1,
            "updatedRows": len(rows),
            "updatedColumns": width,
            "updatedCells": sum(len(r) for r in rows),
        }

    def _append(self, book: Spreadsheet, a1: str, rows: list[list[Any]], option: str) -> dict[str, Any]:
        title, _, c0, _, _ = parse_range(a1)
        tab = book.tab(title)
        start = len(tab.cells)
        tab.rows = max(tab.rows, start + len(rows))  # append grows the grid, unlike update
        return {"updates": self._put(book, f"'{tab.title}'!{col_letters(c0)}{start + 1}", rows, option)}

    # -- spreadsheet batchUpdate -----------------------------------------------------------
    def _batch_update(self, book: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        draft = book.clone()  # all requests apply, or none
        replies = [_apply(draft, request) for request in body.get("requests", [])]
        draft.reindex()
        draft.check()
        self.spreadsheets[book.id] = draft
        return {"spreadsheetId": book.id, "replies": replies}


def local_http_client(base: str) -> type[HTTPClient]:
    """A gspread ``HTTPClient`` class that sends Google's Sheets/Drive URLs to ``base`` instead."""

    class LocalHTTPClient(HTTPClient):
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
            for host in GOOGLE_HOSTS:
                if endpoint.startswith(host):
                    endpoint = base + endpoint[len(host) :]
            return super().request(method, endpoint, *args, **kwargs)

    return LocalHTTPClient


def _read(tab: Tab, r0: int, c0: int, r1: int | None, c1: int | None, render: str) -> list[list[Any]]:
    rows = []
    for r in range(r0, min(r1 if r1 is not None else tab.rows, len(tab.cells))):
        row = []
        for c in range(c0, min(c1 if c1 is not None else tab.cols, len(tab.cells[r]))):
            value = tab.cells[r][c]
            if render == "FORMATTED_VALUE":
                row.append(formatted(value, tab.number_format(r, c)))
            else:
                row.append("" if value is None else unformatted(value))
        while row and row[-1] == "":
            row.pop()
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


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


def _apply(book: Spreadsheet, request: dict[str, Any]) -> dict[str, Any]:
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
                raise HttpError(400, f"the fake does not support updateSheetProperties field {f}")
        return {}
    if kind in ("updateCells", "repeatCell"):
        return _update_cells(book, kind, args)
    if kind == "copyPaste":
        if args.get("pasteType", "PASTE_NORMAL") != "PASTE_VALUES":
            raise HttpError(400, "the fake only supports copyPaste with pasteType PASTE_VALUES")
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
    raise HttpError(400, f"Invalid requests: the fake does not implement {kind!r}")


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
        raise HttpError(400, f"the fake does not support fields {sorted(fields - known)}")
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
