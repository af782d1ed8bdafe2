"""The Runn sandbox against the public contract (reference/runn.md), through httpx's ASGI transport
(and once over real HTTP in the root server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox.common import RateWindow, SandboxOptions
from sandbox.runn import create_app

pytestmark = pytest.mark.anyio
OPTIONS = SandboxOptions(rate_limit=False)
TOKEN = OPTIONS.runn_token
H = {"Authorization": f"Bearer {TOKEN}", "Accept-Version": "1.0.0"}
READ = {**H, "Authorization": f"Bearer {OPTIONS.runn_read_token}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def client(options: SandboxOptions = OPTIONS) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox mounted at /runn in a root app, as the server mounts it."""
    root = Starlette(routes=[Mount("/runn", app=create_app(options))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=root), base_url="http://sandbox/runn"
    ) as c:
        yield c


async def ok(response: Any, status: int = 200) -> Any:
    r = await response
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:400])
    return r.json() if r.content else None


async def fails(response: Any, status: int, needle: str = "") -> dict[str, Any]:
    """An error answer in Runn's documented shape."""
    r = await response
    body = r.json()
    assert r.status_code == status, (r.status_code, body)
    assert set(body) == {"error", "message", "statusCode"} and body["statusCode"] == status, body
    assert needle in body["message"], body
    return body


async def seed(c: httpx.AsyncClient) -> dict[str, int]:
    """A client, a project, two roles and a person, through the API."""
    client_id = (await ok(c.post("/clients/", json={"name": "Acme"}, headers=H), 201))["id"]
    body = {"name": "Website", "clientId": client_id}
    project = (await ok(c.post("/projects/", json=body, headers=H), 201))["id"]
    dev = (await ok(c.post("/roles/", json={"name": "Developer", "defaultHourCost": 60}, headers=H), 201))[
        "id"
    ]
    pm = (await ok(c.post("/roles/", json={"name": "PM"}, headers=H), 201))["id"]
    body = {"firstName": "Ada", "lastName": "Lovelace", "roleId": dev, "email": "ada@example.com"}
    person = (await ok(c.post("/people/", json=body, headers=H), 201))["id"]
    return {"client": client_id, "project": project, "dev": dev, "pm": pm, "person": person}


def actual(ids: dict[str, int], day: str = "2026-01-05", role: str = "dev", **minutes: Any) -> dict[str, Any]:
    return {
        "date": day,
        "personId": ids["person"],
        "projectId": ids["project"],
        "roleId": ids[role],
        **minutes,
    }


# -- auth and headers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Accept-Version": "1.0.0"},
        {**H, "Authorization": "Bearer wrong"},
        {**H, "Authorization": f"Basic {TOKEN}"},
    ],
    ids=["no-token", "wrong-token", "not-bearer"],
)
async def test_bad_tokens_are_401_with_runns_error_body(headers: dict[str, str]) -> None:
    async with client() as c:
        body = await fails(c.get("/clients/", headers=headers), 401)
    assert body["error"] == "Unauthorized"


async def test_accept_version_is_mandatory_and_must_be_1_0_0() -> None:
    async with client() as c:
        missing = await fails(
            c.get("/people/", headers={"Authorization": H["Authorization"]}), 400, "accept-version"
        )
        await fails(c.get("/people/", headers={**H, "Accept-Version": "2.0.0"}), 400, "accept-version")
        lower = await c.get(
            "/people/", headers={"authorization": H["Authorization"], "accept-version": "1.0.0"}
        )
    assert missing["error"] == "Bad Request" and lower.status_code == 200


async def test_the_read_token_reads_but_cannot_write() -> None:
    async with client() as c:
        await ok(c.get("/clients/", headers=READ))
        await fails(c.post("/clients/", json={"name": "X"}, headers=READ), 401, "read")
        assert (await ok(c.get("/clients/", headers=H)))["values"] == []
    async with client(SandboxOptions(rate_limit=False, runn_read_token=None)) as c:
        await fails(c.get("/clients/", headers=READ), 401)


async def test_writes_need_a_json_body() -> None:
    async with client() as c:
        await fails(c.post("/clients/", content=b"name=x", headers={**H, "Content-Type": "text/plain"}), 415)
        bad_json = {**H, "Content-Type": "application/json"}
        await fails(c.post("/clients/", content=b"{", headers=bad_json), 400, "not valid JSON")
        await fails(c.post("/clients/", json=["x"], headers=H), 400, "body must be object")


