"""The Google emulators in the sandbox: served by `couplet sandbox`, written to by flow outputs.

A flow output built by `pipelines.outputs.landing()` with an `endpoint` (or its environment variable)
writes through the real client libraries (gspread, google-cloud-bigquery) to the emulators mounted at
`/google/sheets` and `/google/bigquery`; the admin reads show what landed. Without an endpoint the
writers still go to Google and still fail clearly without credentials.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google.auth
import httpx
import pyarrow as pa
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import DefaultCredentialsError
from pydantic import ValidationError

from destinations.base import DestinationAuthError, DestinationConfigError, Mode
from pipelines.config import Output
from pipelines.outputs import describe, landing
from sandbox.common import SandboxOptions
from sandbox.google import (
    BIGQUERY_MOUNT,
    DEMO_SPREADSHEET_ID,
    SHEETS_MOUNT,
    BigQueryEmulator,
    SheetsEmulator,
)
from sandbox.google.bigquery_engine import Engine, JobFailed, merge_on_false, translate
from sandbox.google.wire import Emulator, Request, Response
from sandbox.org import OrgOptions
from sandbox.server import RunningServer, start_background

OPTIONS = SandboxOptions(org=OrgOptions(anchor=dt.date(2025, 6, 16), history_days=10, users=3))
CREDENTIAL_VARS = (
    "COUPLET_GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "COUPLET_GOOGLE_SHEETS_ENDPOINT",
    "BIGQUERY_EMULATOR_HOST",
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with start_background(OPTIONS) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials and no endpoint from the machine running the tests."""
    for var in CREDENTIAL_VARS:
        monkeypatch.delenv(var, raising=False)


def sheets_of(server: RunningServer) -> SheetsEmulator:
    emulator = server.app.state.apps[SHEETS_MOUNT].state.emulator
    assert isinstance(emulator, SheetsEmulator)
    return emulator


def bigquery_of(server: RunningServer) -> BigQueryEmulator:
    emulator = server.app.state.apps[BIGQUERY_MOUNT].state.emulator
    assert isinstance(emulator, BigQueryEmulator)
    return emulator


def admin(server: RunningServer, path: str, status: int = 200, **params: Any) -> Any:
    r = httpx.get(server.base_url + path, params=params, timeout=10)
    assert r.status_code == status, (path, r.status_code, r.text[:300])
    return r.json()


def output(text: str) -> Output:
    """An output as a flow file writes it (YAML, `from:`/`to:`)."""
    return Output.model_validate(yaml.safe_load(text))


def entries(ids: list[int], notes: list[str]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "day": pa.array([dt.date(2025, 6, 2)] * len(ids), pa.date32()),
            "note": pa.array(notes, pa.string()),
        }
    )


def write(out: Output, table: pa.Table, mode: Mode, keys: tuple[str, ...] = ()) -> int:
    return landing(out, partitioned=False).write(table, mode, keys, None, False).rows_written


def tab(summary: dict[str, Any], title: str) -> dict[str, Any]:
    return next(t for t in summary["tabs"] if t["title"] == title)


# -- serving -------------------------------------------------------------------------------------
def test_the_sandbox_serves_both_emulators_with_admin_reads(server: RunningServer) -> None:
    health = admin(server, "/healthz")
    assert {SHEETS_MOUNT, BIGQUERY_MOUNT} <= set(health["sandboxes"])
    listed = admin(server, f"{SHEETS_MOUNT}/_admin/spreadsheets")["spreadsheets"]
    assert DEMO_SPREADSHEET_ID in [s["id"] for s in listed]
    # the API itself, as gspread calls it: the demo spreadsheet exists, an unknown id is made on first use
    base = server.base_url + SHEETS_MOUNT
    demo = httpx.get(f"{base}/v4/spreadsheets/{DEMO_SPREADSHEET_ID}", timeout=10).json()
    assert demo["spreadsheetId"] == DEMO_SPREADSHEET_ID
    fresh = httpx.get(f"{base}/v4/spreadsheets/made-on-first-access-0001", timeout=10).json()
    assert [s["properties"]["title"] for s in fresh["sheets"]] == ["Sheet1"]
    assert admin(server, f"{SHEETS_MOUNT}/_admin/spreadsheets/made-on-first-access-0001")["tabs"][0] == {
        "title": "Sheet1",
        "sheet_id": 0,
        "hidden": False,
        "grid": {"rows": 1000, "columns": 26},
        "rows_with_values": 0,
        "values": [],
    }
    # admin reads do not create anything, and say what exists
    missing = admin(server, f"{SHEETS_MOUNT}/_admin/spreadsheets/nope", status=404)
    assert "nope" in missing["error"]["message"]
    assert "tables" in admin(server, f"{BIGQUERY_MOUNT}/_admin/tables")
    admin(server, f"{BIGQUERY_MOUNT}/_admin/tables/p/d/none", status=404)
    # what the emulator does not do is a 400 in Google's error shape, never a silent success
    r = httpx.get(server.base_url + BIGQUERY_MOUNT + "/bigquery/v2/projects/p/datasets", timeout=10)
    assert r.status_code == 400 and "not implemented in the emulator" in r.json()["error"]["message"]


