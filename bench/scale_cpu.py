"""CPU use for ``bench_scale.py``, read from /proc (Linux only): the whole machine's busy share
(``CpuClock``) and the CPU seconds of named process trees (``TreeCpu``), so a run's cost can be
told apart from the other work the machine was doing.
"""

from __future__ import annotations

import contextlib
import os
import threading


class CpuClock:
    """Share of the machine's CPU time (all cores) spent busy since it was made, from /proc/stat."""

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    def busy(self) -> float:
        busy, total = self._read()
        return (busy - self.start[0]) / max(1, total - self.start[1])


class TreeCpu(threading.Thread):
    """CPU seconds (user + system) used by named process trees, sampled every ``interval`` seconds
    from /proc until stopped. A process is charged to the first root among its ancestors; a process
    that ends is charged what it had used at its last sample, so each short-lived one may lose up to
    ``interval`` seconds (run workers live for many)."""

    def __init__(self, roots: dict[str, int], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.roots = {pid: name for name, pid in roots.items()}
        self.interval = interval
        self.used: dict[tuple[int, int], tuple[str, float]] = {}  # (pid, start tick) -> (root, seconds)
        self._halt = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")

    def _sample(self) -> None:
        stats: dict[int, list[str]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                with (
                    contextlib.suppress(OSError),
                    open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f,
                ):
                    stats[int(name)] = f.read().rpartition(")")[2].split()
        for pid, fields in stats.items():
            root, seen, at = None, 0, pid
            while at in stats and seen < 64:
                if at in self.roots:
                    root = self.roots[at]
                    break
                at, seen = int(stats[at][1]), seen + 1
            if root is not None:  # fields[11], [12]: utime, stime; [19]: start time (after "comm)")
                seconds = (int(fields[11]) + int(fields[12])) / self._tick
                self.used[(pid, int(fields[19]))] = (root, seconds)

    def run(self) -> None:
        while not self._halt.is_set():
            self._sample()
            self._halt.wait(self.interval)

    def stop(self) -> dict[str, float]:
        """Stops sampling; returns CPU seconds per root name."""
        self._halt.set()
        self.join()
        self._sample()
        totals: dict[str, float] = dict.fromkeys(self.roots.values(), 0.0)
        for root, seconds in self.used.values():
            totals[root] += seconds
        return totals
