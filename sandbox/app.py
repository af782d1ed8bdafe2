"""The app every imitation is built on: `Sandbox` (state, pipeline, ASGI app) and `ApiPipeline`.

An API folder's `app.py` subclasses `Sandbox` and supplies only what is the API's own: its published
rate limits (`limits`), how it authenticates, which limit buckets a request counts against, its error
bodies (`error`, `forbidden`, `unrouted`), its routes and what `GET /_admin/org` tells. `Sandbox.app()`
turns that into a Starlette app whose `state.sandbox` is the instance.

`ApiPipeline` wraps each endpoint in the cross-cutting behaviour, in this order: request logging, the
deterministic "fail next N" queue (a status, or a dropped connection), the sandbox's authentication,
the `forbidden` rules (403 for chosen paths and keys), the rate limiter, added latency, random 429s and
5xx, then the handler (an `ApiError` raised anywhere below it becomes its response), then random
dropped connections and truncated bodies (`sandbox.faults`). Admin routes (`sandbox.admin`,
`/_admin/...`) bypass all of that.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.common import RateWindow, SandboxOptions, SandboxState, org_for, relative_path
from sandbox.faults import DroppedResponse
from sandbox.org import Org

Record = dict[str, Any]


class ApiError(Exception):
    """An answer in the API's own error shape, raised anywhere below an endpoint; the pipeline sends
    `response`. Each API's `params.py` builds these (or a subclass) from its error bodies."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class ErrorFactory(Protocol):
    def __call__(self, request: Request, status: int, kind: str, message: str) -> Response: ...


Handler = Callable[[Request, Any], Awaitable[Response]]


class ApiPipeline:
    """Wraps an endpoint in the sandbox's cross-cutting behaviour (see the module docstring)."""

    def __init__(
        self,
        state: SandboxState,
        authenticate: Callable[[Request], Any],  # returns a principal, or a Response to send instead
        buckets: Callable[[Request], Sequence[str]],
        error: ErrorFactory,
        forbidden: Callable[[Request], Response] | None = None,  # the API's documented 403
    ) -> None:
        self.state, self.authenticate, self.buckets, self.error = state, authenticate, buckets, error
        self.forbidden = forbidden or (lambda r: error(r, 403, "Forbidden", "Forbidden"))

    def wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            item = self.state.log.add(request, relative_path(request))
            response = await self._run(request, handler, item)
            item["status"] = "dropped" if isinstance(response, DroppedResponse) else response.status_code
            return response

        return endpoint

    async def _run(self, request: Request, handler: Handler, item: dict[str, Any]) -> Response:
        state = self.state
        rule = state.faults.next_forced(item["path"])
        if rule is not None and rule.drop:
            # Read the body first: closing with unread bytes makes the kernel answer with a reset,
            # which the client may see as a read error instead of a connection closed mid-answer.
            await request.body()
            return DroppedResponse(Response(b"{}", 200, media_type="application/json"))
        if rule is not None:
            assert rule.status is not None  # checked when the rule was queued
            response = self.error(request, rule.status, "Injected", "Injected failure (sandbox fail_next)")
            if rule.retry_after is not None:
                response.headers["Retry-After"] = str(math.ceil(rule.retry_after))
            return response
        principal = self.authenticate(request)
        if isinstance(principal, Response):
            return principal
        item["user"] = getattr(principal, "email", None)
        key = getattr(principal, "key", None)
        if any(rule.denies(item["path"], key) for rule in state.faults.forbidden):
            return self.forbidden(request)
        if state.options.rate_limit:
            wait = state.limiter.hit(str(item["user"]), self.buckets(request))
            if wait is not None:
                response = self.error(request, 429, "TooManyRequests", "Too many requests")
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        if state.faults.roll(state.faults.throttle_rate):  # as a real limiter would: before any work
            response = self.error(request, 429, "TooManyRequests", "Too many requests (throttle_rate)")
            response.headers["Retry-After"] = "1"
            return response
        if state.faults.roll(state.faults.error_rate):
            status = state.faults.rng.choice((500, 502, 503))
            return self.error(request, status, "InternalServerError", "Injected server error")
        try:
            response = await handler(request, principal)
        except ApiError as exc:
            response = exc.response
        if state.faults.roll(state.faults.drop_rate):
            return DroppedResponse(response, state.faults.rng.randrange(0, max(1, len(response.body))))
        if response.status_code == 200 and state.faults.roll(state.faults.truncate_rate):
            body = bytes(response.body)
            cut = body[: state.faults.rng.randrange(1, max(2, len(body)))]
            return Response(cut, 200, media_type=response.media_type)
        return response


class Sandbox:
    """One imitation: its `SandboxState`, its `ApiPipeline` and its routes (see the module docstring).

    Subclasses set `limits` (the API's published rate limits, by bucket) and implement
    `authenticate`, `error`, `unrouted`, `routes` and `info`; `buckets` and `forbidden` have defaults."""

    limits: ClassVar[Mapping[str, tuple[RateWindow, ...]]] = {}

    def __init__(self, options: SandboxOptions, org: Org | None = None) -> None:
        self.options = options
        self.state = SandboxState.create(options, self.limits, org or org_for(options))
        self.org = self.state.org
        self.pipeline = ApiPipeline(self.state, self.authenticate, self.buckets, self.error, self.forbidden)

    @classmethod
    def create_app(cls, options: SandboxOptions | None = None, org: Org | None = None) -> Starlette:
        """The sandbox as a Starlette app; `app.state.sandbox` is the sandbox object."""
        return cls(options or SandboxOptions(), org).app()

    def app(self) -> Starlette:
        async def unrouted(request: Request, exc: Exception) -> Response:
            # Starlette's own 404/405 (no route, wrong method), in the API's error shape
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            return self.unrouted(request, status, str(getattr(exc, "detail", "")))

        app = Starlette(routes=self.routes(), exception_handlers={HTTPException: unrouted})
        app.state.sandbox = self
        return app

    # -- what an API supplies -------------------------------------------------------------------
    def authenticate(self, request: Request) -> Any:
        """The principal a request is made by (with `email` and `key`), or the Response refusing it."""
        raise NotImplementedError

    def buckets(self, request: Request) -> Sequence[str]:
        """The rate-limit buckets a request counts against (default: every bucket of `limits`)."""
        return tuple(self.limits)

    def error(self, request: Request, status: int, kind: str, message: str) -> Response:
        """An error in the API's shape, for what the pipeline answers (429, injected faults, 5xx)."""
        raise NotImplementedError

    def forbidden(self, request: Request) -> Response:
        """The API's documented 403 (the `forbidden` fault rules answer it)."""
        return self.error(request, 403, "Forbidden", "Forbidden")

    def unrouted(self, request: Request, status: int, detail: str) -> Response:
        """Starlette's 404 (no route) or 405 (wrong method) in the API's error shape."""
        raise NotImplementedError

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def info(self) -> Record:
        """What `GET /_admin/org` answers: credentials, paths, limits, counts, admin entities."""
        raise NotImplementedError
