"""Fewer garbage collections while pages are parsed: a scoped, process-wide gen-0 threshold.

A page parsed into Python is tens of thousands of short-lived dicts and lists. With CPython's
default threshold (a young collection every 700 allocations) the collector runs thousands of times
per extraction, finds the pages still alive, promotes them, and so sets off full collections that
walk every object in the process (in a Dagster run, all of Dagster's too): about a tenth of an
extraction's time, for no garbage. With a threshold of ``YOUNG_THRESHOLD`` the pages are freed by
their reference counts before a collection sees them. Reference cycles are still collected, only
less often; memory stays the same (measured in ``bench/README.md``).

The threshold is raised while at least one extraction runs (in any thread) and put back when the
last one ends, unless something else changed it meanwhile.
"""

from __future__ import annotations

import gc
import threading
from types import TracebackType

YOUNG_THRESHOLD = 50_000


class _Scope:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.saved: tuple[int, ...] = ()
        self.wanted: tuple[int, ...] = ()

    def enter(self) -> None:
        with self.lock:
            if self.active == 0:
                self.saved = gc.get_threshold()
                self.wanted = (max(self.saved[0], YOUNG_THRESHOLD), *self.saved[1:])
                gc.set_threshold(*self.wanted)
            self.active += 1

    def exit(self) -> None:
        with self.lock:
            self.active -= 1
            if self.active == 0 and gc.get_threshold() == self.wanted:
                gc.set_threshold(*self.saved)


_SCOPE = _Scope()


class FewerCollections:
    """Raise the young-generation threshold for the duration (nested and concurrent uses share it)."""

    def __enter__(self) -> None:
        _SCOPE.enter()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _SCOPE.exit()
