"""Google Sheets writer: one tab of a spreadsheet, written atomically through a staging tab.

``SheetsWriter().write(SheetsTarget(spreadsheet="<id or URL>", worksheet="Billing"), table, "upsert", ["id"])``
(the target and the destination's declaration: ``google_sheets``).

How a write goes:

1. One metadata read finds the tab (created if missing) and the other tabs' sizes. For ``append``,
   ``upsert`` and a scoped ``replace`` the tab's values are read back (UNFORMATTED_VALUE, serial
   dates) and combined with the incoming rows (``rewrite.combine``: stable upsert, scope rows
   replaced in place, upsert ``deletes`` dropping or marking the rows gone at the source). Column types come from the incoming data, else from the schema recorded on
   the tab as developer metadata (``couplet.schema``) at the last write, else from the values.
2. Limits are checked before anything is written: 50,000 characters per cell, and 10 million cells
   for the whole spreadsheet including the other tabs and the staging copy.
3. All rows go to a new hidden staging tab in chunked ``values.update`` calls (RAW input).
4. One spreadsheet ``batchUpdate`` (Google applies all of its requests or none) moves them in:
   the target tab is cleared, the staged values are pasted into it (``copyPaste`` PASTE_VALUES), date
   and number formats are set per column, the schema metadata and the optional "last updated" note
   are set, and the staging tab is deleted. The target tab keeps its sheetId and position, so
   formulas, charts, pivot tables and filters on other tabs that point at it keep working (deleting
   the tab and renaming the staging copy would turn those references into #REF!). A new tab is
   simply the staging tab renamed and unhidden in the same single request.

A failure before step 4 leaves the target tab untouched; the staging tab is deleted (or, if even
that fails, removed by the next write to the same tab). The grid only grows, never shrinks: rows
below the data are cleared, so a chart range like ``A1:D1000`` does not lose rows over time.

Endpoint: ``SheetsWriter(endpoint="http://127.0.0.1:8765/google/sheets")`` (or
``COUPLET_GOOGLE_SHEETS_ENDPOINT``) sends gspread's requests to a Sheets emulator such as
``couplet sandbox`` instead of ``https://sheets.googleapis.com``, anonymously unless a service
account is configured (see ``google_auth``).

Values: numbers as numbers, booleans as booleans, nulls and empty strings as empty cells, dates,
datetimes (timezone-aware as UTC) and durations as serial numbers with a date/time format, integers
beyond 2**53 as text, text exactly as given (RAW input: "=1+1" and "0012" are not reinterpreted).
``last_updated`` adds a date-time column (the write's wall-clock time in its zone, to the second)
to the incoming rows before they are combined, so exactly the rows this write lands carry it.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gspread
import pyarrow as pa
from gspread.http_client import HTTPClient

from .base import (
    Deletes,
    DestinationConfigError,
    LimitExceededError,
    Limits,
    Mode,
    ParquetSource,
    Scope,
    WriteResult,
    as_table,
    check_deletes,
    check_limits,
    check_mode,
    guard_empty,
    live,
)
from .cells import from_cells, infer_type
from .endpoints import ENV_SHEETS_ENDPOINT, api_endpoint, shown_endpoint
from .google_auth import SHEETS_SCOPES, endpoint_credentials, service_account_credentials
from .google_sheets import SheetsTarget
from .last_updated import WRITE_CLOCK, for_legacy_column, stamp
from .rewrite import check_columns, check_scope, combine
from .sheets_api import SheetsApi, quote_title
from .sheets_swap import drop, drop_stale_staging, recorded, schema_hint, stage, staging_prefix, swap
from .throttle import RequestBudget, RetryPolicy

SHEETS_LIMITS = Limits(
    destination="Google Sheets",
    max_cells=10_000_000,
    max_columns=18_278,
    max_cell_chars=50_000,
    advice="Filter rows or select fewer columns, split the output over several spreadsheets "
    "(e.g. one per year), or write this table to BigQuery instead.",
)
GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")  # Sheets, Drive


def endpoint_http_client(endpoint: str, base: type[HTTPClient] = HTTPClient) -> type[HTTPClient]:
    """A gspread ``HTTPClient`` class (a subclass of ``base``) that sends the requests meant for
    Google's Sheets and Drive hosts to ``endpoint`` instead. gspread has no base-URL option: its
    URLs are constants, but every call goes through ``HTTPClient.request``."""
    root = endpoint.rstrip("/")

    class EndpointHTTPClient(base):  # type: ignore[valid-type,misc]
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
            for host in GOOGLE_HOSTS:
                if endpoint.startswith(host):
                    endpoint = root + endpoint[len(host) :]
                    break
            return super().request(method, endpoint, *args, **kwargs)

    return EndpointHTTPClient


class UpdatedAt(enum.StrEnum):
    NONE = "none"
    COLUMN = "column"  # the older form of the target's last_updated: column updated_at_column, UTC
    NOTE = "note"  # a note on cell A1: when the tab was last written


class SheetsWriter:
    def __init__(
        self,
        credentials: str | None = None,
        client: gspread.Client | None = None,
        http_client: type[HTTPClient] = HTTPClient,
        limits: Limits = SHEETS_LIMITS,
        chunk_cells: int = 50_000,
        read_chunk_cells: int = 250_000,
        writes_per_minute: int = 60,
        reads_per_minute: int = 60,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as a default
        updated_at: UpdatedAt | str = UpdatedAt.NONE,
        updated_at_column: str = "_updated_at",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        env: Mapping[str, str] | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.credentials = credentials
        self.endpoint = endpoint  # else COUPLET_GOOGLE_SHEETS_ENDPOINT; ignored with an injected client
        self.client = client
        self.http_client = http_client
        self.limits = limits
        self.chunk_cells = chunk_cells
        self.read_chunk_cells = read_chunk_cells
        self.retry = retry
        self.updated_at = UpdatedAt(updated_at)
        self.updated_at_column = updated_at_column
        self.sleep = sleep
        self.env = os.environ if env is None else env
        # One budget per writer: the quota is per user, and a writer is one user's resource.
        self.reads = RequestBudget(reads_per_minute, 60.0, clock, sleep)
        self.writes = RequestBudget(writes_per_minute, 60.0, clock, sleep)
        self._account: str | None = None
        self._endpoint: str | None = None  # where requests go instead of Google, once resolved

    def _api(self, target: SheetsTarget) -> SheetsApi:
        if self.client is None:
            self._endpoint = api_endpoint(self.endpoint, ENV_SHEETS_ENDPOINT, self.env)
            if self._endpoint is None:
                found = service_account_credentials(SHEETS_SCOPES, self.credentials, self.env)
                http_client = self.http_client
            else:
                found = endpoint_credentials(SHEETS_SCOPES, self.credentials, self.env)
                http_client = endpoint_http_client(self._endpoint, self.http_client)
            self.client = gspread.Client(auth=found.credentials, http_client=http_client)
            self._account = found.email
        at = f" at {shown_endpoint(self._endpoint)}" if self._endpoint else ""
        return SheetsApi(
            self.client.http_client,
            target.spreadsheet_id,
            str(target) + at,
            self._account,
            self.reads,
            self.writes,
            self.retry,
            self.sleep,
        )

    def write(
        self,
        target: SheetsTarget,
        data: pa.Table | pa.RecordBatchReader | ParquetSource,
        mode: Mode | str,
        primary_key: Sequence[str] = (),
        scope: Scope | None = None,
        allow_empty: bool = False,
        deletes: Deletes | None = None,
    ) -> WriteResult:
        started = time.perf_counter()
        name = str(target)
        incoming = as_table(data)
        parsed = check_mode(mode, primary_key, incoming.schema, name)
        check_deletes(parsed, deletes, name)
        guard_empty(parsed, incoming.num_rows, allow_empty, name, scope, deletes)
        check_columns(incoming, name)
        check_scope(parsed, incoming, scope, name)
        now = WRITE_CLOCK.now().replace(microsecond=0)
        last_updated = target.last_updated
        if last_updated is None and self.updated_at is UpdatedAt.COLUMN:
            last_updated = for_legacy_column(self.updated_at_column)
        if last_updated is not None:
            incoming = stamp(incoming, last_updated, now, name, zoned=False)
        if deletes is not None and deletes.soft:
            incoming = live(incoming)  # before reading: _deleted_at reads back as a UTC timestamp
        api = self._api(target)
        meta = api.metadata()
        sheets = meta.get("sheets", [])
        tab = next(
            (s for s in sheets if s["properties"]["title"].casefold() == target.worksheet.casefold()), None
        )
        existing = None
        if tab is not None and (parsed is not Mode.REPLACE or scope is not None):
            types = {f.name: f.type for f in incoming.schema}
            existing = self._read(api, tab, types, name)
        result = combine(existing, incoming, parsed, primary_key, scope, name, deletes, now)
        table = result.table
        whole = parsed is Mode.REPLACE and scope is None
        check_limits(table, self.limits, name)
        self._check_spreadsheet(sheets, tab, table, name, target.worksheet)
        drop_stale_staging(api, sheets, target.worksheet)
        staging_id = stage(api, target.worksheet, table, self.chunk_cells)
        note = (
            f"Last updated by couplet: {now.isoformat().replace('+00:00', 'Z')}"
            if self.updated_at is UpdatedAt.NOTE
            else None
        )
        try:
            swap(api, tab, staging_id, target.worksheet, table, note)
        except BaseException:
            drop(api, staging_id)
            raise
        sheet_id = tab["properties"]["sheetId"] if tab else staging_id
        return WriteResult(
            target=name,
            mode=parsed,
            rows_written=result.rows_written,
            rows_deleted=int(recorded(tab).get("rows", 0)) if whole else result.rows_deleted,
            duration_s=time.perf_counter() - started,
            extra={
                "spreadsheet_id": target.spreadsheet_id,
                "worksheet": target.worksheet,
                "sheet_id": sheet_id,
                "url": self._url(target.spreadsheet_id, sheet_id),
                "rows_total": table.num_rows,
                "rows_updated": result.rows_updated,
                "requests": api.requests,
                "retries": api.retries,
                "throttled_s": round(self.reads.waited_s + self.writes.waited_s + api.backoff_s, 3),
                **(deletes.describe() if deletes else {}),
            },
        )

    def count_rows(self, target: SheetsTarget) -> int | None:
        """Data rows the tab holds as of couplet's last write to it (None: no such tab, or not
        written by couplet); one metadata read."""
        tab = next(
            (
                s
                for s in self._api(target).metadata().get("sheets", [])
                if s["properties"]["title"].casefold() == target.worksheet.casefold()
            ),
            None,
        )
        rows = recorded(tab).get("rows") if tab is not None else None
        return rows if isinstance(rows, int) else None

    def _url(self, spreadsheet_id: str, sheet_id: int) -> str:
        """The tab for a person: Google's web UI, or the spreadsheet's resource at a custom endpoint."""
        if self._endpoint:
            return f"{shown_endpoint(self._endpoint)}/v4/spreadsheets/{spreadsheet_id}"
        return f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit#gid={sheet_id}"

    # -- reading ---------------------------------------------------------------------------
    def _read(
        self, api: SheetsApi, tab: dict[str, Any], types: dict[str, pa.DataType], name: str
    ) -> pa.Table | None:
        props = tab["properties"]
        title = quote_title(props["title"])
        header_row = api.get_values(f"{title}!1:1")
        header = [str(v) for v in (header_row[0] if header_row else [])]
        while header and header[-1] == "":
            header.pop()
        if not header:
            return None
        if "" in header or len(set(header)) != len(header):
            raise DestinationConfigError(
                f"{name}: row 1 of the tab must hold unique, non-empty column names (found {header}); "
                "fix the header or replace the tab once with mode replace"
            )
        hints = schema_hint(tab)
        width, total = len(header), props["gridProperties"]["rowCount"]
        known = recorded(tab).get("rows")
        if isinstance(known, int) and known + 1 <= total:
            total = known + 1  # the grid only grows; read just the rows the last write left
        step = max(1, self.read_chunk_cells // width)
        last = _col_letter(width)
        values: list[list[Any]] = [[] for _ in header]
        for start in range(2, total + 1, step):
            for row in api.get_values(f"{title}!A{start}:{last}{min(total, start + step - 1)}"):
                if any(v != "" for v in row):
                    row = list(row) + [""] * (width - len(row))
                    for i in range(width):
                        values[i].append(row[i])
        columns = {}
        for col, vals in zip(header, values, strict=True):
            want = types.get(col) or hints.get(col) or infer_type(vals)
            columns[col] = from_cells(col, vals, want)
        return pa.table(columns)

    # -- checks ----------------------------------------------------------------------------
    def _check_spreadsheet(
        self,
        sheets: list[dict[str, Any]],
        tab: dict[str, Any] | None,
        table: pa.Table,
        name: str,
        worksheet: str,
    ) -> None:
        limit = self.limits.max_cells
        if limit is None:
            return

        def size(s: dict[str, Any]) -> int:
            grid = s["properties"].get("gridProperties", {})
            return int(grid.get("rowCount", 0)) * int(grid.get("columnCount", 0))

        stale = staging_prefix(worksheet)  # leftovers are dropped before staging: they do not count
        others = sum(
            size(s) for s in sheets if s is not tab and not s["properties"]["title"].startswith(stale)
        )
        rows, cols = table.num_rows + 1, max(table.num_columns, 1)
        old = size(tab) if tab else 0
        grid = tab["properties"]["gridProperties"] if tab else {"rowCount": 0, "columnCount": 0}
        final = others + max(grid["rowCount"], rows) * max(grid["columnCount"], cols)
        peak = others + old + rows * cols  # the staging copy lives next to the old tab until the swap
        if final > limit:
            raise LimitExceededError(
                f"{name}: the spreadsheet would hold {final:,} cells ({others:,} in other tabs), over the "
                f"{limit:,} cell limit of Google Sheets. {self.limits.advice}"
            )
        if peak > limit:
            raise LimitExceededError(
                f"{name}: writing needs room for a staging copy of {rows * cols:,} cells next to the current tab, "
                f"which takes the spreadsheet to {peak:,} cells, over the {limit:,} limit. Delete unused tabs "
                "(or empty rows/columns of other tabs), or write to a new spreadsheet."
            )


def _col_letter(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out
