"""Flow SQL sees the step's inputs and nothing else: no files, URLs, extensions, settings or environment.

Every attack is tried twice: in a flow file (refused by ``couplet flows validate`` at the file, line
and key of the expression) and in a plan handed straight to ``execute_step`` (refused by the run's
locked connection). Ordinary steps still run, with relative paths and spilling.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.cli import main as couplet
from pipelines.loader import load_catalog
from pipelines.steps import (
    PlannedStep,
    StepError,
    StepInput,
    arrow_columns,
    execute_step,
    parse_steps,
    plan_steps,
)
from pipelines.steps_lockdown import connect, refusal

SECRET = "s3cr3t-api-key-value"
ONLY_INPUTS = "flow SQL may only use the step's inputs (entries)"

FLOW = """\
connections:
  cl: {connector: clockodo, api_user: {env: CL_USER}, api_key: {env: CL_KEY}}
flows:
  f:
    sources:
      entries: {connection: cl, entity: entries}
    steps:
      - derive:
          from: entries
          columns:
            hours: "duration / 3600.0"
            x: %s
          as: derived
    outputs:
      - {from: derived, to: {duckdb: {table: derived}}}
"""
X_LINE = 12  # the line of `x:` in FLOW


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of files a flow must not read; the secret is in the environment too."""
    monkeypatch.setenv("COUPLET_TEST_SECRET", SECRET)
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "keys.csv").write_text(f"key\n{SECRET}\n")
    (folder / "keys.json").write_text(json.dumps({"key": SECRET}))
    pq.write_table(pa.table({"key": [SECRET]}), folder / "keys.parquet")
    return folder


def attacks(folder: Path) -> dict[str, str]:
    """Derive expressions that try to reach outside the step's inputs, by name."""
    out = folder.parent / "stolen"
    return {
        "read_text": "(SELECT content FROM read_text('/proc/self/environ'))",
        "read_text_file": f"(SELECT content FROM read_text('{folder}/keys.csv'))",
        "read_blob": f"(SELECT content::VARCHAR FROM read_blob('{folder}/keys.csv'))",
        "read_csv": f"(SELECT max(key) FROM read_csv('{folder}/keys.csv'))",
        "read_json": f"(SELECT max(key) FROM read_json('{folder}/keys.json'))",
        "read_parquet": f"(SELECT max(key) FROM read_parquet('{folder}/keys.parquet'))",
        "file_as_table": f"(SELECT max(key) FROM '{folder}/keys.csv')",
        "glob": f"(SELECT max(file) FROM glob('{folder}/*'))",
        "https": "(SELECT count(*) FROM read_parquet('https://example.com/x.parquet'))",
        "s3": "(SELECT count(*) FROM 's3://bucket/keys.csv')",
        "extension": f"(SELECT count(*) FROM read_xlsx('{folder}/keys.xlsx'))",
        "getenv": "getenv('COUPLET_TEST_SECRET')",
        "copy": f"1); COPY (SELECT 1) TO '{out}.csv'; SELECT (1",
        "copy_alone": f"1; COPY (SELECT 1) TO '{out}.csv'",
        "attach": f"1); ATTACH '{out}.duckdb' AS stolen; SELECT (1",
        "install": "1); INSTALL httpfs; SELECT (1",
        "load": "1); LOAD httpfs; SELECT (1",
        "set": "1); SET memory_limit = '64GB'; SELECT (1",
        "set_access": "1); SET enable_external_access = true; SELECT (1",
        "pragma": "1); PRAGMA threads = 64; SELECT (1",
    }


ATTACKS = list(attacks(Path("/x")))


def _no_leak(text: str, folder: Path) -> None:
    assert SECRET not in text
    assert "Traceback" not in text
    assert not list(folder.parent.glob("stolen*"))  # nothing was written


# --- refused when the flow file loads ---------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS)
def test_validate_refuses_at_the_expressions_file_line_and_key(
    attack: str, secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW % json.dumps(attacks(secrets)[attack]))
    catalog = load_catalog([path])
    assert [(p.file, p.line, p.path) for p in catalog.problems] == [
        (str(path), X_LINE, "flows.f.steps.0.derive.columns.x")
    ]
    assert ONLY_INPUTS in catalog.problems[0].message
    assert "f" not in catalog.flow_file.flows  # set aside: it never runs
    _no_leak(str(catalog.problems[0]), secrets)


@pytest.mark.parametrize("attack", ["read_csv", "getenv", "copy", "https"])
def test_couplet_flows_validate_says_so_without_a_traceback(
    attack: str, secrets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW % json.dumps(attacks(secrets)[attack]))
    assert couplet(["flows", "validate", str(path)]) == 2
    said = capsys.readouterr()
    text = said.out + said.err
    assert f"{path}:{X_LINE}: flows.f.steps.0.derive.columns.x: step 'derived' (derive): " in text
    assert ONLY_INPUTS in text
    _no_leak(text, secrets)


# --- refused when a step runs -------------------------------------------------------------------------

ENTRIES = pa.table({"id": [1, 2], "duration": [3600, 1800], "customers_id": [10, 20]})


