"""QuickBooks Online destination: billable time sent as TimeActivity records, each entry exactly once.

``to: {quickbooks: {source: clockodo, environment: sandbox}}`` with ``mode: append_new`` (or
``append``); in code, ``QuickBooksWriter(state_dir).write(QuickBooksTarget(source="clockodo"), table,
"append", ["id"])``.

QuickBooks is an operational destination, not a table: each row (a time entry, in the shape the
``billable_export`` flow gives it) becomes one TimeActivity whose employee, customer (or
``Parent:Job``) and optional service item are found by exact name through the query endpoint. What
the writer expects of the rows is in ``rows``; names and the mapping tables in ``names``; OAuth and the
stored refresh token in ``oauth``; the HTTP side in ``client``; exactly-once (what was sent, the
batches in doubt, ``requestid``) in ``state``; the report in ``report``; the run in ``writer``. User
docs: ``docs/destinations/quickbooks.md``.

This module holds only the declaration (``DESTINATION``): it imports pydantic and nothing of the
writer, so loading flows stays cheap.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator

from connectors.core.ratelimit import parse_rate_limits

from ..base import DestinationConfigError
from ..endpoints import shown_endpoint
from ..spec import Context, Destination, Settings

if TYPE_CHECKING:
    from .writer import QuickBooksWriter

# Reference §1: the documented API hosts (the base ends in /v3) and §2 the token endpoint.
HOSTS = {
    "production": "https://quickbooks.api.intuit.com/v3",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com/v3",
}
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
ENV_BASE_URL, ENV_TOKEN_URL = "QUICKBOOKS_BASE_URL", "QUICKBOOKS_TOKEN_URL"
# Reference §1: python-quickbooks' MINIMUM_MINOR_VERSION, after Intuit's 2025-01-21 announcement.
MINOR_VERSION = 75
# Reference §3: 500 requests a minute per realm and app, batch items included.
DEFAULT_RATE_LIMIT = "500/min"
# Reference §8: at most 30 items per batch (the 2023 Intuit blog; 10 and 50 elsewhere: UNCONFIRMED).
MAX_BATCH = 30
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_WORD = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_URL = r"^https?://[^\s?#]+$"


class Rounding(Settings):
    """``rounding: {minutes: 15, direction: up}``: durations rounded before they are sent."""

    minutes: Annotated[int, Field(ge=1, le=60)] = 1  # the step: 1, 5, 6, 10, 15, 30...
    direction: Literal["up", "nearest", "down"] = "nearest"  # nearest: halves go up


class Columns(Settings):
    """Which input column holds what; the defaults are the columns of the ``billable_export`` flow."""

    id: str = "id"  # the source entry's id (used when the output gives no primary_key)
    date: str = "date"  # date, timestamp or YYYY-MM-DD text
    user: str = "users_name"  # the person: matched to an Employee (or Vendor) DisplayName
    client: str = "customers_name"  # the client: the parent customer (customer: client_project / client)
    project: str = "projects_name"  # the project: the customer or job
    duration: str = "minutes"  # in ``duration_unit``
    description: str = "text"
    hourly_rate: str = "hourly_rate"
    # true/false, or Clockodo's 0/1/2; None: ``is_billable`` or ``billable`` when present, else every
    # row counts as billable (billable_export keeps billable entries only)
    billable: str | None = None
    item: str | None = None  # the service item per row (e.g. services_name); None: the ``item`` setting


class QuickBooksTarget(Settings):
    """``to: {quickbooks: {...}}``: which company, how rows become TimeActivities, and the credentials."""

    # Where the rows' ids come from (a connection name such as clockodo_main): part of every
    # requestid and of the record of what was sent, so two flows' entry ids never collide.
    source: Annotated[str, Field(pattern=_WORD)]
    environment: Literal["production", "sandbox"] = "production"
    realm_id: Annotated[str, Field(pattern=r"^[0-9]+$")] | None = None  # unset: $realm_id_env
    # The API base (ending in /v3) and token endpoint; unset: QUICKBOOKS_BASE_URL / QUICKBOOKS_TOKEN_URL,
    # else Intuit's (couplet sandbox: http://127.0.0.1:8765/quickbooks/v3 and .../oauth2/v1/tokens/bearer).
    base_url: Annotated[str, Field(pattern=_URL)] | None = None
    token_url: Annotated[str, Field(pattern=_URL)] | None = None
    minor_version: Annotated[int, Field(ge=1)] = MINOR_VERSION
    client_id_env: Annotated[str, Field(pattern=_ENV_NAME)] = "QUICKBOOKS_CLIENT_ID"
    client_secret_env: Annotated[str, Field(pattern=_ENV_NAME)] = "QUICKBOOKS_CLIENT_SECRET"
    refresh_token_env: Annotated[str, Field(pattern=_ENV_NAME)] = "QUICKBOOKS_REFRESH_TOKEN"
    realm_id_env: Annotated[str, Field(pattern=_ENV_NAME)] = "QUICKBOOKS_REALM_ID"
    # Which QuickBooks customer an entry is for: the project's (a customer or a job found by its
    # DisplayName), the client's, or the project as a job of the client (FullyQualifiedName "Client:Project").
    customer: Literal["project", "client", "client_project"] = "project"
    name_of: Literal["Employee", "Vendor"] = "Employee"  # people are employees, or contractors (vendors)
    # Names that differ: {source name: QuickBooks name}. A QuickBooks name with ":" is a full name
    # (Parent:Job). A mapping file (CSV kind,source,quickbooks or YAML users/customers/items) adds
    # more; these settings win over it.
    user_map: dict[str, str] = Field(default_factory=dict)
    customer_map: dict[str, str] = Field(default_factory=dict)
    item_map: dict[str, str] = Field(default_factory=dict)
    mapping_file: str | None = None
    require_user_map: bool = False  # true: people missing from the user mapping are not sent
    item: str | None = None  # a Service item for every entry (a row's item column wins when filled)
    billable_only: bool = True  # false: non-billable entries are sent as NotBillable
    hourly_rate: Annotated[float, Field(ge=0)] | None = None  # used when a row has no rate
    rounding: Rounding = Field(default_factory=Rounding)
    duration_unit: Literal["minutes", "seconds", "hours"] = "minutes"
    columns: Columns = Field(default_factory=Columns)
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH)] = MAX_BATCH
    rate_limit: str = DEFAULT_RATE_LIMIT  # "N/min"; the 10-in-flight and 40-batches/min limits always hold
    # Entries QuickBooks refused (a Fault per item): fail the write after the others are sent (the run
    # shows it, the ledger records nothing), or only report them.
    on_rejected: Literal["fail", "report"] = "fail"

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate_limits(value)  # a ValueError says how to write it
        return value

    @field_validator("user_map", "customer_map", "item_map")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        empty = [k for k, v in value.items() if not k or not v.strip()]
        if empty:
            raise ValueError(f"map {empty} to a QuickBooks name (empty names cannot be found)")
        return value

    def __hash__(self) -> int:  # frozen settings with mappings: hashed by their content
        return hash((type(self), json.dumps(self.model_dump(), sort_keys=True)))

    def realm(self, env: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if env is None else env
        return self.realm_id or (env.get(self.realm_id_env) or "").strip() or None

    def api_base(self, env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        url = self.base_url or (env.get(ENV_BASE_URL) or "").strip() or HOSTS[self.environment]
        return url.rstrip("/")

    def token_endpoint(self, env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        return (self.token_url or (env.get(ENV_TOKEN_URL) or "").strip() or TOKEN_URL).rstrip("/")

    def __str__(self) -> str:
        return f"QuickBooks Online ({self.environment}) TimeActivity from {self.source}"


def label(target: QuickBooksTarget, env: Mapping[str, str] | None = None) -> str:
    """``QuickBooks Online sandbox company 9130... at https://sandbox-quickbooks.api.intuit.com/v3``."""
    realm = target.realm(env) or f"${target.realm_id_env}"
    return f"QuickBooks Online {target.environment} company {realm} at {shown_endpoint(target.api_base(env))}"


