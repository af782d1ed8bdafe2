"""How the Harvest sandbox reaches the org's generated time entries without storing them.

Harvest has no lump-sum entries: the org's lump sums become expenses, and the other entries are time
entries. `sandbox.org.lump_sum_cells` tells which (day, person) cells end in a lump sum, so the time
entries of any cell are counted without generating it.

* `DayIndex`: the time entries of a day range for some people, newest day first (Harvest sorts by
  `spent_date`), addressable by position: a page costs O(page).
* `Ledger`: per-month arrays (id, day, user, client, project, task, seconds, flags, rates, changed) of
  every time entry, built once per month on demand and shared by every app rendering the same org.
  Content filters, `updated_since`, reports and invoices read these arrays instead of scanning.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from sandbox.org import Org, TimeEntry, day_ts, lump_sum_cells
from sandbox.orgdata import ENTRY_BASE, USER_BASE

# A generated entry is last changed less than ~11.6 days after its day starts (a test checks it):
# days more than LAG_DAYS before `updated_since` cannot match it, days on or after it all match.
LAG_DAYS = 13
FIELDS = (
    "id",
    "day",
    "user",
    "client",
    "project",
    "task",
    "seconds",
    "billable",
    "billed",
    "changed",
    "rate",
)


def rounded(seconds: int) -> float:
    """Harvest's time rounding, set to "round up to 15 minutes" in the sandbox's company."""
    return -(-seconds // 900) / 4


@dataclass(frozen=True)
class Rows:
    """Column arrays of time entries in id order (see FIELDS)."""

    cols: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.cols["id"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def take(self, mask: Any) -> Rows:
        return Rows({k: v[mask] for k, v in self.cols.items()})

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        if not parts:
            return Rows({k: np.zeros(0, np.float64 if k == "rate" else np.int64) for k in FIELDS})
        return Rows({k: np.concatenate([p.cols[k] for p in parts]) for k in FIELDS})


class Ledger:
    """Time-entry counts and per-month column arrays of one org (see the module docstring)."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.lump = lump_sum_cells(org)
        self.time_counts = org.counts.astype(np.int64) - self.lump
        self.time_entry_count = int(self.time_counts.sum())
        self._months: dict[tuple[int, int], Rows] = {}

    def time_entries(self, day_index: int, user_index: int) -> tuple[TimeEntry, ...]:
        """The time entries of a cell (a cell's lump sum, if any, is always its last entry)."""
        n = int(self.time_counts[day_index, user_index]) if 0 <= day_index < self.org.days else 0
        return self.org.entries_for(user_index, day_index)[:n] if n else ()

    def month(self, year: int, month: int) -> Rows:
        key = (year, month)
        if key not in self._months:
            self._months[key] = self._build(year, month)
        return self._months[key]

    def _build(self, year: int, month: int) -> Rows:
        org, first = self.org, date(year, month, 1)
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        d0, d1 = max(0, (first - org.first_day).days), min(org.days, (nxt - org.first_day).days)
        out: dict[str, list[Any]] = {k: [] for k in FIELDS}
        for d in range(d0, d1):
            for u in range(len(org.people)):
                for e in self.time_entries(d, u):
                    for k, v in zip(FIELDS, (e.id, d, e.user_id, e.client_id, e.project_id, e.service_id,
                                             e.end - e.start, e.billable, e.billed, e.changed, e.hourly_rate),
                                    strict=True):  # fmt: skip
                        out[k].append(v)
        return Rows({k: np.array(v, dtype=np.float64 if k == "rate" else np.int64) for k, v in out.items()})

    def rows(self, d0: int, d1: int) -> Rows:
        """Time entries of day indexes [d0, d1] (clamped to the history), in id order."""
        d0, d1 = max(0, d0), min(self.org.days - 1, d1)
        if d0 > d1:
            return Rows.concat([])
        first, last = self.org.day(d0), self.org.day(d1)
        parts, y, m = [], first.year, first.month
        while (y, m) <= (last.year, last.month):
            parts.append(self.month(y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        rows = Rows.concat(parts)
        return rows.take((rows["day"] >= d0) & (rows["day"] <= d1))

    def since_days(self, since: int) -> tuple[int, int]:
        """(first day whose entries may match `updated_since`, first day whose entries all match)."""
        base = day_ts(self.org.first_day)
        all_from = -(-(since - base) // 86_400)  # day_ts(d) >= since
        some_from = (since - base) // 86_400 - LAG_DAYS
        return some_from, all_from


_LEDGERS: OrderedDict[tuple[Any, date], Ledger] = OrderedDict()


def ledger_for(org: Org) -> Ledger:
    """The ledger of an org; orgs built from the same options and anchor share one (same data)."""
    key = (org.options, org.anchor)
    if key not in _LEDGERS:
        _LEDGERS[key] = Ledger(org)
        if len(_LEDGERS) > 4:
            _LEDGERS.popitem(last=False)
    _LEDGERS.move_to_end(key)
    return _LEDGERS[key]


class DayIndex:
    """Time entries of days [d0, d1] for some people (user indexes `cols`), newest day first.

    Position 0 is the last entry of the newest day; the order is the reverse of the id order.
    """

    def __init__(self, ledger: Ledger, d0: int, d1: int, cols: list[int]) -> None:
        self.ledger, self.org = ledger, ledger.org
        self.d0, self.d1 = max(0, d0), min(self.org.days - 1, d1)
        self.cols, self._col_pos = cols, {u: j for j, u in enumerate(cols)}
        if self.d0 > self.d1 or not cols:
            self.d1 = self.d0 - 1
            sub = np.zeros((0, max(1, len(cols))), np.int64)
        else:
            sub = ledger.time_counts[self.d0 : self.d1 + 1][:, cols]
        flat = sub.ravel()
        self._cells = np.flatnonzero(flat)
        self._cum = np.concatenate(([0], np.cumsum(flat[self._cells])))
        self._day_cum = np.concatenate(([0], np.cumsum(sub.sum(axis=1))))  # entries on days < d0 + i
        self.total = int(self._cum[-1])

    def _slice_asc(self, start: int, stop: int) -> list[TimeEntry]:
        stop = min(stop, self.total)
        if start >= stop:
            return []
        i = int(np.searchsorted(self._cum, start, side="right")) - 1
        pos, out = start - int(self._cum[i]), list[TimeEntry]()
        while len(out) < stop - start:
            d, j = divmod(int(self._cells[i]), len(self.cols))
            ents = self.ledger.time_entries(d + self.d0, self.cols[j])
            out.extend(ents[pos : pos + stop - start - len(out)])
            i, pos = i + 1, 0
        return out

    def slice(self, start: int, stop: int) -> list[TimeEntry]:
        """Entries at (newest-first) positions [start, stop)."""
        start, stop = max(0, start), min(stop, self.total)
        return self._slice_asc(self.total - stop, self.total - start)[::-1] if start < stop else []

    def newer_than(self, day_index: int) -> int:
        """How many positions hold entries of days after `day_index`."""
        i = min(max(day_index - self.d0 + 1, 0), len(self._day_cum) - 1)
        return self.total - int(self._day_cum[i])

    def position_of(self, e: TimeEntry) -> int | None:
        u, d = e.user_id - USER_BASE - 1, self.org.day_index(e.start)
        j = self._col_pos.get(u)
        if j is None or not self.d0 <= d <= self.d1:
            return None
        cell = (d - self.d0) * len(self.cols) + j
        i = int(np.searchsorted(self._cells, cell))
        if i >= len(self._cells) or int(self._cells[i]) != cell:
            return None
        k = e.id - ENTRY_BASE - 1 - int(self.org.offsets[d * len(self.org.people) + u])
        if k >= int(self.ledger.time_counts[d, u]):
            return None
        return self.total - 1 - (int(self._cum[i]) + k)


@dataclass
class Kept:
    """The generated entries one request keeps, newest first.

    A prefix of a `DayIndex` taken wholesale (minus `skipped` positions that admin edits shadow),
    then explicit ids found in the ledger arrays (older days than the prefix's).
    """

    index: DayIndex
    prefix: int
    skipped: list[int] = field(default_factory=list)  # prefix positions shadowed by admin edits
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # explicit, newest first
    days: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def count(self) -> int:
        return self.prefix - len(self.skipped) + len(self.ids)

    def newer_than(self, day_index: int) -> int:
        """How many kept entries are of days after `day_index`."""
        p = min(self.index.newer_than(day_index), self.prefix)
        explicit = int(np.searchsorted(-self.days, -day_index, side="left"))
        return p - bisect_left(self.skipped, p) + explicit

    def fetch(
        self, k0: int, k1: int, touched: set[int], entry: Callable[[int], TimeEntry | None]
    ) -> list[TimeEntry]:
        kept_prefix, out = self.prefix - len(self.skipped), list[TimeEntry]()
        if k0 < kept_prefix:
            wanted, first = min(k1, kept_prefix) - k0, k0
            for pos in self.skipped:  # a rank among kept entries -> a position among all of them
                if pos > first:
                    break
                first += 1
            stop = min(self.prefix, first + wanted + len(self.skipped))
            out = [e for e in self.index.slice(first, stop) if e.id not in touched][:wanted]
        if k1 > kept_prefix:
            ids = self.ids[max(0, k0 - kept_prefix) : k1 - kept_prefix].tolist()
            out += [e for i in ids if (e := entry(i)) is not None]
        return out
