"""A rate limiter that keeps every published window of an API at once.

APIs publish limits as "N requests per window" for several windows together (Clockodo: 900/min,
2,250/15 min, 4,500/h, 20,000/day). A classic token bucket refilling at N/window lets up to 2N
through in one window after a burst, which would trip a hard window. So each window keeps the
send times of its last N requests (a sliding log, the exact form of a token bucket whose capacity
equals the window's quota): a request may go when, for every window, fewer than N requests were
sent in the last ``window`` seconds. Waiting time is recorded as throttled seconds.

A 429 holds everyone back for its ``Retry-After`` and no longer: the hold is kept apart from the
windows' logs, so it never stretches a long window (a day) into a wait of its own.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Sequence

from .entity import RateLimit

# Each window is kept a little longer than published: the server counts arrivals, and network
# jitter can bring two requests sent a window apart closer. Jitter is a matter of milliseconds, so
# the margin is 2 % of the window, at least 50 ms and at most a second (2 % of a day would be
# 29 minutes of needless waiting).
MARGIN_SHARE, MARGIN_MIN, MARGIN_MAX = 0.02, 0.05, 1.0


def margin(per_seconds: float) -> float:
    return min(max(MARGIN_SHARE * per_seconds, MARGIN_MIN), MARGIN_MAX)


class RateLimiter:
    def __init__(
        self,
        limits: Sequence[RateLimit],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = tuple(limits)
        self._clock = clock
        self._sleep = sleep
        self._sent = [collections.deque[float](maxlen=lim.requests) for lim in self.limits]
        self._hold_until = 0.0  # after a 429: nobody sends before this
        self.throttled_seconds = 0.0

    def delay(self, now: float) -> float:
        """Seconds until one more request fits every window (and any hold after a 429 is over)."""
        wait = max(0.0, self._hold_until - now)
        for lim, sent in zip(self.limits, self._sent, strict=True):
            if len(sent) >= lim.requests:
                wait = max(wait, sent[0] + lim.per_seconds + margin(lim.per_seconds) - now)
        return wait

    async def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        waited = 0.0
        # No lock: the check and the append below run without an await between them, which is
        # atomic on one event loop, and a lock would tie the limiter to one loop while the
        # registry outlives loops (each extraction runs its own ``asyncio.run``).
        while True:
            now = self._clock()
            wait = self.delay(now)
            if wait <= 0:
                for sent in self._sent:
                    sent.append(now)
                break
            await self._sleep(wait)
            waited += wait
        self.throttled_seconds += waited
        return waited

    def penalise(self, seconds: float) -> None:
        """After a 429, hold everyone back for ``seconds`` (its ``Retry-After``), then carry on.

        The windows' logs are left as they are: they still hold what was really sent, so the
        published limits keep holding after the pause, and a pause costs only its own length.
        """
        self._hold_until = max(self._hold_until, self._clock() + seconds)


_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate_limits(text: str) -> tuple[RateLimit, ...]:
    """``"50/s"`` or ``"900/min,20000/day"`` -> limits; ``"off"`` -> none. For a connection's
    ``rate_limit`` setting (a plan with a smaller quota, or a benchmark against a sandbox)."""
    text = text.strip().lower()
    if text in ("off", "none", "0"):
        return ()
    out = []
    for part in text.split(","):
        count, _, unit = part.strip().partition("/")
        if not count.strip().isdigit() or unit.strip() not in _UNITS:
            raise ValueError(f"rate limit {part.strip()!r}: write it as N/s, N/min, N/h or N/day (or 'off')")
        out.append(RateLimit(int(count), _UNITS[unit.strip()]))
    return tuple(out)


class LimiterRegistry:
    """Limiters shared by every extraction of one account within a process.

    Quotas are per API user, not per entity, so all entities of a connection draw from one
    limiter; an entity's extra rate group (e.g. Clockodo entries with enhanced_list) adds its own.
    """

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, ...], RateLimiter] = {}

    def get(self, key: tuple[str, ...], limits: Sequence[RateLimit]) -> RateLimiter:
        limiter = self._limiters.get(key)
        if limiter is None or limiter.limits != tuple(limits):
            limiter = self._limiters[key] = RateLimiter(limits)
        return limiter

    def clear(self) -> None:
        self._limiters.clear()


LIMITERS = LimiterRegistry()
