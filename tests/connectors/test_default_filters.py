"""No hidden default filters: every list reads archived, inactive and done records too.

Against the three sandboxes in process (their root app through httpx's ASGI transport). Where an API
hides records unless a parameter says otherwise (reference facts, see docs/connectors/<source>.md,
"Default filters"), the sandbox hides them too, so a connector that forgot the parameter misses them;
the connector's extraction returns them all, with the flag column that tells them apart. Lists that
hide nothing by default keep their inactive records, and the extraction does too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pyarrow as pa
import pytest

from connectors import get_source
from connectors.core.extract import Extractor
from connectors.core.settings import resolve_settings
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import create_root_app

# services=7: the generated org then has an inactive service (Clockodo services, Harvest tasks, done tasks).
OPTIONS = SandboxOptions(
    org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=60, services=7), rate_limit=False
)
ROOT = create_root_app(OPTIONS)
BASE = "http://sandbox"
WS = ROOT.state.apps["/clockify"].state.sandbox.ws
ENV = {
    "CLOCKIFY_BASE_URL": BASE + "/clockify/api",
    "CLOCKIFY_REPORTS_URL": BASE + "/clockify/reports",
    "CLOCKIFY_API_KEY": OPTIONS.api_key,
    "CLOCKIFY_WORKSPACE_ID": WS,
    "CLOCKODO_BASE_URL": BASE + "/clockodo/api",
    "CLOCKODO_API_USER": OPTIONS.api_user,
    "CLOCKODO_API_KEY": OPTIONS.api_key,
    "HARVEST_BASE_URL": BASE + "/harvest",
    "HARVEST_ACCESS_TOKEN": OPTIONS.harvest_token,
    "HARVEST_ACCOUNT_ID": str(OPTIONS.harvest_account_id),
}
HEADERS = {
    "clockify": {"X-Api-Key": OPTIONS.api_key},
    "clockodo": {
        "X-ClockodoApiUser": OPTIONS.api_user,
        "X-ClockodoApiKey": OPTIONS.api_key,
        "X-Clockodo-External-Application": "couplet-tests;dev@couplet.dev",
    },
    "harvest": {
        "Authorization": f"Bearer {OPTIONS.harvest_token}",
        "Harvest-Account-Id": str(OPTIONS.harvest_account_id),
        "User-Agent": "couplet-tests (dev@couplet.dev)",
    },
}
MOUNT = {"clockify": f"/clockify/api/v1/workspaces/{WS}", "clockodo": "/clockodo/api", "harvest": "/harvest"}
PAGE = {"clockify": {"page-size": 200}, "clockodo": {"items_per_page": 1000}, "harvest": {"per_page": 2000}}


def extract(connector: str, entity: str) -> list[dict[str, Any]]:
    """Every record the connector extracts from the sandbox (an unpartitioned entity)."""
    source = get_source(connector)
    settings = resolve_settings(source, environ=ENV)

    async def go() -> pa.Table:
        async with Extractor(source, settings, transport=httpx.ASGITransport(app=ROOT)) as ex:
            return pa.concat_tables([r.table async for r in ex.extract(entity)])

    return asyncio.run(go()).to_pylist()


def listed(connector: str, path: str, key: str | None, **params: Any) -> list[dict[str, Any]]:
    """One page of a sandbox list as the API serves it (large enough to hold the whole list)."""

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ROOT), base_url=BASE) as c:
            query = {**PAGE[connector], **params}
            return await c.get(MOUNT[connector] + path, params=query, headers=HEADERS[connector])

    r = asyncio.run(go())
    assert r.status_code == 200, r.text[:300]
    rows = r.json() if key is None else r.json()[key]
    assert isinstance(rows, list) and len(rows) < 200
    return rows


def requests_to(mount: str, path: str) -> list[dict[str, str]]:
    """Query parameters of the sandbox's logged requests to ``path`` (relative to its mount)."""
    log = ROOT.state.apps[mount].state.sandbox.state.log
    return [dict(item["params"]) for item in log.snapshot(path)["requests"]]


# (entity, path, the parameter that lists everything, flag column, its values the default hides)
CLOCKIFY_HIDDEN = [
    ("users", "/users", {"status": "ALL"}, "membershipStatus", {"INACTIVE"}),
    ("clients", "/clients", {"archived": "true"}, "archived", {True}),
    ("time_off_policies", "/time-off/policies", {"status": "ALL"}, "archived", {True}),
]


