"""Emulators of the Google APIs couplet writes to: Sheets API v4 and BigQuery API v2.

The real client libraries (gspread, google-cloud-bigquery) talk HTTP to them, so a flow's Google
Sheets and BigQuery outputs can land without a Google account: ``couplet sandbox`` mounts them at
``SHEETS_MOUNT`` and ``BIGQUERY_MOUNT``, and the destination tests serve them on threads.

* ``wire``: the request-handling core (request log, injected faults, token endpoint, admin routing);
* ``serving``: its transports, an ASGI app and a threaded ``http.server``;
* ``sheets`` (+ ``sheets_state``, ``sheets_batch``): the Sheets emulator;
* ``bigquery`` (+ ``bigquery_engine``): the BigQuery emulator, tables in an in-memory DuckDB.

State lives in memory for the life of the process. Like every sandbox, nothing here imports
``connectors`` or ``destinations``: the emulators follow Google's published API, not our writers.
"""

from __future__ import annotations

from starlette.applications import Starlette

from sandbox.common import SandboxOptions
from sandbox.org import Org

from .bigquery import BigQueryEmulator
from .serving import asgi_app, serve_threaded
from .sheets import DEMO_SPREADSHEET_ID, SheetsEmulator

SHEETS_MOUNT = "/google/sheets"  # stands for https://sheets.googleapis.com
BIGQUERY_MOUNT = "/google/bigquery"  # stands for https://bigquery.googleapis.com
LOGGED_BODY_BYTES = 4096  # uploads can be megabytes; the sandbox log keeps their start

__all__ = [
    "BIGQUERY_MOUNT",
    "DEMO_SPREADSHEET_ID",
    "SHEETS_MOUNT",
    "BigQueryEmulator",
    "SheetsEmulator",
    "asgi_app",
    "create_bigquery_app",
    "create_sheets_app",
    "serve_threaded",
]


def create_sheets_app(options: SandboxOptions | None = None, org: Org | None = None) -> Starlette:
    """The Sheets emulator for the sandbox: unknown spreadsheet ids are created on first access, and
    ``DEMO_SPREADSHEET_ID`` exists from the start. ``org`` is unused (the signature of every sandbox)."""
    options = options or SandboxOptions()
    emulator = SheetsEmulator(True, options.request_log_size, LOGGED_BODY_BYTES)
    emulator.create("couplet sandbox demo", spreadsheet_id=DEMO_SPREADSHEET_ID)
    return asgi_app(emulator)


def create_bigquery_app(options: SandboxOptions | None = None, org: Org | None = None) -> Starlette:
    """The BigQuery emulator for the sandbox (datasets location US unless a request names one)."""
    options = options or SandboxOptions()
    return asgi_app(BigQueryEmulator("US", options.request_log_size, LOGGED_BODY_BYTES))
