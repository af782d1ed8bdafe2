"""Fault rules (`fail_next`, `forbidden`) and dropped connections; `sandbox.app.ApiPipeline` applies them.

A dropped connection: the server sends the response's status line and headers, maybe part of the
body, then closes the connection. An ASGI app cannot close a connection without answering (an app
that raises before `http.response.start` makes uvicorn send a 500), so `DroppedResponse` starts the
real response and raises `ConnectionDropped`; uvicorn then closes the transport and the client sees
what a reset or a proxy timeout looks like (httpx: `RemoteProtocolError`, "peer closed connection
without sending complete message body"). Served in-process (httpx's `ASGITransport`), the client
sees `ConnectionDropped` itself. `quiet_dropped_connections` keeps uvicorn from logging a traceback
for each drop.

A permission denial (`Forbid`): requests whose path matches a glob are answered 403 with the API's
documented body, for one key or for every key, as for a key whose user lacks a right.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class ConnectionDropped(Exception):
    """Raised by `DroppedResponse` after its headers: the server closes the connection."""


class DroppedResponse(Response):
    """`inner`'s status line and headers and its first `cut` body bytes, then a closed connection."""

    def __init__(self, inner: Response, cut: int = 0) -> None:
        self.inner, self.cut = inner, cut
        self.status_code, self.raw_headers = inner.status_code, inner.raw_headers
        self.body, self.background = b"", None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inner = self.inner
        await send({"type": "http.response.start", "status": inner.status_code, "headers": inner.raw_headers})
        if self.cut:
            part = bytes(inner.body[: self.cut])
            await send({"type": "http.response.body", "body": part, "more_body": True})
        raise ConnectionDropped("sandbox drop_rate/fail_next: connection closed mid-response")


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def quiet_dropped_connections() -> None:
    """Keep uvicorn from logging "Exception in ASGI application" with a traceback for each drop."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


@dataclass
class FailRule:
    """Answer the next `count` API requests (optionally only paths containing `path`) with `status`,
    or with a dropped connection when `drop` is true (`fail_next` of the admin API)."""

    status: int | None = None
    count: int = 1
    retry_after: float | None = None
    path: str | None = None
    drop: bool = False


@dataclass(frozen=True)
class Forbid:
    """Answer 403 to requests whose path below the API root matches `path`, a glob (`*` matches any
    characters, `/` too: `*/users` is Clockify's users of any workspace), when made with `key` (an
    API key or token of the sandbox) or with any key when `key` is None."""

    path: str
    key: str | None = None

    def denies(self, path: str, key: str | None) -> bool:
        return (self.key is None or self.key == key) and fnmatch.fnmatchcase(path, self.path)


def parse_forbidden(rules: Iterable[Any]) -> tuple[Forbid, ...]:
    """`[{"path": "/v3/users", "key": "worker-key"}, ...]` from an admin body; ValueError if malformed."""
    out = []
    for rule in rules:
        if not isinstance(rule, Mapping) or not isinstance(rule.get("path"), str) or not rule["path"]:
            raise ValueError(f"bad forbidden rule {rule!r}: give {{'path': '/v3/users', 'key': null}}")
        unknown = set(rule) - {"path", "key"}
        if unknown or not isinstance(rule.get("key"), str | None):
            raise ValueError(f"bad forbidden rule {rule!r}: only 'path' and 'key' (a string or null)")
        out.append(Forbid(rule["path"], rule.get("key")))
    return tuple(out)
