"""DuckDB writer: replace (whole and scoped), append, upsert; atomicity; types; guards."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from destinations.base import DestinationConfigError, EmptyReplaceError, SchemaConflictError, Scope
from destinations.duckdb import DuckDBTarget, DuckDBWriter

D = dt.date.fromisoformat


@pytest.fixture
def target(tmp_path: Path) -> DuckDBTarget:
    return DuckDBTarget(path=str(tmp_path / "w.duckdb"), table="entries")


def rows(writer: DuckDBWriter, target: DuckDBTarget, order: str = "id") -> list[dict]:
    return sorted(writer.read(target).to_pylist(), key=lambda r: r[order])


def table(ids, names, days) -> pa.Table:
    return pa.table(
        {"id": pa.array(ids, pa.int64()), "name": names, "day": pa.array([D(d) for d in days], pa.date32())}
    )


def test_replace_whole(target: DuckDBTarget) -> None:
    w = DuckDBWriter()
    w.write(target, table([1, 2], ["a", "b"], ["2026-01-01", "2026-01-02"]), "replace")
    result = w.write(target, table([3], ["c"], ["2026-01-03"]), "replace")
    assert result.rows_written == 1 and result.rows_deleted == 2
    assert [r["id"] for r in rows(w, target)] == [3]


def test_replace_scope_only_touches_its_days(target: DuckDBTarget) -> None:
    w = DuckDBWriter()
    w.write(target, table([1, 2, 3], ["a", "b", "c"], ["2026-01-01", "2026-01-02", "2026-01-02"]), "replace")
    scope = Scope("day", D("2026-01-02"), D("2026-01-03"))
    # id 3 was deleted at the source, id 2 edited
    result = w.write(target, table([2], ["B"], ["2026-01-02"]), "replace", scope=scope)
    assert result.rows_deleted == 2
    assert rows(w, target) == [
        {"id": 1, "name": "a", "day": D("2026-01-01")},
        {"id": 2, "name": "B", "day": D("2026-01-02")},
    ]
    # an empty day in scope is fine (a weekend, or everything deleted) and empties only that day
    w.write(target, table([], [], []), "replace", scope=scope)
    assert [r["id"] for r in rows(w, target)] == [1]


def test_scoped_replace_refuses_rows_outside_scope(target: DuckDBTarget) -> None:
    w = DuckDBWriter()
    w.write(target, table([1], ["a"], ["2026-01-01"]), "replace")
    with pytest.raises(DestinationConfigError, match="outside the scope"):
        w.write(
            target,
            table([2], ["b"], ["2026-01-09"]),
            "replace",
            scope=Scope("day", D("2026-01-01"), D("2026-01-02")),
        )
    assert [r["id"] for r in rows(w, target)] == [1]


def test_append(target: DuckDBTarget) -> None:
    w = DuckDBWriter()
    w.write(target, table([1], ["a"], ["2026-01-01"]), "append")
    w.write(target, table([1], ["a"], ["2026-01-01"]), "append")
    assert len(rows(w, target)) == 2


def test_upsert_merges_on_key_last_wins(target: DuckDBTarget) -> None:
    w = DuckDBWriter()
    w.write(target, table([1, 2], ["a", "b"], ["2026-01-01", "2026-01-02"]), "upsert", primary_key=("id",))
    result = w.write(
        target, table([2, 3, 3], ["B", "x", "C"], ["2026-01-02"] * 3), "upsert", primary_key=["id"]
    )
    assert result.rows_written == 2
    assert [(r["id"], r["name"]) for r in rows(w, target)] == [(1, "a"), (2, "B"), (3, "C")]


def test_upsert_composite_key_and_new_column(target: DuckDBTarget) -> None:
    w = DuckDBWriter()
    first = pa.table({"user": [1, 1], "day": [D("2026-01-01"), D("2026-01-02")], "h": [1.0, 2.0]})
    w.write(target, first, "upsert", primary_key=("user", "day"))
    second = pa.table({"user": [1], "day": [D("2026-01-02")], "h": [5.0], "note": ["late edit"]})
    w.write(target, second, "upsert", primary_key=("user", "day"))
    got = sorted(w.read(target).to_pylist(), key=lambda r: r["day"])
    assert got == [
        {"user": 1, "day": D("2026-01-01"), "h": 1.0, "note": None},
        {"user": 1, "day": D("2026-01-02"), "h": 5.0, "note": "late edit"},
    ]


def test_upsert_without_key_is_refused(target: DuckDBTarget) -> None:
    with pytest.raises(DestinationConfigError, match="primary_key"):
        DuckDBWriter().write(target, table([1], ["a"], ["2026-01-01"]), "upsert")


def test_empty_replace_refused_unless_allowed(target: DuckDBTarget) -> None:
    w = DuckDBWriter()
    w.write(target, table([1], ["a"], ["2026-01-01"]), "replace")
    with pytest.raises(EmptyReplaceError, match="allow_empty"):
        w.write(target, table([], [], []), "replace")
    assert len(rows(w, target)) == 1
    w.write(target, table([], [], []), "replace", allow_empty=True)
    assert rows(w, target) == []


def test_type_conflict_names_the_column_and_keeps_data(target: DuckDBTarget) -> None:
    w = DuckDBWriter()
    w.write(target, table([1], ["a"], ["2026-01-01"]), "replace")
    bad = pa.table({"id": ["not-a-number"], "name": ["x"], "day": [D("2026-01-01")]})
    with pytest.raises(SchemaConflictError, match="'id'"):
        w.write(target, bad, "append")
    assert len(rows(w, target)) == 1


def test_failure_mid_transaction_rolls_back(target: DuckDBTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    w = DuckDBWriter()
    w.write(target, table([1, 2], ["a", "b"], ["2026-01-01", "2026-01-02"]), "replace")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(DuckDBWriter, "_merge", boom)
    with pytest.raises(RuntimeError):
        w.write(target, table([1], ["changed"], ["2026-01-01"]), "upsert", primary_key=("id",))
    monkeypatch.undo()
    assert [r["name"] for r in rows(w, target)] == ["a", "b"]


def test_types_round_trip(target: DuckDBTarget) -> None:
    data = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "at": pa.array([dt.datetime(2026, 1, 1, 8, tzinfo=dt.UTC), None], pa.timestamp("us", tz="UTC")),
            "day": pa.array([D("2026-01-01"), None], pa.date32()),
            "money": pa.array([decimal.Decimal("12.34"), None], pa.decimal128(12, 2)),
            "flag": [True, None],
            "text": ["Grüße, 日本", None],
        }
    )
    w = DuckDBWriter()
    w.write(target, data, "replace")
    back = w.read(target)
    assert back.to_pylist() == data.to_pylist()
    con = duckdb.connect(target.path, read_only=True)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name='entries'"
        ).fetchall()
    )
    con.close()
    assert (
        types["at"] == "TIMESTAMP WITH TIME ZONE"
        and types["day"] == "DATE"
        and types["money"] == "DECIMAL(12,2)"
    )


def test_schema_qualified_table(tmp_path: Path) -> None:
    target = DuckDBTarget(path=str(tmp_path / "w.duckdb"), table="raw.entries")
    w = DuckDBWriter()
    w.write(target, table([1], ["a"], ["2026-01-01"]), "replace")
    w.write(target, table([2], ["b"], ["2026-01-02"]), "append")
    assert len(rows(w, target)) == 2


def test_staged_parquet_input_for_every_mode(target: DuckDBTarget, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from destinations.base import ParquetSource

    first = table([1, 2], ["a", "b"], ["2026-01-01", "2026-01-02"])
    second = table([2, 3], ["B", "c"], ["2026-01-02", "2026-01-02"])
    paths = []
    for i, t in enumerate((first, second)):
        paths.append(str(tmp_path / f"{i}.parquet"))
        pq.write_table(t, paths[-1])
    w = DuckDBWriter()
    w.write(target, ParquetSource((paths[0],), first.schema), "replace")
    w.write(target, ParquetSource((paths[1],), first.schema), "upsert", primary_key=("id",))
    assert [(r["id"], r["name"]) for r in rows(w, target)] == [(1, "a"), (2, "B"), (3, "c")]
    # no files for a scope: an empty day, which empties that day only
    scope = Scope("day", D("2026-01-02"), D("2026-01-03"))
    w.write(target, ParquetSource((), first.schema), "replace", scope=scope)
    assert [r["id"] for r in rows(w, target)] == [1]
    with pytest.raises(EmptyReplaceError):
        w.write(target, ParquetSource((), first.schema), "replace")
