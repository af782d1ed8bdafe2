"""The data directory on S3 (``pipelines.datadir``), against moto's S3 server in a subprocess.

Staging (write, read, a look-back's ``replace_days``), change capture from an S3-staged file, the
``append_new`` ledger, a whole flow run from the sandbox into DuckDB with ``data_dir: s3://...``
(staged objects in the bucket, nothing in a local data folder), the atomicity of a write that
fails, and clear errors for a bad URI, a missing bucket and refused credentials.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import duckdb
import httpx
import pyarrow as pa
import pytest

from dagster_project.cli import main
from pipelines import datadir
from pipelines.changes import FULL_REFRESH_AT, plan
from pipelines.datadir import DataDirError, ObjectPath
from pipelines.ledger import Ledger
from pipelines.staging import Staging
from pipelines.steps import StepError, StepInput, execute_step, plan_steps
from pipelines.steps_model import parse_steps
from tests.pipelines.test_changes import SOURCE as HARVEST_SOURCE
from tests.pipelines.test_changes import Harvest
from tests.pipelines.test_staging import API, ENTITY
from tests.worlds import HARVEST, world

SECRET = "moto-secret-never-shown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_moto(extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    script = Path(sys.executable).with_name("moto_server")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    proc = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(extra_env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):  # moto imports a lot; give it up to 30 s on a busy machine
        if proc.poll() is not None:
            break
        try:
            httpx.get(url + "/moto-api/", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    pytest.skip("moto's S3 server did not start (pip install 'moto[server]')")


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    proc, url = _start_moto()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh bucket on moto, the AWS environment pointed at it; its name. Works in ``tmp_path``
    (a broken data directory would write a local ``s3:`` folder there, not in the repository)."""
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    name = f"couplet-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def keys(bucket: str, prefix: str = "") -> list[str]:
    """Object keys in ``bucket`` (files, not the empty directory markers pyarrow may leave)."""
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []) if not o["Key"].endswith("/"))


def test_staging_writes_reads_and_replaces_days_on_s3(bucket: str) -> None:
    staging, api = Staging(f"s3://{bucket}/couplet"), API()
    api.stage(staging, "2026-01-01", "2026-04-01")
    assert keys(bucket, "couplet/staging/") == [
        f"couplet/staging/t/events/{m}.parquet" for m in ("2026-01", "2026-02", "2026-03")
    ]
    assert [p.stem for p in staging.files("t", "events")] == ["2026-01", "2026-02", "2026-03"]
    assert staging.rows("t", "events", "2026-02") == 28
    # A look-back over the month boundary replaces those days and keeps the others.
    api.records[30]["note"] = "edited"  # 2026-01-31
    api.records[31]["note"] = "edited"  # 2026-02-01
    del api.records[32]  # 2026-02-02, deleted at the source
    api.stage(staging, "2026-01-31", "2026-02-03")
    table = staging.read("t", ENTITY)
    notes = dict(zip(table.column("id").to_pylist(), table.column("note").to_pylist(), strict=True))
    assert len(notes) == 89 and 32 not in notes
    assert (notes[29], notes[30], notes[31], notes[33]) == ("v1", "edited", "edited", "v1")
    assert staging.rows("t", "events", "2026-02") == 27
    assert [p.stem for p in staging.files("t", "events", ["2026-02", "2026-05"])] == ["2026-02"]
    assert not [k for k in keys(bucket) if k.endswith(".tmp")]  # no temp object left behind


def test_change_capture_plans_from_an_s3_staged_file(bucket: str) -> None:
    h = Harvest(Path("unused"))
    h.staging = Staging(f"s3://{bucket}/couplet")
    assert h.stage("clients").mode == "full"
    path = h.staging.path("h", "clients", "all")
    assert isinstance(path, ObjectPath) and keys(bucket, "couplet/staging/") == [
        "couplet/staging/h/clients/all.parquet"
    ]
    assert FULL_REFRESH_AT in (datadir.read_schema(path).metadata or {})
    capture = plan(HARVEST_SOURCE.entity("clients"), path, dt.datetime.now(dt.UTC))
    assert capture.since is not None and capture.previous is not None
    assert h.stage("clients").mode.startswith("changes since")


