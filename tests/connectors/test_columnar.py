"""Columnar pages (``connectors.core.columnar``) give exactly what the ordinary path gives.

Every decodable page must equal ``records.to_batch`` of the same JSON; every page Arrow cannot say
exactly the same thing about goes the ordinary way. Checked on crafted bodies and on every entity
of every connector against the declared-shape fake API, with and without the columnar path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pyarrow as pa
import pytest

from connectors import CONNECTORS, get_source
from connectors.core import extract as extract_module
from connectors.core.columnar import ArrowRecords, columnar_decoder
from connectors.core.entity import Entity, Paging, PagingKind, Partitioning, Window, cols
from connectors.core.errors import ResponseShapeError
from connectors.core.paginate import records_of
from connectors.core.records import to_batch

from .fakeapi import DeclaredAPI
from .test_standard import CASES, _unlimited, _window, run

ENTITY = Entity(
    "things",
    "/things",
    cols(
        "id:int! name:str code:str=meta.code amount:float day:date at:datetime "
        "owner_id:int=owner.id owner_name:str=owner.name flag:bool extra:json"
    ),
    envelope="result.items",
    paging=Paging(PagingKind.NEXT_LINK, next_path="links.next"),
)


def both(entity: Entity, body: object) -> tuple[pa.RecordBatch, pa.RecordBatch, bool]:
    """(columnar result, ordinary result, whether the page went columnar)."""
    content = json.dumps(body).encode()
    decode = columnar_decoder(entity)
    assert decode is not None
    decoded = decode(content)
    records = records_of(decoded, entity)
    columnar = isinstance(records, ArrowRecords)
    ordinary = to_batch(records_of(json.loads(content), entity), entity.columns)
    return to_batch(records, entity.columns), ordinary, columnar


def page(items: list[dict], nxt: str | None = "https://x.test/things?cursor=2") -> dict:
    return {"result": {"items": items, "total": len(items)}, "links": {"next": nxt}}


ROWS = [
    {
        "id": 1,
        "name": "a",
        "meta": {"code": "A-1"},
        "amount": 2,
        "day": "2026-05-31",
        "at": "2026-05-31T07:45:00+02:00",
        "owner": {"id": 7, "name": "Ida"},
        "flag": True,
        "extra": None,
    },
    {
        "id": 2,
        "name": "b",
        "meta": None,
        "amount": 2.5,
        "day": "2026-06-01T00:00:00Z",
        "at": None,
        "owner": None,
    },
    {"id": 3, "name": None, "amount": None, "at": "2026-06-01T10:00:00Z", "owner": {"id": 8}, "flag": False},
]


def test_a_plain_page_goes_columnar_and_equals_the_ordinary_path() -> None:
    columnar, ordinary, went = both(ENTITY, page(ROWS))
    assert went
    assert columnar.equals(ordinary)
    assert columnar.column("at").to_pylist()[0] == dt.datetime(2026, 5, 31, 5, 45, tzinfo=dt.UTC)
    assert columnar.column("owner_name").to_pylist() == ["Ida", None, None]  # null parent, missing key


def test_numbers_where_text_is_declared_become_the_same_text() -> None:
    rows = [dict(r, name=i * 10) for i, r in enumerate(ROWS)]
    columnar, ordinary, went = both(ENTITY, page(rows))
    assert went and columnar.equals(ordinary)
    assert columnar.column("name").to_pylist() == ["0", "10", "20"]


def test_paging_values_come_back_as_values() -> None:
    decoded = columnar_decoder(ENTITY)(json.dumps(page(ROWS)).encode())  # type: ignore[misc]
    assert decoded["links"]["next"] == "https://x.test/things?cursor=2"
    decoded = columnar_decoder(ENTITY)(json.dumps(page([], None)).encode())  # type: ignore[misc]
    assert decoded["links"]["next"] is None and len(records_of(decoded, ENTITY)) == 0


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"name": "2026-05-31T07:45:00Z"}, "text that looks like a time stays text"),
        ({"owner": "Ida"}, "a path through something that is not an object"),
        ({"flag": "yes"}, "booleans Arrow does not read"),
    ],
)
def test_pages_arrow_cannot_say_exactly_go_the_ordinary_way(change: dict, why: str) -> None:
    rows = [dict(r, **change) for r in ROWS]
    columnar, ordinary, went = both(ENTITY, page(rows))
    assert not went, why
    assert columnar.equals(ordinary)


def test_a_json_column_with_values_keeps_the_apis_exact_text_and_the_page_stays_columnar() -> None:
    """Key order, absent keys and number forms as the API sent them (Arrow's struct would unify
    them): that column comes from an ordinary parse of the page; the rest stays columnar."""
    extras = [{"b": 1.0, "a": [1, 2]}, None, {"a": [3], "c": "x"}]
    rows = [dict(r, extra=e) for r, e in zip(ROWS, extras, strict=False)]
    columnar, ordinary, went = both(ENTITY, page(rows))
    assert went and columnar.equals(ordinary)
    assert columnar.column("extra").to_pylist()[:3] == ['{"b":1.0,"a":[1,2]}', None, '{"a":[3],"c":"x"}']


def test_a_value_whose_type_differs_across_records_goes_the_ordinary_way() -> None:
    rows = [dict(ROWS[0], name=5), ROWS[1]]
    columnar, ordinary, went = both(ENTITY, page(rows))
    assert not went
    assert columnar.equals(ordinary)


def test_a_bad_value_fails_the_same_way_on_both_paths() -> None:
    rows = [dict(ROWS[0], id=1.5)]
    with pytest.raises(ResponseShapeError, match="'id' declared int"):
        both(ENTITY, page(rows))


def test_after_one_ordinary_page_the_rest_skip_the_columnar_try() -> None:
    decode = columnar_decoder(ENTITY)
    assert decode is not None
    first = decode(json.dumps(page([dict(ROWS[0], flag="yes")])).encode())
    second = decode(json.dumps(page(ROWS)).encode())
    assert isinstance(records_of(first, ENTITY), list) and isinstance(records_of(second, ENTITY), list)


def test_entities_that_need_python_per_record_are_not_columnar() -> None:
    clockodo = get_source("clockodo")
    assert columnar_decoder(clockodo.entity("entries")) is None  # a quirk hook adds flags
    assert columnar_decoder(get_source("harvest").entity("time_entries")) is not None
    yearly = dataclasses.replace(
        ENTITY, window=Window(Partitioning.YEARLY, year_param="y", inject_year_as="year")
    )
    assert columnar_decoder(yearly) is None


@pytest.mark.parametrize(("connector", "entity_name"), CASES)
def test_every_entity_extracts_the_same_with_and_without_columnar_pages(
    connector: str, entity_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _unlimited(get_source(connector))
    entity = source.entity(entity_name)
    api = DeclaredAPI(source)
    api.target = entity_name
    with_columnar, _ = run(source, entity, api)
    monkeypatch.setattr(extract_module, "columnar_decoder", lambda e: None)
    api = DeclaredAPI(source)
    api.target = entity_name
    without, _ = run(source, entity, api)
    assert with_columnar.drop(["_extracted_at"]).equals(without.drop(["_extracted_at"]))
    assert _window(entity) is not None and connector in CONNECTORS
