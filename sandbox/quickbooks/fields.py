"""Property types of QuickBooks entities, and the check that a request's values have them.

The JSON type of each writable property, as the reference's samples show them (§5): numbers for
rates and amounts, whole numbers for Hours/Minutes, `YYYY-MM-DD` dates, ISO timestamps with an offset
for StartTime/EndTime, `{"value": "<Id>"}` refs, objects for addresses, phones and e-mail, text for
the rest. A value of another type (a rate sent as text, 1.5 hours) is refused with a 6000 `Fault`
naming the property: the strict reading, as QuickBooks' own typing of such values is UNCONFIRMED.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sandbox.quickbooks.wire import business

BOOL = {"Active", "Job", "BillWithParent", "Taxable", "BillableTime", "IsProject", "Vendor1099", "SubItem",
        "TrackQtyOnHand"}  # fmt: skip
NUMBER = {"BillRate", "CostRate", "Balance", "BalanceWithJobs", "UnitPrice", "PurchaseCost", "QtyOnHand",
          "HourlyRate"}  # fmt: skip
INTEGER = {"Hours", "Minutes", "BreakHours", "BreakMinutes"}
DATES = {"TxnDate", "BirthDate", "HiredDate", "ReleasedDate", "InvStartDate"}
DATETIMES = {"StartTime", "EndTime"}
OBJECTS = {"PrimaryAddr", "BillAddr", "ShipAddr", "PrimaryPhone", "AlternatePhone", "Mobile", "Fax",
           "PrimaryEmailAddr", "WebAddr", "AttachableRef"}  # fmt: skip
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def typed(name: str, value: Any) -> Any:
    """The value if it has the property's documented JSON type, else a 6000 naming the property."""
    ok = True
    if name in BOOL:
        ok = isinstance(value, bool)
    elif name in NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif name in INTEGER:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif name.endswith("Ref") and name != "AttachableRef":
        ok = isinstance(value, dict) and isinstance(value.get("value"), str) and value["value"] != ""
    elif name in OBJECTS:
        ok = isinstance(value, dict | list)
    elif name in DATES:
        ok = isinstance(value, str) and bool(_DATE.fullmatch(value)) and _is_date(value)
    elif name in DATETIMES:
        ok = isinstance(value, str) and _is_datetime(value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise business(f"{name} has an invalid value {value!r}", name)
    return value


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_datetime(text: str) -> bool:
    """`2016-07-22T10:00:00-07:00`: a date, a time and an offset (the reference's samples all have one)."""
    try:
        return "T" in text and datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False
