"""The columns each Runn target reads, and the rows they become.

A target's rows come from a flow step as an Arrow table. Each column has a canonical name and the
names the shipped ``people_and_projects`` flow gives it (``source_id`` for ``id``, ``client`` for a
client's name, ``person`` for a full name...); any one of them will do, two at once is an error.

=========  ========================================================================================
clients    ``id``, ``name``; optional ``active``, ``website``
projects   ``id``, ``name``, ``client_id``; optional ``active``
people     ``id``, ``first_name`` + ``last_name`` (or ``name``: a full name); optional ``email``,
           ``roles`` (a list, or text: comma-separated or a JSON array) or ``role`` (one name), ``active``
roles      ``name``; optional ``id``, ``default_hour_cost``, ``standard_rate``
actuals    ``person_id``, ``project_id``, ``date``, ``minutes`` or ``hours``, ``billable``; optional ``note``
=========  ========================================================================================

Every target also takes ``source`` (the tool the ids come from), which the ``source`` setting may
stand in for. Errors name the target, the row (1-based) and the column, and say what to do.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..base import DestinationConfigError


@dataclass(frozen=True)
class Column:
    key: str  # the writer's name for it
    names: tuple[str, ...]  # the accepted column names, the documented one first
    required: bool = True


# The accepted names per target; a group of alternatives (name vs first/last, minutes vs hours) is
# resolved in ``read_rows``.
COLUMNS: dict[str, tuple[Column, ...]] = {
    "clients": (
        Column("id", ("id", "source_id")),
        Column("name", ("name", "client")),
        Column("active", ("active",), False),
        Column("website", ("website",), False),
    ),
    "projects": (
        Column("id", ("id", "source_id")),
        Column("name", ("name", "project")),
        Column("client_id", ("client_id", "client_source_id")),
        Column("active", ("active",), False),
    ),
    "people": (
        Column("id", ("id", "source_id")),
        Column("first_name", ("first_name",), False),
        Column("last_name", ("last_name",), False),
        Column("full_name", ("name", "person"), False),
        Column("email", ("email",), False),
        Column("roles", ("roles",), False),
        Column("role", ("role",), False),
        Column("active", ("active",), False),
    ),
    "roles": (
        Column("name", ("name", "role")),
        Column("id", ("id", "source_id"), False),
        Column("default_hour_cost", ("default_hour_cost",), False),
        Column("standard_rate", ("standard_rate",), False),
    ),
    "actuals": (
        Column("person_id", ("person_id", "user_id")),
        Column("project_id", ("project_id",)),
        Column("date", ("date", "spent_date")),
        Column("minutes", ("minutes",), False),
        Column("hours", ("hours",), False),
        Column("billable", ("billable", "is_billable")),
        Column("note", ("note", "notes"), False),
    ),
}
SOURCE = Column("source", ("source",), False)


class InputError(DestinationConfigError):
    """The rows do not have the shape the target needs; the message names row, column and fix."""


@dataclass(frozen=True)
class Rows:
    """A target's input: one dict per row (writer keys -> Python values), and which columns it had."""

    target: str
    items: list[dict[str, Any]]
    present: frozenset[str]  # writer keys whose column exists

    def has(self, key: str) -> bool:
        return key in self.present


def read_rows(table: pa.Table, target: str, default_source: str | None) -> Rows:
    """Pick and check the target's columns of ``table``; every value converted (``Value``)."""
    where = f"Runn output, target {target}"
    chosen: dict[str, str] = {}
    for col in (*COLUMNS[target], SOURCE):
        found = [n for n in col.names if n in table.column_names]
        if len(found) > 1:
            raise InputError(
                f"{where}: columns {found} all mean {col.key!r}; keep one of them (select or rename in a step)"
            )
        if found:
            chosen[col.key] = found[0]
        elif col.required:
            raise InputError(f"{where}: {_missing(col, table)}")
    _check_groups(target, chosen, table, where)
    if "source" not in chosen and default_source is None:
        raise InputError(
            f"{where}: the rows have no 'source' column, so the tool the ids come from is unknown; "
            "set source: harvest (or clockify, clockodo...) on the output, or derive a source column"
        )
    columns = {key: table.column(name).to_pylist() for key, name in chosen.items()}
    items: list[dict[str, Any]] = []
    for i in range(table.num_rows):
        row: dict[str, Any] = {"_row": i + 1}
        for key, values in columns.items():
            row[key] = CONVERT[key](Value(where, i + 1, chosen[key], values[i]))
        if "source" not in chosen:
            row["source"] = default_source
        elif not row["source"]:
            raise InputError(f"{where}: row {i + 1}, column 'source' is empty; every row needs its tool")
        items.append(row)
    return Rows(target, items, frozenset(chosen))


def check_unique(rows: Rows) -> None:
    """One row per source id (per tool): two different rows for one id cannot both be the Runn item."""
    if rows.target == "actuals" or not rows.has("id"):
        return
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows.items:
        if row.get("id") is None:
            continue
        key = (row["source"], row["id"])
        first = seen.setdefault(key, row)
        if first is not row and {k: v for k, v in first.items() if k != "_row"} != {
            k: v for k, v in row.items() if k != "_row"
        }:
            raise InputError(
                f"Runn output, target {rows.target}: rows {first['_row']} and {row['_row']} have the same id "
                f"{row['id']!r} (source {row['source']}) but different values; keep one row per id "
                "(filter or aggregate in a step)"
            )


