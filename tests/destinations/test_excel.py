"""Excel writer, for real on disk: every mode, limits, atomicity, other sheets, types, layout."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest
from pydantic import ValidationError

import destinations.excel_writer as excel_module
from destinations.base import (
    DestinationConfigError,
    EmptyReplaceError,
    LimitExceededError,
    Limits,
    SchemaConflictError,
    Scope,
)
from destinations.excel import ExcelTarget
from destinations.excel_read import read_sheet
from destinations.excel_writer import EXCEL_LIMITS, ExcelWriter
from tests.destinations.conftest import BIG_ID, entries, typed

D = dt.date.fromisoformat


@pytest.fixture
def target(tmp_path: Path) -> ExcelTarget:
    return ExcelTarget(path=tmp_path / "out" / "report.xlsx", sheet="Entries")


def shown(target: ExcelTarget, sheet: str | None = None) -> list[tuple]:
    """The sheet as a person (or openpyxl in normal mode) sees it."""
    wb = openpyxl.load_workbook(target.file)
    rows = list(wb[sheet or target.sheet].iter_rows(values_only=True))
    wb.close()
    return rows


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def ids(target: ExcelTarget) -> list[int]:
    return [r[0] for r in shown(target)[1:]]


def test_first_write_creates_folder_file_and_sheet(target: ExcelTarget) -> None:
    result = ExcelWriter().write(target, entries([1, 2], ["2024-01-01", "2024-01-02"]), "replace")
    assert result.rows_written == 2 and result.extra["rows_total"] == 2
    assert shown(target) == [
        ("id", "day", "note"),
        (1, dt.datetime(2024, 1, 1), "entry 1"),
        (2, dt.datetime(2024, 1, 2), "entry 2"),
    ]
    assert [p.name for p in target.file.parent.iterdir()] == ["report.xlsx"]  # no temp file left


def test_replace_twice_reports_the_rows_it_replaced(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(target, entries([1, 2, 3], ["2024-01-01"] * 3), "replace")
    result = w.write(target, entries([4], ["2024-01-05"]), "replace")
    assert result.rows_deleted == 3 and ids(target) == [4]


def test_scoped_replace_removes_only_the_scope(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(
        target, entries([1, 2, 3, 4], ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"]), "replace"
    )
    # day 2 was edited: entry 2 changed, entry 3 deleted, entry 5 added
    result = w.write(
        target,
        entries([2, 5], ["2024-01-02", "2024-01-02"], ["edited", "new"]),
        "replace",
        scope=Scope("day", D("2024-01-02"), D("2024-01-03")),
    )
    assert (result.rows_written, result.rows_deleted) == (2, 2)
    assert [(r[0], r[2]) for r in shown(target)[1:]] == [
        (1, "entry 1"),
        (2, "edited"),
        (5, "new"),
        (4, "entry 4"),
    ]


def test_scoped_replace_with_no_rows_empties_the_scope(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(target, entries([1, 2], ["2024-01-01", "2024-01-02"]), "replace")
    empty = entries([], [])
    result = w.write(target, empty, "replace", scope=Scope("day", D("2024-01-02"), D("2024-01-03")))
    assert result.rows_deleted == 1 and ids(target) == [1]


def test_append(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(target, entries([1], ["2024-01-01"]), "append")
    w.write(target, entries([2], ["2024-01-02"]), "append")
    assert ids(target) == [1, 2]


def test_upsert_is_stable_without_duplicates(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(target, entries([1, 2, 3], ["2024-01-01"] * 3), "upsert", ["id"])
    result = w.write(
        target, entries([4, 2, 2], ["2024-01-02"] * 3, ["four", "two", "two again"]), "upsert", ["id"]
    )
    assert result.extra["rows_updated"] == 1
    assert [(r[0], r[2]) for r in shown(target)[1:]] == [
        (1, "entry 1"),
        (2, "two again"),
        (3, "entry 3"),
        (4, "four"),
    ]


def test_empty_replace_is_refused_unless_allowed(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(target, entries([1], ["2024-01-01"]), "replace")
    with pytest.raises(EmptyReplaceError, match="allow_empty"):
        w.write(target, entries([], []), "replace")
    assert ids(target) == [1]
    w.write(target, entries([], []), "replace", allow_empty=True)
    assert shown(target) == [("id", "day", "note")]


def test_limits_are_checked_before_writing(target: ExcelTarget) -> None:
    w = ExcelWriter(limits=Limits("Excel", max_rows=2, max_cell_chars=5, advice=EXCEL_LIMITS.advice))
    w.write(target, entries([1], ["2024-01-01"], ["short"]), "replace")
    with pytest.raises(LimitExceededError, match=r"3 rows exceed the Excel limit of 2 data rows.*BigQuery"):
        w.write(target, entries([1, 2, 3], ["2024-01-01"] * 3, ["a", "b", "c"]), "replace")
    with pytest.raises(LimitExceededError, match="column 'note' has a value of 6 characters"):
        w.write(target, entries([2], ["2024-01-01"], ["longer"]), "append")
    assert ids(target) == [1]


def test_real_excel_limits() -> None:
    assert (EXCEL_LIMITS.max_rows, EXCEL_LIMITS.max_columns, EXCEL_LIMITS.max_cell_chars) == (
        1_048_575,
        16_384,
        32_767,
    )


def test_other_sheets_are_kept_byte_for_byte(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(target, entries([1], ["2024-01-01"]), "replace")
    wb = openpyxl.load_workbook(target.file)
    summary = wb.create_sheet("Summary", 0)
    summary["A1"], summary["B1"] = "total", "=SUM(Entries!A:A)"
    summary["A1"].font = openpyxl.styles.Font(bold=True, color="FF0000")
    summary.column_dimensions["A"].width = 33
    wb.save(target.file)
    before = parts(target.file)

    w.write(target, entries([2, 3], ["2024-01-02", "2024-01-03"]), "append")
    wb = openpyxl.load_workbook(target.file)
    assert wb.sheetnames == ["Summary", "Entries"]
    assert wb["Summary"]["B1"].value == "=SUM(Entries!A:A)" and wb["Summary"]["A1"].font.color.rgb.endswith(
        "FF0000"
    )
    assert wb["Summary"].column_dimensions["A"].width == 33
    after = parts(target.file)
    edited = {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml"}
    data_part = "xl/worksheets/sheet2.xml"  # openpyxl numbered the parts in tab order
    assert {n: b for n, b in after.items() if n not in edited | {data_part}} == {
        n: b for n, b in before.items() if n not in edited | {data_part}
    }
    assert (
        b"total" in after["xl/worksheets/sheet1.xml"] or b"SUM(Entries" in after["xl/worksheets/sheet1.xml"]
    )
    assert ids(target) == [1, 2, 3]
    assert 'fullCalcOnLoad="1"' in zipfile.ZipFile(target.file).read("xl/workbook.xml").decode()


def test_header_frozen_autofilter_widths_and_formats(target: ExcelTarget) -> None:
    ExcelWriter().write(target, typed(), "replace")
    ws = openpyxl.load_workbook(target.file)[target.sheet]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:H4"
    assert ws["A1"].font.b
    assert ws["B2"].number_format == "yyyy-mm-dd" and ws["C2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws["E2"].number_format == "0.00"
    assert 6 <= ws.column_dimensions["H"].width <= 60
    assert ws.column_dimensions["C"].width >= 19


def test_cells_a_person_sees(target: ExcelTarget) -> None:
    ExcelWriter().write(target, typed(), "replace")
    rows = shown(target)
    assert rows[1] == (
        "1",  # the id column holds a value beyond 2**53, so all its ids are text (see below)
        dt.datetime(2024, 1, 31),
        dt.datetime(2024, 1, 31, 8, 30),  # zoned datetimes are shown in UTC
        dt.datetime(2024, 3, 1, 9, 0),
        12.34,
        1.5,
        True,
        "Grüße ☕ 東京",
    )
    assert rows[2][7] == "=1+1" and rows[3][7] == "0012"  # text, not a formula, not a number
    assert rows[3][0] == str(BIG_ID)  # beyond 2**53: text, so Excel cannot round it
    ws = openpyxl.load_workbook(target.file)[target.sheet]
    assert ws["H3"].data_type == "s"


def test_types_round_trip_through_upsert(target: ExcelTarget) -> None:
    w = ExcelWriter()
    data = typed()
    w.write(target, data, "replace")
    w.write(target, data.slice(0, 1), "upsert", ["id"])  # reads the sheet back and rewrites it
    back = read_sheet(target.file, target.sheet, {f.name: f.type for f in data.schema})
    assert back is not None and back.schema == data.schema
    assert back.to_pylist() == data.to_pylist()


def test_columns_only_the_sheet_has_keep_dates(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(target, entries([1], ["2024-01-01"]), "replace")
    w.write(target, pa.table({"id": pa.array([2], pa.int64()), "note": ["x"]}), "upsert", ["id"])
    back = read_sheet(target.file, target.sheet, {})
    assert back is not None and back.column("day").type == pa.date32()
    assert back.column("day").to_pylist() == [D("2024-01-01"), None]


def test_control_characters_are_cleaned(target: ExcelTarget) -> None:
    data = pa.table({"id": [1], "note": ["bell\x07 null\x00 tab\tkeeps\nnewline"], "a\x01b": ["x"]})
    ExcelWriter().write(target, data, "replace")
    assert shown(target) == [("id", "note", "ab"), (1, "bell null tab\tkeeps\nnewline", "x")]


def test_a_crash_halfway_leaves_the_old_workbook(
    target: ExcelTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = ExcelWriter(batch_rows=2)
    w.write(target, entries([1, 2], ["2024-01-01"] * 2), "replace")
    before = target.file.read_bytes()
    real = excel_module.write_sheet

    def dies_halfway(out, table, layout, batch_rows):  # type: ignore[no-untyped-def]
        real(out, table.slice(0, 3), layout, batch_rows)
        raise OSError("disk full")

    monkeypatch.setattr(excel_module, "write_sheet", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        w.write(target, entries([3, 4, 5, 6], ["2024-01-02"] * 4), "append")
    assert target.file.read_bytes() == before
    assert [p.name for p in target.file.parent.iterdir()] == ["report.xlsx"]


def test_type_conflict_in_the_sheet(target: ExcelTarget) -> None:
    w = ExcelWriter()
    w.write(target, entries([1], ["2024-01-01"], ["not a number"]), "replace")
    data = pa.table({"id": pa.array([2], pa.int64()), "note": pa.array([5], pa.int64())})
    with pytest.raises(SchemaConflictError, match="column 'note'"):
        w.write(target, data, "upsert", ["id"])


def test_target_validation_and_bad_files(tmp_path: Path) -> None:
    # the settings model checks them (in a flow file: when flows load, with file and line)
    with pytest.raises(ValidationError, match="not a valid sheet name"):
        ExcelTarget(path=tmp_path / "a.xlsx", sheet="a/b")
    with pytest.raises(ValidationError, match=r"\.xlsx"):
        ExcelTarget(path=tmp_path / "a.csv", sheet="x")
    with pytest.raises(ValidationError, match="reserves the sheet name 'History'"):
        ExcelTarget(path=tmp_path / "a.xlsx", sheet="history")
    broken = tmp_path / "broken.xlsx"
    broken.write_text("not a zip")
    with pytest.raises(DestinationConfigError, match=r"not a readable \.xlsx"):
        ExcelWriter().write(ExcelTarget(path=broken, sheet="x"), entries([1], ["2024-01-01"]), "append")
    with pytest.raises(DestinationConfigError, match=r"not a readable \.xlsx"):
        ExcelWriter().write(ExcelTarget(path=broken, sheet="x"), entries([1], ["2024-01-01"]), "replace")
    assert broken.read_text() == "not a zip"


def test_scope_rules(target: ExcelTarget) -> None:
    w = ExcelWriter()
    scope = Scope("day", D("2024-01-01"), D("2024-01-02"))
    with pytest.raises(DestinationConfigError, match="only applies to mode 'replace'"):
        w.write(target, entries([1], ["2024-01-01"]), "upsert", ["id"], scope=scope)
    with pytest.raises(DestinationConfigError, match=r"1 incoming row.*outside the scope"):
        w.write(target, entries([1, 2], ["2024-01-01", "2024-01-09"]), "replace", scope=scope)
    assert not target.file.exists()
