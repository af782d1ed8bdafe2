"""Records the API returns from outside a window are dropped: each belongs to exactly one partition."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from connectors.core.entity import Entity, Partitioning, Setting, Source, Window, cols
from connectors.core.extract import Extractor
from connectors.core.http import RetryPolicy
from connectors.core.settings import resolve_settings

ENTITY = Entity(
    "events",
    "/events",
    cols("id:int! at:datetime"),
    envelope="data",
    window=Window(
        Partitioning.DAILY, "from", "to", format="%Y-%m-%dT%H:%M:%SZ", max_days=2, partition_field="at"
    ),
)
SOURCE = Source(
    "t",
    "T",
    (ENTITY,),
    (Setting("base_url", "T_URL"), Setting("key", "T_KEY", secret=True)),
    headers=lambda v: {"K": v["key"]},
)


def test_overlapping_answers_do_not_duplicate_across_slices() -> None:
    # The API answers every window with records that overlap it (one from the day before).
    def handler(request: httpx.Request) -> httpx.Response:
        since = dt.datetime.strptime(request.url.params["from"], "%Y-%m-%dT%H:%M:%SZ")
        records = [
            {
                "id": int(since.timestamp()) - 1,
                "at": (since - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            {"id": int(since.timestamp()), "at": since.strftime("%Y-%m-%dT%H:%M:%SZ")},
            {
                "id": int(since.timestamp()) + 86400,
                "at": (since + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        ]
        return httpx.Response(200, json={"data": records})

    settings = resolve_settings(SOURCE, environ={"T_URL": "https://t.test", "T_KEY": "k"})

    async def go():
        async with Extractor(
            SOURCE, settings, transport=httpx.MockTransport(handler), retry=RetryPolicy(max_attempts=1)
        ) as ex:
            out = [r.table async for r in ex.extract(ENTITY, dt.date(2026, 1, 1), dt.date(2026, 1, 5))]
            return out, ex.stats

    tables, stats = asyncio.run(go())
    ids = sorted(i for t in tables for i in t.column("id").to_pylist())
    assert len(ids) == len(set(ids)) == 4  # one per day, 4 days
    assert stats.dropped_outside_window == 2  # the record from the day before each 2-day slice
    for t in tables:
        for row in t.to_pylist():
            assert row["_window_start"] == row["at"].date()
            assert row["_window_end"] == row["at"].date() + dt.timedelta(days=1)
