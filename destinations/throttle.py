"""Client-side request budget and retry with backoff for the synchronous Google clients.

The Sheets API allows 60 read and 60 write requests per minute per user (and per project); going
over gives 429s. ``RequestBudget`` keeps the send times of the last N requests (a sliding log, the
exact form of "N per window") and waits until one more fits. ``retry`` re-runs a call on errors a
classifier says are transient, honouring ``Retry-After`` and otherwise backing off exponentially
with full jitter, for a bounded number of attempts.

``connectors.core.ratelimit`` holds the same idea for the asyncio connectors; this one is
synchronous because gspread is. Clock and sleep are injectable so tests never wait.
"""

from __future__ import annotations

import collections
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class RequestBudget:
    def __init__(
        self,
        requests: int,
        per_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.requests = requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque(maxlen=requests)
        self.waited_s = 0.0

    def take(self) -> float:
        """Wait until one more request fits the window; returns the seconds waited."""
        waited = 0.0
        while len(self._sent) >= self.requests:
            wait = self._sent[0] + self.per_seconds - self._clock()
            if wait <= 0:
                break
            self._sleep(wait)
            waited += wait
        self._sent.append(self._clock())
        self.waited_s += waited
        return waited

    def hold(self, seconds: float) -> None:
        """After a 429 the window is full for everyone: push the log so nothing goes for ``seconds``."""
        stamp = self._clock() + seconds - self.per_seconds
        self._sent.clear()
        self._sent.extend([stamp] * self.requests)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_s: float = 1.0  # attempt n waits up to base * 2**n (full jitter)
    cap_s: float = 64.0


def retry(
    call: Callable[[], T],
    classify: Callable[[Exception], float | None],
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    on_wait: Callable[[float], None] | None = None,
) -> T:
    """Run ``call``; ``classify(exc)`` returns ``None`` for a fatal error, else the server's wait hint
    (``Retry-After`` seconds, or 0 for "back off as you like")."""
    for attempt in range(policy.attempts):
        try:
            return call()
        except Exception as exc:
            hint = classify(exc)
            if hint is None or attempt == policy.attempts - 1:
                raise
            wait = max(hint, random.uniform(0, min(policy.cap_s, policy.base_s * 2**attempt)))
            if on_wait is not None:
                on_wait(wait)
            sleep(wait)
    raise AssertionError("unreachable")
