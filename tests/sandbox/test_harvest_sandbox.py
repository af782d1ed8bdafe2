"""The Harvest sandbox against the public contract (reference/harvest.md), through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox.clockodo import create_app as create_clockodo_app
from sandbox.common import RateWindow, SandboxOptions, org_for
from sandbox.harvest import create_app
from sandbox.harvest.ledger import LAG_DAYS, ledger_for
from sandbox.harvest.params import AUTH_ERROR
from sandbox.org import OrgOptions, day_ts

pytestmark = pytest.mark.anyio
ANCHOR = date(2025, 6, 16)
OPTIONS = SandboxOptions(org=OrgOptions(anchor=ANCHOR), rate_limit=False)
HEADERS = {
    "Authorization": "Bearer sandbox-harvest-token",
    "Harvest-Account-Id": "123456",
    "User-Agent": "couplet-tests (dev@couplet.dev)",
}
MEMBER = {**HEADERS, "Authorization": "Bearer sandbox-harvest-member-token"}
MAY = {"from": "2025-05-01", "to": "2025-05-31"}
BASE = "http://sandbox/harvest"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def client(options: SandboxOptions = OPTIONS) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox mounted at /harvest in a root app, as the server mounts it."""
    app = create_app(options)
    root = Starlette(routes=[Mount("/harvest", app=app)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=root), base_url=BASE) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


async def get(c: httpx.AsyncClient, path: str, headers: dict[str, str] = HEADERS, **params: Any) -> Any:
    r = await c.get(path, params=params, headers=headers)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


async def follow(
    c: httpx.AsyncClient, path: str, key: str, headers: dict[str, str] = HEADERS, **params: Any
) -> list:
    """Every row of a list, following `links.next` verbatim (as HDOCS tells clients to)."""
    body = await get(c, path, headers, **params)
    rows, pages = list(body[key]), 1
    while body["links"]["next"]:
        assert body["links"]["next"].startswith(BASE + path)
        r = await c.get(body["links"]["next"], headers=headers)
        assert r.status_code == 200, r.text
        body, pages = r.json(), pages + 1
        rows += body[key]
        assert pages <= 1000
    assert len(rows) == body["total_entries"], "paging disagrees with the rows served"
    return rows


# -- auth and headers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {k: v for k, v in HEADERS.items() if k != "Authorization"},
        {**HEADERS, "Authorization": "Bearer wrong"},
        {k: v for k, v in HEADERS.items() if k != "Harvest-Account-Id"},
        {**HEADERS, "Harvest-Account-Id": "999"},
    ],
    ids=["no-token", "wrong-token", "no-account", "wrong-account"],
)
async def test_bad_credentials_are_401_with_the_oauth_error_body(headers: dict[str, str]) -> None:
    async with client() as c:
        r = await c.get("/v2/users", headers=headers)
    assert r.status_code == 401 and r.json() == AUTH_ERROR


async def test_query_string_auth_is_the_documented_alternative() -> None:
    async with client() as c:
        ua = {"User-Agent": HEADERS["User-Agent"]}
        ok = await c.get(
            "/v2/tasks", params={"access_token": "sandbox-harvest-token", "account_id": 123456}, headers=ua
        )
        bad = await c.get("/v2/tasks", params={"access_token": "nope", "account_id": 123456}, headers=ua)
    assert (ok.status_code, bad.status_code) == (200, 401)


async def test_missing_user_agent_is_400() -> None:
    async with client() as c:
        del c.headers["User-Agent"]  # httpx sends its own otherwise
        r = await c.get("/v2/clients", headers={k: v for k, v in HEADERS.items() if k != "User-Agent"})
        assert r.status_code == 400 and "User-Agent" in r.json()["message"]
        r = await c.get("/v2/clients", headers={**HEADERS, "User-Agent": " "})
        assert r.status_code == 400


async def test_member_token_sees_only_own_time_and_no_user_list() -> None:
    async with client() as c:
        me = await get(c, "/v2/users/me", MEMBER)
        users = await c.get("/v2/users", headers=MEMBER)
        entries = await follow(c, "/v2/time_entries", "time_entries", MEMBER, **MAY)
        other = await c.get("/v2/users/1001/project_assignments", headers=MEMBER)
    assert me["access_roles"] == ["member"] and users.status_code == 403 and other.status_code == 403
    assert entries and {e["user"]["id"] for e in entries} == {me["id"]}


