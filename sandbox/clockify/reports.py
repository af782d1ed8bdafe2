"""`POST /v1/workspaces/{ws}/reports/detailed` on the reports host (reference §4.8).

The body's `dateRangeStart`/`dateRangeEnd` are read as wall clock in the body's `timeZone` (default:
the requesting user's zone; "UTC" makes them literal), the end inclusive; an entry is in the report
when its start is in the range. Rows carry `_id`, names, `timeInterval` rendered in that zone with
its offset and the duration in integer seconds, `rate` and `amount` in cents. Paging is
`detailedFilter.page`/`pageSize` (at most 1000); `totals` covers the whole filtered range.
Running entries are not reported.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.clockify.approvals import Approvals
from sandbox.clockify.entries import TimeEntries, seconds_of, start_ts
from sandbox.clockify.finance import invoice_number
from sandbox.clockify.ids import Ids, parse_wall_clock, zone, zoned
from sandbox.clockify.params import bad_request, body_paging
from sandbox.clockify.report_rows import Names, RowEncoder, money
from sandbox.clockify.store import Store
from sandbox.clockify.timeline import Item
from sandbox.common import RawJSON, dumps, iso_utc
from sandbox.org import TimeEntry

Record = dict[str, Any]
MAX_PAGE = 1000
SORTS = ("DATE", "ZONED_DATE", "NATURAL", "ID", "DESCRIPTION", "USER", "DURATION", "USER_DATE")
AMOUNT_TYPES = ("EARNED", "COST", "PROFIT", "HIDE_AMOUNT", "EXPORT")
ENTITY_FILTERS = {"clients": "clientId", "projects": "projectId", "tasks": "taskId"}


class DetailedReport:
    def __init__(
        self,
        store: Store,
        entries: TimeEntries,
        approvals: Approvals,
        ids: Ids,
        max_days: Callable[[str], int],
    ) -> None:
        self.store, self.entries, self.approvals, self.ids, self.max_days = (
            store,
            entries,
            approvals,
            ids,
            max_days,
        )
        self._totals: OrderedDict[tuple[Any, ...], list[Record]] = OrderedDict()
        self._names: tuple[int, Names] | None = None

    def run(self, ws: str, body: Record, default_tz: str, own_user: int | None) -> RawJSON:
        """The report page; `own_user` restricts a non-admin key to its own entries."""
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        start, end = body.get("dateRangeStart"), body.get("dateRangeEnd")
        if not start or not end:
            raise bad_request("dateRangeStart and dateRangeEnd must not be null")
        try:
            tz = zone(str(body.get("timeZone") or default_tz))
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        try:
            lo, hi = parse_wall_clock(str(start), tz), parse_wall_clock(str(end), tz)
        except ValueError:
            raise bad_request("dateRangeStart/dateRangeEnd must be ISO date-times") from None
        if hi < lo:
            raise bad_request("dateRangeEnd must not be before dateRangeStart")
        if (hi - lo) / 86_400 > self.max_days(ws):
            raise bad_request(f"The date range may span at most {self.max_days(ws)} days on this plan")
        export = str(body.get("exportType") or "JSON").upper()
        if export not in ("JSON", "JSON_V1"):
            raise bad_request(f"exportType {export} is not available in the sandbox; use JSON")
        detailed = body.get("detailedFilter") or {}
        if not isinstance(detailed, dict):
            raise bad_request("detailedFilter must be an object")
        page, size = body_paging(detailed, "page", "pageSize", MAX_PAGE)
        sort = str(detailed.get("sortColumn") or "DATE").upper()
        if sort not in SORTS:
            raise bad_request(f"sortColumn must be one of {', '.join(SORTS)}")
        desc = str(body.get("sortOrder") or "DESCENDING").upper() != "ASCENDING"
        shown = str(body.get("amountShown") or "EARNED").upper()
        if shown not in AMOUNT_TYPES:
            raise bad_request(f"amountShown must be one of {', '.join(AMOUNT_TYPES)}")
        amounts = [str(a).upper() for a in body.get("amounts") or []]
        since, until = math.ceil(lo), math.floor(hi) + 1  # the end is inclusive ("...23:59:59.999")
        users = self.user_ids(body, own_user)
        merged = self.entries.merged(ws, users, since, until, desc)
        keep = self.predicate(body)
        if any(x["timeInterval"].get("end") is None for x in merged.extras):  # keep pages full
            test = keep or (lambda x: True)
            keep = lambda x: test(x) and self.entries.wire(x)["timeInterval"].get("end") is not None  # noqa: E731
        key = (ws, since, until, None if users is None else tuple(sorted(users)), desc, sort,
               repr(sorted((k, repr(v)) for k, v in body.items() if k != "detailedFilter")))  # fmt: skip
        if keep is None and sort in ("DATE", "ZONED_DATE", "NATURAL"):
            items = merged.page((page - 1) * size, page * size)
            everything: list[Item] | None = None
        else:
            everything = self.entries.scan(key, merged, keep or (lambda x: True))
            if sort not in ("DATE", "ZONED_DATE", "NATURAL"):
                everything = self.sorted(everything, sort, desc)
            items = everything[(page - 1) * size : page * size]
        encoder = RowEncoder(self.entries, self.names(), self.approvals.for_entry, tz, shown, amounts)
        parts = []
        for x in items:
            if isinstance(x, TimeEntry):
                parts.append(encoder.encode(x))
            elif (row := self.row(self.entries.wire(x), x, tz, shown, amounts)) is not None:
                parts.append(dumps(row).decode())
        options = detailed.get("options") or {}
        totals_mode = options.get("totals") if isinstance(options, dict) else options
        if str(totals_mode or "CALCULATE").upper() == "EXCLUDE":
            totals: list[Record] = []
        else:
            totals = self.totals(
                key, lambda: everything if everything is not None else merged.all(), shown, amounts
            )
        return RawJSON('{"totals":' + dumps(totals).decode() + ',"timeentries":[' + ",".join(parts) + "]}")

    def names(self) -> Names:
        version = self.store.overlay.version
        if self._names is None or self._names[0] != version:
            self._names = (version, Names(self.store, self.ids))
        return self._names[1]

    # -- selection ------------------------------------------------------------------------------
    def user_ids(self, body: Record, own_user: int | None) -> set[int] | None:
        """Org user ids the report covers (None = everyone), from `users`/`userGroups` filters."""
        users = self.store.dims("users")
        chosen: set[str] | None = None
        for name in ("users", "userGroups"):
            spec = body.get(name)
            if not isinstance(spec, dict) or not spec.get("ids"):
                continue
            wanted = set(spec["ids"])
            if name == "userGroups":
                wanted = {
                    u for g in self.store.dims("user_groups") if g["id"] in wanted for u in g["userIds"]
                }
            if str(spec.get("contains") or "CONTAINS").upper() == "DOES_NOT_CONTAIN":
                wanted = {u["id"] for u in users} - wanted
            chosen = wanted if chosen is None else chosen | wanted
        status = str((body.get("users") or {}).get("status") or "ALL").upper()
        if status in ("ACTIVE", "INACTIVE"):
            same = {u["id"] for u in users if u.get("_membershipStatus") == status}
            chosen = same if chosen is None else chosen & same
        out = None if chosen is None else {n for u in chosen if (n := self.ids.decode(u, "user")) is not None}
        if own_user is not None:
            out = {own_user} if out is None else out & {own_user}
        return out

    def predicate(self, body: Record) -> Callable[[Item], bool] | None:
        tests: list[Callable[[Record], bool]] = []
        for name, field in ENTITY_FILTERS.items():
            spec = body.get(name)
            if isinstance(spec, dict) and spec.get("ids") is not None:
                tests.append(_contains(set(spec["ids"]), str(spec.get("contains") or "CONTAINS"), field))
        tags = body.get("tags")
        if isinstance(tags, dict) and tags.get("ids") is not None:
            tests.append(_tags(set(tags["ids"]), str(tags.get("contains") or "CONTAINS").upper()))
        if isinstance(body.get("billable"), bool):
            wanted = body["billable"]
            tests.append(lambda r: bool(r.get("billable")) == wanted)
        text = str(body.get("description") or "").lower()
        if text:
            tests.append(lambda r: text in (r.get("description") or "").lower())
        if body.get("withoutDescription") is True:
            tests.append(lambda r: not r.get("description"))
        invoicing = str(body.get("invoicingState") or "ALL").upper()
        if invoicing in ("INVOICED", "UNINVOICED"):
            tests.append(lambda r: bool(r.get("isLocked")) == (invoicing == "INVOICED"))
        approval = str(body.get("approvalState") or "ALL").upper()
        if approval in ("APPROVED", "UNAPPROVED"):

            def approved(r: Record) -> bool:
                user = self.store.get("users", r.get("userId")) or {}
                return (self._approval(r, user, start_ts(r)) or ("", ""))[1] == "APPROVED"

            tests.append(lambda r: approved(r) == (approval == "APPROVED"))
        if not tests:
            return None
        return lambda x: all(t(self.entries.wire(x)) for t in tests)

    def sorted(self, items: list[Item], sort: str, desc: bool) -> list[Item]:
        names = {u["id"]: u["name"] for u in self.store.dims("users")}
        start = self.entries.start_of

        def key(x: Item) -> Any:
            r = self.entries.wire(x)
            if sort == "ID":
                return (r["id"],)
            if sort == "DESCRIPTION":
                return ((r.get("description") or "").lower(), start(x))
            if sort == "DURATION":
                return (seconds_of(r["timeInterval"]) or 0, start(x))
            return (names.get(r.get("userId"), ""), start(x))  # USER, USER_DATE

        return sorted(items, key=key, reverse=desc)

    # -- rendering ------------------------------------------------------------------------------
    def _approval(self, r: Record, user: Record, start: int) -> tuple[str, str] | None:
        tz = user["settings"]["timeZone"] if user else "UTC"
        return self.approvals.for_entry(self.ids.decode(r.get("userId"), "user"), start, tz)

    def row(self, r: Record, item: Item, tz: ZoneInfo, shown: str, amounts: list[str]) -> Record | None:
        interval = r.get("timeInterval") or {}
        if interval.get("end") is None:
            return None
        by_id = self.store.by_id
        user = by_id("users").get(r.get("userId") or "") or {}
        project = by_id("projects").get(r.get("projectId") or "") or {}
        task = by_id("tasks").get(r.get("taskId") or "") or {}
        client = by_id("clients").get(project.get("clientId") or "") or {}
        tags = by_id("tags")
        if isinstance(item, TimeEntry):
            start, seconds = item.start, item.end - item.start
        else:
            start, seconds = self.entries.start_of(item), seconds_of(interval) or 0
        money = _amounts(r, seconds)
        approval = self._approval(r, user, start)
        row: Record = {
            "_id": r["id"], "description": r.get("description") or "", "userId": r.get("userId"),
            "userName": user.get("name"), "userEmail": user.get("email"), "billable": bool(r.get("billable")),
            "projectId": r.get("projectId"), "projectName": project.get("name"),
            "projectColor": project.get("color"), "clientId": project.get("clientId"),
            "clientName": client.get("name"), "taskId": r.get("taskId"), "taskName": task.get("name"),
            "tagIds": list(r.get("tagIds") or ()),
            "tags": [{"id": t, "name": tags[t]["name"]} for t in r.get("tagIds") or () if t in tags],
            "type": r.get("type", "REGULAR"), "isLocked": bool(r.get("isLocked")),
            "approvalRequestId": approval[0] if approval else None,
            "timeInterval": {"start": zoned(start, tz), "end": zoned(start + seconds, tz), "duration": seconds},
            "customFields": [{k: v for k, v in c.items() if k != "timeEntryId"}
                             for c in r.get("customFieldValues") or ()],
            "invoicingInfo": self._invoicing(r, project, start),
        }  # fmt: skip
        if shown != "HIDE_AMOUNT":
            kind = "EARNED" if shown == "EXPORT" else shown
            row["rate"] = money[f"{kind}_RATE"] if kind != "PROFIT" else money["EARNED_RATE"]
            row["amount"] = money[kind]
        if amounts:
            row["amounts"] = [{"type": a, "value": money.get(a, 0.0)} for a in amounts if a in money]
        return row

    def _invoicing(self, r: Record, project: Record, start: int) -> Record:
        """Invoiced (locked) entries name the client's invoice of their month; others `{}` (NOTES)."""
        client = self.ids.decode(project.get("clientId"), "client")
        if not r.get("isLocked") or client is None:
            return {}
        month = iso_utc(start)[:7]
        return {"invoiceId": self.ids("invoice", invoice_number(client, month)), "manuallyInvoiced": False}

    def totals(
        self, key: tuple[Any, ...], items: Callable[[], list[Item]], shown: str, amounts: list[str]
    ) -> list[Record]:
        """One totals row over the whole filtered range (computed once per query and data version)."""
        full = (*key, shown, tuple(amounts), self.store.overlay.version)
        got = self._totals.get(full)
        if got is None:
            time = billable = count = 0
            money = {"EARNED": 0.0, "COST": 0.0, "PROFIT": 0.0}
            for x in items():
                r = self.entries.wire(x)
                seconds = seconds_of(r.get("timeInterval") or {})
                if seconds is None or r["timeInterval"].get("end") is None:
                    continue
                time, count = time + seconds, count + 1
                billable += seconds if r.get("billable") else 0
                each = _amounts(r, seconds)
                for k in money:
                    money[k] += each[k]
            kind = "EARNED" if shown in ("EXPORT", "HIDE_AMOUNT") else shown
            total: Record = {"_id": "", "totalTime": time, "totalBillableTime": billable, "entriesCount": count,
                             "totalAmount": round(money[kind], 2),
                             "amounts": [{"type": a, "value": round(money[a], 2)} for a in (amounts or [kind])
                                         if a in money]}  # fmt: skip
            got = self._totals[full] = [total]
            if len(self._totals) > 16:
                self._totals.popitem(last=False)
        return got


def _amounts(r: Record, seconds: int) -> dict[str, float]:
    hourly = ((r.get("hourlyRate") or {}).get("amount")) or 0
    cost_rate = ((r.get("costRate") or {}).get("amount")) or 0
    return money(hourly, cost_rate, bool(r.get("billable")), seconds)


def _contains(ids: set[str], mode: str, field: str) -> Callable[[Record], bool]:
    if mode.upper() == "DOES_NOT_CONTAIN":
        return lambda r: r.get(field) not in ids
    return lambda r: r.get(field) in ids


def _tags(ids: set[str], mode: str) -> Callable[[Record], bool]:
    if mode == "DOES_NOT_CONTAIN":
        return lambda r: not ids & set(r.get("tagIds") or ())
    if mode == "CONTAINS_ONLY":
        return lambda r: bool(r.get("tagIds")) and set(r.get("tagIds") or ()) <= ids
    return lambda r: bool(ids & set(r.get("tagIds") or ()))
