"""Google Sheets destination: one tab of a spreadsheet, its settings and how the rest of couplet sees it.

``to: {google_sheets: {spreadsheet: <id or URL>, worksheet: Billing}}``; in code,
``SheetsWriter().write(SheetsTarget(spreadsheet="<id or URL>", worksheet="Billing"), table, "upsert", ["id"])``.

The writer (``sheets_writer``: staging tab, atomic swap) imports gspread and google-auth, so this module
holds only the declaration and imports the writer when a run needs it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from .base import DestinationConfigError
from .endpoints import ENV_SHEETS_ENDPOINT, shown_at
from .last_updated import LEGACY_SHEETS_COLUMN, LastUpdatedSetting
from .spec import Context, Destination, Settings

if TYPE_CHECKING:
    from .sheets_writer import SheetsWriter

_ID = re.compile(r"^[A-Za-z0-9_-]{20,}$")
_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")


class SheetsTarget(Settings):
    """``to: {google_sheets: {...}}``: the tab couplet owns in a spreadsheet."""

    spreadsheet: str  # the spreadsheet id, or its full URL; checked when written (``spreadsheet_id``)
    worksheet: Annotated[str, Field(min_length=1, max_length=100)]  # the tab; created when missing
    last_updated: LastUpdatedSetting = None  # a date-time column: when each row was last written
    # The older form: "column" is last_updated with the column _updated_at (UTC), "note" a note on
    # cell A1 with the time of the last write (Sheets only).
    updated_at: Literal["none", "column", "note"] = "none"
    # A Sheets API emulator instead of https://sheets.googleapis.com, e.g. couplet sandbox's
    # http://127.0.0.1:8765/google/sheets; unset: COUPLET_GOOGLE_SHEETS_ENDPOINT, else Google.
    endpoint: Annotated[str, Field(pattern=r"^https?://[^\s?#]+$")] | None = None

    @model_validator(mode="before")
    @classmethod
    def _updated_at_column(cls, data: Any) -> Any:
        """``updated_at: column`` (flows written before ``last_updated``) means ``last_updated:
        {column: _updated_at}``; both at once would be two columns for one thing."""
        if not isinstance(data, dict) or data.get("updated_at") != "column":
            return data
        if data.get("last_updated") not in (None, False):
            raise ValueError(
                "updated_at: column and last_updated both add a last updated column; keep last_updated "
                f"(with column: {LEGACY_SHEETS_COLUMN} to keep the existing column) and remove updated_at"
            )
        return {**data, "last_updated": {"column": LEGACY_SHEETS_COLUMN}}

    @property
    def spreadsheet_id(self) -> str:
        text = self.spreadsheet.strip()
        if m := _URL_ID.search(text):
            return m[1]
        if _ID.match(text):
            return text
        raise DestinationConfigError(
            f"{text!r} is neither a spreadsheet id nor a Google Sheets URL; copy the URL from the browser"
        )

    def __str__(self) -> str:
        return f"Google Sheets {self.spreadsheet_id} [{self.worksheet}]"


def label(target: SheetsTarget) -> str:
    """The tab's spreadsheet URL for Google, or the id and `` at <endpoint>`` for an emulator."""
    at = shown_at(target.endpoint, ENV_SHEETS_ENDPOINT)
    url = target.spreadsheet
    if not at and not url.startswith("http"):
        url = f"https://docs.google.com/spreadsheets/d/{url}"
    return f"{url} [{target.worksheet}]{at}"


def _writer(target: SheetsTarget, context: Context) -> SheetsWriter:
    from .sheets_writer import SheetsWriter

    return SheetsWriter(updated_at=target.updated_at, endpoint=target.endpoint)


DESTINATION: Destination[SheetsTarget] = Destination(
    kind="google_sheets",
    settings=SheetsTarget,
    writer=_writer,
    label=label,
    default_name=lambda t: f"gsheet_{t.worksheet}",
    example={"spreadsheet": "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "worksheet": "Billing"},
    count_rows=lambda t: _writer(t, Context()).count_rows(t),
)
