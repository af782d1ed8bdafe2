"""The writer contract (``destinations.base``), the same cases against every tabular destination.

``dest`` (``conftest``, ``harness``) is each registered destination with ``tabular=True``: adding
one to ``destinations.DESTINATIONS`` runs these cases on it. Each writer's own file tests what only
it does (formats, limits, API calls); deletions in upsert are in ``test_upsert_deletes``.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from destinations.base import DestinationConfigError, EmptyReplaceError, Mode, Scope
from tests.destinations.harness import Dest

D = dt.date.fromisoformat


def data(ids: list[int], days: list[str], notes: list[str] | None = None) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "day": pa.array([D(d) for d in days], pa.date32()),
            "note": pa.array(notes or [f"entry {i}" for i in ids], pa.string()),
        }
    )


def notes(dest: Dest) -> dict[int, str]:
    return {r["id"]: r["note"] for r in dest.rows()}


def test_replace_append_and_upsert(dest: Dest) -> None:
    first = dest.write(data([1, 2], ["2024-01-01", "2024-01-02"]), "replace")
    assert (first.mode, first.rows_written, first.target) == (Mode.REPLACE, 2, dest.target)
    assert dest.ids() == [1, 2]
    dest.write(data([1, 2], ["2024-01-01", "2024-01-02"], ["one", "two"]), "replace")
    assert notes(dest) == {1: "one", 2: "two"}  # replaced, not added
    appended = dest.write(data([3], ["2024-01-03"]), "append")
    assert (appended.mode, appended.rows_written) == (Mode.APPEND, 1) and dest.ids() == [1, 2, 3]
    upserted = dest.write(
        data([2, 4, 4], ["2024-01-02", "2024-01-04", "2024-01-04"], ["2!", "x", "4"]), "upsert"
    )
    assert upserted.mode is Mode.UPSERT
    assert notes(dest) == {
        1: "one",
        2: "2!",
        3: "entry 3",
        4: "4",
    }  # no duplicate; the last row of a key wins


def test_a_scoped_replace_touches_only_its_days(dest: Dest) -> None:
    dest.write(data([1, 2, 3], ["2024-01-01", "2024-01-02", "2024-01-03"]), "replace")
    scope = Scope("day", D("2024-01-02"), D("2024-01-03"))
    result = dest.write(data([5], ["2024-01-02"]), "replace", scope=scope)
    assert result.rows_written == 1 and result.rows_deleted == 1
    assert sorted(dest.ids()) == [1, 3, 5]


def test_an_empty_whole_replace_is_refused_unless_allowed(dest: Dest) -> None:
    dest.write(data([1, 2], ["2024-01-01", "2024-01-02"]), "replace")
    with pytest.raises(EmptyReplaceError, match="allow_empty") as err:
        dest.write(data([], []), "replace")
    assert dest.target in str(err.value) and dest.ids() == [1, 2]
    assert dest.write(data([], []), "replace", allow_empty=True).rows_written == 0
    assert dest.ids() == []


def test_upsert_needs_a_key_the_data_has(dest: Dest) -> None:
    with pytest.raises(DestinationConfigError, match="needs a primary_key"):
        dest.write(data([1], ["2024-01-01"]), "upsert", ())
    with pytest.raises(DestinationConfigError, match="not in the data"):
        dest.write(data([1], ["2024-01-01"]), "upsert", ("no_such_column",))


def test_an_unknown_mode_is_refused(dest: Dest) -> None:
    with pytest.raises(DestinationConfigError, match="unknown mode 'merge'"):
        dest.write(data([1], ["2024-01-01"]), "merge")


def test_count_rows_reads_the_target_back(dest: Dest) -> None:
    assert dest.count() is None  # nothing written yet: no file, tab or table
    dest.write(data([1, 2, 3], ["2024-01-01", "2024-01-02", "2024-01-03"]), "replace")
    assert dest.count() == 3
    dest.write(data([4], ["2024-01-04"]), "append")
    assert dest.count() == 4
