"""Many Harvest accounts in one sandbox server, for the scale benchmark (``bench/bench_scale.py``).

An agency that syncs its clients' time tracking holds one Harvest account per client: its own
account id, its own token, its own rate-limit budget. ``create_accounts_app(n, options)`` mounts ``n``
Harvest sandbox apps, account ``i`` (1-based) at ``/accounts/<i>/harvest`` (``account_mount``), each
with its own credentials (``credentials``), request log (``GET <mount>/_admin/requests``) and rate
limiter, so the requests and limits of different accounts are told apart exactly as Harvest tells
them apart. The apps share one generated ``Org`` (every account serves the same agency's data, built
once), which keeps fifty accounts within a few hundred MB.

    GET /healthz                          liveness, with the number of accounts
    /accounts/<i>/harvest/v2/...          account i's Harvest API (account id ``ACCOUNT_ID_BASE + i``)
"""

from __future__ import annotations

from dataclasses import replace

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from sandbox.common import JSON, SandboxOptions, org_for
from sandbox.faults import quiet_dropped_connections
from sandbox.harvest import create_app as create_harvest_app

ACCOUNT_ID_BASE = 500_000


def account_mount(index: int) -> str:
    """The mount path of account ``index`` (1-based): a client's Harvest base URL is the server's URL
    plus this."""
    return f"/accounts/{index}/harvest"


def credentials(index: int) -> tuple[str, int]:
    """(personal access token, account id) of account ``index``; each works on its own mount only."""
    return f"sandbox-harvest-token-{index}", ACCOUNT_ID_BASE + index


def create_accounts_app(accounts: int, options: SandboxOptions | None = None) -> Starlette:
    """``accounts`` Harvest sandboxes under one app; ``app.state.apps`` maps mount path -> app."""
    if accounts < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    options = options or SandboxOptions()
    quiet_dropped_connections()
    org = org_for(options)
    apps: dict[str, Starlette] = {}
    for index in range(1, accounts + 1):
        token, account_id = credentials(index)
        own = replace(options, harvest_token=token, harvest_account_id=account_id, harvest_member_token=None)
        apps[account_mount(index)] = create_harvest_app(own, org)

    async def healthz(request: Request) -> Response:
        return JSON({"status": "ok", "accounts": accounts, "org": org.describe()})

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    routes += [Mount(path, app=app) for path, app in apps.items()]
    root = Starlette(routes=routes)
    root.state.apps = apps
    return root


def serve_accounts(accounts: int, options: SandboxOptions, host: str = "127.0.0.1", port: int = 8766) -> None:
    """Serve ``create_accounts_app`` in the foreground until interrupted."""
    app = create_accounts_app(accounts, options)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
