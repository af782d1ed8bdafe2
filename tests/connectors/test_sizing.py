"""Wide windows (``Window.sizing``): a long range costs about as many requests as it has pages.

Against the Clockodo sandbox, whose entries take any range with paging: a full-history extract of
a small account asks a handful of requests (not one per month of 31 years), dense ranges are split
where they hold many records, and either way every entry arrives exactly once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest

from connectors import get_source
from connectors.core.entity import Entity, Source
from connectors.core.extract import Extractor
from connectors.core.settings import resolve_settings
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import RunningServer, start_background

ANCHOR = dt.date(2026, 6, 1)


@pytest.fixture
def small() -> Iterator[RunningServer]:
    server = start_background(SandboxOptions(org=OrgOptions(anchor=ANCHOR, history_days=6, users=2)))
    yield server
    server.stop()


def extract(server: RunningServer, entity: Entity, start: dt.date, end: dt.date) -> tuple[pa.Table, int]:
    source: Source = get_source("clockodo")
    source = dataclasses.replace(
        source, entities=tuple(entity if e.name == entity.name else e for e in source.entities)
    )
    env = {
        "CLOCKODO_BASE_URL": server.url("/clockodo/api"),
        "CLOCKODO_API_USER": "sandbox@couplet.dev",
        "CLOCKODO_API_KEY": "sandbox-key",
    }

    async def go() -> tuple[pa.Table, int]:
        async with Extractor(source, resolve_settings(source, environ=env)) as ex:
            tables = [r.table async for r in ex.extract(entity, start, end)]
            return pa.concat_tables(tables), ex.client.stats.requests

    return asyncio.run(go())


def entries_log(server: RunningServer) -> list[dict[str, str]]:
    """The query parameters of each entries request the sandbox saw."""
    body = httpx.get(server.url("/clockodo/api/_admin/requests"), params={"path": "/v2/entries"}).json()
    return [dict(r["params"]) for r in body["requests"]]


def test_full_history_of_a_small_account_takes_a_few_requests(small: RunningServer) -> None:
    entity = get_source("clockodo").entity("entries")
    table, requests = extract(small, entity, dt.date(2000, 1, 1), dt.date(2031, 1, 1))
    org = httpx.get(small.url("/clockodo/api/_admin/org")).json()["org"]
    assert table.num_rows == org["entries"] > 0
    assert len(set(table.column("id").to_pylist())) == table.num_rows
    assert requests <= 3  # one probe of the whole range, then its one page (372 months otherwise)
    log = entries_log(small)
    enhanced = [r for r in log if r.get("enhanced_list") == "1"]
    assert len(enhanced) == 1  # probes stay out of the 300/15 min quota of the enhanced list


def test_dense_ranges_are_split_and_every_entry_arrives_once() -> None:
    server = start_background(SandboxOptions(org=OrgOptions(anchor=ANCHOR, history_days=150, users=4)))
    try:
        entity = get_source("clockodo").entity("entries")
        assert entity.window is not None and entity.window.sizing is not None
        small_target = dataclasses.replace(
            entity,
            window=dataclasses.replace(
                entity.window, sizing=dataclasses.replace(entity.window.sizing, target_rows=300)
            ),
        )
        start, end = dt.date(2020, 1, 1), ANCHOR
        sized, _ = extract(server, small_target, start, end)
        months = {r["time_since"][:7] for r in entries_log(server) if r.get("enhanced_list") == "1"}
        monthly, _ = extract(
            server,
            dataclasses.replace(entity, window=dataclasses.replace(entity.window, sizing=None)),
            start,
            end,
        )
    finally:
        server.stop()
    assert sorted(sized.column("id").to_pylist()) == sorted(monthly.column("id").to_pylist())
    assert sized.num_rows > 300
    # the empty years before the data were probed, not read month by month
    assert len(months) < 12