async def test_every_path_answers_with_and_without_the_trailing_slash() -> None:
    async with client() as c:
        ids = await seed(c)
        for path in ("/clients", "/clients/", "/people", "/people/", "/roles", "/projects/", "/actuals"):
            assert "values" in await ok(c.get(path, headers=H))
        one = await ok(c.post("/actuals/bulk", json={"actuals": [actual(ids, billableMinutes=1)]}, headers=H))
        two = await ok(
            c.post(
                "/actuals/bulk/", json={"actuals": [actual(ids, "2026-01-06", billableMinutes=1)]}, headers=H
            )
        )
        await ok(c.get(f"/clients/{ids['client']}/", headers=H))
        await ok(c.delete(f"/actuals/{one[0]['id']}", headers=H), 204)
        await ok(c.delete(f"/actuals/{two[0]['id']}/", headers=H), 204)


async def test_unknown_ids_paths_and_methods() -> None:
    async with client() as c:
        body = await fails(c.get("/clients/99", headers=H), 404, "99")
        await fails(c.get("/clients/abc", headers=H), 400, "must be integer")
        await fails(c.get("/nowhere", headers=H), 404)
        await fails(c.patch("/people/1", json={}, headers=H), 404)
        await fails(c.delete("/projects/1", headers=H), 405)  # deleting projects: not offered (UNCONFIRMED)
        await fails(
            c.patch("/roles/1", json={"name": "x"}, headers=H), 405
        )  # roles PATCH: not in the reference
    assert body["error"] == "Not Found"


# -- paging -----------------------------------------------------------------------------------------
async def test_cursor_paging_walks_every_row_once_and_ends_with_null() -> None:
    async with client() as c:
        made = [await ok(c.post("/clients/bulk/", json={"clients": [{"name": f"C{i}-{j}"} for j in range(60)]}, headers=H))
                for i in range(2)]  # fmt: skip
        first = await ok(c.get("/clients/", headers=H))
        assert len(first["values"]) == 50 and isinstance(first["nextCursor"], str)  # default limit 50
        seen, cursor = [], None
        while True:
            params = {"limit": 45, **({"cursor": cursor} if cursor else {})}
            body = await ok(c.get("/clients/", params=params, headers=H))
            seen += [r["id"] for r in body["values"]]
            if body["nextCursor"] is None:
                break
            cursor = body["nextCursor"]
            if len(seen) == 45:  # a client created mid-walk shows up on a later page, none is repeated
                await ok(c.post("/clients/", json={"name": "late"}, headers=H), 201)
        desc = await ok(c.get("/clients/", params={"order": "desc", "limit": 3}, headers=H))
        await fails(c.get("/clients/", params={"cursor": desc["nextCursor"]}, headers=H), 400, "cursor")
        await fails(c.get("/clients/", params={"cursor": "garbage!"}, headers=H), 400, "cursor")
    ids = sorted(r["id"] for batch in made for r in batch)
    assert seen[:120] == ids and len(seen) == 121 and len(set(seen)) == 121
    assert [r["id"] for r in desc["values"]] == sorted(seen, reverse=True)[:3]


@pytest.mark.parametrize(("path", "top"), [("/clients/", 200), ("/people/", 200), ("/projects/", 200),
                                           ("/roles/", 200), ("/actuals/", 500)])  # fmt: skip
async def test_limit_bounds_per_endpoint(path: str, top: int) -> None:
    async with client() as c:
        await ok(c.get(path, params={"limit": top}, headers=H))
        await ok(c.get(path, params={"limit": 1}, headers=H))
        await fails(c.get(path, params={"limit": top + 1}, headers=H), 400, f"<= {top}")
        await fails(c.get(path, params={"limit": 0}, headers=H), 400, ">= 1")
        await fails(c.get(path, params={"limit": "many"}, headers=H), 400, "integer")
        await fails(c.get(path, params={"sortBy": "name"}, headers=H), 400, "sortBy")


