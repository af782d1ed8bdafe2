"""Knobs every source sandbox shares: `forbidden` (403 for chosen paths and keys, in each API's
documented body), dropped connections (`drop_rate`, `fail_next` with `drop`) as a client of a real
uvicorn server sees them, and admin inserts without an id (a fresh id each, for every entity kind)."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sandbox.common import SandboxOptions
from sandbox.faults import ConnectionDropped, Forbid, quiet_dropped_connections
from sandbox.org import OrgOptions
from sandbox.server import create_root_app, start_background

pytestmark = pytest.mark.anyio
# 120 days: the Clockify org then has invoices (payments hang off one).
OPTIONS = SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=120), rate_limit=False)
CLOCKODO = {
    "X-ClockodoApiUser": OPTIONS.api_user,
    "X-ClockodoApiKey": OPTIONS.api_key,
    "X-Clockodo-External-Application": "couplet-tests;dev@couplet.dev",
}
CLOCKIFY = {"X-Api-Key": OPTIONS.api_key}
HARVEST = {
    "Authorization": f"Bearer {OPTIONS.harvest_token}",
    "Harvest-Account-Id": str(OPTIONS.harvest_account_id),
    "User-Agent": "couplet-tests (dev@couplet.dev)",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def sandboxes(options: SandboxOptions = OPTIONS) -> AsyncIterator[httpx.AsyncClient]:
    """Every sandbox in process, mounted as the server mounts them (`c.app` is the root app)."""
    app = create_root_app(options)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


async def faults(c: httpx.AsyncClient, mount: str, **settings: Any) -> httpx.Response:
    return await c.post(f"{mount}/_admin/faults", json=settings)


def clockify_ws(c: httpx.AsyncClient) -> str:
    return str(c.app.state.apps["/clockify"].state.sandbox.ws)  # type: ignore[attr-defined]


# -- forbidden ------------------------------------------------------------------------------------


async def test_forbidden_paths_answer_403_in_each_apis_documented_body() -> None:
    async with sandboxes() as c:
        ws = clockify_ws(c)
        assert (
            await faults(c, "/clockodo/api", forbidden=[{"path": "/v3/users"}, {"path": "/v2/entries"}])
        ).is_success
        assert (await faults(c, "/clockify", forbidden=[{"path": "*/users"}])).is_success
        assert (await faults(c, "/harvest", forbidden=[{"path": "/v2/clients"}])).is_success

        users = await c.get("/clockodo/api/v3/users", headers=CLOCKODO)
        entries = await c.get(
            "/clockodo/api/v2/entries",
            params={"time_since": "2026-05-01T00:00:00Z", "time_until": "2026-05-02T00:00:00Z"},
            headers=CLOCKODO,
        )
        # Clockodo (reference §1.7): 403 = insufficient rights, in the endpoint's error shape
        assert users.status_code == 403 and users.json()["errors"][0]["type"] == "InsufficientRights"
        assert (
            entries.status_code == 403 and entries.json()["error"]["message"] == "Insufficient access rights"
        )
        assert (await c.get("/clockodo/api/v3/customers", headers=CLOCKODO)).status_code == 200

        denied = await c.get(f"/clockify/api/v1/workspaces/{ws}/users", headers=CLOCKIFY)
        assert (denied.status_code, denied.json()) == (403, {"message": "Access Denied", "code": 403})
        assert (await c.get(f"/clockify/api/v1/workspaces/{ws}/clients", headers=CLOCKIFY)).status_code == 200

        clients = await c.get("/harvest/v2/clients", headers=HARVEST)
        assert clients.status_code == 403 and "permission" in clients.json()["message"]
        assert (await c.get("/harvest/v2/projects", headers=HARVEST)).status_code == 200

        # A wrong key is still a 401 (authentication comes first), and the log records the 403s.
        wrong = await c.get("/harvest/v2/clients", headers={**HARVEST, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        log = (await c.get("/harvest/_admin/requests")).json()["requests"]
        assert [r["status"] for r in log] == [403, 200, 401]


async def test_forbidden_for_one_key_only_and_reset_restores_the_options_rules() -> None:
    options = SandboxOptions(org=OPTIONS.org, rate_limit=False, forbidden=(Forbid("/v4/projects"),))
    worker = {**CLOCKODO, "X-ClockodoApiKey": "worker-key"}
    async with sandboxes(options) as c:
        info = (await c.get("/clockodo/api/_admin/org")).json()["credentials"]
        worker["X-ClockodoApiUser"] = info["worker_api_user"]
        assert (
            await c.get("/clockodo/api/v4/projects", headers=CLOCKODO)
        ).status_code == 403  # from the options
        rules = [{"path": "/v3/teams", "key": "worker-key"}]
        settings = (await faults(c, "/clockodo/api", forbidden=rules)).json()
        assert settings["forbidden"] == [{"path": "/v3/teams", "key": "worker-key"}]  # replaced, not added
        assert (await c.get("/clockodo/api/v3/teams", headers=CLOCKODO)).status_code == 200
        assert (await c.get("/clockodo/api/v3/teams", headers=worker)).status_code == 403
        assert (await c.get("/clockodo/api/v4/projects", headers=CLOCKODO)).status_code == 200

        bad = await faults(c, "/clockodo/api", forbidden=[{"path": "/v3/teams", "keys": ["x"]}])
        assert bad.status_code == 400 and "forbidden rule" in bad.json()["error"]
        await c.post("/clockodo/api/_admin/reset")
        assert (await c.get("/clockodo/api/_admin/faults")).json()["forbidden"] == [
            {"path": "/v4/projects", "key": None}
        ]
        assert (await c.get("/clockodo/api/v3/teams", headers=worker)).status_code == 200


# -- dropped connections --------------------------------------------------------------------------


def test_dropped_connections_reach_a_client_as_a_remote_protocol_error() -> None:
    """Through uvicorn: the status line and headers arrive, then the connection closes mid-body."""
    with start_background(OPTIONS) as server, httpx.Client(base_url=server.url("/harvest")) as c:
        drop = {"fail_next": [{"drop": True, "count": 2, "path": "/v2/clients"}]}
        assert c.post("/_admin/faults", json=drop).json()["fail_next"][0]["drop"] is True
        for _ in range(2):
            with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
                c.get("/v2/clients", headers=HARVEST)
        assert c.get("/v2/clients", headers=HARVEST).status_code == 200  # the queue is spent

        assert c.post("/_admin/faults", json={"drop_rate": 1.0}).json()["drop_rate"] == 1.0
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/v2/projects", headers=HARVEST)
        c.post("/_admin/faults", json={"drop_rate": 0.5, "seed": 3})
        outcomes = []
        for _ in range(20):
            try:
                outcomes.append(c.get("/v2/tasks", headers=HARVEST).status_code)
            except httpx.RemoteProtocolError:
                outcomes.append("dropped")
        assert 0 < outcomes.count("dropped") < 20 and set(outcomes) == {"dropped", 200}
        log = c.get("/_admin/requests").json()["requests"]
        assert [r["status"] for r in log[:3]] == ["dropped", "dropped", 200]

        assert c.post("/_admin/faults", json={"fail_next": [{"drop": False}]}).status_code == 400
        assert c.post("/_admin/faults", json={"drop_rate": 2}).status_code == 400


def test_a_drop_is_not_logged_as_a_server_error() -> None:
    quiet_dropped_connections()
    quiet_dropped_connections()  # idempotent
    logger = logging.getLogger("uvicorn.error")
    assert len(logger.filters) == len({type(f) for f in logger.filters})
    try:
        raise ConnectionDropped("x")
    except ConnectionDropped:
        dropped = logger.makeRecord("uvicorn.error", logging.ERROR, "f", 1, "m", (), sys.exc_info())
    other = logger.makeRecord("uvicorn.error", logging.ERROR, "f", 1, "m", (), None)
    assert not logger.filter(dropped) and logger.filter(other)


# -- admin inserts without ids --------------------------------------------------------------------

Bodies = Callable[[Any], dict[str, dict[str, Any]]]


def clockodo_bodies(sb: Any) -> dict[str, dict[str, Any]]:
    user, customer = sb.dims("users")[0]["id"], sb.dims("customers")[0]["id"]
    return {
        "absences": {"users_id": user, "date_since": "2026-03-02"},
        "customers": {"name": "New"},
        "entries": {"users_id": user, "customers_id": customer, "time_since": "2026-03-02T09:00:00Z"},
        "holidays_carries": {"users_id": user, "year": 2026, "count": 2},
        "holidays_quota": {"users_id": user, "year_since": 2026, "count": 20},
        "lumpsum_services": {"name": "Travel", "price": 1.5},
        "non_business_days": {"name": "Day off", "date": "2026-03-03"},
        "overtime_carries": {"users_id": user, "year": 2026},
        "projects": {"customers_id": customer, "name": "New"},
        "services": {"name": "New"},
        "surcharges": {"name": "Night"},
        "target_hours": {"users_id": user, "date_since": "2026-03-01"},
        "teams": {"name": "New"},  # no leader: null, not a user 0 that does not exist
        "users": {"name": "New Person", "email": "new@couplet.dev"},
    }


def clockify_bodies(sb: Any) -> dict[str, dict[str, Any]]:
    first = {
        name: sb.store.dims(name)[0]["id"]
        for name in ("users", "projects", "clients", "time_off_policies", "invoices")
    }
    user, project, policy = first["users"], first["projects"], first["time_off_policies"]
    week = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-06T00:00:00Z"}
    return {
        "clients": {"name": "New"},
        "custom_fields": {"name": "New"},
        "expense_categories": {"name": "New"},
        "expenses": {"userId": user, "date": "2026-03-02T00:00:00Z"},
        "holidays": {"name": "New", "datePeriod": {"startDate": "2026-03-03", "endDate": "2026-03-03"}},
        "invoice_payments": {"invoiceId": first["invoices"], "amount": 100},
        "invoices": {"clientId": first["clients"]},
        "projects": {"name": "New"},
        "scheduling_assignments": {"userId": user, "projectId": project, "period": week},
        "tags": {"name": "New"},
        "tasks": {"name": "New", "projectId": project},
        "time_entries": {
            "userId": user,
            "timeInterval": {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"},
        },
        "time_off_balances": {"userId": user, "policyId": policy},
        "time_off_policies": {"name": "New"},
        "time_off_requests": {"userId": user, "policyId": policy},
        "user_groups": {"name": "New"},
        "users": {"name": "New Person", "email": "new@couplet.dev"},
    }


def harvest_bodies(sb: Any) -> dict[str, dict[str, Any]]:
    user, client = sb.dims("users")[0]["id"], sb.dims("clients")[0]["id"]
    ta = sb.dims("task_assignments")[0]
    project, task = ta["project"]["id"], ta["task"]["id"]
    return {
        "billable_rates": {"user_id": user, "amount": 50},
        "clients": {"name": "New"},
        "contacts": {"client_id": client, "first_name": "New"},
        "cost_rates": {"user_id": user, "amount": 30},
        "estimate_item_categories": {"name": "New"},
        "estimate_messages": {"estimate_id": sb.dims("estimates")[0]["id"]},
        "estimates": {"client_id": client},
        "expense_categories": {"name": "New"},
        "expenses": {
            "user_id": user,
            "project_id": project,
            "expense_category_id": sb.dims("expense_categories")[0]["id"],
            "spent_date": "2026-03-02",
        },
        "invoice_item_categories": {"name": "New"},
        "invoice_messages": {"invoice_id": sb.dims("invoices")[0]["id"]},
        "invoice_payments": {"invoice_id": sb.dims("invoices")[0]["id"], "amount": 10},
        "invoices": {"client_id": client},
        "projects": {"client_id": client, "name": "New"},
        "roles": {"name": "New"},
        "task_assignments": {"project_id": project, "task_id": task},
        "tasks": {"name": "New"},
        "time_entries": {"user_id": user, "project_id": project, "task_id": task, "spent_date": "2026-03-02"},
        "user_assignments": {"project_id": project, "user_id": user},
        "users": {"first_name": "New", "last_name": "Person", "email": "new@couplet.dev"},
    }


SINGLE_RECORD = {"/harvest": {"company"}}  # one record per account: edited, never inserted


@pytest.mark.parametrize(
    ("mount", "bodies"),
    [("/clockodo/api", clockodo_bodies), ("/clockify", clockify_bodies), ("/harvest", harvest_bodies)],
)
async def test_two_inserts_without_an_id_get_two_fresh_ids(mount: str, bodies: Bodies) -> None:
    async with sandboxes() as c:
        table = bodies(c.app.state.apps[mount].state.sandbox)  # type: ignore[attr-defined]
        writable = set((await c.get(f"{mount}/_admin/org")).json()["admin_entities"])
        assert set(table) == writable - SINGLE_RECORD.get(mount, set()), "an entity kind without a test body"
        for entity, body in table.items():
            first, second = [await c.post(f"{mount}/_admin/{entity}", json=dict(body)) for _ in range(2)]
            assert (first.status_code, second.status_code) == (201, 201), (entity, first.text, second.text)
            ids = first.json()["id"], second.json()["id"]
            assert ids[0] != ids[1] and 0 not in ids and "0" * 24 not in ids, (entity, ids)


def test_the_sandbox_command_takes_a_drop_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_project.cli import main

    served: dict[str, Any] = {}
    monkeypatch.setattr("sandbox.server.serve", lambda **kw: served.update(kw))
    assert main(["sandbox", "--drop-rate", "0.25", "--port", "8799"]) == 0
    assert served["options"].drop_rate == 0.25 and served["port"] == 8799
