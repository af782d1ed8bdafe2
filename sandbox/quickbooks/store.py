"""The company (realm) a QuickBooks sandbox holds: stored records, id sequences and `requestid` replays.

Records are kept as written (the request's properties after validation, refs as `{"value": Id}`) plus
`Id`, `SyncToken`, `MetaData`; `sandbox.quickbooks.records` renders them (ref names, computed
`FullyQualifiedName` and `Level`). Every write gets a sequence number, `_seq`: a batch resolves
references only among records written before it started (reference §8: items do not see earlier
items of the same batch).

Ids are numeric strings, increasing per realm. Customer, Vendor and Employee share one sequence (all
three are names of the same name list, and one DisplayName space); Item, Account and TimeActivity
each have their own (a sandbox choice: the reference only says ids are server-assigned strings).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sandbox.quickbooks.params import stamp
from sandbox.store import Sequences

Record = dict[str, Any]
ENTITIES = ("Account", "Item", "Customer", "Employee", "Vendor", "TimeActivity")
ID_SPACE = {"Customer": "names", "Employee": "names", "Vendor": "names"}
REPLAYS_KEPT = 100_000  # how long Intuit remembers a requestid is UNCONFIRMED: the newest 100,000 here


@dataclass(frozen=True)
class Replay:
    """The response first sent for a `requestid`, sent again verbatim for every repeat."""

    status: int
    body: bytes
    path: str


class Company:
    """One realm's records. Not thread-safe: the sandbox serves from one event loop."""

    def __init__(self, realm_id: str) -> None:
        self.realm_id = realm_id
        self.reset()

    def reset(self) -> None:
        self.records: dict[str, dict[str, Record]] = {name: {} for name in ENTITIES}
        self.ids = Sequences(spaces=ID_SPACE)
        self.seq = 0
        self.replays: OrderedDict[str, Replay] = OrderedDict()
        self.deleted: dict[str, list[str]] = {name: [] for name in ENTITIES}

    # -- records ----------------------------------------------------------------------------------
    def next_id(self, entity: str) -> str:
        return str(self.ids.next(entity))

    def get(self, entity: str, record_id: Any, cutoff: int | None = None) -> Record | None:
        """The stored record, or None; with `cutoff`, only if it was created at or before that write."""
        record = self.records[entity].get(record_id) if isinstance(record_id, str) else None
        if record is None or (cutoff is not None and record["_created"] > cutoff):
            return None
        return record

    def all(self, entity: str, cutoff: int | None = None) -> list[Record]:
        rows = self.records[entity].values()
        return [r for r in rows if cutoff is None or r["_created"] <= cutoff]

    def insert(
        self, entity: str, fields: Record, record_id: str | None = None, at: str | None = None
    ) -> Record:
        """Store a new record: Id (next in its sequence unless given), SyncToken "0", MetaData."""
        record_id = record_id or self.next_id(entity)
        if record_id in self.records[entity]:
            raise KeyError(f"{entity} {record_id} exists")
        if record_id.isdigit():  # an admin-chosen id moves the sequence past it
            self.ids.claim(entity, int(record_id))
        when = at or stamp()
        self.seq += 1
        record = {**fields, "Id": record_id, "SyncToken": "0",
                  "MetaData": {"CreateTime": when, "LastUpdatedTime": when}, "_created": self.seq}  # fmt: skip
        self.records[entity][record_id] = record
        return record

    def replace(self, entity: str, record_id: str, fields: Record) -> Record:
        """Overwrite a record's properties: SyncToken + 1, LastUpdatedTime now."""
        old = self.records[entity][record_id]
        self.seq += 1
        record = {**fields, "Id": record_id, "SyncToken": str(int(old["SyncToken"]) + 1),
                  "MetaData": {**old["MetaData"], "LastUpdatedTime": stamp()}, "_created": old["_created"]}  # fmt: skip
        self.records[entity][record_id] = record
        return record

    def delete(self, entity: str, record_id: str) -> None:
        del self.records[entity][record_id]
        self.deleted[entity].append(record_id)
        self.seq += 1

    # -- requestid --------------------------------------------------------------------------------
    def replay(self, request_id: str) -> Replay | None:
        return self.replays.get(request_id)

    def remember(self, request_id: str, replay: Replay) -> None:
        self.replays[request_id] = replay
        while len(self.replays) > REPLAYS_KEPT:
            self.replays.popitem(last=False)


def writable(record: Record) -> Record:
    """A stored record's own properties (what a sparse update merges into)."""
    skip = {"Id", "SyncToken", "MetaData"}
    return {k: v for k, v in record.items() if k not in skip and not k.startswith("_")}