async def test_actuals_page_by_100_by_default_and_filter_by_date_and_ids() -> None:
    async with client() as c:
        ids = await seed(c)
        days = [f"2026-01-{d:02d}" for d in range(1, 29)] + [f"2026-02-{d:02d}" for d in range(1, 29)]
        rows = [actual(ids, day, role, billableMinutes=60) for day in days for role in ("dev", "pm")]
        for i in range(0, len(rows), 100):
            await ok(c.post("/actuals/bulk/", json={"actuals": rows[i : i + 100]}, headers=H))
        first = await ok(c.get("/actuals/", headers=H))
        window: dict[str, str | int] = {
            "minDate": "2026-01-10",
            "maxDate": "2026-01-12",
            "roleId": ids["pm"],
            "personId": ids["person"],
        }
        picked = await ok(c.get("/actuals/", params=window, headers=H))
        by_person = await ok(c.get(f"/people/{ids['person']}/actuals/", headers=H))
        by_project = await ok(c.get(f"/projects/{ids['project']}/actuals/", params={"limit": 200}, headers=H))
        await fails(c.get("/actuals/", params={"minDate": "10.01.2026"}, headers=H), 400, "date")
    assert len(first["values"]) == 100 and first["nextCursor"]
    assert [(a["date"], a["roleId"]) for a in picked["values"]] == [
        ("2026-01-10", ids["pm"]), ("2026-01-11", ids["pm"]), ("2026-01-12", ids["pm"])]  # fmt: skip
    assert len(by_person["values"]) == 50 and len(by_project["values"]) == 112


async def test_modified_after_and_unknown_query_parameters() -> None:
    async with client() as c:
        ids = await seed(c)
        before = (await ok(c.get(f"/clients/{ids['client']}", headers=H)))["updatedAt"]
        later = await ok(c.post("/clients/", json={"name": "Later"}, headers=H), 201)
        changed = await ok(c.get("/clients/", params={"modifiedAfter": before}, headers=H))
        day = await ok(c.get("/clients/", params={"modifiedAfter": "2000-01-01"}, headers=H))
        await fails(
            c.get("/clients/", params={"modifiedAfter": "yesterday"}, headers=H), 400, "modifiedAfter"
        )
        # no externalId filter on clients or projects in the reference: refused, not silently ignored
        await fails(c.get("/clients/", params={"externalId": "x"}, headers=H), 400, "externalId")
        await fails(c.get("/projects/", params={"clientId": ids["client"]}, headers=H), 400, "clientId")
    assert [r["id"] for r in changed["values"]] == [later["id"]] and len(day["values"]) == 2


# -- clients, projects, roles -----------------------------------------------------------------------
async def test_clients_create_get_and_patch_only_what_is_given() -> None:
    async with client() as c:
        refs = [{"referenceName": "couplet", "externalId": "cust-1"}]
        body = {"name": "Sanifit", "website": "https://sanifit.example", "references": refs}
        made = await ok(c.post("/clients/", json=body, headers=H), 201)
        same = await ok(c.patch(f"/clients/{made['id']}", json={"name": "Sanifit"}, headers=H))
        renamed = await ok(c.patch(f"/clients/{made['id']}", json={"name": "Sanifit AG"}, headers=H))
        unset = await ok(
            c.patch(f"/clients/{made['id']}", json={"website": "", "isArchived": True}, headers=H)
        )
        got = await ok(c.get(f"/clients/{made['id']}", headers=H))
    assert list(made) == ["id", "name", "website", "isArchived", "references", "createdAt", "updatedAt"]
    assert made["references"] == refs and made["isArchived"] is False and made["createdAt"].endswith("Z")
    assert len(made["createdAt"]) == len("2024-11-29T23:06:06.133Z")
    assert same["updatedAt"] == made["updatedAt"]  # nothing changed: not modified
    assert (
        renamed["name"] == "Sanifit AG"
        and renamed["website"] == body["website"]
        and renamed["references"] == refs
    )
    assert renamed["updatedAt"] > made["updatedAt"]
    assert got == unset and unset["website"] is None and unset["isArchived"] and unset["name"] == "Sanifit AG"