def test_the_ledger_records_and_filters_on_s3(bucket: str) -> None:
    ledger = Ledger(f"s3://{bucket}/couplet", "export", "entries")
    rows = pa.table({"id": pa.array([1, 2], pa.int64()), "note": ["a", "b"]})
    assert ledger.sent() is None
    assert ledger.new_rows(rows, ("id",)).num_rows == 2
    ledger.record(rows, ("id",))
    assert keys(bucket) == ["couplet/ledgers/export/entries.parquet"]
    again = pa.table({"id": pa.array([2, 3], pa.int64()), "note": ["b", "c"]})
    assert ledger.new_rows(again, ("id",)).column("id").to_pylist() == [3]
    ledger.record(ledger.new_rows(again, ("id",)), ("id",))
    sent = ledger.sent()
    assert sent is not None and sorted(sent.column("id").to_pylist()) == [1, 2, 3]


def test_a_step_reads_s3_inputs_as_arrow_under_the_lockdown(bucket: str, tmp_path: Path) -> None:
    base = datadir.location(f"s3://{bucket}/couplet")
    left, right = base / "l.parquet", base / "r.parquet"
    datadir.write_table(left, pa.table({"id": [1, 2, 3], "v": [10, 20, 30]}))
    datadir.write_table(right, pa.table({"id": [1, 3]}))  # no "v": read as null (union by name)
    inputs = {"l": [("id", "BIGINT"), ("v", "BIGINT")], "r": [("id", "BIGINT"), ("v", "BIGINT")]}
    steps = parse_steps([{"append": {"inputs": ["l", "r"], "source_column": None, "as": "both"}}])
    (planned,) = plan_steps(steps, inputs)
    out = base / "flows" / "f" / "both.parquet"
    files = {"l": StepInput((str(left),)), "r": StepInput((str(right),))}
    assert execute_step(planned, files, str(out)) == 5
    assert datadir.num_rows(out) == 5
    assert sorted(keys(bucket, "couplet/flows/")) == ["couplet/flows/f/both.parquet"]
    # The run's SQL still reaches nothing but its inputs: a local file or the store itself is refused.
    for sql in ("SELECT l.* FROM l, read_text('/etc/hostname')", f"SELECT * FROM read_parquet('{left}')"):
        sneaky = dataclasses.replace(planned, sql=sql)
        with pytest.raises(StepError, match="may only use the step's inputs"):
            execute_step(sneaky, files, str(base / "x.parquet"))


def test_a_failing_write_leaves_the_old_object(bucket: str) -> None:
    target = datadir.location(f"s3://{bucket}/couplet/a.parquet")
    datadir.write_table(target, pa.table({"v": [1]}))
    with pytest.raises(RuntimeError), datadir.writing(target) as tmp:  # the writer fails half way
        tmp.write_bytes(b"PAR1 half a file")
        raise RuntimeError("killed")
    fs = datadir.filesystem(target)  # the upload fails after the temp object was stored
    broken = type("Broken", (), {"__getattr__": lambda self, n: getattr(fs, n)})()

    def copy_file(src: str, dst: str) -> None:
        raise OSError("connection reset")

    broken.copy_file = copy_file  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datadir, "filesystem", lambda path: broken)
        with pytest.raises(DataDirError, match="connection reset"):
            datadir.write_table(target, pa.table({"v": [2, 2]}))
    assert datadir.read_table(target).column("v").to_pylist() == [1]
    assert keys(bucket) == ["couplet/a.parquet"]  # no temp object left


