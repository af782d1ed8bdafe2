"""The sandbox server: every sandbox app mounted under one root, served by uvicorn.

Layout (a client's base URL is the mount point, paths of the real API are appended to it):

    /healthz                 liveness, no auth
    /clockodo/api/...        Clockodo   (real API: https://my.clockodo.com/api)
    /clockify/...            Clockify   (/clockify/api and /clockify/reports)
    /harvest/...             Harvest    (real API: https://api.harvestapp.com)
    /runn/...                Runn API v1, a destination (real API: https://api.runn.io)
    /google/sheets/...       Google Sheets API v4 emulator  (real API: https://sheets.googleapis.com)
    /google/bigquery/...     BigQuery API v2 emulator       (real API: https://bigquery.googleapis.com)
    /quickbooks/v3/...       QuickBooks Online API v3, a destination (real: https://quickbooks.api.intuit.com/v3)
    /quickbooks/oauth2/...   its OAuth 2.0 token endpoint            (real: https://oauth.platform.intuit.com)

Every sandbox in `SANDBOXES` receives the same `SandboxOptions` and the same `Org`, so every source
tool shows the same agency; the Google emulators are destinations and hold what flows write to them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from sandbox.clockify import create_app as create_clockify_app
from sandbox.clockodo import create_app as create_clockodo_app
from sandbox.common import JSON, SandboxOptions, org_for
from sandbox.faults import quiet_dropped_connections
from sandbox.google import BIGQUERY_MOUNT, SHEETS_MOUNT, create_bigquery_app, create_sheets_app
from sandbox.harvest import create_app as create_harvest_app
from sandbox.org import Org
from sandbox.quickbooks import QuickBooksOptions
from sandbox.quickbooks import create_app as create_quickbooks_app
from sandbox.runn import create_app as create_runn_app

# (mount path, app factory)
SANDBOXES: list[tuple[str, Callable[[SandboxOptions, Org], Starlette]]] = [
    ("/clockodo/api", create_clockodo_app),
    ("/clockify", create_clockify_app),
    ("/harvest", create_harvest_app),
    ("/runn", create_runn_app),
    (SHEETS_MOUNT, create_sheets_app),
    (BIGQUERY_MOUNT, create_bigquery_app),
    ("/quickbooks", create_quickbooks_app),
]


def create_root_app(options: SandboxOptions | None = None) -> Starlette:
    """All sandboxes under one app. `app.state.apps` maps mount path -> sandbox app."""
    options = options or SandboxOptions()
    quiet_dropped_connections()  # a drop the sandbox was asked for is not a server error
    org = org_for(options)
    apps = {path: factory(options, org) for path, factory in SANDBOXES}

    async def healthz(request: Request) -> Response:
        return JSON({"status": "ok", "sandboxes": list(apps), "org": org.describe()})

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    routes += [Mount(path, app=app) for path, app in apps.items()]
    root = Starlette(routes=routes)
    root.state.apps = apps
    root.state.org = org
    return root


def serve(host: str = "127.0.0.1", port: int = 8765, options: SandboxOptions | None = None) -> None:
    """Run the sandboxes in the foreground until interrupted (what `couplet sandbox` calls)."""
    uvicorn.run(create_root_app(options), host=host, port=port, log_level="warning", access_log=False)


@dataclass
class RunningServer:
    """A sandbox server on a background thread. `base_url` has no trailing slash."""

    base_url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Starlette

    def url(self, mount: str = "/clockodo/api") -> str:
        return self.base_url + mount

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        for app in self.app.state.apps.values():  # the Google emulators hold a DuckDB database
            emulator = getattr(app.state, "emulator", None)
            if emulator is not None:
                emulator.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_background(
    options: SandboxOptions | None = None, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0
) -> RunningServer:
    """Start the root app on a free port (port=0) in a daemon thread; returns once it accepts requests."""
    app = create_root_app(options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)  # off the main thread uvicorn installs no signal handlers
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sandbox-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.01)
    bound_port = sock.getsockname()[1]
    return RunningServer(f"http://{host}:{bound_port}", server, thread, app)


def client_env(base_url: str) -> dict[str, str]:
    """The connections' env vars pointed at a sandbox running with default options (its keys, its
    Clockify workspace) and the Google outputs at its emulators."""
    defaults = SandboxOptions()
    quickbooks = defaults.quickbooks or QuickBooksOptions()
    # The sandbox's key sees two Clockify workspaces (like a real owner with a personal one): name the agency's.
    workspace = httpx.get(base_url + "/clockify/_admin/org", timeout=30).json()["workspace_id"]
    return {
        "CLOCKIFY_BASE_URL": base_url + "/clockify/api",
        "CLOCKIFY_REPORTS_URL": base_url + "/clockify/reports",
        "CLOCKIFY_API_KEY": defaults.api_key,
        "CLOCKIFY_WORKSPACE_ID": workspace,
        "CLOCKODO_BASE_URL": base_url + "/clockodo/api",
        "CLOCKODO_API_USER": defaults.api_user,
        "CLOCKODO_API_KEY": defaults.api_key,
        "HARVEST_BASE_URL": base_url + "/harvest",
        "HARVEST_ACCESS_TOKEN": defaults.harvest_token,
        "HARVEST_ACCOUNT_ID": str(defaults.harvest_account_id),
        "RUNN_BASE_URL": base_url + "/runn",
        "RUNN_API_TOKEN": defaults.runn_token,
        # Google outputs go to the sandbox's emulators (docs/sandbox.md)
        "COUPLET_GOOGLE_SHEETS_ENDPOINT": base_url + "/google/sheets",
        "BIGQUERY_EMULATOR_HOST": base_url + "/google/bigquery",
        # QuickBooks Online (a destination): API base (real: https://quickbooks.api.intuit.com/v3) and OAuth
        "QUICKBOOKS_BASE_URL": base_url + "/quickbooks/v3",
        "QUICKBOOKS_TOKEN_URL": base_url + "/quickbooks/oauth2/v1/tokens/bearer",
        "QUICKBOOKS_CLIENT_ID": quickbooks.client_id,
        "QUICKBOOKS_CLIENT_SECRET": quickbooks.client_secret,
        "QUICKBOOKS_REFRESH_TOKEN": quickbooks.refresh_token,
        "QUICKBOOKS_REALM_ID": quickbooks.realm_id,
    }
