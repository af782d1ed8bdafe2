"""Peak resident memory of a process and all its descendants, read from /proc (Linux only).

A command that forks workers (dlt's normalizer, a Dagster step) or calls a helper is charged for
them too, which `getrusage` of the command alone would miss. `PeakSampler` samples the sum every
50 ms; a descendant living less than that may go unseen.
"""

from __future__ import annotations

import os
import threading

SAMPLE_SECONDS = 0.05


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process. `/proc/<pid>/stat`, because `task/*/children` needs a
    kernel option that not every machine has."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:  # gone between listdir and open
            continue
        # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
        parents[int(name)] = int(stat.rpartition(")")[2].split()[1])
    return parents


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0  # exited, or a zombie (no VmRSS line)


def tree_rss_kib(root: int) -> int:
    """Resident memory of `root` and all its descendants, summed."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(children.get(pid, ()))
    return total


class PeakSampler(threading.Thread):
    """Samples `tree_rss_kib(pid)` until stopped and keeps the maximum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.pid))
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
