"""The "last updated" column: one setting, the same name and meaning on every tabular destination.

In a flow file, under any of ``duckdb``, ``excel``, ``google_sheets``, ``bigquery``::

    last_updated: true                                          # column _last_updated, time in UTC
    last_updated: {column: Refreshed, timezone: Europe/Berlin}  # both optional

Every row a write lands gets the time of that write (``WRITE_CLOCK.now()``, read once per write;
the soft-delete marks of the same write carry the same time) in that column:

* ``replace``: every row (a scoped replace: every row of its scope; rows outside keep theirs);
* ``append`` (and ``append_new``): the new rows; the rows already there keep theirs;
* ``upsert``: every incoming row, inserted or updated, whether its values changed or not (a row
  this write sent carries this write's time); rows it did not send keep theirs, and so do rows it
  marks deleted (soft deletes): ``_deleted_at`` says when a row went, the column when it was last
  written.

How the time is held: DuckDB (``TIMESTAMP WITH TIME ZONE``) and BigQuery (``TIMESTAMP``) hold the
instant, which their clients show in the session's zone (DuckDB) or UTC (BigQuery): ``timezone``
changes nothing there. Excel and Google Sheets cells have no zone, so they hold the wall-clock time
in ``timezone`` as a date-time cell (``yyyy-mm-dd hh:mm:ss``, to the second); Arrow-wise a naive
``timestamp[us]``. Changing ``timezone`` later changes only the rows written afterwards.

The column is couplet's: a data column of the same name is an error before anything is written
(``check_clash``). An existing target without the column gets it like any new column (added at
the right, empty for the rows written before).

This module is imported when flows load (the settings models use ``LastUpdated``); it imports
pydantic and pyarrow, no client library.
"""

from __future__ import annotations

import datetime as dt
import difflib
import zoneinfo
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import pyarrow as pa
from pydantic import BeforeValidator, Field, field_validator

from .base import DELETED_AT, DestinationConfigError
from .spec import Settings

DEFAULT_COLUMN = "_last_updated"  # columns couplet adds start with "_" (_extracted_at, _deleted_at)
LEGACY_SHEETS_COLUMN = "_updated_at"  # Google Sheets' ``updated_at: column`` before last_updated
ZONED_TYPE = pa.timestamp("us", tz="UTC")  # an instant: DuckDB TIMESTAMPTZ, BigQuery TIMESTAMP
WALL_TYPE = pa.timestamp("us")  # a wall-clock time in ``timezone``: Excel, Google Sheets


class WriteClock:
    """Where writers read the time of a write: once per write, aware, UTC. Tests replace ``now``
    on ``WRITE_CLOCK`` to give writes known times."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


WRITE_CLOCK = WriteClock()


class LastUpdated(Settings):
    """``last_updated: {column, timezone}`` (see the module docstring); ``true`` is both defaults."""

    column: Annotated[str, Field(min_length=1, max_length=300)] = DEFAULT_COLUMN
    timezone: str = "UTC"  # an IANA name; the zone Excel and Sheets show the time in

    @field_validator("column")
    @classmethod
    def _column(cls, name: str) -> str:
        if name != name.strip():
            raise ValueError(f"column {name!r} starts or ends with a space; write {name.strip()!r}")
        if name == DELETED_AT:
            raise ValueError(
                f"column {DELETED_AT!r} is where soft deletes mark rows; name the last updated column "
                f"differently, e.g. column: {DEFAULT_COLUMN}"
            )
        return name

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC{hint}"
            ) from None
        return name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def wall_time(self, now: dt.datetime) -> dt.datetime:
        """``now`` as a cell without a zone shows it: the wall-clock time in ``timezone``, to the second."""
        return now.astimezone(self.zone).replace(tzinfo=None, microsecond=0)


def _shorthand(value: Any) -> Any:
    if value is True:
        return {}
    if value is False or value is None:
        return None
    if isinstance(value, dict | LastUpdated):
        return value
    raise ValueError(
        f"give true (a column {DEFAULT_COLUMN}, times in UTC) or a mapping such as "
        f"{{column: {DEFAULT_COLUMN}, timezone: Europe/Berlin}}, not {value!r}"
    )


#: The field every tabular destination's settings declare: ``last_updated: LastUpdatedSetting = None``.
LastUpdatedSetting = Annotated[LastUpdated | None, BeforeValidator(_shorthand)]


def check_clash(names: Sequence[str], setting: LastUpdated, target: str, ignore_case: bool = False) -> None:
    """The data must not have a column of the last updated column's name (``ignore_case`` for
    destinations whose names ignore case: DuckDB, BigQuery)."""
    column = setting.column.casefold() if ignore_case else setting.column
    clash = next((n for n in names if (n.casefold() if ignore_case else n) == column), None)
    if clash is not None:
        raise DestinationConfigError(
            f"{target}: the data already has a column {clash!r}, the name last_updated gives the column "
            f"couplet adds. Set another name (last_updated: {{column: ...}}), or rename or drop that "
            "column in a step (rename/select)"
        )


def stamp(table: pa.Table, setting: LastUpdated, now: dt.datetime, target: str, zoned: bool) -> pa.Table:
    """``table`` with the last updated column appended, every row at ``now``: the instant
    (``zoned``: ``ZONED_TYPE``) or the wall-clock time in the setting's zone (``WALL_TYPE``)."""
    check_clash(table.column_names, setting, target, ignore_case=zoned)
    type_ = ZONED_TYPE if zoned else WALL_TYPE
    value = now.astimezone(dt.UTC) if zoned else setting.wall_time(now)
    column = pa.array([value] * table.num_rows, type_)
    return table.append_column(pa.field(setting.column, type_), column)


def stamp_reader(
    reader: pa.RecordBatchReader, setting: LastUpdated, now: dt.datetime, target: str
) -> pa.RecordBatchReader:
    """``stamp`` (zoned) batch by batch, for writers that stream."""
    schema = stamp(reader.schema.empty_table(), setting, now, target, zoned=True).schema

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield from stamp(pa.Table.from_batches([batch]), setting, now, target, zoned=True).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def for_legacy_column(column: str | None) -> LastUpdated | None:
    """The setting a writer's old ``updated_at_column`` argument stands for (UTC)."""
    return LastUpdated(column=column) if column else None
