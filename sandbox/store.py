"""Where a sandbox's records live: the admin overlay, the view of generated records, id sequences.

Two kinds of imitation hold records differently:

- A **source** (Clockodo, Clockify, Harvest) renders records generated from the synthetic org. They are
  built once per entity (`GeneratedRecords.base`); admin edits never touch them but sit beside them in
  the `Overlay` (inserts, patches, deletes), and `GeneratedRecords.dims` is the current view: the
  generated records with the overlay applied, arranged the way the API lists them, cached until the
  overlay changes. Time entries, too many to build, use `Overlay.current` and `Overlay.edited` instead.
- A **destination** (Runn, QuickBooks) starts empty or seeded and holds what clients write: its own
  store keeps the tables, and `Sequences` hands out the ids the server assigns.

Overlay ids are integers. An API whose wire ids are not (Clockify's 24-hex ids) passes `key`, which
turns a wire id into the integer the overlay files it under.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

Record = dict[str, Any]
Key = Callable[[Any], int | None]  # wire id -> overlay id


def merged(row: Record, patch: Record) -> Record:
    """A generated record with an admin patch on top (the default way an edit applies), as a copy."""
    return {**row, **patch}


class Overlay:
    """Admin inserts, edits and deletes, kept apart from the generated data they shadow.

    Records are stored in the sandbox's wire shape. `version` changes on every write so renderers can
    cache per version.
    """

    def __init__(self) -> None:
        self.version = 0
        self.inserted: dict[str, dict[int, Record]] = {}
        self.patches: dict[str, dict[int, Record]] = {}
        self.deleted: dict[str, set[int]] = {}

    def insert(self, entity: str, record: Record, record_id: int | None = None) -> None:
        """File `record` under `record_id` (default: its `id` as an integer)."""
        key = int(record["id"]) if record_id is None else record_id
        self.inserted.setdefault(entity, {})[key] = record
        self.version += 1

    def patch(self, entity: str, record_id: int, fields: Mapping[str, Any]) -> None:
        if record_id in self.inserted.get(entity, {}):
            self.inserted[entity][record_id].update(fields)
        else:
            self.patches.setdefault(entity, {}).setdefault(record_id, {}).update(fields)
        self.version += 1

    def delete(self, entity: str, record_id: int) -> None:
        if self.inserted.get(entity, {}).pop(record_id, None) is None:
            self.deleted.setdefault(entity, set()).add(record_id)
            self.patches.get(entity, {}).pop(record_id, None)
        self.version += 1

    def touched(self, entity: str) -> set[int]:
        """Ids of generated records that were edited or deleted."""
        return set(self.patches.get(entity, {})) | self.deleted.get(entity, set())

    def apply(self, entity: str, records: Iterable[Record], key: Key | None = None) -> list[Record]:
        """Generated records with edits and deletes applied, then the inserted ones."""
        patches, deleted = self.patches.get(entity, {}), self.deleted.get(entity, set())
        if key is None:
            out = [
                {**r, **patches[r["id"]]} if r["id"] in patches else r
                for r in records
                if r["id"] not in deleted
            ]
        else:
            out = []
            for r in records:
                n = key(r["id"])
                if n not in deleted:
                    out.append({**r, **patches[n]} if n in patches else r)
        return out + list(self.inserted.get(entity, {}).values())

    def current(
        self,
        entity: str,
        record_id: int,
        generated: Callable[[int], Record | None],
        merge: Callable[[Record, Record], Record] = merged,
    ) -> Record | None:
        """One record as it stands: the inserted one, else the generated one (`generated` renders it)
        with its edits; None when deleted or unknown. For entities too large to build whole."""
        row = self.inserted.get(entity, {}).get(record_id)
        if row is None and record_id not in self.deleted.get(entity, set()):
            base = generated(record_id)
            if base is not None:
                row = merge(base, self.patches.get(entity, {}).get(record_id, {}))
        return row

    def edited(
        self,
        entity: str,
        generated: Callable[[int], Record | None],
        merge: Callable[[Record, Record], Record] = merged,
    ) -> list[Record]:
        """The inserted records and the edited generated ones, as they stand (a listing merges them
        into the generated stream, which skips every `touched` id)."""
        rows = list(self.inserted.get(entity, {}).values())
        for record_id, patch in self.patches.get(entity, {}).items():
            base = generated(record_id)
            if base is not None:
                rows.append(merge(base, patch))
        return rows

    def next_id(self, entity: str, floor: int) -> int:
        """A fresh id: above `floor` (the largest generated id) and above every inserted one."""
        return max([floor, *self.inserted.get(entity, {})]) + 1

    def reset(self) -> None:
        self.inserted.clear()
        self.patches.clear()
        self.deleted.clear()
        self.version += 1


class GeneratedRecords:
    """A source sandbox's generated records per entity and their current view (see the module doc).

    `build(entity)` makes an entity's records (called once); `arrange(entity, rows)` turns the
    overlay-applied rows into what the API lists (sorted, denormalised fields refreshed...)."""

    def __init__(
        self,
        overlay: Overlay,
        build: Callable[[str], list[Record]],
        arrange: Callable[[str, list[Record]], list[Record]] | None = None,
        key: Key | None = None,
    ) -> None:
        self.overlay, self.build, self.key = overlay, build, key
        self.arrange = arrange or (lambda entity, rows: rows)
        self._base: dict[str, list[Record]] = {}
        self._dims: dict[str, tuple[int, list[Record]]] = {}
        self._index: dict[str, tuple[int, dict[Any, Record]]] = {}

    def base(self, entity: str) -> list[Record]:
        """Generated records of an entity (built once; the org never changes)."""
        if entity not in self._base:
            self._base[entity] = self.build(entity)
        return self._base[entity]

    def dims(self, entity: str) -> list[Record]:
        """Current records (admin edits applied, arranged); cached until the overlay changes."""
        version = self.overlay.version
        cached = self._dims.get(entity)
        if cached is None or cached[0] != version:
            rows = self.overlay.apply(entity, self.base(entity), self.key)
            cached = self._dims[entity] = (version, self.arrange(entity, rows))
        return cached[1]

    def by_id(self, entity: str) -> dict[Any, Record]:
        version = self.overlay.version
        cached = self._index.get(entity)
        if cached is None or cached[0] != version:
            cached = self._index[entity] = (version, {r["id"]: r for r in self.dims(entity)})
        return cached[1]

    def get(self, entity: str, record_id: Any) -> Record | None:
        """The current record with this wire id, or None (also for a value no id can be, as a list)."""
        try:
            return None if record_id is None else self.by_id(entity).get(record_id)
        except TypeError:
            return None

    def largest_id(self, entity: str) -> int:
        """The largest overlay id among the generated records (0 for none)."""
        key = self.key or int
        return max([0, *((key(r["id"]) or 0) for r in self.base(entity))])


class Sequences:
    """Server-assigned ids of a destination sandbox: one increasing counter per id space.

    A table uses its own space unless `spaces` names a shared one (QuickBooks' customers, vendors and
    employees share one name list), starting after `starts` (Runn starts each table at its own base).
    An id a client may choose (an admin insert) moves its space past it, so the next one stays fresh.
    """

    def __init__(
        self, starts: Mapping[str, int] | None = None, spaces: Mapping[str, str] | None = None
    ) -> None:
        self.starts, self.spaces = dict(starts or {}), dict(spaces or {})
        self.reset()

    def reset(self) -> None:
        self.last: dict[str, int] = dict(self.starts)

    def space(self, table: str) -> str:
        return self.spaces.get(table, table)

    def next(self, table: str) -> int:
        space = self.space(table)
        self.last[space] = self.last.get(space, 0) + 1
        return self.last[space]

    def claim(self, table: str, record_id: int) -> None:
        space = self.space(table)
        self.last[space] = max(self.last.get(space, 0), record_id)