# -- paging -----------------------------------------------------------------------------------------
async def test_page_paging_follows_absolute_links_over_several_pages() -> None:
    async with client() as c:
        first = await get(c, "/v2/time_entries", **MAY, per_page=150)
        rows = await follow(c, "/v2/time_entries", "time_entries", **MAY, per_page=150)
        last = await get(c, "/v2/time_entries", **MAY, per_page=150, page=first["total_pages"])
        whole = await get(c, "/v2/time_entries", **MAY)
    total = first["total_entries"]
    assert total > 600 and first["total_pages"] == -(-total // 150) >= 5
    assert (first["page"], first["next_page"], first["previous_page"], first["per_page"]) == (1, 2, None, 150)
    link = urlsplit(first["links"]["next"])
    assert f"{link.scheme}://{link.netloc}{link.path}" == BASE + "/v2/time_entries"
    assert parse_qs(link.query) == {"page": ["2"], "per_page": ["150"], "from": [MAY["from"]], "to": [MAY["to"]],
                                    "ref": ["next"]}  # fmt: skip
    assert first["links"]["previous"] is None and "page=1&" in first["links"]["first"]
    assert (last["next_page"], last["links"]["next"], last["previous_page"]) == (
        None,
        None,
        first["total_pages"] - 1,
    )
    assert len(last["time_entries"]) == total - 150 * (first["total_pages"] - 1)
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == total and [r["id"] for r in whole["time_entries"]] == ids  # default per_page 2000
    days = [r["spent_date"] for r in rows]
    assert days == sorted(days, reverse=True) and MAY["from"] <= days[-1] and days[0] <= MAY["to"]


async def test_per_page_is_1_to_2000() -> None:
    async with client() as c:
        ok = await c.get("/v2/time_entries", params={"per_page": 2000}, headers=HEADERS)
        too_many = await c.get("/v2/time_entries", params={"per_page": 2001}, headers=HEADERS)
        zero = await c.get("/v2/clients", params={"per_page": 0}, headers=HEADERS)
    assert ok.status_code == 200 and len(ok.json()["time_entries"]) == 2000 and ok.json()["per_page"] == 2000
    assert too_many.status_code == zero.status_code == 422 and "message" in too_many.json()


@pytest.mark.parametrize(("path", "key"), [("/v2/users", "users"), ("/v2/user_assignments", "user_assignments"),
                                           ("/v2/contacts", "contacts")])  # fmt: skip
async def test_cursor_paging_on_the_endpoints_that_moved_to_it(path: str, key: str) -> None:
    async with client() as c:
        everything = (await get(c, path))[key]
        first = await get(c, path, per_page=4)
        second = (await c.get(first["links"]["next"], headers=HEADERS)).json()
        rows = await follow(c, path, key, per_page=4)
    assert "cursor=" in first["links"]["next"] and "ref=next_cursor" in first["links"]["next"]
    assert (first["page"], first["next_page"], first["previous_page"]) == (1, 2, None)
    if first["total_pages"] > 2:  # middle pages carry no page numbers
        assert (second["page"], second["next_page"], second["previous_page"]) == (None, None, None)
        assert "ref=prev_cursor" in second["links"]["previous"]
    assert [r["id"] for r in rows] == [r["id"] for r in everything] and len(rows) == first["total_entries"]
    stamps = [(r["created_at"], r["id"]) for r in rows]
    assert stamps == sorted(stamps, reverse=True)  # most recently created first


ENVELOPES = [
    ("/v2/time_entries", MAY, "time_entries"), ("/v2/clients", {}, "clients"), ("/v2/contacts", {}, "contacts"),
    ("/v2/projects", {}, "projects"), ("/v2/tasks", {}, "tasks"), ("/v2/task_assignments", {}, "task_assignments"),
    ("/v2/projects/3003/task_assignments", {}, "task_assignments"),
    ("/v2/user_assignments", {}, "user_assignments"), ("/v2/projects/3003/user_assignments", {}, "user_assignments"),
    ("/v2/users", {}, "users"), ("/v2/roles", {}, "roles"), ("/v2/invoices", {}, "invoices"),
    ("/v2/invoice_item_categories", {}, "invoice_item_categories"), ("/v2/estimates", {}, "estimates"),
    ("/v2/estimate_item_categories", {}, "estimate_item_categories"), ("/v2/expenses", {}, "expenses"),
    ("/v2/expense_categories", {}, "expense_categories"), ("/v2/users/me/project_assignments", {}, "project_assignments"),
    ("/v2/users/1002/billable_rates", {}, "billable_rates"), ("/v2/users/1002/cost_rates", {}, "cost_rates"),
    ("/v2/users/1002/teammates", {}, "teammates"),
    ("/v2/reports/time/clients", {"from": "20250101", "to": "20250531"}, "results"),
    ("/v2/reports/time/projects", {"from": "20250101", "to": "20250531"}, "results"),
    ("/v2/reports/time/tasks", {"from": "20250101", "to": "20250531"}, "results"),
    ("/v2/reports/time/team", {"from": "20250101", "to": "20250531"}, "results"),
    ("/v2/reports/expenses/clients", {"from": "20240601", "to": "20250531"}, "results"),
    ("/v2/reports/expenses/projects", {"from": "20240601", "to": "20250531"}, "results"),
    ("/v2/reports/expenses/categories", {"from": "20240601", "to": "20250531"}, "results"),
    ("/v2/reports/expenses/team", {"from": "20240601", "to": "20250531"}, "results"),
    ("/v2/reports/uninvoiced", {"from": "20250101", "to": "20250531"}, "results"),
    ("/v2/reports/project_budget", {}, "results"),
]  # fmt: skip
META = {"per_page", "total_pages", "total_entries", "next_page", "previous_page", "page", "links"}


@pytest.mark.parametrize(("path", "params", "key"), ENVELOPES)
async def test_envelope_key_and_paging_fields(path: str, params: dict, key: str) -> None:
    async with client() as c:
        body = await get(c, path, **params)
    assert set(body) == {key} | META and body[key], path
    assert set(body["links"]) == {"first", "next", "previous", "last"}
    assert all(not k.startswith("_") for row in body[key] for k in row)


async def test_company_is_one_object_without_envelope() -> None:
    async with client() as c:
        company = await get(c, "/v2/company")
    assert "links" not in company and "id" not in company
    assert company["invoice_feature"] is company["expense_feature"] is company["estimate_feature"] is True
    assert company["clock"] in ("12h", "24h") and company["weekly_capacity"] > 0


# -- filters ----------------------------------------------------------------------------------------
async def test_time_entry_filters_match_filtering_the_whole_window() -> None:
    """Every server-side filter (several take a different path in the sandbox) equals client-side filtering."""
    window = {"from": "2025-04-20", "to": "2025-05-20"}
    async with client() as c:
        entry = (await get(c, "/v2/time_entries", per_page=1, page=40, **window))["time_entries"][0]
        patched = await c.patch(f"/_admin/time_entries/{entry['id']}", json={"notes": "edited"})
        deleted = await c.delete(f"/_admin/time_entries/{entry['id'] - 1}")
        assert (patched.status_code, deleted.status_code) == (200, 200)
        base = await follow(c, "/v2/time_entries", "time_entries", **window)
        since = "2025-05-10T00:00:00Z"
        ext = next(e["external_reference"]["id"] for e in base if e["external_reference"])
        cases: list[tuple[dict[str, Any], Any]] = [
            ({"updated_since": since}, lambda e: e["updated_at"] >= since),
            ({"client_id": entry["client"]["id"]}, lambda e: e["client"]["id"] == entry["client"]["id"]),
            ({"project_id": entry["project"]["id"], "is_billed": "false"},
             lambda e: e["project"]["id"] == entry["project"]["id"] and not e["is_billed"]),
            ({"task_id": entry["task"]["id"], "updated_since": since},
             lambda e: e["task"]["id"] == entry["task"]["id"] and e["updated_at"] >= since),
            ({"user_id": entry["user"]["id"]}, lambda e: e["user"]["id"] == entry["user"]["id"]),
            ({"is_billed": "true"}, lambda e: e["is_billed"]),
            ({"is_running": "true"}, lambda e: e["is_running"]),
            ({"external_reference_id": ext}, lambda e: (e["external_reference"] or {}).get("id") == ext),
        ]  # fmt: skip
        for params, keep in cases:
            got = await follow(c, "/v2/time_entries", "time_entries", **window, **params, per_page=97)
            assert [e["id"] for e in got] == [e["id"] for e in base if keep(e)], params
    assert entry["id"] in {e["id"] for e in base} and entry["id"] - 1 not in {e["id"] for e in base}


async def test_updated_since_without_dates_reaches_back_dated_edits() -> None:
    """tap-harvest#18: an old entry edited today must come back through updated_since."""
    async with client() as c:
        old = await get(c, "/v2/time_entries", per_page=1, **{"from": "2024-01-10", "to": "2024-01-10"})
        old = old["time_entries"][0]
        before = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        edited = (await c.patch(f"/_admin/time_entries/{old['id']}", json={"hours": 2.1})).json()
        rows = await follow(c, "/v2/time_entries", "time_entries", updated_since=edited["updated_at"])
    assert edited["updated_at"] > old["updated_at"] and edited["updated_at"] >= before
    assert [r["id"] for r in rows] == [old["id"]]
    assert (rows[0]["hours"], rows[0]["rounded_hours"], rows[0]["spent_date"]) == (2.1, 2.25, "2024-01-10")


async def test_date_filters_on_expenses_and_invoices() -> None:
    async with client() as c:
        expenses = await follow(c, "/v2/expenses", "expenses", **{"from": "2024-06-01", "to": "2024-12-31"})
        invoices = await follow(c, "/v2/invoices", "invoices", **{"from": "2025-01-01", "to": "2025-03-31"})
        paid = await follow(c, "/v2/invoices", "invoices", state="paid")
        bad = await c.get("/v2/invoices", params={"state": "lost"}, headers=HEADERS)
        bad_date = await c.get("/v2/expenses", params={"from": "June"}, headers=HEADERS)
    assert expenses and all("2024-06-01" <= e["spent_date"] <= "2024-12-31" for e in expenses)
    assert invoices and all("2025-01-01" <= i["issue_date"] <= "2025-03-31" for i in invoices)
    assert paid and {i["state"] for i in paid} == {"paid"} and bad.status_code == bad_date.status_code == 422


async def test_updated_since_on_dimensions_and_none_on_roles() -> None:
    async with client() as c:
        assert (await c.patch("/_admin/clients/2003", json={"name": "Renamed GmbH"})).status_code == 200
        changed = (await get(c, "/v2/clients", updated_since="2026-01-01T00:00:00Z"))["clients"]
        roles = await get(c, "/v2/roles", updated_since="2100-01-01T00:00:00Z")
        entries = (await get(c, "/v2/time_entries", client_id=2003, per_page=1))["time_entries"]
    assert [x["name"] for x in changed] == ["Renamed GmbH"]
    assert roles["roles"]  # roles document no updated_since: the parameter is ignored
    assert entries[0]["client"]["name"] == "Renamed GmbH"  # nested references follow edits


# -- invoices, reports ------------------------------------------------------------------------------
async def test_invoices_embed_line_items_and_join_billed_entries() -> None:
    async with client() as c:
        invoices = {i["id"]: i for i in await follow(c, "/v2/invoices", "invoices")}
        april = await follow(c, "/v2/time_entries", "time_entries", **{"from": "2025-04-01", "to": "2025-04-30"},
                             is_billed="true")  # fmt: skip
        paid = next(i for i in invoices.values() if i["state"] == "paid")
        payments = (await get(c, f"/v2/invoices/{paid['id']}/payments"))["invoice_payments"]
        messages = (await get(c, f"/v2/invoices/{paid['id']}/messages"))["invoice_messages"]
        estimate = next(iter((await get(c, "/v2/estimates", state="accepted"))["estimates"]))
        estimate_messages = (await get(c, f"/v2/estimates/{estimate['id']}/messages"))["estimate_messages"]
        missing = await c.get("/v2/invoices/1/payments", headers=HEADERS)
    assert round(sum(p["amount"] for p in payments), 2) == paid["amount"] and paid["due_amount"] == 0
    assert messages and any(m["thank_you"] for m in messages) and missing.status_code == 404
    assert [m["event_type"] for m in estimate_messages] == ["accept", None]  # newest first
    by_invoice: dict[int, float] = {}
    for e in april:
        assert e["invoice"] and e["invoice"]["id"] in invoices
        by_invoice[e["invoice"]["id"]] = (
            by_invoice.get(e["invoice"]["id"], 0) + e["rounded_hours"] * e["billable_rate"]
        )
    for invoice_id, amount in by_invoice.items():
        lines = invoices[invoice_id]["line_items"]
        assert {
            "id",
            "project",
            "kind",
            "description",
            "quantity",
            "unit_price",
            "amount",
            "taxed",
            "taxed2",
        } <= set(lines[0])
        time = sum(li["amount"] for li in lines if li["kind"] == "Service")
        assert abs(time - amount) < 0.05 * len(lines), invoice_id


async def test_reports_need_a_window_of_at_most_a_year_and_add_up() -> None:
    async with client() as c:
        year = await c.get(
            "/v2/reports/time/clients", params={"from": "20240101", "to": "20241231"}, headers=HEADERS
        )
        too_long = await c.get("/v2/reports/time/clients", params={"from": "20240101", "to": "20250102"},
                               headers=HEADERS)  # fmt: skip
        missing = await c.get("/v2/reports/uninvoiced", params={"from": "20240101"}, headers=HEADERS)
        team = (await get(c, "/v2/reports/time/team", **{"from": "20250501", "to": "20250531"}))["results"]
        entries = await follow(c, "/v2/time_entries", "time_entries", **MAY)
    assert year.status_code == 200 and too_long.status_code == missing.status_code == 422
    assert "1 year" in too_long.json()["message"]
    total = sum(e["rounded_hours"] for e in entries)
    billable = sum(e["rounded_hours"] * e["billable_rate"] for e in entries if e["billable"])
    assert abs(sum(r["total_hours"] for r in team) - total) < 0.01
    assert abs(sum(r["billable_amount"] for r in team) - billable) < 0.01 * len(team)
    assert {r["user_id"] for r in team} == {e["user"]["id"] for e in entries}


# -- rate limits and faults -------------------------------------------------------------------------
async def test_rate_limits_answer_429_with_retry_after_and_reports_have_their_own_bucket() -> None:
    limits = {"harvest": (RateWindow(3, 15),), "harvest_reports": (RateWindow(1, 900),)}
    async with client(SandboxOptions(org=OrgOptions(anchor=ANCHOR), rate_limits=limits)) as c:
        statuses = [(await c.get("/v2/tasks", headers=HEADERS)).status_code for _ in range(4)]
        throttled = await c.get("/v2/tasks", headers=HEADERS)
        report = {"from": "20250101", "to": "20250131"}
        reports = [
            (await c.get("/v2/reports/time/team", params=report, headers=HEADERS)).status_code
            for _ in range(2)
        ]
    assert statuses == [200, 200, 200, 429] and throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 15 and "message" in throttled.json()
    assert reports == [200, 429]


async def test_fail_next_queue_and_admin_org() -> None:
    async with client() as c:
        await c.post(
            "/_admin/faults", json={"fail_next": [{"status": 503, "count": 1, "path": "/v2/projects"}]}
        )
        failed = await c.get("/v2/projects", headers=HEADERS)
        ok = await c.get("/v2/projects", headers=HEADERS)
        info = (await c.get("/_admin/org")).json()
        log = (await c.get("/_admin/requests", params={"path": "/v2/projects"})).json()
    assert (failed.status_code, ok.status_code) == (503, 200)
    assert (
        info["credentials"]["token"] == "sandbox-harvest-token"
        and info["credentials"]["account_id"] == 123456
    )
    assert [r["status"] for r in log["requests"]] == [503, 200]


# -- admin edits ------------------------------------------------------------------------------------
async def test_admin_insert_edit_delete_time_entries() -> None:
    async with client() as c:
        before = await get(c, "/v2/time_entries", **MAY, per_page=5)
        created = await c.post("/_admin/time_entries", json={
            "user_id": 1003, "project_id": 3001, "task_id": 406, "spent_date": "2025-05-31", "hours": 1.5,
            "notes": "Inserted"})  # fmt: skip
        after = await get(c, "/v2/time_entries", **MAY, per_page=5)
        victim = after["time_entries"][3]
        await c.delete(f"/_admin/time_entries/{victim['id']}")
        gone = await c.get(f"/v2/time_entries/{victim['id']}", headers=HEADERS)
        final = await get(c, "/v2/time_entries", **MAY, per_page=5)
        reset = await c.post("/_admin/reset")
        restored = await get(c, "/v2/time_entries", **MAY, per_page=5)
    row = created.json()
    assert created.status_code == 201 and row["client"]["id"] == 2001 and row["user"]["id"] == 1003
    assert row["task_assignment"] and row["user_assignment"] and row["rounded_hours"] == 1.5
    assert after["total_entries"] == before["total_entries"] + 1
    assert (
        after["time_entries"][0]["id"] == row["id"]
    )  # newest spent_date first, admin rows first in their day
    assert gone.status_code == 404 and final["total_entries"] == before["total_entries"]
    assert victim["id"] not in {e["id"] for e in final["time_entries"]}
    assert reset.status_code == 200 and restored == before


async def test_admin_edits_of_user_roles_show_in_roles_and_bump_updated_at() -> None:
    async with client() as c:
        user = await get(c, "/v2/users/1005")
        edited = (await c.patch("/_admin/users/1005", json={"roles": ["Developer", "Chess Coach"]})).json()
        roles = {r["name"]: r for r in (await get(c, "/v2/roles"))["roles"]}
        bad = await c.post("/_admin/time_entries", json={"user_id": 1, "project_id": 3001})
    assert edited["updated_at"] > user["updated_at"] and edited["roles"] == ["Developer", "Chess Coach"]
    assert 1005 in roles["Developer"]["user_ids"]
    assert all(1005 not in r["user_ids"] for name, r in roles.items() if name != "Developer")
    assert bad.status_code == 400


# -- the same agency ------------------------------------------------------------------------------
async def test_same_people_clients_and_projects_as_clockodo() -> None:
    options = SandboxOptions(org=OrgOptions(anchor=ANCHOR, seed=7), rate_limit=False)
    clockodo = create_clockodo_app(options)
    clockodo_headers = {"X-ClockodoApiUser": "sandbox@couplet.dev", "X-ClockodoApiKey": "sandbox-key",
                        "X-Clockodo-External-Application": "tests;dev@couplet.dev"}  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=clockodo), base_url="http://c") as cc:
        users = (await cc.get("/v3/users", headers=clockodo_headers)).json()["data"]
        customers = (await cc.get("/v3/customers", headers=clockodo_headers)).json()["data"]
        projects = (await cc.get("/v4/projects", headers=clockodo_headers)).json()["data"]
    async with client(options) as c:
        h_users = (await get(c, "/v2/users"))["users"]
        h_clients = (await get(c, "/v2/clients"))["clients"]
        h_projects = (await get(c, "/v2/projects"))["projects"]
    assert {(u["id"], u["name"], u["email"]) for u in users} == {
        (u["id"], f"{u['first_name']} {u['last_name']}", u["email"]) for u in h_users}  # fmt: skip
    assert {(x["id"], x["name"]) for x in customers} == {(x["id"], x["name"]) for x in h_clients}
    assert {(p["id"], p["name"], p["customers_id"]) for p in projects} == {
        (p["id"], p["name"], p["client"]["id"]) for p in h_projects}  # fmt: skip


