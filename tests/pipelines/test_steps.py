"""Flow steps: every kind and option run over tiny Parquet files, and every planning error with its path."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from connectors import get_source
from connectors.core.extract import staged_schema
from pipelines.steps import (
    KINDS,
    OPS,
    PlannedStep,
    Step,
    StepError,
    arrow_columns,
    execute_step,
    parse_steps,
    plan_steps,
)

UTC = dt.UTC
ENTRIES = pa.table(
    {
        "id": [1, 2, 3, 4],
        "customers_id": [10, 20, None, 99],
        "users_id": [7, 7, 8, 8],
        "text": ["Design", "design review", None, "Meeting"],
        "duration": [3600, 5400, 1800, 900],
        "time_since": pa.array(
            [dt.datetime(2024, 1, 31, 23, 30, tzinfo=UTC), dt.datetime(2024, 2, 1, 9, tzinfo=UTC)] * 2,
            pa.timestamp("us", tz="UTC"),
        ),
    }
)
CUSTOMERS = pa.table({"id": [10, 20, 30], "name": ["Acme", "Beta", "Gamma"], "active": [True, False, True]})
RATES = pa.table({"customers_id": [10, 10, 20], "users_id": [7, 8, 7], "rate": [100.0, 80.0, 90.0]})
TABLES = {"entries": ENTRIES, "customers": CUSTOMERS, "rates": RATES}
SCHEMAS = {name: arrow_columns(table.schema) for name, table in TABLES.items()}


def run(
    tmp_path: Path, raw: list[dict[str, Any]], tables: dict[str, pa.Table] = TABLES, zone: str = "UTC"
) -> dict[str, Any]:
    """Plan ``raw`` over ``tables`` (in the flow time zone ``zone``), execute every step, return each
    step's rows (list of dicts)."""
    files: dict[str, list[str]] = {}
    for name, table in tables.items():
        path = tmp_path / "staging" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        files[name] = [str(path)]
    plan = plan_steps(parse_steps(raw), {n: arrow_columns(t.schema) for n, t in tables.items()}, zone)
    out: dict[str, Any] = {}
    for step in plan:
        path = tmp_path / "steps" / f"{step.name}.parquet"
        rows = execute_step(step, files, str(path))
        files[step.name] = [str(path)]
        table = pq.read_table(path)
        assert rows == table.num_rows
        assert table.column_names == [c for c, _ in step.columns]  # what the plan promised
        out[step.name] = table.to_pylist()
    return out


def error(raw: list[dict[str, Any]], inputs: dict[str, list[tuple[str, str]]] = SCHEMAS) -> StepError:
    with pytest.raises(StepError) as info:
        plan_steps(parse_steps(raw), inputs)
    return info.value


def _nulls_last(values: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((v is None, v or 0) for v in values)


def ids(rows: list[dict[str, Any]], key: str = "id") -> list[Any]:
    return [r[key] for r in rows]


# --- join -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("inner", [(1, 10), (2, 20)]),
        ("left", [(1, 10), (2, 20), (3, None), (4, None)]),
        ("right", [(1, 10), (2, 20), (None, 30)]),
        ("full", [(1, 10), (2, 20), (3, None), (4, None), (None, 30)]),
    ],
)
def test_join_how(tmp_path: Path, how: str, expected: list[tuple[Any, Any]]) -> None:
    raw = [
        {
            "join": {
                "left": "entries",
                "right": "customers",
                "on": {"customers_id": "id"},
                "how": how,
                "as": "j",
            }
        }
    ]
    rows = run(tmp_path, raw)["j"]
    assert sorted(((r["id"], r["id_customers"]) for r in rows), key=_nulls_last) == expected
    named = {r["id"]: r["name"] for r in rows}
    assert named.get(1) == "Acme"


def test_join_keeps_left_names_and_suffixes_right_clashes(tmp_path: Path) -> None:
    raw = [{"join": {"left": "entries", "right": "customers", "on": {"customers_id": "id"}, "as": "j"}}]
    plan = plan_steps(parse_steps(raw), SCHEMAS)[0]
    assert [c for c, _ in plan.columns] == [
        *ENTRIES.column_names,
        "id_customers",  # the right key is kept (named differently) and clashes with entries.id
        "name",
        "active",
    ]
    assert plan.inputs == ("entries", "customers")
    assert plan.input_columns == (tuple(SCHEMAS["entries"]), tuple(SCHEMAS["customers"]))


