"""The one error tree of the connector engine.

::

    ConnectorError                 base; carries source, entity and window when known
     ├── ConfigError               settings missing or invalid (names the env var to set)
     ├── AuthError                 401: fatal, names the env vars holding the credentials
     │    └── ForbiddenError       403: the credentials work but lack a right; names entity and path
     ├── NotFoundError             404/410: wrong base URL, removed API version, unknown id
     ├── RateLimitedError          429s that outlasted the retry budget
     ├── TransientError            5xx, timeouts, dropped connections that outlasted the retries
     ├── ResponseShapeError        non-JSON body, missing envelope key, unexpected type
     └── PaginationError           a page that repeats or paging that never ends

Fatal errors are never turned into "0 rows, success": an expired key must not wipe a report.
Messages name the source, entity and window and a redacted URL; secrets never appear.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConnectorError(Exception):
    """Base of all connector errors."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        entity: str | None = None,
        window: str | None = None,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.entity = entity
        self.window = window
        self.url = url
        self.status = status
        super().__init__(self._render())

    def _text(self) -> str:
        return self.message

    def _render(self) -> str:
        where = [f"{k}={v}" for k, v in (("source", self.source), ("entity", self.entity)) if v]
        if self.window:
            where.append(f"window={self.window}")
        if self.status is not None:
            where.append(f"status={self.status}")
        if self.url:
            where.append(f"url={self.url}")
        return f"{self._text()} [{', '.join(where)}]" if where else self._text()

    def with_context(
        self, *, source: str | None = None, entity: str | None = None, window: str | None = None
    ):
        """Fill in context that the raising layer did not know; returns self for ``raise``."""
        self.source = self.source or source
        self.entity = self.entity or entity
        self.window = self.window or window
        self.args = (self._render(),)
        return self

    def __str__(self) -> str:
        return self._render()


class ConfigError(ConnectorError):
    pass


class AuthError(ConnectorError):
    pass


class ForbiddenError(AuthError):
    """A 403: the API knows the key but its user may not read this endpoint.

    Unlike a 401, checking the credentials does not help; the message says which right is missing
    (the entity, once the extraction adds it, and the endpoint's path), quotes the API's own
    message, and names the two ways out: have the right granted, or drop the entity from the flow.
    """

    def __init__(self, api_message: str, *, path: str, rights_hint: str = "", **context: Any) -> None:
        self.api_message = api_message
        self.path = path
        self.rights_hint = rights_hint
        self.reading: str | None = None  # the fan-out parent read for ``entity`` when that was denied
        super().__init__("", status=403, **context)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable despite the keyword-only arguments
        context = {"source": self.source, "entity": self.entity, "window": self.window, "url": self.url}
        return _forbidden, (self.api_message, self.path, self.rights_hint, self.reading, context)

    def _text(self) -> str:
        what = self.entity or "this endpoint"
        if self.reading and self.reading != self.entity:
            what = f"{self.reading} (read for {what})" if self.entity else self.reading
        said = f": {self.api_message}" if self.api_message else ""
        hint = f" ({self.rights_hint})" if self.rights_hint else ""
        drop = f", or remove {self.entity} from the flow" if self.entity else ""
        return (
            f"the API key lacks the right to read {what} (HTTP 403 on {self.path}){said}. "
            f"Ask an administrator to grant that right{hint}{drop}"
        )


def _forbidden(
    api_message: str, path: str, rights_hint: str, reading: str | None, context: dict[str, Any]
) -> ForbiddenError:
    exc = ForbiddenError(api_message, path=path, rights_hint=rights_hint, **context)
    exc.reading = reading
    exc.args = (exc._render(),)
    return exc


class NotFoundError(ConnectorError):
    pass


class RateLimitedError(ConnectorError):
    retryable = True


class TransientError(ConnectorError):
    retryable = True


class ResponseShapeError(ConnectorError):
    pass


class PaginationError(ConnectorError):
    pass


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in ``text`` with ``***`` (longest first, so overlaps stay hidden)."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
