"""``RunnWriter``: the ``base.Writer`` of the Runn destination.

``write(target, data, "upsert")`` reads the rows (``columns``), works out the reference names
(``matching``), opens the client (``client``: the token from ``target.token_env``), syncs the target
(``targets`` or ``actuals``) and returns a ``WriteResult`` whose ``extra`` is the run's report
(``report``): created, updated, unchanged, skipped (with reasons), failed, and for people who has the
role "Unknown". ``rows_written`` counts the Runn items written (actuals: the days sent).

Only ``mode: upsert`` is offered. Items are matched by external id, so a re-run never duplicates;
``replace`` would mean deleting what the rows lack, which Runn's API does not offer for clients and
projects (and couplet never deletes in an operational tool); ``append``/``append_new`` would hand the
writer only new rows, which breaks actuals (Runn overwrites a day with the total sent) and would
mark skipped items as sent for good. Upsert ``deletes`` are not applied: nothing is archived or
deleted in Runn because it is gone from the source (the report says so).

Items Runn refused make the write fail after every other item is written, so the run shows it and
an exactly-once ledger never records them; the error lists them. A dry run reads Runn and reports,
and never writes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pyarrow as pa

from ..base import (
    Deletes,
    DestinationConfigError,
    DestinationError,
    Mode,
    ParquetSource,
    Scope,
    WriteResult,
    as_table,
    run_sync,
)
from . import RunnTarget, label
from .actuals import sync_actuals
from .client import RunnClient
from .columns import Rows, check_unique, read_rows
from .matching import ReferenceNames
from .report import Report
from .targets import sync_target


class RunnWriteFailed(DestinationError):
    """Runn refused some items; the others were written. ``report`` holds the whole run."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


class RunnWriter:
    """Writes one target of one Runn account (see the module docstring)."""

    def __init__(
        self, env: Mapping[str, str] | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.env = env  # None: os.environ (tests pass their own)
        self.transport = transport

    def write(
        self,
        target: RunnTarget,
        data: pa.Table | pa.RecordBatchReader | ParquetSource,
        mode: Mode | str,
        primary_key: Sequence[str] = (),
        scope: Scope | None = None,
        allow_empty: bool = False,
        deletes: Deletes | None = None,
    ) -> WriteResult:
        started = time.monotonic()
        shown = label(target, self.env)
        _check_mode(mode, target)
        table = as_table(data)
        rows = read_rows(table, target.target, target.source)
        check_unique(rows)
        names = ReferenceNames(target.connection_name, target.target)
        reference_names = names.check(row["source"] for row in rows.items)
        report = Report(target.target, target.dry_run)
        stats = run_sync(self._sync(target, rows, names, report))
        if deletes is not None:
            report.notes.append(
                "deletes are not applied to Runn: nothing gone from the source is archived or deleted"
            )
        extra: dict[str, object] = {
            **report.as_extra(),
            "reference_names": reference_names,
            "rows_in": table.num_rows,
            **stats,
        }
        if report.failed:
            shown_failures = "; ".join(f"{_name(e)}: {e['reason']}" for e in report.failed[:5])
            more = f" (and {len(report.failed) - 5} more)" if len(report.failed) > 5 else ""
            raise RunnWriteFailed(
                f"{shown}: Runn refused {len(report.failed)} item(s); the rest was written "
                f"({report.summary()}). {shown_failures}{more}",
                report,
            )
        return WriteResult(
            target=shown,
            mode=Mode.UPSERT,
            rows_written=report.written,
            duration_s=time.monotonic() - started,
            extra=extra,
        )

    async def _sync(
        self, target: RunnTarget, rows: Rows, names: ReferenceNames, report: Report
    ) -> dict[str, float]:
        async with RunnClient(target, self.env, self.transport) as runn:
            if rows.items:
                if target.target == "actuals":
                    await sync_actuals(runn, rows, names, report, target.update)
                else:
                    await sync_target(runn, target.target, rows, names, report, target.update)
            return runn.stats()


def _check_mode(mode: Mode | str, target: RunnTarget) -> None:
    value = mode.value if isinstance(mode, Mode) else str(mode)
    if value == Mode.UPSERT.value:
        return
    why = {
        "replace": "replace would delete what the rows lack, and Runn's API cannot delete clients or projects",
        "append": "Runn items are matched by their external id, so every run sends all rows and nothing is duplicated",
        "append_new": "Runn items are matched by their external id, so every run sends all rows and nothing is duplicated",
    }.get(value, f"{value!r} is not a mode")
    raise DestinationConfigError(
        f"Runn output, target {target.target}: mode {value!r} is not offered ({why}); set mode: upsert "
        "on the output (with primary_key: the id column(s), e.g. [source, source_id])"
    )


def _name(entry: dict[str, Any]) -> str:
    parts = [
        str(entry.get(k))
        for k in ("source", "id", "person_id", "project_id", "date")
        if entry.get(k) is not None
    ]
    return "/".join(parts) or f"row {entry.get('row')}"