def test_join_custom_suffixes_apply_to_both_sides(tmp_path: Path) -> None:
    raw = [
        {
            "join": {
                "left": "entries",
                "right": "customers",
                "on": [["customers_id", "id"]],
                "suffixes": ["_entry", "_customer"],
                "as": "j",
            }
        }
    ]
    rows = run(tmp_path, raw)["j"]
    assert sorted(rows[0]) == sorted(
        [
            "id_entry",
            "customers_id",
            "users_id",
            "text",
            "duration",
            "time_since",
            "id_customer",
            "name",
            "active",
        ]
    )
    assert {(r["id_entry"], r["id_customer"]) for r in rows} == {(1, 10), (2, 20)}


def test_join_on_several_pairs_in_every_form(tmp_path: Path) -> None:
    forms = [
        {"customers_id": "customers_id", "users_id": "users_id"},
        [["customers_id", "customers_id"], ["users_id", "users_id"]],
        ["customers_id", "users_id"],
    ]
    results = []
    for i, on in enumerate(forms):
        raw = [{"join": {"left": "entries", "right": "rates", "on": on, "as": "j"}}]
        rows = run(tmp_path / str(i), raw)["j"]
        results.append(rows)
        # Same-named keys appear once; entry 2 is customer 20 / user 7, entry 1 customer 10 / user 7.
        assert sorted((r["id"], r["rate"]) for r in rows) == [(1, 100.0), (2, 90.0)]
        assert list(rows[0]).count("customers_id") == 1 and "customers_id_rates" not in rows[0]
    assert results[0] == results[1] == results[2]


def test_join_same_named_key_takes_the_right_value_for_right_and_any_for_full(tmp_path: Path) -> None:
    rates = pa.table({"customers_id": [10, 55], "rate": [1.0, 2.0]})
    for how, expected in [("right", [10, 55]), ("full", [10, 20, 55, 99, None])]:
        raw = [{"join": {"left": "entries", "right": "rates", "on": "customers_id", "how": how, "as": "j"}}]
        rows = run(tmp_path / how, raw, {"entries": ENTRIES, "rates": rates})["j"]
        got = sorted({r["customers_id"] for r in rows}, key=lambda v: (v is None, v or 0))
        assert got == expected


def test_join_on_written_in_yaml() -> None:
    # PyYAML reads a bare `on:` key as True (YAML 1.1); the model takes it back.
    (step,) = parse_steps(
        yaml.safe_load("- join: {left: entries, right: customers, on: {customers_id: id}, as: j}")
    )
    assert step.join is not None and step.join.key_pairs() == [(["on", "customers_id"], "customers_id", "id")]


def test_self_join_reads_the_input_once(tmp_path: Path) -> None:
    raw = [{"join": {"left": "entries", "right": "entries", "on": {"users_id": "users_id"}, "as": "pairs"}}]
    plan = plan_steps(parse_steps(raw), SCHEMAS)[0]
    assert plan.inputs == ("entries",)
    rows = run(tmp_path, raw)["pairs"]
    assert len(rows) == 8 and "id_entries" in rows[0]


# --- append -----------------------------------------------------------------------------------------


def test_append_unions_by_name_with_nulls_and_source(tmp_path: Path) -> None:
    clockodo = pa.table({"day": [dt.date(2024, 1, 2)], "hours": [1.5], "customer": ["Acme"]})
    clockify = pa.table({"hours": [2.0], "day": [dt.date(2024, 1, 3)], "tag": ["x"]})
    harvest = pa.table({"day": [dt.date(2024, 1, 4)], "hours": [0.25]})
    tables = {"clockodo": clockodo, "clockify": clockify, "harvest": harvest}
    raw = [{"append": {"inputs": ["clockodo", "clockify", "harvest"], "as": "all_rows"}}]
    rows = run(tmp_path, raw, tables)["all_rows"]
    assert rows == [
        {"day": dt.date(2024, 1, 2), "hours": 1.5, "customer": "Acme", "tag": None, "_source": "clockodo"},
        {"day": dt.date(2024, 1, 3), "hours": 2.0, "customer": None, "tag": "x", "_source": "clockify"},
        {"day": dt.date(2024, 1, 4), "hours": 0.25, "customer": None, "tag": None, "_source": "harvest"},
    ]
    plan = plan_steps(parse_steps(raw), {n: arrow_columns(t.schema) for n, t in tables.items()})[0]
    assert plan.params == ("clockodo", "clockify", "harvest")  # the names are bound, not pasted


def test_append_source_column_is_configurable_or_absent(tmp_path: Path) -> None:
    raw = [
        {"append": {"inputs": ["customers", "rates"], "source_column": "tool", "as": "a"}},
        {"append": {"inputs": ["customers", "rates"], "source_column": None, "as": "b"}},
    ]
    out = run(tmp_path, raw)
    assert [r["tool"] for r in out["a"]] == ["customers"] * 3 + ["rates"] * 3
    assert "_source" not in out["a"][0]
    assert list(out["b"][0]) == ["id", "name", "active", "customers_id", "users_id", "rate"]


