"""`GET /v2/time_entries`: generated entries in Harvest's shape, merged with admin edits, paged lazily.

Order: `spent_date` newest first (the reference: "sorted by spent_date", direction UNCONFIRMED), then
id newest first; admin-inserted or edited entries come first within their day.

A request's generated entries are a `Kept` sequence: a prefix of the `DayIndex` (positions taken
wholesale, minus the few entries admin edits shadow) followed by explicit ids found in the ledger's
arrays. Without content filters everything is prefix (a page costs O(page)); `updated_since` alone
only looks at the ~two weeks of days before it; client/project/task/is_billed/external reference
filters read the ledger arrays of the window (vectorised, cached per query).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from sandbox.common import RawJSON, SandboxState, iso_utc
from sandbox.harvest.billing import approved_before, invoice_ref, lock
from sandbox.harvest.expenses import nested_user_assignment
from sandbox.harvest.ledger import DayIndex, Kept, Ledger, rounded
from sandbox.harvest.params import Query, invalid, not_found, page_meta, raw_envelope
from sandbox.harvest.records import ref
from sandbox.listing import public
from sandbox.org import TimeEntry, day_ts, mix
from sandbox.orgdata import ENTRY_BASE

Record = dict[str, Any]
CONTENT = ("client_id", "project_id", "task_id", "is_billed", "external_reference_id")


_HM = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]


@lru_cache(maxsize=8192)
def _utc_offset(tz: str, day_number: int) -> int:
    noon = datetime.fromtimestamp(day_number * 86_400 + 43_200, UTC)
    return int(noon.astimezone(ZoneInfo(tz)).utcoffset().total_seconds())  # type: ignore[union-attr]


def local_time(tz: str, ts: int) -> str:
    """`HH:MM` on the company's 24-hour clock in the person's time zone."""
    return _HM[(ts + _utc_offset(tz, ts // 86_400)) % 86_400 // 60]


def _js(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _b(flag: bool) -> str:
    return "true" if flag else "false"


_REASONS = {
    (b, c): "null" if lock(b, c) is None else _js(lock(b, c)) for b in (False, True) for c in (False, True)
}


def parse_iso(value: Any) -> int | None:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(when.timestamp()) if when.tzinfo else int(when.replace(tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Filters:
    since: int | None = None
    day_from: date | None = None
    day_to: date | None = None
    users: frozenset[int] | None = None
    client_id: int | None = None
    project_id: int | None = None
    task_id: int | None = None
    is_billed: bool | None = None
    is_running: bool | None = None
    external_reference_id: str | None = None

    def content(self) -> bool:
        return any(getattr(self, name) is not None for name in CONTENT)

    def matches(self, r: Record) -> bool:
        """The same filters on a wire record (admin-inserted or edited entries)."""
        day = str(r.get("spent_date"))
        if (self.day_from and day < self.day_from.isoformat()) or (
            self.day_to and day > self.day_to.isoformat()
        ):
            return False
        for name, path in (("client_id", "client"), ("project_id", "project"), ("task_id", "task")):
            wanted = getattr(self, name)
            if wanted is not None and (r.get(path) or {}).get("id") != wanted:
                return False
        if self.users is not None and (r.get("user") or {}).get("id") not in self.users:
            return False
        if self.is_billed is not None and bool(r.get("is_billed")) != self.is_billed:
            return False
        if self.is_running is not None and bool(r.get("is_running")) != self.is_running:
            return False
        ext = r.get("external_reference") or {}
        if self.external_reference_id is not None and ext.get("id") != self.external_reference_id:
            return False
        updated = parse_iso(r.get("updated_at"))
        return self.since is None or (updated is not None and updated >= self.since)


class TimeEntries:
    """Renders and lists time entries for one sandbox."""

    def __init__(self, state: SandboxState, ledger: Ledger, dims: Callable[[str], list[Record]]) -> None:
        self.state, self.org, self.ledger, self.dims = state, state.org, ledger, dims
        self.closed_before = approved_before(self.org)
        self.first_ts = day_ts(self.org.first_day)
        self.closed_index = (self.closed_before - self.org.first_day).days
        self._notes: dict[int | None, str] = {}
        self._invoices: dict[tuple[int, int], str] = {}
        self.dev_tasks = {s.id for s in self.org.services if s.name.startswith("Development")}
        self._refs: tuple[int, dict[str, Any]] | None = None
        self._extras: tuple[int, list[Record]] | None = None
        self._indexes: OrderedDict[tuple[Any, ...], DayIndex] = OrderedDict()
        self._explicit: OrderedDict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    # -- rendering ------------------------------------------------------------------------------
    def refs(self) -> dict[str, Any]:
        """Nested objects from the current (edited) dimensions, rebuilt when the overlay changes."""
        version = self.state.overlay.version
        if self._refs is None or self._refs[0] != version:
            users = self.dims("users")
            self._refs = (version, {
                "user": {u["id"]: {"id": u["id"], "name": f"{u['first_name']} {u['last_name']}".strip()} for u in users},
                "cost": {u["id"]: u.get("cost_rate") for u in users},
                "client": {c["id"]: ref(c, "id", "name", "currency") for c in self.dims("clients")},
                "project": {p["id"]: ref(p, "id", "name", "code") for p in self.dims("projects")},
                "budgeted": {p["id"]: p.get("budget") is not None for p in self.dims("projects")},
                "task": {t["id"]: ref(t, "id", "name") for t in self.dims("tasks")},
                "ua": {(r["user"]["id"], r["project"]["id"]): nested_user_assignment(r)
                       for r in self.dims("user_assignments")},
                "ta": {(r["project"]["id"], r["task"]["id"]): ref(r, "id", "billable", "is_active", "created_at",
                                                                  "updated_at", "hourly_rate", "budget")
                       for r in self.dims("task_assignments")},
            })  # fmt: skip
            refs = self._refs[1]
            refs["js"] = {name: {k: _js(v) for k, v in refs[name].items()}
                          for name in ("user", "cost", "client", "project", "task", "ua", "ta")}  # fmt: skip
        return self._refs[1]

    def external_reference(self, e: TimeEntry) -> Record | None:
        """Some development entries link a GitHub issue (Harvest's external references)."""
        if e.service_id not in self.dev_tasks or mix(e.id) % 6:
            return None
        code, number = self.org.project_by_id[e.project_id].number.lower(), 100 + mix(e.id * 3) % 900
        return {
            "id": str(number), "group_id": str(e.project_id), "account_id": "couplet-agency",
            "permalink": f"https://github.com/couplet-agency/{code}/issues/{number}", "service": "github.com",
            "service_icon_url": "https://github.githubassets.com/favicons/favicon.png",
        }  # fmt: skip

    def render(self, e: TimeEntry) -> Record:
        r, person = self.refs(), self.org.person_by_id[e.user_id]
        day = self.org.day((e.start - self.first_ts) // 86_400)
        seconds = e.end - e.start
        closed = day < self.closed_before
        invoice = invoice_ref(self.org, e.client_id, day) if e.billed else None
        return {
            "id": e.id, "spent_date": day.isoformat(), "hours": round(seconds / 3600, 2),
            "hours_without_timer": round(seconds / 3600, 2), "rounded_hours": rounded(seconds),
            "notes": self.org.text_by_id.get(e.text_id) if e.text_id else None,
            "is_locked": e.billed or closed, "locked_reason": lock(e.billed, closed), "is_closed": closed,
            "is_billed": e.billed, "timer_started_at": None, "started_time": local_time(person.timezone, e.start),
            "ended_time": local_time(person.timezone, e.end), "is_running": False, "billable": e.billable,
            "budgeted": r["budgeted"].get(e.project_id, False),
            "billable_rate": e.hourly_rate if e.billable else None, "cost_rate": r["cost"].get(e.user_id),
            "created_at": iso_utc(e.inserted), "updated_at": iso_utc(e.changed),
            "user": r["user"].get(e.user_id), "client": r["client"].get(e.client_id),
            "project": r["project"].get(e.project_id), "task": r["task"].get(e.service_id),
            "user_assignment": r["ua"].get((e.user_id, e.project_id)),
            "task_assignment": r["ta"].get((e.project_id, e.service_id)),
            "invoice": {"id": invoice[0], "number": invoice[1]} if invoice else None,
            "external_reference": self.external_reference(e),
        }  # fmt: skip

    def encode(self, e: TimeEntry) -> str:
        """`render(e)` as JSON text, for the hot listing path (a test checks both agree).

        Nested objects come pre-encoded from `refs`; building and dumping 2,000 dicts per page cost
        about ten times as much.
        """
        refs, tz = self.refs(), self.org.person_by_id[e.user_id].timezone
        js = refs["js"]
        d, seconds, billed = (e.start - self.first_ts) // 86_400, e.end - e.start, e.billed
        closed, hours = d < self.closed_index, round(seconds / 3600, 2)
        ext = self.external_reference(e)
        pair = (e.user_id, e.project_id), (e.project_id, e.service_id)
        rate = repr(e.hourly_rate) if e.billable else "null"
        return (
            f'{{"id":{e.id},"spent_date":"{iso_utc(e.start)[:10]}","hours":{hours!r},"hours_without_timer":{hours!r},'
            f'"rounded_hours":{rounded(seconds)!r},"notes":{self._note(e.text_id)},"is_locked":{_b(billed or closed)},'
            f'"locked_reason":{_REASONS[billed, closed]},"is_closed":{_b(closed)},'
            f'"is_billed":{_b(billed)},"timer_started_at":null,"started_time":"{local_time(tz, e.start)}",'
            f'"ended_time":"{local_time(tz, e.end)}","is_running":false,"billable":{_b(e.billable)},'
            f'"budgeted":{_b(refs["budgeted"].get(e.project_id, False))},'
            f'"billable_rate":{rate},"cost_rate":{js["cost"].get(e.user_id, "null")},'
            f'"created_at":"{iso_utc(e.inserted)}","updated_at":"{iso_utc(e.changed)}",'
            f'"user":{js["user"].get(e.user_id, "null")},"client":{js["client"].get(e.client_id, "null")},'
            f'"project":{js["project"].get(e.project_id, "null")},"task":{js["task"].get(e.service_id, "null")},'
            f'"user_assignment":{js["ua"].get(pair[0], "null")},"task_assignment":{js["ta"].get(pair[1], "null")},'
            f'"invoice":{self._invoice(e.client_id, d) if billed else "null"},'
            f'"external_reference":{"null" if ext is None else _js(ext)}}}'
        )

    def _note(self, text_id: int | None) -> str:
        if text_id not in self._notes:
            self._notes[text_id] = _js(self.org.text_by_id.get(text_id) if text_id else None)
        return self._notes[text_id]

    def _invoice(self, client_id: int, day_index: int) -> str:
        key = (client_id, day_index)
        if key not in self._invoices:
            found = invoice_ref(self.org, client_id, self.org.day(day_index))
            self._invoices[key] = "null" if found is None else _js({"id": found[0], "number": found[1]})
        return self._invoices[key]

    # -- admin overlay --------------------------------------------------------------------------
    def generated(self, entry_id: int) -> TimeEntry | None:
        e = self.org.entry_by_id(entry_id)
        return e if e is not None and e.kind == "time" else None

    def generated_row(self, entry_id: int) -> Record | None:
        base = self.generated(entry_id)
        return None if base is None else self.render(base)

    def current(self, entry_id: int) -> Record | None:
        """The wire record with admin edits applied, or None (deleted, unknown, or a lump sum)."""
        return self.state.overlay.current("time_entries", entry_id, self.generated_row)

    def extras(self) -> list[Record]:
        """Inserted and edited entries as wire records, newest spent_date first."""
        overlay = self.state.overlay
        if self._extras is None or self._extras[0] != overlay.version:
            rows = overlay.edited("time_entries", self.generated_row)
            rows.sort(key=lambda r: (str(r.get("spent_date")), r["id"]), reverse=True)
            self._extras = (overlay.version, rows)
        return self._extras[1]

    def next_id(self) -> int:
        return self.state.overlay.next_id("time_entries", ENTRY_BASE + self.org.entry_count)

    # -- listing --------------------------------------------------------------------------------
    def filters(self, q: Query, own_user: int | None) -> Filters:
        users = None if (uid := q.integer("user_id")) is None else {uid}
        if own_user is not None:  # a member sees their own entries only
            users = (users or {own_user}) & {own_user}
        f = Filters(q.timestamp("updated_since"), q.day("from"), q.day("to"),
                    None if users is None else frozenset(users), q.integer("client_id"), q.integer("project_id"),
                    q.integer("task_id"), q.flag("is_billed"), q.flag("is_running"), q.text("external_reference_id"))  # fmt: skip
        if f.day_from and f.day_to and f.day_to < f.day_from:
            raise invalid("to must not be before from")
        return f

    def listing(self, q: Query, own_user: int | None) -> RawJSON:
        f = self.filters(q, own_user)
        per_page, page = q.per_page(), q.page()
        kept = self._kept(f)
        extras = [r for r in self.extras() if f.matches(r)]
        first_day = self.org.first_day
        merged = [kept.newer_than((date.fromisoformat(str(r["spent_date"])) - first_day).days) + j
                  for j, r in enumerate(extras)]  # fmt: skip
        start, stop = (page - 1) * per_page, page * per_page
        lo, hi = bisect_left(merged, start), bisect_left(merged, stop)
        gen = kept.fetch(start - lo, stop - hi, self.state.overlay.touched("time_entries"), self.generated)
        parts: list[str] = []
        gen_iter, j = iter(gen), lo
        for pos in range(start, min(stop, kept.count + len(extras))):
            if j < hi and merged[j] == pos:
                parts.append(_js(public(extras[j])))
                j += 1
            else:
                parts.append(self.encode(next(gen_iter)))
        meta = page_meta(q, kept.count + len(extras), page, per_page)
        return RawJSON(raw_envelope("time_entries", parts, meta))

    def get(self, entry_id: int, own_user: int | None) -> Record:
        row = self.current(entry_id)
        if row is None or (own_user is not None and (row.get("user") or {}).get("id") != own_user):
            raise not_found("Time entry")
        return public(row)

    def _index(self, d0: int, d1: int, cols: tuple[int, ...]) -> DayIndex:
        key = (d0, d1, cols)
        if key not in self._indexes:  # a client pages through one window: build its counts once
            self._indexes[key] = DayIndex(self.ledger, d0, d1, list(cols))
            if len(self._indexes) > 8:
                self._indexes.popitem(last=False)
        self._indexes.move_to_end(key)
        return self._indexes[key]

    def _kept(self, f: Filters) -> Kept:
        org = self.org
        d0 = 0 if f.day_from is None else (f.day_from - org.first_day).days
        d1 = org.days - 1 if f.day_to is None else (f.day_to - org.first_day).days
        cols = tuple(u for u, p in enumerate(org.people) if f.users is None or p.id in f.users)
        index = self._index(d0, d1, cols)
        if f.is_running:  # generated entries are never running
            return Kept(index, 0)
        touched = self.state.overlay.touched("time_entries")
        if not f.content() and f.since is None:
            prefix = index.total
        elif not f.content():
            some_from, all_from = self.ledger.since_days(f.since or 0)
            prefix = index.newer_than(all_from - 1)
            d0, d1 = max(d0, some_from), min(d1, all_from - 1)
        else:
            prefix = 0
            if f.since is not None:
                d0 = max(d0, self.ledger.since_days(f.since)[0])
        kept = Kept(index, prefix)
        kept.skipped = sorted(
            pos for i in touched
            if (e := self.generated(i)) is not None and (pos := index.position_of(e)) is not None and pos < prefix
        )  # fmt: skip
        if f.content() or f.since is not None:
            kept.ids, kept.days = self._explicit_rows(f, d0, d1, cols, touched)
        return kept

    def _explicit_rows(
        self, f: Filters, d0: int, d1: int, cols: tuple[int, ...], touched: set[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        key = (f, d0, d1, cols, self.state.overlay.version)
        if key in self._explicit:
            self._explicit.move_to_end(key)
            return self._explicit[key]
        rows = self.ledger.rows(d0, d1)
        mask = np.ones(len(rows), dtype=bool)
        if f.users is not None:
            mask &= np.isin(rows["user"], list(f.users))
        for name, column in (("client_id", "client"), ("project_id", "project"), ("task_id", "task")):
            if getattr(f, name) is not None:
                mask &= rows[column] == getattr(f, name)
        if f.is_billed is not None:
            mask &= rows["billed"] == int(f.is_billed)
        if f.since is not None:
            mask &= rows["changed"] >= f.since
        if touched:
            mask &= ~np.isin(rows["id"], list(touched))
        rows = rows.take(mask)
        if f.external_reference_id is not None:
            keep = [i for i, eid in enumerate(rows["id"].tolist())
                    if (e := self.generated(eid)) is not None and (x := self.external_reference(e))
                    and x["id"] == f.external_reference_id]  # fmt: skip
            rows = rows.take(np.array(keep, dtype=np.int64))
        result = (rows["id"][::-1].copy(), rows["day"][::-1].copy())
        self._explicit[key] = result
        if len(self._explicit) > 16:
            self._explicit.popitem(last=False)
        return result
