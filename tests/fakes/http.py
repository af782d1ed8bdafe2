"""A tiny threaded HTTP server for wire-level fakes: routing, a request log and injected faults.

A fake subclasses ``FakeServer`` and implements ``handle(request) -> Response``. Tests can:

* read ``server.requests`` (method, path, query, parsed JSON body) to count and inspect calls;
* ``server.inject(status, when=..., skip=n, times=k)`` to make matching requests fail, e.g. the
  third values write with a 500, or every request after the tenth with a 429 and ``Retry-After``;
  ``after=True`` applies the request first and then fails it (the reply is lost, the change is not).

The server binds 127.0.0.1 on a free port and runs in a daemon thread; use it as a context manager.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str  # unquoted
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

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


class FakeServer:
    """Also an OAuth token endpoint (``POST /token``) for service-account JWTs: point a key's
    ``token_uri`` at ``<url>/token`` and the Google auth library gets a bearer token from here, whose
    e-mail ``caller()`` returns. Accounts in ``rejected_accounts`` get ``invalid_grant``."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # access token -> service account e-mail
        self.rejected_accounts: set[str] = set()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=unquote(parts.path),
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                response = fake.dispatch(request)
                data, headers = response.encoded()
                self.send_response(response.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        with self.lock:  # one request at a time: state changes are whole, like the real services
            self.requests.append(request)
            for fault in self.faults:
                if fault.fires(request):
                    if fault.after:
                        with contextlib.suppress(HttpError):
                            self.handle(request)
                    return Response(
                        fault.status, error_body(fault.status, fault.message), dict(fault.headers)
                    )
            try:
                return self.handle(request)
            except HttpError as exc:
                return Response(exc.status, error_body(exc.status, exc.message, exc.reason), exc.headers)

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def issue_token(self, request: Request) -> Response:
        form = parse_qs(request.body.decode())
        assertion = form.get("assertion", [""])[0]
        try:
            payload = assertion.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT."})
        email = claims.get("iss", "")  # the fake trusts the claim; it does not check the signature
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
