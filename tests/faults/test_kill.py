"""kill -9 in the middle of a run, during the extraction and during the publish: every destination
holds either everything it held before or everything the new run brings (never a part), the staged
Parquet files all read, and the next run completes with exactly the source's rows."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import RunningServer, client_env, start_background

from .common import FLOW, TODAY, finish, harvest_ids, holdings, start_run


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[RunningServer, dict[str, str], Path]]:
    org = OrgOptions(anchor=TODAY + dt.timedelta(days=1), history_days=75, users=30)
    server = start_background(SandboxOptions(org=org, rate_limit=False))
    env = {
        **client_env(server.base_url),
        "HARVEST_RATE_LIMIT": "off",
        "COUPLET_FLOWS": str(tmp_path / "flow.yaml"),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    (tmp_path / "flow.yaml").write_text(FLOW)
    yield server, env, tmp_path
    server.stop()


def faults(server: RunningServer, **settings: float) -> None:
    httpx.post(f"{server.base_url}/harvest/_admin/faults", json=settings, timeout=10).raise_for_status()


def requests_served(server: RunningServer) -> int:
    return int(httpx.get(f"{server.base_url}/harvest/_admin/requests", timeout=10).json()["count"])


def kill(proc) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def staged_files_read(work: Path) -> int:
    files = [p for p in (work / "data").rglob("*.parquet")]
    for path in files:
        pq.read_table(path)  # a torn file would raise here
    return len(files)


def delete_some(server: RunningServer, ids: set[int], count: int) -> set[int]:
    gone = set(sorted(ids)[-count:])  # recent ones: inside the run's range
    for record in gone:
        httpx.delete(f"{server.base_url}/harvest/_admin/time_entries/{record}", timeout=10).raise_for_status()
    return gone


def test_kill_during_extract_and_during_publish_loses_nothing(world) -> None:
    server, env, work = world
    code, out = finish(start_run(work, env))
    assert code == 0, out
    before = harvest_ids(server.base_url, env)
    assert all(held == before for held in holdings(work).values())
    staged = staged_files_read(work)

    # 1. During the extraction: requests slowed down, killed once several have been served.
    delete_some(server, before, 5)
    faults(server, latency_ms=150)
    served = requests_served(server)
    proc = start_run(work, env)
    deadline = time.monotonic() + 120
    while requests_served(server) < served + 3:
        assert proc.poll() is None and time.monotonic() < deadline, finish(proc)[1]
        time.sleep(0.02)
    kill(proc)
    assert all(held == before for held in holdings(work).values()), "a destination changed mid-extract"
    assert staged_files_read(work) >= staged

    # 2. During the publish: killed as soon as the Excel file's temporary copy appears.
    faults(server, latency_ms=0)
    proc = start_run(work, env)
    out_dir = work / "out"
    deadline = time.monotonic() + 180
    while not any(p.name.endswith(".tmp") for p in out_dir.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, finish(proc)[1]
        time.sleep(0.005)
    kill(proc)
    after = harvest_ids(server.base_url, env)
    for name, held in holdings(work).items():
        assert held in (before, after), f"{name} holds a part of a run"
    assert staged_files_read(work) >= staged

    # 3. The next run completes and every destination equals the source. The killed writer's
    # copy of the workbook is swept once it is old (an hour); a live writer's fresh one is kept.
    leftovers = [p for p in out_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers
    for path in leftovers:
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    fresh = out_dir / ".hours.xlsx.another-writer.tmp"
    fresh.write_bytes(b"")
    code, out = finish(start_run(work, env))
    assert code == 0, out
    assert all(held == after for held in holdings(work).values())
    assert not any(p.exists() for p in leftovers) and fresh.exists()
