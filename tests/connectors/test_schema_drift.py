"""Schema drift in the engine (``connectors.core.fields``): fields the API sends that no column declares
are counted and named, declared fields no record carried are named, and nothing else is.

Generated over every entity of every connector against the declared-shape fake API (with and without
columnar pages), plus the rules on crafted pages: what counts as a field, when a field is missing,
and that both parsers say the same thing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors import get_source
from connectors.core import extract as extract_module
from connectors.core.columnar import ArrowRecords, columnar_decoder
from connectors.core.entity import BODY, Entity, Paging, PagingKind, cols
from connectors.core.fields import FieldTally, declared_paths, declared_tree, listed
from connectors.core.paginate import records_of

from .fakeapi import SAMPLES, DeclaredAPI
from .test_standard import CASES, _unlimited, run

EXTRA = "couplet_new_field"
NESTED_EXTRA = "couplet_new_key"


def _records(entity: Entity, body: Any) -> list[dict[str, Any]]:
    if entity.envelope == BODY:
        return [body]
    if entity.envelope is None:
        return body
    node = body
    for key in entity.envelope.split("."):
        node = node[key]
    return node


def _dropped(entity: Entity) -> str | None:
    """A declared top-level field the fake API can leave out without breaking the extraction."""
    engine_set = {entity.fan_out.inject_as if entity.fan_out else "", *entity.body_keys}
    if entity.window is not None:
        engine_set |= {entity.window.partition_field, entity.window.inject_year_as}
    for c in entity.columns:
        readers = [d.name for d in entity.columns if d.source_path == c.source_path]
        if len(c.source_path) == 1 and not set(readers) & (set(entity.primary_key) | engine_set):
            return c.source_path[0]
    return None


def _flattened(entity: Entity) -> str | None:
    """A top-level object the entity flattens into columns (``project`` for ``project.id``)."""
    tree = declared_tree(entity.columns)
    return next(iter(sorted(tree.nested)), None)


PLAIN = [(c, e) for c, e in CASES if get_source(c).entity(e).hook is None]  # hooks rebuild records


@pytest.mark.parametrize("columnar", [True, False], ids=["columnar", "ordinary"])
@pytest.mark.parametrize(("connector", "entity_name"), PLAIN)
def test_an_extra_field_is_counted_and_a_dropped_one_is_missing(
    connector: str, entity_name: str, columnar: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _unlimited(get_source(connector))
    entity = source.entity(entity_name)
    dropped, flattened = _dropped(entity), _flattened(entity)

    def drift(served: Entity, body: Any) -> Any:
        if served.name != entity_name:
            return body  # a fan-out parent: not the entity under test
        for record in _records(entity, body):
            record[EXTRA] = "value"
            record.pop(dropped, None)
            if flattened and isinstance(record.get(flattened), dict):
                record[flattened][NESTED_EXTRA] = 1
        return body

    if not columnar:
        monkeypatch.setattr(extract_module, "columnar_decoder", lambda e: None)
    api = DeclaredAPI(source)
    api.target = entity_name
    api.body_override = drift
    table, ex = run(source, entity, api)
    tally = ex.stats.fields[entity_name]
    assert tally.records >= table.num_rows > 0  # every record read, before window filter and dedupe
    expected = {EXTRA: tally.records}
    if flattened:
        expected[f"{flattened}.{NESTED_EXTRA}"] = tally.records
    assert tally.undeclared == expected
    assert tally.missing == ([dropped] if dropped else [])


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_records_as_declared_show_no_drift(connector: str, entity_name: str) -> None:
    source = _unlimited(get_source(connector))
    entity = source.entity(entity_name)
    api = DeclaredAPI(source)
    api.target = entity_name
    _, ex = run(source, entity, api)
    tally = ex.stats.fields[entity_name]
    assert tally.records > 0 and tally.undeclared == {}
    if entity_name not in SAMPLES:  # hand-written samples leave optional fields out
        assert tally.missing == [] and tally.summary() == ""


def test_a_quirk_hooks_records_are_the_ones_looked_at() -> None:
    """Clockodo entries: the hook adds ``is_billable``/``is_billed`` (declared, so not missing); a new
    field of the API passes through the hook and is named."""
    source = _unlimited(get_source("clockodo"))
    entity = source.entity("entries")
    api = DeclaredAPI(source)
    api.target = "entries"

    def drift(served: Entity, body: Any) -> Any:
        for record in body.get("entries") or []:
            record["tags"] = ["urgent"]
            record.pop("is_billable", None)
        return body

    api.body_override = drift
    _, ex = run(source, entity, api)
    tally = ex.stats.fields["entries"]
    assert tally.undeclared == {"tags": tally.records}
    assert tally.missing == []


THING = Entity(
    "things",
    "/things",
    cols("id:int! name:str note:str owner_id:int=owner.id owner_name:str=owner.name extra:json"),
    envelope="items",
    paging=Paging(PagingKind.NEXT_LINK, next_path="next"),
)


def both(rows: list[dict[str, Any]]) -> tuple[FieldTally, FieldTally, bool]:
    """(tally of the columnar parse, tally of the ordinary parse, whether the page went columnar)."""
    content = json.dumps({"items": rows, "next": None}).encode()
    decode = columnar_decoder(THING)
    assert decode is not None
    arrow, ordinary = FieldTally(THING.columns), FieldTally(THING.columns)
    page = records_of(decode(content), THING)
    arrow.observe(page)
    ordinary.observe(records_of(json.loads(content), THING))
    return arrow, ordinary, isinstance(page, ArrowRecords)


def same(arrow: FieldTally, ordinary: FieldTally) -> bool:
    return (arrow.records, arrow.undeclared, arrow.missing) == (
        ordinary.records,
        ordinary.undeclared,
        ordinary.missing,
    )


def test_fields_are_top_level_keys_and_keys_of_flattened_objects() -> None:
    assert declared_paths(declared_tree(THING.columns)) == [
        "extra",
        "id",
        "name",
        "note",
        "owner.id",
        "owner.name",
    ]
    rows = [
        {"id": 1, "name": "a", "note": "n", "owner": {"id": 7, "name": "Ida", "email": "i@x"}, "vat": "DE1"},
        {
            "id": 2,
            "name": "b",
            "note": None,
            "owner": {"id": 8, "email": None},
            "vat": None,
            "extra": {"k": 1},
        },
        {"id": 3, "name": "c", "note": "m", "owner": None, "extra": [1, {"deep": True}]},
    ]
    _, ordinary, went = both(rows)
    assert not went  # the json column holds values: the ordinary path
    # owner.email is carried by two records, with a value in one; keys inside ``extra`` (a json
    # column, kept whole) are not fields; a key absent from some records is not missing.
    assert ordinary.undeclared == {"owner.email": 1, "vat": 1}
    assert ordinary.missing == []


@pytest.mark.parametrize(
    ("rows", "undeclared", "missing"),
    [
        pytest.param(
            [{"id": 1, "name": "a", "note": "x", "owner": {"id": 1, "name": "I"}, "new": 5, "extra": None}],
            {"new": 1},
            [],
            id="a new field",
        ),
        pytest.param(
            [
                {"id": 1, "note": "x", "owner": {"id": 1, "name": "I"}, "new": None, "extra": None},
                {"id": 2, "note": None},
            ],
            {"new": 0},
            ["name"],
            id="a field only ever null is named with 0 records; a declared key in no record is missing",
        ),
        pytest.param(
            [{"id": 1, "name": "a", "note": "x", "owner": None, "extra": None}, {"id": 2, "name": "b"}],
            {},
            [],
            id="keys inside an object that came only as null are not judged",
        ),
        pytest.param(
            [{"id": 1, "name": "a", "note": "x", "owner": {"id": 1, "label": "I"}, "extra": None}],
            {"owner.label": 1},
            ["owner.name"],
            id="a renamed key inside a flattened object",
        ),
        pytest.param(
            [{"id": 1, "name": "a", "note": "x", "extra": None}],
            {},
            ["owner.id", "owner.name"],
            id="a flattened object in no record: its keys are missing",
        ),
    ],
)
def test_both_parsers_say_the_same(rows: list[dict], undeclared: dict, missing: list) -> None:
    arrow, ordinary, went = both(rows)
    assert went, "the page should parse columnar, or this test compares nothing"
    assert ordinary.undeclared == undeclared and ordinary.missing == missing
    assert same(arrow, ordinary)


def test_an_object_where_a_scalar_was_declared_and_back() -> None:
    """``owner`` sent as a plain id: the declared keys inside it are in no record."""
    tally = FieldTally(THING.columns)
    tally.observe([{"id": 1, "name": "a", "note": "x", "owner": 7, "extra": None}])
    assert tally.missing == ["owner.id", "owner.name"]


def test_nothing_read_says_nothing_is_missing() -> None:
    tally = FieldTally(THING.columns)
    tally.observe([])
    assert tally.records == 0 and tally.missing == [] and tally.summary() == ""


def test_tallies_of_two_reads_add_up() -> None:
    first, second = FieldTally(THING.columns), FieldTally(THING.columns)
    first.observe([{"id": 1, "new": 1}])
    second.observe([{"id": 2, "new": 2, "name": "b", "note": "n", "owner": {"id": 1, "name": "I"}}])
    assert first.merge(second) is first
    assert first.records == 2 and first.undeclared == {"new": 2} and first.missing == ["extra"]


def test_summary_is_one_line_of_at_most_ten_names_per_kind() -> None:
    tally = FieldTally(THING.columns)
    tally.observe([{"id": 1, **{f"f{i:02d}": i for i in range(12)}}])
    line = tally.summary()
    assert "\n" not in line
    assert (
        "12 undeclared field(s)" in line and "f00 (1)" in line and "f09 (1)" in line and "and 2 more" in line
    )
    assert "f10" not in line and "f11" not in line  # most common first, then by name
    assert "declared field(s) in no record: extra, name, note, owner.id, owner.name" in line
    assert listed(["a", "b", "c"], 2) == "a, b and 1 more"
