"""Excel writer: one sheet of an .xlsx workbook, rewritten atomically, other sheets untouched.

``ExcelWriter().write(ExcelTarget(path="exports/billing.xlsx", sheet="Billing"), table, "upsert", ["id"])``
(the target and the destination's declaration: ``excel``).

How a write goes:

1. The incoming rows are checked (mode, key, empty replace). For ``append``, ``upsert`` and a
   scoped ``replace`` the current sheet is read back in openpyxl's read-only mode (``excel_read``)
   and combined with the incoming rows (``rewrite.combine``: stable upsert, scope rows replaced in
   place, upsert ``deletes`` dropping or marking the rows gone at the source). A plain ``replace``
   does not read the sheet.
2. Excel's limits are checked on the final table (openpyxl enforces none of them).
3. The new workbook is written to a temp file beside the target: every part of the old workbook is
   streamed across unchanged except the target sheet, which is streamed from Arrow
   (``excel_package``, ``excel_sheet``). Memory stays bounded by one batch of rows plus the final
   table, whatever the size of the other sheets, and the other sheets keep everything openpyxl
   would lose on a load/save round trip (charts, images, pivot tables, data validation).
4. The temp file is fsynced and ``os.replace``-d over the target, so a crash leaves either the old
   workbook or the new one, never a half-written file. A lock on the folder serialises writers of
   the same workbook in one machine (two outputs writing two sheets of one file).

Cells: numbers as numbers, decimals as numbers with their scale shown, booleans as booleans, dates
and datetimes as real Excel dates (timezone-aware values as naive UTC) with a number format,
durations as ``[h]:mm:ss``; control characters that XML forbids are removed from text; text that
starts with ``=`` stays text. The header row is bold and frozen, an autofilter covers the data,
column widths fit the header and a sample of the values. Excel keeps milliseconds, not micro-.
``last_updated`` adds a date-time column (the write's wall-clock time in its zone, to the second)
to the incoming rows before they are combined, so exactly the rows this write lands carry it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pyarrow as pa
from openpyxl.utils.exceptions import InvalidFileException

from .base import (
    Deletes,
    DestinationConfigError,
    DestinationError,
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
from .excel import ExcelTarget
from .excel_package import skeleton, splice
from .excel_read import read_sheet
from .excel_sheet import SheetLayout, data_ref, number_formats, write_sheet
from .last_updated import WRITE_CLOCK, for_legacy_column, stamp
from .rewrite import check_columns, check_scope, combine

try:  # POSIX only; on Windows the OS already refuses to replace a workbook another process has open
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

EXCEL_LIMITS = Limits(
    destination="Excel",
    max_rows=1_048_575,  # 1,048,576 rows per sheet, one of them the header
    max_columns=16_384,
    max_cell_chars=32_767,
    advice="Split the output (e.g. one sheet or file per year via a filter or a scope), filter rows, "
    "or write this table to BigQuery instead.",
)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class ExcelWriter:
    def __init__(
        self,
        limits: Limits = EXCEL_LIMITS,
        freeze_header: bool = True,
        autofilter: bool = True,
        updated_at_column: str | None = None,  # older form of the target's last_updated (UTC)
        batch_rows: int = 10_000,
    ) -> None:
        self.limits = limits
        self.freeze_header = freeze_header
        self.autofilter = autofilter
        self.updated_at_column = updated_at_column
        self.batch_rows = batch_rows

    def write(
        self,
        target: ExcelTarget,
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
        now = WRITE_CLOCK.now().replace(microsecond=0)  # cells show seconds; marks and stamps agree
        last_updated = target.last_updated or for_legacy_column(self.updated_at_column)
        if last_updated is not None:
            incoming = stamp(incoming, last_updated, now, name, zoned=False)
        if deletes is not None and deletes.soft:
            incoming = live(incoming)  # before reading: _deleted_at reads back as a UTC timestamp
        target.file.parent.mkdir(parents=True, exist_ok=True)
        with _folder_lock(target.file.parent):
            existing = None
            if parsed is not Mode.REPLACE or scope is not None:
                types = {f.name: f.type for f in incoming.schema}
                existing = self._read(target, types, name)
            result = combine(existing, incoming, parsed, primary_key, scope, name, deletes, now)
            check_limits(result.table, self.limits, name)
            size, replaced = self._replace_file(target, result.table, name)
        whole = parsed is Mode.REPLACE and scope is None
        return WriteResult(
            target=name,
            mode=parsed,
            rows_written=result.rows_written,
            rows_deleted=replaced if whole else result.rows_deleted,
            duration_s=time.perf_counter() - started,
            extra={
                "path": str(target.file),
                "sheet": target.sheet,
                "rows_total": result.table.num_rows,
                "rows_updated": result.rows_updated,
                "bytes": size,
                **(deletes.describe() if deletes else {}),
            },
        )

    def _read(self, target: ExcelTarget, types: dict[str, pa.DataType], name: str) -> pa.Table | None:
        try:
            return read_sheet(target.file, target.sheet, types, name)
        except (zipfile.BadZipFile, InvalidFileException, KeyError) as exc:
            raise DestinationConfigError(
                f"{name}: the existing file is not a readable .xlsx workbook ({type(exc).__name__}); "
                "move it away or point the output at another path"
            ) from exc

    def _replace_file(self, target: ExcelTarget, table: pa.Table, name: str) -> tuple[int, int]:
        """Write the new workbook and swap it in; returns (file size, data rows the old sheet had)."""
        path = target.file
        source: Path | bytes = path if path.exists() else skeleton(target.sheet)
        layout_args = {"freeze_header": self.freeze_header, "autofilter": self.autofilter}

        def write_part(stream: IO[bytes], header_style: int, format_styles: dict[str, int]) -> None:
            layout = SheetLayout(header_style, format_styles, **layout_args)
            write_sheet(stream, table, layout, self.batch_rows)

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                filter_ref = data_ref(table.num_rows, table.num_columns) if self.autofilter else None
                replaced = splice(source, out, target.sheet, number_formats(table), filter_ref, write_part)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
            os.replace(tmp, path)
        except zipfile.BadZipFile as exc:
            raise DestinationConfigError(
                f"{name}: the existing file is not a readable .xlsx workbook; move it away or use another path"
            ) from exc
        except PermissionError as exc:
            raise DestinationError(
                f"{name}: cannot replace the workbook ({exc.strerror}); close it in Excel or check the "
                "folder's permissions, then run again"
            ) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_folder(path.parent)
        return path.stat().st_size, replaced if isinstance(source, Path) else 0


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
