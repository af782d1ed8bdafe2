"""The data directory on Google Cloud Storage (``gs://``), against a GCS emulator in a subprocess.

``gcp-storage-emulator`` (PyPI) serves the GCS JSON API; ``STORAGE_EMULATOR_HOST`` points pyarrow's
GCS client at it (anonymous), as docs/flows.md says. Staging with a look-back's ``replace_days``,
the ``append_new`` ledger, and a whole flow run from the sandbox into DuckDB with
``data_dir: gs://...``: the same behaviour as on S3 (``test_datadir_s3.py``), on the other store.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from dagster_project.cli import main
from pipelines.ledger import Ledger
from pipelines.staging import Staging
from tests.pipelines.test_datadir_s3 import _free_port, billing_flow
from tests.pipelines.test_staging import API, ENTITY
from tests.worlds import world

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    port = _free_port()
    script = Path(sys.executable).with_name("gcp-storage-emulator")
    if not script.exists():
        pytest.skip("the GCS emulator is not installed (pip install gcp-storage-emulator)")
    proc = subprocess.Popen(
        [str(script), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            if proc.poll() is not None:
                pytest.skip("the GCS emulator did not start")
            try:
                httpx.get(url + "/storage/v1/b", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def bucket(emulator: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh bucket on the emulator, ``STORAGE_EMULATOR_HOST`` set; its name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    name = f"couplet-{uuid.uuid4().hex[:12]}"
    httpx.post(f"{emulator}/storage/v1/b", json={"name": name}, timeout=10).raise_for_status()
    return name


def keys(bucket: str, prefix: str = "") -> list[str]:
    """Object names in ``bucket`` under ``prefix``, files only, read by pyarrow's own GCS client."""
    host = os.environ["STORAGE_EMULATOR_HOST"].split("://", 1)[1]
    fs = pafs.GcsFileSystem(anonymous=True, endpoint_override=host, scheme="http")
    infos = fs.get_file_info(pafs.FileSelector(f"{bucket}/{prefix}".rstrip("/"), recursive=True))
    return sorted(i.path.split("/", 1)[1] for i in infos if i.type == pafs.FileType.File)


def test_staging_writes_reads_and_replaces_days_on_gcs(bucket: str) -> None:
    staging, api = Staging(f"gs://{bucket}/couplet"), API()
    api.stage(staging, "2026-01-01", "2026-04-01")
    assert keys(bucket, "couplet/staging") == [
        f"couplet/staging/t/events/{m}.parquet" for m in ("2026-01", "2026-02", "2026-03")
    ]
    assert staging.rows("t", "events", "2026-02") == 28
    api.records[31]["note"] = "edited"  # 2026-02-01
    del api.records[32]  # 2026-02-02, deleted at the source
    api.stage(staging, "2026-01-31", "2026-02-03")
    table = staging.read("t", ENTITY)
    notes = dict(zip(table.column("id").to_pylist(), table.column("note").to_pylist(), strict=True))
    assert len(notes) == 89 and 32 not in notes and notes[31] == "edited" and notes[33] == "v1"
    assert not [k for k in keys(bucket) if k.endswith(".tmp")]


def test_the_ledger_records_and_filters_on_gcs(bucket: str) -> None:
    ledger = Ledger(f"gs://{bucket}/couplet", "export", "entries")
    rows = pa.table({"id": pa.array([1, 2], pa.int64()), "note": ["a", "b"]})
    ledger.record(rows, ("id",))
    again = pa.table({"id": pa.array([2, 3], pa.int64()), "note": ["b", "c"]})
    assert ledger.new_rows(again, ("id",)).column("id").to_pylist() == [3]
    assert keys(bucket) == ["couplet/ledgers/export/entries.parquet"]


def test_a_flow_runs_with_its_data_directory_on_gcs(
    bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = billing_flow(f"gs://{bucket}/couplet")
    with world(monkeypatch, tmp_path, flow, days=20, users=2):
        assert main(["flows", "run", "billing"]) == 0
    con = duckdb.connect(str(tmp_path / "out" / "w.duckdb"), read_only=True)
    try:
        billed = con.execute("SELECT count(*), count(name) FROM billed").fetchone()
    finally:
        con.close()
    assert billed is not None and billed[0] > 0 and billed[1] == billed[0]
    stored = keys(bucket, "couplet")
    assert "couplet/staging/hv/clients/all.parquet" in stored
    assert "couplet/flows/billing/billed.parquet" in stored
    assert any(k.startswith("couplet/state/ratelimit/") for k in stored)  # the send log too
    local = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert not [p for p in local if p.startswith(("data", "gs:", "couplet"))], local
