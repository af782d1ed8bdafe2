"""Shared test data, Google emulators (``sandbox.google``) and the ``dest`` fixture of the contract suites."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import gspread
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from gspread.http_client import HTTPClient

from destinations import all_destinations
from destinations.sheets_writer import endpoint_http_client
from sandbox.google import BigQueryEmulator, SheetsEmulator, serve_threaded

if TYPE_CHECKING:
    from tests.destinations.harness import Dest

D = dt.date.fromisoformat
UTC = dt.UTC
BIG_ID = 9_007_199_254_740_993  # 2**53 + 1: a double would round it
SERVICE_ACCOUNT = "couplet-writer@demo-project.iam.gserviceaccount.com"


def entries(ids: list[int], days: list[str], notes: list[str] | None = None) -> pa.Table:
    """A small time-entries table: the shape every mode test writes."""
    notes = notes or [f"entry {i}" for i in ids]
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "day": pa.array([D(d) for d in days], pa.date32()),
            "note": pa.array(notes, pa.string()),
        }
    )


def typed() -> pa.Table:
    """Every type the writers promise to keep: dates, zoned datetimes, decimals, booleans, nulls,
    unicode, int64 ids beyond 2**53, text that looks like a formula or a number."""
    berlin = dt.timezone(dt.timedelta(hours=1))
    return pa.table(
        {
            "id": pa.array([1, 2, BIG_ID], pa.int64()),
            "day": pa.array([D("2024-01-31"), D("2024-02-29"), None], pa.date32()),
            "started_at": pa.array(
                [
                    dt.datetime(2024, 1, 31, 8, 30, tzinfo=UTC),
                    dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=berlin),
                    None,
                ],
                pa.timestamp("us", tz="Europe/Berlin"),
            ),
            "local_at": pa.array(
                [dt.datetime(2024, 3, 1, 9, 0), None, dt.datetime(1999, 12, 31, 23, 0)], pa.timestamp("us")
            ),
            "amount": pa.array(
                [decimal.Decimal("12.34"), decimal.Decimal("-0.10"), None], pa.decimal128(12, 2)
            ),
            "hours": pa.array([1.5, None, 0.25], pa.float64()),
            "billable": pa.array([True, False, None], pa.bool_()),
            "note": pa.array(["Grüße ☕ 東京", "=1+1", "0012"], pa.string()),
        }
    )


# -- Google Sheets -----------------------------------------------------------------------------
@pytest.fixture
def sheets() -> Iterator[SheetsEmulator]:
    with serve_threaded(SheetsEmulator()) as emulator:
        yield emulator


def local_http(sheets: SheetsEmulator) -> type[HTTPClient]:
    """gspread's HTTP client class, sending Google's URLs to the emulator (the writer's own redirect)."""
    return endpoint_http_client(sheets.url)


@pytest.fixture
def sheets_client(sheets: SheetsEmulator) -> gspread.Client:
    return gspread.Client(auth=AnonymousCredentials(), http_client=local_http(sheets))


class Sleeps(list[float]):
    """An injected ``sleep`` that records instead of waiting, and a clock that moves with it."""

    now = 0.0

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


# -- BigQuery ----------------------------------------------------------------------------------
@pytest.fixture
def bq() -> Iterator[BigQueryEmulator]:
    with serve_threaded(BigQueryEmulator()) as emulator:
        yield emulator


@pytest.fixture
def bq_client(bq: BigQueryEmulator) -> bigquery.Client:
    return bigquery.Client(
        project="proj", credentials=AnonymousCredentials(), client_options={"api_endpoint": bq.url}
    )


# -- every tabular destination (the contract suites) ------------------------------------------
@pytest.fixture(params=[d.kind for d in all_destinations() if d.tabular])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    """One registered tabular destination, ready to write to and read back (``harness``)."""
    from tests.destinations.harness import harness  # it imports this module

    return harness(request.param, request, tmp_path)


# -- credentials -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def service_account_key(pem: str, token_uri: str, email: str = SERVICE_ACCOUNT) -> str:
    """A service-account key file's JSON, whose token endpoint is a local emulator."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": "0123456789abcdef",
            "private_key": pem,
            "client_email": email,
            "client_id": "1234567890",
            "token_uri": token_uri,
        }
    )


@pytest.fixture
def key_file(tmp_path: Path, private_key_pem: str, sheets: SheetsEmulator) -> Path:
    path = tmp_path / "key.json"
    path.write_text(service_account_key(private_key_pem, sheets.url + "/token"))
    return path
