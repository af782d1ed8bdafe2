"""Machinery shared by every sandbox: options, JSON, rate limits, fault knobs, request log, state.

`SandboxState` is everything one sandbox app holds at run time (its org, admin overlay, request log,
rate limiter and fault knobs); `sandbox.app.ApiPipeline` applies them to each API request, and the
admin API (`sandbox.admin`) reads and resets them.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.faults import FailRule, Forbid, parse_forbidden
from sandbox.org import Org, OrgOptions
from sandbox.store import Overlay

if TYPE_CHECKING:  # sandbox.quickbooks imports this module
    from sandbox.quickbooks.options import QuickBooksOptions


@dataclass(frozen=True)
class RateWindow:
    """At most `limit` requests in any sliding window of `seconds`."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class SandboxOptions:
    """Everything a sandbox can be told. Rate-limit buckets left out of `rate_limits` keep the API's
    published values; `rate_limit=False` switches limiting off entirely."""

    org: OrgOptions = field(default_factory=OrgOptions)
    api_user: str = "sandbox@couplet.dev"
    api_key: str = "sandbox-key"
    worker_api_key: str | None = "worker-key"  # a second key with a worker's (restricted) rights
    rate_limit: bool = True
    rate_limits: Mapping[str, tuple[RateWindow, ...]] = field(default_factory=dict)
    error_rate: float = 0.0  # share of requests answered with a random 5xx
    latency_ms: float = 0.0  # added to every API request
    truncate_rate: float = 0.0  # share of 200 responses whose body is cut short
    drop_rate: float = 0.0  # share of requests whose connection is closed mid-response
    throttle_rate: float = 0.0  # share of requests answered 429 with Retry-After: 1 (the API's shape)
    forbidden: tuple[Forbid, ...] = ()  # 403 for these paths (and keys), as for a user lacking a right
    fault_seed: int = 0
    request_log_size: int = 10_000
    unsized_page_size: int = 1000  # page size of paged endpoints without a page-size parameter
    harvest_token: str = "sandbox-harvest-token"  # Harvest: the administrator's personal access token
    harvest_account_id: int = 123456  # Harvest: the account the tokens may read (Harvest-Account-Id)
    harvest_member_token: str | None = "sandbox-harvest-member-token"  # a member's token; None disables it
    quickbooks: QuickBooksOptions | None = None  # QuickBooks Online settings; None = QuickBooksOptions()
    runn_token: str = "TEST_sandbox-runn-token"  # Runn: a write-scope API token (test tokens start TEST_)
    runn_read_token: str | None = "TEST_sandbox-runn-read-token"  # Runn: a read-scope token; None disables it


def org_for(options: SandboxOptions) -> Org:
    """The org of a sandbox: its owner's e-mail is the API user, so the owner key is a real person."""
    return Org(replace(options.org, owner_email=options.api_user))


class AdminError(Exception):
    """An admin request that cannot be applied; becomes a JSON error with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class RawJSON(str):
    """Text that is already JSON (hand-encoded hot paths); `JSON` sends it as is."""


class JSON(Response):
    """JSON without whitespace: pages of 1000 entries are serialised on every request."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content.encode() if isinstance(content, RawJSON) else dumps(content)


