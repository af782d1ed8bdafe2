"""One place that says how flows map onto Dagster: asset keys, jobs, partitions, run windows, tags.

Imports no Dagster (the CLI's ``flows show`` uses it without loading Dagster): keys are tuples of
strings here, ``dg.AssetKey(path)`` where Dagster is used.

* ``raw/<connection>/<entity>``: one per entity of a connection, shared by every flow that reads it.
  Daily-windowed entities (time entries...) are **monthly** partitioned in Dagster: a month is a
  partition, a staged file, a point of the row-count chart; the API is still asked in the windows
  it wants. Year-scoped entities (absences, quotas...) and dimensions are unpartitioned: a
  year-scoped asset keeps every year since ``partitions_start`` staged and re-reads the years of
  the run (last year and this year on a schedule). So one flow is one job: its year-scoped sources
  are staged before its steps, on the first run too, and one status says whether the flow ran.
* ``flow/<flow>/<step>`` and ``publish/<flow>/<output>`` are unpartitioned: a step result or a
  destination table is one thing; a publish of a monthly source writes the months of the run.
* A run may carry ``couplet/window`` (``2026-11-03..2026-12-05``, days, half-open): the days a
  scheduled run re-reads (its look-back) inside the months of its partition range.

Why months, not days: every partition of a run is an event write in Dagster's storage (planned and
materialized, per asset); 731 daily partitions made bookkeeping 88 % of a two-year backfill. With
months a five-year backfill is 60 partitions, and the look-back still re-reads only its days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from connectors import get_source
from connectors.core.entity import Entity, Partitioning
from destinations.base import Mode
from pipelines.config import Flow, FlowFile, Output
from pipelines.lookback import DEFAULT_LOOKBACK, lookback

Path = tuple[str, ...]

TAG_WINDOW = "couplet/window"  # days a run reads: "2026-11-03..2026-12-05" (end excluded)
TAG_FLOWS = "couplet/flows"  # the flows a run serves, comma-separated
TAG_LOOKBACK = "couplet/lookback"  # "1": the window is a look-back; each dated source reads its own days
TAG_RECONCILE = "couplet/reconcile"  # "1": older days of the window are checked for drift, not re-read
TAG_ALERTED = "couplet/alerted"  # the CLI already sent this run's failure alerts
TAG_DRY_RUN = "couplet/dry_run"  # "1": outputs report what they would write and write nothing
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
ALL_FLOWS_JOB = "all_flows"


def raw_path(connection: str, entity: str) -> Path:
    return ("raw", connection, entity)


def step_path(flow: str, step: str) -> Path:
    return ("flow", flow, step)


def publish_path(flow: str, output: str) -> Path:
    return ("publish", flow, output)


def label(path: Path) -> str:
    """``raw/clockodo/entries``: how people and the CLI name an asset."""
    return "/".join(path)


def op_name(path: Path) -> str:
    """The op (step key) Dagster gives an asset: ``raw__clockodo__entries``."""
    return "__".join(path)


def write_mode(output: Output) -> Mode:
    """The writer's mode: ``append_new`` is an append of what the ledger has not seen."""
    return Mode.APPEND if output.mode == "append_new" else Mode(output.mode)


class Kind(enum.StrEnum):
    """How an asset is partitioned in Dagster."""

    MONTHLY = "monthly"
    NONE = "none"


def kind_of(entity: Entity) -> Kind:
    return Kind.MONTHLY if entity.partitioning is Partitioning.DAILY else Kind.NONE


def entity_of(flow_file: FlowFile, flow: Flow, source: str) -> Entity:
    spec = flow.sources[source]
    return get_source(flow_file.connections[spec.connection].connector).entity(spec.entity)


@dataclass(frozen=True)
class FlowAssets:
    """A flow's assets in run order (sources, steps, outputs) and how each is partitioned."""

    paths: tuple[Path, ...]
    kinds: Mapping[Path, Kind]

    @property
    def partitioned(self) -> bool:
        return any(k is Kind.MONTHLY for k in self.kinds.values())

    @property
    def raw(self) -> tuple[Path, ...]:
        return tuple(p for p in self.paths if p[0] == "raw")


