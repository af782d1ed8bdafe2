"""Column descriptions kept as data beside a connector's entities, applied once at import.

A connector states what its columns mean in ``connectors/<source>/descriptions.py`` as
``{entity: {column: sentence}}`` and binds its entity table through ``describe_columns``; the
Dagster assets then show each sentence in the column schema. The key ``"*"`` holds sentences for
columns that mean the same in every entity that has them (``created_at``); an entity's own entry
wins over it.

Like the declarations themselves, mistakes fail at import: an entity or a column that does not
exist (a ``"*"`` column no entity has), an empty sentence, or a column described both in its
declaration and here raises ``ValueError`` naming it.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping

from .entity import Column, Entity

#: Key of the sentences shared by every entity that has the column.
SHARED = "*"


def describe_columns(
    entities: tuple[Entity, ...], docs: Mapping[str, Mapping[str, str]]
) -> tuple[Entity, ...]:
    """``entities`` with ``Column.description`` filled from ``docs`` (new frozen records)."""
    by_name = {e.name: e for e in entities}
    for name in docs:
        if name != SHARED and name not in by_name:
            raise ValueError(f"descriptions: unknown entity {name!r}{_hint(name, by_name)}")
    shared = docs.get(SHARED, {})
    every_column = {c.name for e in entities for c in e.columns}
    for column in shared:
        if column not in every_column:
            raise ValueError(
                f"descriptions: no entity has the shared ({SHARED!r}) column {column!r}"
                f"{_hint(column, every_column)}"
            )
    for entity_name, columns in docs.items():
        for column, text in columns.items():
            if not text.strip():
                raise ValueError(f"descriptions: {entity_name}.{column} is empty")
    return tuple(_describe(e, docs.get(e.name, {}), shared) for e in entities)


def _describe(entity: Entity, own: Mapping[str, str], shared: Mapping[str, str]) -> Entity:
    names = [c.name for c in entity.columns]
    for column in own:
        if column not in names:
            raise ValueError(
                f"descriptions: entity {entity.name!r} has no column {column!r}{_hint(column, names)}"
            )

    def one(c: Column) -> Column:
        if c.name in own:
            if c.description:
                raise ValueError(
                    f"descriptions: {entity.name}.{c.name} is already described in its declaration"
                )
            return dataclasses.replace(c, description=own[c.name])
        if c.name in shared and not c.description:
            return dataclasses.replace(c, description=shared[c.name])
        return c

    return dataclasses.replace(entity, columns=tuple(one(c) for c in entity.columns))


def _hint(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