# --- select, rename ---------------------------------------------------------------------------------


def test_select_columns_in_order_and_exclude(tmp_path: Path) -> None:
    raw = [
        {"select": {"from": "customers", "columns": ["name", "id"], "as": "picked"}},
        {"select": {"from": "customers", "exclude": ["active"], "as": "dropped"}},
    ]
    out = run(tmp_path, raw)
    assert out["picked"][0] == {"name": "Acme", "id": 10}
    assert list(out["dropped"][0]) == ["id", "name"]


def test_rename_keeps_order_and_can_swap(tmp_path: Path) -> None:
    raw = [
        {
            "rename": {
                "from": "customers",
                "columns": {"id": "name", "name": "id", "active": "is_active"},
                "as": "r",
            }
        }
    ]
    rows = run(tmp_path, raw)["r"]
    assert rows[0] == {"name": 10, "id": "Acme", "is_active": True}


# --- filter -----------------------------------------------------------------------------------------

FILTERED = pa.table(
    {
        "id": [1, 2, 3, 4, 5],
        "text": ["Design", "design review", None, "Meeting", "Dev"],
        "hours": [1.0, 2.5, None, 4.0, 0.5],
        "number": ["5", "6", None, "7", "8"],
        "day": [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)],
        "started": pa.array(
            [dt.datetime(2024, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3, 4, 5)], pa.timestamp("us", tz="UTC")
        ),
        "billable": [True, False, None, True, False],
    }
)


@pytest.mark.parametrize(
    ("column", "op", "value", "expected"),
    [
        ("text", "eq", "Design", [1]),
        ("text", "ne", "Design", [2, 3, 4, 5]),  # ne keeps the null row
        ("hours", "gt", 1.0, [2, 4]),
        ("hours", "ge", 1, [1, 2, 4]),
        ("hours", "lt", 1.0, [5]),
        ("hours", "le", 1.0, [1, 5]),
        ("text", "in", ["Design", "Dev"], [1, 5]),
        ("text", "not_in", ["Design", "Dev"], [2, 3, 4]),  # not_in keeps the null row
        ("text", "contains", "esign", [1, 2]),
        ("text", "starts_with", "De", [1, 5]),
        ("text", "ends_with", "ing", [4]),
        ("text", "matches", "(?i)^design", [1, 2]),  # anywhere unless anchored; (?i) ignores case
        ("text", "not_matches", "^D", [2, 3, 4]),  # not_matches keeps the null row
        ("text", "is_null", None, [3]),
        ("text", "not_null", None, [1, 2, 4, 5]),
        ("hours", "between", [1, 4], [1, 2, 4]),
        ("billable", "eq", True, [1, 4]),
        ("number", "eq", 5, [1]),  # a number against a text column means the text "5"
        ("day", "ge", dt.date(2024, 1, 4), [4, 5]),
        ("day", "lt", "2024-01-03", [1, 2]),
        ("started", "ge", dt.date(2024, 1, 4), [4, 5]),  # a date against a timestamp: midnight UTC
        ("started", "between", ["2024-01-02T00:00:00Z", dt.datetime(2024, 1, 3, 12, tzinfo=UTC)], [2, 3]),
    ],
)
def test_filter_ops(tmp_path: Path, column: str, op: str, value: Any, expected: list[int]) -> None:
    cond = {"column": column, "op": op} | ({} if op in ("is_null", "not_null") else {"value": value})
    raw = [{"filter": {"from": "t", "where": [cond], "as": "f"}}]
    assert ids(run(tmp_path, raw, {"t": FILTERED})["f"]) == expected


def test_every_op_is_tested() -> None:
    tested = {p.id.split("-")[1] for p in _filter_cases()}
    assert tested == set(OPS)


def _filter_cases() -> list[Any]:
    marks = test_filter_ops.pytestmark  # type: ignore[attr-defined]
    (mark,) = [m for m in marks if m.name == "parametrize"]
    return [pytest.param(*args, id="-".join(map(str, args[:2]))) for args in mark.args[1]]


def test_filter_all_and_any(tmp_path: Path) -> None:
    where = [
        {"column": "hours", "op": "ge", "value": 1},
        {"column": "text", "op": "starts_with", "value": "De"},
    ]
    raw = [
        {"filter": {"from": "t", "where": where, "as": "both"}},
        {"filter": {"from": "t", "where": where, "match": "any", "as": "either"}},
    ]
    out = run(tmp_path, raw, {"t": FILTERED})
    assert ids(out["both"]) == [1]
    assert ids(out["either"]) == [1, 2, 4, 5]


