"""Which Runn item a source row is: matched only by the source's id in the item's external references.

A row of tool ``harvest`` from connection ``main`` with id ``42`` is the Runn item carrying the
reference ``{"referenceName": "couplet:harvest:main", "externalId": "42"}``. Names never match
(two clients called "Acme" stay two), except for roles, which people carry by name (``by_name``).
An item made by hand in Runn and given that reference is the same item: it is adopted (updated,
never duplicated). The reference name is compared without case or surrounding spaces (someone typing
it in Runn's app may write ``Couplet:Harvest:main``); the external id exactly, spaces trimmed.

Two Runn items carrying one reference are ambiguous: the row is skipped with both ids, never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .columns import InputError

Record = dict[str, Any]
PREFIX = "couplet"


@dataclass(frozen=True)
class Ref:
    """An external reference as couplet writes it."""

    name: str  # couplet:<tool>:<connection>
    external_id: str

    def as_json(self) -> dict[str, str]:
        return {"referenceName": self.name, "externalId": self.external_id}

    @property
    def key(self) -> tuple[str, str]:
        return (self.name.strip().casefold(), self.external_id.strip())

    def __str__(self) -> str:
        return f"{self.name}/{self.external_id}"


def reference_name(tool: str, connection: str) -> str:
    return f"{PREFIX}:{tool}:{connection}"


class ReferenceNames:
    """The reference name of each tool's rows, from the output's ``connection_name``."""

    def __init__(self, connection_name: str | Mapping[str, str], target: str) -> None:
        self.connection_name = connection_name
        self.target = target

    def of(self, tool: str) -> str:
        if isinstance(self.connection_name, str):
            return reference_name(tool, self.connection_name)
        connection = self.connection_name.get(tool)
        if connection is None:
            raise InputError(
                f"Runn output, target {self.target}: rows come from {tool!r}, which connection_name does "
                f"not name; add it: connection_name: {{{tool}: <its connection>, ...}}"
            )
        return reference_name(tool, connection)

    def check(self, tools: Iterable[str]) -> list[str]:
        """The reference names of ``tools``; with one connection name for several tools, an error."""
        found = sorted(set(tools))
        if isinstance(self.connection_name, str) and len(found) > 1:
            pairs = ", ".join(f"{t}: <connection>" for t in found)
            raise InputError(
                f"Runn output, target {self.target}: the rows come from {found} (column 'source'), but "
                f"connection_name names one connection; name each tool's: connection_name: {{{pairs}}}"
            )
        return [self.of(t) for t in found]

    def ref(self, tool: str, external_id: str) -> Ref:
        return Ref(self.of(tool), external_id)


class Index:
    """Runn items of one kind, found by external reference (and roles by name)."""

    def __init__(self, items: Iterable[Record]) -> None:
        self.items = list(items)
        self.by_id = {item["id"]: item for item in self.items}
        self._refs: dict[tuple[str, str], list[Record]] = defaultdict(list)
        for item in self.items:
            for ref in item.get("references") or ():
                name, ext = ref.get("referenceName"), ref.get("externalId")
                if isinstance(name, str) and ext is not None:
                    key = Ref(name, str(ext)).key
                    if item not in self._refs[key]:
                        self._refs[key].append(item)

    def find(self, ref: Ref) -> list[Record]:
        return self._refs.get(ref.key, [])

    def add(self, item: Record) -> None:
        """An item created during this write (so later rows can link to it)."""
        self.items.append(item)
        self.by_id[item["id"]] = item
        for ref in item.get("references") or ():
            self._refs[Ref(ref["referenceName"], str(ref["externalId"])).key].append(item)

    def by_name(self, name: str) -> list[Record]:
        """Items whose ``name`` equals ``name`` ignoring case and spaces; unarchived ones first."""
        wanted = name.strip().casefold()
        found = [
            i for i in self.items if isinstance(i.get("name"), str) and i["name"].strip().casefold() == wanted
        ]
        return sorted(found, key=lambda i: (bool(i.get("isArchived")), i["id"]))


def one(found: list[Record], ref: Ref, what: str) -> tuple[Record | None, str | None]:
    """The single match, or why there is none to use: (item, None), (None, None) or (None, reason)."""
    if len(found) > 1:
        ids = ", ".join(str(i["id"]) for i in found)
        return None, (
            f"{len(found)} Runn {what} carry the reference {ref} (ids {ids}); remove it from all but one in Runn"
        )
    return (found[0], None) if found else (None, None)