def flow_assets(flow_name: str, flow: Flow, flow_file: FlowFile) -> FlowAssets:
    kinds: dict[Path, Kind] = {}
    for sname, spec in flow.sources.items():
        kinds[raw_path(spec.connection, spec.entity)] = kind_of(entity_of(flow_file, flow, sname))
    for step in flow.steps:
        kinds[step_path(flow_name, step.name)] = Kind.NONE
    for out in flow.outputs:
        kinds[publish_path(flow_name, out.output_name)] = Kind.NONE
    return FlowAssets(tuple(kinds), kinds)


def daily_sources(flow: Flow, flow_file: FlowFile) -> list[str]:
    return [s for s in flow.sources if entity_of(flow_file, flow, s).partitioning is Partitioning.DAILY]


def source_lookback(flow: Flow, source: str, now: dt.datetime) -> int:
    """Days a run at ``now`` re-reads of one dated source: its ``lookback_days``, else what the
    flow's range and schedule call for (``pipelines.lookback``)."""
    spec = flow.sources[source]
    return lookback(spec.lookback_days, spec.dates, flow.schedule, timezone(flow), now)


def lookback_days(flow: Flow, flow_file: FlowFile, now: dt.datetime) -> int:
    """Days a run at ``now`` re-reads: the longest look-back of the flow's daily sources."""
    days = [source_lookback(flow, s, now) for s in daily_sources(flow, flow_file)]
    return max(days, default=DEFAULT_LOOKBACK)


def timezone(flow: Flow) -> str:
    return flow.timezone


def lookback_window(flows: list[Flow], flow_file: FlowFile, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """Days ``[start, end)`` a scheduled run of ``flows`` re-reads, "today" in each flow's zone."""
    starts, ends = [], []
    for flow in flows:
        today = now.astimezone(ZoneInfo(timezone(flow))).date()
        starts.append(today - dt.timedelta(days=lookback_days(flow, flow_file, now)))
        ends.append(today + dt.timedelta(days=1))
    return min(starts), max(ends)


def reconcile_window(
    flows: list[Flow], flow_file: FlowFile, now: dt.datetime, days: int | None = None
) -> tuple[dt.date, dt.date]:
    """Days ``[start, end)`` a reconciling run covers: ``days`` (else each flow's ``reconcile.days``)
    back (unset: from ``partitions_start``, all that can be staged) up to the end of its look-back."""
    first = flow_file.settings.partitions_start
    starts, ends = [], []
    for flow in flows:
        today = now.astimezone(ZoneInfo(timezone(flow))).date()
        back = days or flow.reconcile.days
        starts.append(max(first, today - dt.timedelta(days=back)) if back else first)
        ends.append(today + dt.timedelta(days=1))
    return min(starts), max(ends)


def month_key(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def window_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    """Run tags for the days ``[start, end)``: the months as a partition range, the days exactly."""
    return {
        RANGE_START: month_key(start),
        RANGE_END: month_key(end - dt.timedelta(days=1)),
        TAG_WINDOW: f"{start.isoformat()}..{end.isoformat()}",
    }


def parse_window(tags: Mapping[str, str]) -> tuple[dt.date, dt.date] | None:
    """The days of a run: its ``couplet/window`` tag, else its partition range's whole months."""
    if tags.get(TAG_WINDOW):
        first, _, after = tags[TAG_WINDOW].partition("..")
        return dt.date.fromisoformat(first), dt.date.fromisoformat(after)
    if tags.get(RANGE_START) and tags.get(RANGE_END):
        start = dt.date.fromisoformat(tags[RANGE_START] + "-01")
        last = dt.date.fromisoformat(tags[RANGE_END] + "-01")
        return start, (last.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return None


def stable_digest(*parts: Any) -> str:
    """A digest that is the same in every process: functions by name, never by ``repr``."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if callable(value):
            return (
                f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__name__)}"
            )
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
        if isinstance(value, list | tuple | set | frozenset):
            items = [plain(v) for v in value]
            return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
        if isinstance(value, enum.Enum):
            return value.value
        return value

    return hashlib.sha1(repr(plain(parts)).encode()).hexdigest()[:12]