async def test_client_validation_errors() -> None:
    async with client() as c:
        body = await fails(c.post("/clients/", json={}, headers=H), 400, "required property 'name'")
        await fails(c.post("/clients/", json={"name": ""}, headers=H), 400, "fewer than 1 characters")
        await fails(c.post("/clients/", json={"name": 5}, headers=H), 400, "body/name must be string")
        await fails(
            c.post("/clients/", json={"name": "x", "externalId": "1"}, headers=H),
            400,
            "additional properties",
        )
        await fails(c.post("/clients/", json={"name": "x", "website": "nope"}, headers=H), 400, "format")
        refs = [{"referenceName": "couplet"}]
        await fails(
            c.post("/clients/", json={"name": "x", "references": refs}, headers=H), 400, "'externalId'"
        )
        assert (await ok(c.get("/clients/", headers=H)))["values"] == []
    assert body == {
        "error": "Bad Request",
        "message": "body must have required property 'name'",
        "statusCode": 400,
    }


async def test_clients_bulk_is_1_to_100_and_all_or_nothing() -> None:
    async with client() as c:
        hundred = await ok(
            c.post("/clients/bulk/", json={"clients": [{"name": f"c{i}"} for i in range(100)]}, headers=H)
        )
        more = {"clients": [{"name": f"d{i}"} for i in range(101)]}
        await fails(c.post("/clients/bulk/", json=more, headers=H), 400, "must NOT have more than 100 items")
        await fails(c.post("/clients/bulk/", json={"clients": []}, headers=H), 400, "fewer than 1 items")
        half_bad = {"clients": [{"name": "fine"}, {"name": ""}]}
        await fails(c.post("/clients/bulk/", json=half_bad, headers=H), 400, "body/clients/1/name")
        total = await ok(c.get("/clients/", params={"limit": 200}, headers=H))
    assert [r["name"] for r in hundred] == [f"c{i}" for i in range(100)] and len(total["values"]) == 100


async def test_names_are_not_unique_unless_the_sandbox_is_told() -> None:
    async with client() as c:
        a = await ok(c.post("/clients/", json={"name": "Acme"}, headers=H), 201)
        b = await ok(c.post("/clients/", json={"name": "Acme"}, headers=H), 201)
        await ok(c.post("/_admin/settings", json={"unique_names": True}))
        body = await fails(c.post("/clients/", json={"name": "ACME"}, headers=H), 409, "already exists")
        await ok(c.post("/roles/", json={"name": "Dev"}, headers=H), 201)
        await fails(c.post("/roles/", json={"name": "dev"}, headers=H), 409)
        await ok(c.post("/_admin/reset"))
        assert (await ok(c.get("/_admin/settings")))["unique_names"] is False
    assert a["id"] != b["id"] and body["error"] == "Conflict"


async def test_projects_link_to_an_existing_client() -> None:
    async with client() as c:
        ids = await seed(c)
        await fails(c.post("/projects/", json={"name": "P"}, headers=H), 400, "'clientId'")
        await fails(
            c.post("/projects/", json={"name": "P", "clientId": 1}, headers=H), 400, "Client with id 1"
        )
        await fails(
            c.post(
                "/projects/", json={"name": "P", "clientId": ids["client"], "pricingModel": "xx"}, headers=H
            ),
            400,
            "pricingModel",
        )
        refs = [{"referenceName": "couplet", "externalId": "proj-42"}]
        body = {
            "name": "Rebuild",
            "clientId": ids["client"],
            "isConfirmed": True,
            "references": refs,
            "budget": 1000,
        }
        made = await ok(c.post("/projects/", json=body, headers=H), 201)
        patched = await ok(c.patch(f"/projects/{made['id']}", json={"isArchived": True}, headers=H))
        active = await ok(c.get(f"/clients/{ids['client']}/projects/", headers=H))
        every = await ok(
            c.get(f"/clients/{ids['client']}/projects/", params={"includeArchived": "true"}, headers=H)
        )
        await fails(
            c.patch(f"/projects/{made['id']}", json={"clientId": 3}, headers=H), 400, "Client with id 3"
        )
    assert (made["pricingModel"], made["rateType"], made["isTemplate"], made["clientId"]) == (
        "tm",
        "hours",
        False,
        ids["client"],
    )
    assert (
        made["references"] == refs
        and made["rateCardId"]
        and made["managerIds"] == []
        and made["budget"] == 1000
    )
    assert patched["isArchived"] and patched["name"] == "Rebuild" and patched["isConfirmed"] is True
    assert [p["id"] for p in active["values"]] == [ids["project"]]
    assert [p["id"] for p in every["values"]] == [ids["project"], made["id"]]


