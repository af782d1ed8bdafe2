"""The HTTP client every connector uses: auth, limits, retries, concurrency, classification.

One function, ``HttpClient.request_json``, turns a response into data or into exactly one
``ConnectorError``: 2xx JSON is returned; 401 (bad credentials) and 403 (a right the key's user
lacks, ``ForbiddenError``) are fatal; 404/410 not found;
429 waits for ``Retry-After`` (or backs off) and retries; 5xx, 408, timeouts, dropped connections
and truncated bodies back off exponentially with jitter and retry, up to ``max_attempts``.
Every request first takes a slot from the source's rate limiters and from a semaphore that bounds
how many requests are in flight. No secret reaches a message: headers are never printed and every
message goes through ``redact``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from .errors import (
    AuthError,
    ConnectorError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ResponseShapeError,
    TransientError,
    redact,
)
from .ratelimit import RateLimiter, Slot

log = logging.getLogger("couplet.http")


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    bytes: int = 0

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "throttled_seconds": round(self.throttled_seconds, 3),
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base: float = 0.5  # seconds; attempt n waits up to base * 2**n (full jitter)
    backoff_cap: float = 30.0
    max_retry_after: float = 900.0  # a longer Retry-After fails the run instead of sleeping for hours
    timeout: float = 60.0


@dataclass
class Response:
    body: Any
    headers: httpx.Headers
    url: str


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def loads(content: bytes) -> Any:
    """JSON bytes -> data. orjson parses twice as fast as the standard library; what it refuses
    (NaN, integers beyond 64 bits) goes to the standard library, which accepts them."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def api_message(content: bytes) -> str:
    """The human message of an error body, in the shapes APIs use: ``{"message": ..}``,
    ``{"error": {"message": ..}}``, ``{"errors": [{"message": ..}]}``, OAuth's
    ``{"error_description": ..}``; else the body's first 300 characters."""
    try:
        body = loads(content) if content else None
    except ValueError:
        body = None
    candidates: list[Any] = []
    if isinstance(body, dict):
        error, errors = body.get("error"), body.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        candidates = [
            body.get("message"),
            error.get("message") if isinstance(error, dict) else None,
            first.get("message") if isinstance(first, dict) else None,
            body.get("error_description"),
            error if isinstance(error, str) else None,
        ]
    found = next((c for c in candidates if isinstance(c, str) and c.strip()), None)
    return found.strip() if found else content[:300].decode(errors="replace").strip()


class HttpClient:
    def __init__(
        self,
        *,
        source: str,
        headers: Mapping[str, str],
        secrets: Sequence[str] = (),
        limiters: Sequence[RateLimiter] = (),
        max_concurrency: int = 4,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_hint: str = "",
        rights_hint: str = "",
    ) -> None:
        self.source = source
        self.secrets = tuple(secrets)
        self.limiters = tuple(limiters)
        self.retry = retry or RetryPolicy()
        self.auth_hint = auth_hint
        self.rights_hint = rights_hint  # who holds the rights at this source, for 403 messages
        self.stats = RequestStats()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._client = httpx.AsyncClient(
            headers=dict(headers),
            timeout=self.retry.timeout,
            transport=transport,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def _url_for_message(self, url: str | httpx.URL) -> str:
        return self.redact(str(url))

    async def _take(self, extra: Sequence[RateLimiter]) -> list[Slot]:
        slots = [await limiter.take() for limiter in (*self.limiters, *extra)]
        self.stats.throttled_seconds += sum(slot.waited for slot in slots)
        return slots

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.retry.backoff_cap, self.retry.backoff_base * 2**attempt))

    async def request_json(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        method: str = "GET",
        json_body: Any = None,
        extra_limiters: Sequence[RateLimiter] = (),
        decode: Callable[[bytes], Any] | None = None,
    ) -> Response:
        """One request with retries; ``decode`` turns the body into data (default: JSON)."""
        parse = decode or loads
        last: ConnectorError | None = None
        for attempt in range(self.retry.max_attempts):
            if attempt:
                self.stats.retries += 1
            try:
                async with self._semaphore:
                    # The slot is taken once a connection is free, right before the request goes,
                    # and the request counts from when its answer begins (``Slot.done``).
                    slots = await self._take(extra_limiters)
                    try:
                        self.stats.requests += 1
                        # Streamed, so the response object never keeps the body: httpx responses sit
                        # in reference cycles, and a kept body would live on until a full GC (~20 MB
                        # of pages at a time in a long extraction).
                        async with self._client.stream(method, url, params=params, json=json_body) as resp:
                            for slot in slots:
                                slot.done()
                            content = b"".join([chunk async for chunk in resp.aiter_bytes()])
                    finally:
                        for slot in slots:
                            slot.done()
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = TransientError(
                    f"{type(exc).__name__}: {self.redact(str(exc))}", url=self._url_for_message(url)
                )
                await self._sleep(self._backoff(attempt))
                continue
            self.stats.bytes += len(content)
            shown = self._url_for_message(resp.request.url)
            status = resp.status_code
            if 200 <= status < 300:
                try:
                    return Response(parse(content) if content else None, resp.headers, str(resp.request.url))
                except ValueError:
                    # A body cut off mid-way (dropped connection behind a proxy) is worth a retry;
                    # a body that is consistently not JSON is a shape error once retries run out.
                    last = ResponseShapeError(
                        f"response is not JSON ({len(content)} bytes: {self.redact(content[:120].decode(errors='replace'))!r})",
                        url=shown,
                        status=status,
                    )
                    await self._sleep(self._backoff(attempt))
                    continue
            detail = self.redact(content[:500].decode(errors="replace"))
            if status == 401:
                raise AuthError(
                    f"authentication failed: {detail}. {self.auth_hint}".strip(), url=shown, status=status
                )
            if status == 403:
                raise ForbiddenError(
                    self.redact(api_message(content)),
                    path=self.redact(resp.request.url.path),
                    rights_hint=self.rights_hint,
                    url=shown,
                )
            if status in (404, 410):
                raise NotFoundError(
                    f"not found ({'gone: this API version was removed' if status == 410 else 'check the base URL'}): {detail}",
                    url=shown,
                    status=status,
                )
            if status == 429:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                if wait is not None and wait > self.retry.max_retry_after:
                    raise RateLimitedError(
                        f"rate limited for {wait:.0f}s (Retry-After), longer than the {self.retry.max_retry_after:.0f}s "
                        "this run waits; the account's quota is used up, run again later",
                        url=shown,
                        status=status,
                    )
                wait = self._backoff(attempt) if wait is None else wait
                for limiter in (*self.limiters, *extra_limiters):
                    limiter.penalise(wait)
                self.stats.throttled_seconds += wait
                last = RateLimitedError(f"rate limited (429): {detail}", url=shown, status=status)
                await self._sleep(wait)
                continue
            if status >= 500 or status == 408:
                last = TransientError(f"server error {status}: {detail}", url=shown, status=status)
                await self._sleep(self._backoff(attempt))
                continue
            raise ConnectorError(f"request rejected ({status}): {detail}", url=shown, status=status)
        assert last is not None
        last.message = f"gave up after {self.retry.max_attempts} attempts: {last.message}"
        raise last.with_context()

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            log.debug("%s: waiting %.2fs before retrying", self.source, seconds)
            await asyncio.sleep(seconds)
