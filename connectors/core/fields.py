"""Schema drift: the fields an API sends that no column declares, and declared fields it never sends.

A *field* is a top-level key of a record, or, inside an object that the entity flattens into columns
(a column path ``project.name`` flattens ``project``), a key of that object, named by its dotted path
(``project.code``). An object declared whole (a ``json`` column) is one field: its inside is kept.

While pages are turned into columns, a ``FieldTally`` per entity counts:

- **undeclared** fields: a path that some record carries and no column reads, with the number of
  records in which it has a value (not null). Such a value is not staged: naming it is how nothing
  is dropped silently.
- documented fields an entity leaves out on purpose (``Entity.not_kept``: kept by another entity,
  deprecated, a secret) are neither: they are known, and not staged.
- **missing** declared fields: a column path that not one record of the extraction carried, when
  at least one record was read, unless the API documents it as sent only for some records
  (``Entity.sometimes``: a lump sum's amount, a field that needs a right). A field the API leaves
  out only for some records, or only when it is empty, is not missing; nor is a path inside an
  object that came only as ``null``.

Both parsers report the same thing: ``observe`` reads Python records (after a quirk hook, so the
fields are those of the records the columns are taken from), ``sample_struct`` reads a page that
``columnar`` parsed into Arrow, from its inferred type, without touching values record by record.

It must stay cheap (an extraction parses up to millions of records): a page's keys are collected in
C (``set().union(*records)``), each key is looked at once per page, and values are only read for
undeclared fields and for the objects the entity flattens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import countOf
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from .entity import Column

_NULL = {type(None)}


@dataclass(frozen=True)
class Node:
    """The declared keys at one level of a record: read whole (``leaves``) or flattened (``nested``)."""

    leaves: frozenset[str]
    nested: Mapping[str, Node]


def declared_tree(columns: Iterable[Column], not_kept: Iterable[str] = ()) -> Node:
    """The keys the columns read, as a tree; a key read whole is a leaf even if a path goes inside.
    ``not_kept``: dotted paths of documented fields the entity leaves out on purpose (``Entity.not_kept``),
    known to the tree so that they are not undeclared."""
    paths = {c.source_path for c in columns} | {tuple(p.split(".")) for p in not_kept}
    return _node(paths)


def _node(paths: set[tuple[str, ...]]) -> Node:
    leaves = frozenset(p[0] for p in paths if len(p) == 1)
    inner: dict[str, set[tuple[str, ...]]] = {}
    for p in paths:
        if len(p) > 1 and p[0] not in leaves:
            inner.setdefault(p[0], set()).add(p[1:])
    return Node(leaves, {key: _node(rest) for key, rest in inner.items()})


def declared_paths(node: Node, prefix: str = "") -> list[str]:
    """Every field the tree declares, as dotted paths."""
    out = [prefix + k for k in node.leaves]
    for key, child in node.nested.items():
        out += declared_paths(child, f"{prefix}{key}.")
    return sorted(out)


@dataclass
class FieldSample:
    """What some records showed of their fields (one page, or a whole extraction once merged)."""

    records: int = 0
    undeclared: dict[str, int] = field(default_factory=dict)  # path -> records with a value there
    seen: set[str] = field(default_factory=set)  # declared leaf paths some record carried
    objects: set[str] = field(default_factory=set)  # flattened paths some record held as an object
    nulls: set[str] = field(default_factory=set)  # flattened paths some record held as null

    def add(self, other: FieldSample) -> None:
        self.records += other.records
        for path, n in other.undeclared.items():
            self.undeclared[path] = self.undeclared.get(path, 0) + n
        self.seen |= other.seen
        self.objects |= other.objects
        self.nulls |= other.nulls


class Sampled(Protocol):
    """A page whose fields were sampled when it was parsed (``columnar.ArrowRecords``)."""

    @property
    def fields(self) -> FieldSample | None: ...


class FieldTally:
    """The fields of one entity's records over one extraction (see the module docstring)."""

    def __init__(
        self, columns: Sequence[Column], not_kept: Iterable[str] = (), sometimes: Iterable[str] = ()
    ) -> None:
        not_kept = tuple(not_kept)
        self.tree = declared_tree(columns, not_kept)
        # What may be missing: the columns' paths (not the fields not kept), but for those
        # documented as sent only sometimes.
        skip = {*not_kept, *sometimes}
        self.declared = [p for p in declared_paths(self.tree) if p not in skip]
        self.sample = FieldSample()

    @property
    def records(self) -> int:
        return self.sample.records

    @property
    def undeclared(self) -> dict[str, int]:
        """Undeclared paths and the records that carried a value there, most common first."""
        return dict(sorted(self.sample.undeclared.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def missing(self) -> list[str]:
        """Declared paths no record carried (none when nothing was read)."""
        s = self.sample
        if not s.records:
            return []
        return [p for p in self.declared if p not in s.seen and not self._under_null(p)]

    def _under_null(self, path: str) -> bool:
        # Inside an object that came only as null, nothing can be said of its keys.
        parts = path.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in self.sample.nulls and prefix not in self.sample.objects:
                return True
        return False

    def merge(self, other: FieldTally | None) -> FieldTally:
        """Add another extraction of the same entity (e.g. two ranges of one run); returns self."""
        if other is not None:
            self.sample.add(other.sample)
        return self

    def observe(self, records: Sequence[dict[str, Any]] | Sampled) -> None:
        """Count a page: Python records, or a columnar page sampled when it was parsed."""
        if not isinstance(records, Sequence):
            if records.fields is not None:
                self.sample.add(records.fields)
        elif records:
            self.sample.records += len(records)
            self._observe(records, self.tree, "")

    def _observe(self, records: Sequence[dict[str, Any]], node: Node, prefix: str) -> None:
        s = self.sample
        # Every key any record carries, collected in C from the dicts' own hashes: no tuple, no
        # Python step per record. What is done per key below is per page, not per record.
        for key in set().union(*records):
            path = f"{prefix}{key}"  # a hook's records may have keys that are not text
            if key in node.leaves:
                s.seen.add(path)
            elif key in node.nested:
                # Non-empty values; then only objects (a scalar where an object was declared is not one).
                objects = list(filter(None, map(dict.get, records, repeat(key))))
                if countOf(map(type, objects), dict) < len(objects):
                    objects = [v for v in objects if type(v) is dict]
                if objects:
                    s.objects.add(path)
                    self._observe(objects, node.nested[key], path + ".")
                else:  # rare: only nulls, empty objects or scalars
                    kinds = set(map(type, map(dict.get, records, repeat(key))))
                    if dict in kinds:
                        s.objects.add(path)  # empty objects only: their declared keys are missing
                    elif kinds == _NULL:  # in the union, so some record sent it, and only as null
                        s.nulls.add(path)
            else:
                nulls = countOf(map(dict.get, records, repeat(key)), None)  # in C, no list
                s.undeclared[path] = s.undeclared.get(path, 0) + len(records) - nulls

    def summary(self, limit: int = 10) -> str:
        """One line naming what changed shape, or "" when the records match the declaration."""
        parts = []
        undeclared = self.undeclared
        if undeclared:
            named = [f"{p} ({n})" for p, n in undeclared.items()]
            parts.append(
                f"{len(named)} undeclared field(s), their values not kept: {listed(named, limit)} "
                "(records with a value)"
            )
        missing = self.missing
        if missing:
            parts.append(f"{len(missing)} declared field(s) in no record: {listed(missing, limit)}")
        return "; ".join(parts)


def listed(names: Sequence[str], limit: int = 10) -> str:
    """``a, b, c and 4 more``: at most ``limit`` names."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def sample_struct(records: pa.Array, node: Node, prefix: str = "") -> FieldSample:
    """The fields of a page parsed by Arrow's JSON reader, from the struct type it inferred.

    A key any record carried is a child of the type (null-typed when it was null everywhere); an
    absent key and a null read the same, so counts are of values, as ``observe`` counts them.
    """
    sample = FieldSample(records=len(records))
    _sample(records, node, prefix, sample)
    return sample


def _sample(records: pa.Array, node: Node, prefix: str, sample: FieldSample) -> None:
    for i, f in enumerate(records.type):
        key, path = f.name, prefix + f.name
        if key in node.leaves:
            sample.seen.add(path)
            continue
        child = pc.struct_field(records, [i])  # null where the record itself is
        if key in node.nested:
            if pa.types.is_struct(child.type):
                sample.objects.add(path)
                _sample(child, node.nested[key], path + ".", sample)
            elif pa.types.is_null(child.type):
                sample.nulls.add(path)
            # A scalar where an object was declared covers nothing: its keys are reported missing.
            continue
        sample.undeclared[path] = sample.undeclared.get(path, 0) + len(child) - child.null_count
