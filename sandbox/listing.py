"""What every list endpoint does: select rows by declared filters, order them, cut out one page.

An API's `listing.py` declares its list endpoints with `Listing` (or a subclass adding its own facts:
page sizes, sort keys, cursor paging...) and `Filter` rows, maps each filter `kind` to a predicate (how
the API reads the parameter is its own), and renders a `Page` in its own envelope. The paging styles
of the imitations all come down to three cuts of an ordered list:

- by page number, `numbered`: Clockodo (`page`/`items_per_page`, a `paging` object), Harvest
  (`page`/`per_page` with links), Clockify (`page`/`page-size`, a `Last-Page` header);
- by position, `offset`: QuickBooks (`STARTPOSITION`/`MAXRESULTS`, 1-based);
- by key, `beyond` with an opaque `encode_cursor` token: Runn (`values`/`nextCursor`) and Harvest's
  cursor-paginated lists. A keyset position survives rows created or deleted between two pages.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Record = dict[str, Any]
Row = TypeVar("Row")
Predicate = Callable[[Record], bool]
SortKey = Callable[[Record], Any]


def public(row: Record) -> Record:
    """A record as sent: the sandbox's private bookkeeping fields (`_parent_id`...) removed."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


def nested(row: Any, path: Sequence[str]) -> Any:
    """The value at `path` (`("client", "id")`), or None where a step is missing or not an object."""
    value = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


# -- declarations and filters -------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    """One filter of a list endpoint: the query parameter `param` (inside `group`, as Clockodo's
    `filter[...]`), what it tests (`field`: a key, a path, or what `kind` needs) and `kind`, which the
    API maps to a predicate; `choices` are the values a kind with a fixed set accepts."""

    param: str
    kind: str
    field: Any = None
    group: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Listing:
    """One list endpoint as data: the entity it lists, its path, the envelope key of the list, its
    filters, and whether a restricted key sees only its own rows."""

    entity: str
    path: str
    envelope: str = "data"
    filters: tuple[Filter, ...] = ()
    own_only: bool = False


def predicates(filters: Iterable[Filter], build: Callable[[Filter], Predicate | None]) -> list[Predicate]:
    """The predicates a request asks for: `build` gives one per filter, or None when its parameter
    is absent (and raises the API's 400 for a bad value)."""
    return [p for f in filters if (p := build(f)) is not None]


def select(rows: Iterable[Record], preds: Sequence[Predicate]) -> list[Record]:
    return [r for r in rows if all(p(r) for p in preds)] if preds else list(rows)


def order(rows: Iterable[Record], keys: Sequence[tuple[SortKey, bool]]) -> list[Record]:
    """Rows sorted by several keys, each ascending or descending (`(key, True)`), the first key
    first. Stable; a None sorts after every value (so before them when descending)."""
    out = list(rows)
    for key, descending in reversed(keys):
        out.sort(key=_nones_last(key), reverse=descending)
    return out


def _nones_last(key: SortKey) -> Callable[[Record], tuple[bool, Any]]:
    def sort_key(row: Record) -> tuple[bool, Any]:
        value = key(row)
        return value is None, value

    return sort_key


# -- pages --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of an ordered list: its rows, the list's length, the index of its first row in the
    list, and the page size asked for."""

    rows: list[Row]
    total: int
    start: int
    size: int

    @property
    def number(self) -> int:
        """1-based page number (for a page cut by number)."""
        return self.start // self.size + 1

    @property
    def pages(self) -> int:
        """How many pages of `size` the list makes (0 for an empty list)."""
        return -(-self.total // self.size)

    @property
    def first(self) -> bool:
        return self.start == 0

    @property
    def last(self) -> bool:
        """No row follows this page (also true past the end)."""
        return self.start + len(self.rows) >= self.total


def numbered(rows: Sequence[Row], number: int, size: int) -> Page[Row]:
    """Page `number` (1-based) of `size` rows."""
    start = (number - 1) * size
    return Page(list(rows[start : start + size]), len(rows), start, size)


def offset(rows: Sequence[Row], position: int, size: int) -> Page[Row]:
    """`size` rows from the 1-based `position` on."""
    start = position - 1
    return Page(list(rows[start : start + size]), len(rows), start, size)


def beyond(rows: Iterable[Record], key: SortKey, position: Any, descending: bool = False) -> list[Record]:
    """The rows (ordered by `key`, unique per row) strictly past `position` in that order."""
    if descending:
        return [r for r in rows if key(r) < position]
    return [r for r in rows if key(r) > position]


def encode_cursor(payload: Any) -> str:
    """An opaque cursor: the JSON of `payload`, URL-safe base64 without padding."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Any:
    """The payload of an `encode_cursor` token; ValueError when it is not one."""
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
