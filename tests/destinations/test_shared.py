"""Shared pieces of the sheet-like writers: cell conversion, the rewrite rules, the request budget."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest

from destinations.base import DestinationConfigError, Mode, SchemaConflictError, Scope
from destinations.cells import Kind, from_cells, infer_type, promote, table_to_cells, to_cells, type_from_str
from destinations.last_updated import LastUpdated, stamp
from destinations.rewrite import combine
from destinations.throttle import RequestBudget, RetryPolicy, retry
from tests.destinations.conftest import BIG_ID, Sleeps, entries, typed

D = dt.date.fromisoformat


def test_cells_serials_formats_and_text() -> None:
    cells = {c.name: c for c in table_to_cells(typed(), clean_text=True)}
    assert cells["day"].kind is Kind.DATE and cells["day"].values.to_pylist() == [45322.0, 45351.0, None]
    assert cells["day"].number_format == "yyyy-mm-dd"
    # 2024-01-31 08:30 UTC, whatever zone the column shows
    assert cells["started_at"].values[0].as_py() == pytest.approx(45322 + 8.5 / 24)
    assert cells["local_at"].values[0].as_py() == pytest.approx(45352 + 9 / 24)
    assert cells["id"].kind is Kind.TEXT and cells["id"].values.to_pylist()[2] == str(BIG_ID)
    assert (
        cells["amount"].values.to_pylist() == [12.34, -0.1, None] and cells["amount"].number_format == "0.00"
    )
    assert cells["billable"].kind is Kind.BOOL


def test_cells_clean_control_characters_and_drop_nan() -> None:
    assert to_cells("t", pa.array(["a\x00b\x1fc\td", ""]), clean_text=True).values.to_pylist() == [
        "abc\td",
        None,
    ]
    assert to_cells("f", pa.array([float("nan"), float("inf"), 1.0])).values.to_pylist() == [None, None, 1.0]
    assert to_cells("d", pa.array([dt.timedelta(hours=1, minutes=30)])).values.to_pylist() == [0.0625]


@pytest.mark.parametrize(
    ("values", "want", "expected"),
    [
        ([45322.0, "", None], pa.date32(), [D("2024-01-31"), None, None]),
        ([dt.datetime(2024, 1, 31)], pa.date32(), [D("2024-01-31")]),
        ([45322.5], pa.timestamp("us", tz="UTC"), [dt.datetime(2024, 1, 31, 12, tzinfo=dt.UTC)]),
        (
            [12.34, 3, "7.5"],
            pa.decimal128(10, 2),
            [decimal.Decimal("12.34"), decimal.Decimal("3.00"), decimal.Decimal("7.50")],
        ),
        ([str(BIG_ID), 5.0], pa.int64(), [BIG_ID, 5]),
        ([True, "FALSE"], pa.bool_(), [True, False]),
        ([12, 1.5, True], pa.string(), ["12", "1.5", "true"]),
        ([0.0625], pa.duration("s"), [dt.timedelta(minutes=90)]),
    ],
)
def test_from_cells_reads_back_the_wanted_type(values: list, want: pa.DataType, expected: list) -> None:
    assert from_cells("c", values, want).to_pylist() == expected


def test_from_cells_names_the_column_on_a_conflict() -> None:
    with pytest.raises(SchemaConflictError, match=r"column 'amount'.*'lots' cannot be read as int64"):
        from_cells("amount", [1, "lots"], pa.int64())


def test_infer_and_promote() -> None:
    assert infer_type([1, None, 2]) == pa.int64()
    assert infer_type([1, 2.5]) == pa.float64()
    assert infer_type([dt.datetime(2024, 1, 1)], date_only=True) == pa.date32()
    assert infer_type([dt.datetime(2024, 1, 1, 5)]) == pa.timestamp("us")
    assert infer_type(["x", 1]) == pa.string()
    joined = promote([pa.array([1], pa.int64()), pa.array([None], pa.string()), pa.array([2.5])])
    assert joined.type == pa.float64() and joined.to_pylist() == [1.0, None, 2.5]


def test_type_hints_round_trip() -> None:
    for t in typed().schema.types:
        assert type_from_str(str(t)) == t
    assert type_from_str("struct<a: int64>") is None


def test_combine_scoped_replace_puts_new_rows_where_the_scope_was() -> None:
    existing = entries([1, 2, 3, 4], ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"])
    incoming = entries([5], ["2024-01-02"])
    out = combine(existing, incoming, Mode.REPLACE, scope=Scope("day", D("2024-01-02"), D("2024-01-03")))
    assert out.table.column("id").to_pylist() == [1, 5, 4] and out.rows_deleted == 2


def test_combine_upsert_keeps_columns_the_data_lacks() -> None:
    existing = entries([1, 2], ["2024-01-01", "2024-01-02"])
    incoming = pa.table(
        {"id": pa.array([2, 3], pa.int64()), "note": ["two", "three"], "extra": [True, False]}
    )
    out = combine(existing, incoming, Mode.UPSERT, ["id"])
    assert out.table.to_pylist() == [
        {"id": 1, "day": D("2024-01-01"), "note": "entry 1", "extra": None},
        {"id": 2, "day": D("2024-01-02"), "note": "two", "extra": True},
        {"id": 3, "day": None, "note": "three", "extra": False},
    ]
    assert out.rows_updated == 1


def test_stamp_adds_the_instant_or_the_wall_time_of_the_zone() -> None:
    now = dt.datetime(2024, 5, 1, 12, 0, 0, 123_456, tzinfo=dt.UTC)
    berlin = LastUpdated(timezone="Europe/Berlin")
    zoned = stamp(entries([1, 2], ["2024-01-01"] * 2), berlin, now, "t", zoned=True)
    assert zoned.schema.field("_last_updated").type == pa.timestamp("us", tz="UTC")
    assert zoned.column("_last_updated").to_pylist() == [now, now]  # an instant: the zone is the reader's
    wall = stamp(entries([1], ["2024-01-01"]), berlin, now, "t", zoned=False)
    assert wall.schema.field("_last_updated").type == pa.timestamp("us")
    assert wall.column("_last_updated").to_pylist() == [dt.datetime(2024, 5, 1, 14, 0, 0)]  # CEST, seconds
    with pytest.raises(DestinationConfigError, match="already has a column 'NOTE'"):
        stamp(entries([1], ["2024-01-01"]).rename_columns(["id", "day", "NOTE"]), LastUpdated(column="note"),
              now, "t", zoned=True)  # fmt: skip


def test_request_budget_waits_for_the_window() -> None:
    sleeps = Sleeps()
    budget = RequestBudget(2, 60.0, sleeps.clock, sleeps)
    for _ in range(5):
        budget.take()
    assert sleeps == [60.0, 60.0]  # requests 3 and 5 each wait for a slot to free up
    budget.hold(10)
    budget.take()
    assert sleeps[-1] == pytest.approx(10.0)


def test_retry_honours_the_hint_and_gives_up() -> None:
    sleeps, calls = Sleeps(), []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError
        return "ok"

    assert retry(flaky, lambda e: 5.0, RetryPolicy(attempts=4, base_s=1), sleeps) == "ok"
    assert len(sleeps) == 2 and all(s >= 5.0 for s in sleeps)
    with pytest.raises(ValueError):
        retry(lambda: int("x"), lambda e: None, RetryPolicy(), sleeps)
