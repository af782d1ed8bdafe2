"""Runn's API v1 over the engine's HTTP client: token, version header, paging, limits, errors.

Every request carries ``Authorization: Bearer <token>`` and the mandatory ``Accept-Version: 1.0.0``
and goes through ``connectors.core.http.HttpClient``: the published rate limit (120 requests a
minute, UNCONFIRMED for v1, configurable) on the engine's ``RateLimiter``, shared by every Runn
write of the process to the same account; 429s wait for ``Retry-After`` and retry; 5xx, timeouts
and dropped connections back off and retry. Lists follow Runn's cursor (``values``/``nextCursor``).

Creating is not idempotent in Runn (no idempotency key is documented), so a create is sent once by
``create``: after a timeout, a dropped connection or a 5xx the item may exist, so ``find`` looks for
it (by its external reference) before it is sent again; a 429 was refused unprocessed and is simply
sent again. Updates (PATCH) and actuals (the day's total overwrites) are safe to repeat.

Errors: a missing token or a rejected one is a ``DestinationAuthError`` naming the env var; a
request Runn refuses for one item (400/404/409/422) is an ``ItemRejected`` the sync reports for that
item; anything else (retries exhausted, wrong base URL, bad envelope) is a ``DestinationError``.
The token never appears: the engine redacts every message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from connectors.core.errors import (
    AuthError,
    ConnectorError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from connectors.core.http import HttpClient, RetryPolicy, api_message
from connectors.core.ratelimit import LIMITERS, parse_rate_limits

from ..base import DestinationAuthError, DestinationConfigError, DestinationError
from . import RunnTarget

API_VERSION = "1.0.0"
ITEM_STATUSES = (400, 404, 409, 422)
# Page size per collection, where the spec as read gives its maximum (reference §2; ``sortBy`` is
# required on /clients/). /projects/ and /roles/ bounds were not read (UNCONFIRMED): Runn's
# defaults are used there, since a limit above the real maximum would be a 400.
PAGING: dict[str, dict[str, Any]] = {
    "/clients/": {"sortBy": "id", "limit": 200},
    "/people/": {"sortBy": "id", "limit": 200},
    "/actuals/": {"sortBy": "id", "limit": 500},
}  # Runn refused this one item; the others go on
Record = dict[str, Any]


class ItemRejected(DestinationError):
    """Runn refused a write of one item (validation, a link to something missing, a conflict)."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def token_hint(env_var: str) -> str:
    return (
        f"Create a token in Runn under Settings > API (admins only) with write scope, and put it in "
        f"{env_var}; a TEST_ token works with the test account only, a LIVE_ token with the live one"
    )