def test_sweep_removes_only_stale_temp_objects(bucket: str) -> None:
    folder = datadir.location(f"s3://{bucket}/couplet/staging/c/e")
    s3 = boto3.client("s3")
    for name in (".2026-01.parquet.abc.tmp", "2026-01.parquet"):
        s3.put_object(Bucket=bucket, Key=f"couplet/staging/c/e/{name}", Body=b"x")
    assert datadir.sweep(folder) == []  # young: may be a live writer's
    assert datadir.sweep(folder, now=time.time() + 7200) == [folder / ".2026-01.parquet.abc.tmp"]
    assert keys(bucket) == ["couplet/staging/c/e/2026-01.parquet"]


def test_bad_data_dirs_get_a_clear_error(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataDirError, match=r"settings.data_dir 'ftp://b/x': unknown scheme ftp://"):
        Staging("ftp://b/x")
    with pytest.raises(DataDirError, match="is not a bucket name"):
        datadir.location("s3://Not_A_Bucket/x")
    with pytest.raises(
        DataDirError, match=r"settings.data_dir s3://no-such-bucket-h1.*does not exist.*create it"
    ):
        Staging("s3://no-such-bucket-h1/couplet").check()
    datadir.check(f"s3://{bucket}/couplet")  # fine


def test_refused_credentials_name_the_setting_and_hide_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    proc, url = _start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})  # moto then checks credentials
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN000000000")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        with pytest.raises(DataDirError) as caught:
            Staging("s3://some-bucket/couplet").check()
        message = str(caught.value)
        assert "settings.data_dir s3://some-bucket: access refused" in message, message
        assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in message
        assert SECRET not in message
    finally:
        proc.terminate()
        proc.wait(timeout=10)


TODAY = dt.datetime.now(dt.UTC).date()


def billing_flow(data_dir: str) -> str:
    """A flow joining the last week's Harvest entries to their clients into DuckDB, plus the clients
    once each (``append_new``), with its data directory at ``data_dir``."""
    return f"""
settings: {{data_dir: "{data_dir}", partitions_start: {(TODAY - dt.timedelta(days=60)).isoformat()}}}
connections:
  {HARVEST}
flows:
  billing:
    sources:
      entries: {{connection: hv, entity: time_entries, dates: last 7 days}}
      clients: {{connection: hv, entity: clients}}
    steps:
      - join: {{left: entries, right: clients, on: {{client_id: id}}, how: left, as: billed}}
    outputs:
      - {{from: billed, to: {{duckdb: {{path: out/w.duckdb, table: billed}}}}}}
      - {{from: clients, to: {{duckdb: {{path: out/w.duckdb, table: clients_once}}}}, mode: append_new, primary_key: [id]}}
"""


def test_a_flow_runs_with_its_data_directory_on_s3(
    bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = billing_flow(f"s3://{bucket}/couplet")
    with world(monkeypatch, tmp_path, flow, days=20, users=2):
        assert main(["flows", "run", "billing"]) == 0
        assert main(["flows", "run", "billing"]) == 0  # again: change capture and the ledger from S3
    con = duckdb.connect(str(tmp_path / "out" / "w.duckdb"), read_only=True)
    try:
        billed = con.execute("SELECT count(*), count(name) FROM billed").fetchone()
        clients = con.execute("SELECT count(*), count(DISTINCT id) FROM clients_once").fetchone()
    finally:
        con.close()
    assert billed is not None and billed[0] > 0 and billed[1] == billed[0]  # joined to their client
    assert clients is not None and clients[0] == clients[1] > 0  # each client once over two runs
    stored = keys(bucket, "couplet/")
    assert "couplet/staging/hv/clients/all.parquet" in stored
    assert any(k.startswith("couplet/staging/hv/time_entries/") for k in stored)
    assert "couplet/flows/billing/billed.parquet" in stored
    assert "couplet/ledgers/billing/clients_once.parquet" in stored  # output name as the flow names it
    assert not [k for k in stored if k.endswith(".tmp")]
    local = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert not [p for p in local if p.startswith(("data", "s3:", "couplet"))], local
