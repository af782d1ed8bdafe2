"""Dates and times in Google Sheets, through gspread and the local Sheets emulator: date ranges
(scoped replaces over date and datetime columns, whose kept rows are read back from the tab and
written again) and the "last updated" column under its older name (``updated_at: column``).

The ``last_updated`` option itself is in the contract suite (``test_contract``), for every
tabular destination alike.
"""

from __future__ import annotations

import datetime as dt

import gspread
import pyarrow as pa
import pytest
from pydantic import ValidationError

from destinations.base import Scope
from destinations.google_sheets import SheetsTarget
from destinations.last_updated import WRITE_CLOCK, LastUpdated
from destinations.sheets_writer import SheetsWriter
from sandbox.google import SheetsEmulator
from tests.destinations.conftest import Sleeps, entries

D = dt.date.fromisoformat


@pytest.fixture
def sid(sheets: SheetsEmulator) -> str:
    return sheets.create(tabs=("Summary",))


@pytest.fixture
def writer(sheets_client: gspread.Client, sleeps: Sleeps) -> SheetsWriter:
    return SheetsWriter(client=sheets_client, sleep=sleeps, clock=sleeps.clock)


def target(sid: str, tab: str = "Entries") -> SheetsTarget:
    return SheetsTarget(spreadsheet=sid, worksheet=tab)


def seen(sheets: SheetsEmulator, sid: str, tab: str = "Entries") -> list[list[str]]:
    return sheets.values(sid, tab)


def test_the_older_updated_at_column_is_last_updated_under_its_old_name(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flow files with ``updated_at: column`` keep their ``_updated_at`` column, now a last updated
    column like every destination's (UTC, a date-time cell); asking for both is an error."""
    old = SheetsTarget.model_validate({"spreadsheet": sid, "worksheet": "Entries", "updated_at": "column"})
    assert old.last_updated == LastUpdated(column="_updated_at", timezone="UTC")
    monkeypatch.setattr(WRITE_CLOCK, "now", lambda: dt.datetime(2024, 6, 1, 6, 0, 0, 250_000, tzinfo=dt.UTC))
    writer.write(old, entries([1], ["2024-01-01"]), "replace")
    header, row = seen(sheets, sid)
    assert header == ["id", "day", "note", "_updated_at"] and row[-1] == "2024-06-01 06:00:00"
    assert sheets.tab(sid, "Entries").number_format(1, 3) == {
        "type": "DATE_TIME",
        "pattern": "yyyy-mm-dd hh:mm:ss",
    }
    with pytest.raises(ValidationError, match="updated_at: column and last_updated both"):
        SheetsTarget.model_validate(
            {"spreadsheet": sid, "worksheet": "T", "updated_at": "column", "last_updated": True}
        )
    noted = SheetsTarget.model_validate({"spreadsheet": sid, "worksheet": "T", "updated_at": "note"})
    assert noted.last_updated is None  # a note is not a column


def test_date_ranges_over_date_and_datetime_columns(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter
) -> None:
    """Scoped replaces over a month and over a day, on a date and on a datetime column: the rows
    kept are read back from the tab as dates and datetimes and written again as such."""
    at = pa.timestamp("us", tz="UTC")

    def rows(ids: list[int], days: list[str], times: list[str]) -> pa.Table:
        return pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "day": pa.array([D(d) for d in days], pa.date32()),
                "at": pa.array([dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC) for t in times], at),
                "local": pa.array([dt.datetime.fromisoformat(t) for t in times], pa.timestamp("us")),
            }
        )

    january = rows([1, 2], ["2024-01-30", "2024-01-31"], ["2024-01-30 08:00", "2024-01-31 23:30"])
    february = rows([3, 4], ["2024-02-01", "2024-02-02"], ["2024-02-01 00:15", "2024-02-02 17:45:30"])
    writer.write(target(sid), pa.concat_tables([january, february]), "replace")
    before = seen(sheets, sid)
    assert before[1:] == [
        ["1", "2024-01-30", "2024-01-30 08:00:00", "2024-01-30 08:00:00"],
        ["2", "2024-01-31", "2024-01-31 23:30:00", "2024-01-31 23:30:00"],
        ["3", "2024-02-01", "2024-02-01 00:15:00", "2024-02-01 00:15:00"],
        ["4", "2024-02-02", "2024-02-02 17:45:30", "2024-02-02 17:45:30"],
    ]
    tab, raw = sheets.tab(sid, "Entries"), sheets.values(sid, "Entries", "UNFORMATTED_VALUE")
    assert raw[1][1] == 45321 and raw[2][2] == pytest.approx(45322 + 23.5 / 24)  # serial numbers
    assert [tab.number_format(1, j) for j in (1, 2, 3)] == [
        {"type": "DATE", "pattern": "yyyy-mm-dd"},
        {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm:ss"},
        {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm:ss"},
    ]
    # February re-read (a month partition): January is read back and written again unchanged
    refreshed = rows([3, 5], ["2024-02-01", "2024-02-29"], ["2024-02-01 09:00", "2024-02-29 12:00"])
    result = writer.write(
        target(sid), refreshed, "replace", scope=Scope("day", D("2024-02-01"), D("2024-03-01"))
    )
    assert (result.rows_written, result.rows_deleted) == (2, 2)
    assert seen(sheets, sid)[1:3] == before[1:3]
    assert seen(sheets, sid)[3:] == [
        ["3", "2024-02-01", "2024-02-01 09:00:00", "2024-02-01 09:00:00"],
        ["5", "2024-02-29", "2024-02-29 12:00:00", "2024-02-29 12:00:00"],
    ]
    # one day on the datetime column, with date bounds (midnight UTC): 23:30 on the 31st is inside
    late = rows([2], ["2024-01-31"], ["2024-01-31 23:59:59"])
    result = writer.write(target(sid), late, "replace", scope=Scope("at", D("2024-01-31"), D("2024-02-01")))
    assert result.rows_deleted == 1
    assert [r[0] for r in seen(sheets, sid)[1:]] == ["1", "2", "3", "5"]
    assert seen(sheets, sid)[2] == ["2", "2024-01-31", "2024-01-31 23:59:59", "2024-01-31 23:59:59"]
    tab = sheets.tab(sid, "Entries")  # the tab as the last swap left it
    assert [tab.number_format(r, 2)["type"] for r in range(1, 5)] == ["DATE_TIME"] * 4
    raw = sheets.values(sid, "Entries", "UNFORMATTED_VALUE")
    assert all(isinstance(v, int | float) for r in raw[1:] for v in r[1:])  # still numbers, not text
