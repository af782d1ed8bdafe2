"""The request-handling core shared by the Google emulators: requests, replies, errors, faults, tokens.

An emulator subclasses ``Emulator`` and implements ``handle(request) -> Response`` (the Google API)
and ``admin(request) -> Response`` (``/_admin/...`` reads, not part of any Google API). It knows no
transport: ``sandbox.google.serving`` gives it one, an ASGI app for the sandbox server or a threaded
``http.server`` for tests. Whatever serves it, an emulator offers:

* ``requests``: the request log (method, path, query, headers, body), to count and inspect calls;
* ``inject(status, when=..., skip=n, times=k)``: make matching requests fail, e.g. the third values
  write with a 500, or every request after the tenth with a 429 and ``Retry-After``; ``after=True``
  applies the request first and then fails it (the reply is lost, the change is not);
* ``POST /token``: an OAuth token endpoint for service-account JWTs (see ``Emulator``).

Requests are applied one at a time under ``lock``: a state change is whole, as in the real services.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs

ADMIN_PREFIX = "/_admin/"


@dataclass
class Request:
    method: str
    path: str  # below the emulator's root, unquoted
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-case
    body: bytes
    base_url: str = ""  # where the emulator is served (scheme://host[:port][/mount]); for absolute links

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    status: int = 200
    body: bytes | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, dict | list):
            headers.setdefault("Content-Type", "application/json; charset=UTF-8")
            return json.dumps(self.body).encode(), headers
        return self.body or b"", headers


class HttpError(Exception):
    """Raise from a handler to answer with a Google-style JSON error."""

    def __init__(self, status: int, message: str, reason: str = "", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason
        self.headers = headers or {}


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_body(status: int, message: str, reason: str = "") -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS.get(status, "UNKNOWN"),
            "errors": [
                {"message": message, "domain": "global", "reason": reason or _STATUS.get(status, "error")}
            ],
        }
    }


@dataclass
class Fault:
    status: int
    when: Callable[[Request], bool]
    skip: int = 0  # let this many matching requests through first
    times: int = 1  # then fail this many (a large number: fail for good)
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "injected failure"
    after: bool = False  # apply the request, then answer with the error (a lost reply)
    seen: int = 0
    fired: int = 0

    def fires(self, request: Request) -> bool:
        if self.fired >= self.times or not self.when(request):
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        self.fired += 1
        return True


class Emulator:
    """The shared core. Also an OAuth token endpoint (``POST /token``) for service-account JWTs:
    point a key's ``token_uri`` at ``<url>/token`` and the Google auth library gets a bearer token
    from here, whose e-mail ``caller()`` returns. Accounts in ``rejected_accounts`` get
    ``invalid_grant``. Requests without a bearer token are anonymous (``caller() is None``).

    ``request_log_size`` bounds the log (``None``: keep everything, as tests want); bodies longer
    than ``logged_body_bytes`` are logged cut short, so a long-lived sandbox does not keep every
    upload. ``url`` is set by a threaded server (tests); a mounted emulator learns its address from
    each request (``Request.base_url``).
    """

    def __init__(self, request_log_size: int | None = None, logged_body_bytes: int | None = None) -> None:
        self.tokens: dict[str, str] = {}  # access token -> service account e-mail
        self.rejected_accounts: set[str] = set()
        self.requests: deque[Request] = deque(maxlen=request_log_size)
        self.logged_body_bytes = logged_body_bytes
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.url = ""

    def close(self) -> None:
        """Release what the emulator holds (nothing here; BigQuery closes its database)."""

    def inject(
        self,
        status: int,
        when: Callable[[Request], bool] = lambda r: True,
        skip: int = 0,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str = "injected failure",
        after: bool = False,
    ) -> Fault:
        fault = Fault(status, when, skip, times, headers or {}, message, after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def count(self, when: Callable[[Request], bool] = lambda r: True) -> int:
        with self.lock:
            return sum(1 for r in self.requests if when(r))

    def dispatch(self, request: Request) -> Response:
        """Answer one request: admin reads directly; API calls logged, faults first, then ``handle``."""
        with self.lock:  # one request at a time: state changes are whole, like the real services
            if request.path.startswith(ADMIN_PREFIX):
                return self._answer(self.admin, request)
            limit = self.logged_body_bytes
            if limit is not None and len(request.body) > limit:
                self.requests.append(replace(request, body=request.body[:limit]))
            else:
                self.requests.append(request)
            for fault in self.faults:
                if fault.fires(request):
                    if fault.after:
                        with contextlib.suppress(HttpError):
                            self.handle(request)
                    return Response(
                        fault.status, error_body(fault.status, fault.message), dict(fault.headers)
                    )
            if request.path == "/token" and request.method == "POST":
                return self.issue_token(request)
            return self._answer(self.handle, request)

    @staticmethod
    def _answer(handler: Callable[[Request], Response], request: Request) -> Response:
        try:
            return handler(request)
        except HttpError as exc:
            return Response(exc.status, error_body(exc.status, exc.message, exc.reason), exc.headers)

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def admin(self, request: Request) -> Response:
        raise HttpError(404, f"no admin endpoint {request.method} {request.path}")

    def issue_token(self, request: Request) -> Response:
        form = parse_qs(request.body.decode())
        assertion = form.get("assertion", [""])[0]
        try:
            payload = assertion.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT."})
        email = claims.get("iss", "")  # the emulator trusts the claim; it does not check the signature
        if email in self.rejected_accounts:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        token = "ya29.fake-" + uuid.uuid4().hex
        self.tokens[token] = email
        return Response(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def caller(self, request: Request) -> str | None:
        """The e-mail behind the request's bearer token; ``None`` without one; 401 for a bad one."""
        auth = request.headers.get("authorization", "")
        if not auth:
            return None
        email = self.tokens.get(auth.removeprefix("Bearer ").strip())
        if email is None:
            raise HttpError(401, "Request had invalid authentication credentials.", "authError")
        return email


def limit_arg(request: Request, default: int = 100) -> int:
    """The ``limit`` query parameter of an admin read: how many rows to show."""
    text = request.arg("limit") or str(default)
    if not text.isdigit():
        raise HttpError(400, f"limit must be a non-negative integer, got {text!r}")
    return int(text)