def _planned() -> PlannedStep:
    raw = [{"derive": {"from": "entries", "columns": {"x": "1"}, "as": "derived"}}]
    return plan_steps(parse_steps(raw), {"entries": arrow_columns(ENTRIES.schema)})[0]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_run_refuses_sql_that_planning_never_saw(attack: str, secrets: Path, tmp_path: Path) -> None:
    staged = tmp_path / "staged.parquet"
    pq.write_table(ENTRIES, staged)
    expression = attacks(secrets)[attack]
    step = dataclasses.replace(_planned(), sql=f'SELECT *, (\n{expression}\n) AS "x" FROM "entries"')
    out = tmp_path / "steps" / "derived.parquet"
    with pytest.raises(StepError) as info:
        execute_step(step, {"entries": [str(staged)]}, str(out))
    assert info.value.path == [0, "derive"]
    assert str(info.value).startswith(f"steps.0.derive: step 'derived' (derive): {ONLY_INPUTS}")
    assert not out.exists()
    _no_leak(str(info.value), secrets)


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1) TO '{out}.csv'",
        "ATTACH '{out}.duckdb' AS stolen",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET memory_limit = '64GB'",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET threads",
        "PRAGMA threads = 64",
        "EXPORT DATABASE '{out}'",
        "CREATE SECRET (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "SELECT * FROM read_text('{folder}/keys.csv')",
    ],
)
def test_the_run_connection_refuses_every_way_out(statement: str, secrets: Path) -> None:
    # Beyond the one query a step runs: the connection itself refuses each statement, should any
    # ever reach it, and the refusal is told apart from a mistake in the SQL.
    sql = statement.format(out=secrets.parent / "stolen", folder=secrets)
    with connect([str(secrets / "allowed.parquet")]) as con, pytest.raises(duckdb.Error) as info:
        con.execute(sql)
    assert refusal(info.value) is not None, info.value
    assert not list(secrets.parent.glob("stolen*"))


def test_a_plain_sql_mistake_is_not_called_a_refusal() -> None:
    with connect() as con, pytest.raises(duckdb.Error) as info:
        con.execute("SELECT no_such_column")
    assert refusal(info.value) is None


# --- ordinary steps still work ---------------------------------------------------------------------


def test_steps_run_over_relative_paths_and_keep_the_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Staging under the default data dir gives relative paths: the allow-list must match them.
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    days = [dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    pq.write_table(
        pa.table(
            {
                "id": [1, 2, 3],
                "customers_id": [10, 20, 10],
                "duration": [3600, 1800, 900],
                "_window_start": days,
            }
        ),
        "data/entries.parquet",
    )
    pq.write_table(pa.table({"id": [10, 20], "name": ["Acme", "Beta"]}), "data/customers.parquet")
    schemas = {
        "entries": arrow_columns(pq.read_schema("data/entries.parquet")),
        "customers": arrow_columns(pq.read_schema("data/customers.parquet")),
    }
    raw = [
        {"join": {"left": "entries", "right": "customers", "on": {"customers_id": "id"}, "as": "billed"}},
        {"derive": {"from": "billed", "columns": {"hours": "duration / 3600.0"}, "as": "hours"}},
        {
            "filter": {
                "from": "hours",
                "where": [{"column": "name", "op": "eq", "value": "Acme"}],
                "as": "acme",
            }
        },
        {
            "aggregate": {
                "from": "hours",
                "group_by": ["name"],
                "metrics": {"h": {"sum": "hours"}},
                "as": "per",
            }
        },
        {"append": {"inputs": ["acme", "hours"], "as": "both"}},
        {"sort": {"from": "both", "by": ["id"], "as": "sorted"}},
    ]
    files: dict[str, StepInput] = {
        "entries": StepInput(("data/entries.parquet",), (days[0], days[2])),
        "customers": StepInput(("data/customers.parquet",)),
    }
    rows: dict[str, list[dict]] = {}
    for step in plan_steps(parse_steps(raw), schemas):
        out = f"data/steps/{step.name}.parquet"
        execute_step(step, {n: files[n] for n in step.inputs}, out)
        files[step.name] = StepInput((out,))
        rows[step.name] = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows["billed"]] == [1, 2]  # the third day is outside the range
    assert [r["hours"] for r in rows["acme"]] == [1.0]
    assert rows["per"] == [{"name": "Acme", "h": 1.0}, {"name": "Beta", "h": 0.5}]
    assert [r["id"] for r in rows["sorted"]] == [1, 1, 2]


def test_a_sort_larger_than_memory_still_spills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The spill folder is set before the lock; the sort would not fit in the memory limit without it.
    monkeypatch.setenv("COUPLET_DUCKDB_MEMORY_LIMIT", "32MB")
    n = 600_000
    table = pa.table(
        {"id": pa.array(range(n), pa.int64()), "text": pa.array([f"{i:x}" * 8 for i in range(n)])}
    )
    pq.write_table(table, tmp_path / "big.parquet")
    raw = [{"sort": {"from": "t", "by": [{"column": "text", "desc": True}], "as": "s"}}]
    (step,) = plan_steps(parse_steps(raw), {"t": arrow_columns(table.schema)})
    assert execute_step(step, {"t": [str(tmp_path / "big.parquet")]}, str(tmp_path / "s.parquet")) == n


def test_planning_never_touches_files(tmp_path: Path) -> None:
    # A step that names a file of its own inputs is still refused: a plan runs over empty tables only.
    staged = tmp_path / "entries.parquet"
    pq.write_table(ENTRIES, staged)
    raw = [{"derive": {"from": "entries", "columns": {"n": f"(SELECT count(*) FROM '{staged}')"}, "as": "d"}}]
    with pytest.raises(StepError) as info:
        plan_steps(parse_steps(raw), {"entries": arrow_columns(ENTRIES.schema)})
    assert info.value.path == [0, "derive", "columns", "n"]
    assert ONLY_INPUTS in info.value.message
