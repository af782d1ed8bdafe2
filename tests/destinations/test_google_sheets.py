"""Google Sheets writer through gspread against the local Sheets emulator: modes, atomicity, quota, auth, types."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import gspread
import pyarrow as pa
import pytest

from destinations.base import (
    DestinationAuthError,
    DestinationConfigError,
    DestinationError,
    EmptyReplaceError,
    LimitExceededError,
    Limits,
    Scope,
)
from destinations.google_sheets import SheetsTarget
from destinations.sheets_writer import SHEETS_LIMITS, SheetsWriter
from destinations.throttle import RetryPolicy
from sandbox.google import SheetsEmulator
from sandbox.google.wire import Request
from tests.destinations.conftest import (
    BIG_ID,
    SERVICE_ACCOUNT,
    Sleeps,
    entries,
    local_http,
    service_account_key,
    typed,
)

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


def ids(sheets: SheetsEmulator, sid: str) -> list[str]:
    return [r[0] for r in seen(sheets, sid)[1:]]


def writes(r: Request) -> bool:
    return r.method in ("PUT", "POST")


def test_first_write_adds_a_tab_through_a_hidden_staging_tab(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter
) -> None:
    result = writer.write(target(sid), entries([1, 2], ["2024-01-01", "2024-01-02"]), "replace")
    assert seen(sheets, sid) == [
        ["id", "day", "note"],
        ["1", "2024-01-01", "entry 1"],
        ["2", "2024-01-02", "entry 2"],
    ]
    assert sheets.titles(sid) == ["Summary", "Entries"]
    tab = sheets.tab(sid, "Entries")
    assert tab.frozen_rows == 1 and not tab.hidden
    assert result.rows_written == 2 and result.extra["url"].endswith(f"#gid={tab.sheet_id}")
    # staging tab created hidden, filled with RAW values, then renamed in one batchUpdate
    added = next(json.loads(r.body) for r in sheets.requests if r.path.endswith(":batchUpdate"))
    assert added["requests"][0]["addSheet"]["properties"]["hidden"] is True
    assert all(r.arg("valueInputOption") == "RAW" for r in sheets.requests if r.method == "PUT")


def test_replace_keeps_the_tab_its_id_and_position(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter
) -> None:
    writer.write(target(sid), entries([1, 2, 3], ["2024-01-01"] * 3), "replace")
    before = sheets.tab(sid, "Entries").sheet_id
    writer.write(target(sid, "Later"), entries([9], ["2024-01-01"]), "replace")
    result = writer.write(target(sid), entries([4], ["2024-01-05"]), "replace")
    assert result.rows_deleted == 3
    assert ids(sheets, sid) == ["4"]
    assert sheets.tab(sid, "Entries").sheet_id == before
    assert sheets.titles(sid) == ["Summary", "Entries", "Later"]


def test_scoped_replace_removes_only_the_scope(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter
) -> None:
    writer.write(
        target(sid),
        entries([1, 2, 3, 4], ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"]),
        "replace",
    )
    result = writer.write(
        target(sid),
        entries([2, 5], ["2024-01-02", "2024-01-02"], ["edited", "new"]),
        "replace",
        scope=Scope("day", D("2024-01-02"), D("2024-01-03")),
    )
    assert (result.rows_written, result.rows_deleted) == (2, 2)
    assert [(r[0], r[2]) for r in seen(sheets, sid)[1:]] == [
        ("1", "entry 1"),
        ("2", "edited"),
        ("5", "new"),
        ("4", "entry 4"),
    ]
    empty = writer.write(
        target(sid), entries([], []), "replace", scope=Scope("day", D("2024-01-03"), D("2024-01-04"))
    )
    assert empty.rows_deleted == 1 and ids(sheets, sid) == ["1", "2", "5"]
    assert len(seen(sheets, sid)) == 4  # the cleared row is empty, not stale


def test_append_and_upsert(sheets: SheetsEmulator, sid: str, writer: SheetsWriter) -> None:
    writer.write(target(sid), entries([1, 2], ["2024-01-01"] * 2), "append")
    writer.write(target(sid), entries([3], ["2024-01-02"]), "append")
    assert ids(sheets, sid) == ["1", "2", "3"]
    result = writer.write(
        target(sid), entries([4, 2, 2], ["2024-01-03"] * 3, ["four", "two", "two again"]), "upsert", ["id"]
    )
    assert result.extra["rows_updated"] == 1
    assert [(r[0], r[2]) for r in seen(sheets, sid)[1:]] == [
        ("1", "entry 1"),
        ("2", "two again"),
        ("3", "entry 3"),
        ("4", "four"),
    ]


def test_empty_replace_is_refused_unless_allowed(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter
) -> None:
    writer.write(target(sid), entries([1], ["2024-01-01"]), "replace")
    with pytest.raises(EmptyReplaceError):
        writer.write(target(sid), entries([], []), "replace")
    assert ids(sheets, sid) == ["1"]
    writer.write(target(sid), entries([], []), "replace", allow_empty=True)
    assert seen(sheets, sid) == [["id", "day", "note"]]


def test_limits_are_checked_before_any_write(
    sheets: SheetsEmulator, sid: str, sheets_client: gspread.Client
) -> None:
    small = SheetsWriter(
        client=sheets_client, limits=Limits("Google Sheets", max_cells=26_010, max_cell_chars=5)
    )
    with pytest.raises(LimitExceededError, match="column 'note' has a value of 7"):
        small.write(target(sid), entries([1], ["2024-01-01"]), "replace")
    # the Summary tab's grid (1000 x 26 cells) counts against the spreadsheet's limit
    with pytest.raises(LimitExceededError, match=r"would hold 26,012 cells \(26,000 in other tabs\)"):
        small.write(target(sid), entries([1, 2, 3], ["2024-01-01"] * 3, ["a", "b", "c"]), "replace")
    assert sheets.count(writes) == 0
    assert (SHEETS_LIMITS.max_cells, SHEETS_LIMITS.max_cell_chars) == (10_000_000, 50_000)


def test_staging_copy_must_fit_too(sheets: SheetsEmulator, sid: str, sheets_client: gspread.Client) -> None:
    SheetsWriter(client=sheets_client).write(target(sid), entries([1, 2], ["2024-01-01"] * 2), "replace")
    tight = SheetsWriter(client=sheets_client, limits=Limits("Google Sheets", max_cells=26_000 + 9 + 5))
    with pytest.raises(LimitExceededError, match="staging copy"):
        tight.write(target(sid), entries([3], ["2024-01-02"]), "replace")


def test_a_failure_halfway_leaves_the_tab_as_it_was(
    sheets: SheetsEmulator, sid: str, sheets_client: gspread.Client
) -> None:
    writer = SheetsWriter(client=sheets_client, chunk_cells=3)  # one row per values request
    writer.write(target(sid), entries([1, 2], ["2024-01-01"] * 2), "replace")
    before = sheets.values(sid, "Entries", "UNFORMATTED_VALUE")
    sheets.inject(400, when=lambda r: r.method == "PUT", skip=2)  # the third chunk fails for good
    with pytest.raises(DestinationError, match="injected failure"):
        writer.write(target(sid), entries([3, 4, 5, 6], ["2024-01-02"] * 4), "append")
    assert sheets.values(sid, "Entries", "UNFORMATTED_VALUE") == before
    assert sheets.titles(sid) == ["Summary", "Entries"]  # the staging tab is gone


def test_a_failed_swap_changes_nothing_and_the_next_write_cleans_up(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter
) -> None:
    writer.write(target(sid), entries([1], ["2024-01-01"]), "replace")
    before = sheets.values(sid, "Entries")
    sheets.inject(400, when=lambda r: b"copyPaste" in r.body)  # the swap is refused...
    sheets.inject(
        400, when=lambda r: b'"deleteSheet"' in r.body and b"copyPaste" not in r.body
    )  # ...and so is the cleanup
    with pytest.raises(DestinationError):
        writer.write(target(sid), entries([2], ["2024-01-02"]), "replace")
    assert sheets.values(sid, "Entries") == before
    assert len(sheets.titles(sid)) == 3  # a process that died would leave its staging tab like this
    writer.write(target(sid), entries([3], ["2024-01-03"]), "replace")
    assert sheets.titles(sid) == ["Summary", "Entries"] and ids(sheets, sid) == ["3"]


def test_a_lost_swap_reply_is_not_applied_twice(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter
) -> None:
    writer.write(target(sid), entries([1], ["2024-01-01"]), "replace")
    sheets.inject(503, when=lambda r: b"copyPaste" in r.body, after=True)
    writer.write(target(sid), entries([1, 2], ["2024-01-01"] * 2), "replace")
    assert ids(sheets, sid) == ["1", "2"]
    assert sheets.count(lambda r: b"copyPaste" in r.body) == 1


def test_retries_5xx_and_429_with_backoff(
    sheets: SheetsEmulator, sid: str, writer: SheetsWriter, sleeps: Sleeps
) -> None:
    sheets.inject(500, when=lambda r: r.method == "PUT")
    sheets.inject(429, when=lambda r: r.method == "PUT", headers={"Retry-After": "7"})
    result = writer.write(target(sid), entries([1], ["2024-01-01"]), "replace")
    assert ids(sheets, sid) == ["1"] and result.extra["retries"] == 2
    assert 7.0 in sleeps


def test_gives_up_after_the_retry_budget(
    sheets: SheetsEmulator, sid: str, sheets_client: gspread.Client, sleeps: Sleeps
) -> None:
    writer = SheetsWriter(
        client=sheets_client, retry=RetryPolicy(attempts=3), sleep=sleeps, clock=sleeps.clock
    )
    sheets.inject(503, when=lambda r: r.method == "PUT", times=100)
    with pytest.raises(DestinationError, match="503"):
        writer.write(target(sid), entries([1], ["2024-01-01"]), "replace")
    assert sheets.count(lambda r: r.method == "PUT") == 3 and sheets.titles(sid) == ["Summary"]


def test_write_quota_is_respected(
    sheets: SheetsEmulator, sid: str, sheets_client: gspread.Client, sleeps: Sleeps
) -> None:
    writer = SheetsWriter(
        client=sheets_client, chunk_cells=3, writes_per_minute=3, sleep=sleeps, clock=sleeps.clock
    )
    result = writer.write(target(sid), entries(list(range(6)), ["2024-01-01"] * 6), "replace")
    sent = sheets.count(writes)
    assert sent == 9  # addSheet, header, 6 chunks, swap
    assert len(sleeps) == 2 and all(s == pytest.approx(60.0) for s in sleeps)  # 3 per window: wait twice
    assert result.extra["throttled_s"] == pytest.approx(120.0)


def test_values_are_what_a_person_expects(sheets: SheetsEmulator, sid: str, writer: SheetsWriter) -> None:
    writer.write(target(sid), typed(), "replace")
    assert seen(sheets, sid)[1:] == [
        [
            "1",
            "2024-01-31",
            "2024-01-31 08:30:00",
            "2024-03-01 09:00:00",
            "12.34",
            "1.5",
            "TRUE",
            "Grüße ☕ 東京",
        ],
        ["2", "2024-02-29", "2024-02-29 22:59:59", "", "-0.10", "", "FALSE", "=1+1"],
        [str(BIG_ID), "", "", "1999-12-31 23:00:00", "", "0.25", "", "0012"],
    ]
    raw = sheets.values(sid, "Entries", "UNFORMATTED_VALUE")
    assert raw[2][7] == "=1+1" and raw[3][7] == "0012"  # RAW input: text stays text
    assert raw[1][1] == 45322 and raw[1][6] is True and raw[1][4] == 12.34


def test_types_round_trip_through_read_back(sheets: SheetsEmulator, sid: str, writer: SheetsWriter) -> None:
    data = typed()
    writer.write(target(sid), data, "replace")
    first = sheets.values(sid, "Entries", "UNFORMATTED_VALUE")
    writer.write(target(sid), data.slice(0, 1), "upsert", ["id"])
    assert sheets.values(sid, "Entries", "UNFORMATTED_VALUE") == first
    # a column the data no longer has keeps its type (recorded on the tab), so dates stay dates
    writer.write(target(sid), pa.table({"id": pa.array([7], pa.int64()), "note": ["x"]}), "upsert", ["id"])
    shown = seen(sheets, sid)
    assert shown[1][1] == "2024-01-31" and shown[4] == ["7", "", "", "", "", "", "", "x"]


def test_updated_at_column_and_note(sheets: SheetsEmulator, sid: str, sheets_client: gspread.Client) -> None:
    SheetsWriter(client=sheets_client, updated_at="column").write(
        target(sid), entries([1], ["2024-01-01"]), "replace"
    )
    header, row = seen(sheets, sid)
    assert header[-1] == "_updated_at" and row[-1].startswith(str(dt.datetime.now(dt.UTC).year))
    SheetsWriter(client=sheets_client, updated_at="note").write(
        target(sid, "Noted"), entries([1], ["2024-01-01"]), "replace"
    )
    note = sheets.tab(sid, "Noted").notes[(0, 0)]
    assert note.startswith("Last updated by couplet: ") and note.endswith("Z")


def test_spreadsheet_urls_and_ids() -> None:
    url = "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz/edit#gid=0"
    assert (
        SheetsTarget(spreadsheet=url, worksheet="T").spreadsheet_id
        == "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz"
    )
    with pytest.raises(DestinationConfigError, match="neither a spreadsheet id nor"):
        _ = SheetsTarget(spreadsheet="my sheet", worksheet="T").spreadsheet_id  # checked when written


# -- credentials -------------------------------------------------------------------------------
def test_missing_credentials_say_how_to_set_them_up(sid: str) -> None:
    with pytest.raises(DestinationAuthError, match="COUPLET_GOOGLE_SERVICE_ACCOUNT"):
        SheetsWriter(env={}).write(target(sid), entries([1], ["2024-01-01"]), "replace")


def test_a_broken_key_never_shows_its_content(sid: str, private_key_pem: str) -> None:
    broken = service_account_key(private_key_pem, "http://127.0.0.1:1/token")[:-5]
    with pytest.raises(DestinationAuthError, match="not valid JSON") as info:
        SheetsWriter(env={"COUPLET_GOOGLE_SERVICE_ACCOUNT": broken}).write(
            target(sid), entries([1], ["2024-01-01"]), "replace"
        )
    assert "PRIVATE KEY" not in str(info.value) and private_key_pem[40:80] not in str(info.value)
    bad_key = json.loads(
        service_account_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "x")
    )
    with pytest.raises(DestinationAuthError, match="cannot be loaded") as info:
        SheetsWriter(credentials=json.dumps(bad_key)).write(
            target(sid), entries([1], ["2024-01-01"]), "replace"
        )
    assert "AAAA" not in str(info.value)


def test_an_unshared_spreadsheet_names_the_account_to_share_with(
    sheets: SheetsEmulator, key_file: Path
) -> None:
    sid = sheets.create(tabs=("Summary",), editors={"someone@example.com"})
    writer = SheetsWriter(credentials=str(key_file), http_client=local_http(sheets))
    with pytest.raises(DestinationAuthError, match=rf"{SERVICE_ACCOUNT} may not edit.*Share") as info:
        writer.write(target(sid), entries([1], ["2024-01-01"]), "replace")
    assert "PRIVATE KEY" not in str(info.value)
    sheets.spreadsheets[sid].editors = {SERVICE_ACCOUNT}  # shared: the same writer now works
    writer.write(target(sid), entries([1], ["2024-01-01"]), "replace")
    assert ids(sheets, sid) == ["1"]
    assert all(
        r.headers["authorization"].startswith("Bearer ya29.fake-")
        for r in sheets.requests
        if r.path != "/token"
    )


def test_env_key_path_missing_spreadsheet_and_rejected_key(sheets: SheetsEmulator, key_file: Path) -> None:
    writer = SheetsWriter(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}, http_client=local_http(sheets)
    )
    with pytest.raises(DestinationConfigError, match=rf"not found \(404\).*{SERVICE_ACCOUNT}"):
        writer.write(target("x" * 44), entries([1], ["2024-01-01"]), "replace")
    sheets.rejected_accounts.add(SERVICE_ACCOUNT)
    fresh = SheetsWriter(credentials=str(key_file), http_client=local_http(sheets))
    with pytest.raises(DestinationAuthError, match="invalid_grant"):
        fresh.write(target(sheets.create()), entries([1], ["2024-01-01"]), "replace")


def test_scope_rules(sheets: SheetsEmulator, sid: str, writer: SheetsWriter) -> None:
    scope = Scope("day", D("2024-01-01"), D("2024-01-02"))
    with pytest.raises(DestinationConfigError, match="only applies to mode 'replace'"):
        writer.write(target(sid), entries([1], ["2024-01-01"]), "append", scope=scope)
    with pytest.raises(DestinationConfigError, match="outside the scope"):
        writer.write(target(sid), entries([1, 2], ["2024-01-01", "2024-01-09"]), "replace", scope=scope)
    assert sheets.count(writes) == 0
