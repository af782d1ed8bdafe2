"""The Clockodo sandbox against the public contract (reference/clockodo.md), through httpx's ASGI transport."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx
import pytest

from sandbox.clockodo import create_app
from sandbox.common import RateWindow, SandboxOptions
from sandbox.org import Org, OrgOptions
from sandbox.server import create_root_app, start_background

pytestmark = pytest.mark.anyio
ANCHOR = date(2025, 6, 16)
ORG = OrgOptions(anchor=ANCHOR)
HEADERS = {
    "X-ClockodoApiUser": "sandbox@couplet.dev",
    "X-ClockodoApiKey": "sandbox-key",
    "X-Clockodo-External-Application": "couplet-tests;dev@couplet.dev",
}
MAY = {"time_since": "2025-05-01T00:00:00Z", "time_until": "2025-06-01T00:00:00Z"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def client(
    options: SandboxOptions | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator:
    app = create_app(options or SandboxOptions(org=ORG))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as c:
        yield c


async def get_all(c: httpx.AsyncClient, path: str, key: str, **params: object) -> list[dict]:
    rows, page = [], 1
    while True:
        body = (await c.get(path, params={**params, "page": page}, headers=HEADERS)).json()
        rows += body[key]
        if body["paging"]["current_page"] >= body["paging"]["count_pages"]:
            assert len(rows) == body["paging"]["count_items"], "paging disagrees with the rows served"
            return rows
        page += 1


async def test_missing_credentials_answer_401_in_the_endpoints_error_shape() -> None:
    async with client() as c:
        r = await c.get("/v4/projects", headers={"X-Clockodo-External-Application": "a;b@c.de"})
        assert r.status_code == 401
        (error,) = r.json()["errors"]
        assert set(error) == {"type", "message", "details", "path"}
        bad = {**HEADERS, "X-ClockodoApiKey": "wrong"}
        r = await c.get("/v2/entries", params=MAY, headers=bad)
        assert r.status_code == 401 and set(r.json()) == {"error"} and r.json()["error"]["message"]


async def test_basic_auth_is_accepted_and_checked() -> None:
    app_header = {"X-Clockodo-External-Application": HEADERS["X-Clockodo-External-Application"]}
    async with client() as c:
        ok = await c.get("/v3/teams", auth=("sandbox@couplet.dev", "sandbox-key"), headers=app_header)
        bad = await c.get("/v3/teams", auth=("sandbox@couplet.dev", "nope"), headers=app_header)
    assert (ok.status_code, bad.status_code) == (200, 401)


async def test_missing_client_identification_header_is_400_naming_it() -> None:
    async with client() as c:
        r = await c.get("/v4/projects", headers={k: v for k, v in HEADERS.items() if "External" not in k})
    assert r.status_code == 400
    assert "X-Clockodo-External-Application" in r.text


async def test_entries_need_full_iso_datetimes() -> None:
    async with client() as c:
        r = await c.get("/v2/entries", params={**MAY, "time_since": "2025-05-01"}, headers=HEADERS)
        assert (r.status_code, r.json()) == (
            400,
            {"error": {"message": "Wrong format", "fields": ["time_since"]}},
        )
        r = await c.get("/v2/entries", params={"time_since": MAY["time_since"]}, headers=HEADERS)
        assert r.status_code == 400 and r.json()["error"]["fields"] == ["time_until"]


async def test_entries_paging_maths_and_order() -> None:
    async with client() as c:
        first = (await c.get("/v2/entries", params={**MAY, "items_per_page": 7}, headers=HEADERS)).json()
        paging = first["paging"]
        assert paging["count_items"] > 300
        assert paging["count_pages"] == math.ceil(paging["count_items"] / 7)
        rows = await get_all(c, "/v2/entries", "entries", **MAY, items_per_page=7)
        last = (await c.get("/v2/entries", params={**MAY, "items_per_page": 7, "page": paging["count_pages"]},
                            headers=HEADERS)).json()  # fmt: skip
        beyond = await c.get("/v2/entries", params={**MAY, "page": paging["count_pages"] + 1, "items_per_page": 7},
                             headers=HEADERS)  # fmt: skip
    ids = [r["id"] for r in rows]
    assert len(ids) == paging["count_items"] == len(set(ids)) and ids == sorted(ids)
    assert len(last["entries"]) == paging["count_items"] - 7 * (paging["count_pages"] - 1)
    assert (
        beyond.json()["entries"] == []
        and beyond.json()["paging"]["current_page"] == paging["count_pages"] + 1
    )


@pytest.mark.parametrize(
    ("path", "limit", "params"),
    [("/v2/entries", 1000, MAY), ("/v4/projects", 5000, {}), ("/v3/customers", 5000, {}), ("/v3/users", 1000, {}),
     ("/v3/teams", 1000, {}), ("/v4/services", 5000, {}), ("/v4/lumpSumServices", 5000, {})],
)  # fmt: skip
async def test_items_per_page_has_a_per_endpoint_maximum(path: str, limit: int, params: dict) -> None:
    async with client() as c:
        ok = await c.get(path, params={**params, "items_per_page": limit}, headers=HEADERS)
        too_many = await c.get(path, params={**params, "items_per_page": limit + 1}, headers=HEADERS)
    assert ok.status_code == 200 and ok.json()["paging"]["items_per_page"] == limit
    assert too_many.status_code == 400


ENVELOPES = [
    ("/v2/entries", MAY, "entries", True), ("/v4/projects", {}, "data", True), ("/v3/customers", {}, "data", True),
    ("/v3/users", {}, "data", True), ("/v3/teams", {}, "data", True), ("/v4/services", {}, "data", True),
    ("/v4/absences", {"filter[year]": 2025}, "data", False),
    ("/v2/workTimes", {"date_since": "2025-05-01", "date_until": "2025-05-31", "users_id": 1003}, "work_time_days", True),
    ("/targethours", {}, "targethours", False), ("/v3/overtimeCarry", {"year": 2025}, "data", False),
    ("/v2/holidaysQuota", {}, "data", False), ("/v3/holidaysCarry", {}, "data", False),
    ("/v2/nonbusinessDays", {"year": 2025}, "data", False), ("/v4/lumpSumServices", {}, "data", True),
    ("/v2/surchargeModels", {}, "data", False), ("/userreports", {"year": 2025}, "userreports", False),
    ("/v2/usersNonbusinessDays", {"year": 2025}, "data", True),
]  # fmt: skip


@pytest.mark.parametrize(("path", "params", "key", "paged"), ENVELOPES)
async def test_envelope_and_paging_per_endpoint(path: str, params: dict, key: str, paged: bool) -> None:
    async with client() as c:
        body = (await c.get(path, params=params, headers=HEADERS)).json()
    assert set(body) == ({key, "paging"} if paged else {key})
    assert isinstance(body[key], list) and body[key], path
    if paged:
        assert set(body["paging"]) == {"items_per_page", "current_page", "count_pages", "count_items"}


async def test_deprecated_versions_answer_410_or_404_and_unknown_params_are_ignored() -> None:
    async with client() as c:
        statuses = [(await c.get(p, headers=HEADERS)).status_code for p in
                    ("/v2/customers", "/v2/absences", "/absences", "/v4/customers", "/v2/targethours")]  # fmt: skip
        plain = (await c.get("/v4/projects", headers=HEADERS)).json()
        odd = (await c.get("/v4/projects", params={"limit": 3, "count": 3}, headers=HEADERS)).json()
    assert statuses == [410, 410, 410, 404, 404]
    assert odd == plain and odd["paging"]["count_items"] > 3


async def test_same_seed_same_data_other_seed_other_data() -> None:
    async def snapshot(seed: int) -> str:
        async with client(SandboxOptions(org=OrgOptions(seed=seed, anchor=ANCHOR))) as c:
            entries = (await c.get("/v2/entries", params={**MAY, "enhanced_list": 1}, headers=HEADERS)).text
            return entries + (await c.get("/v3/users", headers=HEADERS)).text

    assert await snapshot(7) == await snapshot(7)
    assert await snapshot(7) != await snapshot(8)


async def test_data_is_referentially_consistent() -> None:
    async with client() as c:
        users = {u["id"]: u for u in await get_all(c, "/v3/users", "data")}
        customers = {x["id"] for x in await get_all(c, "/v3/customers", "data")}
        projects = {p["id"]: p for p in await get_all(c, "/v4/projects", "data")}
        services = {s["id"] for s in await get_all(c, "/v4/services", "data")}
        lumpsums = {s["id"] for s in await get_all(c, "/v4/lumpSumServices", "data")}
        teams = await get_all(c, "/v3/teams", "data")
        year = {"time_since": "2024-06-01T00:00:00Z", "time_until": "2025-06-01T00:00:00Z"}
        entries = await get_all(c, "/v2/entries", "entries", **year)
        absences = (await c.get("/v4/absences", headers=HEADERS)).json()["data"]
        access = (await c.get("/v2/users/1003/access/customers-projects", headers=HEADERS)).json()
    assert all(p["customers_id"] in customers for p in projects.values())
    for t in teams:
        assert t["leader"] in t["user_ids"] and all(users[u]["teams_id"] == t["id"] for u in t["user_ids"])
    for e in entries:
        assert e["users_id"] in users and e["customers_id"] in customers
        assert projects[e["projects_id"]]["customers_id"] == e["customers_id"]
        assert e.get("services_id", 401) in services and e.get("lumpsum_services_id", 501) in lumpsums
        assert e["type"] in (1, 2, 3) and e["billable"] in (0, 1, 2)
        if e["type"] == 1:
            assert e["duration"] == _seconds(e["time_until"]) - _seconds(e["time_since"]) >= 300
    assert {e["type"] for e in entries} == {1, 2, 3}  # time, lump-sum value and lump-sum service entries
    assert all(a["users_id"] in users for a in absences)
    assert set(access) == {"add", "report", "edit"}
    for cid, rights in access["add"].items():
        assert int(cid) in customers
        if rights is not True:
            assert all(projects[int(pid)]["customers_id"] == int(cid) for pid in rights["projects"])


def _seconds(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


async def test_enhanced_list_adds_text_names_and_revenue() -> None:
    async with client() as c:
        plain = (await c.get("/v2/entries", params={**MAY, "items_per_page": 50}, headers=HEADERS)).json()
        rich = (await c.get("/v2/entries", params={**MAY, "items_per_page": 50, "enhanced_list": 1},
                            headers=HEADERS)).json()  # fmt: skip
        users = {u["id"]: u["name"] for u in (await c.get("/v3/users", headers=HEADERS)).json()["data"]}
    assert not {"text", "users_name", "revenue"} & set(plain["entries"][0])
    for p, r in zip(plain["entries"], rich["entries"], strict=True):
        assert p.items() <= r.items() and r["users_name"] == users[r["users_id"]] and "revenue" in r
    assert any(r["text"] for r in rich["entries"])


async def test_filters_windows_and_array_forms() -> None:
    cut = {"time_since": "2025-05-06T10:00:00Z", "time_until": "2025-05-06T14:00:00Z"}
    async with client() as c:
        noon = await get_all(c, "/v2/entries", "entries", **cut)
        csv = await get_all(c, "/v2/entries", "entries", **MAY, **{"filter[users_id]": "1003,1004"})
        arr = await get_all(c, "/v2/entries", "entries", **MAY, **{"filter[users_id][]": ["1003", "1004"]})
        march = {"time_since": "2025-03-01T00:00:00Z", "time_until": "2025-04-01T00:00:00Z"}
        billed = await get_all(c, "/v2/entries", "entries", **march, **{"filter[billable]": 2})
        unbilled = await get_all(c, "/v2/entries", "entries", **MAY, **{"filter[billable]": 2})
        project = csv[0]["projects_id"]
        by_project = await get_all(c, "/v2/entries", "entries", **MAY, **{"filter[projects_id]": project})
    assert noon and all(e["time_since"] < cut["time_until"] and e["time_until"] > cut["time_since"] for e in noon
                        if e["time_since"] != e["time_until"])  # fmt: skip
    assert csv == arr and {e["users_id"] for e in csv} == {1003, 1004}
    assert billed and all(e["billable"] == 2 for e in billed) and unbilled == []  # May is not invoiced yet
    assert by_project and all(e["projects_id"] == project for e in by_project)


async def test_admin_insert_edit_delete_entries_show_in_the_next_listing() -> None:
    async with client() as c:
        before = await get_all(c, "/v2/entries", "entries", **MAY)
        new = {"users_id": 1003, "customers_id": before[0]["customers_id"], "time_since": "2025-05-20T09:00:00Z",
               "duration": 1800, "text": "Inserted by a test"}  # fmt: skip
        inserted = (await c.post("/_admin/entries", json=new)).json()
        victim, edited = before[0]["id"], before[1]["id"]
        assert (await c.delete(f"/_admin/entries/{victim}")).status_code == 200
        patch = await c.patch(f"/_admin/entries/{edited}", json={"time_until": "2025-05-31T23:00:00Z"})
        after = await get_all(c, "/v2/entries", "entries", **MAY, items_per_page=100)
        gone = await c.get(f"/v2/entries/{victim}", headers=HEADERS)
    by_id = {e["id"]: e for e in after}
    assert len(after) == len(before) and victim not in by_id
    assert by_id[inserted["id"]]["time_until"] == "2025-05-20T09:30:00Z"
    assert patch.json()["duration"] == by_id[edited]["duration"] > 86_400
    assert gone.status_code == 404


async def test_admin_dimension_edits_and_refusals() -> None:
    async with client() as c:
        cid = (await c.get("/v2/entries", params=MAY, headers=HEADERS)).json()["entries"][-1]["customers_id"]
        project = (
            await c.post("/_admin/projects", json={"customers_id": cid, "name": "Fresh project"})
        ).json()
        renamed = await c.patch(f"/_admin/customers/{cid}", json={"name": "Renamed Bakery"})
        filters = {**MAY, "enhanced_list": 1, "filter[customers_id]": cid}
        rich = (await c.get("/v2/entries", params=filters, headers=HEADERS)).json()["entries"]
        projects = await get_all(c, "/v4/projects", "data")
        bad_fk = await c.post("/_admin/projects", json={"customers_id": 999, "name": "x"})
        other = 2001 if cid != 2001 else 2002
        wrong_pair = {"users_id": 1003, "customers_id": other, "projects_id": project["id"], **MAY}
        mismatch = await c.post("/_admin/entries", json=wrong_pair)  # a project of another customer
        derived = await c.patch("/_admin/user_reports/1001", json={})
        unknown = await c.post("/_admin/invoices", json={})
        await c.post("/_admin/reset")
        reset = await get_all(c, "/v4/projects", "data")
    assert renamed.status_code == 200 and rich and all(e["customers_name"] == "Renamed Bakery" for e in rich)
    assert project["id"] in {p["id"] for p in projects} and set(project) == set(projects[0])
    assert (bad_fk.status_code, mismatch.status_code, derived.status_code, unknown.status_code) == (
        400,
        400,
        400,
        404,
    )
    assert project["id"] not in {p["id"] for p in reset}


async def test_fail_next_queue_and_retry_after() -> None:
    async with client() as c:
        rules = {"fail_next": [{"status": 429, "retry_after": 2, "count": 2, "path": "/v3/users"}]}
        await c.post("/_admin/faults", json=rules)
        other = await c.get("/v3/teams", headers=HEADERS)
        first, second, third = [await c.get("/v3/users", headers=HEADERS) for _ in range(3)]
        bad = await c.post("/_admin/faults", json={"fail_next": [{"status": 42}]})
    assert other.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "2" and bad.status_code == 400


async def test_small_rate_limit_answers_429_with_retry_after() -> None:
    options = SandboxOptions(org=ORG, rate_limits={"global": (RateWindow(3, 60),)})
    async with client(options) as c:
        codes = [(await c.get("/v3/teams", headers=HEADERS)).status_code for _ in range(4)]
        limited = await c.get("/v3/teams", headers=HEADERS)
    assert codes == [200, 200, 200, 429] and 1 <= int(limited.headers["Retry-After"]) <= 60
    async with client(
        SandboxOptions(org=ORG, rate_limit=False, rate_limits={"global": (RateWindow(1, 60),)})
    ) as c:
        assert [(await c.get("/v3/teams", headers=HEADERS)).status_code for _ in range(3)] == [200] * 3


async def test_enhanced_entries_have_their_own_bucket() -> None:
    options = SandboxOptions(org=ORG, rate_limits={"entries_enhanced": (RateWindow(2, 900),)})
    async with client(options) as c:
        rich = [(await c.get("/v2/entries", params={**MAY, "enhanced_list": 1}, headers=HEADERS)).status_code
                for _ in range(3)]  # fmt: skip
        plain = await c.get("/v2/entries", params=MAY, headers=HEADERS)
    assert rich == [200, 200, 429] and plain.status_code == 200


async def test_request_log_records_method_path_and_query() -> None:
    async with client() as c:
        await c.get("/v4/projects", params={"filter[active]": "true", "page": 2}, headers=HEADERS)
        await c.get("/v4/projects", headers={})
        log = (await c.get("/_admin/requests")).json()
        await c.post("/_admin/reset")
        cleared = (await c.get("/_admin/requests")).json()
    first, second = log["requests"]
    assert (first["method"], first["path"], first["status"], second["status"]) == (
        "GET",
        "/v4/projects",
        200,
        401,
    )
    assert ["filter[active]", "true"] in first["params"] and "page=2" in first["query"]
    assert cleared["requests"] == [] and cleared["count"] == 0


async def test_year_scoped_endpoints_filter_by_year() -> None:
    async with client() as c:
        absences = (await c.get("/v4/absences", params={"filter[year]": 2024}, headers=HEADERS)).json()[
            "data"
        ]
        holidays = (await c.get("/v2/nonbusinessDays", params={"year": 2025}, headers=HEADERS)).json()["data"]
        carries = (await c.get("/v3/overtimeCarry", params={"year": 2024}, headers=HEADERS)).json()["data"]
        quota = (await c.get("/v2/holidaysQuota", params={"filter[year]": 2025}, headers=HEADERS)).json()[
            "data"
        ]
        bad_year = await c.get("/v4/absences", params={"filter[year]": 1999}, headers=HEADERS)
    assert absences and all(
        a["date_since"] <= "2024-12-31" and a["date_until"] >= "2024-01-01" for a in absences
    )
    by_name = {h["name"]: h["evaluated_date"] for h in holidays}
    assert by_name["Good Friday"] == "2025-04-18" and by_name["Christmas Day"] == "2025-12-25"
    assert carries and {r["year"] for r in carries} == {2024}
    assert all(q["year_since"] <= 2025 and (q["year_until"] or 9999) >= 2025 for q in quota)
    assert bad_year.status_code == 400


async def test_user_reports_type_and_sums_agree_with_entries() -> None:
    async with client() as c:
        missing = await c.get("/userreports", headers=HEADERS)
        year0 = (await c.get("/userreports", params={"year": 2025}, headers=HEADERS)).json()["userreports"]
        year4 = (
            await c.get(
                "/userreports",
                params={"year": 2025, "type": 4},
                headers=HEADERS,
            )
        ).json()
        entries = await get_all(c, "/v2/entries", "entries", time_since="2025-01-01T00:00:00Z",
                                time_until="2026-01-01T00:00:00Z", **{"filter[users_id]": 1003})  # fmt: skip
    assert missing.status_code == 400 and missing.json()["error"]["fields"] == ["year"]
    assert "month_details" not in year0[0]
    report = next(r for r in year4["userreports"] if r["users_id"] == 1003)
    assert report["sum_hours"] == sum(e["duration"] for e in entries if e["type"] == 1) > 0
    assert [m["nr"] for m in report["month_details"]] == list(range(1, 13))
    day = report["month_details"][4]["week_details"][0]["day_details"][0]
    assert {"date", "weekday", "target", "breaks", "work_start", "work_end"} <= set(day)


async def test_work_times_require_user_and_cover_entries() -> None:
    params = {"date_since": "2025-05-05", "date_until": "2025-05-09"}
    async with client() as c:
        missing = await c.get("/v2/workTimes", params=params, headers=HEADERS)
        days = (await c.get("/v2/workTimes", params={**params, "users_id": 1003}, headers=HEADERS)).json()
        entries = await get_all(c, "/v2/entries", "entries", time_since="2025-05-05T00:00:00Z",
                                time_until="2025-05-10T00:00:00Z", **{"filter[users_id]": 1003})  # fmt: skip
    assert missing.status_code == 400 and missing.json()["error"]["fields"] == ["users_id"]
    intervals = [i for d in days["work_time_days"] for i in d["intervals"]]
    for e in (e for e in entries if e["type"] == 1):
        assert any(
            i["time_since"] <= e["time_since"] and e["time_until"] <= i["time_until"] for i in intervals
        )


async def test_worker_key_sees_own_entries_without_rate_fields() -> None:
    info_app = create_app(SandboxOptions(org=ORG))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=info_app), base_url="http://s") as c:
        creds = (await c.get("/_admin/org")).json()["credentials"]
        worker = {
            **HEADERS,
            "X-ClockodoApiUser": creds["worker_api_user"],
            "X-ClockodoApiKey": creds["worker_api_key"],
        }
        entries = await c.get("/v2/entries", params=MAY, headers=worker)
        projects = (await c.get("/v4/projects", headers=worker)).json()["data"]
    rows = entries.json()["entries"]
    assert rows and {e["users_id"] for e in rows} == {1002}
    assert all("hourly_rate" not in e for e in rows) and all("note" not in p for p in projects)


async def test_injected_errors_and_truncated_bodies() -> None:
    async with client(SandboxOptions(org=ORG, error_rate=1.0)) as c:
        assert (await c.get("/v3/teams", headers=HEADERS)).status_code in (500, 502, 503)
    async with client(SandboxOptions(org=ORG, truncate_rate=1.0)) as c:
        r = await c.get("/v3/teams", headers=HEADERS)
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)


def test_target_entries_scales_the_org_without_storing_entries() -> None:
    org = Org(OrgOptions(anchor=ANCHOR, users=40, target_entries=200_000))
    assert abs(org.entry_count - 200_000) < 2_000
    last = org.entry_by_id(10_000_000 + org.entry_count)
    assert last is not None and last.user_id in org.person_by_id and org.entry_by_id(last.id + 1) is None
    busy = Org(OrgOptions(anchor=ANCHOR, users=3, target_entries=10**6))  # capped: days must not overflow
    day = max(range(busy.days), key=lambda d: int(busy.counts[d].sum()))
    entries = [e for u in range(3) for e in busy.entries_for(u, day)]
    assert len(entries) > 60 and all(busy.day_index(e.start) == busy.day_index(e.end) == day for e in entries)


async def test_root_app_mounts_clockodo_and_health() -> None:
    app = create_root_app(SandboxOptions(org=ORG))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.get("/healthz")).json()["status"] == "ok"
        assert (await c.get("/clockodo/api/v3/teams", headers=HEADERS)).status_code == 200
        log = (await c.get("/clockodo/api/_admin/requests")).json()
    assert log["requests"][0]["path"] == "/v3/teams"


def test_background_server_serves_real_http() -> None:
    with start_background(SandboxOptions(org=ORG)) as server:
        r = httpx.get(server.url() + "/v3/teams", headers=HEADERS, timeout=10)
    assert r.status_code == 200 and r.json()["data"]
