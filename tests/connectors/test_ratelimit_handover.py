"""A window's quota spent in one process is respected by the next: the limiter's log handed over.

In simulated time, a fresh limiter that restores another's snapshot waits for the window to pass;
restoring a log's own snapshot counts nothing twice; old sends and a 429's hold carry over as they
should. Then for real: two processes, one after the other, each staging through the sandbox with a
small published limit, and the sandbox's own request log never shows more than the limit in any
window.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from connectors.core.entity import RateLimit
from connectors.core.ratelimit import RateLimiter
from sandbox.common import RateWindow, SandboxOptions
from sandbox.server import client_env, start_background
from tests.connectors.test_ratelimit import SimClock, busiest

LIMITS = (RateLimit(5, 100), RateLimit(2, 1))


class Process:
    """A process's view of simulated time: its own monotonic clock, the shared wall clock."""

    def __init__(self, wall: SimClock, started_at: float) -> None:
        self.wall, self.offset = wall, started_at  # monotonic = wall - offset (each process its own)

    def clock(self) -> float:
        return self.wall.now - self.offset

    def limiter(self, limits: tuple[RateLimit, ...] = LIMITS) -> RateLimiter:
        return RateLimiter(limits, clock=self.clock, sleep=self.wall.sleep, wall=lambda: self.wall.now)


def spend(limiter: RateLimiter, wall: SimClock, count: int) -> list[float]:
    sent: list[float] = []

    async def go() -> None:
        for _ in range(count):
            await limiter.acquire()
            sent.append(wall.now)

    asyncio.run(go())
    return sent


def test_a_quota_spent_in_one_process_is_respected_by_the_next() -> None:
    wall = SimClock()
    a = Process(wall, started_at=990.0).limiter()
    first = spend(a, wall, 5)  # the 100 s window's whole quota
    state = a.snapshot()
    wall.now += 1.0
    b = Process(wall, started_at=wall.now - 3.0).limiter()  # another process, another monotonic origin
    b.restore(state)
    second = spend(b, wall, 3)
    sent = first + second
    assert busiest(sent, 100) <= 5
    assert busiest(sent, 1) <= 2
    assert second[0] >= first[0] + 100  # B waited for A's window, not for its own empty log


def test_without_the_handover_the_next_process_would_exceed_the_window() -> None:
    """The test above can fail: a fresh log alone lets B spend the quota again at once."""
    wall = SimClock()
    first = spend(Process(wall, 990.0).limiter(), wall, 5)
    wall.now += 1.0
    second = spend(Process(wall, wall.now).limiter(), wall, 3)
    assert busiest(first + second, 100) > 5


def test_restoring_its_own_snapshot_counts_no_send_twice() -> None:
    wall = SimClock()
    limiter = Process(wall, 990.0).limiter()
    spend(limiter, wall, 4)  # two bursts of two: some sends are less than a millisecond apart
    for _ in range(3):
        limiter.restore(limiter.snapshot())
    assert len(limiter.snapshot()["sent"]) == 4
    assert len(spend(limiter, wall, 1)) == 1 and wall.now < 1_100  # the fifth fits without waiting


def test_old_sends_are_dropped_and_future_ones_count_as_now() -> None:
    wall = SimClock()
    limiter = Process(wall, 0.0).limiter()
    longest = 100 + 1.0  # the 100 s window and its margin
    limiter.restore({"sent": [wall.now - longest - 5, wall.now - 50, wall.now + 3_600], "hold_until": 0})
    kept = limiter.snapshot()["sent"]
    assert kept == [pytest.approx(wall.now - 50, abs=0.002), pytest.approx(wall.now, abs=0.002)]


def test_a_429_hold_carries_over() -> None:
    wall = SimClock()
    a = Process(wall, 990.0).limiter()
    a.penalise(30.0)
    b = Process(wall, wall.now - 7.0).limiter()
    b.restore(a.snapshot())
    assert b.delay(b._clock()) == pytest.approx(30.0, abs=0.002)


# -- two real processes against the sandbox -------------------------------------------------------

WINDOW = RateWindow(4, 15)  # the sandbox's published limit for the test: 4 requests per 15 s
STAGE = textwrap.dedent(
    """
    import sys
    from connectors import get_source
    from connectors.core.settings import resolve_settings
    from pipelines.staging import Staging, stage_entity

    source = get_source("harvest")
    settings = resolve_settings(source)
    for _ in range(int(sys.argv[2])):  # a read (and a count, once something is staged: change capture)
        stage_entity(source, settings, "hv", "clients", Staging(sys.argv[1]))
    """
)


def test_two_processes_one_after_the_other_keep_the_published_window(tmp_path: Path) -> None:
    server = start_background(SandboxOptions(rate_limits={"harvest": (WINDOW,)}))
    try:
        env = {
            **os.environ,
            **client_env(server.base_url),
            "HARVEST_RATE_LIMIT": f"{WINDOW.limit}/{int(WINDOW.seconds)}s",
        }
        script = tmp_path / "stage.py"
        script.write_text(STAGE)
        data = tmp_path / "data"
        for count in (2, 2):  # the second process starts right after the first has spent 3 of 4
            done = subprocess.run(
                [sys.executable, str(script), str(data), str(count)],
                env=env,
                cwd=Path(__file__).resolve().parents[2],
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert done.returncode == 0, done.stderr[-2000:]
        log = httpx.get(server.base_url + "/harvest/_admin/requests", timeout=30).json()["requests"]
    finally:
        server.stop()
    api = [r for r in log if r["path"].endswith("/clients")]
    assert len(api) == 7 and all(r["status"] == 200 for r in api)  # none refused with a 429
    arrivals = sorted(r["at"] for r in api)
    assert busiest(arrivals, WINDOW.seconds) <= WINDOW.limit
    assert (data / "state" / "ratelimit" / "hv.json").exists()
