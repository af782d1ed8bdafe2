"""The engine's own behaviour: limiter, retries, paging guards, typing, settings, slices, redaction."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json

import httpx
import pyarrow as pa
import pytest

from connectors import get_source
from connectors.core.entity import Entity, Paging, PagingKind, Partitioning, RateLimit, Window, cols
from connectors.core.errors import (
    ConfigError,
    ConnectorError,
    PaginationError,
    ResponseShapeError,
    TransientError,
    redact,
)
from connectors.core.extract import plan_slices
from connectors.core.http import HttpClient, RetryPolicy, parse_retry_after
from connectors.core.paginate import pages
from connectors.core.ratelimit import RateLimiter
from connectors.core.records import to_batch
from connectors.core.settings import resolve_settings

FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_limiter_keeps_every_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit(3, 1.0), RateLimit(5, 60.0)], clock=clock)
    for _ in range(3):
        assert asyncio.run(limiter.acquire()) == 0
    assert limiter.delay(clock.now) == pytest.approx(1.05)  # the window, plus a margin for jitter
    clock.now += 1.05
    assert limiter.delay(clock.now) == 0
    for _ in range(2):
        asyncio.run(limiter.acquire())
    clock.now += 1.0
    # 5 sent within the minute: the longer window now holds everyone back (60 s + 1 s of margin)
    assert limiter.delay(clock.now) == pytest.approx(61.0 - 2.05)


def test_limiter_penalty_after_429() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit(10, 1.0)], clock=clock)
    limiter.penalise(5.0)
    assert limiter.delay(clock.now) == pytest.approx(5.0)


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == pytest.approx(60)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def _client(handler, **kw) -> HttpClient:
    return HttpClient(
        source="test",
        headers={"X-Key": "topsecret"},
        secrets=["topsecret"],
        transport=httpx.MockTransport(handler),
        retry=FAST,
        **kw,
    )


def test_truncated_body_retried_then_shape_error() -> None:
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, content=b'{"data": [1, 2')

    async def go():
        async with _client(handler) as c:
            await c.request_json("https://x.test/a")

    with pytest.raises(ResponseShapeError, match="not JSON"):
        asyncio.run(go())
    assert len(calls) == FAST.max_attempts


def test_dropped_connection_retried() -> None:
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(200, json={"ok": True})

    async def go():
        async with _client(handler) as c:
            return (await c.request_json("https://x.test/a")).body, c.stats

    body, stats = asyncio.run(go())
    assert body == {"ok": True}
    assert stats.retries == 1


def test_transient_errors_give_up_after_bounded_attempts() -> None:
    async def go():
        async with _client(lambda r: httpx.Response(500, text="boom")) as c:
            await c.request_json("https://x.test/a")

    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        asyncio.run(go())


def test_secret_echoed_by_server_is_redacted() -> None:
    async def go():
        async with _client(lambda r: httpx.Response(400, text="bad key topsecret")) as c:
            await c.request_json("https://x.test/a?key=topsecret")

    with pytest.raises(ConnectorError) as info:
        asyncio.run(go())
    assert "topsecret" not in str(info.value)
    assert "***" in str(info.value)
    assert redact("a topsecret b", ["topsecret"]) == "a *** b"


def test_long_retry_after_fails_instead_of_sleeping() -> None:
    async def go():
        async with _client(lambda r: httpx.Response(429, headers={"Retry-After": "86400"})) as c:
            await c.request_json("https://x.test/a")

    with pytest.raises(ConnectorError, match="quota is used up"):
        asyncio.run(go())


ITEMS = Entity("items", "/items", cols("id:int! name:str"), envelope="data")


def _collect(entity: Entity, handler) -> list[dict]:
    async def go():
        async with _client(handler) as c:
            return [r async for page, _ in pages(c, entity, "https://x.test/items", {}) for r in page]

    return asyncio.run(go())


def test_page_that_repeats_is_an_error() -> None:
    entity = dataclasses.replace(ITEMS, paging=Paging(PagingKind.PAGE_UNTIL_SHORT, size_param="size", size=2))
    with pytest.raises(PaginationError, match="repeats"):
        _collect(entity, lambda r: httpx.Response(200, json={"data": [{"id": 1}, {"id": 2}]}))


def test_echoed_page_mismatch_is_an_error() -> None:
    entity = dataclasses.replace(
        ITEMS,
        paging=Paging(
            PagingKind.PAGE_COUNT, count_path="paging.count_pages", current_path="paging.current_page"
        ),
    )
    body = {"data": [{"id": 1}], "paging": {"count_pages": 3, "current_page": 1}}
    with pytest.raises(PaginationError, match="asked for page 2"):
        _collect(entity, lambda r: httpx.Response(200, json=body))


def test_next_link_loop_is_an_error() -> None:
    entity = dataclasses.replace(ITEMS, paging=Paging(PagingKind.NEXT_LINK, next_path="links.next"))
    body = {"data": [{"id": 1}], "links": {"next": "https://x.test/items?page=2"}}
    with pytest.raises(PaginationError, match="repeats"):
        _collect(entity, lambda r: httpx.Response(200, json=body))


def test_next_link_follows_until_null() -> None:
    entity = dataclasses.replace(ITEMS, paging=Paging(PagingKind.NEXT_LINK, next_path="links.next"))

    def handler(request):
        page = int(request.url.params.get("page", 1))
        nxt = f"https://x.test/items?page={page + 1}" if page < 3 else None
        return httpx.Response(200, json={"data": [{"id": page}], "links": {"next": nxt}})

    assert [r["id"] for r in _collect(entity, handler)] == [1, 2, 3]


def test_records_coerce_what_apis_send() -> None:
    columns = cols("id:int! flag:bool amount:float at:datetime day:date nested:int=a.b extra:json name:str")
    records = [
        {
            "id": "7",
            "flag": 1,
            "amount": 3,
            "at": "2026-01-02 03:04:05",
            "day": "2026-01-02T00:00:00Z",
            "a": {"b": 5},
            "extra": [1, {"x": 2}],
            "name": 12,
        },
        {"id": 8, "flag": "false", "amount": None, "at": "2026-01-02T03:04:05+02:00"},
    ]
    batch = to_batch(records, columns)
    rows = batch.to_pylist()
    assert rows[0]["id"] == 7 and rows[0]["flag"] is True and rows[0]["amount"] == 3.0
    assert rows[0]["at"] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert rows[1]["at"] == dt.datetime(2026, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    assert rows[0]["day"] == dt.date(2026, 1, 2)
    assert rows[0]["nested"] == 5 and rows[1]["nested"] is None
    assert json.loads(rows[0]["extra"]) == [1, {"x": 2}]
    assert rows[0]["name"] == "12"
    assert batch.schema.field("at").type == pa.timestamp("us", tz="UTC")


def test_records_refuse_lossy_coercion() -> None:
    with pytest.raises(ResponseShapeError, match="'id' declared int"):
        to_batch([{"id": 1.5}], cols("id:int"))


def test_empty_page_keeps_declared_schema() -> None:
    batch = to_batch([], cols("id:int! at:datetime note:str"))
    assert batch.num_rows == 0
    assert batch.schema.names == ["id", "at", "note"]


def test_missing_settings_name_every_env_var() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings(get_source("clockodo"), environ={})
    assert "CLOCKODO_API_USER" in str(info.value) and "CLOCKODO_API_KEY" in str(info.value)


def test_secret_given_literally_is_refused() -> None:
    with pytest.raises(ConfigError, match="secret"):
        resolve_settings(
            get_source("clockodo"), literals={"api_key": "abc"}, environ={"CLOCKODO_API_USER": "a@b.c"}
        )


def test_second_account_reads_other_env_vars() -> None:
    env = {"OTHER_USER": "x@y.z", "OTHER_KEY": "k2"}
    s = resolve_settings(
        get_source("clockodo"), {"api_user": "OTHER_USER", "api_key": "OTHER_KEY"}, environ=env
    )
    assert s["api_key"] == "k2" and s.secrets == ("k2",)
    assert "OTHER_KEY" in s.auth_hint


def test_clockodo_external_application_limit() -> None:
    env = {"CLOCKODO_API_USER": "a" * 60 + "@example.com", "CLOCKODO_API_KEY": "k"}
    with pytest.raises(ConfigError, match="CLOCKODO_EXTERNAL_APPLICATION"):
        resolve_settings(get_source("clockodo"), environ=env)


def test_plan_slices() -> None:
    daily = Entity(
        "d",
        "/d",
        cols("id:int day:date"),
        window=Window(Partitioning.DAILY, "s", "u", max_days=31, partition_field="day"),
    )
    slices = plan_slices(daily, dt.date(2026, 1, 1), dt.date(2026, 3, 12))
    assert [(s.start, s.end) for s in slices] == [
        (dt.date(2026, 1, 1), dt.date(2026, 2, 1)),
        (dt.date(2026, 2, 1), dt.date(2026, 3, 4)),
        (dt.date(2026, 3, 4), dt.date(2026, 3, 12)),
    ]
    yearly = dataclasses.replace(daily, window=Window(Partitioning.YEARLY, year_param="year"))
    assert [s.year for s in plan_slices(yearly, dt.date(2025, 1, 1), dt.date(2027, 1, 1))] == [2025, 2026]
    with pytest.raises(ConfigError, match="date range"):
        plan_slices(daily, None, None)


def test_fallback_path_on_404_and_unpaged_answer() -> None:
    from connectors.clockodo import SOURCE
    from connectors.core.extract import Extractor

    seen = []

    def handler(request):
        seen.append(request.url.path)
        if request.url.path.endswith("/v2/surchargeModels"):
            return httpx.Response(404, json={"errors": [{"type": "RouteNotFound"}]})
        # the older endpoint: legacy envelope key, no paging object at all
        return httpx.Response(
            200, json={"surcharges": [{"id": 1, "name": "Standard", "night": {"percent": 25}}]}
        )

    settings = resolve_settings(SOURCE, environ={"CLOCKODO_API_USER": "a@b.c", "CLOCKODO_API_KEY": "k"})

    async def go():
        async with Extractor(SOURCE, settings, transport=httpx.MockTransport(handler), retry=FAST) as ex:
            return [r.table async for r in ex.extract("surcharges")]

    (table,) = asyncio.run(go())
    assert seen == ["/api/v2/surchargeModels", "/api/v2/surcharges"]
    assert table.to_pylist()[0]["night_percent"] == 25


def test_dedupe_keeps_the_last_row_of_each_key_in_order() -> None:
    from connectors.core.records import dedupe_last

    t = pa.table({"id": ["b", "a", "b", "c"], "v": [1, 2, 3, 4]})
    assert dedupe_last(t, ["id"]).to_pylist() == [
        {"id": "a", "v": 2},
        {"id": "b", "v": 3},
        {"id": "c", "v": 4},
    ]
