"""BigQuery writer through google-cloud-bigquery against the local BigQuery emulator: load jobs, MERGE, schema, auth."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import duckdb
import google.auth
import pyarrow as pa
import pytest
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import bigquery
from pydantic import ValidationError

from destinations.base import (
    DestinationAuthError,
    DestinationConfigError,
    DestinationError,
    EmptyReplaceError,
    LimitExceededError,
    Limits,
    SchemaConflictError,
    Scope,
)
from destinations.bigquery import BigQueryTarget
from destinations.bigquery_schema import merge_scope
from destinations.bigquery_writer import BigQueryWriter
from sandbox.google import BigQueryEmulator
from sandbox.google.bigquery_engine import JobFailed, merge_on_false, translate
from tests.destinations.conftest import BIG_ID, SERVICE_ACCOUNT, entries, service_account_key, typed

D = dt.date.fromisoformat
TARGET = BigQueryTarget(
    project="proj", dataset="reporting", table="entries", location="EU", partition_column="day"
)


@pytest.fixture
def writer(bq_client: bigquery.Client) -> BigQueryWriter:
    return BigQueryWriter(client=bq_client)


def rows(bq: BigQueryEmulator, table: str = "entries") -> list[tuple]:
    return [(r["id"], r["day"], r["note"]) for r in bq.rows("proj", "reporting", table, order_by="id")]


def uploads(bq: BigQueryEmulator, kind: str) -> int:
    return bq.count(
        lambda r: r.path.startswith("/upload/") and r.arg("uploadType") == kind and r.method == "POST"
    )


def staging_left(bq: BigQueryEmulator) -> list[str]:
    return [t for t in bq.table_names("proj", "reporting") if "staging" in t]


def test_first_write_creates_dataset_and_table_with_an_explicit_schema(
    bq: BigQueryEmulator, writer: BigQueryWriter
) -> None:
    result = writer.write(TARGET, typed(), "replace")
    assert result.rows_written == 3 and uploads(bq, "multipart") == 1
    assert bq.engine.datasets[("proj", "reporting")]["location"] == "EU"
    assert bq.schema("proj", "reporting", "entries") == {
        "id": "INTEGER", "day": "DATE", "started_at": "TIMESTAMP", "local_at": "DATETIME", "amount": "NUMERIC",
        "hours": "FLOAT", "billable": "BOOLEAN", "note": "STRING",
    }  # fmt: skip
    meta = bq.table_meta("proj", "reporting", "entries")
    assert meta["timePartitioning"] == {"type": "DAY", "field": "day"}
    loads = [
        json.loads(r.body.split(b"\r\n\r\n", 1)[1].split(b"\r\n")[0])
        for r in bq.requests
        if r.arg("uploadType") == "multipart"
    ]
    assert loads[0]["configuration"]["load"]["sourceFormat"] == "PARQUET"
    assert (
        "autodetect" not in loads[0]["configuration"]["load"]
        or not loads[0]["configuration"]["load"]["autodetect"]
    )
    assert not bq.count(lambda r: r.path.endswith("/insertAll"))  # never streaming inserts


def test_types_round_trip(bq: BigQueryEmulator, writer: BigQueryWriter, bq_client: bigquery.Client) -> None:
    data = typed()
    writer.write(TARGET, data, "replace")
    back = sorted((dict(r) for r in bq_client.list_rows("proj.reporting.entries")), key=lambda r: r["id"])
    want = data.to_pylist()
    for row in want:  # BigQuery holds TIMESTAMP as UTC and NUMERIC with 9 decimals; values are equal
        row["started_at"] = row["started_at"] and row["started_at"].astimezone(dt.UTC)
    assert back == want
    assert back[2]["id"] == BIG_ID and isinstance(back[0]["amount"], decimal.Decimal)


def test_replace_twice_truncates(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    writer.write(TARGET, entries([1, 2, 3], ["2024-01-01"] * 3), "replace")
    result = writer.write(TARGET, entries([4], ["2024-01-05"]), "replace")
    assert result.rows_deleted == 3 and rows(bq) == [(4, D("2024-01-05"), "entry 4")]
    assert bq.table_meta("proj", "reporting", "entries")["timePartitioning"]["field"] == "day"


def test_scoped_replace_is_one_merge_that_deletes_the_scope(
    bq: BigQueryEmulator, writer: BigQueryWriter
) -> None:
    writer.write(
        TARGET, entries([1, 2, 3, 4], ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"]), "replace"
    )
    scope = Scope("day", D("2024-01-02"), D("2024-01-03"))
    result = writer.write(
        TARGET, entries([2, 5], ["2024-01-02"] * 2, ["edited", "new"]), "replace", scope=scope
    )
    assert (result.rows_written, result.rows_deleted) == (2, 2)
    assert rows(bq) == [
        (1, D("2024-01-01"), "entry 1"),
        (2, D("2024-01-02"), "edited"),
        (4, D("2024-01-03"), "entry 4"),
        (5, D("2024-01-02"), "new"),
    ]
    merges = [json.loads(r.body)["configuration"]["query"] for r in bq.requests if b"MERGE INTO" in r.body]
    assert len(merges) == 1 and "NOT MATCHED BY SOURCE" in merges[0]["query"]
    assert {p["name"]: p["parameterValue"]["value"] for p in merges[0]["queryParameters"]} == {
        "scope_start": "2024-01-02",
        "scope_end": "2024-01-03",
    }
    assert staging_left(bq) == []
    empty = writer.write(
        TARGET, entries([], []), "replace", scope=Scope("day", D("2024-01-03"), D("2024-01-04"))
    )
    assert empty.rows_deleted == 1 and [r[0] for r in rows(bq)] == [1, 2, 5]


def test_scope_on_a_timestamp_column_with_date_bounds(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    target = BigQueryTarget(project="proj", dataset="reporting", table="events")
    at = pa.timestamp("us", tz="UTC")
    data = pa.table(
        {
            "id": [1, 2],
            "at": pa.array(
                [dt.datetime(2024, 1, 1, 23, tzinfo=dt.UTC), dt.datetime(2024, 1, 2, 1, tzinfo=dt.UTC)], at
            ),
        }
    )
    writer.write(target, data, "replace")
    new = pa.table({"id": [3], "at": pa.array([dt.datetime(2024, 1, 2, 5, tzinfo=dt.UTC)], at)})
    writer.write(target, new, "replace", scope=Scope("at", D("2024-01-02"), D("2024-01-03")))
    assert [r["id"] for r in bq.rows("proj", "reporting", "events", order_by="id")] == [1, 3]


def test_append_adds_new_columns(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    writer.write(TARGET, entries([1], ["2024-01-01"]), "append")
    more = entries([2], ["2024-01-02"]).append_column("billable", pa.array([True]))
    writer.write(TARGET, more.drop_columns(["note"]), "append")
    got = bq.rows("proj", "reporting", "entries", order_by="id")
    assert got == [
        {"id": 1, "day": D("2024-01-01"), "note": "entry 1", "billable": None},
        {"id": 2, "day": D("2024-01-02"), "note": None, "billable": True},
    ]


def test_upsert_merges_on_the_key_without_duplicates(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    writer.write(TARGET, entries([1, 2, 3], ["2024-01-01"] * 3), "upsert", ["id"])
    assert bq.table_meta("proj", "reporting", "entries")["clustering"] == {"fields": ["id"]}
    incoming = pa.table({"id": pa.array([4, 2, 2], pa.int64()), "note": ["four", "two", "two again"]})
    result = writer.write(TARGET, incoming, "upsert", ["id"])
    assert result.extra["rows_updated"] == 1
    assert rows(bq) == [
        (1, D("2024-01-01"), "entry 1"),
        (2, D("2024-01-01"), "two again"),  # the batch's last row wins; the day it lacks is kept
        (3, D("2024-01-01"), "entry 3"),
        (4, None, "four"),
    ]
    assert staging_left(bq) == []


def test_empty_replace_is_refused_unless_allowed(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    writer.write(TARGET, entries([1], ["2024-01-01"]), "replace")
    with pytest.raises(EmptyReplaceError):
        writer.write(TARGET, entries([], []), "replace")
    assert len(rows(bq)) == 1 and uploads(bq, "multipart") == 1  # refused before any upload
    writer.write(TARGET, entries([], []), "replace", allow_empty=True)
    assert rows(bq) == []


def test_limits_are_checked_before_loading(bq: BigQueryEmulator, bq_client: bigquery.Client) -> None:
    small = BigQueryWriter(
        client=bq_client, limits=Limits("BigQuery", max_rows=2, max_columns=3, max_cell_chars=8)
    )
    with pytest.raises(LimitExceededError, match="more than 2 rows"):
        small.write(TARGET, entries([1, 2, 3], ["2024-01-01"] * 3), "append")
    with pytest.raises(LimitExceededError, match="4 columns exceed"):
        small.write(TARGET, entries([1], ["2024-01-01"]).append_column("x", pa.array([1])), "append")
    with pytest.raises(LimitExceededError, match="column 'note'"):
        small.write(TARGET, entries([1], ["2024-01-01"], ["far too long"]), "append")
    assert uploads(bq, "multipart") == uploads(bq, "resumable") == 0


def test_resumable_upload_for_large_files(bq: BigQueryEmulator, bq_client: bigquery.Client) -> None:
    writer = BigQueryWriter(client=bq_client, multipart_max_bytes=0)
    writer.write(TARGET, entries([1, 2], ["2024-01-01"] * 2), "upsert", ["id"])
    assert uploads(bq, "resumable") == 1 and uploads(bq, "multipart") == 0
    assert bq.count(lambda r: r.method == "PUT" and r.arg("upload_id") is not None) == 1
    assert [r[0] for r in rows(bq)] == [1, 2]


def test_type_conflict_names_the_column_and_loads_nothing(
    bq: BigQueryEmulator, writer: BigQueryWriter
) -> None:
    writer.write(TARGET, entries([1], ["2024-01-01"]), "replace")
    clash = pa.table(
        {"id": pa.array([2], pa.int64()), "day": [D("2024-01-02")], "note": pa.array([5], pa.int64())}
    )
    with pytest.raises(SchemaConflictError, match="column 'note' is STRING in the table but INT64"):
        writer.write(TARGET, clash, "append")
    assert uploads(bq, "multipart") == 1
    widened = pa.table({"id": pa.array([2.5]), "day": [D("2024-01-02")]})
    with pytest.raises(SchemaConflictError, match="column 'id'"):
        writer.write(TARGET, widened, "append")  # FLOAT64 into INT64 would lose data


def test_ints_widen_into_float_columns(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    writer.write(TARGET, pa.table({"id": [1], "day": [D("2024-01-01")], "hours": [1.5]}), "replace")
    writer.write(
        TARGET,
        pa.table({"id": [2], "day": [D("2024-01-01")], "hours": pa.array([2], pa.int64())}),
        "upsert",
        ["id"],
    )
    assert [r["hours"] for r in bq.rows("proj", "reporting", "entries", order_by="id")] == [1.5, 2.0]


def test_a_failed_merge_leaves_the_table_and_drops_staging(
    bq: BigQueryEmulator, writer: BigQueryWriter
) -> None:
    writer.write(TARGET, entries([1, 2], ["2024-01-01"] * 2), "upsert", ["id"])
    bq.inject(400, when=lambda r: b"MERGE INTO" in r.body, message="Query exceeded resource limits")
    with pytest.raises(DestinationError, match="resource limits"):
        writer.write(TARGET, entries([2, 3], ["2024-01-02"] * 2), "upsert", ["id"])
    assert [r[0] for r in rows(bq)] == [1, 2] and rows(bq)[1][1] == D("2024-01-01")
    assert staging_left(bq) == []


def test_a_failed_upload_halfway_leaves_the_table(bq: BigQueryEmulator, bq_client: bigquery.Client) -> None:
    writer = BigQueryWriter(client=bq_client, multipart_max_bytes=0)
    writer.write(TARGET, entries([1], ["2024-01-01"]), "replace")
    bq.inject(400, when=lambda r: r.method == "PUT", message="upload interrupted")
    with pytest.raises(DestinationError):
        writer.write(TARGET, entries([7, 8], ["2024-01-02"] * 2), "replace")
    assert rows(bq) == [(1, D("2024-01-01"), "entry 1")]


def test_a_failed_load_job_is_atomic(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    writer.write(TARGET, entries([1], ["2024-01-01"]), "append")
    bad = entries([2], ["2024-01-02"]).append_column("late", pa.array([1]))
    bq.engine.evolve = _refuse  # type: ignore[method-assign]  # the job fails after the upload
    with pytest.raises(DestinationError, match="refused by the test"):
        writer.write(TARGET, bad, "append")
    assert rows(bq) == [(1, D("2024-01-01"), "entry 1")]


def _refuse(*args: object, **kwargs: object) -> None:
    raise JobFailed("invalid", "refused by the test")


def test_target_validation(writer: BigQueryWriter) -> None:
    # the settings model checks them (in a flow file: when flows load, with file and line)
    with pytest.raises(ValidationError, match="not a valid name"):
        BigQueryTarget(project="proj", dataset="a.b", table="t")
    with pytest.raises(ValidationError, match="at most 4"):
        BigQueryTarget(project="proj", dataset="d", table="t", clustering=("a", "b", "c", "d", "e"))
    with pytest.raises(DestinationConfigError, match=r"partition_column .day. must be a DATE"):
        writer.write(
            BigQueryTarget(project="proj", dataset="d", table="t", partition_column="day"),
            pa.table({"day": ["x"]}),
            "replace",
        )
    with pytest.raises(DestinationConfigError, match="repeat"):
        writer.write(
            BigQueryTarget(project="proj", dataset="d", table="t"), pa.table({"a": [1], "A": [2]}), "replace"
        )


# -- credentials -------------------------------------------------------------------------------
def test_missing_permission_names_the_roles(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    bq.allowed = {"someone-else@example.com"}
    with pytest.raises(DestinationAuthError, match=r"BigQuery Data Editor.*BigQuery Job User"):
        writer.write(TARGET, entries([1], ["2024-01-01"]), "replace")


def test_service_account_key_from_the_environment(
    bq: BigQueryEmulator, tmp_path: Path, private_key_pem: str
) -> None:
    key = tmp_path / "sa.json"
    key.write_text(service_account_key(private_key_pem, bq.url + "/token"))
    bq.allowed = {SERVICE_ACCOUNT}
    client_options = {"api_endpoint": bq.url}

    class LocalWriter(BigQueryWriter):
        def _client(self, target: BigQueryTarget) -> bigquery.Client:  # same credentials path, local endpoint
            if self.client is None:
                super()._client(target)
                assert self.client is not None
                self.client = bigquery.Client(
                    project=target.project,
                    credentials=self.client._credentials,
                    client_options=client_options,
                )
            return self.client

    LocalWriter(env={"COUPLET_GOOGLE_SERVICE_ACCOUNT": str(key)}).write(
        TARGET, entries([1], ["2024-01-01"]), "replace"
    )
    assert len(rows(bq)) == 1
    assert all(
        r.headers.get("authorization", "").startswith("Bearer ya29.fake-")
        for r in bq.requests
        if r.path != "/token"
    )
    bq.rejected_accounts.add(SERVICE_ACCOUNT)
    with pytest.raises(DestinationAuthError, match="token request"):
        LocalWriter(env={"COUPLET_GOOGLE_SERVICE_ACCOUNT": str(key)}).write(
            TARGET, entries([2], ["2024-01-01"]), "append"
        )


def test_no_credentials_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_adc(*args: object, **kwargs: object) -> None:
        raise DefaultCredentialsError("no ADC")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(DestinationAuthError, match="gcloud auth application-default login"):
        BigQueryWriter(env={}).write(TARGET, entries([1], ["2024-01-01"]), "replace")


def test_scope_rules(bq: BigQueryEmulator, writer: BigQueryWriter) -> None:
    scope = Scope("day", D("2024-01-01"), D("2024-01-02"))
    with pytest.raises(DestinationConfigError, match="only applies to mode 'replace'"):
        writer.write(TARGET, entries([1], ["2024-01-01"]), "upsert", ["id"], scope=scope)
    with pytest.raises(DestinationConfigError, match="outside the scope"):
        writer.write(TARGET, entries([1, 2], ["2024-01-01", "2024-01-09"]), "replace", scope=scope)
    assert uploads(bq, "multipart") == uploads(bq, "resumable") == 0


def test_the_emulators_on_false_shortcut_equals_a_real_merge() -> None:
    """The emulator runs MERGE ... ON FALSE as DELETE + INSERT (DuckDB would nested-loop it): same result."""
    sql, _ = translate(merge_scope("`p.d.t`", "`p.d.s`", ["id", "day"], "day"), "p")
    split = merge_on_false(sql)
    assert split is not None
    results = []
    for shortcut in (False, True):
        con = duckdb.connect()
        con.execute('CREATE SCHEMA "p.d"')
        con.execute(
            'CREATE TABLE "p.d"."t" AS SELECT range AS id, DATE \'2024-01-01\' + CAST(range % 5 AS INT) AS day FROM range(20)'
        )
        con.execute(
            'CREATE TABLE "p.d"."s" AS SELECT range + 100 AS id, DATE \'2024-01-03\' AS day FROM range(3)'
        )
        params = {"scope_start": D("2024-01-02"), "scope_end": D("2024-01-04")}
        if shortcut:
            con.execute(split[0], params)
            con.execute(split[1])
        else:
            con.execute(sql, params)
        results.append(con.execute('SELECT * FROM "p.d"."t" ORDER BY id').fetchall())
        con.close()
    assert results[0] == results[1] and len(results[0]) == 20 - 8 + 3
