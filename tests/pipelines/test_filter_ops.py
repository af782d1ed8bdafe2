"""Filter conditions beyond plain values: regular expressions (matches, not_matches) and comparisons with
another column (other:), run over tiny Parquet files; every mistake an error at its file, line and key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.loader import FlowError, load_flows
from pipelines.steps import StepError, arrow_columns, parse_steps, plan_steps
from pipelines.steps_model import COLUMN_OPS

from .test_steps import ids, run

UTC = dt.UTC
ROWS = pa.table(
    {
        "id": [1, 2, 3, 4, 5],
        "text": ["INV-1042 paid", "Paid inv-7 late", None, "Meeting; DROP TABLE t", "it's INV-99"],
        "billable_hours": [10.0, 5.0, 3.0, None, 8.0],
        "budget_hours": [8.0, 5.0, None, 2.0, 9.0],
        "budget_cap": [12, 6, 4, 4, 9],
        "customer": ["Acme", "Beta", "Acme", None, "Gamma"],
        "domain": ["me", "Be", "cm", "y", "Gam"],
        "day": [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)],
        "due": [dt.date(2024, 1, d) for d in (2, 2, 2, 2, 2)],
        "approved": pa.array(
            [dt.datetime(2024, 1, d, 12, tzinfo=UTC) for d in (1, 1, 4, 4, 5)], pa.timestamp("us", tz="UTC")
        ),
    }
)


def kept(tmp_path: Path, *conditions: dict[str, Any], match: str = "all") -> list[int]:
    raw = [{"filter": {"from": "t", "where": list(conditions), "match": match, "as": "f"}}]
    return ids(run(tmp_path, raw, {"t": ROWS})["f"])


# --- regular expressions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "pattern", "expected"),
    [
        ("matches", "INV-[0-9]+", [1, 5]),  # anywhere in the text, case-sensitive
        ("matches", "^INV-[0-9]+", [1]),  # anchored at the start
        ("matches", "^INV-[0-9]+ paid$", [1]),  # the whole text
        ("matches", "(?i)inv-[0-9]+", [1, 2, 5]),  # (?i) ignores case
        ("matches", r"\bDROP\b", [4]),  # RE2 classes and a pattern full of SQL words: only a value
        ("matches", "it's", [5]),  # a quote in the pattern is no SQL either
        ("not_matches", "INV-[0-9]+", [2, 3, 4]),  # keeps the null row
        ("not_matches", "(?i)inv", [3, 4]),
    ],
)
def test_regular_expressions(tmp_path: Path, op: str, pattern: str, expected: list[int]) -> None:
    assert kept(tmp_path, {"column": "text", "op": op, "value": pattern}) == expected


def test_the_pattern_is_a_bound_parameter() -> None:
    raw = [
        {
            "filter": {
                "from": "t",
                "where": [{"column": "text", "op": "matches", "value": "x'; --"}],
                "as": "f",
            }
        }
    ]
    (plan,) = plan_steps(parse_steps(raw), {"t": arrow_columns(ROWS.schema)})
    assert plan.params == ("x'; --",) and "x'" not in plan.sql and '"text"' in plan.sql


# --- comparisons with another column -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "other", "expected"),
    [
        ("gt", "budget_hours", [1]),  # 10 > 8; a null on either side never matches
        ("ge", "budget_hours", [1, 2]),
        ("lt", "budget_hours", [5]),
        ("le", "budget_hours", [2, 5]),
        ("eq", "budget_hours", [2]),
        ("ne", "budget_hours", [1, 3, 4, 5]),  # every row eq drops, nulls included
        ("le", "budget_cap", [1, 2, 3, 5]),  # DOUBLE against BIGINT: both numbers
        ("between", ["budget_hours", "budget_cap"], [1, 2]),  # both included
        ("ends_with", "domain", [1]),  # the text ends with the other column's text
        ("contains", "domain", [1, 2, 3, 5]),
        ("starts_with", "domain", [2, 5]),
    ],
)
def test_compare_with_another_column(tmp_path: Path, op: str, other: Any, expected: list[int]) -> None:
    column = "customer" if op in ("ends_with", "contains", "starts_with") else "billable_hours"
    assert kept(tmp_path, {"column": column, "op": op, "other": other}) == expected


def test_every_column_op_is_tested() -> None:
    marks = test_compare_with_another_column.pytestmark  # type: ignore[attr-defined]
    (mark,) = [m for m in marks if m.name == "parametrize"]
    assert {case[0] for case in mark.args[1]} == set(COLUMN_OPS)


def test_dates_compare_with_timestamps_and_mix_with_values(tmp_path: Path) -> None:
    assert kept(tmp_path, {"column": "day", "op": "gt", "other": "due"}) == [3, 4, 5]
    # a date against a timestamp is midnight UTC: Jan 1 12:00 is after Jan 1, Jan 4 12:00 after Jan 4
    assert kept(tmp_path, {"column": "approved", "op": "ge", "other": "day"}) == [1, 3, 4, 5]
    both = kept(
        tmp_path,
        {"column": "billable_hours", "op": "gt", "other": "budget_hours"},
        {"column": "text", "op": "matches", "value": "^it"},
        match="any",
    )
    assert both == [1, 5]


# --- errors ------------------------------------------------------------------------------------------------


def error(condition: dict[str, Any]) -> StepError:
    raw = [{"filter": {"from": "t", "where": [condition], "as": "f"}}]
    with pytest.raises(StepError) as info:
        plan_steps(parse_steps(raw), {"t": arrow_columns(ROWS.schema)})
    return info.value


@pytest.mark.parametrize(
    ("condition", "path", "words"),
    [
        ({"column": "text", "op": "matches", "value": "INV-(["}, ["value"], "missing ]"),
        (
            {"column": "text", "op": "not_matches", "value": "(?<=x)y"},
            ["value"],
            "RE2 syntax, which has no look-around",
        ),
        ({"column": "text", "op": "matches", "value": 5}, ["value"], "regular expression as text"),
        ({"column": "text", "op": "matches", "value": ""}, ["value"], "regular expression as text"),
        ({"column": "billable_hours", "op": "matches", "value": "1"}, ["op"], "works on text"),
        (
            {"column": "billable_hours", "op": "gt", "other": "budget_hour"},
            ["other"],
            "(did you mean 'budget_hours'?)",
        ),
        (
            {"column": "billable_hours", "op": "between", "other": ["budget_hours", "budget"]},
            ["other", 1],
            "no column",
        ),
        ({"column": "billable_hours", "op": "gt", "other": "customer"}, ["other"], "cannot be compared"),
        ({"column": "day", "op": "eq", "other": "text"}, ["other"], "'day' is DATE but 'text' is VARCHAR"),
        ({"column": "billable_hours", "op": "contains", "other": "text"}, ["op"], "works on text"),
        ({"column": "text", "op": "matches", "other": "customer"}, ["other"], "compares with a value"),
        ({"column": "text", "op": "in", "other": "customer"}, ["other"], "other: works with eq, ne"),
        (
            {"column": "billable_hours", "op": "between", "other": "budget_hours"},
            ["other"],
            "[low_column, high_column]",
        ),
        ({"column": "billable_hours", "op": "gt", "other": ["a", "b"]}, ["other"], "one column"),
        ({"column": "billable_hours", "op": "gt", "other": 5}, ["other"], "name a column"),
        ({"column": "billable_hours", "op": "gt", "other": "budget_hours", "value": 1}, [], "not both"),
        ({"column": "billable_hours", "op": "gt"}, [], "needs a value: or other:"),
    ],
)
def test_errors_point_at_the_key(condition: dict[str, Any], path: list[Any], words: str) -> None:
    exc = error(condition)
    assert exc.path == [0, "filter", "where", 0, *path]
    assert words in exc.message


FLOW = """\
connections:
  co: {connector: clockodo, api_user: {env: CO_USER}, api_key: {env: CO_KEY}}
