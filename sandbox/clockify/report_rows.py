"""Detailed-report rows of generated entries, encoded straight to JSON.

The report's hot path: a 1000-row page built as dicts and dumped cost three times as much. Names come
from the current (admin-edited) records, pre-encoded once per overlay version; the values are those
of `DetailedReport.row` on `TimeEntries.wire(e)`, which a test checks row by row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.clockify.entries import TimeEntries
from sandbox.clockify.finance import invoice_number
from sandbox.clockify.ids import Ids
from sandbox.clockify.records import LOCATION_FIELD, task_number
from sandbox.clockify.store import Store
from sandbox.common import dumps, iso_utc
from sandbox.org import TimeEntry

Record = dict[str, Any]
EMPTY = '""'
Approval = Callable[[int | None, int, str], tuple[str, str] | None]


def js(value: Any) -> str:
    return dumps(value).decode()


def money(hourly: int, cost_rate: int, billable: bool, seconds: int) -> dict[str, float]:
    """Cents per entry: EARNED only when billable; COST always; PROFIT = EARNED - COST."""
    earned = round(hourly * seconds / 3600, 2) if billable else 0.0
    cost = round(cost_rate * seconds / 3600, 2)
    return {"EARNED": earned, "COST": cost, "PROFIT": round(earned - cost, 2),
            "EARNED_RATE": hourly, "COST_RATE": cost_rate}  # fmt: skip


class Names:
    """Pre-encoded names of the current users, projects, clients, tasks and tags."""

    def __init__(self, store: Store, ids: Ids) -> None:
        clients = store.by_id("clients")
        self.users = {
            k: (js(u.get("name")), js(u.get("email")), str(u["settings"]["timeZone"]))
            for k, u in store.by_id("users").items()
        }
        self.projects = {}
        for k, p in store.by_id("projects").items():
            client = clients.get(p.get("clientId") or "") or {}
            self.projects[k] = (js(p.get("name")), js(p.get("color")), js(p.get("clientId")), js(client.get("name")),
                                ids.decode(p.get("clientId"), "client"))  # fmt: skip
        self.tasks = {k: js(t.get("name")) for k, t in store.by_id("tasks").items()}
        self.tags = {k: js(t.get("name")) for k, t in store.by_id("tags").items()}


class RowEncoder:
    """Encodes report rows of generated entries for one request (zone, amount kind, extra amounts)."""

    def __init__(
        self,
        entries: TimeEntries,
        names: Names,
        approval: Approval,
        tz: ZoneInfo,
        shown: str,
        amounts: list[str],
    ) -> None:
        self.entries, self.names, self.approval, self.tz = entries, names, approval, tz
        self.shown, self.amounts, self.ids = shown, amounts, entries.ids
        self.field = self.ids("custom_field", LOCATION_FIELD)

    def encode(self, e: TimeEntry) -> str:
        ids, names, entries = self.ids, self.names, self.entries
        eid, uid, pid = ids("time_entry", e.id), ids("user", e.user_id), ids("project", e.project_id)
        tid = ids("task", task_number(e.project_id, e.service_id)) if e.service_id else None
        uname, uemail, utz = names.users.get(uid, ("null", "null", "UTC"))
        pname, pcolor, cid, cname, client = names.projects.get(pid, ("null", "null", "null", "null", None))
        tname = names.tasks.get(tid, "null") if tid else "null"
        tag_ids = entries.tag_ids(e)
        seconds = e.end - e.start
        _, hourly_rate, billable_project = entries._projects[e.project_id]
        cost_rate = entries._users[e.user_id][1]
        hourly = int(hourly_rate["amount"]) if hourly_rate else 0  # type: ignore[call-overload]
        cost = int(cost_rate["amount"]) if cost_rate else 0  # type: ignore[call-overload]
        m = money(hourly, cost, e.billable, seconds)
        approval = self.approval(e.user_id, e.start, utz)
        invoicing = "{}"
        if e.billed and client is not None:
            invoice = ids("invoice", invoice_number(client, iso_utc(e.start)[:7]))
            invoicing = f'{{"invoiceId":"{invoice}","manuallyInvoiced":false}}'
        start = datetime.fromtimestamp(e.start, self.tz).isoformat()
        end = datetime.fromtimestamp(e.end, self.tz).isoformat()
        tags = ",".join(f'{{"id":"{t}","name":{names.tags[t]}}}' for t in tag_ids if t in names.tags)
        tag_list = ",".join(f'"{t}"' for t in tag_ids)
        task = f'"{tid}"' if tid else "null"
        approval_id = f'"{approval[0]}"' if approval else "null"
        text = entries.texts_js.get(e.text_id, EMPTY)
        out = (
            f'{{"_id":"{eid}","description":{text},"userId":"{uid}",'
            f'"userName":{uname},"userEmail":{uemail},"billable":{"true" if e.billable else "false"},'
            f'"projectId":"{pid}","projectName":{pname},"projectColor":{pcolor},"clientId":{cid},'
            f'"clientName":{cname},"taskId":{task},"taskName":{tname},'
            f'"tagIds":[{tag_list}],"tags":[{tags}],"type":"REGULAR",'
            f'"isLocked":{"true" if e.billed else "false"},'
            f'"approvalRequestId":{approval_id},'
            f'"timeInterval":{{"start":"{start}","end":"{end}","duration":{seconds}}},'
            f'"customFields":[{{"customFieldId":"{self.field}","name":"Work location","type":"DROPDOWN_SINGLE",'
            f'"value":"{entries.location(e, billable_project)}"}}],"invoicingInfo":{invoicing}'
        )
        if self.shown != "HIDE_AMOUNT":
            kind = "EARNED" if self.shown == "EXPORT" else self.shown
            rate = m["EARNED_RATE"] if kind == "PROFIT" else m[f"{kind}_RATE"]
            out += f',"rate":{rate!r},"amount":{m[kind]!r}'
        if self.amounts:
            out += (
                ',"amounts":['
                + ",".join(f'{{"type":"{a}","value":{m[a]!r}}}' for a in self.amounts if a in m)
                + "]"
            )
        return out + "}"
