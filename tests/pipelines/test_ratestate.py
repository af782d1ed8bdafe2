"""``pipelines.ratestate``: a connection's limiters restored before the first request, saved while
requests go out, at the end and on failure; merged, never counted twice; a bad file ignored."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from connectors.core.entity import RateLimit
from connectors.core.ratelimit import LIMITERS, RateLimiter
from pipelines import ratestate

LIMITS = (RateLimit(50, 60),)


class FakeExtractor:
    """What ``handed_over`` uses of an ``Extractor``: its limiters and ``async with``."""

    def __init__(self) -> None:
        self.limiter = RateLimiter(LIMITS)
        self.sent_before_entering = -1

    def limiters(self) -> dict[str, RateLimiter]:
        return {"harvest": self.limiter}

    async def __aenter__(self) -> FakeExtractor:
        self.sent_before_entering = len(self.limiter.snapshot()["sent"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


def sends(tmp_path: Path) -> list[float]:
    return json.loads(ratestate.state_path(tmp_path, "hv").read_text())["limiters"]["harvest"]["sent"]


async def spend(ex: FakeExtractor, count: int) -> None:
    for _ in range(count):
        await ex.limiter.acquire()


def test_state_is_restored_before_the_first_request_and_saved_at_the_end(tmp_path: Path) -> None:
    async def run(count: int) -> FakeExtractor:
        async with ratestate.handed_over(tmp_path, "hv", FakeExtractor()) as ex:
            await spend(ex, count)
        return ex

    first = asyncio.run(run(3))
    assert first.sent_before_entering == 0 and len(sends(tmp_path)) == 3
    second = asyncio.run(run(2))  # another extractor, as in another process
    assert second.sent_before_entering == 3  # before the extractor made any request (discovery too)
    assert len(sends(tmp_path)) == 5
    assert not list(ratestate.state_path(tmp_path, "hv").parent.glob(".*.tmp"))  # atomic, no leftovers


def test_saving_again_counts_no_send_twice(tmp_path: Path) -> None:
    ex = FakeExtractor()

    async def run() -> None:
        for _ in range(3):  # the same limiter (one process), handed over three times
            async with ratestate.handed_over(tmp_path, "hv", ex):
                await spend(ex, 2)

    asyncio.run(run())
    assert len(sends(tmp_path)) == 6
    assert len(ex.limiter.snapshot()["sent"]) == 6


def test_state_is_saved_on_failure_and_while_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratestate, "SAVE_EVERY", 0.05)
    seen_while_running: list[int] = []

    async def run() -> None:
        async with ratestate.handed_over(tmp_path, "hv", FakeExtractor()) as ex:
            await spend(ex, 4)
            await asyncio.sleep(0.5)  # several save periods
            seen_while_running.append(len(sends(tmp_path)))
            await spend(ex, 1)
            raise RuntimeError("the API broke")

    with pytest.raises(RuntimeError):
        asyncio.run(run())
    assert seen_while_running == [4]  # a killed step would have lost nothing sent so far
    assert len(sends(tmp_path)) == 5


def test_a_file_that_is_not_state_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = ratestate.state_path(tmp_path, "hv")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="couplet"):
        assert ratestate.load(tmp_path, "hv") == {}
    assert str(path) in caplog.text and "ignored" in caplog.text

    async def run() -> None:
        async with ratestate.handed_over(tmp_path, "hv", FakeExtractor()) as ex:
            await spend(ex, 1)

    asyncio.run(run())
    assert len(sends(tmp_path)) == 1  # rewritten


def test_saving_keeps_what_another_process_saved(tmp_path: Path) -> None:
    other = RateLimiter(LIMITS)
    ratestate.save(tmp_path, "hv", {"harvest": {"sent": [], "hold_until": 0}}, {"harvest": LIMITS})
    asyncio.run(spend_plain(other, 2))
    ratestate.save(tmp_path, "hv", {"harvest": other.snapshot()}, {"harvest": LIMITS})
    mine = RateLimiter(LIMITS)
    asyncio.run(spend_plain(mine, 3))
    ratestate.save(tmp_path, "hv", {"harvest": mine.snapshot()}, {"harvest": LIMITS})
    assert len(sends(tmp_path)) == 5


async def spend_plain(limiter: RateLimiter, count: int) -> None:
    for _ in range(count):
        await limiter.acquire()
        await asyncio.sleep(0.01)  # sends of two processes closer than SAME_SEND would count as one


def test_a_push_writer_s_limiters_are_handed_to_the_next_process(tmp_path: Path) -> None:
    """Runn and QuickBooks writers take their limiters from LIMITERS themselves: the quota one write
    spent is respected by the next process's write (and is not without the hand-over)."""
    key, limits = ("runn", "https://api.runn.io", "acct"), (RateLimit(3, 60),)

    def spend_all() -> None:
        limiter = LIMITERS.get(key, limits)
        for _ in range(3):
            asyncio.run(limiter.acquire())

    LIMITERS.clear()
    try:
        with ratestate.registry_handed_over(tmp_path, "dest-runn", ("runn",)):
            spend_all()
        LIMITERS.clear()  # a new process
        with ratestate.registry_handed_over(tmp_path, "dest-runn", ("runn",)):
            limiter = LIMITERS.get(key, limits)
            assert limiter.delay(time.monotonic()) > 50  # the window's 3 sends are known: wait ~60 s
        LIMITERS.clear()
        assert LIMITERS.get(key, limits).delay(time.monotonic()) == 0  # without it: free to send
    finally:
        LIMITERS.clear()


def test_many_saves_and_restores_never_count_a_send_twice(tmp_path: Path) -> None:
    """Every save of the hand-over takes the file's sends through restore and snapshot again, and a
    step restores the file into the limiter that made them: hundreds of times in a long run. A send
    must stay the same send each time (it once moved a millisecond later now and then, until it no
    longer matched itself: a run counted 8,866 sends for 78 requests and waited out a 15-minute
    window it had not used)."""
    mine = RateLimiter(LIMITS)

    async def burst() -> None:  # sends closer together than SAME_SEND, as concurrent pages are
        slots = [await mine.take() for _ in range(5)]
        for slot in slots:
            slot.done()

    for _ in range(300):
        ratestate.restore({"harvest": mine}, ratestate.load(tmp_path, "hv"))
        if len(mine.snapshot()["sent"]) < 40:
            asyncio.run(burst())
        ratestate.save(tmp_path, "hv", {"harvest": mine.snapshot()}, {"harvest": LIMITS})
    assert len(sends(tmp_path)) == 40 and len(mine.snapshot()["sent"]) == 40
