"""QuickBooks Online wire shapes: timestamps, property types, the `Fault` error envelope and its codes,
gateway errors.

Property types (`typed`): the JSON type of each writable property, as the reference's samples show them
(§5): numbers for rates and amounts, whole numbers for Hours/Minutes, `YYYY-MM-DD` dates, ISO timestamps
with an offset for StartTime/EndTime, `{"value": "<Id>"}` refs, objects for addresses, phones and e-mail,
text for the rest. A value of another type (a rate sent as text, 1.5 hours) is refused with a 6000
`Fault` naming the property: the strict reading, as QuickBooks' own typing of such values is UNCONFIRMED.

Two error shapes, as the reference describes (§2, §4):

- `Fault` (capitalised keys): validation and business errors of the v3 API, HTTP 400 (or 200 inside a
  batch item), `{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type":
  "ValidationFault"}, "time": ...}` with `code` a string. `ApiError` carries one to the endpoint.
- gateway errors (lower-case keys, a `message=...; errorCode=...; statusCode=...` text): 401 for a
  missing, unknown or expired access token, 403 for a realm the token does not grant, 429 over a
  throttle limit. Their exact bodies are UNCONFIRMED; the shape follows the reference's suggestion.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from starlette.responses import Response

from sandbox import app
from sandbox.common import JSON

Record = dict[str, Any]
# The company's time zone: US Pacific standard time, as Intuit's sample companies (fixed, no DST).
COMPANY_TZ = timezone(timedelta(hours=-8))


def now() -> datetime:
    return datetime.now(COMPANY_TZ)


def stamp(at: datetime | None = None) -> str:
    """`2026-01-07T04:50:52-08:00`, the shape of `MetaData` times."""
    return (at or now()).astimezone(COMPANY_TZ).isoformat(timespec="seconds")


def response_time() -> str:
    """`2026-01-07T04:50:52.331-08:00`, the `time` of every response."""
    return now().isoformat(timespec="milliseconds")


def today() -> str:
    return now().date().isoformat()


def parse_datetime(text: str) -> datetime:
    """An ISO timestamp; one without an offset is read in the company's time zone. ValueError if bad."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=COMPANY_TZ)


def utc_seconds(at: datetime) -> float:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()


class ApiError(app.ApiError):
    """A QuickBooks error: `fault` is the `Fault` object (a batch item's answer), `response` carries it
    with the HTTP status outside a batch."""

    def __init__(self, status: int, code: str, message: str, detail: str, element: str = "") -> None:
        self.fault: Record = {
            "Error": [{"Message": message, "Detail": detail, "code": code, "element": element}],
            "type": "ValidationFault",
        }
        super().__init__(JSON({"Fault": self.fault, "time": response_time()}, status))
        self.status = status


# The codes of reference §4; HTTP status 400 unless said otherwise.
def required(element: str) -> ApiError:
    return ApiError(400, "2020", "Required Param Missing", f"Required parameter {element} is missing in the request", element)  # fmt: skip


def invalid_enum(element: str, value: Any) -> ApiError:
    return ApiError(400, "2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element)


def invalid_ref(element: str, value: Any, what: str) -> ApiError:
    detail = (
        f"Invalid Reference Id : Something you're trying to use has been made inactive or does not exist:"
        f" {what} {value!r} ({element})"
    )
    return ApiError(400, "2500", "Invalid Reference Id", detail, element)


def object_not_found(entity: str, record_id: Any) -> ApiError:
    detail = f"Object Not Found : Something you're trying to use has been made inactive or deleted: {entity} {record_id}"
    return ApiError(400, "610", "Object Not Found", detail)


def duplicate_name(kind: str) -> ApiError:
    detail = (
        f"The name supplied already exists: Another {kind.lower()} is already using this name."
        " Please use a different name."
    )
    return ApiError(400, "6240", "Duplicate Name Exists Error", detail, "DisplayName")


def stale(sent: Any, current: str) -> ApiError:
    detail = f"Stale Object Error : SyncToken {sent} is out of date; the object was changed since (current {current})"
    return ApiError(400, "5010", "Stale Object Error", detail, "SyncToken")


def business(detail: str, element: str = "") -> ApiError:
    message = "A business validation error has occurred while processing your request"
    return ApiError(400, "6000", message, f"Business Validation Error: {detail}", element)


def query_error(detail: str) -> ApiError:
    # Query errors come back as a Fault (reference §6); their code is not in the reference: 4000.
    return ApiError(400, "4000", "Error parsing query", f"QueryParserError: {detail}")


def unsupported(detail: str, status: int = 400) -> ApiError:
    return ApiError(status, "500", "Unsupported Operation", detail)


def server_fault(status: int, detail: str) -> Response:
    body = {"Error": [{"Message": "An application error has occurred", "Detail": detail, "code": "10000",
                       "element": ""}], "type": "SystemFault"}  # fmt: skip
    return JSON({"Fault": body, "time": response_time()}, status)


class GatewayError(JSON):
    """401/403/429 in the gateway's lower-case shape; `keep_retry_after` spares a Retry-After header
    that the shared fault machinery was asked for (`fail_next` with `retry_after`)."""

    keep_retry_after = False


def gateway(status: int, name: str, error_code: str, detail: str, kind: str) -> GatewayError:
    message = f"message={name}; errorCode={error_code}; statusCode={status}"
    error = {"message": message, "detail": detail, "code": error_code.lstrip("0")}
    return GatewayError({"fault": {"error": [error], "type": kind}, "time": response_time()}, status)


def auth_failed(detail: str) -> GatewayError:
    return gateway(401, "AuthenticationFailed", "003200", detail, "AUTHENTICATION")


def realm_denied(realm: str) -> GatewayError:
    return gateway(403, "ApplicationAuthorizationFailed", "003100", f"The token does not grant company {realm}", "AUTHORIZATION")  # fmt: skip


def throttled(detail: str = "The request limit was reached.") -> GatewayError:
    return gateway(429, "ThrottleExceeded", "003001", detail, "SERVICE")


def envelope(entity: str, record: Record) -> Record:
    """`{"<Entity>": {...}, "time": ...}`, the answer of a create, read, update or delete."""
    return {entity: record, "time": response_time()}


# -- property types ---------------------------------------------------------------------------
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
