"""How the contract suites write to each tabular destination and read it back (``Dest``).

The suites (``test_contract.py``, ``test_upsert_deletes.py``) take the ``dest`` fixture
(``conftest``), which runs every test on every registered destination that declares
``tabular=True`` (``destinations.DESTINATIONS``). A tabular destination needs one harness here,
keyed by its kind: a registered one without it fails every contract test, so a new destination is
never silently left out. Push-style destinations (``tabular=False``) have suites of their own.

Targets are the destinations' own settings models; DuckDB and Excel writers come from the
declaration's factory, the Google ones get a client on the local emulators and a recorded sleep.
``Dest.reconfigure(settings)`` is the same target with more settings (as a flow file writes them
under ``to: {<kind>: ...}``, checked by the destination's model), for options such as
``last_updated``; ``values`` and ``column_type`` read one column back as the destination holds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pytest

import destinations.excel_writer as excel_module
from destinations import all_destinations, get_destination
from destinations.base import DELETED_AT, WriteResult
from destinations.bigquery import BigQueryTarget
from destinations.bigquery_writer import BigQueryWriter
from destinations.cells import EPOCH
from destinations.duckdb import DuckDBTarget, DuckDBWriter
from destinations.excel import ExcelTarget
from destinations.google_sheets import SheetsTarget
from destinations.sheets_writer import SheetsWriter
from destinations.spec import Context
from tests.destinations.conftest import Sleeps

TABULAR = [d.kind for d in all_destinations() if d.tabular]
EMPTY: Mapping[str, Any] = MappingProxyType({})  # no extra settings


@dataclass
class Dest:
    name: str
    write: Callable[..., WriteResult]  # (data, mode, primary_key, **keywords)
    raw_rows: Callable[[], list[dict[str, Any]]]  # every row, in the destination's order
    columns: Callable[[], list[str]]
    fail_next: Callable[[pytest.MonkeyPatch], None]  # make the next upsert with deletes fail part-way
    target: str
    ordered: bool = False  # rows keep their position (whole-rewrite destinations)
    count: Callable[[], int | None] = lambda: None  # the declaration's count_rows, on this target
    # the same target with these settings added (YAML-shaped); the data written so far stays
    reconfigure: Callable[[Mapping[str, Any]], Dest] = field(default=lambda settings: _no_settings())
    # one column by id, as the destination holds it (datetimes of cells rounded to the second)
    values: Callable[[str], dict[int, Any]] = lambda column: {}
    column_type: Callable[[str], str] = lambda column: ""  # the destination's own word for its type
    zoned: bool = False  # it holds instants (a time zone per value or per column), not wall times

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for r in self.raw_rows():
            row = {"id": int(r["id"]), "note": r["note"], "deleted": r.get(DELETED_AT) or None}
            if "project" in r:
                row["project"] = r["project"]
            out.append(row)
        return out if self.ordered else sorted(out, key=lambda r: (r.get("project", ""), r["id"]))

    def ids(self) -> list[int]:
        return [r["id"] for r in self.rows()]

    def marks(self) -> dict[int, Any]:
        return {r["id"]: r["deleted"] for r in self.rows()}


def _no_settings() -> Dest:
    raise AssertionError("this harness takes no extra settings")


def _by_id(rows: list[dict[str, Any]], column: str) -> dict[int, Any]:
    return {int(r["id"]): r.get(column) for r in rows}


def _second(value: Any) -> Any:
    """A cell's date-time to the second (Excel keeps milliseconds, a Sheets serial is a float)."""
    if isinstance(value, float):  # a Sheets serial number
        value = EPOCH + dt.timedelta(days=value)
    if isinstance(value, dt.datetime):
        return (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
    return value


def _writes(writer: Any, target: Any) -> Callable[..., WriteResult]:
    def write(table: pa.Table, mode: str, keys: tuple[str, ...] = ("id",), **kw: Any) -> WriteResult:
        return writer.write(target, table, mode, keys, **kw)

    return write


def counter(target: Any) -> Callable[[], int | None]:
    """The destination's ``count_rows`` (what ``couplet demo`` reports) on ``target``."""
    kind = next(d.kind for d in all_destinations() if isinstance(target, d.settings))
    count_rows = get_destination(kind).count_rows
    assert count_rows is not None
    return lambda: count_rows(target)


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("disk full")


def duckdb_dest(request: pytest.FixtureRequest, tmp_path: Path, settings: Mapping[str, Any] = EMPTY) -> Dest:
    target = DuckDBTarget.model_validate({"path": str(tmp_path / "w.duckdb"), "table": "entries", **settings})
    writer = get_destination("duckdb").writer(target, Context())

    def fail(mp: pytest.MonkeyPatch) -> None:  # after the MERGE, inside the transaction
        mp.setattr(DuckDBWriter, "_delete_gone", _boom)

    def column_type(column: str) -> str:
        con = DuckDBWriter().connect(target.path, read_only=True)
        try:
            sql = "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = ?"
            return str(con.execute(sql, ["entries", column]).fetchall()[0][0])
        finally:
            con.close()

    read = lambda: DuckDBWriter().read(target)  # noqa: E731
    rows, columns = lambda: read().to_pylist(), lambda: read().column_names
    return Dest(
        "duckdb", _writes(writer, target), rows, columns, fail, str(target), count=counter(target),
        reconfigure=lambda more: duckdb_dest(request, tmp_path, {**settings, **more}),
        values=lambda column: _by_id(rows(), column), column_type=column_type, zoned=True,
    )  # fmt: skip


def excel_dest(request: pytest.FixtureRequest, tmp_path: Path, settings: Mapping[str, Any] = EMPTY) -> Dest:
    target = ExcelTarget.model_validate({"path": tmp_path / "report.xlsx", "sheet": "Entries", **settings})
    writer = get_destination("excel").writer(target, Context())

    def fail(mp: pytest.MonkeyPatch) -> None:  # the new workbook dies half written
        real = excel_module.write_sheet

        def dies_halfway(out, table, layout, batch_rows):  # type: ignore[no-untyped-def]
            real(out, table.slice(0, 1), layout, batch_rows)
            raise OSError("disk full")

        mp.setattr(excel_module, "write_sheet", dies_halfway)

    def values() -> list[tuple[Any, ...]]:
        import openpyxl

        wb = openpyxl.load_workbook(target.path)
        try:
            return list(wb[target.sheet].iter_rows(values_only=True))
        finally:
            wb.close()

    def raw() -> list[dict[str, Any]]:
        rows = values()
        return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]

    def column_type(column: str) -> str:
        """``<kind of the cells> <number format>``: ``date-time yyyy-mm-dd hh:mm:ss`` for real dates."""
        import openpyxl

        wb = openpyxl.load_workbook(target.path)
        try:
            sheet = wb[target.sheet]
            j = [c.value for c in sheet[1]].index(column) + 1
            cells = [
                sheet.cell(r, j) for r in range(2, sheet.max_row + 1) if sheet.cell(r, j).value is not None
            ]
            kinds = {("date-time" if c.is_date else c.data_type, c.number_format) for c in cells}
        finally:
            wb.close()
        return " ".join(kinds.pop()) if len(kinds) == 1 else repr(kinds)

    columns = lambda: [str(c) for c in values()[0]]  # noqa: E731
    return Dest(
        "excel", _writes(writer, target), raw, columns, fail, str(target), True, counter(target),
        reconfigure=lambda more: excel_dest(request, tmp_path, {**settings, **more}),
        values=lambda column: {i: _second(v) for i, v in _by_id(raw(), column).items()},
        column_type=column_type,
    )  # fmt: skip


