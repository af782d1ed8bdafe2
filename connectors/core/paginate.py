"""Paginators: turn one logical request into the pages of records behind it.

Each paginator is an async generator of ``(records, response)``. A page that repeats, an echoed
page number that does not match the one asked for, or paging past ``max_pages`` is a
``PaginationError`` rather than an endless loop. When the page count is known up front (the
first page says it), the remaining pages are requested concurrently; the HTTP client's semaphore
and rate limiters bound how many are in flight.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urljoin

from .columnar import ArrowRecords
from .entity import BODY, Entity, PagingKind
from .errors import PaginationError, ResponseShapeError
from .http import HttpClient, Response
from .ratelimit import RateLimiter

Page = tuple["Records", Response]


def dig(body: Any, dotted: str) -> Any:
    value = body
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


Records = list[dict[str, Any]] | ArrowRecords  # ArrowRecords: a page decoded by ``columnar``


def records_of(body: Any, entity: Entity) -> Records:
    """The list of records in a response body, by the entity's envelope rule."""
    if entity.envelope == BODY:
        if not isinstance(body, dict):
            raise ResponseShapeError(f"expected one JSON object, got {type(body).__name__}")
        missing = [k for k in entity.body_keys if k not in body]
        if missing:
            raise ResponseShapeError(f"response lacks {missing} (keys present: {sorted(body)[:12]})")
        return [body]
    if entity.envelope is None:
        if not isinstance(body, list):
            raise ResponseShapeError(f"expected a JSON list, got {type(body).__name__}")
        return body
    if not isinstance(body, dict):
        raise ResponseShapeError(
            f"expected a JSON object with key {entity.envelope!r}, got {type(body).__name__}"
        )
    for key in (entity.envelope, *entity.envelope_fallbacks):
        value = dig(body, key) if "." in key else body.get(key, _MISSING)
        if value is not _MISSING and value is not None:
            if isinstance(value, dict):  # a single record where a list is usual
                return [value]
            if not isinstance(value, list | ArrowRecords):
                raise ResponseShapeError(f"key {key!r} holds {type(value).__name__}, expected a list")
            return value
    raise ResponseShapeError(
        f"response has no {entity.envelope!r} key (keys present: {sorted(body)[:12]}); "
        "the API changed or the endpoint answered with something else"
    )


_MISSING = object()


