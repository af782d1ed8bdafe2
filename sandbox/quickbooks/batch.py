"""`POST /v3/company/{realmId}/batch` (reference §8, §10.10).

`{"BatchItemRequest": [{"bId", "operation": "create"|"update"|"delete", "<Entity>": {...}} |
{"bId", "Query": "select ..."}]}` answers HTTP 200 `{"BatchItemResponse": [{"bId", "<Entity>": {...}} |
{"bId", "Fault": {...}} | {"bId", "QueryResponse": {...}}], "time"}` in request order: one bad item
fails alone. Items run one after the other, but references (and queries) see only what existed before
the batch began: a customer created by item 1 cannot be used by item 2. Name uniqueness and SyncTokens
are checked against the live company (two items cannot create the same name).

The batch itself is refused with a 400 `Fault` when its envelope is wrong: no `BatchItemRequest` list,
more than `batch_max_items` items (30), an item without a text `bId`, a `bId` used twice, or (with a
`requestid`) a `bId` longer than 10 characters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.quickbooks.params import ApiError, business, invalid_enum, required, response_time
from sandbox.quickbooks.records import BY_NAME, Kind, Writer

Record = dict[str, Any]
OPERATIONS = ("create", "update", "delete")
Operation = Callable[[Kind, str, Any, Writer], Record]
QueryRunner = Callable[[Any, int | None], Record]


def batch_items(body: Any, max_items: int, request_id: str | None) -> list[Record]:
    """The items of a batch body, or the 400 that refuses the whole batch."""
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise required("BatchItemRequest")
    if len(items) > max_items:
        raise business(f"a batch holds at most {max_items} BatchItemRequest items, not {len(items)}", "BatchItemRequest")  # fmt: skip
    seen: set[str] = set()
    for item in items:
        bid = item.get("bId") if isinstance(item, dict) else None
        if not isinstance(bid, str) or not bid:
            raise required("bId")
        if bid in seen:
            raise business(f"bId {bid!r} is used by two items: each item needs its own", "bId")
        if request_id is not None and len(bid) > 10:
            raise business(f"with a requestid, a bId has at most 10 characters ({bid!r})", "bId")
        seen.add(bid)
    return items


def run_batch(items: list[Record], writer: Writer, operate: Operation, query: QueryRunner) -> Record:
    """Every item against `writer` (whose cutoff is the state before the batch)."""
    out = []
    for item in items:
        bid = item["bId"]
        try:
            out.append({"bId": bid, **_one(item, writer, operate, query)})
        except ApiError as exc:
            out.append({"bId": bid, "Fault": exc.fault})
    return {"BatchItemResponse": out, "time": response_time()}


def _one(item: Record, writer: Writer, operate: Operation, query: QueryRunner) -> Record:
    payload_keys = [k for k in item if k not in ("bId", "operation", "optionsData")]
    if payload_keys == ["Query"]:
        if "operation" in item:
            raise business("a Query item takes no operation", "operation")
        return {"QueryResponse": query(item["Query"], writer.cutoff)}
    if len(payload_keys) != 1:
        raise business("an item names one entity with an operation, or holds one Query", "BatchItemRequest")
    name = payload_keys[0]
    kind = BY_NAME.get(name)
    if kind is None:
        raise business(f"the sandbox does not batch {name} objects", name)
    operation = item.get("operation")
    if operation is None:
        raise required("operation")
    if operation not in OPERATIONS:
        raise invalid_enum("operation", operation)
    if "optionsData" in item:
        raise business(f"optionsData {item['optionsData']!r} does not apply to {name}", "optionsData")
    return {name: operate(kind, operation, item[name], writer)}