def _missing(col: Column, table: pa.Table) -> str:
    other = f" (or {', '.join(repr(n) for n in col.names[1:])})" if len(col.names) > 1 else ""
    return (
        f"column {col.names[0]!r}{other} is missing; the columns are {table.column_names}. "
        f"Add it with a derive or rename step (docs/destinations/runn.md lists each target's columns)"
    )


def _check_groups(target: str, chosen: dict[str, str], table: pa.Table, where: str) -> None:
    if target == "people":
        split = "first_name" in chosen or "last_name" in chosen
        if split and not ("first_name" in chosen and "last_name" in chosen):
            raise InputError(f"{where}: give both 'first_name' and 'last_name' (or one 'name' column)")
        if split == ("full_name" in chosen):
            raise InputError(
                f"{where}: name people with 'first_name' and 'last_name', or with one 'name' (or "
                f"'person') column, not both and not neither; the columns are {table.column_names}"
            )
        if "roles" in chosen and "role" in chosen:
            raise InputError(f"{where}: give 'roles' (all of a person's roles) or 'role' (one), not both")
    if target == "actuals" and ("minutes" in chosen) == ("hours" in chosen):
        raise InputError(
            f"{where}: give the time as 'minutes' or as 'hours' (exactly one of them); "
            f"the columns are {table.column_names}"
        )


@dataclass(frozen=True)
class Value:
    """One cell being converted, with what an error message needs."""

    where: str
    row: int
    column: str
    raw: Any

    def fail(self, problem: str, fix: str) -> InputError:
        return InputError(f"{self.where}: row {self.row}, column {self.column!r}: {problem}; {fix}")


def ident(v: Value) -> str:
    """A source id as text (Runn keeps ``externalId`` as a string): 42 -> "42"; empty is an error."""
    raw = v.raw
    if isinstance(raw, bool) or raw is None:
        raise v.fail(
            "the id is empty" if raw is None else "an id cannot be true/false", "every row needs its id"
        )
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float | decimal.Decimal):
        if not math.isfinite(raw):
            raise v.fail(f"{raw} is not an id", "every row needs its id")
        if raw == int(raw):
            return str(int(raw))
    text = str(raw).strip()
    if not text:
        raise v.fail("the id is empty", "every row needs its id")
    return text


def optional_ident(v: Value) -> str | None:
    return None if v.raw is None or (isinstance(v.raw, str) and not v.raw.strip()) else ident(v)


def text(v: Value) -> str | None:
    if v.raw is None:
        return None
    value = str(v.raw).strip()
    return value or None


def name(v: Value) -> str:
    value = text(v)
    if value is None:
        raise v.fail("the name is empty", "Runn needs a name for every item: fill it or filter such rows out")
    return value


def flag(v: Value) -> bool | None:
    raw = v.raw
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _FLAGS:
        return _FLAGS[raw.strip().lower()]
    raise v.fail(f"{raw!r} is not true or false", "give a boolean column (true/false)")


_FLAGS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "t": True,
    "f": False,
}


def number(v: Value) -> float | None:
    raw = v.raw
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise v.fail("true/false is not a number", "give a number column")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise v.fail(f"{raw!r} is not a number", "give a number column") from None
    if value < 0 or value != value:
        raise v.fail(f"{raw!r} is negative or not a number", "give a number of 0 or more")
    return value


def day(v: Value) -> dt.date:
    raw = v.raw
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw.strip()[:10])
        except ValueError:
            pass
    if raw is None:
        raise v.fail("the date is empty", "every actual needs its day")
    raise v.fail(f"{raw!r} is not a date", "give a date column or text as YYYY-MM-DD")


def role_names(v: Value) -> tuple[str, ...]:
    """A person's roles: a list, or text holding a JSON array or comma-separated names."""
    raw = v.raw
    if raw is None:
        return ()
    if isinstance(raw, str):
        stripped = raw.strip()
        if stripped.startswith("["):
            try:
                raw = json.loads(stripped)
            except ValueError:
                raise v.fail(
                    "text starting with '[' is not a JSON array", "give names separated by commas"
                ) from None
        else:
            raw = stripped.split(",")
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise v.fail(f"{raw!r} is not a list of role names", "give a list or comma-separated names")
    names = [str(r).strip() for r in raw if r is not None]
    return tuple(dict.fromkeys(n for n in names if n))  # in order, without repeats


def one_role(v: Value) -> tuple[str, ...]:
    """The ``role`` column: one name (empty, or Runn's "Unknown", means no single role)."""
    name = text(v)
    return () if name is None or name.casefold() == "unknown" else (name,)


CONVERT: dict[str, Callable[[Value], Any]] = {
    "id": ident,
    "name": name,
    "client_id": optional_ident,
    "active": flag,
    "website": text,
    "first_name": name,
    "last_name": name,
    "full_name": name,
    "email": text,
    "roles": role_names,
    "role": one_role,
    "default_hour_cost": number,
    "standard_rate": number,
    "person_id": ident,
    "project_id": ident,
    "date": day,
    "minutes": number,
    "hours": number,
    "billable": flag,
    "note": text,
    "source": text,
}


def split_name(full: str) -> tuple[str, str]:
    """``"Ada King Lovelace"`` -> ("Ada King", "Lovelace"): the last word is the last name. A single
    word is the first name, and the last name is "-" (Runn requires both; UNCONFIRMED what it prefers)."""
    first, _, last = full.strip().rpartition(" ")
    return (first.strip(), last) if first.strip() else (last, "-")
