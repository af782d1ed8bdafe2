"""The sandboxes serve the cheap signals reconcile relies on, as the reference documents them.

- Harvest (harvest.md §2, §3): every list answers ``total_entries`` (``per_page`` 1-2000), for time
  entries and expenses of a ``from``/``to`` window too; ``updated_since`` returns back-dated edits and
  inserts, combined with ``from``/``to``, and never a deletion.
- Clockodo (clockodo.md §1.8): ``paging.count_items`` of a one-item page is the number of entries of
  the window, without the enhanced list too, and follows inserts and deletes.
- Clockify (clockify.md §4.8): the detailed report's ``totals`` (entriesCount, totalTime,
  totalBillableTime) cover its whole filtered range whatever the page size, honour the ``users``
  filter (``ids``, ``contains``) and follow edits; a range ending at the last second of a day holds
  that day and not the next one's first second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from sandbox.clockify import create_app as create_clockify
from sandbox.clockodo import create_app as create_clockodo
from sandbox.common import SandboxOptions
from sandbox.harvest import create_app as create_harvest
from sandbox.org import OrgOptions

pytestmark = pytest.mark.anyio
OPTIONS = SandboxOptions(org=OrgOptions(anchor=date(2025, 6, 16)), rate_limit=False)
HARVEST = {
    "Authorization": "Bearer sandbox-harvest-token",
    "Harvest-Account-Id": "123456",
    "User-Agent": "couplet-tests (dev@couplet.dev)",
}
CLOCKODO = {
    "X-ClockodoApiUser": "sandbox@couplet.dev",
    "X-ClockodoApiKey": "sandbox-key",
    "X-Clockodo-External-Application": "couplet-tests;dev@couplet.dev",
}
OLD = {"from": "2024-03-01", "to": "2024-03-31"}  # a month far behind any look-back


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def client(app: Starlette, headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox", headers=headers
    ) as c:
        yield c


async def harvest_all(c: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[dict]:
    body = (await c.get(path, params={**params, "per_page": 500})).json()
    rows = list(body[key])
    while body["links"]["next"]:
        body = (await c.get(body["links"]["next"])).json()
        rows += body[key]
    return rows


async def harvest_total(c: httpx.AsyncClient, path: str, key: str, **params: Any) -> int:
    body = (await c.get(path, params={**params, "per_page": 1})).json()
    assert len(body[key]) <= 1 and body["per_page"] == 1
    return int(body["total_entries"])


@pytest.mark.parametrize(
    ("key", "insert"),
    [
        ("time_entries", {"user_id": 1003, "project_id": 3001, "task_id": 406, "hours": 1.5}),
        ("expenses", {"user_id": 1003, "project_id": 3001, "total_cost": 12.5}),
    ],
)
async def test_harvest_counts_any_window_and_updated_since_finds_old_edits(key: str, insert: dict) -> None:
    path = f"/v2/{key}"
    async with client(create_harvest(OPTIONS), HARVEST) as c:
        rows = await harvest_all(c, path, key, **OLD)
        assert rows and await harvest_total(c, path, key, **OLD) == len(rows)
        whole = {"from": "2023-06-16", "to": "2025-06-15"}
        assert await harvest_total(c, path, key, **whole) == len(await harvest_all(c, path, key, **whole))
        before = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        edited, victim = rows[0], rows[-1]
        field = "hours" if key == "time_entries" else "total_cost"
        assert (await c.patch(f"/_admin/{key}/{edited['id']}", json={field: 7.75})).status_code == 200
        assert (await c.delete(f"/_admin/{key}/{victim['id']}")).status_code == 200
        if key == "expenses":
            insert = {**insert, "expense_category_id": rows[0]["expense_category"]["id"]}
        added = [
            (await c.post(f"/_admin/{key}", json={**insert, "spent_date": day})).json()
            for day in ("2024-03-10", "2024-03-11")
        ]
        assert len({a["id"] for a in added}) == 2  # each admin insert gets its own id
        changed = await harvest_all(c, path, key, updated_since=before, **OLD)
        elsewhere = await harvest_all(
            c, path, key, updated_since=before, **{"from": "2024-04-01", "to": "2024-04-30"}
        )
        assert await harvest_total(c, path, key, **OLD) == len(rows) - 1 + 2
    assert sorted(r["id"] for r in changed) == sorted([edited["id"], *(a["id"] for a in added)])
    assert victim["id"] not in {r["id"] for r in changed} and elsewhere == []  # no tombstones
    assert next(r for r in changed if r["id"] == edited["id"])[field] == 7.75


async def test_clockodo_count_items_of_a_one_item_page_counts_the_window() -> None:
    window = {"time_since": "2024-03-01T00:00:00Z", "time_until": "2024-04-01T00:00:00Z"}

    async def count(c: httpx.AsyncClient) -> int:
        body = (await c.get("/v2/entries", params={**window, "items_per_page": 1, "enhanced_list": 0})).json()
        assert len(body["entries"]) == 1 and body["paging"]["items_per_page"] == 1
        return int(body["paging"]["count_items"])

    async with client(create_clockodo(OPTIONS), CLOCKODO) as c:
        listed = (await c.get("/v2/entries", params={**window, "items_per_page": 1000})).json()
        assert listed["paging"]["count_pages"] == 1
        rows = listed["entries"]
        assert await count(c) == len(rows) > 100
        victim = rows[5]
        assert (await c.delete(f"/_admin/entries/{victim['id']}")).status_code == 200
        new = {"users_id": victim["users_id"], "customers_id": victim["customers_id"], "duration": 1800}
        for since in ("2024-03-10T09:00:00Z", "2024-03-11T09:00:00Z"):
            assert (await c.post("/_admin/entries", json={**new, "time_since": since})).status_code == 201
        assert await count(c) == len(rows) + 1


async def test_clockify_report_totals_cover_the_range_per_user_and_follow_edits() -> None:
    app = create_clockify(OPTIONS)
    ws = app.state.sandbox.ws
    url = f"/reports/v1/workspaces/{ws}/reports/detailed"
    march = {
        "dateRangeStart": "2024-03-01T00:00:00Z",
        "dateRangeEnd": "2024-03-31T23:59:59Z",
        "timeZone": "UTC",
    }

    async def totals(c: httpx.AsyncClient, **body: Any) -> dict:
        filt = {"page": 1, "pageSize": 1, "options": {"totals": "CALCULATE"}}
        r = await c.post(url, json={**march, **body, "detailedFilter": filt})
        assert r.status_code == 200, r.text
        assert len(r.json()["timeentries"]) <= 1
        return r.json()["totals"][0]

    async def rows(c: httpx.AsyncClient, **body: Any) -> list[dict]:
        out: list[dict] = []
        for page in range(1, 100):
            got = (
                await c.post(url, json={**march, **body, "detailedFilter": {"page": page, "pageSize": 1000}})
            ).json()
            out += got["timeentries"]
            if len(got["timeentries"]) < 1000:
                return out
        raise AssertionError("no last page")

    async with client(app, {"X-Api-Key": "sandbox-key"}) as c:
        everything = await rows(c)
        total = await totals(c)
        assert total["entriesCount"] == len(everything) > 100
        assert total["totalTime"] == sum(r["timeInterval"]["duration"] for r in everything)
        assert total["totalBillableTime"] == sum(
            r["timeInterval"]["duration"] for r in everything if r["billable"]
        )
        user = everything[0]["userId"]
        mine = await totals(c, users={"ids": [user], "contains": "CONTAINS"})
        others = await totals(c, users={"ids": [user], "contains": "DOES_NOT_CONTAIN"})
        assert mine["entriesCount"] == sum(1 for r in everything if r["userId"] == user)
        assert mine["entriesCount"] + others["entriesCount"] == total["entriesCount"]
        assert mine["totalTime"] + others["totalTime"] == total["totalTime"]
        # A range ending at 23:59:59 holds that second and not the next day's first one.
        edge = {"userId": user, "projectId": everything[0]["projectId"]}
        for start, end in (
            ("2024-03-31T23:59:59Z", "2024-04-01T00:30:00Z"),
            ("2024-04-01T00:00:00Z", "2024-04-01T00:10:00Z"),
        ):
            r = await c.post(
                "/_admin/time_entries", json={**edge, "timeInterval": {"start": start, "end": end}}
            )
            assert r.status_code == 201, r.text
        after = await totals(c)
        assert after["entriesCount"] == total["entriesCount"] + 1
        victim = everything[3]
        edited = everything[4]
        assert (await c.delete(f"/_admin/time_entries/{victim['_id']}")).status_code == 200
        longer = {"timeInterval": {"start": edited["timeInterval"]["start"].replace("+00:00", "Z"),
                                   "end": "2024-03-31T23:00:00Z"}}  # fmt: skip
        assert (await c.patch(f"/_admin/time_entries/{edited['_id']}", json=longer)).status_code == 200
        final = await totals(c)
        now = {r["_id"]: r for r in await rows(c)}
    assert final["entriesCount"] == len(now) == after["entriesCount"] - 1
    assert final["totalTime"] == sum(r["timeInterval"]["duration"] for r in now.values())
    assert now[edited["_id"]]["timeInterval"]["duration"] > edited["timeInterval"]["duration"]
