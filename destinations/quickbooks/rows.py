"""The input rows of a QuickBooks output: which columns, what each value may be, and the entries.

Rows come from a flow step as an Arrow table; the defaults are the columns of the ``billable_export``
flow (``settings.columns`` renames them):

=================  ==========  ====================================================================
column (default)   required    meaning
=================  ==========  ====================================================================
``id``             yes         the source entry's id (or the output's ``primary_key`` columns)
``date``           yes         the day worked: a date, a timestamp (its date) or ``YYYY-MM-DD`` text
``users_name``     yes         the person, matched to an Employee (or Vendor) DisplayName
``projects_name``  [1]_        the project: the customer or job
``customers_name`` [1]_        the client: the parent customer
``minutes``        yes         the duration, in ``duration_unit`` (minutes; seconds; hours)
``text``           no          the description
``hourly_rate``    no          the rate (else the ``hourly_rate`` setting)
``is_billable``    no          or ``billable``: true/false, or Clockodo's 0/1/2; absent: all billable
item column        no          the service item per row, when ``columns.item`` names one
=================  ==========  ====================================================================

.. [1] ``customer: project`` needs the project column, ``client`` the client column,
   ``client_project`` both.

A missing required column, or a column set explicitly in ``columns`` that the rows lack, is an
``InputError`` naming the output, the column and the columns there are; a value of the wrong type
names its row. Rows that cannot be sent (``SKIP_REASONS``) are not errors: ``read_entries`` gives
them their reason, and the writer reports them.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from . import QuickBooksTarget
from .errors import InputError

MAX_MINUTES = 23 * 60 + 55  # Clockify's limit for one entry (reference §9); QuickBooks' own: UNCONFIRMED
MAX_DESCRIPTION = 4000  # reference §5.5: commonly 4000 (UNCONFIRMED); longer text is cut
BILLABLE_COLUMNS = ("is_billable", "billable")

# Why a row is not sent (the report's ``reason``), in the order they are checked.
SKIP_REASONS = {
    "no_date": "the entry has no date",
    "no_duration": "the entry has no duration (or a negative one)",
    "not_billable": "the entry is not billable (set billable_only: false to send it as NotBillable)",
    "no_user": "the entry has no person",
    "no_project": "the entry has no project",
    "no_client": "the entry has no client",
    "unmapped_user": "the person is not in the user mapping (require_user_map: true)",
    "too_long": "the entry is longer than 23 h 55 min; split it at the source",
    "zero_duration": "the entry rounds to 0 minutes",
    "no_hourly_rate": "a billable entry needs an hourly rate: fill the rate column or set hourly_rate",
    "unknown_user": "no active QuickBooks employee has this name: add it in QuickBooks, or map it (user_map)",
    "unknown_customer": "no active QuickBooks customer has this name: add it in QuickBooks, or map it (customer_map)",
    "unknown_item": "no active QuickBooks Service item has this name: add it in QuickBooks, or map it (item_map)",
}


@dataclass
class Entry:
    """One row as a TimeActivity-to-be. Names are the source's; ``qbo_*`` are QuickBooks' (mapped)."""

    row: int  # 1-based position in the input, for messages
    key: str  # the entry's id as text (a composite key joined with "/")
    key_values: tuple[Any, ...]
    date: dt.date | None = None
    user: str | None = None
    client: str | None = None
    project: str | None = None
    item: str | None = None
    description: str | None = None
    minutes_in: float | None = None  # the duration before rounding, in minutes
    minutes: int | None = None  # rounded: what is sent
    billable: bool | None = None
    hourly_rate: float | None = None
    customer_key: str | None = None  # the source's customer, as customer_map keys it
    qbo_user: str | None = None
    qbo_customer: str | None = None
    qbo_item: str | None = None
    reason: str | None = None  # why it is not sent (a SKIP_REASONS key), None when it can be
    detail: str = ""
    refs: dict[str, str] = field(default_factory=dict)  # EmployeeRef/CustomerRef/ItemRef ids once found

    def skip(self, reason: str, detail: str = "") -> None:
        if self.reason is None:
            self.reason, self.detail = reason, detail or SKIP_REASONS[reason]

    def values(self, settings: QuickBooksTarget) -> dict[str, Any]:
        """What the TimeActivity says, in people's terms: compared with what was sent, stored, shown."""
        minutes = self.minutes
        return {
            "date": self.date.isoformat() if self.date else None,
            settings.name_of.lower(): self.qbo_user,
            "customer": self.qbo_customer,
            "item": self.qbo_item,
            "hours": minutes // 60 if minutes is not None else None,
            "minutes": minutes % 60 if minutes is not None else None,
            "billable": bool(self.billable),
            "hourly_rate": self.rate(settings),
            "description": self.text(),
        }

    def rate(self, settings: QuickBooksTarget) -> float | None:
        return self.hourly_rate if self.hourly_rate is not None else settings.hourly_rate

    def text(self) -> str | None:
        if not self.description:
            return None
        return self.description[:MAX_DESCRIPTION]


