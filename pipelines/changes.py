"""Change capture: a dimension's changes merged into its staged file, and its deletions caught.

An unpartitioned entity with ``Incremental`` (Harvest's dimensions: ``updated_since``) is read whole
once; later runs ask only for the records changed since the newest ``field`` staged (less
``overlap_seconds``) and merge them in by primary key. A "changed since" answer never shows a
deletion, so:

* with ``Incremental.count_path``, each change-capture run first asks how many records the source
  holds now (the same list without the change parameter, one record a page: one request) and, when
  the merged records are not that many, reads everything at once; the stage report's mode says so
  (``full: 12 staged vs 11 at the source``). An insert and a delete in the same interval still
  differ: the insert is merged, the deleted record stays staged, so the staged count is one more.
* every ``full_refresh_days`` a run reads everything anyway (the staged file's metadata remembers
  when the last full read was), which also covers APIs that cannot count.

The count is asked before the changes: a record added between the two requests can only make the
numbers differ (one needless full read), never hide a deletion made before the count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from connectors.core.entity import Entity, Partitioning
from connectors.core.extract import staged_schema
from connectors.core.records import dedupe_last
from connectors.core.sizing import total

from . import datadir
from .datadir import Location

if TYPE_CHECKING:
    from connectors.core.extract import Extractor

#: Parquet metadata key of a change-captured file: when everything was last read (ISO UTC).
FULL_REFRESH_AT = b"couplet_full_refresh_at"


@dataclass
class Capture:
    """One run's change capture of one entity. ``since`` None means a full read."""

    entity: Entity
    now: dt.datetime
    since: dt.datetime | None = None
    previous: pa.Table | None = None  # the staged records the changes are merged into
    at_source: int | None = None  # how many records the source holds, when counted
    mismatch: str = ""  # why the changes were not staged: a full read follows

    @property
    def captured(self) -> bool:
        """Whether the entity is change-captured at all (unpartitioned, with ``incremental``)."""
        return self.entity.incremental is not None and self.entity.partitioning is Partitioning.NONE

    @property
    def mode(self) -> str:
        if self.mismatch:
            return self.mismatch
        return "changes since " + self.since.isoformat() if self.since else "full"

    async def count(self, ex: Extractor) -> None:
        """Ask the source how many records it holds (entities with ``count_path``, change reads only)."""
        inc = self.entity.incremental
        if self.since is not None and inc is not None and inc.count_path:
            self.at_source = await total(ex, self.entity)

    def staged(self, table: pa.Table) -> pa.Table | None:
        """What to write for a read ``table``: a full read stamped with its time, or the changes
        merged into the previous records. None when the merged records are not as many as the
        source holds: then ``mismatch`` says so and everything must be read."""
        if not self.captured:
            return table
        if self.previous is None:
            return table.replace_schema_metadata({FULL_REFRESH_AT: self.now.isoformat().encode()})
        merged = dedupe_last(pa.concat_tables([self.previous, table]), self.entity.primary_key)
        if self.at_source is not None and merged.num_rows != self.at_source:
            self.mismatch = f"full: {merged.num_rows} staged vs {self.at_source} at the source"
            return None
        return merged.replace_schema_metadata(self.previous.schema.metadata)

    def full_read(self) -> Capture:
        """The capture of the full read that follows a mismatch."""
        return Capture(self.entity, self.now)


def plan(entity: Entity, path: Location, now: dt.datetime, full_refresh: bool = False) -> Capture:
    """This run's capture of ``entity`` staged at ``path`` (local or on an object store,
    ``pipelines.datadir``): its changes since the newest record staged, or a full read (asked for,
    nothing staged yet, or ``full_refresh_days`` gone by)."""
    full = Capture(entity, now)
    inc = entity.incremental
    if full_refresh or not full.captured or inc is None or not datadir.exists(path):
        return full
    stamp = (datadir.read_schema(path).metadata or {}).get(FULL_REFRESH_AT)
    if not stamp:
        return full
    previous = datadir.read_table(path, schema=staged_schema(entity))
    last_full = dt.datetime.fromisoformat(stamp.decode())
    if previous.num_rows == 0 or now - last_full >= dt.timedelta(days=inc.full_refresh_days):
        return full
    newest = pc.max(previous.column(inc.field)).as_py()
    if newest is None:
        return full
    # Never trust a timestamp from the future (clock skew, bad data): the previous read's own time
    # bounds the cursor, so a later edit is never skipped.
    last_read = pc.max(previous.column("_extracted_at")).as_py()
    cursor = min(newest, last_read) if last_read is not None else newest
    since = cursor - dt.timedelta(seconds=inc.overlap_seconds)
    return Capture(entity, now, since, previous.replace_schema_metadata({FULL_REFRESH_AT: stamp}))
