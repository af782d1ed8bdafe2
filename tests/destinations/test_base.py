"""The shared writer helpers in destinations/base.py."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from destinations.base import (
    DestinationConfigError,
    EmptyReplaceError,
    LimitExceededError,
    Limits,
    Mode,
    Scope,
    align,
    as_table,
    check_limits,
    check_mode,
    dedupe_last,
    guard_empty,
    merge_on_keys,
    rows_outside_scope,
    union_schema,
)

D = dt.date.fromisoformat


def kv(keys: list[str], values: list[int]) -> pa.Table:
    return pa.table({"k": keys, "v": pa.array(values, pa.int64())})


def test_as_table_accepts_table_reader_and_batches() -> None:
    t = kv(["a", "b"], [1, 2])
    assert as_table(t) is t
    assert as_table(t.to_reader()).equals(t)
    assert as_table(iter(t.to_batches())).equals(t)
    assert as_table(iter([]), schema=t.schema).num_rows == 0
    with pytest.raises(DestinationConfigError):
        as_table(iter([]))


def test_check_mode_parses_and_validates_keys() -> None:
    schema = kv([], []).schema
    assert check_mode("upsert", ["k"], schema, "t") is Mode.UPSERT
    with pytest.raises(DestinationConfigError, match="unknown mode 'merge'"):
        check_mode("merge", [], schema, "t")
    with pytest.raises(DestinationConfigError, match="needs a primary_key"):
        check_mode("upsert", [], schema, "t")
    with pytest.raises(DestinationConfigError, match=r"\['id'\] are not in the data"):
        check_mode("upsert", ["id"], schema, "t")


def test_guard_empty_refuses_whole_replace_only() -> None:
    with pytest.raises(EmptyReplaceError, match="allow_empty"):
        guard_empty(Mode.REPLACE, 0, False, "t")
    guard_empty(Mode.REPLACE, 0, True, "t")
    guard_empty(Mode.REPLACE, 0, False, "t", Scope("day", D("2024-01-01"), D("2024-01-02")))
    guard_empty(Mode.APPEND, 0, False, "t")
    guard_empty(Mode.REPLACE, 1, False, "t")


def test_dedupe_last_keeps_the_last_row_of_each_key_in_order() -> None:
    t = kv(["b", "a", "b", "c"], [1, 2, 3, 4])
    assert dedupe_last(t, ["k"]).to_pylist() == [
        {"k": "a", "v": 2},
        {"k": "b", "v": 3},
        {"k": "c", "v": 4},
    ]


def test_merge_on_keys_is_stable_and_counts_updates() -> None:
    existing = kv(["a", "b", "c"], [1, 2, 3])
    merged, updated = merge_on_keys(existing, kv(["d", "b", "b"], [40, 20, 21]), ["k"])
    assert merged.to_pylist() == [
        {"k": "a", "v": 1},
        {"k": "b", "v": 21},  # updated in place; the batch's last value wins
        {"k": "c", "v": 3},
        {"k": "d", "v": 40},  # new keys appended
    ]
    assert updated == 1


def test_merge_on_composite_keys() -> None:
    existing = pa.table({"user": [1, 1, 2], "day": ["x", "y", "x"], "v": [1, 2, 3]})
    incoming = pa.table({"user": [1, 2], "day": ["y", "y"], "v": [20, 30]})
    merged, updated = merge_on_keys(existing, incoming, ["user", "day"])
    assert merged.column("v").to_pylist() == [1, 20, 3, 30]
    assert updated == 1


@pytest.mark.parametrize(
    ("column", "values", "start", "end"),
    [
        (
            "day",
            pa.array([D("2024-01-01"), D("2024-01-02"), None], pa.date32()),
            D("2024-01-02"),
            D("2024-01-03"),
        ),
        (
            "at",
            pa.array(
                [dt.datetime(2024, 1, 1, 23), dt.datetime(2024, 1, 2, 1), None], pa.timestamp("us", tz="UTC")
            ),
            D("2024-01-02"),  # a date bound on a timestamp column means midnight UTC
            D("2024-01-03"),
        ),
        (
            "day",
            pa.array([D("2024-01-01"), D("2024-01-02"), None], pa.date32()),
            dt.datetime(2024, 1, 2),  # a datetime bound on a date column means its day
            dt.datetime(2024, 1, 3),
        ),
        (
            "iso",
            pa.array(["2024-01-01", "2024-01-02", None], pa.large_string()),
            D("2024-01-02"),
            D("2024-01-03"),
        ),
    ],
)
def test_rows_outside_scope_keeps_other_rows_and_nulls(column: str, values: pa.Array, start, end) -> None:
    t = pa.table({"n": [1, 2, 3], column: values})
    kept = rows_outside_scope(t, Scope(column, start, end))
    assert kept.column("n").to_pylist() == [1, 3]


def test_rows_outside_scope_needs_the_column() -> None:
    with pytest.raises(DestinationConfigError, match="scope column 'day'"):
        rows_outside_scope(kv(["a"], [1]), Scope("day", D("2024-01-01"), D("2024-01-02")))


def test_align_and_union_schema() -> None:
    old = pa.schema([("a", pa.int64()), ("b", pa.string())])
    new = pa.schema([("b", pa.large_string()), ("c", pa.bool_())])
    union = union_schema(old, new)
    assert union.names == ["a", "b", "c"] and union.field("b").type == pa.large_string()
    aligned = align(pa.table({"c": [True], "a": [1]}), union)
    assert aligned.schema == union and aligned.to_pylist() == [{"a": 1, "b": None, "c": True}]


def test_check_limits_says_what_to_do() -> None:
    limits = Limits("Test", max_rows=2, max_columns=2, max_cells=6, max_cell_chars=3, advice="Split it.")
    check_limits(kv(["a", "b"], [1, 2]), limits, "t")
    with pytest.raises(LimitExceededError, match=r"3 rows exceed the Test limit of 2 data rows. Split it."):
        check_limits(kv(["a", "b", "c"], [1, 2, 3]), limits, "t")
    with pytest.raises(LimitExceededError, match="3 columns"):
        check_limits(pa.table({"a": [1], "b": [1], "c": [1]}), limits, "t")
    with pytest.raises(LimitExceededError, match="column 'k' has a value of 4 characters"):
        check_limits(kv(["abcd"], [1]), limits, "t")
    with pytest.raises(LimitExceededError, match="8 cells exceed"):
        check_limits(kv(["a", "b"], [1, 2]), Limits("Test", max_cells=5), "t", header_rows=2)
