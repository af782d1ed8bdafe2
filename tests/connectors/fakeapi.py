"""A fake API that answers in the shapes an entity table declares — the seam for standard tests.

It knows nothing of any particular source: paths, envelopes, paging fields, windows and fan-out
all come from the declarations, so adding an entity adds its standard tests. Records are
synthesised from the declared columns (or taken from ``SAMPLES`` for entities whose API shape a
hook reshapes). Faults can be queued: the next N responses are the given status.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from connectors.core.entity import BODY, Entity, PagingKind, Partitioning, Source, placeholders
from connectors.core.settings import ResolvedSettings, resolve_settings

BASE = "https://api.test"


def environ_for(source: Source) -> dict[str, str]:
    env = {}
    for s in source.settings:
        if s.name.endswith("url"):
            env[s.env] = f"{BASE}/{source.name}/{s.name}"
        elif s.required or s.secret or s.name.endswith("_id"):
            env[s.env] = f"secret-{s.name}-value" if s.secret else f"test-{s.name}"
    return env


def settings_for(source: Source) -> ResolvedSettings:
    return resolve_settings(source, environ=environ_for(source))


def _set_path(record: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = record
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def synth(entity: Entity, i: int, day: dt.date, year: int | None) -> dict[str, Any]:
    """One API-shaped record with every declared column set (unique primary key per ``i``).

    Columns that read the same path (a raw value and its conversion) get one value that suits both.
    """
    record: dict[str, Any] = {}
    when = dt.datetime(day.year, day.month, day.day, 8, 0, tzinfo=dt.UTC)
    by_path: dict[tuple[str, ...], list] = {}
    for c in entity.columns:
        by_path.setdefault(c.source_path, []).append(c)
    for path, columns in by_path.items():
        c = columns[0]
        converts = {col.convert for col in columns}
        value: Any = {
            "int": i + 1,
            "float": i + 0.5,
            "str": f"{c.name}-{i}",
            "bool": i % 2 == 0,
            "date": day.isoformat(),
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "json": [i, {"k": "v"}],
        }[c.type]
        if "iso_duration" in converts:
            value = f"PT{i + 1}H30M"
        elif "cents" in converts:
            value = (i + 1) * 100 + 5
        if entity.window and c.name == entity.window.partition_field and c.type == "int":
            value = year
        _set_path(record, path, value)
    return record


#: API-shaped records for entities whose hook reshapes the response: (entity name) -> maker(i).
SAMPLES: dict[str, Callable[[int], dict[str, Any]]] = {
    "invoice_line_items": lambda i: {
        "id": 500 + i,
        "line_items": [
            {
                "id": 10 * i + 1,
                "kind": "Service",
                "description": "Design",
                "quantity": 2.0,
                "unit_price": 100.0,
                "amount": 200.0,
            },
            {
                "id": 10 * i + 2,
                "kind": "Product",
                "quantity": 1.0,
                "unit_price": 50.0,
                "amount": 50.0,
                "taxed": True,
            },
        ],
    },
    "customers_projects": lambda i: {
        "add": True,
        "report": {str(10 + i): True, str(20 + i): {"projects": {"7": True, "8": True}}},
        "edit": False,
    },
}


@dataclasses.dataclass
class Fault:
    status: int
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: Any = None
    count: int = 1
    entity: str | None = None  # only requests for this entity's path (None: any request)


class DeclaredAPI:
    def __init__(self, source: Source, records: int = 5, page_size: int = 2, parents: int = 2) -> None:
        self.source = source
        self.records = records
        self.page_size = page_size
        self.parents = parents
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self.body_override: Callable[[Entity, Any], Any] | None = None
        self.empty = False
        self.target = ""  # the entity under test: served in full even when it is also a fan-out parent
        self._routes = [(self._pattern(e), e) for e in source.entities]

    def _pattern(self, entity: Entity) -> re.Pattern[str]:
        path = re.escape(entity.path)
        for name in placeholders(entity.path):
            path = path.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
        return re.compile(f"^/{self.source.name}/[a-z_]+{path}$")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = urlsplit(str(request.url)).path
        matches = [entity for pattern, entity in self._routes if pattern.match(path)]
        # Two entities may read one endpoint (invoices and their line items): the one under test wins.
        matches.sort(key=lambda e: e.name != self.target)
        fault = self.faults[0] if self.faults else None
        if fault is not None and (fault.entity is None or (matches and matches[0].name == fault.entity)):
            fault.count -= 1
            if fault.count <= 0:
                self.faults.pop(0)
            return httpx.Response(
                fault.status, headers=fault.headers, json=fault.body or {"error": "injected"}
            )
        if matches:
            entity = matches[0]
            body, headers = self._answer(entity, request)
            if self.body_override is not None:
                body = self.body_override(entity, body)
            return httpx.Response(200, headers=headers, content=json.dumps(body).encode())
        return httpx.Response(404, json={"error": f"no route {path}"})

    # -- bodies -------------------------------------------------------------------------------

    def _window(self, entity: Entity, query: dict[str, Any]) -> tuple[dt.date, int | None]:
        w = entity.window
        if w is None:
            return dt.date(2026, 1, 5), None
        if w.partitioning is Partitioning.YEARLY and w.year_param:
            year = int(query.get(w.year_param, 2026))
            return dt.date(year, 3, 1), year
        since = dt.datetime.strptime(str(_get(query, w.since_param)), w.format).date() + dt.timedelta(
            days=w.pad_days
        )
        if w.partitioning is Partitioning.YEARLY:
            return since + dt.timedelta(days=59), since.year
        return since, None

    SPREAD_DAYS = 5  # records of a daily window spread over its first days: (user, day) keys stay unique

    def _all_records(self, entity: Entity, query: dict[str, str]) -> list[dict[str, Any]]:
        day, year = self._window(entity, query)
        is_parent = entity.name != self.target and any(
            e.fan_out and e.fan_out.parent == entity.name for e in self.source.entities
        )
        n = self.parents if is_parent else (0 if self.empty else self.records)
        make = SAMPLES.get(entity.name)
        spread = self.SPREAD_DAYS if entity.partitioning is Partitioning.DAILY else 1
        return [
            make(i) if make else synth(entity, i, day + dt.timedelta(days=i % spread), year) for i in range(n)
        ]

    def _answer(self, entity: Entity, request: httpx.Request) -> tuple[Any, dict[str, str]]:
        query: dict[str, Any] = {k: v[-1] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        if request.content:  # a POST search: its parameters are in the JSON body
            query = {**query, **json.loads(request.content)}
        records = self._all_records(entity, query)
        fan = entity.fan_out
        if fan and fan.inject_as and not SAMPLES.get(entity.name):
            # like a real API, a per-parent request answers with that parent's records
            match = self._pattern(entity).match(urlsplit(str(request.url)).path)
            value = (match.groupdict() if match else {}).get(fan.target) or query.get(fan.target)
            for r in records:
                r[fan.inject_as] = int(value) if str(value).isdigit() else value
        if fan and not SAMPLES.get(entity.name):
            # each series (one per parent or value) has its own records: keep their keys apart
            series = (
                match.groupdict()
                if (match := self._pattern(entity).match(urlsplit(str(request.url)).path))
                else {}
            ).get(fan.target) or query.get(fan.target)
            salt = zlib.crc32(str(series).encode()) % 1000 + 1
            keys = [c for c in entity.columns if c.name in entity.primary_key and c.name != fan.inject_as]
            for r in records:
                for c in keys:
                    node = r
                    for k in c.source_path[:-1]:
                        node = node.get(k, {})
                    leaf = c.source_path[-1]
                    if isinstance(node.get(leaf), str):
                        node[leaf] = f"{node[leaf]}-{series}"
                    elif isinstance(node.get(leaf), int) and not isinstance(node.get(leaf), bool):
                        node[leaf] += 1000 * salt
        paging = entity.paging
        if entity.envelope == BODY:
            return records[0] if records else {}, {}
        if paging.kind is PagingKind.SINGLE:
            return self._wrap(entity, records, {}), {}
        size = int(_get(query, paging.size_param) or self.page_size) if paging.size_param else self.page_size
        size = min(size, self.page_size)
        page = int(_get(query, paging.page_param) or paging.first_page)
        index = page - paging.first_page
        chunk = records[index * size : (index + 1) * size]
        count = max(1, -(-len(records) // size))
        extra: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if paging.kind is PagingKind.PAGE_COUNT:
            if paging.count_path:
                _set_path(extra, tuple(paging.count_path.split(".")), count)
            if paging.current_path:
                _set_path(extra, tuple(paging.current_path.split(".")), page)
        elif paging.kind is PagingKind.PAGE_UNTIL_SHORT and paging.last_page_header:
            headers[paging.last_page_header] = "true" if index + 1 >= count else "false"
        elif paging.kind is PagingKind.NEXT_LINK and index + 1 < count:
            url = request.url.copy_set_param(paging.page_param, str(page + 1))
            if paging.next_path:
                _set_path(extra, tuple(paging.next_path.split(".")), str(url))
            else:
                headers["Link"] = f'<{url}>; rel="next"'
        elif paging.kind is PagingKind.NEXT_LINK and paging.next_path:
            _set_path(extra, tuple(paging.next_path.split(".")), None)
        sizing = entity.window.sizing if entity.window else None
        if sizing is not None:  # the number of records matching, which size probes read
            _set_path(extra, tuple(sizing.count_path.split(".")), len(records))
        return self._wrap(entity, chunk, extra), headers

    @staticmethod
    def _wrap(entity: Entity, records: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
        if entity.envelope is None:
            return records
        body = dict(extra)
        _set_path(body, tuple(entity.envelope.split(".")), records)
        return body


def _get(query: dict[str, Any], dotted: str) -> Any:
    """A query parameter, or a value at a dotted path of a JSON body."""
    if dotted in query:
        return query[dotted]
    value: Any = query
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