# -- people -----------------------------------------------------------------------------------------
async def test_people_need_names_and_an_existing_role_and_get_a_contract() -> None:
    async with client() as c:
        ids = await seed(c)
        await fails(c.post("/people/", json={"firstName": "A", "lastName": "B"}, headers=H), 400, "'roleId'")
        await fails(
            c.post("/people/", json={"firstName": "", "lastName": "B", "roleId": ids["dev"]}, headers=H),
            400,
            "firstName",
        )
        await fails(
            c.post("/people/", json={"firstName": "A", "lastName": "B", "roleId": 9}, headers=H),
            400,
            "Role with id 9",
        )
        await fails(
            c.post(
                "/people/",
                json={"firstName": "A", "lastName": "B", "roleId": ids["dev"], "teamId": 3},
                headers=H,
            ),
            400,
            "Team",
        )
        person = await ok(c.get(f"/people/{ids['person']}", headers=H))
        listed = (await ok(c.get("/people/", headers=H)))["values"][0]
        contract = await ok(c.get(f"/people/{ids['person']}/contracts/current", headers=H))
        role = await ok(c.get(f"/roles/{ids['dev']}", headers=H))
    assert (
        set(person) - set(listed) == {"notes", "skills", "customFields"}
        and listed["email"] == "ada@example.com"
    )
    assert (contract["roleId"], contract["employmentType"], contract["costPerHour"]) == (
        ids["dev"],
        "employee",
        60,
    )
    assert role["personIds"] == [ids["person"]]


async def test_people_are_found_by_external_id_and_by_name_parts() -> None:
    async with client() as c:
        ids = await seed(c)
        refs = [{"referenceName": "couplet", "externalId": "user-9"}]
        body = {"firstName": "Grace", "lastName": "Hopper", "roleId": ids["dev"], "references": refs}
        grace = await ok(c.post("/people/", json=body, headers=H), 201)
        found = await ok(c.get("/people/", params={"externalId": "user-9"}, headers=H))
        none = await ok(c.get("/people/", params={"externalId": "user"}, headers=H))  # exact, not a substring
        by_name = await ok(
            c.get("/people/", params={"lastName": "HOP", "includePlaceholders": "true"}, headers=H)
        )
        by_mail = await ok(c.get("/people/", params={"email": "@example"}, headers=H))
    assert [p["id"] for p in found["values"]] == [grace["id"]] == [p["id"] for p in by_name["values"]]
    assert none["values"] == [] and [p["id"] for p in by_mail["values"]] == [ids["person"]]


async def test_person_patch_changes_only_what_is_given_and_never_the_role() -> None:
    async with client() as c:
        ids = await seed(c)
        path = f"/people/{ids['person']}"
        refs = [{"referenceName": "couplet", "externalId": "u-1"}]
        patched = await ok(c.patch(path, json={"email": None, "references": refs}, headers=H))
        # the role lives in the contract: a new contract changes it, PATCH cannot
        await fails(c.patch(path, json={"roleId": ids["pm"]}, headers=H), 400, "roleId")
        await fails(
            c.post(f"{path}/contracts/", json={"roleId": ids["pm"], "startDate": "2020-01-01"}, headers=H),
            400,
        )
        await fails(c.get(f"{path}/contracts/", params={"limit": 51}, headers=H), 400, "<= 50")
        await fails(c.patch(path, json={"firstName": ""}, headers=H), 400, "firstName")
    assert patched["email"] is None and (patched["firstName"], patched["lastName"]) == ("Ada", "Lovelace")
    assert patched["references"] == refs and patched["updatedAt"] > patched["createdAt"]