class RunnClient:
    """One write's connection to Runn (``async with RunnClient(target) as runn: ...``)."""

    def __init__(
        self,
        target: RunnTarget,
        env: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        env = os.environ if env is None else env
        token = (env.get(target.token_env) or "").strip()
        if not token:
            raise DestinationAuthError(
                f"Runn output, target {target.target}: the environment variable {target.token_env} is not "
                f"set, so there is no API token. {token_hint(target.token_env)}"
            )
        self.root = target.api_root(env)
        self.env_var = target.token_env
        self._token_kind = token.split("_", 1)[0] if token.startswith(("TEST_", "LIVE_")) else ""
        limits = parse_rate_limits(target.rate_limit)
        # One limiter per account and process: two outputs writing one Runn account share its quota.
        account = hashlib.sha256(token.encode()).hexdigest()[:16]
        limiters = (LIMITERS.get(("runn", self.root, account), limits),) if limits else ()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept-Version": API_VERSION,
            "Accept": "application/json",
        }
        common: dict[str, Any] = {
            "source": "runn",
            "headers": headers,
            "secrets": (token,),
            "limiters": limiters,
            "transport": transport,
            "auth_hint": token_hint(target.token_env),
        }
        policy = retry or RetryPolicy()
        self.attempts = policy.max_attempts
        self.create_retries = 0  # creates sent again by ``create`` (``once`` counts none)
        self.http = HttpClient(retry=policy, **common)
        # Creates are sent once per call; ``create`` decides whether a second send is safe.
        self.once = HttpClient(retry=dataclasses.replace(policy, max_attempts=1), **common)

    async def __aenter__(self) -> RunnClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.__aexit__()
        await self.once.__aexit__()

    def stats(self) -> dict[str, float]:
        a, b = self.http.stats, self.once.stats
        return {
            "requests": a.requests + b.requests,
            "retries": a.retries + b.retries + self.create_retries,
            "throttled_seconds": round(a.throttled_seconds + b.throttled_seconds, 3),
        }

    def url(self, path: str) -> str:
        return self.root + path

    # -- reads ------------------------------------------------------------------------------------
    async def list_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[Record]:
        """Every item of a collection, page by page (``PAGING``: the largest page the spec allows)."""
        query: dict[str, Any] = {**PAGING.get(path, {}), **(params or {})}
        out: list[Record] = []
        seen: set[str] = set()
        while True:
            body = await self._call(self.http, "GET", path, params=query)
            if not isinstance(body, dict) or not isinstance(body.get("values"), list):
                raise DestinationError(
                    f"Runn answered GET {path} without the 'values' list of a collection; check the base "
                    f"URL ({self.root}) points at Runn's API"
                )
            out.extend(body["values"])
            cursor = body.get("nextCursor")
            if not cursor:
                return out
            if cursor in seen:
                raise DestinationError(f"Runn repeated a page cursor on GET {path}; paging stopped")
            seen.add(cursor)
            query["cursor"] = cursor

    async def get(self, path: str) -> Record | None:
        """One item; None when Runn answers 404 (it does not exist, or no longer)."""
        try:
            response = await self.http.request_json(self.url(path))
        except NotFoundError:
            return None
        except ConnectorError as exc:
            raise self._error(exc, "GET", path) from None
        body: Record | None = response.body
        return body

    # -- writes -----------------------------------------------------------------------------------
    async def patch(self, path: str, body: Record) -> Any:
        return await self._call(self.http, "PATCH", path, json_body=body)

    async def post(self, path: str, body: Any) -> Any:
        """A POST that may be repeated without harm (actuals overwrite the day)."""
        return await self._call(self.http, "POST", path, json_body=body)

    async def create(self, path: str, body: Record, find: Callable[[], Awaitable[Record | None]]) -> Record:
        """Create one item; after an answer that never came (or a 5xx) ``find`` it before sending again."""
        last: DestinationError | None = None
        for attempt in range(self.attempts):
            self.create_retries += attempt > 0
            try:
                created: Record = await self._call(self.once, "POST", path, json_body=body, retrying=True)
                return created
            except RateLimitedError as exc:  # refused, nothing created; the limiter holds back
                last = self._error(exc, "POST", path)
            except TransientError as exc:
                last = self._error(exc, "POST", path)
                found = await find()
                if found is not None:
                    return found
        assert last is not None
        raise last

    # -- errors -----------------------------------------------------------------------------------
    async def _call(
        self,
        http: HttpClient,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        retrying: bool = False,
    ) -> Any:
        try:
            response = await http.request_json(self.url(path), params, method=method, json_body=json_body)
        except (RateLimitedError, TransientError) as exc:
            if retrying:  # ``create`` decides
                raise
            raise self._error(exc, method, path) from None
        except ConnectorError as exc:
            raise self._error(exc, method, path) from None
        return response.body

    def _error(self, exc: ConnectorError, method: str, path: str) -> DestinationError:
        if isinstance(exc, AuthError):
            test = {"TEST": " (the token is a TEST_ token: it only works with Runn's test account)",
                    "LIVE": " (the token is a LIVE_ token)"}.get(self._token_kind, "")  # fmt: skip
            return DestinationAuthError(
                f"Runn refused the token in {self.env_var} (HTTP {exc.status}) on {method} {path}{test}: "
                f"{_said(exc)}. It may be expired, revoked, read-only or for another account. "
                f"{token_hint(self.env_var)}"
            )
        if isinstance(exc, NotFoundError) and method == "GET":
            return DestinationConfigError(
                f"Runn answered 404 on GET {path}: the base URL {self.root} is probably wrong (Runn's is "
                f"https://api.runn.io unless Settings > API in Runn shows another); set base_url or RUNN_BASE_URL"
            )
        if exc.status in ITEM_STATUSES and method != "GET":
            return ItemRejected(f"Runn refused {method} {path} (HTTP {exc.status}): {_said(exc)}", exc.status)
        return DestinationError(f"Runn: {method} {path} failed: {exc}")


def _said(exc: ConnectorError) -> str:
    """Runn's ``message`` out of the engine's "request rejected (400): {json}" text (already redacted)."""
    if isinstance(exc, ForbiddenError):
        return exc.api_message or "forbidden"
    start, end = exc.message.find("{"), exc.message.rfind("}")
    if 0 <= start < end:
        return api_message(exc.message[start : end + 1].encode())
    return exc.message
