"""The Clockify sandbox against the public contract (reference/clockify.md), through httpx's ASGI transport."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox.clockify import create_app
from sandbox.clockify.ids import parse_duration
from sandbox.clockify.report_rows import RowEncoder
from sandbox.clockodo import create_app as create_clockodo_app
from sandbox.common import RateWindow, SandboxOptions
from sandbox.org import Org, OrgOptions, lump_sum_cells

pytestmark = pytest.mark.anyio
ANCHOR = date(2025, 6, 16)
OPTIONS = SandboxOptions(org=OrgOptions(anchor=ANCHOR))
ORG = Org(OPTIONS.org)  # shared: the ledger of all entries (project durations, invoices) is built once
KEY = {"X-Api-Key": "sandbox-key"}
HEX24 = re.compile(r"^[0-9a-f]{24}$")
ISO_DURATION = re.compile(r"^PT(\d+H)?(\d+M)?(\d+S)?$")
MAY = {"dateRangeStart": "2025-05-01T00:00:00.000Z", "dateRangeEnd": "2025-05-31T23:59:59.999Z"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def client(options: SandboxOptions = OPTIONS, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(options, ORG if options.org == OPTIONS.org else None, **kwargs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=KEY) as c:
        c.ws = app.state.sandbox.ws  # type: ignore[attr-defined]
        c.sandbox = app.state.sandbox  # type: ignore[attr-defined]
        yield c


def api(c: httpx.AsyncClient, path: str = "") -> str:
    return f"/api/v1/workspaces/{c.ws}{path}"  # type: ignore[attr-defined]


async def get_all(c: httpx.AsyncClient, path: str, size: int = 50, **params: Any) -> list[dict]:
    """Follow `Last-Page` to the end; also checks pages are full until the last one."""
    rows: list[dict] = []
    for page in range(1, 10_000):
        r = await c.get(path, params={**params, "page": page, "page-size": size})
        assert r.status_code == 200, r.text
        rows += r.json()
        if r.headers["Last-Page"] == "true":
            return rows
        assert len(r.json()) == size
    raise AssertionError("no last page")


async def report(c: httpx.AsyncClient, ws: str | None = None, **body: Any) -> httpx.Response:
    return await c.post(f"/reports/v1/workspaces/{ws or c.ws}/reports/detailed", json=body)  # type: ignore[attr-defined]


async def report_all(c: httpx.AsyncClient, size: int = 200, **body: Any) -> tuple[list[dict], list[dict]]:
    rows: list[dict] = []
    for page in range(1, 1000):
        r = await report(c, **body, detailedFilter={"page": page, "pageSize": size})
        assert r.status_code == 200, r.text
        rows += r.json()["timeentries"]
        if len(r.json()["timeentries"]) < size:
            return rows, r.json()["totals"]
    raise AssertionError("report never ended")


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- auth, errors, rate limits ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Api-Key": "sandbox-key", "X-Addon-Token": "t"}, {"Authorization": "Bearer sandbox-key"},
     {"X-Api-Key": "sandbox-key", "Authorization": "Bearer x"}],
)  # fmt: skip
async def test_exactly_one_auth_token_or_401_code_1000(headers: dict[str, str]) -> None:
    async with client() as c:
        r = await c.get("/api/v1/workspaces", headers={"X-Api-Key": ""} | headers)
    assert (r.status_code, r.json()) == (
        401,
        {"message": "Multiple or none auth tokens present", "code": 1000},
    )


async def test_unknown_key_and_addon_token_bodies() -> None:
    async with client() as c:
        wrong = await c.get("/api/v1/workspaces", headers={"X-Api-Key": "nope"})
        addon = await c.get("/api/v1/workspaces", headers={"X-Api-Key": "", "X-Addon-Token": "t"})
    assert (wrong.status_code, wrong.json()) == (401, {"message": "Api key does not exist", "code": 4003})
    assert addon.status_code == 401 and addon.json()["code"] == 4017


async def test_unbound_routes_and_methods_answer_code_3000() -> None:
    async with client() as c:
        missing = await c.get(api(c, "/nothing-here"))
        group = (await c.get(api(c, "/user-groups"))).json()[0]["id"]
        single_group = await c.get(api(c, f"/user-groups/{group}"))
        get_requests = await c.get(api(c, "/time-off/requests"))
        one_request = await c.get(api(c, "/time-off/requests/" + "a" * 24))
    assert (
        missing.status_code == 404 and missing.json()["code"] == 3000 and "No static resource" in missing.text
    )
    assert (single_group.status_code, get_requests.status_code, one_request.status_code) == (405, 405, 404)
    assert single_group.json()["code"] == get_requests.json()["code"] == 3000


async def test_rate_limit_50_per_second_answers_429_too_many_requests() -> None:
    async with client() as c:
        assert c.sandbox.state.limiter.buckets["global"] == (RateWindow(50, 1.0),)  # type: ignore[attr-defined]
    options = SandboxOptions(org=OPTIONS.org, rate_limits={"global": (RateWindow(3, 60),)})
    async with client(options) as c:
        codes = [(await c.get("/api/v1/workspaces")).status_code for _ in range(4)]
        limited = await c.get("/api/v1/workspaces")
    assert codes == [200, 200, 200, 429]
    assert limited.json() == {"message": "Too many requests", "code": 429}
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


async def test_free_plan_workspace_has_an_hourly_budget() -> None:
    options = SandboxOptions(org=OPTIONS.org, rate_limits={"free_plan": (RateWindow(2, 3600),)})
    async with client(options) as c:
        personal = c.sandbox.personal  # type: ignore[attr-defined]
        free = [(await c.get(f"/api/v1/workspaces/{personal}/users")).status_code for _ in range(3)]
        paid = (await c.get(api(c, "/users"))).status_code
    assert free == [200, 200, 429] and paid == 200


async def test_fail_next_and_injected_errors_use_the_error_shape() -> None:
    async with client() as c:
        await c.post("/_admin/faults", json={"fail_next": [{"status": 503, "count": 1, "path": "/tags"}]})
        first, second = await c.get(api(c, "/tags")), await c.get(api(c, "/tags"))
    assert (first.status_code, first.json()["code"], second.status_code) == (503, 503, 200)
    async with client(SandboxOptions(org=OPTIONS.org, truncate_rate=1.0)) as c:
        with pytest.raises(json.JSONDecodeError):
            json.loads((await c.get(api(c, "/tags"))).text)


# -- workspaces, ids, paging -------------------------------------------------------------------------
async def test_two_workspaces_unpaged_roles_and_membership() -> None:
    async with client() as c:
        plain = await c.get("/api/v1/workspaces")
        odd = await c.get("/api/v1/workspaces", params={"page": 2, "page-size": 1})
        owner_roles = await c.get("/api/v1/workspaces", params={"roles": "OWNER"})
        info = (await c.get("/_admin/org")).json()
        worker = {"X-Api-Key": info["credentials"]["worker_api_key"]}
        worker_spaces = (await c.get("/api/v1/workspaces", headers=worker)).json()
        foreign = await c.get(f"/api/v1/workspaces/{info['personal_workspace_id']}/users", headers=worker)
    spaces = plain.json()
    assert "Last-Page" not in plain.headers and odd.json() == spaces and len(spaces) == 2
    assert [w["id"] for w in spaces] == [info["workspace_id"], info["personal_workspace_id"]]
    assert [w["featureSubscriptionType"] for w in spaces] == ["PRO", "FREE"]
    assert spaces[0]["hourlyRate"] == {"amount": 10_000, "currency": "EUR"}
    assert {"timeTrackingMode", "workingDays", "onlyAdminsSeeAllTimeEntries"} <= set(
        spaces[0]["workspaceSettings"]
    )
    assert {m["membershipType"] for m in spaces[0]["memberships"]} == {"WORKSPACE"}
    assert len(owner_roles.json()) == 2 and [w["id"] for w in worker_spaces] == [info["workspace_id"]]
    assert (foreign.status_code, foreign.json()["message"]) == (403, "Access Denied")
    async with client(personal_workspace=False) as c:
        assert len((await c.get("/api/v1/workspaces")).json()) == 1


async def test_ids_are_24_hex_and_stable_per_seed() -> None:
    async with client() as c:
        users = await get_all(c, api(c, "/users"), status="ALL")
        projects = await get_all(c, api(c, "/projects"))
    assert all(HEX24.match(x["id"]) for x in users + projects)
    assert all(HEX24.match(p["clientId"]) for p in projects)
    seven = SandboxOptions(org=OrgOptions(anchor=ANCHOR, seed=7))
    async with client(seven) as a, client(seven) as b:
        first, again = (await a.get(api(a, "/users"))).json(), (await b.get(api(b, "/users"))).json()
    assert first == again and {u["id"] for u in first}.isdisjoint({u["id"] for u in users})


PAGED = ["/users", "/clients", "/projects", "/tags", "/user-groups", "/time-off/policies"]


@pytest.mark.parametrize("path", PAGED)
async def test_paging_follows_last_page_and_pages_partition_the_list(path: str) -> None:
    async with client() as c:
        maximum = 200 if "time-off" in path else 5000
        whole = await c.get(api(c, path), params={"page-size": maximum})
        pages = await get_all(c, api(c, path), size=2)
        too_big = await c.get(api(c, path), params={"page-size": maximum + 1})
        beyond = await c.get(api(c, path), params={"page": 99, "page-size": 2})
    assert whole.headers["Last-Page"] == "true" and pages == whole.json() and len(pages) > 2
    assert too_big.status_code == 400 and set(too_big.json()) == {"message", "code"}
    assert beyond.json() == [] and beyond.headers["Last-Page"] == "true"


async def test_default_page_size_is_50() -> None:
    async with client() as c:
        first = await c.get(api(c, "/expenses"))
    assert len(first.json()["expenses"]["expenses"]) == 50 and first.headers["Last-Page"] == "false"


@pytest.mark.parametrize("path", ["/custom-fields", "/holidays"])
async def test_unpaged_endpoints_ignore_page_params(path: str) -> None:
    async with client() as c:
        plain = await c.get(api(c, path))
        odd = await c.get(api(c, path), params={"page": 2, "page-size": 1})
    assert plain.json() == odd.json() and len(plain.json()) > 1 and "Last-Page" not in odd.headers


async def test_time_off_endpoints_cap_page_size_at_200_and_page_at_1000() -> None:
    async with client() as c:
        policy = (await c.get(api(c, "/time-off/policies"))).json()[0]["id"]
        path = api(c, f"/time-off/balance/policy/{policy}")
        statuses = [
            (await c.get(path, params=p)).status_code
            for p in ({"page-size": 200}, {"page-size": 201}, {"page": 1000}, {"page": 1001})
        ]
    assert statuses == [200, 400, 200, 400]


# -- the same agency as Clockodo ----------------------------------------------------------------------
async def test_same_people_clients_projects_and_work_as_clockodo() -> None:
    clockodo = create_clockodo_app(OPTIONS, ORG)
    headers = {"X-ClockodoApiUser": "sandbox@couplet.dev", "X-ClockodoApiKey": "sandbox-key",
               "X-Clockodo-External-Application": "tests;dev@couplet.dev"}  # fmt: skip
    transport = httpx.ASGITransport(app=clockodo)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://o", headers=headers) as o,
        client() as c,
    ):
        o_users = (await o.get("/v3/users")).json()["data"]
        o_clients = (await o.get("/v3/customers")).json()["data"]
        o_projects = (await o.get("/v4/projects")).json()["data"]
        window = {"time_since": "2025-05-01T00:00:00Z", "time_until": "2025-06-01T00:00:00Z"}
        o_entries, page = [], 1
        while True:
            body = (await o.get("/v2/entries", params={**window, "page": page})).json()
            o_entries += body["entries"]
            if page >= body["paging"]["count_pages"]:
                break
            page += 1
        users = await get_all(c, api(c, "/users"), status="ALL")
        clients = await get_all(c, api(c, "/clients"), archived="true")
        projects = await get_all(c, api(c, "/projects"))
        rows, totals = await report_all(c, size=1000, timeZone="UTC", **MAY)
    assert {(u["name"], u["email"]) for u in o_users} == {(u["name"], u["email"]) for u in users}
    assert {x["name"] for x in o_clients} == {x["name"] for x in clients}
    names = {x["id"]: x["name"] for x in o_clients}
    assert {(names[p["customers_id"]], p["name"]) for p in o_projects} == {
        (p["clientName"], p["name"]) for p in projects
    }
    work = [e for e in o_entries if e["type"] == 1]
    assert len(work) == len(rows) == totals[0]["entriesCount"]
    assert sum(e["duration"] for e in work) == sum(r["timeInterval"]["duration"] for r in rows)
    lump_sums = [e for e in o_entries if e["type"] != 1]
    async with client() as c:
        expenses = (await c.get(api(c, "/expenses"), params={"page-size": 5000})).json()["expenses"][
            "expenses"
        ]
    assert len([x for x in expenses if x["date"].startswith("2025-05")]) == len(lump_sums)


def test_lump_sum_cells_match_the_generator() -> None:
    marks = lump_sum_cells(ORG)
    for d in range(0, ORG.days, 5):
        for u in range(len(ORG.people)):
            entries = ORG.entries_for(u, d)
            assert bool(marks[d, u]) == (bool(entries) and entries[-1].kind != "time")


# -- users, dimensions, shapes -----------------------------------------------------------------------
async def test_users_default_to_active_members_and_status_all_adds_the_leaver() -> None:
    async with client() as c:
        active = await get_all(c, api(c, "/users"))
        everyone = await get_all(c, api(c, "/users"), status="ALL")
        inactive = await get_all(c, api(c, "/users"), status="INACTIVE", memberships="WORKSPACE")
        roles = (
            await c.get(api(c, "/users"), params={"include-roles": "true", "sort-column": "NAME"})
        ).json()
        info = await c.post(
            api(c, "/users/info"), json={"status": "ALL", "pageSize": 200, "includeRoles": True}
        )
        managers = await c.post(api(c, "/users/info"), json={"roles": ["TEAM_MANAGER"]})
    assert len(everyone) == len(ORG.people) and len(active) + len(inactive) == len(everyone) and inactive
    assert [m["membershipStatus"] for m in inactive[0]["memberships"]] == ["INACTIVE"]
    assert [u["email"] for u in active] == sorted(u["email"] for u in active)  # default sort: EMAIL
    assert [u["name"] for u in roles] == sorted(u["name"] for u in roles)
    assert {"OWNER", "TEAM_MANAGER"} <= {r["role"] for u in roles for r in u["roles"]}
    owner = next(u for u in everyone if u["email"] == "sandbox@couplet.dev")
    assert owner["settings"]["timeZone"] == "Europe/Berlin" and owner["customFields"][0]["value"]
    assert not any(k.startswith("_") for u in everyone for k in u)
    assert {u["id"] for u in info.json()} == {u["id"] for u in everyone} and info.headers[
        "Last-Page"
    ] == "true"
    assert {r["role"] for u in managers.json() for r in u.get("roles", [])} <= {"TEAM_MANAGER"}
    assert len(managers.json()) == len(ORG.teams)


async def test_clients_projects_tags_filters() -> None:
    async with client() as c:
        clients = await get_all(c, api(c, "/clients"))
        with_archived = await get_all(c, api(c, "/clients"), archived="true")
        projects = await get_all(c, api(c, "/projects"))
        archived = await get_all(c, api(c, "/projects"), archived="true")
        one_client = await get_all(c, api(c, "/projects"), clients=projects[0]["clientId"])
        hydrated = (await c.get(api(c, "/projects"), params={"hydrated": "true", "page-size": 1})).json()[0]
        tags = await get_all(c, api(c, "/tags"))
        active_tags = await get_all(c, api(c, "/tags"), archived="false")
        named = await get_all(c, api(c, "/projects"), name="website")
    assert len(with_archived) == len(clients) + 1  # the last customer is archived
    assert archived and all(p["archived"] for p in archived) and len(archived) < len(projects)
    assert one_client and {p["clientId"] for p in one_client} == {projects[0]["clientId"]}
    assert {"client", "tasks", "customFields", "currency"} <= set(hydrated) and hydrated["tasks"]
    assert len(active_tags) == len(tags) - 1 and all(not t["archived"] for t in active_tags)
    assert named and all("website" in p["name"].lower() for p in named)
    p = next(p for p in projects if p["billable"])
    assert p["hourlyRate"]["amount"] == round(ORG.project_by_id[int(p["id"][12:], 16)].hourly_rate * 100)
    assert ISO_DURATION.match(p["duration"]) and parse_duration(p["duration"]) > 0


async def test_tasks_are_per_project_and_foreign_projects_are_refused() -> None:
    async with client() as c:
        project = (await get_all(c, api(c, "/projects")))[3]
        tasks = await get_all(c, api(c, f"/projects/{project['id']}/tasks"))
        active = await get_all(c, api(c, f"/projects/{project['id']}/tasks"), **{"is-active": "true"})
        foreign = await c.get(api(c, "/projects/" + "0" * 24 + "/tasks"))
        fields = await c.get(api(c, f"/projects/{project['id']}/custom-fields"))
    assert tasks and all(t["projectId"] == project["id"] for t in tasks)
    assert all(t["status"] == "ACTIVE" for t in active) and all(
        ISO_DURATION.match(t["duration"]) for t in tasks
    )
    assert (foreign.status_code, foreign.json()["code"]) == (400, 501)
    assert fields.status_code == 200 and all(f["entityType"] == "TIMEENTRY" for f in fields.json())


# -- time entries ---------------------------------------------------------------------------------------
async def user_id(c: httpx.AsyncClient, index: int = 3) -> str:
    return (await get_all(c, api(c, "/users"), status="ALL", **{"sort-column": "ID"}))[index]["id"]


async def test_time_entries_newest_first_paged_with_last_page() -> None:
    async with client() as c:
        uid = await user_id(c)
        window = {"start": "2025-05-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"}
        rows = await get_all(c, api(c, f"/user/{uid}/time-entries"), size=7, **window)
        whole = (
            await c.get(api(c, f"/user/{uid}/time-entries"), params={**window, "page-size": 1000})
        ).json()
    starts = [r["timeInterval"]["start"] for r in rows]
    assert rows == whole and len(rows) > 20 and starts == sorted(starts, reverse=True)
    assert len({r["id"] for r in rows}) == len(rows) and {r["userId"] for r in rows} == {uid}
    for r in rows:
        interval = r["timeInterval"]
        assert ISO_DURATION.match(interval["duration"]) and interval["start"].endswith("Z")
        assert parse_duration(interval["duration"]) == ts(interval["end"]) - ts(interval["start"])
        assert set(r["hourlyRate"]) == {"amount", "currency"} and isinstance(r["hourlyRate"]["amount"], int)
        assert r["customFieldValues"][0]["timeEntryId"] == r["id"] and r["type"] == "REGULAR"


async def test_time_entry_bounds_are_wall_clock_in_the_requesters_zone() -> None:
    async with client() as c:
        uid = await user_id(c)
        day = {"start": "2025-05-01T00:00:00Z", "end": "2025-06-01T00:00:00Z", "page-size": 1000}
        month = (await c.get(api(c, f"/user/{uid}/time-entries"), params=day)).json()
        window = {"start": "2025-05-06T09:00:00Z", "end": "2025-05-06T12:00:00Z", "page-size": 1000}
        berlin = (await c.get(api(c, f"/user/{uid}/time-entries"), params=window)).json()
        owner = c.sandbox.keys["sandbox-key"].user  # type: ignore[attr-defined]
        settings = (await get_all(c, api(c, "/users"), email="sandbox@"))[0]["settings"]
        await c.patch(f"/_admin/users/{owner}", json={"settings": {**settings, "timeZone": "UTC"}})
        utc = (await c.get(api(c, f"/user/{uid}/time-entries"), params=window)).json()

    def starting(lo: str, hi: str) -> list[str]:
        return [r["id"] for r in month if ts(lo) <= ts(r["timeInterval"]["start"]) < ts(hi)]

    # the owner's zone is Europe/Berlin (UTC+2 in May): 09:00 on the wall clock is 07:00Z
    assert [r["id"] for r in berlin] == starting("2025-05-06T07:00:00Z", "2025-05-06T10:00:00Z") != []
    assert [r["id"] for r in utc] == starting("2025-05-06T09:00:00Z", "2025-05-06T12:00:00Z") != []
    assert berlin != utc


async def test_time_entry_filters_hydrated_and_rights() -> None:
    async with client() as c:
        uid = await user_id(c)
        window = {"start": "2025-04-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"}
        path = api(c, f"/user/{uid}/time-entries")
        rows = await get_all(c, path, size=1000, **window)
        project = rows[0]["projectId"]
        by_project = await get_all(c, path, size=5, project=project, **window)
        tag = next(t for r in rows for t in r["tagIds"])
        by_tag = await get_all(c, path, size=5, tags=tag, **window)
        hydrated = (await c.get(path, params={**window, "hydrated": "true", "page-size": 3})).json()
        worker = {"X-Api-Key": "worker-key"}
        other = await c.get(path, headers=worker)
        bad = await c.get(path, params={"start": "2025-05-01"})
        foreign = await c.get(api(c, "/user/" + "0" * 24 + "/time-entries"))
    assert by_project == [r for r in rows if r["projectId"] == project]
    assert by_tag == [r for r in rows if tag in r["tagIds"]]
    assert {"project", "task", "tags", "user"} <= set(hydrated[0]) and hydrated[0]["project"][
        "id"
    ] == hydrated[0]["projectId"]
    assert other.status_code == 403 and bad.status_code == 400 and foreign.status_code == 400


async def test_fast_encoders_match_the_dict_path() -> None:
    async with client() as c:
        sandbox = c.sandbox  # type: ignore[attr-defined]
        entries, reports = sandbox.entries, sandbox.report
        tz = __import__("zoneinfo").ZoneInfo("Europe/Lisbon")
        for amounts, shown in ((["EARNED", "COST", "PROFIT"], "EARNED"), ([], "PROFIT"), ([], "HIDE_AMOUNT")):
            encoder = RowEncoder(entries, reports.names(), sandbox.approvals.for_entry, tz, shown, amounts)
            for d in range(ORG.days - 60, ORG.days, 3):
                for u in range(len(ORG.people)):
                    for e in ORG.entries_for(u, d):
                        if e.kind == "time":
                            assert json.loads(entries.encode(e)) == entries.wire(e)
                            assert json.loads(encoder.encode(e)) == reports.row(
                                entries.wire(e), e, tz, shown, amounts
                            )


# -- detailed report --------------------------------------------------------------------------------------
async def test_report_pages_units_and_totals() -> None:
    async with client() as c:
        rows, totals = await report_all(
            c, size=100, timeZone="Europe/Berlin", amounts=["EARNED", "COST"], **MAY
        )
        too_big = await report(c, **MAY, detailedFilter={"page": 1, "pageSize": 1001})
        missing = await report(c, detailedFilter={"page": 1, "pageSize": 10})
        excluded = await report(
            c, **MAY, detailedFilter={"page": 1, "pageSize": 5, "options": {"totals": "EXCLUDE"}}
        )
    total = totals[0]
    assert len(rows) == total["entriesCount"] > 300 and len({r["_id"] for r in rows}) == len(rows)
    assert total["totalTime"] == sum(r["timeInterval"]["duration"] for r in rows)
    assert total["totalBillableTime"] == sum(r["timeInterval"]["duration"] for r in rows if r["billable"])
    assert {a["type"] for a in total["amounts"]} == {"EARNED", "COST"}
    starts = [ts(r["timeInterval"]["start"]) for r in rows]
    assert starts == sorted(starts, reverse=True)  # DATE, descending by default
    for r in rows:
        interval = r["timeInterval"]
        assert isinstance(interval["duration"], int) and interval["start"][-6:] == "+02:00"
        assert ts(interval["end"]) - ts(interval["start"]) == interval["duration"]
        expected = round(r["rate"] * interval["duration"] / 3600, 2) if r["billable"] else 0.0
        assert r["amount"] == expected and isinstance(r["rate"], int)
        assert r["userName"] and r["projectName"] and r["clientName"]
    assert too_big.status_code == 400 and missing.status_code == 400
    assert excluded.json()["totals"] == [] and len(excluded.json()["timeentries"]) == 5


async def test_report_range_is_wall_clock_in_the_body_time_zone() -> None:
    body = {"dateRangeStart": "2025-05-06T09:00:00.000Z", "dateRangeEnd": "2025-05-06T11:59:59.999Z"}
    async with client() as c:
        utc, _ = await report_all(c, timeZone="UTC", **body)
        lisbon, _ = await report_all(c, timeZone="Europe/Lisbon", **body)
        default, _ = await report_all(c, **body)  # the requester's zone: Europe/Berlin
        berlin, _ = await report_all(c, timeZone="Europe/Berlin", **body)
    for rows, lo in (
        (utc, "2025-05-06T09:00:00Z"),
        (lisbon, "2025-05-06T08:00:00Z"),
        (berlin, "2025-05-06T07:00:00Z"),
    ):
        assert rows and all(ts(lo) <= ts(r["timeInterval"]["start"]) < ts(lo) + 3 * 3600 for r in rows)
    assert default == berlin and utc[0]["timeInterval"]["start"].endswith("+00:00")
    assert lisbon[0]["timeInterval"]["start"].endswith("+01:00")


async def test_report_filters_sorting_and_worker_scope() -> None:
    async with client() as c:
        uid = await user_id(c)
        mine, _ = await report_all(c, users={"ids": [uid], "contains": "CONTAINS"}, **MAY)
        others, _ = await report_all(c, users={"ids": [uid], "contains": "DOES_NOT_CONTAIN"}, **MAY)
        billable, _ = await report_all(c, billable=True, **MAY)
        every, _ = await report_all(c, size=1000, **MAY)
        by_duration = (await report(c, **MAY, detailedFilter={"page": 1, "pageSize": 50, "sortColumn": "DURATION"},
                                    sortOrder="ASCENDING")).json()["timeentries"]  # fmt: skip
        r = await c.post(f"/reports/v1/workspaces/{c.ws}/reports/detailed",  # type: ignore[attr-defined]
                         json={**MAY, "detailedFilter": {"page": 1, "pageSize": 1000}},
                         headers={"X-Api-Key": "worker-key"})  # fmt: skip
        year = await report(c, dateRangeStart="2024-01-01T00:00:00Z", dateRangeEnd="2025-03-01T00:00:00Z")
        june = {"dateRangeStart": "2025-06-01T00:00:00Z", "dateRangeEnd": "2025-06-15T23:59:59.999Z"}
        approved, _ = await report_all(c, size=1000, approvalState="APPROVED", **june)
        unapproved, _ = await report_all(c, size=1000, approvalState="UNAPPROVED", **june)
        states = {p["approvalRequest"]["id"] for p in await get_all(c, api(c, "/approval-requests"),
                                                                  size=500, status="APPROVED")}  # fmt: skip
    assert mine and {r["userId"] for r in mine} == {uid} and uid not in {r["userId"] for r in others}
    assert len(mine) + len(others) == len(every)
    assert billable == [r for r in every if r["billable"]]
    durations = [r["timeInterval"]["duration"] for r in by_duration]
    assert durations == sorted(durations) and durations[0] == min(
        x["timeInterval"]["duration"] for x in every
    )
    assert {x["userEmail"] for x in r.json()["timeentries"]} == {ORG.people[1].email}
    assert year.status_code == 400  # beyond the one-year range of paid plans
    assert approved and unapproved and {r["approvalRequestId"] for r in approved} <= states
    assert not {r["approvalRequestId"] for r in unapproved} & states


# -- money, envelopes, time off, approvals ---------------------------------------------------------------
async def test_object_envelopes_and_money_in_cents() -> None:
    async with client() as c:
        expenses = await c.get(api(c, "/expenses"), params={"page-size": 10})
        categories = await c.get(api(c, "/expenses/categories"))
        invoices = await c.get(api(c, "/invoices"), params={"page-size": 5, "statuses": "PAID"})
        invoice = invoices.json()["invoices"][0]
        detail = (await c.get(api(c, f"/invoices/{invoice['id']}"))).json()
        payments = await c.get(api(c, f"/invoices/{invoice['id']}/payments"))
        foreign = await c.get(api(c, "/invoices/" + "a" * 24))
    body = expenses.json()
    assert set(body) == {"expenses", "dailyTotals", "weeklyTotals"} and set(body["expenses"]) == {
        "count",
        "expenses",
    }
    assert body["expenses"]["count"] > 10 and expenses.headers["Last-Page"] == "false"
    e = body["expenses"]["expenses"][0]
    assert isinstance(e["total"], int) and e["category"]["id"] and e["project"]["clientName"]
    assert set(categories.json()) == {"categories", "count"} and categories.headers["Last-Page"] == "true"
    assert set(invoices.json()) == {"invoices", "total"} and invoices.json()["total"] >= 5
    assert invoice["status"] == "PAID" and invoice["paid"] == invoice["amount"] and invoice["balance"] == 0
    assert "items" not in invoice and detail["tax"] == 1900 and detail["items"]
    subtotal = sum(i["amount"] for i in detail["items"])
    assert detail["amount"] == round(subtotal * 1.19)
    item = detail["items"][0]
    assert (
        item["unitPrice"] % 100 == 0
        and abs(item["quantity"] * item["unitPrice"] / 100 - item["amount"]) < 100
    )
    assert [p["amount"] for p in payments.json()] == [invoice["amount"]] and payments.headers[
        "Last-Page"
    ] == "true"
    assert (foreign.status_code, foreign.json()["code"]) == (400, 501)


async def test_time_off_requests_search_balances_and_holidays() -> None:
    async with client() as c:
        everything = await c.post(api(c, "/time-off/requests"), json={"page": 1, "pageSize": 200})
        pending = await c.post(api(c, "/time-off/requests"), json={"statuses": ["PENDING"], "pageSize": 200})
        window = await c.post(api(c, "/time-off/requests"), json={
            "start": "2025-01-01T00:00:00Z", "end": "2025-02-01T00:00:00Z", "pageSize": 200})  # fmt: skip
        uid = await user_id(c)
        balances = await c.get(api(c, f"/time-off/balance/user/{uid}"))
        holidays = (await c.get(api(c, "/holidays"), params={"assigned-to": uid})).json()
        period = await c.get(api(c, "/holidays/in-period"), params={"assigned-to": uid, "start": "2025-01-01",
                                                                    "end": "2025-12-31"})  # fmt: skip
        missing = await c.get(api(c, "/holidays/in-period"), params={"assigned-to": uid})
    body = everything.json()
    assert set(body) == {"count", "requests"} and body["count"] > len(body["requests"]) == 200
    assert all(r["status"]["statusType"] == "PENDING" for r in pending.json()["requests"])
    created = [r["createdAt"] for r in window.json()["requests"]]
    assert created and all("2024-12-31T23" <= x < "2025-02-01" for x in created)
    assert set(balances.json()) == {"balances", "count"} and balances.json()["count"] == 6
    vacation = next(b for b in balances.json()["balances"] if b["policyName"] == "Vacation")
    assert vacation["balance"] == vacation["total"] - vacation["used"]
    assert {h["name"] for h in holidays} >= {"Christmas Day", "Good Friday"}
    good_fridays = [h["datePeriod"]["startDate"] for h in period.json() if h["name"] == "Good Friday"]
    assert good_fridays == ["2025-04-18"]
    assert (missing.status_code, missing.json()["code"]) == (400, 3001)


async def test_scheduling_needs_a_window_and_approvals_list_three_states() -> None:
    async with client() as c:
        missing = await c.get(api(c, "/scheduling/assignments/all"))
        week = {"start": "2025-06-16T00:00:00Z", "end": "2025-06-20T23:59:59Z"}
        plans = await get_all(c, api(c, "/scheduling/assignments/all"), **week)
        pending = await get_all(c, api(c, "/approval-requests"), size=5)
        approved = await get_all(c, api(c, "/approval-requests"), size=20, status="APPROVED")
        rejected = await c.get(api(c, "/approval-requests"), params={"status": "REJECTED"})
        rows, _ = await report_all(c, size=1000, dateRangeStart="2025-06-09T00:00:00Z",
                                   dateRangeEnd="2025-06-15T23:59:59.999Z")  # fmt: skip
    assert (missing.status_code, missing.json()["code"]) == (400, 3001)
    assert plans and all(
        p["period"]["start"] <= week["end"] and p["period"]["end"] >= week["start"] for p in plans
    )
    assert pending and {p["approvalRequest"]["status"]["state"] for p in pending} == {"PENDING"}
    assert approved and {p["approvalRequest"]["status"]["state"] for p in approved} == {"APPROVED"}
    assert rejected.status_code == 400
    one = pending[0]
    assert parse_duration(one["trackedTime"]) == sum(
        parse_duration(e["timeInterval"]["duration"]) for e in one["entries"]
    )
    ids = {p["approvalRequest"]["id"] for p in pending}
    assert rows and {r["approvalRequestId"] for r in rows} <= ids | {None}
    assert any(r["approvalRequestId"] in ids for r in rows)


# -- admin ------------------------------------------------------------------------------------------------
async def test_admin_edits_show_in_lists_reports_and_running_timers() -> None:
    async with client() as c:
        uid = await user_id(c)
        path = api(c, f"/user/{uid}/time-entries")
        window = {"start": "2025-05-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"}
        before = await get_all(c, path, size=1000, **window)
        victim, edited = before[0]["id"], before[1]["id"]
        assert (await c.delete(f"/_admin/time_entries/{victim}")).status_code == 200
        moved = await c.patch(f"/_admin/time_entries/{edited}",
                              json={"timeInterval": {"end": "2025-05-31T23:00:00Z"}})  # fmt: skip
        running = await c.post("/_admin/time_entries", json={
            "userId": uid, "projectId": before[0]["projectId"], "description": "Still going",
            "timeInterval": {"start": "2025-05-20T09:00:00Z", "end": None}})  # fmt: skip
        client_id = (await c.get(api(c, "/projects"))).json()[0]["clientId"]
        renamed = await c.patch(f"/_admin/clients/{client_id}", json={"name": "Renamed GmbH"})
        after = await get_all(c, path, size=7, **window)
        in_progress = (await c.get(api(c, "/time-entries/status/in-progress"))).json()
        rows, totals = await report_all(c, size=1000, users={"ids": [uid]}, **MAY)
        projects = await get_all(c, api(c, "/projects"), clients=client_id)
        bad = await c.post("/_admin/time_entries", json={"userId": "0" * 24, "timeInterval": {"start": "x"}})
        derived = await c.post("/_admin/approval_requests", json={})
        await c.post("/_admin/reset")
        reset = await get_all(c, path, size=1000, **window)
    ids = [r["id"] for r in after]
    assert victim not in ids and running.json()["id"] in ids and len(after) == len(before)
    assert parse_duration(moved.json()["timeInterval"]["duration"]) > 86_400
    starts = [r["timeInterval"]["start"] for r in after]
    assert starts == sorted(starts, reverse=True)
    assert [r["id"] for r in in_progress] == [running.json()["id"]] and in_progress[0]["timeInterval"][
        "end"
    ] is None
    assert running.json()["id"] not in {r["_id"] for r in rows} and victim not in {r["_id"] for r in rows}
    assert len(rows) == totals[0]["entriesCount"] == len(before) - 1
    assert renamed.status_code == 200 and {p["clientName"] for p in projects} == {"Renamed GmbH"}
    assert bad.status_code == 400 and derived.status_code == 400 and reset == before


async def test_admin_inserts_by_entity_and_deactivates_users() -> None:
    async with client() as c:
        user = (await c.post("/_admin/users", json={"name": "New Person", "email": "new@couplet.dev"})).json()
        tag = (await c.post("/_admin/tags", json={"name": "Workshop"})).json()
        users = await get_all(c, api(c, "/users"))
        tags = await get_all(c, api(c, "/tags"))
        leaver = await c.patch(f"/_admin/users/{user['id']}", json={"_membershipStatus": "INACTIVE"})
        after = await get_all(c, api(c, "/users"))
        info = (await c.get("/_admin/org")).json()
    assert (
        HEX24.match(user["id"])
        and user["id"] in {u["id"] for u in users}
        and set(user) >= {"settings", "email"}
    )
    assert tag["id"] in {t["id"] for t in tags} and tag["workspaceId"] == info["workspace_id"]
    assert leaver.status_code == 200 and user["id"] not in {u["id"] for u in after}
    assert (
        set(info["credentials"]) >= {"api_key", "worker_api_key"} and "time_entries" in info["admin_entities"]
    )


async def test_request_log_paths_are_relative_to_the_mount() -> None:
    inner = create_app(OPTIONS, ORG)
    root = Starlette(routes=[Mount("/clockify", app=inner)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=root), base_url="http://s", headers=KEY
    ) as c:
        ws = inner.state.sandbox.ws
        ok = await c.get("/clockify/api/v1/workspaces")
        rep = await c.post(f"/clockify/reports/v1/workspaces/{ws}/reports/detailed",
                           json={**MAY, "detailedFilter": {"page": 1, "pageSize": 1}})  # fmt: skip
        log = (await c.get("/clockify/_admin/requests")).json()
    assert ok.status_code == 200 and rep.status_code == 200
    assert [r["path"] for r in log["requests"]] == [
        "/api/v1/workspaces",
        f"/reports/v1/workspaces/{ws}/reports/detailed",
    ]
    assert log["requests"][0]["user"] == "sandbox@couplet.dev"


async def test_a_1000_row_page_does_not_scan_the_account() -> None:
    big = Org(OrgOptions(anchor=ANCHOR, users=60, target_entries=300_000))
    app = create_app(SandboxOptions(org=big.options, rate_limit=False), big)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://s", headers=KEY
    ) as c:
        ws, uid = app.state.sandbox.ws, app.state.sandbox.ids("user", big.people[2].id)
        body = {"dateRangeStart": "2024-07-01T00:00:00Z", "dateRangeEnd": "2025-06-01T00:00:00Z",
                "detailedFilter": {"page": 40, "pageSize": 1000, "options": {"totals": "EXCLUDE"}}}  # fmt: skip
        await c.post(f"/reports/v1/workspaces/{ws}/reports/detailed", json=body)
        started = time.perf_counter()
        body["detailedFilter"]["page"] = 41
        rows = (await c.post(f"/reports/v1/workspaces/{ws}/reports/detailed", json=body)).json()[
            "timeentries"
        ]
        entries = await c.get(
            f"/api/v1/workspaces/{ws}/user/{uid}/time-entries", params={"page-size": 1000, "page": 2}
        )
        elapsed = time.perf_counter() - started
    assert len(rows) == 1000 and len(entries.json()) == 1000
    assert elapsed < 1.5, f"two 1000-row pages took {elapsed:.2f}s"


def test_mounted_in_the_root_server_over_real_http(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox import server

    monkeypatch.setattr(server, "SANDBOXES", [*server.SANDBOXES, ("/clockify", create_app)])
    with server.start_background(OPTIONS) as running:
        base = running.url("/clockify")
        spaces = httpx.get(base + "/api/v1/workspaces", headers=KEY, timeout=10).json()
        body = {**MAY, "detailedFilter": {"page": 1, "pageSize": 3}}
        path = f"/reports/v1/workspaces/{spaces[0]['id']}/reports/detailed"
        rows = httpx.post(base + path, json=body, headers=KEY, timeout=10).json()["timeentries"]
    assert len(spaces) == 2 and len(rows) == 3