async def test_a_new_contract_ends_the_previous_one_the_day_before() -> None:
    async with client() as c:
        ids = await seed(c)
        body = {"firstName": "Alan", "lastName": "Turing", "roleId": ids["dev"], "startDate": "2024-01-01"}
        alan = (await ok(c.post("/people/", json=body, headers=H), 201))["id"]
        await ok(
            c.post(
                f"/people/{alan}/contracts", json={"roleId": ids["pm"], "startDate": "2025-03-01"}, headers=H
            ),
            201,
        )
        contracts = (await ok(c.get(f"/people/{alan}/contracts/", headers=H)))["values"]
        current = await ok(c.get(f"/people/{alan}/contracts/current", headers=H))
        roles = {r["id"]: r["personIds"] for r in (await ok(c.get("/roles/", headers=H)))["values"]}
        await fails(
            c.post(
                f"/people/{alan}/contracts/", json={"roleId": ids["pm"], "startDate": "2025-03-01"}, headers=H
            ),
            400,
        )
    assert [(k["roleId"], k["startDate"], k["endDate"]) for k in contracts] == [
        (ids["dev"], "2024-01-01", "2025-02-28"), (ids["pm"], "2025-03-01", None)]  # fmt: skip
    assert (
        current["roleId"] == ids["pm"] and roles[ids["pm"]] == [alan] and roles[ids["dev"]] == [ids["person"]]
    )


async def test_deleting_a_person_with_actuals_needs_force() -> None:
    async with client() as c:
        ids = await seed(c)
        await ok(c.post("/actuals/", json=actual(ids, billableMinutes=30), headers=H), 201)
        path = f"/people/{ids['person']}"
        await fails(c.delete(path, headers=H), 400, "force")
        await ok(c.delete(path, params={"force": "true"}, headers=H), 204)
        await fails(c.get(path, headers=H), 404)
        left = await ok(c.get("/actuals/", headers=H))
    assert left["values"] == []


# -- actuals ----------------------------------------------------------------------------------------
async def test_actuals_overwrite_the_same_day_and_never_add_up() -> None:
    async with client() as c:
        ids = await seed(c)
        first = await ok(
            c.post("/actuals/", json=actual(ids, billableMinutes=270, billableNote="sprint"), headers=H), 201
        )
        again = await ok(
            c.post(
                "/actuals/bulk/",
                json={"actuals": [actual(ids, billableMinutes=270, billableNote="sprint")]},
                headers=H,
            )
        )
        less = await ok(
            c.post("/actuals/bulk/", json={"actuals": [actual(ids, nonbillableMinutes=60)]}, headers=H)
        )
        other_role = await ok(
            c.post("/actuals/", json=actual(ids, role="pm", billableMinutes=15), headers=H), 201
        )
        rows = (await ok(c.get("/actuals/", headers=H)))["values"]
        state = await ok(c.get("/_admin/actuals"))
    assert again[0]["id"] == first["id"] == less[0]["id"] and again[0]["billableMinutes"] == 270
    assert (less[0]["billableMinutes"], less[0]["nonbillableMinutes"], less[0]["billableNote"]) == (
        0,
        60,
        None,
    )
    assert less[0]["updatedAt"] > first["updatedAt"] and other_role["id"] != first["id"]
    assert sorted((r["roleId"], r["billableMinutes"], r["nonbillableMinutes"]) for r in rows) == sorted(
        [(ids["dev"], 0, 60), (ids["pm"], 15, 0)])  # fmt: skip
    assert {r["id"]: r["_writes"] for r in state}[first["id"]] == 3


async def test_actuals_bulk_answers_in_input_order_and_checks_everything_first() -> None:
    async with client() as c:
        ids = await seed(c)
        items = [actual(ids, f"2026-01-{d:02d}", billableMinutes=d) for d in (7, 5, 6)]
        made = await ok(c.post("/actuals/bulk/", json={"actuals": items}, headers=H))
        too_many = {
            "actuals": [
                actual(ids, f"2026-{m:02d}-{d:02d}", billableMinutes=1)
                for m in (3, 4, 5, 6)
                for d in range(1, 27)
            ]
        }
        await fails(
            c.post("/actuals/bulk/", json=too_many, headers=H), 400, "must NOT have more than 100 items"
        )
        await fails(c.post("/actuals/bulk/", json={"actuals": []}, headers=H), 400, "fewer than 1")
        twice = {
            "actuals": [
                actual(ids, "2026-02-01", billableMinutes=1),
                actual(ids, "2026-02-01", billableMinutes=2),
            ]
        }
        await fails(c.post("/actuals/bulk/", json=twice, headers=H), 400, "body/actuals/1")
        bad_person = {
            "actuals": [
                actual(ids, "2026-02-02", billableMinutes=1),
                {**actual(ids, "2026-02-03", billableMinutes=1), "personId": 1},
            ]
        }
        await fails(c.post("/actuals/bulk/", json=bad_person, headers=H), 400, "Person with id 1")
        total = (await ok(c.get("/actuals/", headers=H)))["values"]
    assert [a["date"] for a in made] == ["2026-01-07", "2026-01-05", "2026-01-06"] and len(total) == 3


