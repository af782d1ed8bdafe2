"""A rate limiter that keeps every published window of an API at once.

APIs publish limits as "N requests per window" for several windows together (Clockodo: 900/min,
2,250/15 min, 4,500/h, 20,000/day). A classic token bucket refilling at N/window lets up to 2N
through in one window after a burst, which would trip a hard window. So each window keeps the
send times of its last N requests (a sliding log, the exact form of a token bucket whose capacity
equals the window's quota): a request may go when, for every window, fewer than N requests were
sent in the last ``window`` seconds. Waiting time is recorded as throttled seconds.

A 429 holds everyone back for its ``Retry-After`` and no longer: the hold is kept apart from the
windows' logs, so it never stretches a long window (a day) into a wait of its own.

A request counts from when its answer begins, not from when it took its slot: the server counts
it on arrival, which is after the slot (the process may be descheduled, the connection pool busy)
and before the answer. So ``take`` logs the slot at once (the request counts in every window while
it is on its way) and ``Slot.done`` moves it to the moment its answer began. Two sends a window
apart by these times reach the server at least a window apart, whatever the delays on the way;
the margin below is left for servers that count a little differently. (A request still unanswered
after a whole window counts from its slot: a window is 15 s and more, a request takes seconds.)

The log lives in process memory; ``snapshot`` and ``restore`` hand it to the next process (send
times and the hold as wall-clock epoch seconds, see ``pipelines.ratestate``), so a window's quota
spent by one process is respected by the next. Restoring merges: a send already in the log (the
same process handing its own state back) is not counted twice.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .entity import RateLimit

# Each window is kept a little longer than published, for servers that count a request a little
# after its arrival or round their clocks: 2 % of the window, at least 50 ms and at most a second
# (2 % of a day would be 29 minutes of needless waiting).
MARGIN_SHARE, MARGIN_MIN, MARGIN_MAX = 0.02, 0.05, 1.0
# Send times are handed over rounded to the nearest millisecond (half a millisecond is nothing
# beside a window's margin); two sends this close are the same send when a log is merged with its
# own snapshot. Nearest, not up: a send goes through snapshot and restore again at every save of
# the hand-over, and rounding up moved it a millisecond later now and then (the clocks' offset is
# read anew each time), until it no longer matched itself and was counted twice.
SAME_SEND = 0.002
# A wait this short is round-off between two clocks' arithmetic (each window has a 50 ms margin):
# sleeping it could not move a clock of large values at all, and the loop would never end.
ROUND_OFF = 1e-6


def margin(per_seconds: float) -> float:
    return min(max(MARGIN_SHARE * per_seconds, MARGIN_MIN), MARGIN_MAX)


class _Send:
    """One request in the windows' logs (shared by all of them): when it counts from."""

    __slots__ = ("at", "open")

    def __init__(self, at: float, open: bool = False) -> None:
        self.at = at
        self.open = open  # still on its way: counted from its slot until its answer begins


class Slot:
    """A request's place in every window, from ``RateLimiter.take``. Call ``done`` as soon as the
    answer begins (or the request failed): from then on the request counts from that moment."""

    __slots__ = ("_clock", "_send", "waited")

    def __init__(self, send: _Send, clock: Callable[[], float], waited: float) -> None:
        self._send, self._clock, self.waited = send, clock, waited

    def done(self) -> None:
        """The answer began (idempotent)."""
        if self._send.open:
            self._send.at = max(self._send.at, self._clock())
            self._send.open = False


