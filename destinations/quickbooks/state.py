"""Exactly once: what was sent to a company, the batches whose answer is not known yet, ``requestid``.

QuickBooks' TimeActivity has no external id (reference §5.5), so the writer keeps its own record, per
company and source, under ``<data_dir>/quickbooks/<realm>/<source>/``:

* ``history.jsonl``: one line per outcome, appended and fsynced as answers arrive — ``sent`` (the
  entry's key, the TimeActivity Id, the request id, when, and the values sent: what "changed since
  sent" compares with) or ``rejected`` (QuickBooks' Fault; counts the attempts).
* ``pending.json``: each batch is written here **before** it is sent and removed once its answer is
  recorded. A batch still here when a run starts lost its answer (a timeout, a dropped connection,
  a crash): it is sent again first, byte for byte, with the same ``requestid``, and QuickBooks answers
  with the first answer instead of creating the entries again (reference §7), or creates them now if
  the first request never arrived. Either way each entry exists once.

``request_id`` derives a batch's id from the company, the source and its entries' keys, each with
its attempt number: the same batch sent again (a retry) has the same id; an entry QuickBooks refused
gets a new id on its next attempt (a refused request's answer would otherwise be replayed forever).
32 hex digits: within the 36 characters a batch ``requestid`` may have (reference §7), and the
``bId`` s are the items' positions (at most 10 characters with a requestid).

How long QuickBooks remembers a ``requestid`` is UNCONFIRMED (reference §7): batches in doubt are
replayed by the next run, so run again soon after a failure. One writer at a time per company and
source (an exclusive lock on ``write.lock``; a second waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base import DestinationError

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("couplet.quickbooks")


def private_folder(path: Path) -> None:
    """``path`` (and missing parents), readable by this user only: it holds a token or what was sent."""
    path.mkdir(parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        os.chmod(path, 0o700)


@contextlib.asynccontextmanager
async def file_lock(path: Path, timeout: float, what: str) -> AsyncIterator[None]:
    """An exclusive ``flock`` on ``path`` (created 0600), waited for up to ``timeout`` seconds."""
    private_folder(path.parent)
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DestinationError(
                        f"{what} has been busy for {timeout:.0f} s (lock {path}); run again when it is done"
                    ) from None
                await asyncio.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def request_id(realm: str, source: str, keys: Iterable[tuple[str, int]]) -> str:
    """A batch's ``requestid``: 32 hex digits from the company, the source and (key, attempt) pairs."""
    text = "\n".join([realm, source, *sorted(f"{k}\x1f{a}" for k, a in keys)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Sent:
    key: str
    time_activity_id: str
    request_id: str
    sent_at: str
    values: dict[str, Any]


@dataclass
class PendingItem:
    bid: str
    key: str
    values: dict[str, Any]
    body: dict[str, Any]  # the TimeActivity as sent

    def request(self) -> dict[str, Any]:
        return {"bId": self.bid, "operation": "create", "TimeActivity": self.body}


@dataclass
class PendingBatch:
    request_id: str
    items: list[PendingItem]
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())


class History:
    """The record of one company and source (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.history_path = folder / "history.jsonl"
        self.pending_path = folder / "pending.json"
        self.lock_path = folder / "write.lock"
        self.sent: dict[str, Sent] = {}
        self.attempts: dict[str, int] = {}
        self.pending: list[PendingBatch] = []

    def load(self) -> History:
        lines = self.history_path.read_text("utf-8").splitlines() if self.history_path.exists() else []
        for number, line in enumerate(lines, start=1):
            try:
                event = json.loads(line)
                if event["e"] == "sent":
                    self.sent[event["key"]] = Sent(
                        event["key"], str(event["id"]), event["rid"], event["at"], event["values"]
                    )
                elif event["e"] == "rejected":
                    self.attempts[event["key"]] = self.attempts.get(event["key"], 0) + 1
            except (ValueError, KeyError, TypeError):
                if number < len(lines):  # only a last line cut short by a crash is expected
                    raise DestinationError(
                        f"{self.history_path}, line {number} is damaged; it records what was sent to "
                        "QuickBooks: restore it from a backup (do not delete it: entries would be sent again)"
                    ) from None
                log.warning(
                    "%s: ignoring a last line cut short (a crash while writing it)", self.history_path
                )
        if self.pending_path.exists():
            try:
                raw = json.loads(self.pending_path.read_text("utf-8"))
                self.pending = [
                    PendingBatch(b["request_id"], [PendingItem(**i) for i in b["items"]], b["created_at"])
                    for b in raw["batches"]
                ]
            except (ValueError, KeyError, TypeError):
                raise DestinationError(
                    f"{self.pending_path} is damaged; it lists batches whose answer was lost: restore it, or "
                    "check in QuickBooks which of its entries exist before deleting it"
                ) from None
        return self

    def append(self, events: list[dict[str, Any]]) -> None:
        """Outcomes, appended and on disk before the batch leaves ``pending``."""
        if not events:
            return
        private_folder(self.folder)
        text = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in events)
        with open(self.history_path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def record_sent(self, records: list[Sent]) -> list[dict[str, Any]]:
        for r in records:
            self.sent[r.key] = r
        return [
            {
                "e": "sent",
                "key": r.key,
                "id": r.time_activity_id,
                "rid": r.request_id,
                "at": r.sent_at,
                "values": r.values,
            }
            for r in records
        ]

    def record_rejected(self, key: str, rid: str, code: str | None, message: str) -> dict[str, Any]:
        self.attempts[key] = self.attempts.get(key, 0) + 1
        at = dt.datetime.now(dt.UTC).isoformat()
        return {"e": "rejected", "key": key, "rid": rid, "at": at, "code": code, "message": message}

    def add_pending(self, batch: PendingBatch) -> None:
        self.pending.append(batch)
        self._save_pending()

    def drop_pending(self, rid: str) -> None:
        self.pending = [b for b in self.pending if b.request_id != rid]
        self._save_pending()

    def _save_pending(self) -> None:
        private_folder(self.folder)
        if not self.pending:
            self.pending_path.unlink(missing_ok=True)
            return
        body = {"batches": [{"request_id": b.request_id, "created_at": b.created_at,
                             "items": [i.__dict__ for i in b.items]} for b in self.pending]}  # fmt: skip
        tmp = self.folder / f".pending.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(body, f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.pending_path)
        finally:
            tmp.unlink(missing_ok=True)