@pytest.mark.parametrize(
    ("change", "needle"),
    [({}, "billableMinutes"), ({"billableMinutes": -1}, ">= 0"), ({"billableMinutes": "30"}, "must be number"),
     ({"billableMinutes": 1, "date": "2026-13-01"}, "format"), ({"billableMinutes": 1, "projectId": 1}, "Project with id 1"),
     ({"billableMinutes": 1, "workstreamId": 4}, "Workstream"), ({"billableMinutes": 1, "hours": 2}, "additional")],
    ids=["no-minutes", "negative", "string", "bad-date", "no-project", "workstream", "extra"],
)  # fmt: skip
async def test_actual_validation(change: dict[str, Any], needle: str) -> None:
    async with client() as c:
        ids = await seed(c)
        await fails(c.post("/actuals/", json={**actual(ids), **change}, headers=H), 400, needle)


async def test_time_entries_add_minutes_and_delete_frees_the_day() -> None:
    async with client() as c:
        ids = await seed(c)
        one = await ok(c.post("/actuals/time-entry", json=actual(ids, billableMinutes=30), headers=H), 201)
        two = await ok(
            c.post(
                "/actuals/time-entry/", json=actual(ids, billableMinutes=45, nonbillableMinutes=5), headers=H
            ),
            201,
        )
        await ok(c.delete(f"/actuals/{two['id']}/", headers=H), 204)
        await fails(c.delete(f"/actuals/{two['id']}/", headers=H), 404)
        fresh = await ok(c.post("/actuals/", json=actual(ids, billableMinutes=10), headers=H), 201)
    assert one["id"] == two["id"] and (two["billableMinutes"], two["nonbillableMinutes"]) == (75, 5)
    assert fresh["id"] != one["id"] and fresh["billableMinutes"] == 10


# -- rate limit and faults --------------------------------------------------------------------------
async def test_429_after_the_published_120_per_minute_per_token() -> None:
    async with client(SandboxOptions()) as c:
        first = await c.get("/roles/", headers=H)
        for _ in range(119):
            last = await c.get("/roles/", headers=H)
        over = await c.get("/roles/", headers=H)
        other_token = await c.get("/roles/", headers=READ)
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("120", "119")
    assert last.status_code == 200 and last.headers["X-RateLimit-Remaining"] == "0"
    assert over.status_code == 429 and over.json() == {
        "error": "Too Many Requests", "message": "Rate limit exceeded", "statusCode": 429}  # fmt: skip
    assert (
        1 <= int(over.headers["Retry-After"]) <= 60
        and over.headers["X-RateLimit-Reset"] == over.headers["Retry-After"]
    )
    assert over.headers["X-RateLimit-Remaining"] == "0" and other_token.status_code == 200


