"""`GET /v2/entries`: generated entries rendered as EntryV2, merged with admin edits, paged lazily.

Without content filters a page costs O(page): the window's positions come from the org's per-day
counts, and the few generated entries that admin edits or deletes shadow are skipped by position.
Content filters (customers, projects, services, billable, text...) need a scan of the window once; the
matching positions are cached per query so the following pages are cheap again.

Order: generated entries by id (= by day, then user, then time), then admin-inserted or edited
entries by (time_since, id). The real API's order is not documented.
"""

from __future__ import annotations

import calendar
import json
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.clockodo.params import ApiError, Query, paging, simple_error
from sandbox.common import RawJSON, SandboxState, dumps, iso_utc
from sandbox.org import EntryWindow, TimeEntry
from sandbox.orgdata import ENTRY_BASE

Record = dict[str, Any]
MAX_PER_PAGE = 1000
ENHANCED_ONLY = (
    "text", "customers_name", "projects_name", "subprojects_name", "users_name", "services_name", "revenue",
    "lumpsum_services_price",
)  # fmt: skip
FILTER_IDS = (
    "users_id", "customers_id", "projects_id", "subprojects_id", "services_id", "lumpsum_services_id",
    "texts_id",
)  # fmt: skip
_KIND = {"time": 1, "lumpsum_value": 2, "lumpsum_service": 3}


def parse_ts(value: str | None) -> int | None:
    if value is None:
        return None
    return calendar.timegm(datetime.fromisoformat(value.replace("Z", "+00:00")).utctimetuple())


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class Names:
    """Current names (after admin edits) for the enhanced list, also pre-encoded as JSON."""

    def __init__(self, dims: Callable[[str], list[Record]]) -> None:
        self.customers = {r["id"]: r["name"] for r in dims("customers")}
        self.projects = {r["id"]: r["name"] for r in dims("projects")}
        self.users = {r["id"]: r["name"] for r in dims("users")}
        self.services = {r["id"]: r["name"] for r in dims("services")}
        self.lumpsum_prices = {r["id"]: r["price"] for r in dims("lumpsum_services")}
        self.js = {
            kind: {k: _js(v) for k, v in names.items()}
            for kind, names in (("customers", self.customers), ("projects", self.projects),
                                ("users", self.users), ("services", self.services))
        }  # fmt: skip


