"""Staging's temp files: a failure mid-write (an exception or Ctrl-C) removes its temp file and keeps
the previous file; temp files a killed run left are swept by the next write into the folder once
they are older than `STALE_AFTER`; a fresh one (another process writing right now) is kept."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.staging import Staging
from pipelines.tempfiles import STALE_AFTER, replacing, sweep, temp_patterns

SCHEMA = pa.schema([("id", pa.int64()), ("_window_start", pa.date32())])


def table(*ids: int, day: dt.date = dt.date(2026, 5, 1)) -> pa.Table:
    return pa.table({"id": list(ids), "_window_start": [day] * len(ids)}, schema=SCHEMA)


def plant(path: Path, age: float) -> Path:
    """A temp file last written `age` seconds ago (by a run that was killed, or one still running)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1 half a file")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def failing_write(after_bytes: int, exc: BaseException):
    """`pq.write_table` that writes part of the file, then fails (as a full disk or Ctrl-C would)."""

    def write(data: pa.Table, where: Any, **kw: Any) -> None:
        Path(where).write_bytes(b"PAR1" + b"\0" * after_bytes)
        raise exc

    return write


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    staging = Staging(tmp_path)
    staging.write("c", "events", "2026-05", table(1, 2))
    monkeypatch.setattr(pq, "write_table", failing_write(100, exc))
    with pytest.raises(type(exc)):
        staging.write("c", "events", "2026-05", table(3))
    monkeypatch.undo()
    folder = staging.folder("c", "events")
    assert temp_files(folder) == [] and [p.name for p in folder.iterdir()] == ["2026-05.parquet"]
    assert pq.read_table(folder / "2026-05.parquet").column("id").to_pylist() == [1, 2]


def test_a_failed_fold_of_day_files_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = Staging(tmp_path)
    folder = staging.folder("c", "events")
    folder.mkdir(parents=True)
    pq.write_table(table(3, day=dt.date(2026, 5, 3)), folder / "2026-05-03.parquet")
    monkeypatch.setattr(pq, "write_table", failing_write(10, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        staging.files("c", "events")
    assert temp_files(folder) == [] and [p.name for p in folder.iterdir()] == ["2026-05-03.parquet"]


def test_the_next_write_sweeps_dead_runs_temp_files_and_keeps_a_live_writers(tmp_path: Path) -> None:
    folder = Staging(tmp_path).folder("c", "events")
    folder.mkdir(parents=True)
    dead = [
        plant(folder / ".2026-04.parquet.3f2a9c.tmp", 2 * STALE_AFTER),  # killed yesterday
        plant(folder / ".2026-05.0b1c2d.tmp", STALE_AFTER + 60),  # the former naming, killed an hour ago
    ]
    live = [
        plant(folder / ".2026-06.parquet.77aa01.tmp", 0),  # another process is writing it right now
        plant(folder / ".2026-07.parquet.77aa02.tmp", STALE_AFTER - 120),  # a slow writer, still in time
    ]
    other = plant(tmp_path / "staging" / "c" / "users" / ".all.parquet.aa.tmp", 2 * STALE_AFTER)

    Staging(tmp_path).write("c", "events", "2026-05", table(1))

    assert not any(p.exists() for p in dead)
    assert all(p.exists() for p in live), "a fresh temp file may be a live writer's"
    assert other.exists(), "only the folder written into is swept"
    assert (folder / "2026-05.parquet").exists()


def test_replacing_renames_on_success_and_removes_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with replacing(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.csv.") and tmp.name.endswith(".tmp")
        tmp.write_text("a\n")
    assert target.read_text() == "a\n" and temp_files(tmp_path) == []
    with pytest.raises(KeyboardInterrupt), replacing(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "a\n" and temp_files(tmp_path) == []


def test_sweep_takes_only_the_patterns_given(tmp_path: Path) -> None:
    own = [
        plant(tmp_path / ".out.csv.tmp", STALE_AFTER * 3),
        plant(tmp_path / ".out.csv.ab12.tmp", STALE_AFTER * 3),
    ]
    other = plant(tmp_path / ".out.csv.bak.tmp.keep", STALE_AFTER * 3)
    neighbour = plant(tmp_path / ".other.csv.tmp", STALE_AFTER * 3)
    assert sorted(sweep(tmp_path, temp_patterns(tmp_path / "out.csv"))) == sorted(own)
    assert other.exists() and neighbour.exists()
    assert sweep(tmp_path / "missing-folder") == []
