"""Deletions in upsert mode (``deletes=Deletes(...)``), the same cases against every tabular writer.

The ``dest`` fixture (``conftest``, ``harness``) runs each case on every registered tabular
destination: DuckDB and Excel on disk, Google Sheets and BigQuery through their client libraries
against the local emulators. Rows are compared as {id, note, deleted} (plus ``project`` for
composite keys); ``deleted`` is the raw ``_deleted_at`` value each destination gives back, so it is
only compared with itself (set or not, unchanged or not).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from destinations.base import (
    DELETED_AT,
    Deletes,
    DestinationConfigError,
    DestinationError,
    EmptyReplaceError,
    Scope,
)
from destinations.duckdb import DuckDBTarget, DuckDBWriter
from tests.destinations.harness import Dest, bigquery_dest, duckdb_dest

D = dt.date.fromisoformat
SCOPE = Scope("day", D("2024-01-02"), D("2024-01-04"))


def data(
    ids: list[int], days: list[str | None], notes: list[str] | None = None, project: list[str] | None = None
) -> pa.Table:
    columns: dict[str, pa.Array] = {} if project is None else {"project": pa.array(project, pa.string())}
    columns["id"] = pa.array(ids, pa.int64())
    columns["day"] = pa.array([d and D(d) for d in days], pa.date32())
    columns["note"] = pa.array(notes or [f"entry {i}" for i in ids], pa.string())
    return pa.table(columns)


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


def test_rewrite_destinations_keep_row_positions(dest: Dest) -> None:
    if not dest.ordered:
        pytest.skip(f"{dest.name} tables have no row order")
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
def test_duckdb_marks_with_the_write_time(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    dest = duckdb_dest(request, tmp_path)
    dest.write(data([1, 2], ["2024-01-02"] * 2), "upsert")
    before = dt.datetime.now(dt.UTC)
    dest.write(data([1], ["2024-01-02"]), "upsert", deletes=Deletes(SCOPE, soft=True))
    mark = dest.marks()[2]
    assert isinstance(mark, dt.datetime) and before <= mark <= dt.datetime.now(dt.UTC)


def test_bigquery_deletes_are_one_merge_statement(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    dest, bq = bigquery_dest(request, tmp_path), request.getfixturevalue("bq")
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


def test_duckdb_deletes_with_staged_parquet_input(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from destinations.base import ParquetSource

    dest = duckdb_dest(request, tmp_path)
    target = DuckDBTarget(path=str(tmp_path / "w.duckdb"), table="entries")
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
