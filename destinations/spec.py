"""A destination's declaration: what the rest of couplet knows of it, in one object per kind.

Each destination module (``destinations/<kind>.py``, or a package ``destinations/<kind>/``) declares
``DESTINATION = Destination(...)``, and ``destinations.DESTINATIONS`` registers it under its kind, the
flow file's key under ``to:``. Flows, the CLI and Dagster ask the declaration, never the kind's name:

* ``settings``: the pydantic model ``to: {<kind>: {...}}`` is validated against. It is also the
  target the writer receives: the fields of a target are declared once, here.
* ``writer``: builds the writer (a ``base.Writer``). It imports the writer's module itself, so that
  loading flows does not import client libraries (openpyxl, gspread, google-cloud-bigquery...):
  the declaring module must stay cheap to import.
* ``label``, ``default_name``: how an output is named for people and as an asset; ``example``:
  typical settings, from which the tests every destination passes are made.
* the rest is optional: a local file to check when flows load, a concurrency pool, how to count the
  target's rows.

The writer factory is typed ``Callable[[S, Context], Writer[S]]``, so mypy checks each writer's
``write`` signature against ``base.Writer`` where the destination declares it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # annotations only: declaring a destination imports no Arrow
    from .base import Writer


class Settings(BaseModel):
    """Base of every destination's settings: strict (unknown keys are errors) and immutable, like the
    flow file's own models, so a typo under ``to:`` is reported with its line and a "did you mean"."""

    model_config = ConfigDict(extra="forbid", frozen=True)


S = TypeVar("S", bound=Settings)


@dataclass(frozen=True)
class Context:
    """What a run knows that the output's settings do not."""

    partitioned: bool = False  # the output reads a dated source, one month-partition per window
    data_dir: str = "data"  # the project's data directory (staging, ledgers), for state a writer keeps


@dataclass(frozen=True)
class Destination(Generic[S]):
    """One destination kind (see the module docstring)."""

    kind: str  # the flow file's key under ``to:``; also the publish asset's Dagster kind
    settings: type[S]
    writer: Callable[[S, Context], Writer[S]]
    label: Callable[[S], str]  # where an output lands, for people: a path#sheet, a URL, a table id
    default_name: Callable[[S], str]  # the output's asset name when it has no ``name:``
    # The target a run writes: the settings completed with what only the run knows (BigQuery's
    # partition column of a dated source). None: the settings as they are.
    for_run: Callable[[S, Context], S] | None = None
    # A table replaced, appended or upserted (tests/destinations' contract suite runs on it);
    # False for a push-style API (records created or updated in another tool).
    tabular: bool = True
    # The setting naming a file on this machine: checked when flows load (a folder? writable?).
    file_setting: str | None = None
    file_example: str = "data.out"  # a file name to suggest when that setting names a folder
    # The writer replaces its file through a temp file beside it (``.<name>.*.tmp``); those of a
    # killed run are swept before the next write (``pipelines.tempfiles``).
    writes_temp_file: bool = False
    # A concurrency pool its writes share (Dagster queues writers of one DuckDB file).
    pool: Callable[[S], str | None] | None = None
    # The first parts of the ``connectors.core.ratelimit.LIMITERS`` keys its writer takes its rate
    # limiters under (Runn: "runn"): their send log is handed from one write to the next, across
    # processes, through the data directory (``pipelines.ratestate.registry_handed_over``).
    limiters: tuple[str, ...] = ()
    # Rows the target holds now, read through the destination's own client (None: it does not exist).
    count_rows: Callable[[S], int | None] | None = None
    # The settings of a typical output, as a flow file writes them under ``to: {<kind>: ...}``: the
    # tests every registered destination must pass (flow errors, names, labels) start from it.
    example: Mapping[str, Any] = field(default_factory=dict)
    # The output modes it can honour (None: all four). Checked when flows load, with the fix.
    modes: tuple[str, ...] | None = None
    # The writer keeps its own record of what it sent (QuickBooks): under ``append_new`` it is handed
    # every row, not only the ledger's new ones, so it can report what changed since it was sent; the
    # ledger records the rows it says were delivered (``WriteResult.extra["delivered"]``).
    keeps_sent_record: bool = False
    # Outputs of this kind in one flow are written in this order (Runn: clients before the projects
    # that link to them, people before their actuals): each waits for those with a lower number.
    sequence: Callable[[S], int] | None = None
    # The output can be written as a dry run (read the target, report what would change, write
    # nothing): the settings with dry run switched on. ``couplet flows run --dry-run`` uses it.
    dry_run: Callable[[S], S] | None = None

    def target(self, settings: S, context: Context) -> S:
        return self.for_run(settings, context) if self.for_run else settings

    def local_path(self, settings: S) -> str | None:
        """The file an output writes on this machine, as the flow file names it (None: no file)."""
        value: Any = getattr(settings, self.file_setting) if self.file_setting else None
        return value if isinstance(value, str) else None

    def pool_of(self, settings: S) -> str | None:
        return self.pool(settings) if self.pool else None
