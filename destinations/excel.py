"""Excel destination: one sheet of an .xlsx workbook, its settings and how the rest of couplet sees it.

``to: {excel: {path: data/exports/billing.xlsx, sheet: Billing}}``; in code,
``ExcelWriter().write(ExcelTarget(path="exports/billing.xlsx", sheet="Billing"), table, "upsert", ["id"])``.

The writer (``excel_writer``: atomic rewrite, other sheets untouched) imports openpyxl, so this module
holds only the declaration and imports the writer when a run needs it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from .last_updated import LastUpdatedSetting
from .spec import Context, Destination, Settings

if TYPE_CHECKING:
    from .excel_writer import ExcelWriter

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


class ExcelTarget(Settings):
    """``to: {excel: {path, sheet}}``: the worksheet couplet owns in a workbook."""

    path: str  # the .xlsx file; created (with its folder) when missing
    sheet: str  # the worksheet couplet writes; other sheets are left alone
    last_updated: LastUpdatedSetting = None  # a date-time column: when each row was last written

    @field_validator("path", mode="before")
    @classmethod
    def _path_text(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value  # a Path, in code

    @field_validator("path")
    @classmethod
    def _xlsx(cls, path: str) -> str:
        if Path(path).suffix.lower() not in (".xlsx", ".xlsm"):
            raise ValueError(f"{path}: an Excel output must be an .xlsx file")
        return path

    @field_validator("sheet")
    @classmethod
    def _sheet_name(cls, name: str) -> str:
        if not name or len(name) > 31 or _BAD_SHEET_CHARS.search(name) or name[0] == "'" or name[-1] == "'":
            raise ValueError(
                f"{name!r} is not a valid sheet name: use 1 to 31 characters, none of [ ] : * ? / \\, "
                "and no apostrophe at either end"
            )
        if name.casefold() == "history":
            raise ValueError("Excel reserves the sheet name 'History'; pick another")
        return name

    @property
    def file(self) -> Path:
        return Path(self.path)

    def __str__(self) -> str:
        return f"{self.path} [{self.sheet}]"


def count_rows(target: ExcelTarget) -> int | None:
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(target.path, read_only=True)
    except (OSError, zipfile.BadZipFile, InvalidFileException):
        return None
    try:
        return (
            int(book[target.sheet].max_row or 1) - 1 if target.sheet in book.sheetnames else None
        )  # the header row
    finally:
        book.close()


def _writer(target: ExcelTarget, context: Context) -> ExcelWriter:
    from .excel_writer import ExcelWriter

    return ExcelWriter()


DESTINATION: Destination[ExcelTarget] = Destination(
    kind="excel",
    settings=ExcelTarget,
    writer=_writer,
    label=lambda t: f"{t.path}#{t.sheet}",
    default_name=lambda t: f"xlsx_{t.sheet}",
    example={"path": "data/exports/billing.xlsx", "sheet": "Billing"},
    file_setting="path",
    file_example="report.xlsx",
    writes_temp_file=True,
    count_rows=count_rows,
)
