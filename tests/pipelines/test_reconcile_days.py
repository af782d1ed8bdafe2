"""Reconcile day by day (pipelines/reconcile_days.py): local days against UTC-partitioned staging.

Staged Clockodo entries are summed per user and local day of ``time_since`` in the user's time
zone, compared with a fingerprint's figures, and a drifted day re-reads the UTC days it spans. A day
partly outside the staged range, a future day and a user without a time zone are not compared.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from connectors import get_source
from connectors.core.extract import staged_schema
from pipelines.reconcile_days import compare, staged_sums, utc_span, years
from pipelines.staging import Staging

ENTRIES = get_source("clockodo").entity("entries")
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
D = dt.date


def stage(tmp: Path, rows: list[tuple[int, str, int | None]]) -> Staging:
    """Entries (users_id, time_since UTC, duration) staged in March 2025, by UTC day."""
    schema = staged_schema(ENTRIES)
    records: list[dict[str, Any]] = []
    for i, (user, since, duration) in enumerate(rows):
        when = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC)
        records.append(
            {"id": i + 1, "type": 1, "users_id": user, "time_since": when, "duration": duration}
            | {"_window_start": when.date(), "_window_end": when.date() + dt.timedelta(days=1)}
        )
    staging = Staging(tmp)
    table = pa.Table.from_pylist(records, schema=schema)
    staging.replace_days("c", ENTRIES, "2025-03", table, D(2025, 3, 1), D(2025, 4, 1))
    return staging


def test_a_local_day_spans_the_utc_days_of_its_hours() -> None:
    assert utc_span(D(2025, 3, 10), BERLIN) == (D(2025, 3, 9), D(2025, 3, 11))  # 23:00 the day before
    assert utc_span(D(2025, 3, 10), ZoneInfo("UTC")) == (D(2025, 3, 10), D(2025, 3, 11))
    assert utc_span(D(2025, 3, 10), NEW_YORK) == (D(2025, 3, 10), D(2025, 3, 12))  # until 04:00 next day
    assert years(D(2024, 6, 1), D(2026, 6, 1)) == [2024, 2025, 2026]
    assert years(D(2024, 6, 1), D(2025, 1, 1)) == [2024]


def test_staged_entries_are_summed_on_their_users_local_day(tmp_path: Path) -> None:
    staging = stage(
        tmp_path,
        [
            (1, "2025-03-10T08:00:00", 3600),
            (1, "2025-03-10T23:30:00", 1800),  # Berlin: 00:30 on the 11th
            (2, "2025-03-11T02:00:00", 600),  # New York: 22:00 on the 10th
            (2, "2025-03-11T09:00:00", None),  # running: no duration yet
            (3, "2025-03-10T12:00:00", 60),  # no time zone known: left out
        ],
    )
    zones = {1: BERLIN, 2: NEW_YORK, 3: None}
    sums = staged_sums(staging, "c", ENTRIES, D(2025, 3, 1), D(2025, 4, 1), zones)
    assert sums == {
        (1, D(2025, 3, 10)): 3600.0,
        (1, D(2025, 3, 11)): 1800.0,
        (2, D(2025, 3, 10)): 600.0,
        (2, D(2025, 3, 11)): 0.0,
    }
    utc = staged_sums(staging, "c", ENTRIES, D(2025, 3, 1), D(2025, 4, 1), None)
    assert utc[(1, D(2025, 3, 10))] == 5400.0 and utc[(3, D(2025, 3, 10))] == 60.0


def test_only_days_that_differ_are_found_and_their_utc_days_re_read(tmp_path: Path) -> None:
    staging = stage(
        tmp_path,
        [(1, "2025-03-10T08:00:00", 3600), (1, "2025-03-20T08:00:00", 3600), (5, "2025-03-10T08:00:00", 60)],
    )
    zones: dict[Any, ZoneInfo | None] = {1: BERLIN, 2: BERLIN, 5: BERLIN, 9: None}
    start, end = D(2025, 3, 1), D(2025, 4, 1)
    staged = staged_sums(staging, "c", ENTRIES, start, end, zones)
    source = {
        (1, D(2025, 3, 10)): 3600.0,  # equal
        (1, D(2025, 3, 20)): 7200.0,  # edited in place: 1 h -> 2 h
        (2, D(2025, 3, 15)): 900.0,  # inserted: nothing staged that day
        (1, D(2025, 3, 1)): 500.0,  # the evening before the 1st is not staged: not compared
        (9, D(2025, 3, 12)): 60.0,  # no time zone: not compared
        (1, D(2025, 4, 2)): 60.0,  # outside the range
    }
    found = compare(ENTRIES, source, staged, zones, start, end)
    assert [d.start for d in found.found] == [D(2025, 3, 15), D(2025, 3, 20)]
    assert "users_id 1: 3600 staged, 7200 at the source" in found.found[1].reason
    assert found.windows == [(D(2025, 3, 14), D(2025, 3, 16)), (D(2025, 3, 19), D(2025, 3, 21))]
    assert found.compared == 3 and found.unchecked == {5, 9}  # 5: staged, but not in the answer
    assert compare(ENTRIES, dict(staged), staged, zones, start, end).found == []
