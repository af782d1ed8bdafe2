"""QuickBooks Online's Accounting API v3 over the engine's HTTP client: tokens, limits, query, batch.

Every request goes to ``{base}/company/{realm}/...`` with ``minorversion`` (reference §1), through
``connectors.core.http.HttpClient``: at most 10 requests in flight (its semaphore; reference §3: an
11th concurrent request is a 429), the published 500 requests a minute on the engine's
``RateLimiter`` (shared by every QuickBooks write of the process to the same company; each batch
item is metered like a call, reference §3/§8), 40 batch requests a minute on a second limiter; 429s
back off (honouring ``Retry-After`` when sent: UNCONFIRMED that Intuit sends one), 5xx, timeouts and
dropped connections are retried. The bearer token is put on each request as it leaves
(``BearerTransport``), so a token refreshed meanwhile is used by the next attempt; a 401 drops the
access token and the request is sent once more with a new one.

Retrying a create is safe only because every batch carries a ``requestid`` (``state``): QuickBooks
answers a repeated id with the first answer instead of doing the work again (reference §7).

Errors: 401 twice or 403 → ``DestinationAuthError``; a ``Fault`` (HTTP 400, or a 200 carrying one,
reference §4) → ``RequestRejected`` with its code; retries exhausted → ``Unavailable`` (the outcome of
a create is then unknown; ``state`` keeps the batch to replay). Messages are redacted by the engine.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import httpx

from connectors.core.entity import RateLimit
from connectors.core.errors import (
    AuthError,
    ConnectorError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ResponseShapeError,
    TransientError,
)
from connectors.core.http import HttpClient, RetryPolicy
from connectors.core.ratelimit import LIMITERS, parse_rate_limits

from ..base import DestinationAuthError, DestinationConfigError
from .errors import RequestRejected, Unavailable
from .oauth import Tokens

MAX_CONCURRENT = 10  # reference §3: concurrent requests per app and realm
BATCHES_PER_MINUTE = 40  # reference §3 / §8
PAGE = 1000  # MAXRESULTS asked; the documented cap (UNCONFIRMED), smaller silent caps are paged through
Record = dict[str, Any]


class BearerTransport(httpx.AsyncBaseTransport):
    """Puts the current access token on every request as it is sent (refreshing it when due)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, tokens: Tokens) -> None:
        self.inner, self.tokens = inner, tokens

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Authorization"] = f"Bearer {await self.tokens.access_token()}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def fault_of(body: Any) -> Record | None:
    """The ``Fault`` object of a response or batch item, if it carries one (``fault``: the 401 shape)."""
    if not isinstance(body, dict):
        return None
    fault = body.get("Fault", body.get("fault"))
    return fault if isinstance(fault, dict) else None


def describe_fault(fault: Record) -> tuple[str | None, str]:
    """(code, "Message: Detail (element X)") of a Fault's first error."""
    errors = fault.get("Error", fault.get("error"))
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code")
    message = first.get("Message", first.get("message")) or fault.get("type") or "Fault"
    detail = first.get("Detail", first.get("detail"))
    element = first.get("element")
    text = str(message)
    if detail and str(detail) != text:
        text += f": {detail}"
    if element:
        text += f" (element {element})"
    return (str(code) if code is not None else None), text


