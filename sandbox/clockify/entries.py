"""Time entries (reference §4.7): rendering, admin overlay, `user/{userId}/time-entries`, in-progress.

The org's time entries are Clockify time entries (its lump sums are expenses, see `finance`). A
user's list is newest first, filtered on the entry's *start* in `[start, end)`, both bounds read as
wall clock in the time zone of the user whose key makes the request (§3: "interpreted as wall clock
in the account's time zone, not as the UTC instant sent"). Without content filters a page costs
O(page); with them the window is scanned once and the matches are cached for the following pages.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from sandbox.clockify.ids import (
    Ids,
    duration,
    local_midnight,
    parse_duration,
    parse_instant,
    parse_wall_clock,
    rate,
)
from sandbox.clockify.params import MAX_PAGE_SIZE, Params, bad_request
from sandbox.clockify.records import (
    LOCATION_FIELD,
    WORKSPACE_RATE,
    cost_rate,
    task_number,
)
from sandbox.clockify.timeline import Item, Merged, Timeline
from sandbox.common import RawJSON, SandboxState, dumps, iso_utc
from sandbox.listing import public
from sandbox.org import TimeEntry, day_ts, lump_sum_cells, mix

Record = dict[str, Any]
NO_START, NO_END = -(1 << 40), 1 << 40
EMPTY = '""'
TAG_PICKS = (0, 0, 0, 0, 0, 1, 1, 2)  # how many tags an entry carries, by 3 bits of its hash


class TimeEntries:
    """Time entries of one sandbox: generated ones plus the admin overlay (`time_entries`)."""

    def __init__(self, state: SandboxState, ids: Ids, ws: str, dims: Callable[[str], list[Record]]) -> None:
        self.state, self.org, self.ids, self.ws, self.dims = state, state.org, ids, ws, dims
        self.with_durations: Callable[[str, list[Record]], list[Record]] = lambda entity, rows: rows
        org = self.org
        self.time_counts = org.counts.astype(np.int64) - lump_sum_cells(org)
        self.user_col = {p.id: u for u, p in enumerate(org.people)}
        # (user, UTC day number) of approved home-office days: entries there are worked "Home"
        self.home_office = {
            (a.user_id, day_ts(a.start) // 86_400 + i)
            for a in org.absences
            if a.kind == "home_office" and a.status == "approved"
            for i in range((a.end - a.start).days + 1)
        }
        # per-entry lookups, built once: rendering a 1000-entry page must stay cheap
        self._users = {p.id: (ids("user", p.id), rate(cost_rate(p))) for p in org.people}
        self._projects = {
            p.id: (ids("project", p.id), rate(p.hourly_rate if p.billable else WORKSPACE_RATE), p.billable)
            for p in org.projects
        }
        self._texts: dict[int | None, str] = {k: v for k, v in org.text_by_id.items()}
        # the same, pre-encoded as JSON for `encode`
        self._users_js = {k: (u, dumps(c).decode()) for k, (u, c) in self._users.items()}
        self._projects_js = {k: (pid, dumps(r).decode(), b) for k, (pid, r, b) in self._projects.items()}
        self.texts_js = {k: dumps(v).decode() for k, v in self._texts.items()}
        self._tags = [ids("tag", t + 1) for t in range(5)]
        self._location_field = ids("custom_field", LOCATION_FIELD)
        self._extras: tuple[int, list[Record], dict[str, int]] = (-1, [], {})
        self._timelines: OrderedDict[tuple[Any, ...], Timeline] = OrderedDict()
        self._scans: OrderedDict[tuple[Any, ...], list[Item]] = OrderedDict()

    # -- rendering ------------------------------------------------------------------------------
    def wire(self, item: Item) -> Record:
        """An entry in the regular API's shape (a copy for admin entries)."""
        if not isinstance(item, TimeEntry):
            return public(item)
        e, ids = item, self.ids
        eid = ids("time_entry", e.id)
        project_id, hourly, billable_project = self._projects[e.project_id]
        user_id, cost = self._users[e.user_id]
        return {
            "id": eid, "description": self._texts.get(e.text_id, ""), "userId": user_id, "workspaceId": self.ws,
            "projectId": project_id,
            "taskId": ids("task", task_number(e.project_id, e.service_id)) if e.service_id else None,
            "kioskId": None, "tagIds": self.tag_ids(e), "billable": e.billable, "isLocked": e.billed,
            "type": "REGULAR",
            "timeInterval": {"start": iso_utc(e.start), "end": iso_utc(e.end), "duration": duration(e.end - e.start)},
            "hourlyRate": hourly, "costRate": cost,
            "customFieldValues": [{
                "customFieldId": self._location_field, "timeEntryId": eid, "name": "Work location",
                "type": "DROPDOWN_SINGLE", "value": self.location(e, billable_project),
            }],
        }  # fmt: skip

    def encode(self, e: TimeEntry) -> str:
        """`wire(e)` as JSON text, built directly: the hot path of paging (a test compares the two)."""
        eid = self.ids("time_entry", e.id)
        pid, hourly, billable_project = self._projects_js[e.project_id]
        uid, cost = self._users_js[e.user_id]
        task = f'"{self.ids("task", task_number(e.project_id, e.service_id))}"' if e.service_id else "null"
        tags = ",".join(f'"{t}"' for t in self.tag_ids(e))
        text = self.texts_js.get(e.text_id, EMPTY)
        return (
            f'{{"id":"{eid}","description":{text},"userId":"{uid}",'
            f'"workspaceId":"{self.ws}","projectId":"{pid}","taskId":{task},"kioskId":null,"tagIds":[{tags}],'
            f'"billable":{"true" if e.billable else "false"},"isLocked":{"true" if e.billed else "false"},'
            f'"type":"REGULAR","timeInterval":{{"start":"{iso_utc(e.start)}","end":"{iso_utc(e.end)}",'
            f'"duration":"{duration(e.end - e.start)}"}},"hourlyRate":{hourly},"costRate":{cost},'
            f'"customFieldValues":[{{"customFieldId":"{self._location_field}","timeEntryId":"{eid}",'
            f'"name":"Work location","type":"DROPDOWN_SINGLE","value":"{self.location(e, billable_project)}"}}]}}'
        )

    def tag_ids(self, e: TimeEntry) -> list[str]:
        h = mix(e.id * 0x2545F4914F6CDD1D)
        n, first = TAG_PICKS[h & 7], (h >> 8) % 5
        if n == 0:
            return []
        picks = sorted({first, (first + 1 + (h >> 16) % 4) % 5} if n == 2 else {first})
        return [self._tags[t] for t in picks]

    def location(self, e: TimeEntry, billable_project: bool) -> str:
        if (e.user_id, e.start // 86_400) in self.home_office:
            return "Home"
        return "Client site" if billable_project and (mix(e.id) >> 32) % 10 < 2 else "Office"

    # -- admin overlay --------------------------------------------------------------------------
    def extras(self) -> tuple[list[Record], dict[str, int]]:
        """Admin-inserted entries and edited generated ones (wire shape), with their start times."""
        overlay = self.state.overlay
        if self._extras[0] != overlay.version:
            rows = overlay.edited("time_entries", self.generated, merge)
            starts = {r["id"]: start_ts(r) for r in rows}
            self._extras = (overlay.version, rows, starts)
        return self._extras[1], self._extras[2]

    def shadowed(self) -> list[TimeEntry]:
        touched = self.state.overlay.touched("time_entries")
        return [e for i in sorted(touched) if (e := self.org.entry_by_id(i)) is not None]

    def generated(self, entry_id: int) -> Record | None:
        """The wire record of a generated time entry, before admin edits."""
        base = self.org.entry_by_id(entry_id)
        return self.wire(base) if base is not None and base.kind == "time" else None

    def current(self, entry_id: int) -> Record | None:
        """The current wire record of an entry by integer id (admin edits applied), or None."""
        return self.state.overlay.current("time_entries", entry_id, self.generated, merge)

    def next_id(self) -> int:
        return self.state.overlay.next_id("time_entries", 10_000_000 + self.org.entry_count)

    # -- sequences ------------------------------------------------------------------------------
    def merged(self, ws: str, user_ids: set[int] | None, since: int, until: int, desc: bool) -> Merged:
        """Entries of some users (org ids; None = everyone) starting in [since, until), in order."""
        extras, starts = self.extras()
        wanted = None if user_ids is None else {self.ids("user", u) for u in user_ids}
        picked = [
            r
            for r in extras
            if r.get("workspaceId") == ws
            and (wanted is None or r.get("userId") in wanted)
            and since <= starts[r["id"]] < until
        ]
        if ws != self.ws:  # generated entries live in the agency's workspace only
            cols: list[int] = []
        elif user_ids is None:
            cols = list(range(len(self.org.people)))
        else:
            cols = sorted(self.user_col[u] for u in user_ids if u in self.user_col)
        key = (since, until, tuple(cols), desc)
        timeline = self._timelines.get(key)
        if timeline is None:
            timeline = self._timelines[key] = Timeline(self.org, self.time_counts, since, until, cols, desc)
            if len(self._timelines) > 32:
                self._timelines.popitem(last=False)
        return Merged(timeline, self.shadowed(), picked, lambda r: starts[r["id"]])

    def scan(self, key: tuple[Any, ...], merged: Merged, keep: Callable[[Item], bool]) -> list[Item]:
        """The items of a sequence that pass `keep`, cached per (key, overlay version)."""
        full = (*key, self.state.overlay.version)
        got = self._scans.get(full)
        if got is None:
            got = self._scans[full] = [x for x in merged.all() if keep(x)]
            if len(self._scans) > 16:
                self._scans.popitem(last=False)
        return got

    # -- GET /v1/workspaces/{ws}/user/{userId}/time-entries ---------------------------------------
    def user_list(self, ws: str, user_id: int, q: Params, tz: ZoneInfo) -> tuple[Any, bool]:
        page, size = q.paging(MAX_PAGE_SIZE)
        since, until = self.bounds(q, tz)
        running = q.flag("in-progress")
        filters = self.filters(q)
        merged = self.merged(ws, {user_id}, since, until, desc=True)
        if running:  # only admin entries can be running; generated ones always ended
            rows: list[Item] = [x for x in merged.extras if x["timeInterval"].get("end") is None]
            rows = [x for x in rows if all(f(self.wire(x)) for f in filters)]
            items, total = rows[(page - 1) * size : page * size], len(rows)
        elif filters:
            query = sorted(
                (k, tuple(v)) for k, v in q.values.items() if k not in ("page", "page-size", "hydrated")
            )
            key = ("user", ws, user_id, since, until, tuple(query))
            rows = self.scan(key, merged, lambda x: all(f(self.wire(x)) for f in filters))
            items, total = rows[(page - 1) * size : page * size], len(rows)
        else:
            items, total = merged.page((page - 1) * size, page * size), merged.total
        last = page * size >= total
        if q.flag("hydrated"):
            return self.hydrate([self.wire(x) for x in items]), last
        parts = [self.encode(x) if isinstance(x, TimeEntry) else dumps(self.wire(x)).decode() for x in items]
        return RawJSON("[" + ",".join(parts) + "]"), last

    def bounds(self, q: Params, tz: ZoneInfo) -> tuple[int, int]:
        since, until = NO_START, NO_END
        for name in ("start", "end"):
            raw = q.text(name)
            if raw:
                try:
                    value = parse_wall_clock(raw, tz)
                except ValueError:
                    raise bad_request(f"Invalid {name} '{raw}': expected yyyy-MM-ddThh:mm:ssZ") from None
                if name == "start":
                    since = int(-(-value // 1))  # an entry at 09:00:00 is not after 09:00:00.5
                else:
                    until = int(-(-value // 1))
        week = q.text("get-week-before")
        if week:  # the week before the given instant (UNCONFIRMED reading of the parameter)
            try:
                end = int(parse_wall_clock(week, tz))
            except ValueError:
                raise bad_request(f"Invalid get-week-before '{week}'") from None
            since, until = max(since, end - 7 * 86_400), min(until, end)
        return since, until

    def filters(self, q: Params) -> list[Callable[[Record], bool]]:
        out: list[Callable[[Record], bool]] = []
        text = (q.text("description") or "").lower()
        if text:
            out.append(lambda r: text in (r.get("description") or "").lower())
        if (project := q.text("project")) is not None:
            out.append(lambda r: r.get("projectId") == project)
        if (task := q.text("task")) is not None:
            out.append(lambda r: r.get("taskId") == task)
        if (tags := q.ids("tags")) is not None:
            wanted = set(tags)
            out.append(lambda r: bool(wanted & set(r.get("tagIds") or ())))
        if q.flag("project-required"):
            out.append(lambda r: r.get("projectId") is not None)
        if q.flag("task-required"):
            out.append(lambda r: r.get("taskId") is not None)
        if q.flag("in-progress") is False:
            out.append(lambda r: r["timeInterval"].get("end") is not None)
        return out

    def hydrate(self, rows: list[Record]) -> list[Record]:
        """`hydrated=true`: project, task, tags and user objects beside their ids."""
        projects = {p["id"]: public(p) for p in self.with_durations("projects", self.dims("projects"))}
        tasks = {t["id"]: public(t) for t in self.with_durations("tasks", self.dims("tasks"))}
        tags = {t["id"]: public(t) for t in self.dims("tags")}
        users = {u["id"]: public(u) for u in self.dims("users")}
        return [
            {
                **r,
                "project": projects.get(r.get("projectId")),
                "task": tasks.get(r.get("taskId")),
                "tags": [tags[t] for t in r.get("tagIds") or () if t in tags],
                "user": users.get(r.get("userId")),
                "kiosk": None,
            }
            for r in rows
        ]

    # -- GET /v1/workspaces/{ws}/time-entries/status/in-progress ----------------------------------
    def in_progress(self, ws: str, q: Params) -> tuple[list[Record], bool]:
        page, size = q.paging(1000)
        extras, starts = self.extras()
        rows = [r for r in extras if r.get("workspaceId") == ws and r["timeInterval"].get("end") is None]
        rows.sort(key=lambda r: starts[r["id"]], reverse=True)
        return [self.wire(r) for r in rows[(page - 1) * size : page * size]], page * size >= len(rows)

    def of_user_days(self, ws: str, user_id: int, first: date, last: date, tz: ZoneInfo) -> list[Item]:
        """A user's entries of local days [first, last], oldest first (approval requests)."""
        since, until = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
        return self.merged(ws, {user_id}, since, until, desc=False).all()

    def start_of(self, item: Item) -> int:
        return item.start if isinstance(item, TimeEntry) else self.extras()[1][item["id"]]


def start_ts(row: Record) -> int:
    try:
        return parse_instant(str((row.get("timeInterval") or {}).get("start")))
    except ValueError:
        return NO_START


def merge(row: Record, patch: Record) -> Record:
    """A patch on a wire entry; changing start or end recomputes the duration unless one is given."""
    out = {**row, **patch}
    interval = {**(row.get("timeInterval") or {}), **(patch.get("timeInterval") or {})}
    if "timeInterval" in patch and "duration" not in (patch.get("timeInterval") or {}):
        interval["duration"] = interval_duration(interval)
    out["timeInterval"] = interval
    return out


def interval_duration(interval: Record) -> str | None:
    start, end = interval.get("start"), interval.get("end")
    if start is None or end is None:
        return None
    return duration(parse_instant(end) - parse_instant(start))


def seconds_of(interval: Record) -> int | None:
    value = interval.get("duration")
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None
