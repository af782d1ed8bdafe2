"""The next content of a whole-rewrite target (a sheet, a tab) from its current rows and a write.

Excel and Google Sheets cannot delete or update rows in place safely, so their writers read the
current rows, compute the new content here and rewrite the target atomically. The rules:

* ``replace``: the incoming rows; with a scope, the rows outside the scope are kept and the
  incoming rows take the place of the first row the scope removed (so a person sees the same
  period where it was), or go at the end when the scope held nothing;
* ``append``: current rows, then the incoming rows;
* ``upsert``: ``merge_on_keys`` (rows keep their position, updated in place, new keys appended);
  a column the incoming rows lack keeps the current value of the row they update. With
  ``deletes``, the current rows inside the deletes' scope whose key did not arrive are then
  dropped (hard) or get ``_deleted_at`` set (soft, see ``base.Deletes``); the other rows keep
  their position.

Columns are the union of both sides (current order first); a column only one side has is null on
the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from .base import (
    DELETED_AT,
    DELETED_AT_TYPE,
    Deletes,
    DestinationConfigError,
    Mode,
    Scope,
    align,
    check_deletes,
    check_deletes_scope,
    dedupe_last,
    inside_scope,
    live,
    merge_on_keys,
    rows_outside_scope,
    union_schema,
)

_ROW = "__couplet_row"


@dataclass(frozen=True)
class Rewrite:
    table: pa.Table
    rows_written: int
    rows_deleted: int = 0
    rows_updated: int = 0


def combine(
    existing: pa.Table | None,
    incoming: pa.Table,
    mode: Mode,
    primary_key: Sequence[str] = (),
    scope: Scope | None = None,
    target: str = "",
    deletes: Deletes | None = None,
    now: dt.datetime | None = None,
) -> Rewrite:
    """The next content of the target; ``now`` is the write's time (soft deletes mark rows with it)."""
    check_deletes(mode, deletes, target)
    if deletes is not None and deletes.soft:
        incoming = live(incoming)
    if mode is Mode.UPSERT:
        incoming = dedupe_last(incoming, primary_key)
    if existing is None or (mode is Mode.REPLACE and scope is None):
        return Rewrite(incoming, incoming.num_rows)
    schema = union_schema(existing.schema, incoming.schema)
    old, new = align(existing, schema), align(incoming, schema)
    if mode is Mode.APPEND:
        return Rewrite(pa.concat_tables([old, new]), new.num_rows)
    if mode is Mode.UPSERT:
        missing = [k for k in primary_key if k not in existing.column_names]
        if missing:
            raise DestinationConfigError(
                f"{target}: the existing data has no key column(s) {missing}, so rows cannot be matched; "
                "replace the target once (mode replace) to give it the new columns"
            )
        check_deletes_scope(deletes, existing.column_names, target)
        merged, updated = merge_on_keys(
            old, _carry_over(old, new, incoming.column_names, primary_key), primary_key
        )
        gone = 0
        if deletes is not None:
            merged, gone = _apply_deletes(merged, new, primary_key, deletes, now)
        return Rewrite(merged, new.num_rows, rows_deleted=gone, rows_updated=updated)
    assert scope is not None
    if scope.column not in existing.column_names:
        raise DestinationConfigError(
            f"{target}: the existing data has no column {scope.column!r} to scope the replace by; "
            "replace the whole target once (no scope) to give it that column"
        )
    numbered = old.append_column(_ROW, pa.array(range(old.num_rows), pa.int64()))
    kept_rows = rows_outside_scope(numbered, scope).column(_ROW)
    deleted = old.num_rows - len(kept_rows)
    # The first removed row is the first index missing from the kept row numbers.
    gaps = pc.not_equal(kept_rows, pa.array(range(len(kept_rows)), pa.int64()))
    first = pc.index(gaps, True).as_py()
    at = len(kept_rows) if deleted == 0 else (first if first != -1 else len(kept_rows))
    kept = old.take(kept_rows)
    table = pa.concat_tables([kept.slice(0, at), new, kept.slice(at)])
    return Rewrite(table, new.num_rows, rows_deleted=deleted)


def _apply_deletes(
    merged: pa.Table, incoming: pa.Table, keys: Sequence[str], deletes: Deletes, now: dt.datetime | None
) -> tuple[pa.Table, int]:
    """Drop (hard) or mark (soft) the merged rows inside the scope whose key did not arrive;
    returns the table and how many rows were removed or newly marked."""
    arrived = set(zip(*(incoming.column(k).to_pylist() for k in keys), strict=True))
    missing = pa.array(
        [key not in arrived for key in zip(*(merged.column(k).to_pylist() for k in keys), strict=True)],
        pa.bool_(),
    )
    gone = missing if deletes.scope is None else pc.and_(missing, inside_scope(merged, deletes.scope))
    if not deletes.soft:
        return merged.filter(pc.invert(gone)), int(pc.sum(gone).as_py() or 0)
    marked = merged.column(DELETED_AT)
    newly = pc.and_(gone, pc.is_null(marked))
    stamp_at = pa.scalar(now or dt.datetime.now(dt.UTC), DELETED_AT_TYPE)
    column = pc.if_else(newly, stamp_at, marked)
    table = merged.set_column(merged.column_names.index(DELETED_AT), DELETED_AT, column)
    return table, int(pc.sum(newly).as_py() or 0)


def _carry_over(old: pa.Table, new: pa.Table, sent: Sequence[str], keys: Sequence[str]) -> pa.Table:
    """Columns the incoming rows do not have keep the current row's values (as a MERGE that only
    sets the incoming columns would); new keys get nulls there."""
    missing = [c for c in old.column_names if c not in sent]
    if not missing or old.num_rows == 0:
        return new
    first: dict[tuple, int] = {}
    for i, key in enumerate(zip(*(old.column(k).to_pylist() for k in keys), strict=True)):
        first.setdefault(key, i)
    matches = pa.array(
        [first.get(key) for key in zip(*(new.column(k).to_pylist() for k in keys), strict=True)], pa.int64()
    )
    for c in missing:
        new = new.set_column(new.column_names.index(c), c, old.column(c).take(matches))
    return new


def check_columns(table: pa.Table, name: str) -> None:
    """Columns every sheet-like target needs: named and unique."""
    names = table.column_names
    if not names:
        raise DestinationConfigError(f"{name}: the data has no columns")
    if any(not n for n in names):
        raise DestinationConfigError(f"{name}: a column has an empty name; rename it (select/rename)")
    if len(set(names)) != len(names):
        raise DestinationConfigError(f"{name}: column names repeat: {names}; rename one (select/rename)")


def check_scope(mode: Mode, table: pa.Table, scope: Scope | None, target: str) -> None:
    """A scope belongs to ``replace``, and every incoming row must lie inside it: a row outside
    would escape the delete of the next run of its own scope and turn into a duplicate."""
    if scope is None:
        return
    if mode is not Mode.REPLACE:
        raise DestinationConfigError(f"{target}: a scope only applies to mode 'replace'")
    if scope.column not in table.column_names:
        raise DestinationConfigError(
            f"{target}: the scope column {scope.column!r} is not in the data; columns: {table.column_names}"
        )
    outside = rows_outside_scope(table, scope).num_rows
    if outside:
        raise DestinationConfigError(
            f"{target}: {outside} incoming row(s) lie outside the scope {scope} (or have no {scope.column}); "
            "filter them out or widen the scope"
        )
