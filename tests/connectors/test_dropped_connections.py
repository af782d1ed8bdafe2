"""Dropped connections are retried: with a fifth of the sandbox's connections closed mid-response
(through a real uvicorn server, so the client sees what a reset looks like), a full extraction
returns exactly the rows it returns without faults."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest

from connectors import get_source
from connectors.core.extract import Extractor
from connectors.core.http import RetryPolicy
from connectors.core.settings import resolve_settings
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import RunningServer, client_env, start_background

ANCHOR = dt.date(2026, 6, 1)
WINDOW = (dt.date(2026, 3, 1), ANCHOR)
MOUNTS = {"clockodo": "/clockodo/api", "clockify": "/clockify", "harvest": "/harvest"}
# Many attempts, short waits: 0.2 ** 10 is the chance that one request drops every time.
PATIENT = RetryPolicy(max_attempts=10, backoff_base=0.001, backoff_cap=0.01)
EXTRACTED_AT = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    options = SandboxOptions(org=OrgOptions(anchor=ANCHOR, history_days=120), rate_limit=False)
    with start_background(options) as running:
        yield running


def extract(server: RunningServer, connector: str, entity: str) -> tuple[pa.Table, int]:
    source = get_source(connector)
    settings = resolve_settings(source, environ={**client_env(server.base_url), "HARVEST_RATE_LIMIT": "off"})

    async def go() -> tuple[pa.Table, int]:
        async with Extractor(source, settings, retry=PATIENT, extracted_at=EXTRACTED_AT) as ex:
            tables = [r.table async for r in ex.extract(entity, *WINDOW)]
            return pa.concat_tables(tables), ex.client.stats.retries

    return asyncio.run(go())


def faults(server: RunningServer, connector: str, **settings: float) -> None:
    httpx.post(f"{server.base_url}{MOUNTS[connector]}/_admin/faults", json=settings).raise_for_status()


def dropped(server: RunningServer, connector: str) -> int:
    log = httpx.get(f"{server.base_url}{MOUNTS[connector]}/_admin/requests").json()["requests"]
    return sum(r["status"] == "dropped" for r in log)


@pytest.mark.parametrize(("connector", "entity"), [("clockodo", "entries"), ("harvest", "time_entries"),
                                                   ("clockify", "time_entries")])  # fmt: skip
def test_a_fifth_of_connections_dropped_changes_no_row(
    server: RunningServer, connector: str, entity: str
) -> None:
    httpx.post(f"{server.base_url}{MOUNTS[connector]}/_admin/reset").raise_for_status()
    clean, clean_retries = extract(server, connector, entity)
    assert clean.num_rows > 100 and clean_retries == 0 and dropped(server, connector) == 0

    faults(server, connector, drop_rate=0.2, seed=1)  # seed 1: the first request to arrive is dropped
    try:
        faulty, retries = extract(server, connector, entity)
        drops = dropped(server, connector)
    finally:
        faults(server, connector, drop_rate=0.0)
    assert drops > 0 and retries >= drops, (drops, retries)
    keys = [(k, "ascending") for k in get_source(connector).entity(entity).primary_key]
    assert faulty.sort_by(keys).equals(clean.sort_by(keys))
