"""A deterministic synthetic agency that every sandbox renders in its own API's shape.

The organisation is tool-neutral: people, teams, clients, projects, services, lump-sum services,
public holidays, absences, work schedules and time entries. Clockodo, Clockify and Harvest sandboxes
turn the same records into their own wire formats, so a demo shows the same agency in every tool.

Dimensions are small and built eagerly. Time entries are not stored: the number of entries of each
(person, day) comes from a hash of (seed, person, day) and is kept in one small numpy array, and the
entries of a cell are regenerated on demand. Ids follow the (day, person, k) order through a cumulative
sum, so ids are stable and a date window is paged in O(page) (see `EntryWindow`).
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from sandbox import orgdata
from sandbox.orgdata import (
    ENTRY_BASE,
    USER_BASE,
    Absence,
    Client,
    Holiday,
    LumpsumService,
    Person,
    Project,
    Schedule,
    Service,
    Team,
)

__all__ = [
    "Absence", "Client", "EntryWindow", "Holiday", "LumpsumService", "Org", "OrgOptions", "Person",
    "Project", "Schedule", "Service", "Team", "TimeEntry", "day_ts", "mix",
]  # fmt: skip

DAY = 86_400
MAX_PER_DAY = 48.0  # mean entries per working day; more would not fit into a day
_M = (1 << 64) - 1


def mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash of an int."""
    x = (x + 0x9E3779B97F4A7C15) & _M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M
    return x ^ (x >> 31)


def _np_mix(x: np.ndarray) -> np.ndarray:
    # The same finaliser on uint64 arrays (array arithmetic wraps silently, as intended).
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def day_ts(day: date) -> int:
    """Epoch seconds of a UTC midnight."""
    return calendar.timegm(day.timetuple())


@dataclass(frozen=True)
class OrgOptions:
    """Size and seed of the synthetic agency. `target_entries` rescales entries per day to hit a total."""

    seed: int = 42
    anchor: date | None = None  # last generated day is anchor - 1; None = today (UTC)
    history_days: int = 730
    users: int = 12
    teams: int = 3
    clients: int = 8
    services: int = 6
    entries_per_day: float = 4.0
    target_entries: int | None = None
    owner_email: str = "sandbox@couplet.dev"
    domain: str = "couplet.dev"


class TimeEntry(NamedTuple):
    """One generated entry; times are epoch seconds (UTC). kind: time | lumpsum_value | lumpsum_service."""

    id: int
    user_id: int
    client_id: int
    project_id: int
    service_id: int | None
    kind: str
    start: int
    end: int
    billable: bool
    billed: bool
    text_id: int | None
    clocked: bool
    inserted: int
    changed: int
    hourly_rate: float
    lumpsum_service_id: int | None
    amount: float


