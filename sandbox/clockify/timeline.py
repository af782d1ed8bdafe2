"""Generated time entries of a window, in start-time order, addressable by position in O(page).

Clockify lists a user's entries newest first and the detailed report sorts by date, so positions run
over days (ascending or descending) and, within a day, over every selected person's entries sorted by
(start, id). Per-day totals come from the org's count matrix minus lump sums (Clockify shows those as
expenses); only the window's two edge days are generated to count them. `Merged` then lays admin
edits over it: edited or deleted generated entries are skipped by position, inserted and edited ones
are merged in at the position their start time gives them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sandbox.org import DAY, Org, TimeEntry, day_ts

Item = Any  # a generated TimeEntry or an admin record (wire dict)


class Timeline:
    """Generated time entries starting in [since, until) of some people (column indices)."""

    def __init__(
        self, org: Org, time_counts: np.ndarray, since: int, until: int, cols: Sequence[int], desc: bool
    ) -> None:
        self.org, self.since, self.until, self.cols, self.desc = org, since, until, list(cols), desc
        self._days: OrderedDict[int, list[TimeEntry]] = OrderedDict()
        d0, d1 = max(0, org.day_index(since)), min(org.days - 1, org.day_index(until - 1))
        if d0 > d1 or not self.cols or until <= since:
            self.day_ids, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            per_day = time_counts[d0 : d1 + 1][:, self.cols].sum(axis=1).astype(np.int64)
            base = day_ts(org.first_day)
            for d in {d0, d1}:  # only the edge days can be cut by the window
                if since > base + d * DAY or until < base + (d + 1) * DAY:
                    per_day[d - d0] = len(self.day(d))
            nz = np.flatnonzero(per_day)
            self.day_ids, counts = nz + d0, per_day[nz]
        if desc:
            self.day_ids, counts = self.day_ids[::-1], counts[::-1]
        self.cum = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.total = int(self.cum[-1])

    def day(self, d: int) -> list[TimeEntry]:
        """The window's time entries of day `d`, in listing order (cached: pages revisit days)."""
        got = self._days.get(d)
        if got is None:
            since, until = self.since, self.until
            got = [
                e
                for u in self.cols
                for e in self.org.entries_for(u, d)
                if e.kind == "time" and since <= e.start < until
            ]
            got.sort(key=lambda e: (e.start, e.id), reverse=self.desc)
            self._days[d] = got
            if len(self._days) > 64:
                self._days.popitem(last=False)
        else:
            self._days.move_to_end(d)
        return got

    def slice(self, start: int, stop: int) -> list[TimeEntry]:
        stop = min(stop, self.total)
        if start >= stop:
            return []
        i = int(np.searchsorted(self.cum, start, side="right")) - 1
        pos, out = start - int(self.cum[i]), list[TimeEntry]()
        while len(out) < stop - start:
            out.extend(self.day(int(self.day_ids[i]))[pos : pos + stop - start - len(out)])
            i, pos = i + 1, 0
        return out

    def _day_slot(self, d: int) -> tuple[int, bool]:
        """(index of day d in listing order, whether it has entries), or where it would go."""
        ids = self.day_ids
        if self.desc:  # descending array: search the negated values
            i = int(np.searchsorted(-ids, -d, side="left"))
        else:
            i = int(np.searchsorted(ids, d, side="left"))
        return i, i < len(ids) and int(ids[i]) == d

    def before(self, ts: int) -> int:
        """How many generated entries come before an admin entry starting at `ts`.

        Ascending, generated entries with the same start come first; descending, last (the order
        key is (start, generated before admin) either way).
        """
        d = self.org.day_index(ts)
        i, present = self._day_slot(d)
        n = int(self.cum[i])
        if present:
            ents = self.day(d)
            n += sum(1 for e in ents if (e.start > ts if self.desc else e.start <= ts))
        return n

    def position_of(self, e: TimeEntry) -> int | None:
        if e.kind != "time" or not self.since <= e.start < self.until:
            return None
        u = next((j for j, p in enumerate(self.org.people) if p.id == e.user_id), None)
        if u is None or u not in self.cols:
            return None
        d = self.org.day_index(e.start)
        i, present = self._day_slot(d)
        if not present:
            return None
        ents = self.day(d)
        k = next((k for k, x in enumerate(ents) if x.id == e.id), None)
        return None if k is None else int(self.cum[i]) + k


class Merged:
    """A timeline minus shadowed generated entries plus admin entries, addressable by position."""

    def __init__(
        self,
        timeline: Timeline,
        shadowed: Sequence[TimeEntry],
        extras: Sequence[Item],
        start_of: Callable[[Item], int],
    ) -> None:
        self.timeline = timeline
        self.shadowed_ids = {e.id for e in shadowed}
        self.skipped = sorted(p for e in shadowed if (p := timeline.position_of(e)) is not None)
        self.gen_total = timeline.total - len(self.skipped)
        key = lambda x: (start_of(x), str(x.get("id")))  # noqa: E731
        self.extras = sorted(extras, key=key, reverse=timeline.desc)
        self.positions = []
        for i, x in enumerate(self.extras):
            raw = timeline.before(start_of(x))
            self.positions.append(raw - bisect_left(self.skipped, raw) + i)
        self.total = self.gen_total + len(self.extras)

    def page(self, start: int, stop: int) -> list[Item]:
        stop = min(stop, self.total)
        if start >= stop:
            return []
        lo, hi = bisect_left(self.positions, start), bisect_left(self.positions, stop)
        want = (stop - start) - (hi - lo)
        first = start - lo  # kept generated entries before this page
        for pos in self.skipped:  # a position among kept entries -> one among all generated entries
            if pos <= first:
                first += 1
        generated: list[TimeEntry] = []
        if want > 0:
            raw = self.timeline.slice(first, first + want + len(self.skipped))
            generated = [e for e in raw if e.id not in self.shadowed_ids][:want]
        out: list[Item] = []
        g = iter(generated)
        j = lo
        for m in range(start, stop):
            if j < hi and self.positions[j] == m:
                out.append(self.extras[j])
                j += 1
            else:
                out.append(next(g))
        return out

    def all(self) -> list[Item]:
        return self.page(0, self.total)