def test_the_request_log_is_bounded_and_keeps_uploads_short() -> None:
    """A long-lived sandbox must not keep every upload: bodies are logged cut short, the log capped,
    while the emulator itself still gets the whole body."""

    class Echo(Emulator):
        def handle(self, request: Request) -> Response:
            return Response(200, {"length": len(request.body)})

    echo = Echo(request_log_size=2, logged_body_bytes=10)
    for n in (1, 2, 3):
        reply = echo.dispatch(Request("POST", f"/upload/{n}", {}, {}, b"x" * 100))
        assert reply.body == {"length": 100}
    assert [(r.path, len(r.body)) for r in echo.requests] == [("/upload/2", 10), ("/upload/3", 10)]
    assert echo.dispatch(Request("GET", "/_admin/anything", {}, {}, b"")).status == 404
    assert len(echo.requests) == 2  # admin reads are not logged


def test_stopping_the_sandbox_closes_the_bigquery_database() -> None:
    running = start_background(OPTIONS)
    emulator = bigquery_of(running)
    assert emulator.engine.con is not None
    running.stop()
    assert emulator.engine.con is None


# -- Google Sheets -------------------------------------------------------------------------------
def test_a_sheets_output_with_an_endpoint_lands_in_the_emulator(server: RunningServer) -> None:
    sid = "flow-output-sheet-0001"
    out = output(
        f"""
        from: billed
        to: {{google_sheets: {{spreadsheet: {sid}, worksheet: Billing,
                              endpoint: "{server.base_url}{SHEETS_MOUNT}"}}}}
        mode: upsert
        primary_key: [id]
        """
    )
    assert write(out, entries([1, 2], ["a", "b"]), Mode.REPLACE) == 2
    summary = admin(server, f"{SHEETS_MOUNT}/_admin/spreadsheets/{sid}")
    billing = tab(summary, "Billing")
    assert billing["rows_with_values"] == 3 and not billing["hidden"]
    assert billing["values"] == [["id", "day", "note"], ["1", "2025-06-02", "a"], ["2", "2025-06-02", "b"]]
    assert write(out, entries([2, 3], ["B", "c"]), Mode.UPSERT, ("id",)) == 2
    billing = tab(admin(server, f"{SHEETS_MOUNT}/_admin/spreadsheets/{sid}", limit=10), "Billing")
    assert [row[::2] for row in billing["values"]] == [["id", "note"], ["1", "a"], ["2", "B"], ["3", "c"]]
    assert [t["title"] for t in summary["tabs"]] == ["Sheet1", "Billing"]  # the staging tab is gone
    requests = [r for r in sheets_of(server).requests if sid in r.path]
    assert requests and not any("authorization" in r.headers for r in requests)  # anonymous
    assert describe(out) == f"{sid} [Billing] at {server.base_url}{SHEETS_MOUNT}"


