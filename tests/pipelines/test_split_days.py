"""split_days: one row per day of a range, numbers shared by working or calendar days, in the flow's zone;
every rule of docs/flows.md ("split_days") run over tiny Parquet files, and every planning error at its key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.loader import FlowError, load_catalog, load_flows
from pipelines.steps import StepError, arrow_columns, parse_steps, plan_steps

from .test_steps import run

UTC = dt.UTC
D = dt.date
TS = pa.timestamp("us", tz="UTC")


def absences(*rows: tuple[Any, Any, float | None]) -> pa.Table:
    """Clockodo-like absences: (date_since, date_until, count_days) per row, ids from 1."""
    return pa.table(
        {
            "id": list(range(1, len(rows) + 1)),
            "users_id": [7] * len(rows),
            "date_since": pa.array([r[0] for r in rows], pa.date32()),
            "date_until": pa.array([r[1] for r in rows], pa.date32()),
            "count_days": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def split(tmp_path: Path, table: pa.Table, zone: str = "UTC", **settings: Any) -> list[dict[str, Any]]:
    step = {"from": "a", "start": "date_since", "end": "date_until", "as": "d"} | settings
    return run(tmp_path, [{"split_days": step}], {"a": table}, zone=zone)["d"]


def days(rows: list[dict[str, Any]], share: str = "count_days") -> list[tuple[Any, Any, Any]]:
    return [(r["id"], r["day"], r.get(share)) for r in rows]


# Monday 2025-03-03 ... Sunday 2025-03-09; Friday 2025-03-07
MON, TUE, WED, THU = D(2025, 3, 3), D(2025, 3, 4), D(2025, 3, 5), D(2025, 3, 6)
FRI, SAT, SUN = D(2025, 3, 7), D(2025, 3, 8), D(2025, 3, 9)
NEXT_MON, NEXT_TUE = D(2025, 3, 10), D(2025, 3, 11)


# --- dates -------------------------------------------------------------------------------------------


def test_monday_to_wednesday_is_three_days_the_end_included(tmp_path: Path) -> None:
    rows = split(tmp_path, absences((MON, WED, 3.0)), share=["count_days"])
    assert days(rows) == [(1, MON, 1.0), (1, TUE, 1.0), (1, WED, 1.0)]
    assert all(r["working_day"] is True for r in rows)
    assert rows[0]["date_since"] == MON and rows[0]["users_id"] == 7  # the record's columns stay


def test_one_day_range(tmp_path: Path) -> None:
    rows = split(tmp_path, absences((TUE, TUE, 0.5)), share=["count_days"])
    assert days(rows) == [(1, TUE, 0.5)]


def test_across_a_weekend_working_days_vs_calendar_days(tmp_path: Path) -> None:
    table = absences((FRI, NEXT_TUE, 3.0))  # Fri, Sat, Sun, Mon, Tue: 3 working days
    working = split(tmp_path / "w", table, share=["count_days"])
    assert days(working) == [
        (1, FRI, 1.0),
        (1, SAT, 0.0),
        (1, SUN, 0.0),
        (1, NEXT_MON, 1.0),
        (1, NEXT_TUE, 1.0),
    ]
    assert [r["working_day"] for r in working] == [True, False, False, True, True]
    calendar = split(tmp_path / "c", table, share=["count_days"], by="calendar_days")
    assert [r["count_days"] for r in calendar] == pytest.approx([0.6] * 5)
    assert [r["working_day"] for r in calendar] == [True, False, False, True, True]  # still said


def test_no_share_keeps_numbers_and_adds_day_columns(tmp_path: Path) -> None:
    rows = split(tmp_path, absences((FRI, SAT, 2.0)))
    assert days(rows) == [(1, FRI, 2.0), (1, SAT, 2.0)]  # not shared: each row keeps the record's value


def test_holidays_as_dates_and_custom_working_days(tmp_path: Path) -> None:
    table = absences((MON, SUN, 4.0))
    rows = split(tmp_path / "h", table, share=["count_days"], holidays=[TUE])
    assert [r["count_days"] for r in rows] == [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    # A Sunday-to-Thursday week: Friday and Saturday are off.
    rows = split(
        tmp_path / "w", table, share=["count_days"], working_days=["sun", "mon", "tue", "wed", "thu"]
    )
    assert [r["working_day"] for r in rows] == [True, True, True, True, False, False, True]
    assert sum(r["count_days"] for r in rows) == pytest.approx(4.0)


def test_holidays_from_another_input(tmp_path: Path) -> None:
    holidays = pa.table(
        {"evaluated_date": pa.array([TUE, None, D(2024, 1, 1)], pa.date32()), "name": ["x", "y", "z"]}
    )
    raw = [
        {
            "split_days": {
                "from": "a",
                "start": "date_since",
                "end": "date_until",
                "share": ["count_days"],
                "holidays": [WED],
                "holidays_from": {"from": "hol", "column": "evaluated_date"},
                "as": "d",
            }
        }
    ]
    rows = run(tmp_path, raw, {"a": absences((MON, THU, 2.0)), "hol": holidays})["d"]
    assert days(rows) == [(1, MON, 1.0), (1, TUE, 0.0), (1, WED, 0.0), (1, THU, 1.0)]  # both kinds add up
    assert [r["working_day"] for r in rows] == [True, False, False, True]


def test_a_range_without_working_days_shares_among_all_its_days(tmp_path: Path) -> None:
    rows = split(tmp_path, absences((SAT, SUN, 1.0)), share=["count_days"])
    assert days(rows) == [(1, SAT, 0.5), (1, SUN, 0.5)]  # the total is kept, not lost to zeros


def test_shares_of_every_record_add_up_to_its_value(tmp_path: Path) -> None:
    table = absences((MON, NEXT_TUE, 7.0), (SAT, SAT, 1.0), (WED, FRI, 2.5), (FRI, NEXT_MON, None))
    for by in ("working_days", "calendar_days"):
        rows = split(tmp_path / by, table, share=["count_days"], by=by, holidays=[FRI])
        totals: dict[int, float] = {}
        for r in rows:
            if r["count_days"] is not None:
                totals[r["id"]] = totals.get(r["id"], 0.0) + r["count_days"]
        assert totals == pytest.approx({1: 7.0, 2: 1.0, 3: 2.5})
        assert all(r["count_days"] is None for r in rows if r["id"] == 4)  # a null value stays null


def test_share_into_a_new_column_keeps_the_total(tmp_path: Path) -> None:
    rows = split(tmp_path, absences((MON, TUE, 3.0)), share={"count_days": "days_that_day"})
    assert [(r["count_days"], r["days_that_day"]) for r in rows] == [(3.0, 1.5), (3.0, 1.5)]


def test_exclusive_end_dates(tmp_path: Path) -> None:
    rows = split(
        tmp_path, absences((MON, WED, 2.0), (TUE, TUE, 1.0)), share=["count_days"], inclusive_end=False
    )
    assert days(rows) == [(1, MON, 1.0), (1, TUE, 1.0), (2, TUE, 1.0)]  # an empty range keeps its start day


def test_records_without_a_range_stay_one_row_with_no_day(tmp_path: Path) -> None:
    """Null start, null end, end before start, and a range over max_days: kept whole, day empty."""
    table = absences(
        (None, WED, 1.0), (MON, None, 2.0), (WED, MON, 3.0), (MON, D(9999, 12, 31), 4.0), (MON, MON, 5.0)
    )
    rows = split(tmp_path, table, share=["count_days"], max_days=366)
    assert days(rows) == [(1, None, 1.0), (2, None, 2.0), (3, None, 3.0), (4, None, 4.0), (5, MON, 5.0)]
    assert [r["working_day"] for r in rows] == [None, None, None, None, True]


def test_planned_columns_and_names(tmp_path: Path) -> None:
    table = absences((MON, TUE, 1.0))
    raw = {
        "from": "a",
        "start": "date_since",
        "end": "date_until",
        "share": {"count_days": "part"},
        "day_column": "absent_on",
        "working_day_column": None,
        "as": "d",
    }
    (plan,) = plan_steps(parse_steps([{"split_days": raw}]), {"a": arrow_columns(table.schema)})
    assert plan.columns[-2:] == (("part", "DOUBLE"), ("absent_on", "DATE"))
    assert plan.params[1:] == ([1, 2, 3, 4, 5], [], 3660)  # weekdays, holidays, max_days: all bound
    rows = split(tmp_path, table, share=["count_days"], day_column="absent_on", working_day_column=None)
    assert list(rows[0]) == ["id", "users_id", "date_since", "date_until", "count_days", "absent_on"]


# --- timestamps --------------------------------------------------------------------------------------


def periods(
    *rows: tuple[dt.datetime | None, dt.datetime | None], zone: list[str | None] | None = None
) -> pa.Table:
    columns: dict[str, Any] = {
        "id": list(range(1, len(rows) + 1)),
        "date_since": pa.array([r[0] for r in rows], TS),
        "date_until": pa.array([r[1] for r in rows], TS),
        "count_days": [1.0] * len(rows),
    }
    if zone is not None:
        columns["tz"] = zone
    return pa.table(columns)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_a_range_across_dst_is_cut_into_local_days(tmp_path: Path) -> None:
    # Saturday 2025-03-29 00:00 to Tuesday 2025-04-01 00:00 in Berlin (clocks go forward on Sunday 30th):
    # 23:00Z on the 28th (CET, +1) to 22:00Z on the 31st (CEST, +2).
    table = periods((utc(2025, 3, 28, 23), utc(2025, 3, 31, 22)))
    berlin = split(tmp_path / "b", table, zone="Europe/Berlin", share=["count_days"], by="calendar_days")
    assert [r["day"] for r in berlin] == [D(2025, 3, 29), D(2025, 3, 30), D(2025, 3, 31)]
    assert [r["count_days"] for r in berlin] == pytest.approx([1 / 3] * 3)
    seen_in_utc = split(tmp_path / "u", table, zone="UTC")
    assert [r["day"] for r in seen_in_utc] == [D(2025, 3, 28), D(2025, 3, 29), D(2025, 3, 30), D(2025, 3, 31)]
    # the step's own timezone: wins over the flow's
    own = split(tmp_path / "o", table, zone="UTC", timezone="Europe/Berlin")
    assert [r["day"] for r in own] == [D(2025, 3, 29), D(2025, 3, 30), D(2025, 3, 31)]


def test_the_end_instant_is_excluded_unless_inclusive_end(tmp_path: Path) -> None:
    table = periods(
        (utc(2025, 3, 3, 0), utc(2025, 3, 5, 0)),  # ends at midnight: Mon, Tue
        (utc(2025, 3, 3, 0), utc(2025, 3, 4, 23, 59, 59)),  # Clockify's end of day: Mon, Tue
        (utc(2025, 3, 3, 22), utc(2025, 3, 4, 6)),  # a night: two days
        (utc(2025, 3, 3, 9), utc(2025, 3, 3, 9)),  # an instant: its day
    )
    rows = split(tmp_path / "x", table, share=["count_days"])
    assert [(r["id"], r["day"]) for r in rows] == [
        (1, MON),
        (1, TUE),
        (2, MON),
        (2, TUE),
        (3, MON),
        (3, TUE),
        (4, MON),
    ]
    assert [r["count_days"] for r in rows if r["id"] == 3] == [0.5, 0.5]
    rows = split(tmp_path / "i", table.slice(0, 1), inclusive_end=True)
    assert [r["day"] for r in rows] == [MON, TUE, WED]


def test_each_rows_own_zone_falls_back_to_the_flows(tmp_path: Path) -> None:
    # 02:00Z on Tuesday is Monday evening in New York, Tuesday in Berlin.
    start, end = utc(2025, 3, 4, 2), utc(2025, 3, 4, 3)
    table = periods((start, end), (start, end), (start, end), zone=["America/New_York", "Mars/Base", None])
    rows = split(tmp_path, table, zone="Europe/Berlin", timezone_column="tz")
    assert [(r["id"], r["day"]) for r in rows] == [(1, MON), (2, TUE), (3, TUE)]


def test_timestamps_without_a_zone_are_local_already(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": [1],
            "date_since": pa.array([dt.datetime(2025, 3, 3, 23, 30)], pa.timestamp("us")),
            "date_until": pa.array([dt.datetime(2025, 3, 4, 0, 30)], pa.timestamp("us")),
        }
    )
    rows = split(tmp_path, table, zone="America/New_York")
    assert [r["day"] for r in rows] == [MON, TUE]


def test_the_flows_zone_comes_from_its_schedule(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.replace("STEP", "{from: time_off, start: period_start, end: period_end, as: days}"))
    catalog = load_catalog([path])
    assert not catalog.problems
    (planned,) = catalog.plan("f")
    assert planned.params[0] == "Europe/Berlin" and "Europe/Berlin" not in planned.sql
    assert dict(planned.columns)["day"] == "DATE"


# --- errors --------------------------------------------------------------------------------------------

FLOW = """\
connections:
  cl: {connector: clockify, api_key: {env: CLOCKIFY_API_KEY}}
  co: {connector: clockodo, api_user: {env: CO_USER}, api_key: {env: CO_KEY}}