_FIELD = re.compile(r'"(Message|Detail|code|element)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _fault_from_text(text: str) -> tuple[str | None, str]:
    """The engine passes an error body as (redacted, maybe cut) text: read its Fault back."""
    start = text.find("{")
    if start >= 0:
        try:
            fault = fault_of(json.loads(text[start:]))
            if fault is not None:
                return describe_fault(fault)
        except ValueError:
            pass
    fields = {k: v for k, v in _FIELD.findall(text)}
    if "Message" in fields:
        return describe_fault({"Error": [fields]})
    return None, text


class QboClient:
    """One write's connection to one company (``async with QboClient(...) as qbo: ...``)."""

    def __init__(
        self,
        *,
        api_base: str,
        realm: str,
        minor_version: int,
        tokens: Tokens,
        rate_limit: str,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api_base, self.realm, self.minor_version, self.tokens = api_base, realm, minor_version, tokens
        self.root = f"{api_base}/company/{realm}"
        limits = parse_rate_limits(rate_limit)
        self.limiter = LIMITERS.get(("quickbooks", api_base, realm), limits) if limits else None
        # QUICKBOOKS_BATCH_RATE_LIMIT: another plan's batch limit, or an imitation's (the demo's).
        batches = os.environ.get("QUICKBOOKS_BATCH_RATE_LIMIT")
        batch_limits = parse_rate_limits(batches) if batches else (RateLimit(BATCHES_PER_MINUTE, 60),)
        self.batch_limiter = LIMITERS.get(("quickbooks_batch", api_base, realm), batch_limits)
        inner = transport or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=MAX_CONCURRENT, max_keepalive_connections=MAX_CONCURRENT)
        )
        self.http = HttpClient(
            source="quickbooks",
            headers={"Accept": "application/json"},
            secrets=tokens.secrets,
            limiters=(self.limiter,) if self.limiter else (),
            max_concurrency=MAX_CONCURRENT,
            retry=retry,
            transport=BearerTransport(inner, tokens),
        )

    async def __aenter__(self) -> QboClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.__aexit__(*exc)

    def stats(self) -> dict[str, float]:
        return {**self.http.stats.as_dict(), "token_refreshes": self.tokens.refreshes}

    async def call(
        self,
        path: str,
        *,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        items: int = 0,
    ) -> Record:
        """One API request (``items``: batch items, each metered like a call); the JSON answer."""
        query = {**(params or {}), "minorversion": self.minor_version}
        slots = []
        if self.limiter is not None:  # the request itself takes the first slot
            slots = [await self.limiter.take() for _ in range(max(0, items - 1))]
        try:  # the items count from the answer, as the request itself does
            return await self._call(path, method, query, json_body, items)
        finally:
            for slot in slots:
                slot.done()

    async def _call(
        self, path: str, method: str, query: dict[str, Any], json_body: Any, items: int
    ) -> Record:
        extra = (self.batch_limiter,) if items else ()
        for attempt in range(2):
            since = self.tokens.now()
            self.http.secrets = tuple(self.tokens.secrets)
            try:
                resp = await self.http.request_json(
                    self.root + path, query, method=method, json_body=json_body, extra_limiters=extra
                )
            except ForbiddenError:
                raise DestinationAuthError(
                    f"QuickBooks refused access to company {self.realm} (403) at {self.api_base}: check that "
                    "the realm id is the company the refresh token was issued for, and that environment "
                    "(production or sandbox) matches the app keys"
                ) from None
            except AuthError as exc:
                if attempt == 0:
                    self.tokens.expired(since)  # expired early or revoked: one more try with a new token
                    continue
                raise DestinationAuthError(
                    f"QuickBooks refused a freshly refreshed access token for company {self.realm} (401): "
                    f"{exc.message}. The app may have been disconnected from the company, or the connecting "
                    "user lost admin rights; reconnect the company"
                ) from None
            except (TransientError, RateLimitedError) as exc:
                raise Unavailable(f"QuickBooks did not answer {method} {path}: {exc.message}") from None
            except NotFoundError:
                raise DestinationConfigError(
                    f"QuickBooks answered 404 for {path} at {self.api_base}: check base_url / environment "
                    "(the API base ends in /v3)"
                ) from None
            except ResponseShapeError as exc:
                raise Unavailable(
                    f"QuickBooks answered {method} {path} with no JSON: {exc.message}"
                ) from None
            except ConnectorError as exc:
                code, text = _fault_from_text(exc.message)
                raise RequestRejected(
                    f"QuickBooks refused {method} {path} ({exc.status}): {text}", code, exc.status
                ) from None
            body = resp.body
            if not isinstance(body, dict):
                raise Unavailable(
                    f"QuickBooks answered {method} {path} with {type(body).__name__}, not an object"
                )
            fault = fault_of(body)
            if fault is not None:  # reference §4: a 200 may still carry a Fault
                code, text = describe_fault(fault)
                raise RequestRejected(f"QuickBooks refused {method} {path}: {text}", code, 200)
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    async def query(self, entity: str, where: str, most: int | None = None) -> list[Record]:
        """Every record of ``SELECT * FROM entity WHERE where``, page by page (``most``: the largest
        number of records that can match, to stop without asking for an empty page)."""
        found: list[Record] = []
        start = 1
        while True:
            text = f"SELECT * FROM {entity} WHERE {where} STARTPOSITION {start} MAXRESULTS {PAGE}"
            body = await self.call("/query", params={"query": text})
            answer = body.get("QueryResponse")
            if not isinstance(answer, dict):
                raise Unavailable(f"QuickBooks answered a query on {entity} without a QueryResponse")
            rows = answer.get(entity, [])
            if not isinstance(rows, list):
                raise Unavailable(f"QuickBooks answered a query on {entity} with {entity} not a list")
            found += [r for r in rows if isinstance(r, dict)]
            if not rows or (most is not None and len(found) >= most):
                return found
            start += len(rows)

    async def batch(self, items: list[Record], request_id: str) -> list[Record]:
        """``POST /batch`` with a ``requestid``; the ``BatchItemResponse`` items (HTTP 200 even when
        some items failed: each then carries a ``Fault``, reference §8)."""
        body = await self.call(
            "/batch",
            method="POST",
            params={"requestid": request_id},
            json_body={"BatchItemRequest": items},
            items=len(items),
        )
        answers = body.get("BatchItemResponse")
        if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
            raise Unavailable("QuickBooks answered a batch without a BatchItemResponse list")
        return answers