def round_minutes(minutes: float, step: int, direction: str) -> int:
    """``minutes`` to a multiple of ``step`` (whole seconds first, so 37.5 min is exact)."""
    seconds, unit = round(minutes * 60), step * 60
    if direction == "up":
        units = -(-seconds // unit)
    elif direction == "down":
        units = seconds // unit
    else:  # nearest, halves up
        units = (seconds + unit // 2) // unit
    return int(units * step)


def columns_needed(settings: QuickBooksTarget) -> dict[str, str]:
    """Role -> column of the columns every row must come with."""
    cols = settings.columns
    needed = {"date": cols.date, "user": cols.user, "duration": cols.duration}
    if settings.customer in ("project", "client_project"):
        needed["project"] = cols.project
    if settings.customer in ("client", "client_project"):
        needed["client"] = cols.client
    return needed


def check_columns(
    table: pa.Table, settings: QuickBooksTarget, keys: Sequence[str], shown: str
) -> dict[str, str]:
    """Role -> column actually read (optional ones only when present); an error for what is missing."""
    names = table.column_names
    cols = settings.columns
    chosen = dict(columns_needed(settings))
    for role in ("description", "hourly_rate", "project", "client"):
        column = getattr(cols, role)
        if role not in chosen and column in names:
            chosen[role] = column
        elif role not in chosen and role in cols.model_fields_set:
            chosen[role] = column  # set explicitly: it must be there
    if cols.item is not None:
        chosen["item"] = cols.item
    billable = cols.billable or next((c for c in BILLABLE_COLUMNS if c in names), None)
    if billable is not None:
        chosen["billable"] = billable
    missing = [(role, column) for role, column in chosen.items() if column not in names]
    missing += [("id", k) for k in keys if k not in names]
    if missing:
        listed = ", ".join(f"{c!r} ({role})" for role, c in missing)
        raise InputError(
            f"{shown}: the rows lack the column(s) {listed}; they have {names}. Select them in the flow "
            "step that feeds this output, or name the columns that hold them under columns: "
            "{date: ..., user: ..., project: ..., duration: ...} (defaults: the billable_export flow's)"
        )
    return chosen


def read_entries(
    table: pa.Table, settings: QuickBooksTarget, keys: Sequence[str], shown: str
) -> tuple[list[Entry], dict[str, str]]:
    """The entries of ``table`` (a key twice: its last row), checked without asking QuickBooks."""
    chosen = check_columns(table, settings, keys, shown)
    data = {role: table.column(column).to_pylist() for role, column in chosen.items()}
    key_columns = [table.column(k).to_pylist() for k in keys]
    by_key: dict[str, Entry] = {}
    for i in range(table.num_rows):
        values = tuple(col[i] for col in key_columns)
        if any(v is None for v in values):
            raise InputError(f"{shown}: row {i + 1} has no value in the key column(s) {list(keys)}")
        entry = Entry(row=i + 1, key="/".join(str(v) for v in values), key_values=values)
        _fill(entry, {role: col[i] for role, col in data.items()}, chosen, settings, shown)
        by_key.pop(entry.key, None)  # re-inserted last: input order, last row wins
        by_key[entry.key] = entry
    return list(by_key.values()), chosen


def _fill(
    entry: Entry, row: dict[str, Any], chosen: dict[str, str], settings: QuickBooksTarget, shown: str
) -> None:
    where = f"{shown}: row {entry.row}"
    entry.date = _date(row.get("date"), f"{where}, column {chosen['date']!r}")
    entry.user = _text(row.get("user"))
    entry.client = _text(row.get("client"))
    entry.project = _text(row.get("project"))
    entry.item = _text(row.get("item")) or settings.item
    entry.description = _text(row.get("description"))
    entry.hourly_rate = _number(row.get("hourly_rate"), f"{where}, column {chosen.get('hourly_rate')!r}")
    entry.minutes_in = _duration(
        row.get("duration"), settings.duration_unit, f"{where}, column {chosen['duration']!r}"
    )
    entry.billable = _billable(row, chosen, f"{where}, column {chosen.get('billable')!r}")
    if entry.minutes_in is not None and entry.minutes_in >= 0:
        entry.minutes = round_minutes(
            entry.minutes_in, settings.rounding.minutes, settings.rounding.direction
        )
    # QuickBooks names (mapped later by ``names.Mapping``) default to the source's own.
    entry.qbo_user = entry.user
    entry.qbo_item = entry.item
    if settings.customer == "client":
        entry.customer_key = entry.client
    elif settings.customer == "client_project":
        entry.customer_key = f"{entry.client}:{entry.project}" if entry.client and entry.project else None
    else:
        entry.customer_key = entry.project
    entry.qbo_customer = entry.customer_key


def pre_check(entry: Entry, settings: QuickBooksTarget, mapped_users: set[str] | None) -> None:
    """The reasons a row cannot be sent that need no QuickBooks look-up (first one wins)."""
    if entry.date is None:
        entry.skip("no_date")
    if entry.minutes_in is None or entry.minutes_in < 0:
        entry.skip("no_duration")
    if settings.billable_only and not entry.billable:
        entry.skip(
            "not_billable", "" if entry.billable is False else "the entry's billable status is unknown"
        )
    if not entry.user:
        entry.skip("no_user")
    if settings.customer in ("project", "client_project") and not entry.project:
        entry.skip("no_project")
    if settings.customer in ("client", "client_project") and not entry.client:
        entry.skip("no_client")
    if mapped_users is not None and entry.user and entry.user not in mapped_users:
        entry.skip("unmapped_user", f"{entry.user!r} is not in user_map / the mapping file")
    if entry.minutes is not None and entry.minutes > MAX_MINUTES:
        rounded = _hm(entry.minutes)
        before = _hm(entry.minutes_in or 0)
        was = f" (rounded from {before})" if before != rounded else ""
        entry.skip(
            "too_long",
            f"{rounded}{was} is longer than 23 h 55 min, the most one entry may hold; split it at the source",
        )
    if entry.minutes == 0:
        entry.skip("zero_duration")
    if entry.billable and entry.rate(settings) is None:
        entry.skip("no_hourly_rate")


def _hm(minutes: float) -> str:
    whole = round(minutes)
    return f"{whole // 60} h {whole % 60:02d} min"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10]) if value.strip() else None
        except ValueError:
            pass
    raise InputError(f"{where}: {value!r} is not a date; give a date, a timestamp or YYYY-MM-DD text")


def _number(value: Any, where: str) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    if isinstance(value, int | float | decimal.Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else None
        except ValueError:
            pass
    raise InputError(f"{where}: {value!r} is not a number")


_UNIT_MINUTES = {"minutes": 1.0, "seconds": 1 / 60, "hours": 60.0}


def _duration(value: Any, unit: str, where: str) -> float | None:
    if isinstance(value, dt.timedelta):  # an Arrow duration column: its unit is its own
        return value.total_seconds() / 60
    number = _number(value, where)
    return None if number is None else number * _UNIT_MINUTES[unit]


_TRUE, _FALSE = {"true", "yes", "1", "billable"}, {"false", "no", "0", "notbillable", "not billable"}


def _billable(row: dict[str, Any], chosen: dict[str, str], where: str) -> bool | None:
    if "billable" not in chosen:
        return True  # no billable column: the flow kept billable entries only (billable_export)
    value = row.get("billable")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # Clockodo: 0 no, 1 billable, 2 billed, -1 not visible
        return None if value < 0 else value > 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InputError(
        f"{where}: {value!r} is not a billable flag; give true/false (or 0/1/2 as Clockodo does)"
    )