class RateLimiter:
    def __init__(
        self,
        limits: Sequence[RateLimit],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.limits = tuple(limits)
        self._clock = clock
        self._wall = wall  # epoch seconds, for handing the log to another process
        self._sleep = sleep
        self._sent = [collections.deque[_Send](maxlen=lim.requests) for lim in self.limits]
        self._hold_until = 0.0  # after a 429: nobody sends before this
        self.throttled_seconds = 0.0

    def delay(self, now: float) -> float:
        """Seconds until one more request fits every window (and any hold after a 429 is over)."""
        wait = max(0.0, self._hold_until - now)
        for lim, sent in zip(self.limits, self._sent, strict=True):
            if len(sent) >= lim.requests:
                wait = max(wait, sent[0].at + lim.per_seconds + margin(lim.per_seconds) - now)
        return wait

    async def take(self) -> Slot:
        """Wait for a slot and take it; the request counts from now until its ``Slot.done``."""
        waited = 0.0
        # No lock: the check and the append below run without an await between them, which is
        # atomic on one event loop, and a lock would tie the limiter to one loop while the
        # registry outlives loops (each extraction runs its own ``asyncio.run``).
        while True:
            now = self._clock()
            wait = self.delay(now)
            if wait <= ROUND_OFF:
                send = _Send(now, open=True)
                for sent in self._sent:
                    sent.append(send)
                break
            await self._sleep(wait)
            waited += wait
        self.throttled_seconds += waited
        return Slot(send, self._clock, waited)

    async def acquire(self) -> float:
        """Wait for a slot for a request that counts from its slot; returns the seconds waited."""
        slot = await self.take()
        slot.done()
        return slot.waited

    def penalise(self, seconds: float) -> None:
        """After a 429, hold everyone back for ``seconds`` (its ``Retry-After``), then carry on.

        The windows' logs are left as they are: they still hold what was really sent, so the
        published limits keep holding after the pause, and a pause costs only its own length.
        """
        self._hold_until = max(self._hold_until, self._clock() + seconds)

    def longest(self) -> float:
        """Seconds a send still counts in some window (the longest window, with its margin)."""
        return max((lim.per_seconds + margin(lim.per_seconds) for lim in self.limits), default=0.0)

    def snapshot(self) -> dict[str, Any]:
        """The sends that still count in some window and the hold after a 429, in epoch seconds.

        Every window logs every send, so the longest log holds the others: it is handed over once.
        Requests still on their way are left out: they are handed over once answered (a process
        killed meanwhile loses those few).
        """
        offset = self._wall() - self._clock()
        oldest = self._clock() - self.longest()
        longest_log = max(self._sent, key=lambda d: d.maxlen or 0, default=collections.deque())
        times = sorted(s.at for s in longest_log if not s.open and s.at > oldest)
        sent = [round(t + offset, 3) for t in times]
        hold = self._hold_until + offset if self._hold_until > self._clock() else 0.0
        return {"sent": sent, "hold_until": round(hold, 3)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Add the sends and the hold of a ``snapshot`` (of this or another process) to the log.

        Sends older than the longest window are dropped, sends stamped in the future (another
        machine's clock ahead of ours) count as sent now, and sends the log already holds (within
        ``SAME_SEND``) are not added again.
        """
        now = self._clock()
        offset = self._wall() - now
        oldest = now - self.longest()
        times = sorted(min(float(t) - offset, now) for t in state.get("sent", ()))
        given = [_Send(t) for t in times if t > oldest]
        hold = float(state.get("hold_until") or 0.0) - offset
        self._hold_until = max(self._hold_until, hold)
        for i, sent in enumerate(self._sent):
            own = sorted(sent, key=lambda s: s.at)
            self._sent[i] = collections.deque(_merge(own, given), maxlen=sent.maxlen)


def _merge(own: list[_Send], given: list[_Send]) -> list[_Send]:
    """Both logs (sorted by time) as one, a send in both (within ``SAME_SEND``) once."""
    out: list[_Send] = []
    i = j = 0
    while i < len(own) and j < len(given):
        a, b = own[i], given[j]
        if abs(a.at - b.at) <= SAME_SEND:
            out.append(a)
            i, j = i + 1, j + 1
        elif a.at < b.at:
            out.append(a)
            i += 1
        else:
            out.append(b)
            j += 1
    return out + own[i:] + given[j:]


_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate_limits(text: str, published: Sequence[RateLimit] = ()) -> tuple[RateLimit, ...]:
    """``"50/s"``, ``"100/15s"`` or ``"900/min,20000/day"`` -> limits; ``"off"`` -> none; ``"published/2"`` -> each
    of the ``published`` limits divided by 2 (rounded down, at least 1). For a connection's
    ``rate_limit`` setting (a plan with a smaller quota, a pool limit above 1 that splits the
    account's quota between concurrent steps, or a benchmark against a sandbox)."""
    text = text.strip().lower()
    if text in ("off", "none", "0"):
        return ()
    head, _, share = text.partition("/")
    if head.strip() == "published":
        if not share.strip().isdigit() or int(share) < 1:
            raise ValueError(f"rate limit {text!r}: write published/N with N a whole number of at least 1")
        if not published:
            raise ValueError(
                f"rate limit {text!r}: there are no published limits to divide here; write N/min"
            )
        return tuple(RateLimit(max(1, lim.requests // int(share)), lim.per_seconds) for lim in published)
    out = []
    for part in text.split(","):
        count, _, per = part.strip().partition("/")
        match = re.fullmatch(r"(\d*)\s*([a-z]+)", per.strip())
        if not count.strip().isdigit() or match is None or match.group(2) not in _UNITS:
            raise ValueError(
                f"rate limit {part.strip()!r}: write it as N/s, N/min, N/h or N/day (or N/15s, N/15min), "
                "or published/N (or 'off')"
            )
        out.append(RateLimit(int(count), int(match.group(1) or 1) * _UNITS[match.group(2)]))
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

    def items(self) -> list[tuple[tuple[str, ...], RateLimiter]]:
        return list(self._limiters.items())

    def clear(self) -> None:
        self._limiters.clear()


LIMITERS = LimiterRegistry()