def test_filter_value_is_a_bound_parameter_not_sql(tmp_path: Path) -> None:
    evil = "x'); DROP TABLE t; --"
    table = pa.table({"id": [1, 2], "text": [evil, "plain"]})
    raw = [{"filter": {"from": "t", "where": [{"column": "text", "op": "eq", "value": evil}], "as": "f"}}]
    (plan,) = plan_steps(parse_steps(raw), {"t": arrow_columns(table.schema)})
    assert evil not in plan.sql and plan.params == (evil,)
    assert ids(run(tmp_path, raw, {"t": table})["f"]) == [1]  # matched as text; nothing dropped
    raw[0]["filter"]["where"][0]["op"] = "contains"
    assert ids(run(tmp_path / "again", raw, {"t": table})["f"]) == [1]


def test_quoted_identifiers_survive_odd_column_names(tmp_path: Path) -> None:
    table = pa.table({'we"ird name': [1, 2], "select": ["a", "b"]})
    raw = [
        {"filter": {"from": "t", "where": [{"column": 'we"ird name', "op": "gt", "value": 1}], "as": "f"}},
        {"rename": {"from": "f", "columns": {"select": 'fr"om'}, "as": "r"}},
    ]
    assert run(tmp_path, raw, {"t": table})["r"] == [{'we"ird name': 2, 'fr"om': "b"}]


# --- derive, aggregate, sort ------------------------------------------------------------------------


def test_derive_adds_and_replaces_columns(tmp_path: Path) -> None:
    raw = [
        {
            "derive": {
                "from": "entries",
                "columns": {
                    "hours": "round(duration / 3600.0, 2)  -- a trailing comment is fine",
                    "text": "coalesce(text, '(none)')",
                    "month": "strftime(time_since, '%Y-%m')",
                    "user_total": "sum(duration) OVER (PARTITION BY users_id)",
                },
                "as": "d",
            }
        }
    ]
    (plan,) = plan_steps(parse_steps(raw), SCHEMAS)
    assert dict(plan.columns)["hours"] == "DOUBLE" and list(dict(plan.columns))[3] == "text"
    rows = {r["id"]: r for r in run(tmp_path, raw)["d"]}
    assert rows[2]["hours"] == 1.5 and rows[3]["text"] == "(none)" and rows[1]["text"] == "Design"
    assert rows[1]["month"] == "2024-01" and rows[2]["month"] == "2024-02"  # months in UTC
    assert rows[1]["user_total"] == 9000


def test_aggregate_every_metric_grouped_and_ordered(tmp_path: Path) -> None:
    metrics = {
        "seconds": {"sum": "duration"},
        "average": {"avg": "duration"},
        "shortest": {"min": "duration"},
        "latest": {"max": "time_since"},
        "with_text": {"count": "text"},  # nulls are not counted
        "entries": {"count": "*"},
        "customers": {"count_distinct": "customers_id"},
    }
    raw = [{"aggregate": {"from": "entries", "group_by": ["users_id"], "metrics": metrics, "as": "a"}}]
    (plan,) = plan_steps(parse_steps(raw), SCHEMAS)
    assert dict(plan.columns)["seconds"] == "BIGINT"  # not HUGEINT: whole numbers stay int64
    rows = run(tmp_path, raw)["a"]
    assert rows == [
        {
            "users_id": 7,
            "seconds": 9000,
            "average": 4500.0,
            "shortest": 3600,
            "latest": dt.datetime(2024, 2, 1, 9, tzinfo=UTC),
            "with_text": 2,
            "entries": 2,
            "customers": 2,
        },
        {
            "users_id": 8,
            "seconds": 2700,
            "average": 1350.0,
            "shortest": 900,
            "latest": dt.datetime(2024, 2, 1, 9, tzinfo=UTC),
            "with_text": 1,
            "entries": 2,
            "customers": 1,
        },
    ]


def test_aggregate_orders_rows_by_the_groups(tmp_path: Path) -> None:
    table = pa.table({"customer": ["Gamma", "Acme", "Beta", "Acme", None, "Delta"], "hours": [1.0] * 6})
    raw = [
        {"aggregate": {"from": "t", "group_by": ["customer"], "metrics": {"h": {"sum": "hours"}}, "as": "a"}}
    ]
    rows = run(tmp_path, raw, {"t": table})["a"]
    assert [r["customer"] for r in rows] == ["Acme", "Beta", "Delta", "Gamma", None]


def test_aggregate_without_group_by_is_one_row_even_when_empty(tmp_path: Path) -> None:
    raw = [
        {
            "aggregate": {
                "from": "entries",
                "metrics": {"n": {"count": "*"}, "s": {"sum": "duration"}},
                "as": "a",
            }
        }
    ]
    assert run(tmp_path, raw)["a"] == [{"n": 4, "s": 11700}]
    (plan,) = plan_steps(parse_steps(raw), SCHEMAS)
    out = tmp_path / "empty.parquet"
    assert execute_step(plan, {"entries": []}, str(out)) == 1
    assert pq.read_table(out).to_pylist() == [{"n": 0, "s": None}]