SHEET_ID = "couplet-contract-suite-sheet"  # one spreadsheet per test (the emulator is per test)


def sheets_dest(request: pytest.FixtureRequest, tmp_path: Path, settings: Mapping[str, Any] = EMPTY) -> Dest:
    sheets = request.getfixturevalue("sheets")
    sleeps = Sleeps()
    writer = SheetsWriter(client=request.getfixturevalue("sheets_client"), sleep=sleeps, clock=sleeps.clock)
    sid = (
        SHEET_ID
        if SHEET_ID in sheets.spreadsheets
        else sheets.create(tabs=("Summary",), spreadsheet_id=SHEET_ID)
    )
    target = SheetsTarget.model_validate({"spreadsheet": sid, "worksheet": "Entries", **settings})

    def fail(mp: pytest.MonkeyPatch) -> None:  # the staged values never arrive
        sheets.inject(400, when=lambda r: r.method == "PUT")

    def raw() -> list[dict[str, Any]]:
        values = sheets.values(sid, "Entries")
        return [dict(zip(values[0], r + [""] * (len(values[0]) - len(r)), strict=True)) for r in values[1:]]

    def values(column: str) -> dict[int, Any]:  # unformatted: dates are serial numbers
        cells = sheets.values(sid, "Entries", "UNFORMATTED_VALUE")
        j = cells[0].index(column)
        return {int(r[0]): _second(r[j]) if j < len(r) and r[j] != "" else None for r in cells[1:]}

    def column_type(column: str) -> str:
        """``<number format type> <pattern>`` of the column's filled cells, e.g. ``DATE_TIME yyyy-mm-dd hh:mm:ss``."""
        tab, cells = sheets.tab(sid, "Entries"), sheets.values(sid, "Entries", "UNFORMATTED_VALUE")
        j = cells[0].index(column)
        filled = [r for r in range(1, len(cells)) if j < len(cells[r]) and cells[r][j] != ""]
        if any(not isinstance(cells[r][j], int | float) for r in filled):
            return "text"
        kinds = {
            (f or {}).get("type", "") + " " + (f or {}).get("pattern", "")
            for f in (tab.number_format(r, j) for r in filled)
        }
        return kinds.pop() if len(kinds) == 1 else repr(kinds)

    columns = lambda: sheets.values(sid, "Entries")[0]  # noqa: E731
    count = counter(target.model_copy(update={"endpoint": sheets.url}))  # a writer of its own: anonymous
    return Dest(
        "google_sheets", _writes(writer, target), raw, columns, fail, str(target), True, count,
        reconfigure=lambda more: sheets_dest(request, tmp_path, {**settings, **more}),
        values=values, column_type=column_type,
    )  # fmt: skip


