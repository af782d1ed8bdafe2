"""A request counts in the windows from when its answer begins, so delays on the way never bunch
arrivals at the server: the server counts a request when it arrives, which is after the client took
its slot (a busy process, a queue for a connection) and before the answer."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from connectors.core.entity import RateLimit
from connectors.core.http import HttpClient
from connectors.core.ratelimit import RateLimiter, margin
from tests.connectors.test_engine import FakeClock
from tests.connectors.test_ratelimit import busiest


def test_a_request_counts_from_its_slot_until_its_answer_then_from_the_answer() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit(1, 10.0)], clock=clock, wall=clock)
    slot = asyncio.run(limiter.take())
    assert limiter.delay(clock.now) == pytest.approx(10 + margin(10))  # on its way: it counts
    assert limiter.snapshot()["sent"] == []  # handed over once answered
    clock.now += 3.0  # the answer begins 3 s after the slot
    slot.done()
    slot.done()  # once only
    assert limiter.delay(clock.now) == pytest.approx(10 + margin(10))  # a window from the answer
    assert limiter.snapshot()["sent"] == [clock.now]


def test_a_first_request_delayed_on_its_way_does_not_bunch_the_next_window_at_the_server() -> None:
    """Two requests per second, two at a time; the first reaches the server 0.3 s after its slot.
    Counted from the slots, the third and fourth would go 1.05 s after the first slot and reach the
    server 0.75 s after the first one: three arrivals within a second."""
    arrivals: list[float] = []

    async def server(request: httpx.Request) -> httpx.Response:
        if request.url.params["n"] == "0":
            await asyncio.sleep(0.3)  # a slow connection, a descheduled process
        arrivals.append(time.monotonic())  # the server counts here, then answers
        return httpx.Response(200, json={})

    async def run() -> None:
        limiter = RateLimiter([RateLimit(2, 1.0)])
        async with HttpClient(
            source="test",
            headers={},
            limiters=[limiter],
            max_concurrency=2,
            transport=httpx.MockTransport(server),
        ) as http:
            await asyncio.gather(*(http.request_json("http://api.test/x", {"n": str(i)}) for i in range(4)))

    asyncio.run(run())
    arrivals.sort()
    assert len(arrivals) == 4 and busiest(arrivals, 1.0) <= 2
