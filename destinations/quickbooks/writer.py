"""``QuickBooksWriter``: the ``base.Writer`` of the QuickBooks Online destination.

``write(target, rows, "append", ["id"])``, one run:

1. read the rows (``rows``: columns checked, durations rounded), apply the mapping tables (``names``);
2. under the company+source lock, load what was sent (``state.History``): an entry sent before is
   not sent again — it counts as already sent, or is reported ``changed_since_sent`` when its values
   differ from those sent; rows that cannot be sent get their reason (not billable, no project,
   unmapped user, over 23 h 55 min...);
3. if anything must be sent: refresh the access token (``oauth``), replay the batches whose answer
   was lost in an earlier run (same body, same ``requestid``), find the names (``names.resolve``),
   then send the rest in batches of ``batch_size`` (at most 30), concurrently within the limits
   (``client``). Each batch is written to ``pending.json`` before it leaves and its outcome to
   ``history.jsonl`` as soon as it is known, so a crash at any point sends nothing twice;
4. return a ``WriteResult`` whose ``extra`` holds the report (``report``: skipped, rejected,
   in doubt, changed since sent), the TimeActivities created (``sent``), the key columns of the rows
   now in QuickBooks (``delivered``: what a ledger may record) and counts.

Modes: ``append`` (what ``append_new`` becomes after the ledger) and ``append_new``. The writer's own
record makes every mode exactly once; ``replace`` and ``upsert`` are refused (QuickBooks entries are
never deleted or rewritten by couplet). Entries QuickBooks refused make the write fail after the
others are sent (``on_rejected: fail``, the default) so the run shows it and a ledger records none of
the rows; entries whose answer was lost always make it fail (the next run replays them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from connectors.core.http import RetryPolicy

from ..base import (
    Deletes,
    DestinationAuthError,
    DestinationConfigError,
    Mode,
    ParquetSource,
    Scope,
    WriteResult,
    as_table,
    run_sync,
)
from . import QuickBooksTarget, label
from .client import QboClient, describe_fault, fault_of
from .errors import RequestRejected, Unavailable, WriteFailed
from .names import Directory, resolve
from .names import Mapping as NameMapping
from .oauth import Tokens, TokenStore
from .report import Report, summary
from .rows import Entry, pre_check, read_entries
from .state import History, PendingBatch, PendingItem, Sent, file_lock, request_id

WRITE_LOCK_TIMEOUT = 600.0


class QuickBooksWriter:
    """Creates TimeActivities in one company (see the module docstring)."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str] = "data/quickbooks",
        env: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)  # <data_dir>/quickbooks: token files and records per company
        self.env = env  # None: os.environ (tests pass their own)
        self.transport = transport
        self.retry = retry

    def write(
        self,
        target: QuickBooksTarget,
        data: pa.Table | pa.RecordBatchReader | ParquetSource,
        mode: Mode | str,
        primary_key: Sequence[str] = (),
        scope: Scope | None = None,
        allow_empty: bool = False,
        deletes: Deletes | None = None,
    ) -> WriteResult:
        started = time.monotonic()
        env = os.environ if self.env is None else self.env
        shown = label(target, env)
        _check_mode(mode, shown)
        table = as_table(data)
        keys = tuple(primary_key) or (target.columns.id,)
        entries, chosen = read_entries(table, target, keys, shown)
        realm = target.realm(env)
        if realm is None:
            raise DestinationConfigError(
                f"{shown}: no company: set realm_id on the output or the environment variable "
                f"{target.realm_id_env} to the company's Realm ID (the OAuth 2.0 Playground shows it "
                "after you connect the company; Intuit also passes it as realmId when an app connects)"
            )
        if not realm.isdigit():
            raise DestinationConfigError(f"{shown}: {target.realm_id_env} must be a Realm ID (digits only)")
        mapping = NameMapping.of(target)
        history = History(self.state_dir / realm / target.source)
        run = _Run(self, target, env, realm, shown, mapping, history)
        report, stats = run_sync(run.go(entries))
        counts = report.counts()
        extra: dict[str, object] = {
            "quickbooks_company": realm,
            "environment": target.environment,
            "source": target.source,
            "rows_in": table.num_rows,
            **counts,
            **report.tables(keys, table.select(list(keys)).schema),
            **stats,
        }
        if "billable" not in chosen:
            extra["note"] = "the rows have no billable column: every row was taken as billable"
        result = WriteResult(
            target=shown,
            mode=Mode.APPEND,
            rows_written=counts["created"],
            duration_s=time.monotonic() - started,
            extra=extra,
        )
        problems = [r for r in report.rows if r["status"] in ("in_doubt", "rejected")]
        doubt = counts["in_doubt"]
        if doubt or (counts["rejected"] and target.on_rejected == "fail"):
            listed = "; ".join(f"{r['id']}: {r['detail']}" for r in problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            next_run = (
                f" The next run replays the {doubt} in doubt with their requestid (no duplicates)."
                if doubt
                else ""
            )
            raise WriteFailed(f"{shown}: {summary(counts)}.{next_run} {listed}{more}", result)
        return result


class _Run:
    """One write: the state of steps 2-4 of the module docstring."""

    def __init__(
        self,
        writer: QuickBooksWriter,
        target: QuickBooksTarget,
        env: Mapping[str, str],
        realm: str,
        shown: str,
        mapping: NameMapping,
        history: History,
    ) -> None:
        self.writer, self.target, self.env, self.realm, self.shown = writer, target, env, realm, shown
        self.mapping, self.history = mapping, history
        self.report = Report()
        self.by_key: dict[str, Entry] = {}

    async def go(self, entries: list[Entry]) -> tuple[Report, dict[str, Any]]:
        target, history, report = self.target, self.history, self.report
        what = f"another couplet write to QuickBooks company {self.realm} from {target.source}"
        async with file_lock(history.lock_path, WRITE_LOCK_TIMEOUT, what):
            history.load()
            self.by_key = {e.key: e for e in entries}
            for entry in entries:
                self.mapping.apply(entry)
            in_doubt = {i.key for b in history.pending for i in b.items}
            fresh = [e for e in entries if e.key not in in_doubt and not self._known(e)]
            fresh = self._checked(fresh)
            if not fresh and not history.pending:
                return report, {}
            async with QboClient(
                api_base=target.api_base(self.env),
                realm=self.realm,
                minor_version=target.minor_version,
                tokens=self._tokens(),
                # QUICKBOOKS_RATE_LIMIT: another plan's limit, or an imitation's (as a connector's
                # <SOURCE>_RATE_LIMIT); the setting otherwise.
                rate_limit=self.env.get("QUICKBOOKS_RATE_LIMIT") or target.rate_limit,
                transport=self.writer.transport,
                retry=self.writer.retry,
            ) as qbo:
                for batch in list(history.pending):  # answers lost in an earlier run, first
                    await self._send(qbo, batch, replay=True)
                fresh += self._checked([e for e in entries if e.key in in_doubt and not self._replayed(e)])
                directory = Directory(qbo)
                await resolve(directory, fresh, target.name_of)
                ready = [e for e in fresh if e.reason is None]
                for entry in fresh:
                    if entry.reason is not None:
                        report.skipped(entry)
                size = target.batch_size
                batches = [self._batch(ready[i : i + size]) for i in range(0, len(ready), size)]
                outcomes = await asyncio.gather(
                    *(self._send(qbo, b) for b in batches), return_exceptions=True
                )
                failures = [o for o in outcomes if isinstance(o, BaseException)]
                if failures:  # an auth error, a bug: the batches stay pending, replayed next run
                    raise failures[0]
                stats: dict[str, Any] = {**qbo.stats(), "lookups": directory.queries}
                tokens = qbo.tokens
                if tokens.refresh_expires_in is not None:
                    stats["refresh_token_expires_in_days"] = round(tokens.refresh_expires_in / 86400, 1)
                return report, stats

    def _known(self, entry: Entry) -> bool:
        """Sent before: counted, and compared with what was sent."""
        sent = self.history.sent.get(entry.key)
        if sent is None:
            return False
        self.report.already_sent += 1
        self.report.delivered.append(entry)
        now = entry.values(self.target)
        if now != sent.values:
            self.report.changed(entry, sent.time_activity_id, sent.values, now)
        return True

    def _replayed(self, entry: Entry) -> bool:
        """In doubt at the start: confirmed by the replay (reported there) or still in doubt; an entry
        the replay shows refused is sent again now, with fresh look-ups and a new requestid."""
        in_doubt = any(i.key == entry.key for b in self.history.pending for i in b.items)
        return in_doubt or entry.key in self.history.sent

    def _checked(self, entries: list[Entry]) -> list[Entry]:
        """The entries that can be sent as far as the rows tell; the others are reported."""
        mapped = set(self.mapping.users) if self.target.require_user_map else None
        ok = []
        for entry in entries:
            pre_check(entry, self.target, mapped)
            if entry.reason is None:
                ok.append(entry)
            else:
                self.report.skipped(entry)
        return ok

    def _tokens(self) -> Tokens:
        t, env = self.target, self.env
        client_id = (env.get(t.client_id_env) or "").strip()
        secret = (env.get(t.client_secret_env) or "").strip()
        if not client_id or not secret:
            missing = " and ".join(
                n for n, v in ((t.client_id_env, client_id), (t.client_secret_env, secret)) if not v
            )
            raise DestinationAuthError(
                f"{self.shown}: {missing} not set: put your Intuit app's Client ID and Client Secret there "
                f"(Intuit Developer portal > your app > Keys and credentials; "
                f"{'Development' if t.environment == 'sandbox' else 'Production'} keys for this company)"
            )
        return Tokens(
            client_id=client_id,
            client_secret=secret,
            env_refresh_token=(env.get(t.refresh_token_env) or "").strip() or None,
            refresh_env=t.refresh_token_env,
            store=TokenStore(self.writer.state_dir / self.realm),
            token_url=t.token_endpoint(env),
            realm=self.realm,
            environment=t.environment,
        )

    def _batch(self, entries: list[Entry]) -> PendingBatch:
        attempts = self.history.attempts
        rid = request_id(self.realm, self.target.source, [(e.key, attempts.get(e.key, 0)) for e in entries])
        items = [
            PendingItem(str(i), e.key, e.values(self.target), _body(e, self.target))
            for i, e in enumerate(entries)
        ]
        return PendingBatch(rid, items)

    def _entry(self, item: PendingItem) -> tuple[Entry, bool]:
        entry = self.by_key.get(item.key)
        if entry is not None:
            return entry, True
        date = item.values.get("date")
        stub = Entry(row=0, key=item.key, key_values=(), date=dt.date.fromisoformat(date) if date else None)
        stub.qbo_customer = item.values.get("customer")
        return stub, False

    async def _send(self, qbo: QboClient, batch: PendingBatch, replay: bool = False) -> None:
        """One batch: pending before it leaves, outcomes recorded as soon as they are known. Refusals
        found by a ``replay`` are recorded, not reported: those entries are sent again in this run."""
        history, report, rid = self.history, self.report, batch.request_id
        if batch not in history.pending:
            history.add_pending(batch)
        try:
            answers = await qbo.batch([i.request() for i in batch.items], rid)
        except RequestRejected as exc:  # the whole batch refused: nothing of it was created
            history.append([history.record_rejected(i.key, rid, exc.code, str(exc)) for i in batch.items])
            history.drop_pending(rid)
            for item in batch.items:
                if not replay:
                    report.rejected(self._entry(item)[0], exc.code, str(exc))
            return
        except Unavailable as exc:
            for item in batch.items:
                report.in_doubt(self._entry(item)[0], str(exc))
            return
        by_bid = {str(a.get("bId")): a for a in answers}
        now = dt.datetime.now(dt.UTC).isoformat()
        sent: list[Sent] = []
        events: list[dict[str, Any]] = []
        unanswered = []
        person = self.target.name_of.lower()
        for item in batch.items:
            answer = by_bid.get(item.bid)
            entry, in_input = self._entry(item)
            fault = fault_of(answer)
            created = answer.get("TimeActivity") if answer is not None else None
            if fault is not None:
                code, text = describe_fault(fault)
                events.append(history.record_rejected(item.key, rid, code, text))
                if not replay:
                    report.rejected(entry, code, text)
            elif isinstance(created, dict) and created.get("Id") not in (None, ""):
                if item.key in history.sent:  # confirmed by an earlier replay already
                    continue
                sent.append(Sent(item.key, str(created["Id"]), rid, now, item.values))
                report.created(entry, str(created["Id"]), rid, item.values.get(person), in_input)
            else:
                unanswered.append(item)
                report.in_doubt(entry, "the batch answer has no result for this entry")
        history.append(history.record_sent(sent) + events)
        if not unanswered:  # else the whole batch is replayed next run (same body, same requestid)
            history.drop_pending(rid)


def _body(entry: Entry, target: QuickBooksTarget) -> dict[str, Any]:
    """The TimeActivity to create (reference §5.5)."""
    assert entry.date is not None and entry.minutes is not None
    person = "VendorRef" if target.name_of == "Vendor" else "EmployeeRef"
    body: dict[str, Any] = {
        "TxnDate": entry.date.isoformat(),
        "NameOf": target.name_of,
        person: {"value": entry.refs[person]},
        "CustomerRef": {"value": entry.refs["CustomerRef"]},
        "BillableStatus": "Billable" if entry.billable else "NotBillable",
        "Hours": entry.minutes // 60,
        "Minutes": entry.minutes % 60,
    }
    if "ItemRef" in entry.refs:
        body["ItemRef"] = {"value": entry.refs["ItemRef"]}
    rate = entry.rate(target)
    if rate is not None:
        body["HourlyRate"] = rate
    text = entry.text()
    if text:
        body["Description"] = text
    return body


def _check_mode(mode: Mode | str, shown: str) -> None:
    value = mode.value if isinstance(mode, Mode) else str(mode)
    if value in (Mode.APPEND.value, "append_new"):
        return
    raise DestinationConfigError(
        f"{shown}: mode {value!r} is not offered: couplet creates each TimeActivity once and never deletes "
        "or rewrites one in QuickBooks. Set mode: append_new (with primary_key: [id]) on the output"
    )