def test_sort_multi_key_asc_desc_and_nulls(tmp_path: Path) -> None:
    raw = [
        {"sort": {"from": "entries", "by": ["users_id", {"column": "duration", "desc": True}], "as": "s1"}},
        {"sort": {"from": "entries", "by": [{"column": "customers_id", "desc": True}], "as": "s2"}},
        {"sort": {"from": "entries", "by": [{"column": "customers_id", "nulls": "first"}], "as": "s3"}},
    ]
    out = run(tmp_path, raw)
    assert ids(out["s1"]) == [2, 1, 3, 4]
    assert ids(out["s2"]) == [4, 2, 1, 3]  # nulls last by default, also descending
    assert ids(out["s3"]) == [3, 1, 2, 4]


def test_steps_chain_and_types_reach_parquet(tmp_path: Path) -> None:
    raw = [
        {
            "join": {
                "left": "entries",
                "right": "customers",
                "on": {"customers_id": "id"},
                "how": "left",
                "as": "b",
            }
        },
        {"filter": {"from": "b", "where": [{"column": "active", "op": "eq", "value": True}], "as": "f"}},
        {"select": {"from": "f", "columns": ["id", "name", "time_since"], "as": "s"}},
    ]
    plan = plan_steps(parse_steps(raw), SCHEMAS)
    assert [p.name for p in plan] == ["b", "f", "s"]
    assert plan[2].columns == (
        ("id", "BIGINT"),
        ("name", "VARCHAR"),
        ("time_since", "TIMESTAMP WITH TIME ZONE"),
    )
    out = run(tmp_path, raw)
    assert out["s"] == [{"id": 1, "name": "Acme", "time_since": dt.datetime(2024, 1, 31, 23, 30, tzinfo=UTC)}]
    assert pq.read_schema(tmp_path / "steps" / "s.parquet").field("time_since").type == pa.timestamp(
        "us", tz="UTC"
    )


# --- execute_step: files ----------------------------------------------------------------------------


def _plan(raw: list[dict[str, Any]]) -> PlannedStep:
    return plan_steps(parse_steps(raw), SCHEMAS)[-1]


def test_input_without_files_is_an_empty_typed_table(tmp_path: Path) -> None:
    step = _plan(
        [
            {
                "join": {
                    "left": "entries",
                    "right": "customers",
                    "on": {"customers_id": "id"},
                    "how": "left",
                    "as": "j",
                }
            }
        ]
    )
    entries = tmp_path / "entries.parquet"
    pq.write_table(ENTRIES, entries)
    out = tmp_path / "j.parquet"
    assert execute_step(step, {"entries": [str(entries)], "customers": []}, str(out)) == 4
    table = pq.read_table(out)
    assert table.column("name").to_pylist() == [None] * 4
    assert execute_step(step, {"entries": [], "customers": []}, str(out)) == 0
    assert pq.read_schema(out).names == [c for c, _ in step.columns]


def test_files_are_unioned_by_name_and_cast_to_the_plan(tmp_path: Path) -> None:
    step = _plan([{"select": {"from": "customers", "columns": ["id", "name", "active"], "as": "s"}}])
    old = tmp_path / "2024.parquet"
    new = tmp_path / "2025.parquet"
    pq.write_table(pa.table({"name": ["Old"], "id": pa.array([1], pa.int32())}), old)  # no `active`, int32
    pq.write_table(CUSTOMERS.append_column("extra", pa.array([1, 2, 3])), new)
    out = tmp_path / "s.parquet"
    assert execute_step(step, {"customers": [str(old), str(new)]}, str(out)) == 4
    table = pq.read_table(out)
    assert table.schema.field("id").type == pa.int64()
    assert sorted(table.column("id").to_pylist()) == [1, 10, 20, 30]
    assert table.column("active").null_count == 1
    # A column missing from every file reads as null rather than failing.
    assert execute_step(step, {"customers": [str(old)]}, str(out)) == 1
    assert pq.read_table(out).to_pylist() == [{"id": 1, "name": "Old", "active": None}]


def test_output_is_replaced_atomically_and_kept_when_a_run_fails(tmp_path: Path) -> None:
    step = _plan([{"derive": {"from": "customers", "columns": {"n": "CAST(name AS INTEGER)"}, "as": "d"}}])
    out = tmp_path / "out" / "d.parquet"
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"id": [1], "name": ["42"], "active": [True]}), good)
    assert execute_step(step, {"customers": [str(good)]}, str(out)) == 1
    bad = tmp_path / "bad.parquet"
    pq.write_table(CUSTOMERS, bad)  # "Acme" is not an integer: fails while running
    with pytest.raises(Exception, match="Acme"):
        execute_step(step, {"customers": [str(bad)]}, str(out))
    assert pq.read_table(out).to_pylist() == [{"id": 1, "name": "42", "active": True, "n": 42}]
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.parquet"]  # no temp or spill files left


