"""The writer contract (``destinations.base``), the same cases against every tabular destination.

``dest`` (``conftest``, ``harness``) is each registered destination with ``tabular=True``: adding
one to ``destinations.DESTINATIONS`` runs these cases on it. Each writer's own file tests what only
it does (formats, limits, API calls); deletions in upsert are in ``test_upsert_deletes``.

The ``last_updated`` option (``destinations.last_updated``) is part of the contract: the same
setting on every tabular destination, the write's time (``WRITE_CLOCK``, fixed here) on exactly the
rows a write lands, read back with the destination's own date-time type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from destinations.base import DELETED_AT, Deletes, DestinationConfigError, EmptyReplaceError, Mode, Scope
from destinations.last_updated import WRITE_CLOCK
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


# -- last_updated ------------------------------------------------------------------------------
T1, T2, T3, T4, T5 = (dt.datetime(2024, 6, 1, hour, 0, tzinfo=dt.UTC) for hour in (6, 7, 8, 9, 10))
# How each destination holds the column: an instant in the databases, a date-time cell in the sheets.
TIME_TYPE = {
    "duckdb": "TIMESTAMP WITH TIME ZONE",
    "bigquery": "TIMESTAMP",
    "excel": "date-time yyyy-mm-dd hh:mm:ss",  # a real Excel date with a number format
    "google_sheets": "DATE_TIME yyyy-mm-dd hh:mm:ss",  # a serial number formatted as a date-time
}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Set the time the next writes happen at."""

    def at(when: dt.datetime) -> None:
        monkeypatch.setattr(WRITE_CLOCK, "now", lambda: when)

    return at


def shown(dest: Dest, when: dt.datetime, zone: str = "UTC") -> dt.datetime:
    """``when`` as the destination holds it: the instant, or the wall-clock time in ``zone``."""
    return when if dest.zoned else when.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def test_last_updated_stamps_the_rows_each_mode_writes(
    dest: Dest, clock: Callable[[dt.datetime], None]
) -> None:
    dest = dest.reconfigure({"last_updated": True})
    days = ["2024-01-01", "2024-01-02", "2024-01-03"]
    clock(T1)
    dest.write(data([1, 2], days[:2]), "replace")  # replace: every row
    assert dest.columns()[-1] == "_last_updated"
    assert dest.column_type("_last_updated") == TIME_TYPE[dest.name]
    assert dest.values("_last_updated") == {1: shown(dest, T1), 2: shown(dest, T1)}
    clock(T2)
    dest.write(data([3], days[2:]), "append")  # append: the new rows; old rows keep their time
    assert dest.values("_last_updated") == {1: shown(dest, T1), 2: shown(dest, T1), 3: shown(dest, T2)}
    clock(T3)
    # upsert: every row sent, changed (4 is new) or not (2 arrives with the values it has)
    dest.write(data([2, 4], ["2024-01-02", "2024-01-04"]), "upsert")
    assert dest.values("_last_updated") == {
        1: shown(dest, T1),
        2: shown(dest, T3),
        3: shown(dest, T2),
        4: shown(dest, T3),
    }
    clock(T4)
    scope = Scope("day", D("2024-01-03"), D("2024-01-04"))  # a scoped replace: its rows only
    dest.write(data([5], ["2024-01-03"]), "replace", scope=scope)
    assert dest.values("_last_updated") == {
        1: shown(dest, T1),
        2: shown(dest, T3),
        4: shown(dest, T3),
        5: shown(dest, T4),
    }
    clock(T5)
    dest.write(data([1], days[:1]), "replace")
    assert dest.values("_last_updated") == {1: shown(dest, T5)}
    assert dest.column_type("_last_updated") == TIME_TYPE[dest.name]


def test_last_updated_takes_a_column_name_and_a_time_zone(
    dest: Dest, clock: Callable[[dt.datetime], None]
) -> None:
    dest = dest.reconfigure({"last_updated": {"column": "Last updated", "timezone": "Asia/Kolkata"}})
    clock(T1)
    dest.write(data([1, 2], ["2024-01-01", "2024-01-02"]), "replace")
    assert dest.columns() == ["id", "day", "note", "Last updated"]
    assert dest.column_type("Last updated") == TIME_TYPE[dest.name]
    stamped = dest.values("Last updated")
    assert stamped == {1: shown(dest, T1, "Asia/Kolkata"), 2: shown(dest, T1, "Asia/Kolkata")}
    if not dest.zoned:  # a cell shows the wall clock of the zone: 06:00 UTC is 11:30 in Kolkata
        assert stamped[1] == dt.datetime(2024, 6, 1, 11, 30)


def test_last_updated_is_added_to_a_target_written_without_it(
    dest: Dest, clock: Callable[[dt.datetime], None]
) -> None:
    clock(T1)
    dest.write(data([1, 2], ["2024-01-01", "2024-01-02"]), "replace")
    stamped = dest.reconfigure({"last_updated": True})
    clock(T2)
    stamped.write(data([2, 3], ["2024-01-02", "2024-01-03"]), "upsert")
    assert stamped.values("_last_updated") == {1: None, 2: shown(dest, T2), 3: shown(dest, T2)}
    clock(T3)
    stamped.write(data([4], ["2024-01-04"]), "append")
    assert stamped.values("_last_updated")[4] == shown(dest, T3)
    assert stamped.column_type("_last_updated") == TIME_TYPE[dest.name]
    dest.write(data([5], ["2024-01-05"]), "append")  # an output without the option: rows left empty
    assert stamped.values("_last_updated")[5] is None and stamped.ids() == [1, 2, 3, 4, 5]


def test_rows_marked_deleted_keep_their_last_updated(
    dest: Dest, clock: Callable[[dt.datetime], None]
) -> None:
    dest = dest.reconfigure({"last_updated": True})
    clock(T1)
    dest.write(data([1, 2, 3], ["2024-01-01", "2024-01-02", "2024-01-03"]), "replace")
    clock(T2)
    dest.write(data([1, 3], ["2024-01-01", "2024-01-03"]), "upsert", deletes=Deletes(soft=True))
    assert dest.columns()[-2:] == ["_last_updated", DELETED_AT]
    # 2 went at T2 (marked with the write's time) and was last written at T1
    assert dest.values("_last_updated") == {1: shown(dest, T2), 2: shown(dest, T1), 3: shown(dest, T2)}
    assert dest.values(DELETED_AT) == {1: None, 2: shown(dest, T2), 3: None}
    clock(T3)
    dest.write(data([1], ["2024-01-01"]), "upsert", deletes=Deletes())  # hard: gone rows go
    assert dest.values("_last_updated") == {1: shown(dest, T3)}


def test_a_data_column_with_the_last_updated_name_is_refused(dest: Dest) -> None:
    dest.write(data([1], ["2024-01-01"]), "replace")
    clashing = dest.reconfigure({"last_updated": {"column": "note"}})
    for mode in ("replace", "append", "upsert"):
        with pytest.raises(DestinationConfigError, match=r"already has a column 'note'.*last_updated"):
            clashing.write(data([2], ["2024-01-02"]), mode)
    assert dest.ids() == [1] and dest.columns() == ["id", "day", "note"]
