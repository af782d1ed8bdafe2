"""Every source sandbox serves a field its API does not have once an admin edit sets it.

That is how tests make a sandbox behave like an API that starts sending a new field (schema drift,
``dagster_project/schema_drift.py``): ``PATCH /_admin/{entity}/{id}`` with the new key. A reset
takes it away again.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import create_root_app

pytestmark = pytest.mark.anyio
OPTIONS = SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=30), rate_limit=False)
CLOCKODO = {
    "X-ClockodoApiUser": OPTIONS.api_user,
    "X-ClockodoApiKey": OPTIONS.api_key,
    "X-Clockodo-External-Application": "couplet-tests;dev@couplet.dev",
}
HARVEST = {
    "Authorization": f"Bearer {OPTIONS.harvest_token}",
    "Harvest-Account-Id": str(OPTIONS.harvest_account_id),
    "User-Agent": "couplet-tests (dev@couplet.dev)",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _clients(c: httpx.AsyncClient, sandbox: str) -> tuple[list[dict], str]:
    """The sandbox's list of customers/clients, and its admin URL for them."""
    if sandbox == "clockodo":
        body = (await c.get("/clockodo/api/v3/customers", headers=CLOCKODO)).json()
        return body["data"], "/clockodo/api/_admin/customers"
    if sandbox == "harvest":
        body = (await c.get("/harvest/v2/clients", headers=HARVEST)).json()
        return body["clients"], "/harvest/_admin/clients"
    ws = (await c.get("/clockify/_admin/org")).json()["workspace_id"]
    body = (
        await c.get(f"/clockify/api/v1/workspaces/{ws}/clients", headers={"X-Api-Key": OPTIONS.api_key})
    ).json()
    return body, "/clockify/_admin/clients"


@pytest.mark.parametrize("sandbox", ["clockodo", "clockify", "harvest"])
async def test_an_admin_edit_can_add_a_field_the_api_does_not_have(sandbox: str) -> None:
    app = create_root_app(OPTIONS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as c:
        records, admin = await _clients(c, sandbox)
        assert all("vat_id" not in r for r in records)
        target = records[0]["id"]
        (await c.patch(f"{admin}/{target}", json={"vat_id": "DE123"})).raise_for_status()
        records, _ = await _clients(c, sandbox)
        assert [r["vat_id"] for r in records if "vat_id" in r] == ["DE123"]
        assert next(r for r in records if r["id"] == target)["vat_id"] == "DE123"
        mount = admin.rsplit("/_admin/", 1)[0]
        (await c.post(f"{mount}/_admin/reset")).raise_for_status()
        records, _ = await _clients(c, sandbox)
        assert all("vat_id" not in r for r in records)