class Org:
    """The agency. Dimensions are attributes; time entries come from `entries_for` / `window`."""

    def __init__(self, options: OrgOptions | None = None) -> None:
        self.options = o = options or OrgOptions()
        self.anchor = o.anchor or datetime.now(UTC).date()
        self.first_day = self.anchor - timedelta(days=o.history_days)
        self.days = o.history_days
        self.founded = self.first_day - timedelta(days=3 * 365)
        self._key = mix(o.seed * 0x1F123BB5 + 7)
        rng = random.Random(o.seed)
        self.services = orgdata.make_services(max(2, o.services))
        self.lumpsum_services = orgdata.make_lumpsum_services()
        self.texts = orgdata.make_texts(self.services)
        self.holidays = orgdata.make_holidays(self.anchor.year - 1)
        self.clients, self.projects = orgdata.make_clients_projects(
            rng, o.clients, self.services, self.first_day, self.anchor
        )
        self.people, self.teams = orgdata.make_people_teams(
            rng, max(1, o.users), o.teams, o.owner_email, o.domain, self.projects, self.first_day, self.anchor
        )
        self.holiday_on = self._holiday_dates()
        years = range(self.first_day.year, self.anchor.year + 1)
        self.absences = orgdata.make_absences(o.seed, self.people, self.holiday_on, years, self.anchor)
        self.client_by_id = {c.id: c for c in self.clients}
        self.project_by_id = {p.id: p for p in self.projects}
        self.service_by_id = {s.id: s for s in self.services}
        self.person_by_id = {p.id: p for p in self.people}
        self.text_by_id = dict(self.texts)
        self._texts_by_service: dict[int, list[int]] = {}
        for (tid, _), sid in zip(self.texts, self._text_services(), strict=True):
            self._texts_by_service.setdefault(sid, []).append(tid)
        self._billed_before = day_ts(self.anchor.replace(day=1) - timedelta(days=31))
        self._build_counts()

    def _text_services(self) -> list[int]:
        # texts are numbered service by service, TEXTS_PER_SERVICE each
        per = orgdata.TEXTS_PER_SERVICE
        return [self.services[(tid - orgdata.TEXT_BASE - 1) // per].id for tid, _ in self.texts]

    # -- calendar -------------------------------------------------------------------------------
    def holidays_in(self, year: int) -> list[tuple[Holiday, date]]:
        out = [(h, d) for h in self.holidays if (d := h.date_in(year)) is not None]
        return sorted(out, key=lambda pair: pair[1])

    def _holiday_dates(self) -> dict[date, Holiday]:
        years = range(self.founded.year, self.anchor.year + 2)
        return {d: h for y in years for h, d in self.holidays_in(y)}

    def day(self, index: int) -> date:
        return self.first_day + timedelta(days=index)

    def day_index(self, ts: int) -> int:
        """Index of the day containing epoch second `ts` (may fall outside 0..days-1)."""
        return (ts - day_ts(self.first_day)) // DAY

    # -- entry counts ---------------------------------------------------------------------------
    def _build_counts(self) -> None:
        n_days, n_users = self.days, len(self.people)
        weekday = (np.arange(n_days) + self.first_day.weekday()) % 7
        weekend = weekday >= 5
        holidays = [self.holiday_on.get(self.day(d)) for d in range(n_days)]
        half = np.array([bool(h and h.half_day) for h in holidays])
        full_holiday = np.array([bool(h and not h.half_day) for h in holidays])
        employed = np.zeros((n_days, n_users), dtype=bool)
        scheduled = np.zeros((n_days, n_users), dtype=np.float64)
        for u, p in enumerate(self.people):
            lo = max(0, (p.start_date - self.first_day).days)
            hi = n_days if p.exit_date is None else min(n_days, (p.exit_date - self.first_day).days + 1)
            employed[lo:hi, u] = True
            for sch in p.schedules:
                lo = max(0, (sch.since - self.first_day).days)
                hi = n_days if sch.until is None else min(n_days, (sch.until - self.first_day).days + 1)
                if lo < hi:
                    scheduled[lo:hi, u] = np.asarray(sch.hours)[weekday[lo:hi]]
        scheduled[full_holiday] = 0.0
        scheduled[~employed] = 0.0
        blocked = np.zeros((n_days, n_users), dtype=bool)
        reduced = np.zeros((n_days, n_users), dtype=bool)
        col = {p.id: u for u, p in enumerate(self.people)}
        for a in self.absences:
            if a.status != "approved" or a.kind not in orgdata.BLOCKING | {"overtime_reduction"}:
                continue
            lo, hi = (a.start - self.first_day).days, (a.end - self.first_day).days + 1
            lo, hi = max(lo, 0), min(hi, n_days)
            if lo < hi:
                (reduced if a.kind == "overtime_reduction" else blocked)[lo:hi, col[a.user_id]] = True
        cells = np.arange(n_days, dtype=np.uint64)[:, None] * np.uint64(0x9E37)
        cells = cells + np.arange(n_users, dtype=np.uint64)[None, :] * np.uint64(0x1000193)
        bits = _np_mix(cells + np.uint64(self._key))
        unit = (bits >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        weekend_work = ((bits & np.uint64(0xFF)) < np.uint64(8)) & weekend[:, None] & employed

        def counts_for(per_day: float) -> np.ndarray:
            c = np.floor(per_day - 2 + 5 * unit).clip(min=1)
            c = np.where(scheduled > 0, c, 0)
            c = np.where(half[:, None] | reduced, np.ceil(c / 2), c)
            c = np.where(weekend_work & (scheduled == 0), 1 + (unit > 0.7), c)
            return np.where(blocked | ~employed, 0, c).astype(np.uint8)

        per_day = min(MAX_PER_DAY, self.options.entries_per_day)
        counts = counts_for(per_day)
        for _ in range(3):  # the mean is not linear in per_day because of the clip; converge instead
            if not self.options.target_entries or not counts.sum():
                break
            per_day = min(MAX_PER_DAY, per_day * self.options.target_entries / float(counts.sum()))
            counts = counts_for(per_day)
        self.entries_per_day = per_day
        self.counts = counts
        flat = counts.ravel().astype(np.int64)
        self.offsets = np.concatenate(([0], np.cumsum(flat)))  # offsets[cell] = entries before cell
        self.entry_count = int(self.offsets[-1])

    # -- entries --------------------------------------------------------------------------------
    @lru_cache(maxsize=8192)  # noqa: B019 - the Org lives as long as the app; cells repeat across pages
    def entries_for(self, user_index: int, day_index: int) -> tuple[TimeEntry, ...]:
        """The entries of one person on one day, in time order (regenerated, cached a little)."""
        if not (0 <= day_index < self.days) or not (0 <= user_index < len(self.people)):
            return ()
        n = int(self.counts[day_index, user_index])
        if n == 0:
            return ()
        person, day = self.people[user_index], self.day(day_index)
        first_id = ENTRY_BASE + 1 + int(self.offsets[day_index * len(self.people) + user_index])
        h = mix(self._key ^ (user_index * 0x100000001B3) ^ (day_index * 0xC2B2AE3D27D4EB4F))
        running = [self.project_by_id[pid] for pid in person.portfolio]
        running = [p for p in running if p.running(day)] or [self.projects[0]]
        n_running = len(running)
        total = int((person.hours_on(day) or 2.0) * 3600) + ((h >> 8) % 5 - 2) * 900
        hs = [mix(h + k * 0x9E3779B97F4A7C15) for k in range(n)]
        wsum = sum(1 + (x & 7) for x in hs)
        start = day_ts(day) + 6 * 3600 + (h % 8) * 900  # 06:00-07:45 UTC: inside the local day
        billed_before = self._billed_before
        texts_by_service = self._texts_by_service
        lunch_after = n // 2 - 1
        # busy days (benchmark sizes) use 5-minute quanta and no short gaps, so a day never spills over
        quantum, gap = (900, 300) if n <= 16 else (300, 0)
        out: list[TimeEntry] = []
        for k, hk in enumerate(hs):
            project = running[(hk >> 3) % n_running]
            services = project.service_ids
            service_id = services[(hk >> 8) % len(services)]
            clocked = (hk >> 28) % 3 == 0
            length = total * (1 + (hk & 7)) // wsum // quantum * quantum
            length = quantum if length < quantum else 14_400 if length > 14_400 else length
            if clocked:  # clocked entries end on odd seconds, manual ones on quarter hours
                length -= (hk >> 40) % (quantum // 2)
            texts = texts_by_service[service_id]
            text_id = texts[(hk >> 12) % len(texts)] if (hk >> 20) % 10 else None
            billable = project.billable and (hk >> 24) % 10 != 0
            billed = billable and start < billed_before and (hk >> 48) % 30 != 0
            kind, amount, lumpsum_id, end = "time", 0.0, None, start + length
            if k == n - 1 and n > 1 and (hk >> 32) % 40 == 0:
                end = start  # lump sums carry no duration
                if (hk >> 38) % 3 == 0:
                    kind, amount = "lumpsum_value", float(25 * (1 + (hk >> 50) % 10))
                else:
                    kind, lumpsum_id = "lumpsum_service", self.lumpsum_services[(hk >> 54) % 2].id
                    amount = float(10 + (hk >> 50) % 110)
            inserted = start if clocked else end + 60 * ((hk >> 44) % 2880)
            changed = inserted + (DAY * (1 + (hk >> 56) % 9) if (hk >> 52) % 10 == 0 else 0)
            out.append(
                TimeEntry(
                    first_id + k, person.id, project.client_id, project.id,
                    None if lumpsum_id else service_id, kind, start, end,
                    billable, billed, text_id, clocked, inserted, changed,
                    project.hourly_rate, lumpsum_id, amount,
                )
            )  # fmt: skip
            start = end + (1800 + 900 * ((hk >> 36) % 3) if k == lunch_after else gap * ((hk >> 58) % 3))
        return tuple(out)

    def entry_by_id(self, entry_id: int) -> TimeEntry | None:
        """A generated entry by id, or None (O(log n))."""
        i = entry_id - ENTRY_BASE - 1
        if not 0 <= i < self.entry_count:
            return None
        cell = int(np.searchsorted(self.offsets, i, side="right")) - 1
        day_index, user_index = divmod(cell, len(self.people))
        return self.entries_for(user_index, day_index)[i - int(self.offsets[cell])]

    def window(self, since: int, until: int, user_ids: set[int] | None = None) -> EntryWindow:
        """Generated entries overlapping [since, until) for some people, addressable by position."""
        return EntryWindow(self, since, until, user_ids)

    def describe(self) -> dict[str, object]:
        return {
            "seed": self.options.seed,
            "anchor": self.anchor.isoformat(),
            "first_day": self.first_day.isoformat(),
            "last_day": self.day(self.days - 1).isoformat(),
            "users": len(self.people),
            "teams": len(self.teams),
            "clients": len(self.clients),
            "projects": len(self.projects),
            "services": len(self.services),
            "absences": len(self.absences),
            "entries": self.entry_count,
            "entries_per_day": round(self.entries_per_day, 3),
            "entry_ids": [ENTRY_BASE + 1, ENTRY_BASE + self.entry_count],
        }


def overlaps(e: TimeEntry, since: int, until: int) -> bool:
    """Window rule: the entry overlaps [since, until); a zero-length entry must start inside it."""
    if e.end == e.start:
        return since <= e.start < until
    return e.start < until and e.end > since


class EntryWindow:
    """The generated entries of a window in id order; `slice` costs O(page), not O(window)."""

    def __init__(self, org: Org, since: int, until: int, user_ids: set[int] | None) -> None:
        self.org = org
        self._n_users = len(org.people)
        cols = [u for u, p in enumerate(org.people) if user_ids is None or p.id in user_ids]
        d0, d1 = max(0, org.day_index(since)), min(org.days - 1, org.day_index(until - 1))
        self.d0, self.cols, self._col_pos = d0, cols, {u: j for j, u in enumerate(cols)}
        self._picked: dict[tuple[int, int], tuple[int, ...]] = {}
        if d0 > d1 or not cols or until <= since:
            self._cells, self._cum, self.total = np.zeros(0, np.int64), np.zeros(1, np.int64), 0
            return
        sub = org.counts[d0 : d1 + 1][:, cols].astype(np.int64)
        base = day_ts(org.first_day)
        for d in {d0, d1}:  # only the two edge days can be cut by the window
            if since > base + d * DAY or until < base + (d + 1) * DAY:
                for j, u in enumerate(cols):
                    if sub[d - d0, j]:
                        ents = org.entries_for(u, d)
                        picked = tuple(k for k, e in enumerate(ents) if overlaps(e, since, until))
                        self._picked[(d, u)] = picked
                        sub[d - d0, j] = len(picked)
        flat = sub.ravel()
        nz = np.flatnonzero(flat)
        self._cells = nz
        self._cum = np.concatenate(([0], np.cumsum(flat[nz])))
        self.total = int(self._cum[-1])

    def _cell_entries(self, i: int) -> list[TimeEntry]:
        d, j = divmod(int(self._cells[i]), len(self.cols))
        d, u = d + self.d0, self.cols[j]
        ents = self.org.entries_for(u, d)
        picked = self._picked.get((d, u))
        return list(ents) if picked is None else [ents[k] for k in picked]

    def slice(self, start: int, stop: int) -> list[TimeEntry]:
        """Entries at positions [start, stop) of the window."""
        stop = min(stop, self.total)
        if start >= stop:
            return []
        i = int(np.searchsorted(self._cum, start, side="right")) - 1
        pos = start - int(self._cum[i])
        out: list[TimeEntry] = []
        while len(out) < stop - start:
            out.extend(self._cell_entries(i)[pos : pos + stop - start - len(out)])
            i, pos = i + 1, 0
        return out

    def position_of(self, e: TimeEntry) -> int | None:
        """Position of a generated entry in this window, or None when it is not part of it."""
        u = e.user_id - USER_BASE - 1
        j = self._col_pos.get(u)
        d = self.org.day_index(e.start)
        if j is None or self.total == 0:
            return None
        cell = (d - self.d0) * len(self.cols) + j
        i = int(np.searchsorted(self._cells, cell))
        if i >= len(self._cells) or int(self._cells[i]) != cell:
            return None
        k = e.id - ENTRY_BASE - 1 - int(self.org.offsets[d * self._n_users + u])
        picked = self._picked.get((d, u))
        if picked is not None:
            if k not in picked:
                return None
            k = picked.index(k)
        return int(self._cum[i]) + k


def lump_sum_cells(org: Org) -> np.ndarray:
    """(days, people) bool array: True where a cell's last entry is a lump sum, not a time entry.

    Mirrors the lump-sum rule of `Org.entries_for` with array arithmetic (splitmix64 wraps the same
    way on uint64 arrays as on masked Python ints), so a sandbox that renders lump sums elsewhere
    (Clockify: as expenses) can count a cell's time entries without generating it. A test checks
    both stay in step.
    """
    d = np.arange(org.counts.shape[0], dtype=np.uint64)[:, None] * np.uint64(0xC2B2AE3D27D4EB4F)
    u = np.arange(org.counts.shape[1], dtype=np.uint64)[None, :] * np.uint64(0x100000001B3)
    h = _np_mix((u ^ np.uint64(org._key)) ^ d)
    n = org.counts.astype(np.uint64)
    last = np.where(n > 0, n - np.uint64(1), np.uint64(0))
    hk = _np_mix(h + last * np.uint64(0x9E3779B97F4A7C15))
    return (org.counts > 1) & ((hk >> np.uint64(32)) % np.uint64(40) == 0)
