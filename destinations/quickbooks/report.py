"""What a QuickBooks write did, as tables for the write result's ``extra``.

``extra["report"]`` (``REPORT_SCHEMA``) has one row per entry that needs a person's eye:

* ``skipped``: not sent, with ``reason`` (a ``rows.SKIP_REASONS`` key: not_billable, no_project,
  unmapped_user, unknown_user, unknown_customer, too_long...) and ``detail`` (what to do);
* ``rejected``: QuickBooks refused it (``reason`` ``rejected``, ``detail`` its Fault code and message);
  sent again next run with a new requestid;
* ``in_doubt``: its batch's answer was lost and the retries ran out; replayed next run;
* ``changed_since_sent``: sent earlier, edited at the source since: ``sent`` and ``now`` are the
  values (JSON) and ``changed_fields`` names the ones that differ. QuickBooks is left as it is: the
  report says what to correct there.

``extra["sent"]`` (``SENT_SCHEMA``) lists the TimeActivities created by this run; ``extra["delivered"]``
holds the key columns of every input row that is in QuickBooks now (created now or earlier): the
rows an exactly-once ledger may record. Counts sit beside them (``created``, ``already_sent``,
``skipped``, ``rejected``, ``in_doubt``, ``changed_since_sent``, ``skipped_by_reason``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .rows import Entry

REPORT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("status", pa.string()),  # skipped | rejected | in_doubt | changed_since_sent
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("date", pa.date32()),
        ("user", pa.string()),
        ("customer", pa.string()),
        ("minutes", pa.int64()),  # rounded: what is (or would be) sent
        ("time_activity_id", pa.string()),
        ("sent", pa.string()),  # changed_since_sent: the values sent, JSON
        ("now", pa.string()),  # changed_since_sent: the values the source has now, JSON
        ("changed_fields", pa.string()),
    ]
)
SENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("time_activity_id", pa.string()),
        ("request_id", pa.string()),
        ("date", pa.date32()),
        ("person", pa.string()),
        ("customer", pa.string()),
        ("minutes", pa.int64()),
    ]
)


def _json(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


@dataclass
class Report:
    rows: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[Entry] = field(default_factory=list)
    already_sent: int = 0

    def _row(self, entry: Entry, status: str, reason: str, detail: str, **more: Any) -> None:
        self.rows.append(
            {
                "id": entry.key,
                "status": status,
                "reason": reason,
                "detail": detail,
                "date": entry.date,
                "user": entry.user,
                "customer": entry.customer_key,
                "minutes": entry.minutes,
                **more,
            }
        )

    def skipped(self, entry: Entry) -> None:
        self._row(entry, "skipped", entry.reason or "", entry.detail)

    def rejected(self, entry: Entry, code: str | None, message: str) -> None:
        self._row(
            entry,
            "rejected",
            "rejected",
            f"QuickBooks refused it{f' (code {code})' if code else ''}: {message}",
        )

    def in_doubt(self, entry: Entry, message: str) -> None:
        self._row(entry, "in_doubt", "in_doubt", f"the answer was lost ({message}); the next run replays it")

    def changed(self, entry: Entry, ta_id: str, sent: dict[str, Any], now: dict[str, Any]) -> None:
        fields = [k for k in sorted(set(sent) | set(now)) if sent.get(k) != now.get(k)]
        self._row(
            entry,
            "changed_since_sent",
            "changed_since_sent",
            f"edited at the source after it was sent ({', '.join(fields)}); TimeActivity {ta_id} in "
            "QuickBooks still has the values sent: correct it there if needed",
            time_activity_id=ta_id,
            sent=_json(sent),
            now=_json(now),
            changed_fields=", ".join(fields),
        )

    def created(self, entry: Entry, ta_id: str, rid: str, person: str | None, in_input: bool = True) -> None:
        self.sent.append(
            {
                "id": entry.key,
                "time_activity_id": ta_id,
                "request_id": rid,
                "date": entry.date,
                "person": person,
                "customer": entry.qbo_customer,
                "minutes": entry.minutes,
            }
        )
        if in_input:  # a replayed batch may confirm entries the source no longer has
            self.delivered.append(entry)

    def counts(self) -> dict[str, Any]:
        by_status = Counter(r["status"] for r in self.rows)
        reasons = Counter(r["reason"] for r in self.rows if r["status"] == "skipped")
        return {
            "created": len(self.sent),
            "already_sent": self.already_sent,
            "skipped": by_status["skipped"],
            "rejected": by_status["rejected"],
            "in_doubt": by_status["in_doubt"],
            "changed_since_sent": by_status["changed_since_sent"],
            "skipped_by_reason": dict(sorted(reasons.items())),
        }

    def tables(self, key_columns: Sequence[str], key_schema: pa.Schema) -> dict[str, pa.Table]:
        delivered = {
            name: pa.array([e.key_values[i] for e in self.delivered], key_schema.field(name).type)
            for i, name in enumerate(key_columns)
        }
        return {
            "report": pa.Table.from_pylist(self.rows, schema=REPORT_SCHEMA),
            "sent": pa.Table.from_pylist(self.sent, schema=SENT_SCHEMA),
            "delivered": pa.table(delivered, schema=key_schema),
        }


def summary(counts: dict[str, Any]) -> str:
    parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in ("created", "already_sent", "skipped", "rejected", "in_doubt", "changed_since_sent") if counts.get(k)]  # fmt: skip
    return ", ".join(parts) or "nothing to send"
