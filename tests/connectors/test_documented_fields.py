"""Every field the sandboxes send is staged by a column or left out on purpose, and every declared
field is sent, or documented as sent only for some records; for every entity.

The sandboxes serve records as the public references describe them (``../shared/reference/``), so
a field a sandbox sends that no column reads is a documented field the connector forgot: schema
drift would report it as undeclared on every read (``couplet extract`` warns, the
``undeclared_fields`` metadata never drops to 0), although the API did not change. Each entity
either declares a column for it or lists it in ``Entity.not_kept`` with where it is instead or why
(Harvest's embedded assignments are staged whole by ``user_assignments``/``task_assignments``,
Clockodo's deprecated ids and support PIN are not staged). Likewise a declared field that no record
of a read carried is reported missing, unless the reference says it comes only with some records
(``Entity.sometimes``: a lump sum's amount, a monthly target's workdays).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest

from connectors import CONNECTORS, get_source
from connectors.core.entity import Entity, Partitioning
from connectors.core.extract import Extractor
from connectors.core.fields import FieldTally
from connectors.core.settings import resolve_settings
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import client_env, start_background

from .test_standard import _unlimited

CASES = [(c, e.name) for c in sorted(CONNECTORS) for e in get_source(c).entities]
# A fixed org (its history ends the day before ANCHOR); dated entities read its last month,
# year-scoped ones the year that month is in.
ANCHOR = dt.date(2026, 6, 1)
END = ANCHOR
START = END - dt.timedelta(days=31)


@pytest.fixture(scope="module")
def sandbox_env() -> Iterator[dict[str, str]]:
    with start_background(SandboxOptions(org=OrgOptions(anchor=ANCHOR), rate_limit=False)) as server:
        yield client_env(server.base_url)


def read(connector: str, entity: Entity) -> FieldTally | None:
    source = _unlimited(get_source(connector))
    window = (START, END) if entity.partitioning is not Partitioning.NONE else (None, None)
    settings = resolve_settings(source)

    async def go() -> FieldTally | None:
        async with Extractor(source, settings) as ex:
            async for _ in ex.extract(entity, *window):
                pass
            return ex.stats.fields.get(entity.name)

    return asyncio.run(go())


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_every_field_sent_is_declared_and_every_declared_one_sent(
    connector: str, entity_name: str, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in sandbox_env.items():
        monkeypatch.setenv(key, value)
    entity = get_source(connector).entity(entity_name)
    tally = read(connector, entity)
    assert tally is not None and tally.records > 0, "the sandbox served no record: the test proves nothing"
    assert tally.undeclared == {}, (
        f"{connector}.{entity_name}: fields the sandbox sends that no column reads: {tally.undeclared}; "
        "declare a column, or add them to the entity's not_kept with the reason"
    )
    assert tally.missing == [], (
        f"{connector}.{entity_name}: declared fields no record carried: {tally.missing}; if the reference "
        "says they come only with some records, add them to the entity's sometimes with when"
    )


def test_a_not_kept_field_read_by_a_column_is_refused() -> None:
    users = get_source("clockodo").entity("users")
    with pytest.raises(ValueError, match=r"not_kept \['email'\] are read by columns"):
        Entity(users.name, users.path, users.columns, not_kept={"email": "why"})


def test_not_kept_fields_are_neither_undeclared_nor_missing() -> None:
    entries = get_source("harvest").entity("time_entries")
    tally = FieldTally(entries.columns, entries.not_kept)
    record = {"id": 1, "user_assignment": {"id": 2, "hourly_rate": 100.0}, "vat": 1}
    tally.observe([record])
    assert tally.undeclared == {"vat": 1}
    assert "user_assignment.hourly_rate" not in tally.missing


def test_a_field_sent_only_sometimes_is_not_missing_and_must_be_declared() -> None:
    entries = get_source("clockodo").entity("entries")
    tally = FieldTally(entries.columns, entries.not_kept, entries.sometimes)
    tally.observe([{"id": 1}])
    assert "offset" not in tally.missing and "lumpsum" not in tally.missing and "duration" in tally.missing
    with pytest.raises(ValueError, match=r"sometimes \['nope'\] are not read by any column"):
        Entity(entries.name, entries.path, entries.columns, sometimes={"nope": "never"})
