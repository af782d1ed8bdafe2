"""Deletions in upsert mode (``deletes=Deletes(...)``), the same cases against all four writers.

DuckDB on disk, Excel on disk, Google Sheets and BigQuery through their client libraries against
the local emulators (``conftest``). Rows are compared as {id, note, deleted} (plus ``project`` for
composite keys); ``deleted`` is the raw ``_deleted_at`` value each destination gives back, so it is
only compared with itself (set or not, unchanged or not).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import destinations.excel as excel_module
from destinations.base import (
    DELETED_AT,
    Deletes,
    DestinationConfigError,
    DestinationError,
    EmptyReplaceError,
    Scope,
    WriteResult,
)
from destinations.bigquery import BigQueryTarget, BigQueryWriter
from destinations.duckdb import DuckDBTarget, DuckDBWriter
from destinations.excel import ExcelTarget, ExcelWriter
from destinations.google_sheets import SheetsTarget, SheetsWriter
from tests.destinations.conftest import Sleeps

D = dt.date.fromisoformat
DESTINATIONS = ["duckdb", "excel", "sheets", "bigquery"]
SCOPE = Scope("day", D("2024-01-02"), D("2024-01-04"))


def data(
    ids: list[int], days: list[str | None], notes: list[str] | None = None, project: list[str] | None = None
) -> pa.Table:
    columns: dict[str, pa.Array] = {} if project is None else {"project": pa.array(project, pa.string())}
    columns["id"] = pa.array(ids, pa.int64())
    columns["day"] = pa.array([d and D(d) for d in days], pa.date32())
    columns["note"] = pa.array(notes or [f"entry {i}" for i in ids], pa.string())
    return pa.table(columns)


@dataclass
class Dest:
    name: str
    write: Callable[..., WriteResult]  # (data, mode, primary_key, **keywords)
    raw_rows: Callable[[], list[dict[str, Any]]]  # every row, in the destination's order
    columns: Callable[[], list[str]]
    fail_next: Callable[[pytest.MonkeyPatch], None]  # make the next write fail part-way
    target: str
    ordered: bool = False  # rows keep their position (whole-rewrite destinations)

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


def _duckdb(tmp_path: Path) -> Dest:
    target, writer = DuckDBTarget(str(tmp_path / "w.duckdb"), "entries"), DuckDBWriter()

    def write(table: pa.Table, mode: str, keys: tuple[str, ...] = ("id",), **kw: Any) -> WriteResult:
        return writer.write(target, table, mode, keys, **kw)

    def fail(mp: pytest.MonkeyPatch) -> None:  # after the MERGE, inside the transaction
        mp.setattr(DuckDBWriter, "_delete_gone", _boom)

    read = lambda: writer.read(target)  # noqa: E731
    return Dest("duckdb", write, lambda: read().to_pylist(), lambda: read().column_names, fail, str(target))


def _excel(tmp_path: Path) -> Dest:
    target, writer = ExcelTarget(tmp_path / "report.xlsx", "Entries"), ExcelWriter()

    def write(table: pa.Table, mode: str, keys: tuple[str, ...] = ("id",), **kw: Any) -> WriteResult:
        return writer.write(target, table, mode, keys, **kw)

    def fail(mp: pytest.MonkeyPatch) -> None:  # the new workbook dies half written
        real = excel_module.write_sheet

        def dies_halfway(out, table, layout, batch_rows):  # type: ignore[no-untyped-def]
            real(out, table.slice(0, 1), layout, batch_rows)
            raise OSError("disk full")

        mp.setattr(excel_module, "write_sheet", dies_halfway)

    def raw() -> list[dict[str, Any]]:
        import openpyxl

        wb = openpyxl.load_workbook(target.path)
        values = list(wb[target.sheet].iter_rows(values_only=True))
        wb.close()
        return [dict(zip(values[0], r, strict=True)) for r in values[1:]]

    def columns() -> list[str]:
        import openpyxl

        wb = openpyxl.load_workbook(target.path)
        header = next(wb[target.sheet].iter_rows(values_only=True))
        wb.close()
        return [str(c) for c in header]

    return Dest("excel", write, raw, columns, fail, str(target), ordered=True)


def _sheets(request: pytest.FixtureRequest) -> Dest:
    sheets = request.getfixturevalue("sheets")
    sleeps = Sleeps()
    writer = SheetsWriter(client=request.getfixturevalue("sheets_client"), sleep=sleeps, clock=sleeps.clock)
    sid = sheets.create(tabs=("Summary",))
    target = SheetsTarget(sid, "Entries")

    def write(table: pa.Table, mode: str, keys: tuple[str, ...] = ("id",), **kw: Any) -> WriteResult:
        return writer.write(target, table, mode, keys, **kw)

    def fail(mp: pytest.MonkeyPatch) -> None:  # the staged values never arrive
        sheets.inject(400, when=lambda r: r.method == "PUT")

    def raw() -> list[dict[str, Any]]:
        values = sheets.values(sid, "Entries")
        return [dict(zip(values[0], r + [""] * (len(values[0]) - len(r)), strict=True)) for r in values[1:]]

    return Dest(
        "sheets", write, raw, lambda: sheets.values(sid, "Entries")[0], fail, str(target), ordered=True
    )


def _bigquery(request: pytest.FixtureRequest) -> Dest:
    bq = request.getfixturevalue("bq")
    writer = BigQueryWriter(client=request.getfixturevalue("bq_client"))
    target = BigQueryTarget("proj", "reporting", "entries")

    def write(table: pa.Table, mode: str, keys: tuple[str, ...] = ("id",), **kw: Any) -> WriteResult:
        return writer.write(target, table, mode, keys, **kw)

    def fail(mp: pytest.MonkeyPatch) -> None:
        bq.inject(400, when=lambda r: b"MERGE INTO" in r.body, message="Query exceeded resource limits")

    def raw() -> list[dict[str, Any]]:
        return bq.rows("proj", "reporting", "entries")

    return Dest(
        "bigquery", write, raw, lambda: list(bq.schema("proj", "reporting", "entries")), fail, str(target)
    )


@pytest.fixture(params=DESTINATIONS)
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dest]:
    if request.param == "duckdb":
        yield _duckdb(tmp_path)
    elif request.param == "excel":
        yield _excel(tmp_path)
    elif request.param == "sheets":
        yield _sheets(request)
    else:
        yield _bigquery(request)


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("disk full")


# -- hard deletes ------------------------------------------------------------------------------
def test_hard_deletes_remove_only_the_gone_rows_inside_the_scope(dest: Dest) -> None:
    dest.write(
        data([1, 2, 3, 4, 5], ["2024-01-01", "2024-01-02", "2024-01-02", None, "2024-01-03"]), "upsert"
    )
    # 3 and 5 are gone at the source; 1 (before the scope) and 4 (no day) are outside the scope;
    # 7 lies outside the scope too, which is allowed
    incoming = data([2, 6, 7], ["2024-01-02", "2024-01-03", "2024-02-01"], ["edited", "new", "later"])
    result = dest.write(incoming, "upsert", deletes=Deletes(SCOPE))
    assert result.rows_deleted == 2 and result.rows_written == 3
    assert result.extra["deletes"] == "hard" and result.extra["deletes_scope"] == str(SCOPE)
    assert dest.rows() == [
        {"id": i, "note": n, "deleted": None}
        for i, n in [(1, "entry 1"), (2, "edited"), (4, "entry 4"), (6, "new"), (7, "later")]
    ]
    assert DELETED_AT not in dest.columns()  # hard deletes leave the columns alone


@pytest.mark.parametrize("dest", ["excel", "sheets"], indirect=True)  # tables have no row order
def test_rewrite_destinations_keep_row_positions(dest: Dest) -> None:
    dest.write(data([5, 4, 3, 2, 1], ["2024-01-02"] * 5), "upsert")
    dest.write(data([9, 2, 4], ["2024-01-02"] * 3), "upsert", deletes=Deletes(SCOPE))
    assert dest.ids() == [4, 2, 9]


def test_whole_target_deletes_with_a_composite_key(dest: Dest) -> None:
    keys = ("project", "id")
    first = data([1, 2, 1], ["2024-01-01", "2024-05-01", None], project=["a", "a", "b"])
    dest.write(first, "upsert", keys)
    incoming = data([1, 2], ["2024-01-01", "2024-01-01"], ["a1", "b2"], project=["a", "b"])
    result = dest.write(incoming, "upsert", keys, deletes=Deletes())
    assert result.rows_deleted == 2 and result.extra["deletes_scope"] == "whole target"
    got = [(r["project"], r["id"], r["note"]) for r in dest.rows()]
    assert sorted(got) == [("a", 1, "a1"), ("b", 2, "b2")]


# -- soft deletes ------------------------------------------------------------------------------
def test_soft_deletes_mark_once_keep_the_first_time_and_revive(dest: Dest) -> None:
    days = ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-10"]
    dest.write(data([1, 2, 3, 9], days), "upsert")
    every = dest.write(data([1, 2, 3], days[:3]), "upsert", deletes=Deletes(soft=True))  # 9 is gone
    assert every.rows_deleted == 1 and every.extra["deletes"] == "soft"
    assert dest.columns()[-1] == DELETED_AT  # added as the last column
    assert dest.ids() == [1, 2, 3, 9]  # nothing removed
    first = dest.marks()
    assert first[9] is not None and [first[i] for i in (1, 2, 3)] == [None, None, None]

    scoped = Deletes(SCOPE, soft=True)
    result = dest.write(data([1], days[:1], ["still here"]), "upsert", deletes=scoped)  # 2 and 3 are gone
    assert result.rows_deleted == 2
    second = dest.marks()
    assert second[2] is not None and second[3] is not None and second[1] is None
    assert second[9] == first[9]  # outside the scope: its mark stays

    again = dest.write(data([1], days[:1]), "upsert", deletes=scoped)
    assert again.rows_deleted == 0 and dest.marks() == second  # an old mark keeps its first time

    back = dest.write(data([1, 3], days[:1] + days[2:3], ["x", "back"]), "upsert", deletes=scoped)
    assert back.rows_deleted == 0
    third = dest.marks()
    assert third[3] is None and third[2] == second[2] and third[9] == first[9]  # 3 revived
    assert {r["id"]: r["note"] for r in dest.rows()}[3] == "back"


def test_soft_deletes_on_a_new_target_add_the_column(dest: Dest) -> None:
    marked = pa.array([dt.datetime(2020, 1, 1, tzinfo=dt.UTC)] * 2, pa.timestamp("us", tz="UTC"))
    incoming = data([1, 2], ["2024-01-02"] * 2).add_column(0, DELETED_AT, marked)  # sent: still live
    result = dest.write(incoming, "upsert", deletes=Deletes(SCOPE, soft=True))
    assert result.rows_deleted == 0 and dest.columns()[-1] == DELETED_AT
    assert dest.marks() == {1: None, 2: None}


def test_deletes_scoped_by_a_timestamp_column_with_date_bounds(dest: Dest) -> None:
    at = [dt.datetime(2024, 1, 1, 23, tzinfo=dt.UTC), dt.datetime(2024, 1, 2, 1, tzinfo=dt.UTC)]
    at += [dt.datetime(2024, 1, 2, 22, tzinfo=dt.UTC), dt.datetime(2024, 1, 3, tzinfo=dt.UTC)]
    table = data([1, 2, 3, 4], [None] * 4).append_column("at", pa.array(at, pa.timestamp("us", tz="UTC")))
    dest.write(table, "upsert")
    scope = Scope("at", D("2024-01-02"), D("2024-01-03"))  # midnight to midnight, UTC
    result = dest.write(table.slice(2, 1), "upsert", deletes=Deletes(scope))
    assert result.rows_deleted == 1 and dest.ids() == [1, 3, 4]


# -- guards --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["replace", "append"])
def test_deletes_only_apply_to_upsert(dest: Dest, mode: str) -> None:
    dest.write(data([1], ["2024-01-02"]), "upsert")
    with pytest.raises(DestinationConfigError, match="deletes only apply to mode 'upsert'") as err:
        dest.write(data([2], ["2024-01-02"]), mode, deletes=Deletes())
    assert dest.target in str(err.value)
    assert dest.ids() == [1]


def test_empty_incoming_with_whole_target_deletes_is_refused_unless_allowed(dest: Dest) -> None:
    dest.write(data([1, 2, 3], ["2024-01-01", "2024-01-02", "2024-01-03"]), "upsert")
    for deletes in (Deletes(), Deletes(soft=True)):
        with pytest.raises(EmptyReplaceError, match="allow_empty") as err:
            dest.write(data([], []), "upsert", deletes=deletes)
        assert dest.target in str(err.value)
    assert dest.ids() == [1, 2, 3]
    # an empty scope (a month with nothing left) is normal: it deletes that scope only
    scoped = dest.write(
        data([], []), "upsert", deletes=Deletes(Scope("day", D("2024-01-03"), D("2024-01-04")))
    )
    assert scoped.rows_deleted == 1 and dest.ids() == [1, 2]
    marked = dest.write(data([], []), "upsert", deletes=Deletes(soft=True), allow_empty=True)
    assert marked.rows_deleted == 2 and all(dest.marks().values())
    emptied = dest.write(data([], []), "upsert", deletes=Deletes(), allow_empty=True)
    assert emptied.rows_deleted == 2 and dest.ids() == []


def test_scope_column_missing_from_the_existing_data(dest: Dest) -> None:
    dest.write(data([1], ["2024-01-02"]).drop_columns(["day"]), "upsert")
    with pytest.raises(DestinationConfigError, match="no column 'day' to scope the deletes") as err:
        dest.write(data([2], ["2024-01-02"]), "upsert", deletes=Deletes(SCOPE))
    assert dest.target in str(err.value)
    assert dest.ids() == [1]


# -- atomicity ---------------------------------------------------------------------------------
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_a_failure_part_way_leaves_the_previous_content(
    dest: Dest, monkeypatch: pytest.MonkeyPatch, soft: bool
) -> None:
    dest.write(data([1, 2, 3], ["2024-01-02"] * 3), "upsert")
    before = dest.rows()
    dest.fail_next(monkeypatch)
    with pytest.raises((DestinationError, RuntimeError, OSError)):
        dest.write(
            data([1, 4], ["2024-01-02"] * 2, ["changed", "new"]), "upsert", deletes=Deletes(SCOPE, soft=soft)
        )
    monkeypatch.undo()
    assert dest.rows() == before


# -- destination specifics -----------------------------------------------------------------------
def test_duckdb_marks_with_the_write_time(tmp_path: Path) -> None:
    dest = _duckdb(tmp_path)
    dest.write(data([1, 2], ["2024-01-02"] * 2), "upsert")
    before = dt.datetime.now(dt.UTC)
    dest.write(data([1], ["2024-01-02"]), "upsert", deletes=Deletes(SCOPE, soft=True))
    mark = dest.marks()[2]
    assert isinstance(mark, dt.datetime) and before <= mark <= dt.datetime.now(dt.UTC)


def test_bigquery_deletes_are_one_merge_statement(request: pytest.FixtureRequest) -> None:
    dest, bq = _bigquery(request), request.getfixturevalue("bq")
    dest.write(data([1, 2, 3], ["2024-01-02"] * 3), "upsert")
    result = dest.write(data([1], ["2024-01-02"]), "upsert", deletes=Deletes(SCOPE, soft=True))
    merges = [json.loads(r.body)["configuration"]["query"] for r in bq.requests if b"MERGE INTO" in r.body]
    sql = merges[-1]["query"]
    assert "WHEN NOT MATCHED BY SOURCE AND T.`_deleted_at` IS NULL AND T.`day` >= @scope_start" in sql
    assert "THEN UPDATE SET `_deleted_at` = @deleted_at" in sql
    assert {p["name"] for p in merges[-1]["queryParameters"]} == {"scope_start", "scope_end", "deleted_at"}
    assert result.rows_deleted == 2 and result.extra["rows_updated"] == 1
    assert bq.schema("proj", "reporting", "entries")[DELETED_AT] == "TIMESTAMP"
    hard = dest.write(data([1], ["2024-01-02"]), "upsert", deletes=Deletes(SCOPE))
    assert hard.rows_deleted == 2 and dest.ids() == [1]
    last = next(json.loads(r.body) for r in reversed(bq.requests) if b"MERGE INTO" in r.body)
    assert last["configuration"]["query"]["query"].endswith(
        "WHEN NOT MATCHED BY SOURCE AND T.`day` >= @scope_start AND T.`day` < @scope_end THEN DELETE"
    )


def test_combine_keeps_the_first_mark_and_the_row_order() -> None:
    """The rule Excel and Sheets share (``rewrite.combine``), with write times far apart."""
    from destinations.base import Mode
    from destinations.rewrite import combine

    t1, t2 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    soft = Deletes(SCOPE, soft=True)
    start = data([3, 1, 2, 8], ["2024-01-02", "2024-01-02", None, "2024-01-02"])
    first = combine(start, data([1], ["2024-01-02"]), Mode.UPSERT, ["id"], deletes=soft, now=t1)
    assert first.rows_deleted == 2 and first.rows_updated == 1
    assert first.table.column_names[-1] == DELETED_AT
    assert first.table.column(DELETED_AT).to_pylist() == [t1, None, None, t1]  # 2 has no day: outside
    second = combine(first.table, data([1, 9], ["2024-01-02"] * 2), Mode.UPSERT, ["id"], deletes=soft, now=t2)
    assert second.rows_deleted == 0
    assert second.table.column("id").to_pylist() == [3, 1, 2, 8, 9]
    assert second.table.column(DELETED_AT).to_pylist() == [t1, None, None, t1, None]
    hard = combine(second.table, data([8], ["2024-01-02"]), Mode.UPSERT, ["id"], deletes=Deletes(SCOPE))
    assert hard.rows_deleted == 3 and hard.table.column("id").to_pylist() == [2, 8]
    with pytest.raises(DestinationConfigError, match="deletes only apply"):
        combine(start, start, Mode.APPEND, deletes=soft, target="t")


def test_duckdb_deletes_with_staged_parquet_input(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from destinations.base import ParquetSource

    dest, target = _duckdb(tmp_path), DuckDBTarget(str(tmp_path / "w.duckdb"), "entries")
    dest.write(data([1, 2, 3], ["2024-01-02", "2024-01-02", "2024-01-05"]), "upsert")
    path = str(tmp_path / "in.parquet")
    pq.write_table(data([1], ["2024-01-02"]), path)
    schema = data([], []).schema
    soft = DuckDBWriter().write(
        target, ParquetSource((path,), schema), "upsert", ["id"], deletes=Deletes(SCOPE, True)
    )
    assert soft.rows_deleted == 1 and [i for i, m in dest.marks().items() if m] == [2]
    empty = ParquetSource((), schema)  # no files: an empty scope, which is fine
    hard = DuckDBWriter().write(
        target, empty, "upsert", ["id"], deletes=Deletes(Scope("day", D("2024-01-05"), D("2024-01-06")))
    )
    assert hard.rows_deleted == 1 and dest.ids() == [1, 2]
    with pytest.raises(EmptyReplaceError):
        DuckDBWriter().write(target, empty, "upsert", ["id"], deletes=Deletes())
