"""The limiter against the real published windows of every source: a 429 costs its Retry-After,
and no window of any source is ever exceeded, before or after a 429 (simulated time)."""

from __future__ import annotations

import asyncio
import bisect

import pytest

from connectors import CONNECTORS, get_source
from connectors.core.entity import RateLimit
from connectors.core.ratelimit import RateLimiter, _Send, margin


class SimClock:
    """Simulated time: sleeping moves the clock, nothing really waits."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def windows() -> list[tuple[str, tuple[RateLimit, ...]]]:
    """Every published set of windows: each source's account limits and each extra rate group."""
    out = []
    for name in sorted(CONNECTORS):
        source = get_source(name)
        out.append((name, tuple(source.rate_limits)))
        for group, limits in source.rate_groups.items():
            out.append((f"{name}/{group}", (*source.rate_limits, *limits)))
    return out


def busiest(sent: list[float], per_seconds: float) -> int:
    """The most requests that arrived within any ``per_seconds`` (half-open) at the server."""
    return max(bisect.bisect_left(sent, t + per_seconds) - i for i, t in enumerate(sent))


def send(limiter: RateLimiter, clock: SimClock, count: int, penalty_at: int | None = None) -> list[float]:
    sent: list[float] = []

    async def go() -> None:
        for i in range(count):
            await limiter.acquire()
            sent.append(clock.now)
            if i == penalty_at:
                limiter.penalise(2.0)  # this request was answered 429 with Retry-After: 2

    asyncio.run(go())
    return sent


def test_clockodo_429_costs_its_retry_after_not_half_an_hour() -> None:
    """The reported case: Clockodo's four windows, a 429 with Retry-After 2 answered 1,730 s."""
    clock = SimClock()
    limiter = RateLimiter(get_source("clockodo").rate_limits, clock=clock, sleep=clock.sleep)
    limiter.penalise(2.0)
    assert limiter.delay(clock.now) == pytest.approx(2.0)


@pytest.mark.parametrize(("name", "limits"), windows(), ids=[n for n, _ in windows()])
def test_published_windows_hold_and_a_429_pauses_only_its_retry_after(
    name: str, limits: tuple[RateLimit, ...]
) -> None:
    clock = SimClock()
    limiter = RateLimiter(limits, clock=clock, sleep=clock.sleep)
    largest = max(lim.requests for lim in limits)
    count = largest + min(lim.requests for lim in limits) + 10  # past the largest quota
    penalty_at = count // 3
    sent = send(limiter, clock, count, penalty_at)
    for lim in limits:
        assert busiest(sent, lim.per_seconds) <= lim.requests, f"{name}: {lim} exceeded"
    # The pause after the 429: its Retry-After, unless a window was due to hold the next one anyway.
    gap = sent[penalty_at + 1] - sent[penalty_at]
    unthrottled = RateLimiter(limits, clock=SimClock(), sleep=SimClock().sleep)
    expected = max(2.0, _window_wait(unthrottled, sent[: penalty_at + 1]))
    assert gap == pytest.approx(expected)


def _window_wait(limiter: RateLimiter, history: list[float]) -> float:
    """What the windows alone would make the next request wait after ``history``."""
    for lim, log in zip(limiter.limits, limiter._sent, strict=True):  # replaying a history
        log.extend(_Send(t) for t in history[-lim.requests :])
    return limiter.delay(history[-1])


def test_the_first_quota_goes_out_at_once_and_the_next_one_a_window_later() -> None:
    """Not over-cautious: Harvest's 100 requests per 15 s go at once, the 101st after 15 s and a
    margin (2 %: 0.3 s), not later."""
    clock = SimClock()
    limiter = RateLimiter(get_source("harvest").rate_limits, clock=clock, sleep=clock.sleep)
    sent = send(limiter, clock, 101)
    assert sent[99] == sent[0]
    assert sent[100] - sent[0] == pytest.approx(15 + margin(15))
    assert margin(86_400) == 1.0  # a day window is not held half an hour longer than published
