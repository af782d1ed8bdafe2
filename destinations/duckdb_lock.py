"""Waiting for a DuckDB file that another process holds, and saying who holds it.

DuckDB lets one process at a time open a file for writing, and none while it is being written: a
second ``couplet flows run`` writing the same warehouse gets ``IO Error: Could not set lock on
file ...`` at once. ``open_when_free`` retries such an open with bounded exponential backoff
(0.05 s doubling to at most 2 s between tries, jittered so two waiters do not retry in step) for
``COUPLET_DUCKDB_LOCK_TIMEOUT`` seconds (default 60; 0 fails at once), then raises
``DestinationLockedError`` naming the file, the holder's PID and command, how long it waited and
what to do. Any other error passes through at once.

Inside one Dagster deployment the per-file concurrency pool (``dagster_project/publish.py``) queues
the writers before they get here; this wait is what serialises two CLI runs, or a run and a
person's DuckDB shell.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import duckdb

from .base import DestinationConfigError, DestinationLockedError

ENV_LOCK_TIMEOUT = "COUPLET_DUCKDB_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0
FIRST_DELAY = 0.05
MAX_DELAY = 2.0  # also the longest a waiter lags behind the holder's release

T = TypeVar("T")

# DuckDB 2.0: 'Could not set lock on file "<path>": Conflicting lock is held in <exe> (PID 1234)...'
_LOCKED = "Could not set lock on file"
_HOLDER = re.compile(r"held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")
# Command-line words shown for the holder: flags and short lower-case words (``-m``, ``flows``,
# ``run``). The first other word ends the list, so values that could be secrets are never shown.
_PLAIN = re.compile(r"^-{0,2}[a-z][a-z0-9_.-]{0,29}$")
_MAX_WORDS = 6


def lock_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds to wait for a locked DuckDB file: ``COUPLET_DUCKDB_LOCK_TIMEOUT``, default 60."""
    env = os.environ if env is None else env
    raw = (env.get(ENV_LOCK_TIMEOUT) or "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise DestinationConfigError(
            f"{ENV_LOCK_TIMEOUT}={raw!r} is not a number of seconds; set it to e.g. 60 (0: do not wait)"
        )
    return seconds


def is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and _LOCKED in str(exc)


def holder(message: str) -> str:
    """``PID 1234, python3.11 -m dagster_project.cli flows run`` from DuckDB's lock error, or ``""``."""
    found = _HOLDER.search(message)
    if found is None:
        return ""
    pid = found["pid"]
    return f"PID {pid}, {_command(pid) or os.path.basename(found['exe'])}"


def _command(pid: str) -> str:
    """The holder's program and its first plain words (Linux ``/proc``); ``""`` when unreadable."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return ""
    argv = [a for a in argv if a]
    if not argv:
        return ""
    words = [os.path.basename(argv[0])]
    for arg in argv[1:]:
        if len(words) == _MAX_WORDS or not _PLAIN.match(arg):
            return " ".join(words) + " …"
        words.append(arg)
    return " ".join(words)


def open_when_free(
    open_: Callable[[], T],
    path: str,
    timeout: float | None = None,
    *,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``open_()``, retried while another process holds ``path``'s lock, for up to ``timeout`` s
    (default: ``lock_timeout()``); then ``DestinationLockedError``."""
    timeout = lock_timeout() if timeout is None else timeout
    deadline = clock() + timeout
    delay = FIRST_DELAY
    while True:
        try:
            return open_()
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise
            left = deadline - clock()
            if left <= 0:
                raise locked_error(path, str(exc), timeout) from None
            sleep(min(left, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, MAX_DELAY)


def locked_error(path: str, message: str, waited: float) -> DestinationLockedError:
    who = holder(message)
    return DestinationLockedError(
        f"{path} is locked by another process{f' ({who})' if who else ''}; waited {waited:g} s. "
        f"DuckDB lets one process at a time write a file: wait for that one to finish, or set "
        f"{ENV_LOCK_TIMEOUT} (seconds) to wait longer"
    )
