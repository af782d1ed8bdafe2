"""A sandbox world for end-to-end tests: the sandbox on a free port, the connections' env vars
pointed at it, a flow file in a temp folder as the flows to load, and a Dagster home beside it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import RunningServer, client_env, start_background

# A Harvest connection as a flow file declares it (the sandbox's env vars fill it in).
HARVEST = (
    "hv: {connector: harvest, access_token: {env: HARVEST_ACCESS_TOKEN}, "
    "account_id: {env: HARVEST_ACCOUNT_ID}, base_url: {env: HARVEST_BASE_URL}}"
)


@contextmanager
def world(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    flow: str,
    days: int,
    users: int = 3,
    env: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """The sandbox with ``days`` of history up to today for ``users`` people (published rate
    limits off, on both sides), ``flow`` as the flows to load, working in ``tmp_path``."""
    anchor = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    org = OrgOptions(anchor=anchor, history_days=days, users=users)
    server = start_background(SandboxOptions(org=org, rate_limit=False))
    try:
        for key, value in {**client_env(server.base_url), "HARVEST_RATE_LIMIT": "off", **(env or {})}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "flow.yaml").write_text(flow)
        monkeypatch.setenv("COUPLET_FLOWS", str(tmp_path / "flow.yaml"))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
        yield server
    finally:
        server.stop()