@pytest.mark.parametrize(("entity", "path", "everything", "flag", "hidden"), CLOCKIFY_HIDDEN)
def test_clockify_hides_by_default_and_the_connector_reads_everything(
    entity: str, path: str, everything: dict, flag: str, hidden: set
) -> None:
    by_default = {r["id"] for r in listed("clockify", path, None)}
    every_id = {r["id"] for r in listed("clockify", path, None, **everything)}
    rows = extract("clockify", entity)
    missing = every_id - by_default
    assert missing, f"the sandbox's {entity} list hides nothing by default"
    assert {r["id"] for r in rows} == every_id and len(rows) == len(every_id)
    assert {r[flag] for r in rows if r["id"] in missing} <= hidden  # the hidden ones, flagged
    assert not {r[flag] for r in rows if r["id"] in by_default} & hidden


def test_clockify_approval_requests_list_one_state_and_the_connector_asks_all_three() -> None:
    by_default = listed("clockify", "/approval-requests", None)
    states = {
        s: listed("clockify", "/approval-requests", None, status=s)
        for s in ("APPROVED", "WITHDRAWN_APPROVAL")
    }
    rows = extract("clockify", "approval_requests")
    assert by_default and {r["approvalRequest"]["status"]["state"] for r in by_default} == {"PENDING"}
    assert all(states.values())
    expected = len(by_default) + sum(len(v) for v in states.values())
    assert len(rows) == expected
    assert {r["status_state"] for r in rows} == {"PENDING", "APPROVED", "WITHDRAWN_APPROVAL"}


@pytest.mark.parametrize(
    ("entity", "path", "key"),
    [("tags", "/tags", None), ("expense_categories", "/expenses/categories", "categories")],
)
def test_clockify_lists_with_an_undocumented_default_are_asked_both_ways(
    entity: str, path: str, key: str | None
) -> None:
    archived = {r["id"] for r in listed("clockify", path, key, archived="true")}
    active = {r["id"] for r in listed("clockify", path, key, archived="false")}
    logged = f"/api/v1/workspaces/{WS}{path}"
    before = len(requests_to("/clockify", logged))
    rows = extract("clockify", entity)
    sent = requests_to("/clockify", logged)[before:]
    assert archived and active and not archived & active
    assert {r["id"] for r in rows} == archived | active and len(rows) == len(archived | active)
    assert {r["id"] for r in rows if r["archived"]} == archived
    assert sorted(q["archived"] for q in sent) == ["false", "true"]


# Lists that hide nothing unless a filter is sent: (connector, entity, path, envelope, flag column)
NOT_HIDDEN = [
    ("clockify", "projects", "/projects", None, "archived"),
    ("clockify", "custom_fields", "/custom-fields", None, "status"),
    ("clockodo", "customers", "/v3/customers", "data", "active"),
    ("clockodo", "projects", "/v4/projects", "data", "active"),
    ("clockodo", "users", "/v3/users", "data", "active"),
    ("clockodo", "services", "/v4/services", "data", "active"),
    ("clockodo", "lumpsum_services", "/v4/lumpSumServices", "data", "active"),
    ("harvest", "clients", "/v2/clients", "clients", "is_active"),
    ("harvest", "projects", "/v2/projects", "projects", "is_active"),
    ("harvest", "users", "/v2/users", "users", "is_active"),
    ("harvest", "tasks", "/v2/tasks", "tasks", "is_active"),
    ("harvest", "user_assignments", "/v2/user_assignments", "user_assignments", "is_active"),
    ("harvest", "expense_categories", "/v2/expense_categories", "expense_categories", "is_active"),
]


@pytest.mark.parametrize(("connector", "entity", "path", "key", "flag"), NOT_HIDDEN)
def test_lists_without_a_hidden_default_keep_their_inactive_records(
    connector: str, entity: str, path: str, key: str | None, flag: str
) -> None:
    served = listed(connector, path, key)
    rows = extract(connector, entity)
    assert len({str(r[flag]) for r in served}) > 1, f"the sandbox's {entity} has one {flag} only"
    assert {r["id"] for r in rows} == {r["id"] for r in served}
    assert {str(r[flag]) for r in rows} == {str(r[flag]) for r in served}


def test_clockify_tasks_of_archived_projects_and_done_tasks_are_read() -> None:
    projects = {r["id"]: r["archived"] for r in listed("clockify", "/projects", None)}
    rows = extract("clockify", "tasks")
    assert {r["status"] for r in rows} == {"ACTIVE", "DONE"}
    assert any(projects[r["projectId"]] for r in rows)  # fan-out over archived projects too
