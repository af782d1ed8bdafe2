"""Cell state of the Google Sheets emulator: spreadsheets, tabs, values, formats, notes, metadata.

Behaviour follows the public Sheets v4 reference where a client can observe it: A1 ranges, grid
limits (writing outside the grid is a 400; 10 million cells per spreadsheet), RAW vs USER_ENTERED
input (USER_ENTERED turns "=1+1" into a formula and "0012" into 12, RAW keeps text), rendering
(FORMATTED_VALUE applies number formats such as ``yyyy-mm-dd``; UNFORMATTED_VALUE gives serials),
and a spreadsheet ``batchUpdate`` that applies all of its requests or none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from .wire import HttpError

EPOCH = dt.datetime(1899, 12, 30)
MAX_CELLS = 10_000_000


@dataclass
class Formula:
    text: str


@dataclass
class Tab:
    sheet_id: int
    title: str
    index: int
    rows: int = 1000
    cols: int = 26
    frozen_rows: int = 0
    hidden: bool = False
    cells: list[list[Any]] = field(default_factory=list)  # ragged rows; None = empty
    formats: list[tuple[tuple[int, int, int, int], dict[str, Any] | None]] = field(default_factory=list)
    notes: dict[tuple[int, int], str] = field(default_factory=dict)

    def clone(self) -> Tab:
        return Tab(
            self.sheet_id,
            self.title,
            self.index,
            self.rows,
            self.cols,
            self.frozen_rows,
            self.hidden,
            [list(r) for r in self.cells],
            list(self.formats),
            dict(self.notes),
        )

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.rows, "columnCount": self.cols},
        }
        if self.frozen_rows:
            props["gridProperties"]["frozenRowCount"] = self.frozen_rows
        if self.hidden:
            props["hidden"] = True
        return props

    # -- cells -------------------------------------------------------------------------------
    def get(self, r: int, c: int) -> Any:
        if r < len(self.cells) and c < len(self.cells[r]):
            return self.cells[r][c]
        return None

    def put(self, r: int, c: int, value: Any) -> None:
        if r >= self.rows or c >= self.cols:
            raise HttpError(
                400,
                f"Range ({self.title}!R{r + 1}C{c + 1}) exceeds grid limits. "
                f"Max rows: {self.rows}, max columns: {self.cols}",
            )
        while len(self.cells) <= r:
            self.cells.append([])
        row = self.cells[r]
        if c >= len(row):
            if value is None:
                return
            row.extend([None] * (c + 1 - len(row)))
        row[c] = value

    def number_format(self, r: int, c: int) -> dict[str, Any] | None:
        for (r0, r1, c0, c1), fmt in reversed(self.formats):
            if r0 <= r < r1 and c0 <= c < c1:
                return fmt
        return None

    def set_format(self, box: tuple[int, int, int, int], fmt: dict[str, Any] | None) -> None:
        if box == (0, self.rows, 0, self.cols):
            self.formats.clear()  # a rule over the whole grid hides every earlier one
        self.formats.append((box, fmt))

    def resize(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        del self.cells[rows:]
        for row in self.cells:
            del row[cols:]
        self.notes = {k: v for k, v in self.notes.items() if k[0] < rows and k[1] < cols}


@dataclass
class Spreadsheet:
    id: str
    title: str
    tabs: list[Tab]
    editors: set[str] | None = None  # None: anyone (tests without auth)
    next_sheet_id: int = 1000
    metadata: list[dict[str, Any]] = field(default_factory=list)
    next_metadata_id: int = 1

    def clone(self) -> Spreadsheet:
        return Spreadsheet(
            self.id,
            self.title,
            [t.clone() for t in self.tabs],
            self.editors,
            self.next_sheet_id,
            [dict(m) for m in self.metadata],
            self.next_metadata_id,
        )

    def tab(self, title: str | None = None, sheet_id: int | None = None) -> Tab:
        for t in self.tabs:
            if (title is not None and t.title == title) or (sheet_id is not None and t.sheet_id == sheet_id):
                return t
        if title is None and sheet_id is None:
            return self.tabs[0]
        raise HttpError(
            400, f"Unable to parse range: {title!r}" if title is not None else f"No grid with id: {sheet_id}"
        )

    def reindex(self) -> None:
        self.tabs.sort(key=lambda t: t.index)
        for i, t in enumerate(self.tabs):
            t.index = i

    def check(self) -> None:
        if not any(not t.hidden for t in self.tabs):
            raise HttpError(400, "Invalid requests: You can't hide or remove all sheets in a document.")
        total = sum(t.rows * t.cols for t in self.tabs)
        if total > MAX_CELLS:
            raise HttpError(
                400,
                f"This action would increase the number of cells in the workbook above the "
                f"limit of {MAX_CELLS} cells.",
            )

    def resource(self) -> dict[str, Any]:
        sheets = []
        for t in self.tabs:
            entry: dict[str, Any] = {"properties": t.properties()}
            meta = [m for m in self.metadata if m["location"].get("sheetId") == t.sheet_id]
            if meta:
                entry["developerMetadata"] = meta
            sheets.append(entry)
        return {
            "spreadsheetId": self.id,
            "properties": {"title": self.title, "locale": "en_US", "timeZone": "Etc/GMT"},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.id}/edit",
        }


# -- A1 notation -----------------------------------------------------------------------------
_CELL = re.compile(r"^([A-Z]*)(\d*)$")


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def col_letters(index: int) -> str:
    out, n = "", index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def parse_range(text: str) -> tuple[str | None, int, int, int | None, int | None]:
    """``'Tab'!A2:C`` -> (title, row0, col0, row_end, col_end), ends exclusive, None = open."""
    title: str | None = None
    cells = text
    if "!" in text:
        title, cells = text.rsplit("!", 1)
        if title.startswith("'") and title.endswith("'"):
            title = title[1:-1].replace("''", "'")
    elif not _CELL.match(text.split(":")[0].upper()) or text == "":
        return text, 0, 0, None, None  # a bare tab name
    start, _, end = cells.upper().partition(":")
    m1, m2 = _CELL.match(start), _CELL.match(end or start)
    if not m1 or not m2:
        raise HttpError(400, f"Unable to parse range: {text}")
    r0 = int(m1[2]) - 1 if m1[2] else 0
    c0 = col_index(m1[1]) if m1[1] else 0
    r1 = int(m2[2]) if m2[2] else None
    c1 = col_index(m2[1]) + 1 if m2[1] else None
    return title, r0, c0, r1, c1


# -- input and rendering ---------------------------------------------------------------------
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def user_entered(value: Any) -> Any:
    """What Sheets makes of a typed value: formulas, numbers, booleans and dates are parsed."""
    if not isinstance(value, str):
        return value
    if value.startswith("'"):
        return value[1:]
    if value.startswith("="):
        return Formula(value)
    if _NUMBER.match(value.strip()):
        number = float(value)
        return int(number) if number.is_integer() else number
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    if _DATE.match(value):
        return (dt.datetime.fromisoformat(value) - EPOCH).days
    return value


def unformatted(value: Any) -> Any:
    if isinstance(value, Formula):
        return "#NAME?"  # the emulator does not evaluate formulas
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def formatted(value: Any, fmt: dict[str, Any] | None) -> str:
    """The text a person sees in the cell."""
    if value is None:
        return ""
    if isinstance(value, Formula):
        return "#NAME?"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return value
    pattern = (fmt or {}).get("pattern")
    if pattern in ("yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss", "hh:mm:ss"):
        when = EPOCH + dt.timedelta(days=value)
        when = when.replace(microsecond=0) + dt.timedelta(seconds=round(when.microsecond / 1e6))
        py = pattern.replace("yyyy", "%Y").replace("dd", "%d").replace("hh", "%H").replace("ss", "%S")
        py = py.replace("mm:", "%M:").replace(":mm", ":%M").replace("-mm", "-%m")
        return when.strftime(py)
    if pattern == "[h]:mm:ss":
        seconds = round(value * 86400)
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if pattern and re.fullmatch(r"0\.0+", pattern):
        return f"{value:.{len(pattern) - 2}f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