flows:
  f:
    sources:
      time_off: {connection: cl, entity: time_off_requests}
      absences: {connection: co, entity: absences}
      non_business_days: {connection: co, entity: non_business_days}
    steps:
      - split_days: STEP
    schedule: {every: day, at: "06:00", timezone: Europe/Berlin}
"""


def problem(tmp_path: Path, step: str) -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.replace("STEP", step))
    with pytest.raises(FlowError) as info:
        load_flows([path])
    return str(info.value)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "{from: absences, start: date_snice, end: date_until, as: d}",
            "flow.yaml:11: flows.f.steps.0.split_days.start: step 'd' (split_days): 'absences' has no column "
            "'date_snice' (did you mean 'date_since'?)",
        ),
        (
            "{from: absences, start: date_since, end: date_until, share: [count_dayz], as: d}",
            "flows.f.steps.0.split_days.share.0: step 'd' (split_days): 'absences' has no column 'count_dayz' "
            "(did you mean 'count_days'?)",
        ),
        (
            "{from: absences, start: date_since, end: date_until, share: {note: n}, as: d}",
            "flows.f.steps.0.split_days.share.note: step 'd' (split_days): share divides numbers, and 'note' "
            "is VARCHAR",
        ),
        (
            "{from: absences, start: note, end: date_until, as: d}",
            "flows.f.steps.0.split_days.start: step 'd' (split_days): start needs a date or timestamp column, "
            "and 'note' is VARCHAR",
        ),
        (
            "{from: absences, start: date_since, end: _extracted_at, as: d}",
            "flows.f.steps.0.split_days.end: step 'd' (split_days): 'date_since' is DATE but '_extracted_at' "
            "is TIMESTAMP WITH TIME ZONE",
        ),
        (
            "{from: non_business_days, start: evaluated_date, end: evaluated_date, as: d}",
            "flows.f.steps.0.split_days.day_column: step 'd' (split_days): 'non_business_days' already has a "
            "column 'day'; set day_column: to another name",
        ),
        (
            "{from: absences, start: date_since, end: date_until, holidays_from: {from: non_business_days, "
            "column: name}, as: d}",
            "flows.f.steps.0.split_days.holidays_from.column: step 'd' (split_days): holidays need a DATE "
            "column, and 'name' of 'non_business_days' is VARCHAR",
        ),
        (
            "{from: absences, start: date_since, end: date_until, holidays_from: {from: holidays, column: x}, "
            "as: d}",
            "flows.f.steps.0.split_days.holidays_from.from: step 'd' reads 'holidays', which is neither a source",
        ),
        (
            "{from: time_off, start: period_start, end: period_end, timezone: Europe/Berlinn, as: d}",
            "flows.f.steps.0.split_days.timezone: unknown time zone 'Europe/Berlinn'",
        ),
        (
            "{from: time_off, start: period_start, end: period_end, timezone_column: balance, as: d}",
            "flows.f.steps.0.split_days.timezone_column: step 'd' (split_days): 'balance' is DOUBLE, not a time "
            "zone name",
        ),
        (
            "{from: absences, start: date_since, end: date_until, working_days: [mon, tue, mon], as: d}",
            "flows.f.steps.0.split_days.working_days: day 'mon' is listed twice",
        ),
        (
            "{from: absences, start: date_since, end: date_until, working_days: [monday], as: d}",
            "flows.f.steps.0.split_days.working_days.0:",
        ),
        (
            "{from: absences, start: date_since, end: date_until, by: workdays, as: d}",
            "flows.f.steps.0.split_days.by:",
        ),
        (
            "{from: absences, start: date_since, end: date_until, day_column: working_day, as: d}",
            "'working_day' would be added twice",
        ),
        (
            "{from: absences, start: date_since, end: date_until, share: {count_days: 5}, as: d}",
            "flows.f.steps.0.split_days.share: share names number columns: [count_days, count_hours]",
        ),
        (
            "{from: absences, start: date_since, end: date_until, timezone: Europe/Berlin, as: d}",
            "flows.f.steps.0.split_days.timezone: step 'd' (split_days): 'date_since' and 'date_until' are "
            "dates, which have no time zone; remove timezone:",
        ),
        (
            "{from: absences, start: date_since, end: date_until, ends: x, as: d}",
            "flows.f.steps.0.split_days.ends: unknown key 'ends'",
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, step: str, expected: str) -> None:
    assert expected in problem(tmp_path, step)


def test_a_kind_typo_suggests_split_days() -> None:
    with pytest.raises(StepError, match="did you mean 'split_days'"):
        parse_steps([{"split_day": {"from": "a", "as": "b"}}])
