"""Standard tests, generated from the entity tables: every entity of every connector gets them.

Against ``DeclaredAPI`` (answers in the declared shapes): the requests made, paging across several
pages, envelope parsing, primary key present and unique, 401 fatal with a clear message that names
the env vars and hides the secret, 403 fatal with a message naming the entity, the endpoint and the
missing right (not a credentials error), 429 retried after Retry-After, 5xx retried, a missing
envelope an error naming entity and window, and an empty result fine with a stable schema.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from connectors import CONNECTORS, get_source
from connectors.core.entity import BODY, Entity, Partitioning, Source
from connectors.core.errors import AuthError, ForbiddenError, ResponseShapeError
from connectors.core.extract import Extractor, staged_schema
from connectors.core.http import RetryPolicy

from .fakeapi import DeclaredAPI, Fault, environ_for, settings_for

FAST = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_cap=0.01)
DAY = dt.date(2026, 1, 5)

CASES = [(name, e.name) for name in sorted(CONNECTORS) for e in get_source(name).entities]


def _window(entity: Entity) -> tuple[dt.date | None, dt.date | None]:
    if entity.partitioning is Partitioning.DAILY:
        return DAY, DAY + dt.timedelta(days=DeclaredAPI.SPREAD_DAYS)
    if entity.partitioning is Partitioning.YEARLY:
        return dt.date(2026, 1, 1), dt.date(2027, 1, 1)
    return None, None


def _unlimited(source: Source) -> Source:
    return dataclasses.replace(source, rate_limits=(), rate_groups={g: () for g in source.rate_groups})


def run(source: Source, entity: Entity, api: DeclaredAPI) -> tuple[pa.Table, Extractor]:
    async def go():
        async with Extractor(source, settings_for(source), transport=api.transport(), retry=FAST) as ex:
            tables = [r.table async for r in ex.extract(entity, *_window(entity))]
            return pa.concat_tables(tables), ex

    return asyncio.run(go())


def setup(connector: str, entity_name: str, **kw):
    source = _unlimited(get_source(connector))
    api = DeclaredAPI(source, **kw)
    api.target = entity_name
    return source, source.entity(entity_name), api


def _expected_rows(entity: Entity, api: DeclaredAPI) -> int:
    """Rows the fake serves: ``records`` per request series (one, or one per fan-out parent)."""
    if entity.fan_out is None:
        return api.records
    return api.records * (len(entity.fan_out.values) or api.parents)


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_requests_paths_params_headers(connector: str, entity_name: str) -> None:
    source, entity, api = setup(connector, entity_name)
    table, _ex = run(source, entity, api)
    own = api._pattern(entity)
    calls = [r for r in api.requests if own.match(r.url.path)]
    assert calls, "no request for the entity itself"
    env = environ_for(source)
    secrets = [v for s in source.settings if s.secret for v in [env[s.env]]]
    for request in calls:
        assert request.method == entity.method
        # the auth header carries the secret (never the URL)
        assert any(
            secret in request.headers.values() or secret in request.headers.get("authorization", "")
            for secret in secrets
        )
        assert all(secret not in str(request.url) for secret in secrets)
        sent = dict(request.url.params)
        if request.content:
            sent.update(_flatten(json.loads(request.content)))
        w = entity.window
        probe = w.sizing.probe_params if w and w.sizing else {}
        if probe and all(sent.get(k) == str(v) for k, v in probe.items()):
            continue  # a size probe: the window, with its own params (checked in test_windows)
        for key, value in entity.params.items():
            assert sent.get(key) == str(value)
        if w and (w.partitioning is Partitioning.DAILY or not w.year_param):
            first = DAY if w.partitioning is Partitioning.DAILY else dt.date(2026, 1, 1)
            since = dt.datetime.combine(first - dt.timedelta(days=w.pad_days), dt.time(), dt.UTC)
            assert sent.get(w.since_param) == since.strftime(w.format)
            assert w.until_param in sent
        if w and w.partitioning is Partitioning.YEARLY and w.year_param:
            assert sent.get(w.year_param) == "2026"
        fan = entity.fan_out
        if fan and "{" + fan.target + "}" not in entity.path:
            assert sent.get(fan.target) is not None
    assert table.schema == staged_schema(entity)


def _flatten(body: dict, prefix: str = "") -> dict[str, str]:
    """A JSON body as dotted keys with string values, to compare with query parameters."""
    out: dict[str, str] = {}
    for key, value in body.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_paging_envelope_and_primary_key(connector: str, entity_name: str) -> None:
    source, entity, api = setup(connector, entity_name, records=5, page_size=2)
    if entity.paging.size:  # ask for pages of 2, as a client with a small page size would
        entity = dataclasses.replace(entity, paging=dataclasses.replace(entity.paging, size=2))
        source = dataclasses.replace(
            source, entities=tuple(entity if e.name == entity.name else e for e in source.entities)
        )
        api.source = source
    table, _ex = run(source, entity, api)
    assert table.num_rows > 0
    if entity.envelope != BODY and entity.hook is None:  # a hook may reshape records into more or fewer rows
        assert table.num_rows == _expected_rows(entity, api)
    if entity.paging.kind.value != "single" and entity.envelope != BODY:
        own = [r for r in api.requests if api._pattern(entity).match(r.url.path)]
        assert len(own) >= 3, "5 records in pages of 2 need 3 pages"
    keys = table.select(list(entity.primary_key))
    assert keys.group_by(list(entity.primary_key)).aggregate([]).num_rows == table.num_rows, (
        "primary key not unique"
    )
    for col in entity.columns:
        if col.name in entity.primary_key and not col.nullable:
            assert table.column(col.name).null_count == 0, f"{col.name} has nulls"
    assert pc.all(pc.is_valid(table.column("_extracted_at"))).as_py()


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_401_is_fatal_and_names_env_vars(connector: str, entity_name: str) -> None:
    source, entity, api = setup(connector, entity_name)
    api.faults.append(Fault(401, body={"error": "bad key"}, count=99))
    with pytest.raises(AuthError) as info:
        run(source, entity, api)
    message = str(info.value)
    env = environ_for(source)
    creds = [s for s in source.settings if s.secret]
    assert any(s.env in message for s in creds), message
    assert all(env[s.env] not in message for s in creds), "secret leaked into the error"
    urls = [str(r.url) for r in api.requests]
    assert len(urls) == len(set(urls)), "a 401 must not be retried"


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_403_is_fatal_and_names_entity_endpoint_and_right(connector: str, entity_name: str) -> None:
    source, entity, api = setup(connector, entity_name)
    said = "Insufficient access rights for this list"
    api.faults.append(Fault(403, body={"message": said}, count=99, entity=entity_name))
    with pytest.raises(ForbiddenError) as info:
        run(source, entity, api)
    message = str(info.value)
    assert f"lacks the right to read {entity_name} (HTTP 403 on /{source.name}/" in message, message
    assert entity.path.split("{")[0] in message and said in message
    assert f"remove {entity_name} from the flow" in message and f"source={source.name}" in message
    assert "authentication failed" not in message
    env = environ_for(source)
    assert all(env[s.env] not in message for s in source.settings if s.secret), "secret leaked"
    urls = [str(r.url) for r in api.requests]
    assert len(urls) == len(set(urls)), "a 403 must not be retried"


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_429_retried_after_retry_after(connector: str, entity_name: str) -> None:
    source, entity, api = setup(connector, entity_name)
    api.faults.append(Fault(429, headers={"Retry-After": "0.05"}))
    table, ex = run(source, entity, api)
    assert ex.client.stats.retries >= 1
    assert ex.client.stats.throttled_seconds >= 0.05
    assert table.num_rows > 0


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_5xx_retried(connector: str, entity_name: str) -> None:
    source, entity, api = setup(connector, entity_name)
    api.faults.append(Fault(503, count=2))
    table, ex = run(source, entity, api)
    assert ex.client.stats.retries >= 2
    assert table.num_rows > 0


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_missing_envelope_is_an_error(connector: str, entity_name: str) -> None:
    source, entity, api = setup(connector, entity_name)
    if entity.envelope in (None, BODY):
        api.body_override = lambda e, body: {"unexpected": True} if e.name == entity.name else body
    else:
        api.body_override = lambda e, body: {"something_else": []} if e.name == entity.name else body
    with pytest.raises(ResponseShapeError) as info:
        run(source, entity, api)
    assert entity.name in str(info.value)
    if entity.window:
        assert "window=" in str(info.value)


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_empty_result_is_fine(connector: str, entity_name: str) -> None:
    source, entity, api = setup(connector, entity_name)
    api.empty = True
    if entity.envelope == BODY:
        pytest.skip("the body is the record: there is no empty list")
    table, _ = run(source, entity, api)
    assert table.num_rows == 0
    assert table.schema == staged_schema(entity)
