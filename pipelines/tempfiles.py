"""Files written under a temporary name and renamed over their target, and the leftovers of those.

A writer puts the bytes in ``.<target name>.<random>.tmp`` beside the target and renames it over the
target when complete, so a reader never sees half a file and a failed write keeps the old one
(``replacing``). Any failure — an exception, Ctrl-C, a cancelled task — removes the temp file on its
way out. A killed process (``kill -9``, an OOM kill, a lost machine) cannot clean up, so writers also
``sweep`` their folder: temp files whose last write is older than ``STALE_AFTER`` are removed.

Why by age, and why an hour: another process may be writing its own temp file in the same folder
at this moment (two runs of one entity, a second ``couplet extract`` of the same output), and no
portable test tells a live writer's file from a dead one's (locks do not survive network and object
store mounts; a pid says nothing across machines). A live writer keeps its file's modification time
fresh: staging writes a partition's file in one go, seconds long, and ``couplet extract`` appends each
slice as it arrives. An hour without a single write is far beyond either; a leftover, meanwhile, only
costs disk space until the next run.
"""

from __future__ import annotations

import glob
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

STALE_AFTER = 3600.0  # seconds without a write after which a temp file is a dead writer's leftover
TEMP_PATTERN = ".*.tmp"  # every temp file of a folder, this module's and the older fixed names


def temp_path(target: Path) -> Path:
    """A fresh temp name beside ``target`` (unique: concurrent writers never share one)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


def temp_patterns(target: Path) -> tuple[str, str]:
    """Glob patterns of ``target``'s own temp files: this module's and the former ``.<name>.tmp``."""
    name = glob.escape(target.name)
    return f".{name}.*.tmp", f".{name}.tmp"


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """Yield a temp path beside ``target``; when the block completes, rename it over ``target``.

    The temp file is removed however the block ends (``BaseException`` included), so a failure
    leaves the previous ``target`` and no temp file behind.
    """
    tmp = temp_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def sweep(
    folder: Path,
    patterns: Iterable[str] = (TEMP_PATTERN,),
    older_than: float = STALE_AFTER,
    now: float | None = None,
) -> list[Path]:
    """Remove temp files in ``folder`` matching ``patterns`` not written for ``older_than`` seconds.

    Younger ones may belong to a writer that is still running, and are kept. Returns what was removed.
    """
    now = time.time() if now is None else now
    removed = []
    for path in sorted({p for pattern in patterns for p in folder.glob(pattern)}):
        try:
            if now - path.stat().st_mtime < older_than:
                continue
            path.unlink()
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            continue
        removed.append(path)
    return removed