def test_execute_needs_every_input_named(tmp_path: Path) -> None:
    step = _plan([{"sort": {"from": "entries", "by": ["id"], "as": "s"}}])
    with pytest.raises(ValueError, match="no files given"):
        execute_step(step, {}, str(tmp_path / "s.parquet"))


# --- parse errors -----------------------------------------------------------------------------------


def parse_error(raw: Any) -> StepError:
    with pytest.raises(StepError) as info:
        parse_steps(raw)
    return info.value


def test_unknown_kind_lists_the_kinds() -> None:
    exc = parse_error([{"sort": {"from": "entries", "by": ["id"], "as": "s"}}, {"merge": {"as": "m"}}])
    assert exc.path == [1]
    assert "unknown step kind 'merge'" in exc.message and all(k in exc.message for k in KINDS)


def test_step_with_two_keys_or_as_outside() -> None:
    exc = parse_error([{"join": {"left": "a", "right": "b", "on": "id"}, "as": "x"}])
    assert exc.path == [0] and "as: inside" in exc.message


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        (
            {"filter": {"from": "e", "where": [{"column": "x", "op": "like", "value": 1}], "as": "f"}},
            [0, "filter", "where", 0, "op"],
            "'eq'",
        ),
        (
            {"filter": {"from": "e", "where": [{"column": "x", "op": "in", "value": 1}], "as": "f"}},
            [0, "filter", "where", 0, "value"],
            "non-empty list",
        ),
        (
            {"filter": {"from": "e", "where": [{"column": "x", "op": "between", "value": [1]}], "as": "f"}},
            [0, "filter", "where", 0, "value"],
            "[low, high]",
        ),
        (
            {"filter": {"from": "e", "where": [{"column": "x", "op": "is_null", "value": 1}], "as": "f"}},
            [0, "filter", "where", 0, "value"],
            "takes no value",
        ),
        (
            {"filter": {"from": "e", "where": [{"column": "x", "op": "eq"}], "as": "f"}},
            [0, "filter", "where", 0],
            "needs a value",
        ),
        (
            {"filter": {"from": "e", "where": [{"column": "x", "op": "eq", "value": None}], "as": "f"}},
            [0, "filter", "where", 0, "value"],
            "is_null",
        ),
        (
            {"filter": {"from": "e", "where": [{"column": "x", "op": "contains", "value": 5}], "as": "f"}},
            [0, "filter", "where", 0, "value"],
            "text value",
        ),
        ({"join": {"left": "a", "right": "b", "on": {}, "as": "j"}}, [0, "join", "on"], "at least one"),
        (
            {"join": {"left": "a", "right": "b", "on": "id", "how": "outer", "as": "j"}},
            [0, "join", "how"],
            "'full'",
        ),
        ({"join": {"left": "a", "right": "b", "on": "id"}}, [0, "join", "as"], "Field required"),
        ({"append": {"inputs": ["a"], "as": "x"}}, [0, "append", "inputs"], "at least 2"),
        ({"append": {"inputs": ["a", "a"], "as": "x"}}, [0, "append", "inputs"], "listed twice"),
        ({"select": {"from": "a", "columns": ["x"], "exclude": ["y"], "as": "s"}}, [0, "select"], "not both"),
        (
            {"aggregate": {"from": "a", "metrics": {"n": {"median": "x"}}, "as": "g"}},
            [0, "aggregate", "metrics", "n", "median"],
            "unknown key",
        ),
        (
            {"aggregate": {"from": "a", "metrics": {"n": {"sum": "*"}}, "as": "g"}},
            [0, "aggregate", "metrics", "n"],
            "only works with count",
        ),
        (
            {"sort": {"from": "a", "by": [{"column": "x", "desk": True}], "as": "s"}},
            [0, "sort", "by", 0, "desk"],
            "unknown key",
        ),
        ({"sort": {"from": "a", "by": ["x"], "as": "Sorted"}}, [0, "sort", "as"], "pattern"),
    ],
)
def test_shape_errors(raw: dict[str, Any], path: list[Any], words: str) -> None:
    exc = parse_error([raw])
    assert exc.path == path
    assert words in exc.message


