"""What ``bench/bench_scale.py`` deploys, without its services: the flow file of N client accounts
loads clean with couplet's own loader, one connection and one flow per account, each layout with
the DuckDB pools it is meant to measure; and the sandbox's accounts (``sandbox/accounts.py``) are
told apart, each token valid on its own account only and each account with its own request log.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from destinations.duckdb import file_pool
from pipelines.loader import load_catalog
from sandbox.accounts import account_mount, create_accounts_app, credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_config import account_env, account_name, write_flow_file


@pytest.mark.parametrize("mode", ["per-account", "shared"])
def test_flow_file_has_one_valid_connection_and_flow_per_account(tmp_path: Path, mode: str) -> None:
    catalog = load_catalog([write_flow_file(tmp_path, 7, mode)])

    assert catalog.problems == []
    names = [account_name(i) for i in range(1, 8)]
    assert sorted(catalog.flow_file.connections) == names
    assert sorted(catalog.flow_file.flows) == names
    env_names = set()
    for name in names:
        sources = catalog.flow_file.flows[name].sources
        assert [s.connection for s in sources.values()] == [name]
        env_names |= set(catalog.flow_file.connections[name].setting_values()[0].values())
    assert env_names == set(account_env("http://sandbox", 7))  # every variable the file reads is set
    pools = {file_pool(o.to.settings.path) for f in catalog.flow_file.flows.values() for o in f.outputs}
    assert len(pools) == (7 if mode == "per-account" else 1)


def test_each_account_of_the_sandbox_has_its_own_credentials_and_log() -> None:
    app = create_accounts_app(3)

    async def scenario() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:

            async def get(mount_of: int, key_of: int) -> int:
                token, account_id = credentials(key_of)
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Harvest-Account-Id": str(account_id),
                    "User-Agent": "couplet-tests (tests@couplet.dev)",
                }
                reply = await client.get(account_mount(mount_of) + "/v2/users", headers=headers)
                return reply.status_code

            statuses = [await get(2, 2), await get(2, 2), await get(1, 2), await get(3, 3)]
            logs = [(await client.get(account_mount(i) + "/_admin/requests")).json() for i in (1, 2, 3)]
            return [statuses, [log["count"] for log in logs]]

    statuses, counts = asyncio.run(scenario())
    assert statuses == [200, 200, 401, 200]
    assert counts == [1, 2, 1]