async def test_roles_vary_from_none_to_several() -> None:
    async with client() as c:
        users = (await get(c, "/v2/users"))["users"]
    counts = {len(u["roles"]) for u in users}
    assert {0, 1} <= counts and max(counts) >= 2
    assert all(isinstance(r, str) for u in users for r in u["roles"])
    assert all(
        len([r for r in u["access_roles"] if r in ("administrator", "manager", "member")]) == 1 for u in users
    )


def test_generated_entries_fit_the_ledger_assumptions() -> None:
    """Lump sums end their cell, and nothing changes more than LAG_DAYS after its day (updated_since relies on it)."""
    org = org_for(OPTIONS)
    ledger = ledger_for(org)
    rows = ledger.rows(0, org.days - 1)
    assert len(rows) == ledger.time_entry_count == org.entry_count - int(ledger.lump.sum())
    starts = np.array([day_ts(org.first_day + timedelta(days=int(d))) for d in rows["day"]])
    assert int((rows["changed"] - starts).max()) < LAG_DAYS * 86_400
    cells = np.argwhere(ledger.lump).tolist()
    assert cells and all(org.entries_for(u, d)[-1].kind != "time" for d, u in cells)


def test_fast_json_path_equals_the_dict_rendering() -> None:
    app = create_app(OPTIONS)
    entries, org = app.state.sandbox.entries, app.state.sandbox.org
    sample = [
        e
        for d in range(0, org.days, 5)
        for u in range(len(org.people))
        for e in entries.ledger.time_entries(d, u)
    ]
    assert any(e.billed for e in sample) and any(entries.external_reference(e) for e in sample)
    for e in sample:
        assert json.loads(entries.encode(e)) == entries.render(e), e.id
        assert list(json.loads(entries.encode(e))) == list(entries.render(e))  # same field order


async def test_a_2000_row_page_is_served_quickly() -> None:
    async with client() as c:
        params = {"from": "2024-01-01", "to": "2024-12-31"}
        await get(c, "/v2/time_entries", **params)  # warms the generator's cell cache
        loop = asyncio.get_running_loop()
        start = loop.time()
        body = await get(c, "/v2/time_entries", **params, page=2)
        elapsed = loop.time() - start
    assert len(body["time_entries"]) == 2000 and elapsed < 1.0