def bigquery_dest(
    request: pytest.FixtureRequest, tmp_path: Path, settings: Mapping[str, Any] = EMPTY
) -> Dest:
    bq = request.getfixturevalue("bq")
    writer = BigQueryWriter(client=request.getfixturevalue("bq_client"))
    target = BigQueryTarget.model_validate(
        {"project": "proj", "dataset": "reporting", "table": "entries", **settings}
    )

    def fail(mp: pytest.MonkeyPatch) -> None:
        bq.inject(400, when=lambda r: b"MERGE INTO" in r.body, message="Query exceeded resource limits")

    columns = lambda: list(bq.schema("proj", "reporting", "entries"))  # noqa: E731
    raw = lambda: bq.rows("proj", "reporting", "entries")  # noqa: E731
    count = counter(target.model_copy(update={"endpoint": bq.url}))  # a client of its own: anonymous
    return Dest(
        "bigquery", _writes(writer, target), raw, columns, fail, str(target), count=count,
        reconfigure=lambda more: bigquery_dest(request, tmp_path, {**settings, **more}),
        values=lambda column: _by_id(raw(), column),
        column_type=lambda column: bq.schema("proj", "reporting", "entries")[column], zoned=True,
    )  # fmt: skip


#: Destination kind -> how to build its harness.
HARNESSES: dict[str, Callable[[pytest.FixtureRequest, Path, Mapping[str, Any]], Dest]] = {
    "duckdb": duckdb_dest,
    "excel": excel_dest,
    "google_sheets": sheets_dest,
    "bigquery": bigquery_dest,
}


def harness(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    if kind not in HARNESSES:
        pytest.fail(
            f"{kind!r} is a tabular destination without a contract harness: add one to "
            "tests/destinations/harness.py (HARNESSES), or declare it tabular=False"
        )
    return HARNESSES[kind](request, tmp_path, EMPTY)
