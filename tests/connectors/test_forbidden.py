"""A 403 fails the extraction loudly: the message names the source, the entity, the endpoint and the
missing right, quotes the API's own message and says what to do — distinct from a 401 (bad
credentials) and never an empty success. Against the three sandboxes in process: paths denied with
their `forbidden` knob, and the keys with a worker's or member's rights that they answer 403 anyway.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import pickle

import httpx
import pyarrow as pa
import pytest

from connectors import get_source
from connectors.core.errors import AuthError, ForbiddenError
from connectors.core.extract import Extractor
from connectors.core.http import RetryPolicy
from connectors.core.settings import resolve_settings
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import create_root_app

OPTIONS = SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=40), rate_limit=False)
ROOT = create_root_app(OPTIONS)
BASE = "http://sandbox"
WS = ROOT.state.apps["/clockify"].state.sandbox.ws
MOUNTS = {"clockodo": "/clockodo/api", "clockify": "/clockify", "harvest": "/harvest"}
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
FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)
MAY = (dt.date(2026, 5, 1), dt.date(2026, 5, 8))


def admin(connector: str, method: str, path: str, **body: object) -> dict:
    async def go() -> dict:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ROOT), base_url=BASE) as c:
            response = await c.request(method, MOUNTS[connector] + path, json=body or None)
            response.raise_for_status()
            return response.json()

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def fresh_sandboxes():
    for connector in MOUNTS:
        admin(connector, "POST", "/_admin/reset")


def extract(connector: str, entity: str, dated: bool = False, **env: str) -> pa.Table:
    source = get_source(connector)
    settings = resolve_settings(source, environ={**ENV, **env})

    async def go() -> pa.Table:
        transport = httpx.ASGITransport(app=ROOT)
        async with Extractor(source, settings, transport=transport, retry=FAST) as ex:
            window = MAY if dated else (None, None)
            return pa.concat_tables([r.table async for r in ex.extract(entity, *window)])

    return asyncio.run(go())


def forbidden_message(connector: str, entity: str, dated: bool = False, **env: str) -> str:
    with pytest.raises(ForbiddenError) as info:
        extract(connector, entity, dated, **env)
    message = str(info.value)
    assert "authentication failed" not in message and f"source={connector}" in message
    assert all(secret not in message for secret in (OPTIONS.api_key, OPTIONS.harvest_token, "worker-key"))
    return message


@pytest.mark.parametrize(
    ("connector", "entity", "rule", "endpoint", "said"),
    [
        ("clockodo", "users", "/v3/users", "/clockodo/api/v3/users", "Insufficient access rights"),
        ("clockify", "clients", "*/clients", f"/clockify/api/v1/workspaces/{WS}/clients", "Access Denied"),
        ("harvest", "clients", "/v2/clients", "/harvest/v2/clients", "You do not have permission"),
    ],
)
def test_a_denied_entity_names_entity_endpoint_right_and_the_apis_message(
    connector: str, entity: str, rule: str, endpoint: str, said: str
) -> None:
    assert extract(connector, entity).num_rows > 0  # readable before the right is taken away
    admin(connector, "POST", "/_admin/faults", forbidden=[{"path": rule}])
    message = forbidden_message(connector, entity)
    assert f"the API key lacks the right to read {entity} (HTTP 403 on {endpoint}): {said}" in message
    assert (
        "Ask an administrator to grant that right" in message and f"remove {entity} from the flow" in message
    )
    assert extract(connector, "projects").num_rows > 0  # only that path is denied


def test_a_denied_fan_out_parent_names_the_parent_and_the_entity_read() -> None:
    admin("clockodo", "POST", "/_admin/faults", forbidden=[{"path": "/v3/users"}])
    message = forbidden_message("clockodo", "work_times", dated=True)
    assert (
        "lacks the right to read users (read for work_times) (HTTP 403 on /clockodo/api/v3/users)" in message
    )
    assert "remove work_times from the flow" in message and "owner's key reads everything" in message


def test_restricted_keys_get_the_rights_message_not_the_credentials_one() -> None:
    worker = admin("clockodo", "GET", "/_admin/org")["credentials"]["worker_api_user"]
    member = admin("harvest", "GET", "/_admin/org")["credentials"]["member_token"]
    # A Clockodo worker may not read other people's access rights.
    message = forbidden_message(
        "clockodo", "customers_projects", CLOCKODO_API_USER=worker, CLOCKODO_API_KEY="worker-key"
    )
    assert "right to read customers_projects (HTTP 403 on /clockodo/api/v2/users/" in message
    # A Clockify member may not list approval requests; a Harvest member may not list users.
    message = forbidden_message("clockify", "approval_requests", CLOCKIFY_API_KEY="worker-key")
    assert "right to read approval_requests" in message and "Access Denied" in message
    message = forbidden_message("harvest", "users", HARVEST_ACCESS_TOKEN=member)
    assert (
        "right to read users (HTTP 403 on /harvest/v2/users): You do not have permission to list users"
        in message
    )
    assert "Administrator's token" in message


def test_a_bad_key_is_still_a_credentials_error() -> None:
    with pytest.raises(AuthError) as info:
        extract("harvest", "clients", HARVEST_ACCESS_TOKEN="not-a-token")
    assert not isinstance(info.value, ForbiddenError)
    message = str(info.value)
    assert "authentication failed" in message and "HARVEST_ACCESS_TOKEN" in message
    assert "lacks the right" not in message and "not-a-token" not in message


def test_the_error_survives_pickling_with_its_message() -> None:
    admin("clockodo", "POST", "/_admin/faults", forbidden=[{"path": "/v3/users"}])
    with pytest.raises(ForbiddenError) as info:
        extract("clockodo", "work_times", dated=True)
    copy = pickle.loads(pickle.dumps(info.value))  # e.g. across a process boundary
    assert str(copy) == str(info.value) and copy.entity == "work_times" and copy.reading == "users"