flows:
  f:
    sources:
      entries: {connection: co, entity: entries}
    steps:
      - filter:
          from: entries
          where:
            - {column: text, op: matches, value: '^INV-[0-9]+$'}
            - CONDITION
          as: picked
"""


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            "{column: text, op: matches, value: 'INV-(['}",
            "flow.yaml:12: flows.f.steps.0.filter.where.1.value: step 'picked' (filter): ",
        ),
        (
            "{column: revenue, op: gt, other: hourly_rat}",
            "flow.yaml:12: flows.f.steps.0.filter.where.1.other: step 'picked' (filter): 'entries' has no "
            "column 'hourly_rat' (did you mean 'hourly_rate'?)",
        ),
        (
            "{column: revenue, op: gt, other: time_since}",
            "flow.yaml:12: flows.f.steps.0.filter.where.1.other: step 'picked' (filter): 'revenue' is DOUBLE but "
            "'time_since' is TIMESTAMP WITH TIME ZONE, which cannot be compared",
        ),
        ("{column: text, op: like, value: x}", "flow.yaml:12: flows.f.steps.0.filter.where.1.op:"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, condition: str, expected: str) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.replace("CONDITION", condition))
    with pytest.raises(FlowError) as info:
        load_flows([path])
    assert expected in str(info.value)
    assert "Traceback" not in str(info.value)


def test_a_good_flow_loads(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.replace("CONDITION", "{column: time_last_change, op: gt, other: time_insert}"))
    assert "f" in load_flows([path]).flows
