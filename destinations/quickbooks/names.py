"""Names: the mapping tables, and finding employees, customers and items in QuickBooks by exact name.

Matching is by exact name, as the incumbent does (reference §9: user name = Employee DisplayName,
project = Customer name, client:project = parent customer and job). Names that differ are mapped
(``user_map``, ``customer_map``, ``item_map``, and a ``mapping_file``; the settings win over the
file). A QuickBooks name with a colon is a full name (``Parent:Job``), looked up by
``FullyQualifiedName``; other names by ``DisplayName`` (items: ``Name``).

Look-ups go through the query endpoint, many names at a time
(``SELECT * FROM Employee WHERE DisplayName IN ('a', 'b')``, at most ``CHUNK`` a query, run
concurrently), once per name per run (``Directory`` caches). Quotes in names are escaped as
``\\'`` and backslashes as ``\\\\`` (reference §6: the escape is UNCONFIRMED). Whatever the server's
comparison (it may ignore case), a record counts only when its name is exactly the one asked for, is
active, and (items) is a Service item, so a mis-read escape can only miss a name, never pick a wrong
one; a name that differs only in case is pointed out in the report.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import QuickBooksTarget
from .client import QboClient, Record
from .errors import InputError
from .rows import Entry

CHUNK = 30  # names per IN query: short URLs, and at most 30 records per answer
_KINDS = {"user": "users", "users": "users", "customer": "customers", "customers": "customers",
          "item": "items", "items": "items"}  # fmt: skip


@dataclass(frozen=True)
class Mapping:
    """Source name -> QuickBooks name, per kind."""

    users: dict[str, str] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)
    items: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: QuickBooksTarget) -> Mapping:
        base = read_mapping_file(Path(settings.mapping_file)) if settings.mapping_file else cls()
        return cls(
            {**base.users, **settings.user_map},
            {**base.customers, **settings.customer_map},
            {**base.items, **settings.item_map},
        )

    def apply(self, entry: Entry) -> None:
        if entry.user is not None:
            entry.qbo_user = self.users.get(entry.user, entry.user)
        if entry.customer_key is not None:
            entry.qbo_customer = self.customers.get(entry.customer_key, entry.customer_key)
        if entry.item is not None:
            entry.qbo_item = self.items.get(entry.item, entry.item)


def read_mapping_file(path: Path) -> Mapping:
    """A CSV (``kind,source,quickbooks``; kind user, customer or item) or a YAML/JSON file
    (``{users: {source: quickbooks}, customers: {...}, items: {...}}``)."""
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise InputError(f"mapping_file {path}: cannot read it ({exc.strerror or exc})") from None
    maps: dict[str, dict[str, str]] = {"users": {}, "customers": {}, "items": {}}
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not {"kind", "source", "quickbooks"} <= set(reader.fieldnames or []):
            raise InputError(
                f"mapping_file {path}: the first line must name the columns kind,source,quickbooks "
                f"(found {reader.fieldnames})"
            )
        for line, row in enumerate(reader, start=2):
            kind, source, target = (row.get(k) or "" for k in ("kind", "source", "quickbooks"))
            if kind.strip().lower() not in _KINDS or not source or not target.strip():
                raise InputError(
                    f"mapping_file {path}, line {line}: give kind (user, customer or item), the source's "
                    "name and the QuickBooks name"
                )
            maps[_KINDS[kind.strip().lower()]][source] = target
        return Mapping(**maps)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise InputError(f"mapping_file {path}: use a .csv, .yaml or .json file")
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"mapping_file {path}: not valid {path.suffix[1:].upper()} ({exc})") from None
    if data is None:
        return Mapping()
    if not isinstance(data, dict) or set(data) - {"users", "customers", "items"}:
        raise InputError(
            f"mapping_file {path}: give users:, customers: and/or items:, each source name: QuickBooks name"
        )
    for kind, names in data.items():
        if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in names.items()):  # fmt: skip
            raise InputError(f"mapping_file {path}, {kind}: give source name: QuickBooks name pairs (text)")
        maps[kind] = dict(names)
    return Mapping(**maps)


def quote(name: str) -> str:
    """A name as a query literal (reference §6; the escape is UNCONFIRMED)."""
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Found:
    record: Record | None  # usable: exact name, active (and a Service item)
    problem: str = ""  # why not, for the report


class Directory:
    """Records by exact name, each name asked once per run."""

    def __init__(self, qbo: QboClient) -> None:
        self.qbo = qbo
        self._cache: dict[tuple[str, str], Found] = {}
        self.queries = 0

    async def find(self, entity: str, names: Iterable[str]) -> dict[str, Found]:
        wanted = sorted({n for n in names if n})
        todo = [n for n in wanted if (entity, n) not in self._cache]
        by_field: dict[str, list[str]] = {}
        for name in todo:
            by_field.setdefault(_field(entity, name), []).append(name)
        jobs = [
            self._lookup(entity, column, chunk)
            for column, group in by_field.items()
            for chunk in (group[i : i + CHUNK] for i in range(0, len(group), CHUNK))
        ]
        await asyncio.gather(*jobs)
        return {n: self._cache[(entity, n)] for n in wanted}

    async def _lookup(self, entity: str, column: str, names: list[str]) -> None:
        where = (
            f"{column} = {quote(names[0])}"
            if len(names) == 1
            else f"{column} IN ({', '.join(map(quote, names))})"
        )
        self.queries += 1
        records = await self.qbo.query(entity, where, most=len(names))
        exact: dict[str, list[Record]] = {}
        folded: dict[str, str] = {}
        for record in records:
            value = record.get(column)
            if isinstance(value, str):
                exact.setdefault(value, []).append(record)
                folded.setdefault(value.casefold(), value)
        for name in names:
            self._cache[(entity, name)] = _judge(entity, column, name, exact.get(name, []), folded)


def _field(entity: str, name: str) -> str:
    if ":" in name and entity in ("Customer", "Item"):
        return "FullyQualifiedName"
    return "Name" if entity == "Item" else "DisplayName"


def _judge(entity: str, column: str, name: str, records: list[Record], folded: dict[str, str]) -> Found:
    what = {"Item": "Service item"}.get(entity, entity.lower())
    if not records:
        near = folded.get(name.casefold())
        hint = f" (QuickBooks has {near!r}, which differs in case: map the name to it)" if near else ""
        return Found(None, f"no {what} with the {column} {name!r} in QuickBooks{hint}")
    active = [r for r in records if r.get("Active", True) is not False]
    if not active:
        return Found(None, f"the {what} {name!r} is inactive in QuickBooks: make it active, or map the name")
    if entity == "Item":
        services = [r for r in active if r.get("Type") == "Service"]
        if not services:
            return Found(
                None, f"{name!r} is a {active[0].get('Type')} item; a TimeActivity takes a Service item"
            )
        active = services
    if not isinstance(active[0].get("Id"), str | int):
        return Found(None, f"the {what} {name!r} came back without an Id")
    return Found(active[0])


async def resolve(directory: Directory, entries: list[Entry], name_of: str) -> None:
    """Find each entry's person, customer and item; an entry whose names are not all found is skipped."""
    people, customers, items = await asyncio.gather(
        directory.find(name_of, (e.qbo_user for e in entries if e.qbo_user)),
        directory.find("Customer", (e.qbo_customer for e in entries if e.qbo_customer)),
        directory.find("Item", (e.qbo_item for e in entries if e.qbo_item)),
    )
    ref = "VendorRef" if name_of == "Vendor" else "EmployeeRef"
    for entry in entries:
        for found, reason, refname in (
            (people.get(entry.qbo_user or ""), "unknown_user", ref),
            (customers.get(entry.qbo_customer or ""), "unknown_customer", "CustomerRef"),
            (items.get(entry.qbo_item or "") if entry.qbo_item else None, "unknown_item", "ItemRef"),
        ):
            if found is None:
                continue
            if found.record is None:
                entry.skip(reason, found.problem)
            else:
                entry.refs[refname] = str(found.record["Id"])