def test_sheets_endpoint_from_the_environment(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = "env-endpoint-sheet-0001"
    out = output(f"{{from: x, to: {{google_sheets: {{spreadsheet: {sid}, worksheet: Env}}}}}}")
    monkeypatch.setenv("COUPLET_GOOGLE_SHEETS_ENDPOINT", server.base_url + SHEETS_MOUNT + "/")
    write(out, entries([7], ["seven"]), Mode.REPLACE)
    assert tab(admin(server, f"{SHEETS_MOUNT}/_admin/spreadsheets/{sid}"), "Env")["values"][1] == [
        "7",
        "2025-06-02",
        "seven",
    ]
    assert describe(out).endswith(f" at {server.base_url}{SHEETS_MOUNT}")


def test_sheets_endpoint_with_a_configured_service_account(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A configured key is still used with an endpoint: its token comes from the emulator's /token."""
    base = server.base_url + SHEETS_MOUNT
    key = tmp_path / "key.json"
    key.write_text(service_account_key(base + "/token", "writer@demo.iam.gserviceaccount.com"))
    monkeypatch.setenv("COUPLET_GOOGLE_SERVICE_ACCOUNT", str(key))
    sid = sheets_of(server).create(tabs=("Summary",), editors={"writer@demo.iam.gserviceaccount.com"})
    out = output(
        f'{{from: x, to: {{google_sheets: {{spreadsheet: {sid}, worksheet: T, endpoint: "{base}"}}}}}}'
    )
    write(out, entries([1], ["one"]), Mode.REPLACE)
    sent = [r for r in sheets_of(server).requests if sid in r.path]
    assert sent and all(r.headers["authorization"].startswith("Bearer ya29.fake-") for r in sent)
    assert tab(admin(server, f"{SHEETS_MOUNT}/_admin/spreadsheets/{sid}"), "T")["rows_with_values"] == 2


def test_sheets_without_an_endpoint_still_needs_google_credentials(server: RunningServer) -> None:
    out = output("{from: x, to: {google_sheets: {spreadsheet: untouched-sheet-00000001, worksheet: T}}}")
    before = len(sheets_of(server).requests)
    with pytest.raises(DestinationAuthError, match="no Google credentials are configured"):
        write(out, entries([1], ["one"]), Mode.REPLACE)
    assert len(sheets_of(server).requests) == before
    assert describe(out) == "https://docs.google.com/spreadsheets/d/untouched-sheet-00000001 [T]"


def test_a_bad_endpoint_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="endpoint"):
        output("{from: x, to: {google_sheets: {spreadsheet: s, worksheet: T, endpoint: 'ftp://h/x'}}}")
    with pytest.raises(ValidationError, match="endpoint"):
        output("{from: x, to: {bigquery: {project: p, dataset: d, table: t, endpoint: 'localhost:9050'}}}")
    monkeypatch.setenv("COUPLET_GOOGLE_SHEETS_ENDPOINT", "not-a-url-s3cr3t")
    out = output("{from: x, to: {google_sheets: {spreadsheet: some-sheet-id-00000001, worksheet: T}}}")
    with pytest.raises(DestinationConfigError, match="COUPLET_GOOGLE_SHEETS_ENDPOINT must be an http") as err:
        write(out, entries([1], ["one"]), Mode.REPLACE)
    assert "s3cr3t" not in str(err.value)


# -- BigQuery ------------------------------------------------------------------------------------
def test_a_bigquery_output_with_an_endpoint_lands_in_the_emulator(server: RunningServer) -> None:
    out = output(
        f"""
        from: billed
        to: {{bigquery: {{project: demo-project, dataset: reporting, table: billed,
                         endpoint: "{server.base_url}{BIGQUERY_MOUNT}"}}}}
        mode: upsert
        primary_key: [id]
        """
    )
    assert write(out, entries([1, 2], ["a", "b"]), Mode.REPLACE) == 2
    listed = admin(server, f"{BIGQUERY_MOUNT}/_admin/tables")["tables"]
    billed = next(
        t
        for t in listed
        if (t["project"], t["dataset"], t["table"]) == ("demo-project", "reporting", "billed")
    )
    assert billed["row_count"] == 2 and billed["schema"] == {"id": "INTEGER", "day": "DATE", "note": "STRING"}
    assert write(out, entries([2, 3], ["B", "c"]), Mode.UPSERT, ("id",)) == 2
    detail = admin(server, f"{BIGQUERY_MOUNT}/_admin/tables/demo-project/reporting/billed")
    assert detail["row_count"] == 3
    assert sorted((r["id"], r["note"]) for r in detail["rows"]) == [(1, "a"), (2, "B"), (3, "c")]
    assert detail["rows"][0]["day"] == "2025-06-02"
    one = admin(server, f"{BIGQUERY_MOUNT}/_admin/tables/demo-project/reporting/billed", limit=1)
    assert len(one["rows"]) == 1 and one["row_count"] == 3
    tables = [t["table"] for t in admin(server, f"{BIGQUERY_MOUNT}/_admin/tables")["tables"]]
    assert not [t for t in tables if t.startswith("billed__couplet_staging")]  # the upsert cleaned up
    emulator = bigquery_of(server)
    assert not any("authorization" in r.headers for r in emulator.requests)  # anonymous
    assert describe(out) == f"demo-project.reporting.billed at {server.base_url}{BIGQUERY_MOUNT}"


def test_bigquery_endpoint_from_the_client_librarys_variable(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", server.base_url + BIGQUERY_MOUNT)
    out = output("{from: x, to: {bigquery: {project: env-project, dataset: ds, table: t}}}")
    write(out, entries([5, 6], ["five", "six"]), Mode.REPLACE)
    assert admin(server, f"{BIGQUERY_MOUNT}/_admin/tables/env-project/ds/t")["row_count"] == 2


def test_bigquery_without_an_endpoint_still_needs_google_credentials(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_adc(*args: object, **kwargs: object) -> None:
        raise DefaultCredentialsError("no ADC")

    monkeypatch.setattr(google.auth, "default", no_adc)
    out = output("{from: x, to: {bigquery: {project: p, dataset: d, table: t}}}")
    before = len(bigquery_of(server).requests)
    with pytest.raises(DestinationAuthError, match="gcloud auth application-default login"):
        write(out, entries([1], ["one"]), Mode.REPLACE)
    assert len(bigquery_of(server).requests) == before
    assert describe(out) == "p.d.t"


def service_account_key(token_uri: str, email: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "demo",
            "private_key_id": "0123",
            "private_key": pem,
            "client_email": email,
            "token_uri": token_uri,
        }
    )


# -- the BigQuery emulator's MERGE (BigQuery's documented grammar, run by DuckDB) ------------------
@pytest.fixture
def merge_engine() -> Iterator[Engine]:
    """Target `p.d.t` (ids 1-4: a day before 01-02, two inside, one without a day; 3 already gone)
    and source `p.d.s` (2 again, 5 new)."""
    engine = Engine()
    engine.create_dataset("p", "d", "US")
    fields = [{"name": n, "type": t} for n, t in (("id", "INTEGER"), ("day", "DATE"), ("note", "STRING"))]
    t = engine.create_table("p", "d", "t", [*fields, {"name": "gone_at", "type": "TIMESTAMP"}], {})
    engine.con.execute(
        f"INSERT INTO {t.sql} VALUES (1, '2024-01-01', 'a', NULL), (2, '2024-01-02', 'b', NULL), "
        "(3, '2024-01-02', 'c', '2020-01-01 00:00:00+00'), (4, NULL, 'd', NULL)"
    )
    s = engine.create_table("p", "d", "s", fields, {})
    engine.con.execute(f"INSERT INTO {s.sql} VALUES (2, '2024-01-02', 'B'), (5, '2024-01-03', 'E')")
    yield engine
    engine.con.close()


def run_merge(engine: Engine, sql: str) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    params = [
        {"name": "start", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2024-01-02"}},
        {
            "name": "now",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2024-02-01 00:00:00+00:00"},
        },
    ]
    result = engine.query(sql, params, "p")
    rows = engine.con.execute('SELECT id, note, gone_at IS NOT NULL FROM "p.d"."t" ORDER BY id').fetchall()
    return result["dml"], rows


def test_bigquery_merge_when_not_matched_by_source_then_delete(merge_engine: Engine) -> None:
    dml, rows = run_merge(
        merge_engine,
        "MERGE INTO `p.d.t` AS T USING `p.d.s` AS S ON T.id = S.id "
        "WHEN MATCHED THEN UPDATE SET note = S.note "
        "WHEN NOT MATCHED BY TARGET THEN INSERT (id, day, note) VALUES (S.id, S.day, S.note) "
        "WHEN NOT MATCHED BY SOURCE AND T.day >= @start THEN DELETE",
    )
    assert dml == {"INSERT": 1, "UPDATE": 1, "DELETE": 1}  # 3 deleted; 1 is before @start, 4 has no day
    assert rows == [(1, "a", False), (2, "B", False), (4, "d", False), (5, "E", False)]


def test_bigquery_merge_when_not_matched_by_source_then_update(merge_engine: Engine) -> None:
    # MERGE without INTO, aliases without AS; no MATCHED and no INSERT clause: 2 and 5 are left alone
    dml, rows = run_merge(
        merge_engine,
        "MERGE `p.d.t` T USING (SELECT * FROM `p.d.s`) S ON T.id = S.id "
        "WHEN NOT MATCHED BY SOURCE AND T.gone_at IS NULL THEN UPDATE SET gone_at = @now, note = CONCAT(T.note, '!')",
    )
    assert dml == {"INSERT": 0, "UPDATE": 2, "DELETE": 0}
    assert rows == [(1, "a!", True), (2, "b", False), (3, "c", True), (4, "d!", True)]


def test_bigquery_merge_takes_the_first_matching_clause(merge_engine: Engine) -> None:
    dml, rows = run_merge(
        merge_engine,
        "MERGE `p.d.t` AS T USING `p.d.s` AS S ON T.id = S.id "
        "WHEN MATCHED AND CASE WHEN S.note = 'B' THEN TRUE ELSE FALSE END THEN UPDATE SET note = 'matched' "
        "WHEN NOT MATCHED BY SOURCE AND T.gone_at IS NOT NULL THEN DELETE "
        "WHEN NOT MATCHED BY SOURCE THEN UPDATE SET note = 'gone' "
        "WHEN NOT MATCHED AND S.id > 4 THEN INSERT (id, day, note) ROW",
    )
    assert dml == {"INSERT": 1, "UPDATE": 3, "DELETE": 1}
    assert rows == [(1, "gone", False), (2, "matched", False), (4, "gone", False), (5, "E", False)]


def test_bigquery_merge_on_false_with_an_update_by_source(merge_engine: Engine) -> None:
    sql = (
        "MERGE `p.d.t` T USING `p.d.s` S ON FALSE "
        "WHEN NOT MATCHED THEN INSERT (id, day, note) VALUES (S.id, S.day, S.note) "
        "WHEN NOT MATCHED BY SOURCE AND T.day >= @start THEN UPDATE SET note = CONCAT(T.note, ' (old)')"
    )
    split = merge_on_false(translate(sql, "p")[0])
    assert split is not None and split.action == "UPDATE"  # run as UPDATE then INSERT, not a full join
    dml, rows = run_merge(merge_engine, sql)
    assert dml == {"INSERT": 2, "UPDATE": 2}
    notes = [(i, n) for i, n, _ in rows]
    assert notes == [(1, "a"), (2, "b (old)"), (2, "B"), (3, "c (old)"), (4, "d"), (5, "E")]


@pytest.mark.parametrize(
    ("clauses", "message"),
    [
        ("WHEN MATCHED THEN INSERT (id) VALUES (S.id)", "Expected keyword DELETE or keyword UPDATE"),
        ("WHEN NOT MATCHED BY SOURCE THEN INSERT ROW", "Expected keyword DELETE or keyword UPDATE"),
        ("WHEN NOT MATCHED THEN DELETE", "Expected keyword INSERT"),
        ("WHEN NOT MATCHED BY SOURCE THEN DELETE now", "Unexpected"),
        ("WHEN NOT MATCHED BY SOURCE DELETE", "Expected keyword THEN"),
        ("", "Expected keyword WHEN"),
        ("WHEN NOT MATCHED BY SOURCE AND S.id > 1 THEN DELETE", '"S" not found'),  # no source row there
    ],
)
def test_bigquery_merge_outside_the_grammar_fails_the_job(
    merge_engine: Engine, clauses: str, message: str
) -> None:
    with pytest.raises(JobFailed, match=message) as err:
        run_merge(merge_engine, f"MERGE `p.d.t` T USING `p.d.s` S ON T.id = S.id {clauses}")
    assert err.value.reason == "invalidQuery"
    rows = merge_engine.con.execute('SELECT id, note FROM "p.d"."t" ORDER BY id').fetchall()
    assert rows == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