# --- planning errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        # references
        (
            [{"join": {"left": "entries", "right": "clients", "on": "id", "as": "j"}}],
            [0, "join", "right"],
            "neither a source nor a step above it; sources: customers, entries, rates",
        ),
        (
            [
                {"sort": {"from": "later", "by": ["id"], "as": "s"}},
                {"sort": {"from": "entries", "by": ["id"], "as": "later"}},
            ],
            [0, "sort", "from"],
            "defined below it (steps[1]); move 'later' above 's'",
        ),
        (
            [
                {"sort": {"from": "b", "by": ["id"], "as": "a"}},
                {"sort": {"from": "a", "by": ["id"], "as": "b"}},
            ],
            [0, "sort", "from"],
            "cycle: a -> b -> a",
        ),
        ([{"sort": {"from": "s", "by": ["id"], "as": "s"}}], [0, "sort", "from"], "its own result"),
        (
            [
                {"sort": {"from": "entries", "by": ["id"], "as": "s"}},
                {"sort": {"from": "entries", "by": ["id"], "as": "s"}},
            ],
            [1, "sort", "as"],
            "two steps are named 's'",
        ),
        (
            [{"sort": {"from": "entries", "by": ["id"], "as": "customers"}}],
            [0, "sort", "as"],
            "already a source",
        ),
        # columns
        (
            [{"join": {"left": "entries", "right": "customers", "on": {"customer_id": "id"}, "as": "j"}}],
            [0, "join", "on", "customer_id"],
            "'entries' has no column 'customer_id' (did you mean 'customers_id'?)",
        ),
        (
            [{"join": {"left": "entries", "right": "customers", "on": [["customers_id", "key"]], "as": "j"}}],
            [0, "join", "on", 0],
            "'customers' has no column 'key'; its columns: id, name, active",
        ),
        (
            [{"join": {"left": "entries", "right": "customers", "on": {"text": "id"}, "as": "j"}}],
            [0, "join", "on", "text"],
            "key 'text' is VARCHAR but 'id' is BIGINT",
        ),
        (
            [
                {
                    "join": {
                        "left": "entries",
                        "right": "customers",
                        "on": {"customers_id": "id"},
                        "suffixes": ["", ""],
                        "as": "j",
                    }
                }
            ],
            [0, "join", "suffixes"],
            "column 'id' twice",
        ),
        (
            [
                {
                    "filter": {
                        "from": "entries",
                        "where": [{"column": "txt", "op": "eq", "value": "a"}],
                        "as": "f",
                    }
                }
            ],
            [0, "filter", "where", 0, "column"],
            "no column 'txt'",
        ),
        (
            [
                {
                    "filter": {
                        "from": "entries",
                        "where": [{"column": "duration", "op": "eq", "value": "an hour"}],
                        "as": "f",
                    }
                }
            ],
            [0, "filter", "where", 0, "value"],
            "Could not convert string 'an hour'",
        ),
        (
            [
                {
                    "filter": {
                        "from": "entries",
                        "where": [{"column": "duration", "op": "contains", "value": "1"}],
                        "as": "f",
                    }
                }
            ],
            [0, "filter", "where", 0, "op"],
            "contains works on text",
        ),
        (
            [{"select": {"from": "entries", "columns": ["id", "durration"], "as": "s"}}],
            [0, "select", "columns", 1],
            "did you mean 'duration'",
        ),
        (
            [{"select": {"from": "entries", "exclude": ["nope"], "as": "s"}}],
            [0, "select", "exclude", 0],
            "no column 'nope'",
        ),
        (
            [{"select": {"from": "customers", "exclude": ["id", "name", "active"], "as": "s"}}],
            [0, "select", "exclude"],
            "every column",
        ),
        (
            [{"rename": {"from": "customers", "columns": {"nme": "customer"}, "as": "r"}}],
            [0, "rename", "columns", "nme"],
            "no column 'nme'",
        ),
        (
            [{"rename": {"from": "customers", "columns": {"name": "ID"}, "as": "r"}}],
            [0, "rename", "columns", "name"],
            "would name both",
        ),
        (
            [
                {
                    "aggregate": {
                        "from": "entries",
                        "group_by": ["user"],
                        "metrics": {"n": {"count": "*"}},
                        "as": "a",
                    }
                }
            ],
            [0, "aggregate", "group_by", 0],
            "no column 'user'",
        ),
        (
            [{"aggregate": {"from": "entries", "metrics": {"n": {"sum": "hours"}}, "as": "a"}}],
            [0, "aggregate", "metrics", "n", "sum"],
            "no column 'hours'",
        ),
        (
            [{"aggregate": {"from": "entries", "metrics": {"n": {"avg": "text"}}, "as": "a"}}],
            [0, "aggregate", "metrics", "n", "avg"],
            "needs a number column",
        ),
        (
            [
                {
                    "aggregate": {
                        "from": "entries",
                        "group_by": ["users_id"],
                        "metrics": {"users_id": {"count": "*"}},
                        "as": "a",
                    }
                }
            ],
            [0, "aggregate", "metrics", "users_id"],
            "also a group_by column",
        ),
        (
            [{"sort": {"from": "entries", "by": ["id", {"column": "when", "desc": True}], "as": "s"}}],
            [0, "sort", "by", 1],
            "no column 'when'",
        ),
        (
            [
                {"append": {"inputs": ["entries", "customers"], "as": "a"}},
                {"append": {"inputs": ["rates", "a"], "as": "b"}},
            ],
            [1, "append", "source_column"],
            "'a' already has a column '_source'",
        ),
        # derive expressions
        (
            [{"derive": {"from": "entries", "columns": {"hours": "durration / 3600"}, "as": "d"}}],
            [0, "derive", "columns", "hours"],
            'column "durration" not found',
        ),
        (
            [
                {
                    "derive": {
                        "from": "entries",
                        "columns": {"hours": "duration / 3600", "days": "hours / 8"},
                        "as": "d",
                    }
                }
            ],
            [0, "derive", "columns", "days"],
            "second derive step",
        ),
        (
            [{"derive": {"from": "entries", "columns": {"total": "sum(duration)"}, "as": "d"}}],
            [0, "derive", "columns", "total"],
            "use an aggregate step",
        ),
        (
            [{"derive": {"from": "entries", "columns": {"h": "duration / 3600 AS hours"}, "as": "d"}}],
            [0, "derive", "columns", "h"],
            "leave out 'AS hours'",
        ),
        (
            [{"derive": {"from": "entries", "columns": {"h": "1); DROP TABLE entries; --"}, "as": "d"}}],
            [0, "derive", "columns", "h"],
            "not a SQL expression",
        ),
        (
            [{"derive": {"from": "entries", "columns": {"h": "1 FROM customers"}, "as": "d"}}],
            [0, "derive", "columns", "h"],
            "write one SQL expression",
        ),
        (
            [{"derive": {"from": "entries", "columns": {"h": "duration +"}, "as": "d"}}],
            [0, "derive", "columns", "h"],
            "syntax error",
        ),
        (
            [{"derive": {"from": "entries", "columns": {"Duration": "1"}, "as": "d"}}],
            [0, "derive", "columns", "Duration"],
            "only in case",
        ),
    ],
)
def test_plan_errors(raw: list[dict[str, Any]], path: list[Any], words: str) -> None:
    exc = error(raw)
    assert exc.path == path
    assert words in exc.message
    assert str(exc).startswith(f"steps.{'.'.join(map(str, path))}: ")