def set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``value`` at a dotted path of a JSON body, creating the objects on the way."""
    keys = dotted.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _next_link(resp: Response, entity: Entity) -> str | None:
    if entity.paging.next_path:
        value = dig(resp.body, entity.paging.next_path)
        return str(value) if value else None
    match = _LINK_NEXT.search(resp.headers.get("Link", ""))
    return match.group(1) if match else None


async def pages(
    client: HttpClient,
    entity: Entity,
    url: str,
    params: Mapping[str, Any],
    extra_limiters: tuple[RateLimiter, ...] = (),
    prefetch: int = 3,
    body: Mapping[str, Any] | None = None,
    decode: Callable[[bytes], Any] | None = None,
) -> AsyncIterator[Page]:
    """Pages of one request series. ``body`` is the JSON body of a POST (page numbers go into it
    when the paging says ``in_body``); ``decode`` parses a response (``columnar`` pages)."""
    paging = entity.paging
    kind = paging.kind

    async def fetch(target: str, query: Mapping[str, Any] | None) -> Page:
        json_body = None
        if body is not None:
            json_body = copy.deepcopy(dict(body))
            if paging.in_body and query is not None:
                for key in (paging.page_param, paging.size_param):
                    if key and key in query:
                        set_path(json_body, key, query[key])
                query = {k: v for k, v in query.items() if k not in (paging.page_param, paging.size_param)}
        resp = await client.request_json(
            target,
            query,
            method=entity.method,
            extra_limiters=extra_limiters,
            json_body=json_body,
            decode=decode,
        )
        return records_of(resp.body, entity), resp

    if kind is PagingKind.SINGLE:
        yield await fetch(url, params)
        return

    size_params = {paging.size_param: paging.size} if paging.size_param and paging.size else {}

    if kind is PagingKind.PAGE_COUNT:
        first = {**params, **size_params, paging.page_param: paging.first_page}
        records, resp = await fetch(url, first)
        _check_echo(resp, paging.current_path, paging.first_page)
        count = dig(resp.body, paging.count_path)
        if count is None and paging.count_optional:
            yield records, resp
            return
        if count is None:
            raise ResponseShapeError(f"paged response has no {paging.count_path!r}")
        count = int(count)
        if count > paging.max_pages:
            raise PaginationError(
                f"the API announces {count} pages, more than the limit of {paging.max_pages}"
            )
        yield records, resp
        last = paging.first_page + max(count, 1) - 1
        # Fetch ahead concurrently, but only a few pages: parsed pages waiting to be consumed are
        # what memory holds, so it stays bounded however many pages a window has.
        ahead = max(1, prefetch)
        numbers = iter(range(paging.first_page + 1, last + 1))
        queue: list[tuple[int, asyncio.Future[Page]]] = []

        def refill() -> None:
            while len(queue) < ahead:
                n = next(numbers, None)
                if n is None:
                    return
                queue.append(
                    (n, asyncio.ensure_future(fetch(url, {**params, **size_params, paging.page_param: n})))
                )

        try:
            refill()
            while queue:
                number, task = queue.pop(0)
                records, resp = await task
                refill()
                _check_echo(resp, paging.current_path, number)
                yield records, resp
                del records, resp  # consumed: free it before awaiting the next page
        finally:
            for _, task in queue:
                task.cancel()
        return

    if kind is PagingKind.PAGE_UNTIL_SHORT:
        previous_first: Any = None
        for n in range(paging.first_page, paging.first_page + paging.max_pages):
            records, resp = await fetch(url, {**params, **size_params, paging.page_param: n})
            assert isinstance(records, list)  # this paging is never decoded columnar
            marker = _page_marker(records, entity)
            if records and marker == previous_first:
                raise PaginationError(
                    f"page {n} repeats the previous page (the API ignores {paging.page_param!r})"
                )
            previous_first = marker
            yield records, resp
            last_flag = resp.headers.get(paging.last_page_header, "") if paging.last_page_header else ""
            if (
                last_flag.strip().lower() == "true"
                or not records
                or (paging.size and len(records) < paging.size)
            ):
                return
        raise PaginationError(f"paging did not end after {paging.max_pages} pages")

    if kind is PagingKind.NEXT_LINK:
        seen: set[str] = set()
        target: str | None = url
        query: Mapping[str, Any] | None = {**params, **size_params}
        for _ in range(paging.max_pages):
            assert target is not None
            records, resp = await fetch(target, query)
            yield records, resp
            nxt, here = _next_link(resp, entity), resp.url
            del records, resp  # the page is consumed: do not hold it while the next one loads
            if not nxt:
                return
            nxt = urljoin(here, nxt)
            if nxt in seen or nxt == here:
                raise PaginationError(f"the next link repeats a page already read: {client.redact(nxt)}")
            seen.add(nxt)
            target, query = nxt, None  # the next link carries every parameter
        raise PaginationError(f"paging did not end after {paging.max_pages} pages")

    raise ValueError(f"unknown paging kind {kind!r}")


def _check_echo(resp: Response, current_path: str, expected: int) -> None:
    if not current_path:
        return
    echoed = dig(resp.body, current_path)
    if echoed is not None and int(echoed) != expected:
        raise PaginationError(f"asked for page {expected}, the API answered page {echoed}")


def _page_marker(records: list[dict[str, Any]], entity: Entity) -> Any:
    """What identifies a page: the keys of its first and last record, and its length."""
    if not records:
        return None
    paths = [c.source_path for c in entity.columns if c.name in entity.primary_key]
    first, last = records[0], records[-1]
    return (
        tuple(dig(first, ".".join(p)) for p in paths),
        tuple(dig(last, ".".join(p)) for p in paths),
        len(records),
    )
