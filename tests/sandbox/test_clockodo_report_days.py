"""The Clockodo sandbox's user reports count an entry on its user's local day (clockodo.md §4.2).

Day-based data (user-report ``day_details[].date``, work-time days) is in the user's local calendar
while entry timestamps are UTC: an entry inserted at 23:30 UTC by a co-worker in Europe/Berlin
belongs to the next local day, and the type-3 report's ``hours`` of that day (seconds, §2) grow by
its duration. Reconcile compares those days with staged entries (pipelines/reconcile_days.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
import pytest

from sandbox.clockodo import create_app
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions

pytestmark = pytest.mark.anyio
HEADERS = {
    "X-ClockodoApiUser": "sandbox@couplet.dev",
    "X-ClockodoApiKey": "sandbox-key",
    "X-Clockodo-External-Application": "couplet-tests;dev@couplet.dev",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SandboxOptions(org=OrgOptions(anchor=date(2025, 6, 16)), rate_limit=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=HEADERS) as c:
        yield c


async def day_hours(c: httpx.AsyncClient, users_id: int) -> dict[str, int]:
    body = (await c.get("/userreports", params={"year": 2025, "type": 3})).json()
    (mine,) = [r for r in body["userreports"] if r["users_id"] == users_id]
    return {
        d["date"]: d["hours"]
        for m in mine["month_details"]
        for w in m["week_details"]
        for d in w["day_details"]
        if "hours" in d
    }


async def test_an_entry_late_in_the_utc_day_counts_on_the_users_next_local_day() -> None:
    async with client() as c:
        users = (await c.get("/v3/users")).json()["data"]
        user = next(u for u in users if u["timezone"] == "Europe/Berlin" and u["active"])
        entries = (
            await c.get(
                "/v2/entries",
                params={"time_since": "2025-03-01T00:00:00Z", "time_until": "2025-04-01T00:00:00Z"},
            )
        ).json()["entries"]
        like: dict[str, Any] = next(e for e in entries if e["users_id"] == user["id"] and e["type"] == 1)
        before = await day_hours(c, user["id"])
        new = {k: like[k] for k in ("users_id", "customers_id", "projects_id", "services_id")}
        new |= {"time_since": "2025-03-11T23:30:00Z", "duration": 1800}  # 00:30 on the 12th in Berlin
        assert (await c.post("/_admin/entries", json=new)).status_code == 201
        after = await day_hours(c, user["id"])
        works = (
            await c.get(
                "/v2/workTimes",
                params={"users_id": user["id"], "date_since": "2025-03-11", "date_until": "2025-03-12"},
            )
        ).json()["work_time_days"]
    assert after["2025-03-12"] == before["2025-03-12"] + 1800
    assert after["2025-03-11"] == before["2025-03-11"]
    late = [d["date"] for d in works for i in d["intervals"] if i["time_since"] == "2025-03-11T23:30:00Z"]
    assert late == ["2025-03-12"]  # work-time days are local days too
