"""How the contract suites write to each tabular destination and read it back (``Dest``).

The suites (``test_contract.py``, ``test_upsert_deletes.py``) take the ``dest`` fixture
(``conftest``), which runs every test on every registered destination that declares
``tabular=True`` (``destinations.DESTINATIONS``). A tabular destination needs one harness here,
keyed by its kind: a registered one without it fails every contract test, so a new destination is
never silently left out. Push-style destinations (``tabular=False``) have suites of their own.

Targets are the destinations' own settings models; DuckDB and Excel writers come from the
declaration's factory, the Google ones get a client on the local emulators and a recorded sleep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import destinations.excel_writer as excel_module
from destinations import all_destinations, get_destination
from destinations.base import DELETED_AT, WriteResult
from destinations.bigquery import BigQueryTarget
from destinations.bigquery_writer import BigQueryWriter
from destinations.duckdb import DuckDBTarget, DuckDBWriter
from destinations.excel import ExcelTarget
from destinations.google_sheets import SheetsTarget
from destinations.sheets_writer import SheetsWriter
from destinations.spec import Context
from tests.destinations.conftest import Sleeps

TABULAR = [d.kind for d in all_destinations() if d.tabular]


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


def duckdb_dest(request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    target = DuckDBTarget(path=str(tmp_path / "w.duckdb"), table="entries")
    writer = get_destination("duckdb").writer(target, Context())

    def fail(mp: pytest.MonkeyPatch) -> None:  # after the MERGE, inside the transaction
        mp.setattr(DuckDBWriter, "_delete_gone", _boom)

    read = lambda: DuckDBWriter().read(target)  # noqa: E731
    rows, columns = lambda: read().to_pylist(), lambda: read().column_names
    return Dest("duckdb", _writes(writer, target), rows, columns, fail, str(target), count=counter(target))


def excel_dest(request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    target = ExcelTarget(path=tmp_path / "report.xlsx", sheet="Entries")
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

    columns = lambda: [str(c) for c in values()[0]]  # noqa: E731
    return Dest("excel", _writes(writer, target), raw, columns, fail, str(target), True, counter(target))


def sheets_dest(request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    sheets = request.getfixturevalue("sheets")
    sleeps = Sleeps()
    writer = SheetsWriter(client=request.getfixturevalue("sheets_client"), sleep=sleeps, clock=sleeps.clock)
    sid = sheets.create(tabs=("Summary",))
    target = SheetsTarget(spreadsheet=sid, worksheet="Entries")

    def fail(mp: pytest.MonkeyPatch) -> None:  # the staged values never arrive
        sheets.inject(400, when=lambda r: r.method == "PUT")

    def raw() -> list[dict[str, Any]]:
        values = sheets.values(sid, "Entries")
        return [dict(zip(values[0], r + [""] * (len(values[0]) - len(r)), strict=True)) for r in values[1:]]

    columns = lambda: sheets.values(sid, "Entries")[0]  # noqa: E731
    count = counter(target.model_copy(update={"endpoint": sheets.url}))  # a writer of its own: anonymous
    return Dest("google_sheets", _writes(writer, target), raw, columns, fail, str(target), True, count)


def bigquery_dest(request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    bq = request.getfixturevalue("bq")
    writer = BigQueryWriter(client=request.getfixturevalue("bq_client"))
    target = BigQueryTarget(project="proj", dataset="reporting", table="entries")

    def fail(mp: pytest.MonkeyPatch) -> None:
        bq.inject(400, when=lambda r: b"MERGE INTO" in r.body, message="Query exceeded resource limits")

    columns = lambda: list(bq.schema("proj", "reporting", "entries"))  # noqa: E731
    raw = lambda: bq.rows("proj", "reporting", "entries")  # noqa: E731
    count = counter(target.model_copy(update={"endpoint": bq.url}))  # a client of its own: anonymous
    return Dest("bigquery", _writes(writer, target), raw, columns, fail, str(target), count=count)


#: Destination kind -> how to build its harness.
HARNESSES: dict[str, Callable[[pytest.FixtureRequest, Path], Dest]] = {
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
    return HARNESSES[kind](request, tmp_path)
