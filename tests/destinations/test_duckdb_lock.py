"""A DuckDB file held by another process: the writer and the reader wait, then fail clearly.

The holder is a real second process that opens the file with duckdb. Released within the wait,
the write goes through; held past ``COUPLET_DUCKDB_LOCK_TIMEOUT``, the error names the file, the
holder's PID and command, the wait and the setting, and the table keeps every row it had.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from destinations.base import DestinationConfigError, DestinationLockedError
from destinations.duckdb import DuckDBTarget, DuckDBWriter
from destinations.duckdb_lock import MAX_DELAY, holder, lock_timeout, open_when_free


@contextmanager
def held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``path`` open for writing for ``seconds``, then idle (still alive)."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
        "con.close()\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.communicate()


def ids(writer: DuckDBWriter, target: DuckDBTarget) -> list[int]:
    return sorted(writer.read(target).column("id").to_pylist())


def batch(*values: int) -> pa.Table:
    return pa.table({"id": pa.array(values, pa.int64()), "name": [f"n{v}" for v in values]})


def test_the_writer_waits_for_the_holder_and_then_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUPLET_DUCKDB_LOCK_TIMEOUT", "30")
    target = DuckDBTarget(path=str(tmp_path / "w.duckdb"), table="t")
    writer = DuckDBWriter()
    writer.write(target, batch(1, 2), "replace")
    with held(tmp_path / "w.duckdb", 1.0):
        started = time.perf_counter()
        result = writer.write(target, batch(2, 3), "upsert", primary_key=("id",))
        waited = time.perf_counter() - started
        assert result.rows_written == 2
        assert waited >= 0.5  # it really waited for the other process, then went through
        assert ids(writer, target) == [1, 2, 3]  # and so does a reader


def test_held_past_the_timeout_the_error_names_file_holder_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUPLET_DUCKDB_LOCK_TIMEOUT", "0.5")
    path = tmp_path / "w.duckdb"
    target = DuckDBTarget(path=str(path), table="t")
    writer = DuckDBWriter()
    writer.write(target, batch(1, 2), "replace")
    with held(path, 30) as proc:
        started = time.perf_counter()
        with pytest.raises(DestinationLockedError) as info:
            writer.write(target, batch(9), "replace")
        assert 0.5 <= time.perf_counter() - started < 5
        message = str(info.value)
        assert message.startswith(f"{path} is locked by another process (PID {proc.pid}, python")
        assert "waited 0.5 s" in message and "set COUPLET_DUCKDB_LOCK_TIMEOUT" in message
        assert "import" not in message  # only the holder's leading plain words, never its arguments
        with pytest.raises(DestinationLockedError, match=f"PID {proc.pid}"):  # readers wait too
            writer.read(target)
    assert ids(writer, target) == [1, 2]  # nothing lost


def test_the_backoff_is_bounded_and_stops_at_the_timeout() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    def locked() -> None:
        raise duckdb.IOException(
            'IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /usr/bin/python3 (PID 999999999)'
        )

    with pytest.raises(
        DestinationLockedError, match=r"^/x.duckdb is locked .*\(PID 999999999, python3\); waited 20 s"
    ):
        open_when_free(locked, "/x.duckdb", 20, sleep=sleep, clock=lambda: now[0])
    assert 19.9 <= now[0] <= 20.0
    assert max(sleeps) <= MAX_DELAY and sleeps[0] < 0.1  # starts short, never longer than the cap
    assert len(sleeps) < 30

    def other() -> None:
        raise duckdb.IOException("IO Error: Cannot open file: permission denied")

    with pytest.raises(duckdb.IOException, match="permission denied"):  # not a lock: no waiting
        open_when_free(other, "/x.duckdb", 20, sleep=sleep, clock=lambda: now[0])


def test_the_timeout_setting() -> None:
    assert lock_timeout({}) == 60
    assert lock_timeout({"COUPLET_DUCKDB_LOCK_TIMEOUT": "2.5"}) == 2.5
    assert lock_timeout({"COUPLET_DUCKDB_LOCK_TIMEOUT": "0"}) == 0
    for bad in ("soon", "-1", "inf"):
        with pytest.raises(DestinationConfigError, match=r"COUPLET_DUCKDB_LOCK_TIMEOUT=.*e\.g\. 60"):
            lock_timeout({"COUPLET_DUCKDB_LOCK_TIMEOUT": bad})
    assert holder("IO Error: something else") == ""