def _writer(target: QuickBooksTarget, context: Context) -> QuickBooksWriter:
    from .writer import QuickBooksWriter

    return QuickBooksWriter(state_dir=state_dir(context.data_dir))


STATE_DIR_ENV = "COUPLET_QUICKBOOKS_STATE_DIR"


def state_dir(data_dir: str) -> str:
    """Where the refresh token and the record of sent batches live: ``<data_dir>/quickbooks``, or
    ``$COUPLET_QUICKBOOKS_STATE_DIR``. They need a local (or mounted) folder with file locks and
    owner-only permissions, so a data directory on an object store needs that variable."""
    if folder := os.environ.get(STATE_DIR_ENV):
        return folder
    if "://" in data_dir:
        raise DestinationConfigError(
            f"settings.data_dir is {data_dir.split('://', 1)[0]}://..., but QuickBooks keeps its refresh "
            "token and sent batches in a local folder with file locks: set the environment variable "
            f"{STATE_DIR_ENV} to a folder every run can reach (a mounted volume when runs are on "
            "several machines)"
        )
    return os.path.join(data_dir, "quickbooks")


DESTINATION: Destination[QuickBooksTarget] = Destination(
    kind="quickbooks",
    settings=QuickBooksTarget,
    writer=_writer,
    label=label,
    default_name=lambda t: f"quickbooks_{t.source}",
    example={"source": "clockodo", "environment": "sandbox", "rounding": {"minutes": 15, "direction": "up"}},
    tabular=False,  # TimeActivities created in QuickBooks, each once; never a table
    modes=("append", "append_new"),  # created once each: nothing to replace, nothing to upsert
    keeps_sent_record=True,  # its sent record reports entries changed since they were sent
    # The published limits hold per company across processes: Dagster queues the writes of one
    # company in this pool (give it a limit on the instance); the writer also locks its state folder.
    pool=lambda t: f"quickbooks:{t.realm() or '$' + t.realm_id_env}",
    limiters=("quickbooks", "quickbooks_batch"),  # its client's per-company and batch windows
)
