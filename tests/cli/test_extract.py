"""`couplet extract` against the sandbox: every entity, every output format, every record once."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from connectors import get_source
from connectors.core.extract import Extractor
from connectors.core.ratelimit import LIMITERS
from dagster_project.cli import main
from dagster_project.demo import demo_env
from pipelines.tempfiles import STALE_AFTER
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

ANCHOR = dt.date(2026, 6, 1)
HEADERS = {
    "X-ClockodoApiUser": "sandbox@couplet.dev",
    "X-ClockodoApiKey": "sandbox-key",
    "X-Clockodo-External-Application": "tests;tests@couplet.dev",
}


@pytest.fixture(scope="module")
def sandbox():
    server = start_background(SandboxOptions(org=OrgOptions(anchor=ANCHOR, history_days=60)))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def env(sandbox, monkeypatch: pytest.MonkeyPatch):
    for key, value in demo_env(sandbox.base_url).items():
        monkeypatch.setenv(key, value)
    # Each test is a fresh quarter of an hour for the rate limits (the entries quota is 300/15 min,
    # and a full extract from 2010 spends about 200 requests): on the sandbox and in this process.
    httpx.post(sandbox.base_url + "/clockodo/api/_admin/reset").raise_for_status()
    LIMITERS.clear()


def read(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("entity", [e.name for e in get_source("clockodo").entities])
def test_every_entity_extracts(entity: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{entity}.jsonl"
    assert main(["extract", "clockodo", entity, "--out", str(out)]) == 0
    rows = read(out)
    assert rows, f"{entity}: nothing extracted"
    keys = [tuple(r[k] for k in get_source("clockodo").entity(entity).primary_key) for r in rows]
    assert len(keys) == len(set(keys))
    printed = capsys.readouterr().out
    assert f"{len(rows)} rows" in printed and "requests" in printed


def test_entries_are_every_record_the_api_serves(sandbox, tmp_path: Path) -> None:
    expected, page = [], 1
    while True:
        body = httpx.get(
            sandbox.base_url + "/clockodo/api/v2/entries",
            params={"time_since": "2025-01-01T00:00:00Z", "time_until": "2027-01-01T00:00:00Z", "page": page},
            headers=HEADERS,
        ).json()
        expected += [e["id"] for e in body["entries"]]
        if page >= body["paging"]["count_pages"]:
            break
        page += 1
    for suffix in (".parquet", ".csv", ".jsonl"):
        out = tmp_path / f"entries{suffix}"
        assert main(["extract", "clockodo", "entries", "--start", "2025-01-01", "--out", str(out)]) == 0
        got = [int(r["id"]) for r in read(out)]
        assert sorted(got) == sorted(expected), suffix


def test_date_range_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "may.parquet"
    assert (
        main(
            [
                "extract",
                "clockodo",
                "entries",
                "--start",
                "2026-05-11",
                "--end",
                "2026-05-12",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    days = {r["time_since"].date() for r in read(out)}
    assert days == {dt.date(2026, 5, 11)}
    assert main(["extract", "clockodo", "entrys", "--out", str(out)]) == 2
    assert "no entity 'entrys'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["extract", "clockodo", "entries", "--out", str(tmp_path / "x.xlsx")])


def test_auth_failure_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("CLOCKODO_API_KEY", "wrong-key-123")
    assert main(["extract", "clockodo", "users", "--out", str(tmp_path / "u.csv")]) == 2
    err = capsys.readouterr().err
    assert "authentication failed" in err and "CLOCKODO_API_KEY" in err
    assert "wrong-key-123" not in err
    assert list(tmp_path.iterdir()) == [], "neither the output nor a temp file of it"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_an_extract_interrupted_mid_write_keeps_the_old_output_and_leaves_no_temp_file(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / f"entries{suffix}"
    out.write_text("the previous extract")
    real = Extractor.extract

    async def one_slice_then_ctrl_c(self, *args, **kwargs):
        async for result in real(self, *args, **kwargs):
            yield result  # written to the temp file ...
            raise KeyboardInterrupt  # ... then Ctrl-C

    monkeypatch.setattr(Extractor, "extract", one_slice_then_ctrl_c)
    assert main(["extract", "clockodo", "entries", "--start", "2026-05-01", "--out", str(out)]) == 130
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    assert out.read_text() == "the previous extract"


def test_an_extract_sweeps_stale_temp_files_of_its_output_and_keeps_fresh_ones(tmp_path: Path) -> None:
    def plant(name: str, age: float) -> Path:
        path = tmp_path / name
        path.write_text("left by a killed extract" if age else "being written by another extract")
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    stale = [plant(".u.csv.tmp", 2 * STALE_AFTER), plant(".u.csv.5e1f.tmp", STALE_AFTER + 60)]
    fresh = plant(".u.csv.9a0b.tmp", 0)
    another_output = plant(".teams.csv.tmp", 2 * STALE_AFTER)
    assert main(["extract", "clockodo", "users", "--out", str(tmp_path / "u.csv")]) == 0
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and another_output.exists()
    assert read(tmp_path / "u.csv")
