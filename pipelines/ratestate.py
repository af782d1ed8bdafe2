"""Rate-limit state handed from one process to the next, so published windows hold across processes.

An account's limiter (``connectors.core.ratelimit.RateLimiter``) keeps the send times of the last
requests per published window in process memory. Under the multiprocess executor every step is a
new process, and every run is one: without a hand-over each would start with an empty log and could
spend a 15-minute window's whole quota right after the previous step spent it. So each extraction
of a connection runs inside ``handed_over``: before the first request the limiters take in the
state saved under ``<data_dir>/state/ratelimit/<connection>.json`` (send times and any hold after a
429, in epoch seconds; sends older than the longest window are dropped), and the state is saved
again every ``SAVE_EVERY`` seconds while requests go out, when the extraction ends and when it
fails, so a killed step loses at most a few seconds of sends. Saving merges with what the file
holds (a send is never counted twice) and replaces the file whole (temp file + rename).

This makes the published limits hold across processes and runs **when one step at a time calls the
account**: the Dagster pool ``source:<connection>`` with a limit of 1 (``docs/flows.md``). With a
higher pool limit, say 2, two steps run at once and each has its own log: together they may send
twice the published rate. Split the rate then: set the connection's ``rate_limit`` to
``published/2`` (Harvest, Clockify; Clockodo reads ``CLOCKODO_RATE_LIMIT``), i.e. the pool limit as
the divisor. The saved state is the union of every holder's sends, so a step that starts counts its
neighbours' recent sends against its share: safe, and slower to start than it would need to be.
Two processes saving at the same moment: the last one's file wins (each keeps merging what it read).

The file lives wherever the data directory is: a local folder (temp file + rename) or an object
store (``pipelines.datadir``: an object replaced whole).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Collection, Iterator
from pathlib import Path
from typing import Any

from connectors.core.entity import RateLimit
from connectors.core.extract import Extractor
from connectors.core.ratelimit import LIMITERS, RateLimiter
from pipelines import datadir
from pipelines.datadir import Location

SAVE_EVERY = 5.0  # seconds between saves while an extraction runs
log = logging.getLogger("couplet")


DataDir = str | Path | Location


def state_path(data_dir: DataDir, connection: str) -> Location:
    return datadir.location(data_dir) / "state" / "ratelimit" / f"{connection}.json"


def data_dir_of(staging: Any) -> Location:
    """The data directory of a ``pipelines.staging.Staging`` (its ``staging`` folder's parent)."""
    return staging.root.parent


def _read(path: Location) -> bytes | None:
    return datadir.read_bytes(path)


def _write(path: Location, data: bytes) -> None:
    datadir.write_bytes(path, data)


def load(data_dir: DataDir, connection: str) -> dict[str, dict[str, Any]]:
    """The saved state of ``connection``'s limiters by name (``{}``: none saved, or unreadable)."""
    path = state_path(data_dir, connection)
    raw = _read(path)
    if raw is None:
        return {}
    try:
        limiters = json.loads(raw)["limiters"]
        if not isinstance(limiters, dict):
            raise TypeError("limiters is not an object")
        return {str(k): dict(v) for k, v in limiters.items()}
    except (ValueError, KeyError, TypeError) as exc:
        log.warning(
            "couplet: %s is not a rate-limit state file (%s); it is ignored and will be rewritten", path, exc
        )
        return {}


def restore(limiters: dict[str, RateLimiter], saved: dict[str, dict[str, Any]]) -> None:
    for name, limiter in limiters.items():
        if name in saved:
            limiter.restore(saved[name])


def save(data_dir: DataDir, connection: str, states: dict[str, dict[str, Any]], limits: dict) -> None:
    """Merge ``states`` (snapshots by limiter name) with the file's and write it atomically."""
    merged = {}
    saved = load(data_dir, connection)
    for name, state in states.items():
        fresh = RateLimiter(limits[name])  # an empty log: the file's sends and ours, each once
        if name in saved:
            fresh.restore(saved[name])
        fresh.restore(state)
        merged[name] = fresh.snapshot()
    for name, state in saved.items():  # limiters this process did not use (another rate group)
        merged.setdefault(name, state)
    body = {"connection": connection, "saved_at": dt.datetime.now(dt.UTC).isoformat(), "limiters": merged}
    _write(state_path(data_dir, connection), json.dumps(body, separators=(",", ":")).encode())


def _snapshots(limiters: dict[str, RateLimiter]) -> dict[str, dict[str, Any]]:
    return {name: limiter.snapshot() for name, limiter in limiters.items() if limiter.limits}


@contextlib.asynccontextmanager
async def handed_over(data_dir: DataDir, connection: str, extractor: Extractor) -> AsyncIterator[Extractor]:
    """Enter ``extractor`` with its limiters' saved state; save it periodically and at the end."""
    limiters = extractor.limiters()
    limits = {name: limiter.limits for name, limiter in limiters.items()}
    restore(limiters, await asyncio.to_thread(load, data_dir, connection))
    last: dict[str, dict[str, Any]] = {}

    async def save_now() -> None:
        nonlocal last
        states = _snapshots(limiters)
        if states != last:
            await asyncio.to_thread(save, data_dir, connection, states, limits)
            last = states

    async def keep_saving() -> None:
        while True:
            await asyncio.sleep(SAVE_EVERY)
            try:
                await save_now()
            except (OSError, ValueError) as exc:  # the next save tries again; the extraction goes on
                log.warning("couplet: could not save the rate-limit state of %s: %s", connection, exc)

    saver = asyncio.ensure_future(keep_saving())
    try:
        async with extractor as ex:
            yield ex
    finally:
        saver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await saver
        try:
            await save_now()
        except (OSError, ValueError) as exc:  # a store error (pipelines.datadir)
            log.warning(
                "couplet: could not save the rate-limit state of %s (%s): the next step may not know "
                "how much of the published rate this one spent",
                connection,
                exc,
            )


KEY_SEP = "|"  # a registry key (("runn", root, account)) as one JSON key


def _registry_states(path: Location) -> dict[str, dict[str, Any]]:
    try:
        raw = _read(path)
        states = json.loads(raw)["limiters"] if raw else {}
        return {str(k): dict(v) for k, v in states.items()} if isinstance(states, dict) else {}
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        log.warning("couplet: %s is not a rate-limit state file (%s); it is ignored", path, exc)
        return {}


def _limits(state: dict[str, Any]) -> tuple[RateLimit, ...]:
    return tuple(RateLimit(int(n), float(per)) for n, per in state.get("limits", ()))


@contextlib.contextmanager
def registry_handed_over(data_dir: DataDir, name: str, kinds: Collection[str]) -> Iterator[None]:
    """The same hand-over for writers that take their limiters from ``LIMITERS`` themselves (Runn:
    ``("runn", root, account)``; QuickBooks: ``("quickbooks", base, realm)`` and its batch limiter).

    Before the write, each limiter saved under ``<data_dir>/state/ratelimit/<name>.json`` is put in
    the process's registry with its send log, so the writer's ``LIMITERS.get`` finds it (with the
    same limits; changed limits start afresh); after the write, or its failure, the registry's
    limiters whose key starts with one of ``kinds`` are merged into the file. Saved at the end only:
    a push is short and its destination's pool lets one write per account run at a time, so a write
    killed midway is the only one whose sends are not handed on.
    """
    path = state_path(data_dir, name)
    for key, state in _registry_states(path).items():
        if limits := _limits(state):
            LIMITERS.get(tuple(key.split(KEY_SEP)), limits).restore(state)
    try:
        yield
    finally:
        ours = {KEY_SEP.join(k): lim for k, lim in LIMITERS.items() if k and k[0] in kinds and lim.limits}
        if ours:
            try:
                merged = _registry_states(path)
                for key, limiter in ours.items():
                    fresh = RateLimiter(limiter.limits)
                    if key in merged and _limits(merged[key]) == limiter.limits:
                        fresh.restore(merged[key])
                    fresh.restore(limiter.snapshot())
                    pairs = [[lim.requests, lim.per_seconds] for lim in limiter.limits]
                    merged[key] = {**fresh.snapshot(), "limits": pairs}
                body = {"saved_at": dt.datetime.now(dt.UTC).isoformat(), "limiters": merged}
                _write(path, json.dumps(body, separators=(",", ":")).encode())
            except (OSError, ValueError) as exc:
                log.warning("couplet: could not save the rate-limit state %s: %s", path, exc)