async def test_rate_limit_is_configurable() -> None:
    async with client(SandboxOptions(rate_limits={"runn": (RateWindow(2, 60),)})) as c:
        statuses = [(await c.get("/people/", headers=H)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_faults_and_request_log_through_the_shared_admin_api() -> None:
    async with client() as c:
        await ok(
            c.post("/_admin/faults", json={"fail_next": [{"status": 503, "count": 1, "path": "/actuals"}]})
        )
        clients = await c.get("/clients/", headers=H)
        failed = await fails(c.get("/actuals/", headers=H), 503)
        after = await c.get("/actuals/", headers=H)
        await ok(c.post("/_admin/faults", json={"fail_next": [{"status": 429, "retry_after": 7}]}))
        throttled = await c.get("/people/", headers=H)
        log = await ok(c.get("/_admin/requests"))
        await ok(
            c.post("/_admin/faults", json={"forbidden": [{"path": "/actuals/*", "key": OPTIONS.runn_token}]})
        )
        denied = await fails(c.post("/actuals/bulk/", json={"actuals": []}, headers=H), 403)
        await ok(c.post("/_admin/faults", json={"forbidden": [], "throttle_rate": 1.0}))
        await fails(c.get("/roles/", headers=H), 429, "Rate limit exceeded")
    assert clients.status_code == after.status_code == 200 and failed["error"] == "Service Unavailable"
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert [(r["path"], r["status"]) for r in log["requests"]] == [
        ("/clients/", 200), ("/actuals/", 503), ("/actuals/", 200), ("/people/", 429)]  # fmt: skip
    assert log["requests"][0]["user"] == "runn-token" and denied["error"] == "Forbidden"


# -- admin ------------------------------------------------------------------------------------------
async def test_admin_seeds_records_made_by_hand_that_a_writer_can_adopt() -> None:
    async with client() as c:
        refs = [{"referenceName": "couplet", "externalId": "cust-7"}]
        hand = await ok(c.post("/_admin/clients", json={"name": "Old Co", "id": 42, "references": refs,
                                                        "createdAt": "2023-05-01"}), 201)  # fmt: skip
        role = await ok(c.post("/_admin/roles", json={"name": "Unknown"}), 201)
        body = {"firstName": "Hand", "lastName": "Made", "roleId": role["id"], "isArchived": True,
                "references": [{"referenceName": "couplet", "externalId": "user-1"}]}  # fmt: skip
        person = await ok(c.post("/_admin/people", json=body), 201)
        listed = await ok(c.get("/clients/", headers=H))
        adopted = await ok(c.get("/people/", params={"externalId": "user-1"}, headers=H))
        fixed = await ok(c.patch(f"/clients/{hand['id']}", json={"name": "Old Co GmbH"}, headers=H))
        edited = await ok(c.patch(f"/_admin/clients/{hand['id']}", json={"isArchived": True}))
        refused = await c.delete(f"/_admin/roles/{role['id']}")
        bad = await c.post("/_admin/people", json={"firstName": "X", "lastName": "Y"})
        state = await ok(c.get("/_admin/state"))
    assert (
        hand["id"] == 42
        and hand["_source"] == "admin"
        and hand["createdAt"] == hand["updatedAt"] == "2023-05-01T00:00:00.000Z"
    )
    assert (
        listed["values"][0]["references"] == refs and person["isArchived"] and person["_roleId"] == role["id"]
    )
    assert [p["id"] for p in adopted["values"]] == [person["id"]] and fixed["name"] == "Old Co GmbH"
    assert edited["isArchived"] and edited["_writes"] == 3 and refused.status_code == 409
    assert bad.status_code == 400 and "roleId" in bad.json()["error"]
    assert {k: len(v) for k, v in state.items() if k != "settings"} == {
        "clients": 1, "projects": 0, "roles": 1, "people": 1, "contracts": 1, "actuals": 0}  # fmt: skip


async def test_reset_empties_the_account_and_restarts_ids() -> None:
    async with client() as c:
        ids = await seed(c)
        await ok(c.post("/actuals/", json=actual(ids, billableMinutes=1), headers=H), 201)
        await ok(c.post("/_admin/reset"))
        counts = (await ok(c.get("/_admin/org")))["counts"]
        again = await ok(c.post("/clients/", json={"name": "Acme"}, headers=H), 201)
    assert set(counts.values()) == {0} and again["id"] == ids["client"]


def test_mounted_in_the_root_server_over_real_http() -> None:
    from sandbox import server

    with server.start_background(SandboxOptions(rate_limit=False)) as running:
        env = server.client_env(running.base_url)
        headers = {"Authorization": f"Bearer {env['RUNN_API_TOKEN']}", "Accept-Version": "1.0.0"}
        made = httpx.post(
            env["RUNN_BASE_URL"] + "/clients/", json={"name": "Acme"}, headers=headers, timeout=10
        )
        listed = httpx.get(env["RUNN_BASE_URL"] + "/clients", headers=headers, timeout=10)
        health = httpx.get(running.base_url + "/healthz", timeout=10).json()
    assert (
        made.status_code == 201
        and listed.json()["values"][0]["name"] == "Acme"
        and "/runn" in health["sandboxes"]
    )
