"""Totals over every generated entry: tracked time per project and task, billed work per month.

Clockify shows a project's and a task's total tracked `duration`, and invoices bill what was tracked.
Both need one pass over all generated entries (about 0.5 s for the default org, ~15 s for a million
entries), so the pass runs on first use and is kept per `Org` (orgs never change; admin edits are
added on top by the caller).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

import numpy as np

from sandbox.org import Org, TimeEntry

# the undecorated generator: a full pass must not evict the cells that pages keep revisiting
_generate = Org.entries_for.__wrapped__  # type: ignore[attr-defined]


@dataclass
class Ledger:
    project_seconds: Counter[int] = field(default_factory=Counter)
    task_seconds: Counter[tuple[int, int]] = field(default_factory=Counter)
    # (project id, "YYYY-MM") -> billed seconds of time entries / billed lump sums (EUR)
    billed_seconds: Counter[tuple[int, str]] = field(default_factory=Counter)
    billed_lump_sums: defaultdict[tuple[int, str], float] = field(default_factory=lambda: defaultdict(float))

    def add(self, e: TimeEntry, month: str) -> None:
        if e.kind == "time":
            seconds = e.end - e.start
            self.project_seconds[e.project_id] += seconds
            if e.service_id is not None:
                self.task_seconds[(e.project_id, e.service_id)] += seconds
            if e.billed:
                self.billed_seconds[(e.project_id, month)] += seconds
        elif e.billed:
            price = e.amount if e.kind == "lumpsum_value" else 0.0
            self.billed_lump_sums[(e.project_id, month)] += price


_LEDGERS: WeakKeyDictionary[Org, Ledger] = WeakKeyDictionary()


def ledger(org: Org, lump_sum_price: dict[int, float]) -> Ledger:
    """The org's ledger (built once). `lump_sum_price` prices lump-sum-service entries per unit."""
    got = _LEDGERS.get(org)
    if got is None:
        got = Ledger()
        for d, u in np.argwhere(org.counts > 0):
            month = org.day(int(d)).isoformat()[:7]
            for e in _generate(org, int(u), int(d)):
                got.add(e, month)
                if e.kind == "lumpsum_service" and e.billed and e.lumpsum_service_id is not None:
                    price = lump_sum_price.get(e.lumpsum_service_id, 0.0) * e.amount
                    got.billed_lump_sums[(e.project_id, month)] += price
        _LEDGERS[org] = got
    return got