_EPOCH = date(1970, 1, 1)
# "THH:MM:SSZ" for every second of a day: an ISO timestamp is then one lookup and one concatenation,
# which matters at four timestamps per entry and a thousand entries per page.
_TIMES = [f"T{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]


@lru_cache(maxsize=8192)
def _day_text(day_number: int) -> str:
    return (_EPOCH + timedelta(days=day_number)).isoformat()


def iso_utc(ts: int) -> str:
    """Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`."""
    d, s = divmod(ts, 86_400)
    return _day_text(d) + _TIMES[s]


class RateLimiter:
    """Sliding-window limits per key; every named bucket of a request must have room for it."""

    def __init__(self, buckets: Mapping[str, Sequence[RateWindow]], clock: Callable[[], float]) -> None:
        self.buckets = dict(buckets)
        self.clock = clock
        self._logs: dict[tuple[str, str, int], deque[float]] = {}

    def hit(self, key: str, bucket_names: Iterable[str]) -> float | None:
        """Count one request, or return the seconds to wait when a window is full (nothing counted)."""
        now, wait, logs = self.clock(), 0.0, []
        for name in bucket_names:
            for i, window in enumerate(self.buckets.get(name, ())):
                log = self._logs.setdefault((key, name, i), deque())
                while log and log[0] <= now - window.seconds:
                    log.popleft()
                if len(log) >= window.limit:
                    wait = max(wait, log[0] + window.seconds - now)
                logs.append(log)
        if wait > 0:
            return wait
        for log in logs:
            log.append(now)
        return None

    def status(self, key: str, bucket: str) -> tuple[int, int, int]:
        """(limit, remaining, seconds until a request frees up) of the tightest window of `bucket`,
        for APIs that report their limits in headers (`X-RateLimit-*`); (0, 0, 0) without windows."""
        now, best = self.clock(), None
        for i, window in enumerate(self.buckets.get(bucket, ())):
            recent = [t for t in self._logs.get((key, bucket, i), ()) if t > now - window.seconds]
            reset = math.ceil(recent[0] + window.seconds - now) if recent else 0
            candidate = (window.limit - len(recent), window.limit, reset)
            best = candidate if best is None or candidate < best else best
        if best is None:
            return 0, 0, 0
        return best[1], max(0, best[0]), best[2]

    def reset(self) -> None:
        self._logs.clear()


class Faults:
    """Fault knobs; random ones draw from a seeded RNG so a run with the same requests repeats."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.reset()

    def reset(self) -> None:
        o = self.options
        self.error_rate, self.latency_ms, self.truncate_rate = o.error_rate, o.latency_ms, o.truncate_rate
        self.drop_rate, self.throttle_rate, self.forbidden = o.drop_rate, o.throttle_rate, o.forbidden
        self.rng = random.Random(o.fault_seed)
        self.queue: list[FailRule] = []

    def configure(self, body: Mapping[str, Any]) -> None:
        """Apply `{"fail_next": [...], "error_rate": .., "latency_ms": .., "truncate_rate": ..,
        "drop_rate": .., "throttle_rate": .., "forbidden": [{"path": .., "key": ..}]}` (`forbidden`
        replaces the rules)."""
        rates = ("error_rate", "truncate_rate", "drop_rate", "throttle_rate")
        known = {"fail_next", "latency_ms", "forbidden", "seed", *rates}
        unknown = set(body) - known
        if unknown:
            raise AdminError(400, f"unknown fault settings: {sorted(unknown)}")
        if "forbidden" in body:
            try:
                self.forbidden = parse_forbidden(body["forbidden"] or [])
            except (TypeError, ValueError) as exc:
                raise AdminError(400, str(exc)) from None
        for name in rates:
            if name in body:
                value = float(body[name])
                if not 0.0 <= value <= 1.0:
                    raise AdminError(400, f"{name} must be between 0 and 1")
                setattr(self, name, value)
        if "latency_ms" in body:
            self.latency_ms = max(0.0, float(body["latency_ms"]))
        if "seed" in body:
            self.rng = random.Random(int(body["seed"]))
        for rule in body.get("fail_next") or []:
            try:
                self.queue.append(FailRule(**rule))
            except TypeError as exc:
                raise AdminError(400, f"bad fail_next rule {rule!r}: {exc}") from None
            added = self.queue[-1]
            if not (added.drop or 100 <= (added.status or 0) <= 599) or added.count < 1:
                self.queue.pop()
                raise AdminError(400, f"bad fail_next rule {rule!r}")

    def next_forced(self, path: str) -> FailRule | None:
        for rule in self.queue:
            if rule.path is None or rule.path in path:
                rule.count -= 1
                if rule.count == 0:
                    self.queue.remove(rule)
                return rule
        return None

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def snapshot(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "truncate_rate": self.truncate_rate,
            "drop_rate": self.drop_rate,
            "throttle_rate": self.throttle_rate,
            "fail_next": [rule.__dict__.copy() for rule in self.queue],
            "forbidden": [{"path": f.path, "key": f.key} for f in self.forbidden],
        }


class RequestLog:
    """The last N API requests (method, path relative to the API root, query) with their status."""

    def __init__(self, size: int) -> None:
        self.items: deque[dict[str, Any]] = deque(maxlen=size)
        self.total = 0
        self.by_path: Counter[str] = Counter()

    def add(self, request: Request, path: str) -> dict[str, Any]:
        item = {
            "method": request.method,
            "path": path,
            "query": request.url.query,
            "params": [list(kv) for kv in request.query_params.multi_items()],
            "status": None,
            "user": None,
            "at": time.time(),
        }
        self.items.append(item)
        self.total += 1
        self.by_path[path] += 1
        return item

    def snapshot(self, path: str | None = None) -> dict[str, Any]:
        items = [i for i in self.items if path is None or i["path"] == path]
        return {"count": self.total, "by_path": dict(self.by_path), "requests": items}

    def reset(self) -> None:
        self.items.clear()
        self.total = 0
        self.by_path.clear()


@dataclass
class SandboxState:
    """Everything one sandbox app holds at run time. A sandbox with state of its own (a destination's
    account, OAuth tokens) adds its reset to `on_reset`, so `POST /_admin/reset` clears it too."""

    options: SandboxOptions
    org: Org
    overlay: Overlay
    log: RequestLog
    limiter: RateLimiter
    faults: Faults
    on_reset: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        options: SandboxOptions,
        default_limits: Mapping[str, tuple[RateWindow, ...]],
        org: Org | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> SandboxState:
        limits = {**default_limits, **options.rate_limits}
        return cls(
            options,
            org or org_for(options),
            Overlay(),
            RequestLog(options.request_log_size),
            RateLimiter(limits, clock),
            Faults(options),
        )

    def reset(self) -> None:
        self.overlay.reset()
        self.log.reset()
        self.limiter.reset()
        self.faults.reset()
        for reset in self.on_reset:
            reset()

    def limits_info(self) -> dict[str, Any]:
        """The rate limits in force, as `GET /_admin/org` shows them."""
        buckets = self.limiter.buckets.items()
        return {
            "rate_limit": self.options.rate_limit,
            "rate_limits": {k: [[w.limit, w.seconds] for w in v] for k, v in buckets},
        }


def relative_path(request: Request) -> str:
    """The request path below the app's mount point (`/v2/entries`, not `/clockodo/api/v2/entries`)."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
