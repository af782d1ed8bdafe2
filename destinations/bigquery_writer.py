"""BigQuery writer: load jobs from Parquet, MERGE for upsert and scoped replace; no streaming.

``BigQueryWriter().write(BigQueryTarget(project="proj", dataset="reporting", table="entries"), reader, "upsert", ["id"])``
(the target and the destination's declaration: ``bigquery``).

The incoming record batches are streamed into one Parquet file (spooled: in memory up to
``spool_max_bytes``, then on disk), so memory stays bounded whatever the row count. Then:

* ``replace``: one load job with WRITE_TRUNCATE; the table's data and schema become the incoming ones.
* ``append``: one load job with WRITE_APPEND and ALLOW_FIELD_ADDITION/RELAXATION.
* ``upsert``: a load job into a staging table, then one MERGE on the primary key (the last row of a
  key in the batch wins; columns the data lacks keep their values on updated rows). With
  ``deletes`` the same MERGE also has ``WHEN NOT MATCHED BY SOURCE [AND <scope>] THEN DELETE``
  (hard) or ``THEN UPDATE SET _deleted_at = @deleted_at`` guarded by ``_deleted_at IS NULL``
  (soft; the staged rows carry ``_deleted_at`` null). A soft write then counts the rows stamped
  with its own time for ``rows_deleted``. With no incoming rows it is one DELETE / UPDATE.
* scoped ``replace``: a load job into a staging table, then one MERGE ... ON FALSE that inserts the
  staged rows and deletes the target rows whose scope column is in ``[start, end)``. Chosen over
  ``table$YYYYMMDD`` partition decorators because it is one atomic statement for any scope (several
  days, a non-partitioned table, a DATETIME/TIMESTAMP column), and over a DELETE + INSERT script
  because DML statistics then report the deleted rows directly.

``last_updated`` adds a TIMESTAMP column holding the write's time to the streamed rows, so the
load or the MERGE sets it on exactly the rows this write lands (a new column on an existing table
is added to its schema first, as any new column is).

Every step is atomic in BigQuery (a load job or a single DML statement applies whole or not at all),
so a failure leaves the table as it was. The staging table is dropped in a ``finally`` and also
expires on its own after ``staging_expiration`` in case the process dies.

The dataset and the table are created when missing, with an explicit schema (see
``bigquery_schema``), daily time partitioning on ``partition_column`` and clustering by
``clustering`` (default: the primary key, for upserts). New columns are added; a column whose type
changed incompatibly raises ``SchemaConflictError`` before anything is loaded.

Endpoint: ``BigQueryWriter(endpoint="http://127.0.0.1:8765/google/bigquery")`` (or the client
library's own ``BIGQUERY_EMULATOR_HOST``) sends every request, uploads included, to a BigQuery
emulator such as ``couplet sandbox``, anonymously unless a service account is configured.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence

import pyarrow as pa
from google.api_core import exceptions as gexc
from google.auth.exceptions import RefreshError, TransportError
from google.cloud import bigquery

from .base import (
    Deletes,
    DestinationAuthError,
    DestinationConfigError,
    DestinationError,
    Limits,
    Mode,
    ParquetSource,
    SchemaConflictError,
    Scope,
    WriteResult,
    check_deletes,
    check_limits,
    check_mode,
    live_reader,
)
from .bigquery import BigQueryTarget
from .bigquery_load import LoadRun
from .bigquery_schema import ident, to_field
from .endpoints import ENV_BIGQUERY_ENDPOINT, api_endpoint
from .google_auth import BIGQUERY_SCOPES, default_credentials, endpoint_credentials
from .last_updated import WRITE_CLOCK, stamp_reader
from .rewrite import check_scope

MULTIPART_MAX = 5 * 1024 * 1024  # the client's own threshold; above it, resumable uploads
BIGQUERY_LIMITS = Limits(
    destination="BigQuery",
    max_columns=10_000,  # columns per table
    advice="Select fewer columns or split the table.",
)
ROLES_HINT = (
    "Grant the account 'BigQuery Data Editor' (roles/bigquery.dataEditor) on the dataset or project and "
    "'BigQuery Job User' (roles/bigquery.jobUser) on the project"
)


class BigQueryWriter:
    def __init__(
        self,
        client: bigquery.Client | None = None,
        credentials: str | None = None,
        cluster_by_primary_key: bool = True,
        staging_expiration: dt.timedelta = dt.timedelta(hours=24),
        multipart_max_bytes: int = MULTIPART_MAX,
        spool_max_bytes: int = 64 * 1024 * 1024,
        job_timeout_s: float | None = 3600.0,
        limits: Limits = BIGQUERY_LIMITS,
        env: Mapping[str, str] | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint  # else BIGQUERY_EMULATOR_HOST; ignored with an injected client
        self.limits = limits
        self.credentials = credentials
        self.cluster_by_primary_key = cluster_by_primary_key
        self.staging_expiration = staging_expiration
        self.multipart_max_bytes = multipart_max_bytes
        self.spool_max_bytes = spool_max_bytes
        self.job_timeout_s = job_timeout_s
        self.env = env
        self._account: str | None = None

    def _client(self, target: BigQueryTarget) -> bigquery.Client:
        if self.client is None:
            env = os.environ if self.env is None else self.env
            endpoint = api_endpoint(self.endpoint, ENV_BIGQUERY_ENDPOINT, env)
            if endpoint is None:
                found = default_credentials(BIGQUERY_SCOPES, self.credentials, env)
            else:
                found = endpoint_credentials(BIGQUERY_SCOPES, self.credentials, env)
            self._account = found.email
            self.client = bigquery.Client(
                project=target.project,
                credentials=found.credentials,
                location=target.location,
                client_options={"api_endpoint": endpoint} if endpoint else None,
            )
        return self.client

    def count_rows(self, target: BigQueryTarget) -> int | None:
        """The table's rows as BigQuery counts them (None: no such table)."""
        try:
            return int(self._client(target).get_table(target.path).num_rows or 0)
        except gexc.NotFound:
            return None
        except gexc.GoogleAPICallError as exc:
            raise DestinationError(f"{target}: BigQuery answered {exc.code}: {_message(exc)}") from None

    def write(
        self,
        target: BigQueryTarget,
        data: pa.Table | pa.RecordBatchReader | ParquetSource,
        mode: Mode | str,
        primary_key: Sequence[str] = (),
        scope: Scope | None = None,
        allow_empty: bool = False,
        deletes: Deletes | None = None,
    ) -> WriteResult:
        started = time.perf_counter()
        name = str(target)
        reader = data.to_reader() if isinstance(data, pa.Table | ParquetSource) else data
        parsed = check_mode(mode, primary_key, reader.schema, name)
        check_deletes(parsed, deletes, name)
        now = WRITE_CLOCK.now()
        if target.last_updated is not None:  # before _deleted_at, which goes last
            reader = stamp_reader(reader, target.last_updated, now, name)
        if deletes is not None and deletes.soft:
            reader = live_reader(reader)  # incoming rows are live: _deleted_at null, the last column
        incoming = [to_field(f) for f in reader.schema]
        _check_names(reader.schema, name)
        check_limits(reader.schema.empty_table(), self.limits, name)
        check_scope(parsed, reader.schema.empty_table(), scope, name)  # rows are checked as they stream
        client = self._client(target)
        try:
            run = LoadRun(self, client, target, parsed, list(primary_key), scope, name, deletes, now)
            return run.write(reader, incoming, allow_empty, started)
        except (gexc.Forbidden, gexc.Unauthorized) as exc:
            who = self._account or "the account couplet uses"
            raise DestinationAuthError(
                f"{name}: BigQuery refused {who} ({exc.code}: {_message(exc)}). {ROLES_HINT}."
            ) from None
        except (RefreshError, TransportError) as exc:
            raise DestinationAuthError(
                f"{name}: Google refused the credentials' token request ({type(exc).__name__}). The key may be "
                "deleted or disabled: create a new key, or run `gcloud auth application-default login` again."
            ) from None
        except gexc.GoogleAPICallError as exc:
            text = _message(exc)
            if "changed type" in text:
                raise SchemaConflictError(f"{name}: {text}") from None
            raise DestinationError(f"{name}: BigQuery answered {exc.code}: {text}") from None


def _message(exc: gexc.GoogleAPICallError) -> str:
    return str(exc.message).split("\n")[0][:500]


def _check_names(schema: pa.Schema, name: str) -> None:
    folded = [n.lower() for n in schema.names]
    if len(set(folded)) != len(folded):
        raise DestinationConfigError(f"{name}: column names repeat (BigQuery ignores case): {schema.names}")
    for n in schema.names:
        ident(n)
