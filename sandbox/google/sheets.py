"""The Google Sheets API v4 emulator: the subset gspread and couplet's writer use, with real cell state.

Served by ``couplet sandbox`` at ``/google/sheets`` (the real API: ``https://sheets.googleapis.com``;
paths below are relative to that root) and by a threaded server in tests.

Implemented: spreadsheets.get (metadata), values get/update/append/clear/batchGet/batchUpdate,
spreadsheets.batchUpdate (see ``sheets_batch``), the token endpoint for service-account keys and
per-spreadsheet editors (401/403/404 like Google). Anything else answers 400 so a client notices
the gap instead of passing on a no-op. Not imitated: the Drive API (creating, listing, sharing
files), formulas (shown as ``#NAME?``), styles beyond number formats, quotas.

``auto_create=True`` (the sandbox) makes a spreadsheet on first access to an unknown id, with one
tab ``Sheet1``, as if someone had created it and shared it with the caller; otherwise (tests) an
unknown id is a 404. The sandbox also creates ``DEMO_SPREADSHEET_ID`` up front.

Admin reads (not part of the Sheets API; no auth, no faults, not logged):

* ``GET /_admin/spreadsheets``: every spreadsheet with its tabs and how many rows hold values;
* ``GET /_admin/spreadsheets/{id}[?limit=100&render=FORMATTED_VALUE]``: its tabs, each with its grid
  size, hidden flag, rows holding values and the first ``limit`` rows as a person sees them.
"""

from __future__ import annotations

import uuid
from typing import Any

from .sheets_batch import apply
from .sheets_state import Spreadsheet, Tab, col_letters, formatted, parse_range, unformatted, user_entered
from .wire import Emulator, HttpError, Request, Response, limit_arg

DEMO_SPREADSHEET_ID = "couplet-sandbox-demo-spreadsheet"
_RENDERS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE")


class SheetsEmulator(Emulator):
    def __init__(
        self,
        auto_create: bool = False,
        request_log_size: int | None = None,
        logged_body_bytes: int | None = None,
    ) -> None:
        super().__init__(request_log_size, logged_body_bytes)
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.auto_create = auto_create

    # -- helpers for tests and the demo ----------------------------------------------------
    def create(
        self,
        title: str = "Report",
        tabs: tuple[str, ...] = ("Sheet1",),
        editors: set[str] | None = None,
        spreadsheet_id: str | None = None,
    ) -> str:
        sid = spreadsheet_id or uuid.uuid4().hex[:20]
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

    # -- HTTP ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        parts = request.path.split("/")
        if len(parts) < 4 or parts[1:3] != ["v4", "spreadsheets"]:
            raise HttpError(404, f"no such endpoint in the emulator: {request.method} {request.path}")
        sid, _, action = parts[3].partition(":")
        book = self._open(sid, request)
        rest = "/".join(parts[4:])
        if request.method == "GET" and not rest and not action:
            return Response(200, book.resource())
        if action == "batchUpdate" and request.method == "POST":
            return Response(200, self._batch_update(book, request.json() or {}))
        if rest.startswith("values"):
            return Response(200, self._values(book, request, rest))
        raise HttpError(400, f"not implemented in the emulator: {request.method} {request.path}")

    def _open(self, sid: str, request: Request) -> Spreadsheet:
        email = self.caller(request)
        book = self.spreadsheets.get(sid)
        if book is None and self.auto_create and sid:
            self.create(f"Sandbox spreadsheet {sid}", spreadsheet_id=sid)
            book = self.spreadsheets[sid]
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
        raise HttpError(400, f"not implemented in the emulator: values {request.method} {rest}")

    def _get(self, book: Spreadsheet, a1: str, request: Request) -> dict[str, Any]:
        title, r0, c0, r1, c1 = parse_range(a1)
        tab = book.tab(title)
        render = request.arg("valueRenderOption", "FORMATTED_VALUE") or "FORMATTED_VALUE"
        if request.arg("dateTimeRenderOption", "SERIAL_NUMBER") != "SERIAL_NUMBER":
            raise HttpError(400, "the emulator only serves dateTimeRenderOption=SERIAL_NUMBER")
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
        replies = [apply(draft, request) for request in body.get("requests", [])]
        draft.reindex()
        draft.check()
        self.spreadsheets[book.id] = draft
        return {"spreadsheetId": book.id, "replies": replies}

    # -- admin reads -----------------------------------------------------------------------
    def admin(self, request: Request) -> Response:
        parts = request.path.removeprefix("/_admin/").split("/")
        if request.method != "GET" or parts[0] != "spreadsheets" or len(parts) > 2:
            raise HttpError(
                404, f"no admin endpoint {request.method} {request.path}; try GET /_admin/spreadsheets"
            )
        if len(parts) == 1 or not parts[1]:
            books = sorted(self.spreadsheets.values(), key=lambda b: b.id)
            return Response(200, {"spreadsheets": [_summary(b, 0, "FORMATTED_VALUE") for b in books]})
        book = self.spreadsheets.get(parts[1])
        if book is None:
            raise HttpError(404, f"no spreadsheet {parts[1]!r}; known: {sorted(self.spreadsheets)}")
        render = request.arg("render", "FORMATTED_VALUE") or "FORMATTED_VALUE"
        if render not in _RENDERS:
            raise HttpError(400, f"render must be one of {list(_RENDERS)}, got {render!r}")
        return Response(200, _summary(book, limit_arg(request), render))


def _summary(book: Spreadsheet, limit: int, render: str) -> dict[str, Any]:
    """A spreadsheet for people: tabs in order, rows holding values, and (``limit`` > 0) the values."""
    tabs = []
    for tab in book.tabs:
        values = _read(tab, 0, 0, None, None, render)
        entry: dict[str, Any] = {
            "title": tab.title,
            "sheet_id": tab.sheet_id,
            "hidden": tab.hidden,
            "grid": {"rows": tab.rows, "columns": tab.cols},
            "rows_with_values": sum(1 for row in values if row),
        }
        if limit:
            entry["values"] = values[:limit]
        tabs.append(entry)
    return {"id": book.id, "title": book.title, "tabs": tabs}


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
