"""Runn's error bodies, JSON bodies and their validation, and query parameters.

Every error is `{"error": <reason phrase>, "message": ..., "statusCode": <status>}` (reference §4:
`BadRequest`, `Conflict`; the other reason phrases by analogy). Runn validates requests against its
OpenAPI schema; the messages here follow that validator's wording (`body must have required property
'name'`, `querystring/limit must be <= 200`), which the reference does not quote: UNCONFIRMED text,
confirmed shape. Bodies are validated strictly: unknown properties, wrong types, and a `Content-Type`
other than JSON are refused (the sandbox must not accept what Runn might refuse).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request

from sandbox import app
from sandbox.common import JSON

Record = dict[str, Any]
REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 415: "Unsupported Media Type", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://[^\s/]+\.[^\s]+$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def error(status: int, message: str) -> JSON:
    return JSON({"error": REASONS.get(status, "Error"), "message": message, "statusCode": status}, status)


class ApiError(app.ApiError):
    """Raised anywhere below a handler; the app answers `response` (Runn's error body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(error(status, message))
        self.status, self.message = status, message


def bad(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(what: str, ident: Any) -> ApiError:
    return ApiError(404, f"{what} with id {ident} not found")


@dataclass(frozen=True)
class Field:
    """One property of a request body, as the OpenAPI schema declares it.

    kind: string, integer, number, boolean, date, email, url, references, ids ([n]),
    id_objects ([{"id": n}]) or weekdays (`rosteredDays`)."""

    kind: str
    required: bool = False
    nullable: bool = False
    min_length: int | None = None
    minimum: float | None = None
    enum: tuple[str, ...] = ()


Schema = Mapping[str, Field]


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    )


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _check(where: str, value: Any, f: Field) -> Any:
    """`value` as stored (integers as int), or ApiError(400) in the validator's words."""
    if value is None:
        if f.nullable:
            return None
        raise bad(f"{where} must be {_type_name(f)}")
    kind = f.kind
    if kind in ("email", "url") and value == "" and f.nullable:
        return None  # "" is a null form: it unsets the property (reference §1, PATCH semantics)
    if kind in ("string", "date", "email", "url"):
        if not isinstance(value, str):
            raise bad(f"{where} must be string")
        if f.min_length is not None and len(value) < f.min_length:
            raise bad(f"{where} must NOT have fewer than {f.min_length} characters")
        pattern = {"date": _DATE, "email": _EMAIL, "url": _URL}.get(kind)
        if pattern is not None and (not pattern.match(value) or (kind == "date" and not _valid_day(value))):
            raise bad(f'{where} must match format "{kind}"')
        if f.enum and value not in f.enum:
            raise bad(f"{where} must be equal to one of the allowed values: {', '.join(f.enum)}")
        return value
    if kind in ("integer", "number"):
        if not (_is_int(value) if kind == "integer" else _is_number(value)):
            raise bad(f"{where} must be {kind}")
        if f.minimum is not None and value < f.minimum:
            raise bad(f"{where} must be >= {f.minimum:g}")
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise bad(f"{where} must be boolean")
        return value
    if kind == "weekdays":
        return _fields(where, value, {d: Field("number", True, minimum=0) for d in WEEKDAYS})
    if not isinstance(value, list):
        raise bad(f"{where} must be array")
    if kind == "references":
        item = {
            "referenceName": Field("string", True, min_length=1),
            "externalId": Field("string", True, min_length=1),
        }
        return [_fields(f"{where}/{i}", v, item) for i, v in enumerate(value)]
    if kind == "id_objects":
        return [_fields(f"{where}/{i}", v, {"id": Field("integer", True)}) for i, v in enumerate(value)]
    if kind == "ids":
        return [_check(f"{where}/{i}", v, Field("integer")) for i, v in enumerate(value)]
    raise AssertionError(kind)


def _type_name(f: Field) -> str:
    return {"date": "string", "email": "string", "url": "string", "references": "array", "ids": "array",
            "id_objects": "array", "weekdays": "object"}.get(f.kind, f.kind)  # fmt: skip


def _valid_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _fields(where: str, body: Any, schema: Schema) -> Record:
    if not isinstance(body, dict):
        raise bad(f"{where} must be object")
    for name, f in schema.items():
        if f.required and name not in body:
            raise bad(f"{where} must have required property '{name}'")
    extra = [k for k in body if k not in schema]
    if extra:
        raise bad(f"{where} must NOT have additional properties: '{extra[0]}'")
    return {name: _check(f"{where}/{name}", value, schema[name]) for name, value in body.items()}


def validate(body: Any, schema: Schema, where: str = "body") -> Record:
    """The properties a body gives, checked against `schema` (absent ones stay absent)."""
    return _fields(where, body, schema)


async def json_body(request: Request) -> Any:
    """The parsed JSON body of a write; 415 for another content type, 400 for bad JSON."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, f"Unsupported Media Type: {content_type or 'none'}")
    raw = await request.body()
    if not raw.strip():
        raise bad("Body cannot be empty when content-type is set to 'application/json'")
    try:
        return json.loads(raw)
    except ValueError:
        raise bad("Body is not valid JSON but content-type is set to 'application/json'") from None


def path_id(request: Request, name: str = "id") -> int:
    raw = request.path_params[name]
    if not re.fullmatch(r"\d+", raw):
        raise bad(f"params/{name} must be integer")
    return int(raw)


def parse_moment(text: str) -> str | None:
    """`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.sss]Z` as the stored timestamp form, or None."""
    if _DATE.match(text) and _valid_day(text):
        return text + "T00:00:00.000Z"
    if _DATETIME.match(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return None
        return stamp(moment)
    return None


def stamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as Runn writes `createdAt` (`2024-11-29T23:06:06.133Z`)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Query:
    """The query string of one request. Parameters outside `allowed` are refused (UNCONFIRMED: Runn's
    schema may ignore them; refusing makes a client that relies on an undocumented filter fail loudly)."""

    def __init__(self, request: Request, allowed: set[str]) -> None:
        self.values = dict(request.query_params.items())
        extra = sorted(set(self.values) - allowed)
        if extra:
            raise bad(f"querystring must NOT have additional properties: '{extra[0]}'")

    def text(self, name: str) -> str | None:
        return self.values.get(name)

    def integer(self, name: str, default: int | None = None, low: int | None = None,
                high: int | None = None) -> int | None:  # fmt: skip
        raw = self.values.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"-?\d+", raw):
            raise bad(f"querystring/{name} must be integer")
        value = int(raw)
        if low is not None and value < low:
            raise bad(f"querystring/{name} must be >= {low}")
        if high is not None and value > high:
            raise bad(f"querystring/{name} must be <= {high}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.values.get(name)
        if raw is None:
            return default
        if raw not in ("true", "false"):
            raise bad(f"querystring/{name} must be boolean")
        return raw == "true"

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        raw = self.values.get(name, options[0])
        if raw not in options:
            raise bad(f"querystring/{name} must be equal to one of the allowed values: {', '.join(options)}")
        return raw

    def day(self, name: str) -> str | None:
        raw = self.values.get(name)
        if raw is not None and not (_DATE.match(raw) and _valid_day(raw)):
            raise bad(f'querystring/{name} must match format "date"')
        return raw

    def moment(self, name: str) -> str | None:
        raw = self.values.get(name)
        if raw is None:
            return None
        value = parse_moment(raw)
        if value is None:
            raise bad(f"querystring/{name} must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
        return value
