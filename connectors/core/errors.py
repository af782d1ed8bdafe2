"""The one error tree of the connector engine.

::

    ConnectorError                 base; carries source, entity and window when known
     ├── ConfigError               settings missing or invalid (names the env var to set)
     ├── AuthError                 401/403: fatal, names the env vars holding the credentials
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

    def _render(self) -> str:
        where = [f"{k}={v}" for k, v in (("source", self.source), ("entity", self.entity)) if v]
        if self.window:
            where.append(f"window={self.window}")
        if self.status is not None:
            where.append(f"status={self.status}")
        if self.url:
            where.append(f"url={self.url}")
        return f"{self.message} [{', '.join(where)}]" if where else self.message

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