def test_derive_cannot_read_tables_other_than_its_input() -> None:
    # Planning binds each step over its own inputs only, as execution does.
    raw = [{"derive": {"from": "entries", "columns": {"n": "(SELECT count(*) FROM customers)"}, "as": "d"}}]
    exc = error(raw)
    assert exc.path == [0, "derive", "columns", "n"] and "customers" in exc.message


def test_inputs_must_have_real_types() -> None:
    with pytest.raises(ValueError, match="not a DuckDB type"):
        plan_steps([], {"t": [("a", "BIGINT); DROP TABLE t; --")]})


def test_step_model_lists_every_kind() -> None:
    assert set(Step.model_fields) == set(KINDS)


# --- docs -------------------------------------------------------------------------------------------

DOCS = Path(__file__).parents[2] / "docs" / "flows.md"
DOC_SOURCES = {  # source name used in the docs -> (connector, entity)
    "entries": ("clockodo", "entries"),
    "customers": ("clockodo", "customers"),
    "users": ("clockodo", "users"),
    "clockodo_entries": ("clockodo", "entries"),
    "clockify_entries": ("clockify", "time_entries"),
    "harvest_entries": ("harvest", "time_entries"),
    "projects": ("clockodo", "projects"),
    "absences": ("clockodo", "absences"),
    "non_business_days": ("clockodo", "non_business_days"),
    "assignments": ("clockify", "scheduling_assignments"),
    "time_off": ("clockify", "time_off_requests"),
}


def _staged(connector: str, entity: str) -> list[tuple[str, str]]:
    declared = next(e for e in get_source(connector).entities if e.name == entity)
    return arrow_columns(staged_schema(declared))


def test_every_docs_example_plans_against_real_schemas() -> None:
    section = DOCS.read_text(encoding="utf-8").split("\n## Steps\n", 1)[1]
    snippets = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    inputs = {name: _staged(*where) for name, where in DOC_SOURCES.items()}
    kinds = set()
    for snippet in snippets:
        steps = parse_steps(yaml.safe_load(snippet)["steps"])
        plan_steps(steps, inputs)
        kinds |= {s.kind for s in steps}
    assert kinds == set(KINDS)