class Entries:
    """Renders and lists entries for one sandbox state."""

    def __init__(self, state: SandboxState, dims: Callable[[str], list[Record]]) -> None:
        self.state, self.org, self.dims = state, state.org, dims
        self._scans: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()
        self._extras_version = -1
        self._extras: list[Record] = []
        self._by_user_day: dict[tuple[Any, date], list[Record]] = {}
        self._names: tuple[int, Names] | None = None
        self._texts_js: dict[int | None, str] = {}
        self._windows: OrderedDict[tuple[Any, ...], EntryWindow] = OrderedDict()

    # -- rendering ------------------------------------------------------------------------------
    def names(self) -> Names:
        version = self.state.overlay.version
        if self._names is None or self._names[0] != version:
            self._names = (version, Names(self.dims))
        return self._names[1]

    def render(self, e: TimeEntry, with_text: bool) -> Record:
        """EntryV2 with full rights; with_text adds the text (names are added by `enhance`)."""
        kind = _KIND[e.kind]
        billable = 2 if e.billed else 1 if e.billable else 0
        row: Record = {
            "id": e.id, "customers_id": e.client_id, "projects_id": e.project_id, "subprojects_id": None,
            "users_id": e.user_id, "billable": billable if kind == 1 else max(billable, 1),
            "texts_id": e.text_id, "time_since": iso_utc(e.start), "time_until": iso_utc(e.end),
            "time_insert": iso_utc(e.inserted), "time_last_change": iso_utc(e.changed), "test_data": False,
            "type": kind,
        }  # fmt: skip
        if with_text:
            row["text"] = self.org.text_by_id.get(e.text_id) if e.text_id else None
        if kind == 1:
            row["services_id"] = e.service_id
            row["time_last_change_work_time"] = row["time_last_change"]
            row["time_clocked_since"] = row["time_since"] if e.clocked else None
            row["clocked_offline"] = False
            row["clocked"] = e.clocked
            row["duration"] = e.end - e.start
            row["hourly_rate"] = e.hourly_rate
        elif kind == 2:
            row["services_id"] = e.service_id
            row["lumpsum"] = e.amount
        else:
            row["lumpsum_services_id"] = e.lumpsum_service_id
            row["lumpsum_services_amount"] = e.amount
        return row

    def enhance(self, row: Record, names: Names) -> Record:
        """Add the enhanced_list fields (names, revenue, lump-sum price) from current dimensions."""
        kind = row.get("type", 1)
        row.setdefault("text", None)
        row["customers_name"] = names.customers.get(row.get("customers_id"), "")
        row["projects_name"] = names.projects.get(row.get("projects_id"))
        row["subprojects_name"] = None
        row["users_name"] = names.users.get(row.get("users_id"), "")
        if kind in (1, 2):
            row["services_name"] = names.services.get(row.get("services_id"), "")
        if kind == 1:
            paid = row.get("billable") in (1, 2) and row.get("duration")
            row["revenue"] = (
                round(row["duration"] / 3600 * (row.get("hourly_rate") or 0.0), 2) if paid else 0.0
            )
        elif kind == 2:
            row["revenue"] = float(row.get("lumpsum") or 0.0)
        else:
            price = names.lumpsum_prices.get(row.get("lumpsum_services_id"), 0.0)
            row["lumpsum_services_price"] = price
            row["revenue"] = round(price * float(row.get("lumpsum_services_amount") or 0.0), 2)
        return row

    def encode(self, e: TimeEntry, enhanced: bool, full: bool, names: Names | None) -> str:
        """`render` + `enhance` + `finish` + json.dumps in one step, for the hot listing path.

        Produces the same JSON object as the dict path (tests compare them); it exists because
        building and dumping 1000 dicts per page cost three times as much.
        """
        kind = _KIND[e.kind]
        billable = 2 if e.billed else 1 if e.billable else 0
        if kind != 1:
            billable = max(billable, 1)
        changed = iso_utc(e.changed)
        since = iso_utc(e.start)
        texts_id = "null" if e.text_id is None else e.text_id
        out = (
            f'{{"id":{e.id},"customers_id":{e.client_id},"projects_id":{e.project_id},"subprojects_id":null,'
            f'"users_id":{e.user_id},"billable":{billable},"texts_id":{texts_id},"time_since":"{since}",'
            f'"time_until":"{iso_utc(e.end)}","time_insert":"{iso_utc(e.inserted)}",'
            f'"time_last_change":"{changed}","test_data":false,"type":{kind}'
        )
        if enhanced:
            out += ',"text":' + self._text_js(e.text_id)
        if kind == 1:
            clocked = (
                f'"{since}","clocked_offline":false,"clocked":true'
                if e.clocked
                else ('null,"clocked_offline":false,"clocked":false')
            )
            out += (
                f',"services_id":{e.service_id},"time_last_change_work_time":"{changed}",'
                f'"time_clocked_since":{clocked},"duration":{e.end - e.start}'
            )
            if full:
                out += f',"hourly_rate":{e.hourly_rate!r}'
        elif kind == 2:
            out += f',"services_id":{e.service_id},"lumpsum":{e.amount!r}'
        else:
            out += f',"lumpsum_services_id":{e.lumpsum_service_id},"lumpsum_services_amount":{e.amount!r}'
        if not enhanced or names is None:
            return out + "}"
        js, empty = names.js, '""'
        customer = js["customers"].get(e.client_id, empty)
        out += (
            f',"customers_name":{customer},"projects_name":{js["projects"].get(e.project_id, "null")},'
            f'"subprojects_name":null,"users_name":{js["users"].get(e.user_id, empty)}'
        )
        if kind != 3:
            out += f',"services_name":{js["services"].get(e.service_id, empty)}'
        if kind == 1:
            revenue = (
                round((e.end - e.start) / 3600 * e.hourly_rate, 2) if billable and e.end > e.start else 0.0
            )
        elif kind == 2:
            revenue = e.amount
        else:
            price = names.lumpsum_prices.get(e.lumpsum_service_id, 0.0)
            out += f',"lumpsum_services_price":{price!r}'
            revenue = round(price * e.amount, 2)
        return out + (f',"revenue":{revenue!r}}}' if full else "}")

    def _text_js(self, text_id: int | None) -> str:
        if text_id not in self._texts_js:
            self._texts_js[text_id] = _js(self.org.text_by_id.get(text_id) if text_id else None)
        return self._texts_js[text_id]

    def finish(self, row: Record, enhanced: bool, full_rights: bool, names: Names | None) -> Record:
        if enhanced and names is not None:
            row = self.enhance(dict(row), names)
        else:
            row = {k: v for k, v in row.items() if k not in ENHANCED_ONLY}
        if not full_rights:
            row.pop("hourly_rate", None)
            row.pop("revenue", None)
        return row

    # -- admin overlay --------------------------------------------------------------------------
    def extras(self) -> list[Record]:
        """Admin-inserted entries and edited generated ones, as full wire records."""
        overlay = self.state.overlay
        if self._extras_version != overlay.version:
            rows = overlay.edited("entries", self.generated)
            rows.sort(key=lambda r: (r.get("time_since") or "", r["id"]))
            self._extras, self._extras_version = rows, overlay.version
            self._by_user_day = {}
            for r in rows:
                since = parse_ts(r.get("time_since"))
                if since is not None:
                    key = (r.get("users_id"), self.local_day(r.get("users_id"), since))
                    self._by_user_day.setdefault(key, []).append(r)
        return self._extras

    def local_day(self, user_id: Any, ts: int) -> date:
        """The date of ``ts`` in the person's time zone: day-based data (user-report days, work-time
        days) is in the user's local calendar (clockodo.md §4.2); an entry counts on the day it
        starts (the reference does not say how one crossing midnight is split). Generated entries
        lie inside their UTC day's local day (06:00-20:00 UTC), so their day index stays valid."""
        person = self.org.person_by_id.get(user_id)
        zone = ZoneInfo(person.timezone) if person is not None else UTC
        return datetime.fromtimestamp(ts, UTC).astimezone(zone).date()

    def of_user_day(self, user_id: int, day: date) -> list[Record]:
        """Wire records of one person's local day (generated minus shadowed, plus admin ones)."""
        self.extras()
        touched = self.state.overlay.touched("entries")
        u = next((i for i, p in enumerate(self.org.people) if p.id == user_id), None)
        rows = []
        if u is not None:
            gen = self.org.entries_for(u, (day - self.org.first_day).days)
            rows = [self.render(e, with_text=False) for e in gen if e.id not in touched]
        return rows + self._by_user_day.get((user_id, day), [])

    # -- listing --------------------------------------------------------------------------------
    def listing(self, q: Query, principal: Any) -> RawJSON:
        since, until = q.timestamp("time_since"), q.timestamp("time_until")
        assert since is not None and until is not None
        if until < since:
            raise q.error("time_until", "time_until must not be before time_since")
        enhanced = bool(q.flag("enhanced_list"))
        page, per_page = q.paging(MAX_PER_PAGE)
        filters: dict[str, set[Any]] = {}
        for name in FILTER_IDS:
            values = q.ints(name, "filter", nullable=name in ("projects_id", "subprojects_id", "texts_id"))
            if values is not None:
                filters[name] = values
        billable = q.ints("billable", "filter")
        if billable is not None:
            if not billable <= {0, 1, 2, 12}:
                raise q.error("filter[billable]")
            filters["billable"] = billable | ({1, 2} if 12 in billable else set())
        text = q.text("text", "filter")
        if text:
            filters["text"] = {text.lower()}
        if not principal.full_rights:  # a worker sees their own entries only
            filters["users_id"] = filters.get("users_id", {principal.user_id}) & {principal.user_id}
        users = filters.get("users_id")
        window = self._window(since, until, users)
        touched = self.state.overlay.touched("entries")
        extras = [r for r in self.extras() if self._matches(r, since, until, filters)]
        content = {k: v for k, v in filters.items() if k != "users_id"}
        start, stop = (page - 1) * per_page, page * per_page
        if content:
            positions = self._scan(window, since, until, filters, touched)
            generated = [window.slice(p, p + 1)[0] for p in positions[start:stop]]
            gen_total = len(positions)
        else:
            skipped = sorted(
                pos
                for i in touched
                if (e := self.org.entry_by_id(i)) and (pos := window.position_of(e)) is not None
            )
            gen_total = window.total - len(skipped)
            first = start
            for pos in skipped:  # map a position among kept entries to one among all entries
                if pos <= first:
                    first += 1
            wanted = max(0, min(stop, gen_total) - start)
            generated = [e for e in window.slice(first, first + wanted + len(skipped)) if e.id not in touched]
            generated = generated[:wanted]
        names = self.names() if enhanced else None
        full = principal.full_rights
        parts = [self.encode(e, enhanced, full, names) for e in generated]
        lo, hi = max(0, start - gen_total), max(0, stop - gen_total)
        parts += [dumps(self.finish(r, enhanced, full, names)).decode() for r in extras[lo:hi]]
        head = dumps({"paging": paging(gen_total + len(extras), page, per_page)}).decode()
        return RawJSON(head[:-1] + ',"entries":[' + ",".join(parts) + "]}")

    def _window(self, since: int, until: int, users: set[Any] | None) -> EntryWindow:
        # a connector pages through one window; its cumulative counts are built once, not per page
        key = (since, until, None if users is None else frozenset(users))
        if key not in self._windows:
            self._windows[key] = self.org.window(since, until, users)
            if len(self._windows) > 8:
                self._windows.popitem(last=False)
        self._windows.move_to_end(key)
        return self._windows[key]

    def _scan(
        self, window: EntryWindow, since: int, until: int, filters: dict[str, set[Any]], touched: set[int]
    ) -> list[int]:
        parts = tuple(sorted((k, tuple(sorted(v, key=str))) for k, v in filters.items()))
        key = (since, until, parts, self.state.overlay.version)
        if key in self._scans:
            self._scans.move_to_end(key)
            return self._scans[key]
        positions, with_text = [], "text" in filters
        for chunk in range(0, window.total, 5000):
            for i, e in enumerate(window.slice(chunk, chunk + 5000)):
                if e.id not in touched and self._matches(self.render(e, with_text), since, until, filters):
                    positions.append(chunk + i)
        self._scans[key] = positions
        if len(self._scans) > 16:
            self._scans.popitem(last=False)
        return positions

    @staticmethod
    def _matches(row: Record, since: int, until: int, filters: dict[str, set[Any]]) -> bool:
        start, end = parse_ts(row.get("time_since")), parse_ts(row.get("time_until"))
        if start is None:
            return False
        if end == start:
            if not since <= start < until:
                return False
        elif not (start < until and (end is None or end > since)):  # running entries have no end
            return False
        for name, wanted in filters.items():
            if name == "text":
                if next(iter(wanted)) not in (row.get("text") or "").lower():
                    return False
            elif row.get(name) not in wanted:
                return False
        return True

    def generated(self, entry_id: int) -> Record | None:
        """The full wire record of a generated entry, before admin edits."""
        base = self.org.entry_by_id(entry_id)
        return None if base is None else self.render(base, with_text=True)

    def current(self, entry_id: int) -> Record | None:
        """The current full wire record of an entry (admin edits applied), or None."""
        return self.state.overlay.current("entries", entry_id, self.generated)

    def get(self, entry_id: int, principal: Any, enhanced: bool) -> Record:
        row = self.current(entry_id)
        if row is None or (not principal.full_rights and row.get("users_id") != principal.user_id):
            raise ApiError(simple_error(404, f"Entry {entry_id} not found"))
        return self.finish(row, enhanced, principal.full_rights, self.names() if enhanced else None)

    def next_id(self) -> int:
        return self.state.overlay.next_id("entries", ENTRY_BASE + self.org.entry_count)
