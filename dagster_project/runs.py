"""What a run did, read from the Dagster instance: per asset done, failed or skipped, rows, causes.

The CLI's progress and final table, the run-failure alert sensor and the CLI's own alerts all read
a run through ``RunFollower``: a run in another process by paging its event log by cursor (only new
records each time, never the whole log again), a run in this process from the events the instance
hands over as they are stored (``feed``), with no reads at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import dagster as dg

from pipelines.alerts import Failure, notify
from pipelines.config import Flow

from .translator import TAG_ALERTED, Path, label, op_name


@dataclass
class AssetOutcome:
    status: str = "planned"  # planned, running, done, failed, skipped
    rows: int | None = None  # rows the run read (raw) or wrote (step, publish)
    seconds: float = 0.0
    cause: str = ""
    started: float = 0.0
    dry: bool = False  # an output that only reported what it would write
    reconciled: str = ""  # a reconciling run's raw asset: what the check of older history found


def reconcile_note(metadata: dict[str, object]) -> str:
    """One line from a raw materialization's reconcile metadata (``dagster_project/reconcile.py``)."""

    def get(key: str) -> str:
        value = metadata.get(key)
        return str(getattr(value, "value", value)) if value is not None else ""

    if not get("reconciled"):
        return ""
    found, reread = get("reconcile_probe_requests"), get("reconcile_reread_requests")
    cost = f"{found} request(s) to find drift, {reread} to re-read" if found else ""
    cost = cost or f"{get('reconcile_requests')} request(s)"
    note = f"reconciled {get('reconciled')}: drifted {get('drifted_months') or 'none'}; {cost}"
    for key, what in (
        ("reconcile_refreshed", "refreshed"),
        ("reconcile_totals_unavailable", "totals not used"),
    ):
        if get(key):
            note += f"; {what} {get(key)}"
    return note


@dataclass
class RunFollower:
    """Follows one run's event log by cursor; ``outcomes`` by asset label."""

    instance: dg.DagsterInstance
    run_id: str
    ops: dict[str, str]  # op name -> asset label
    outcomes: dict[str, AssetOutcome] = field(default_factory=dict)
    cursor: str | None = None

    def poll(self) -> list[tuple[str, AssetOutcome]]:
        """Read the records logged since the last poll; returns the assets that finished."""
        ended: list[tuple[str, AssetOutcome]] = []
        while True:
            conn = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=1000)
            for rec in conn.records:
                ended += self.feed(rec.event_log_entry)
            self.cursor = conn.cursor
            if not conn.has_more:
                return ended

    def feed(self, entry: dg.EventLogEntry) -> list[tuple[str, AssetOutcome]]:
        """Take one event of the run; returns the assets it finished."""
        event = entry.dagster_event
        if event is None:
            return []
        kind = event.event_type_value
        asset = self.ops.get(event.step_key or "")
        if asset is None:
            return []
        out = self.outcomes.setdefault(asset, AssetOutcome())
        if kind == "STEP_START":
            out.status, out.started = "running", entry.timestamp
        elif kind == "ASSET_MATERIALIZATION":
            # One event per partition of a range, each with the run's totals: any one will do.
            mat = event.event_specific_data.materialization  # type: ignore[union-attr]
            dry = "rows_that_would_be_handed_over" in mat.metadata  # a dry run's output: wrote nothing
            rows = _number(
                mat.metadata.get("rows_that_would_be_handed_over")
                if dry
                else mat.metadata.get("rows", mat.metadata.get("rows_written"))
            )
            if rows is not None:
                out.rows, out.dry = rows, dry
            out.reconciled = out.reconciled or reconcile_note(dict(mat.metadata))
        elif kind == "STEP_SUCCESS":
            out.status = "dry run" if out.dry else "done"
            out.seconds = entry.timestamp - (out.started or entry.timestamp)
            return [(asset, out)]
        elif kind == "STEP_FAILURE":
            out.status, out.seconds = "failed", entry.timestamp - (out.started or entry.timestamp)
            data = event.step_failure_data
            error = data.error if data else None
            out.cause = _cause(error, data)
            return [(asset, out)]
        elif kind == "STEP_SKIPPED":
            out.status = "skipped"
            return [(asset, out)]
        return []

    def finish(self, planned: Iterable[str]) -> None:
        """Assets of the selection that never started count as skipped (an upstream failed)."""
        for asset in planned:
            out = self.outcomes.setdefault(asset, AssetOutcome())
            if out.status in ("planned", "running"):
                out.status = "skipped" if out.status == "planned" else "failed"

    def failures(self) -> list[tuple[str, str]]:
        return [(a, o.cause) for a, o in self.outcomes.items() if o.status == "failed"]


def _number(value: object) -> int | None:
    raw = getattr(value, "value", value)
    return int(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _cause(error: object, data: object) -> str:
    """The failure's description: our ``dg.Failure`` text, else the innermost cause."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and getattr(user, "description", None):
        return str(user.description).strip()
    while error is not None:
        cause = getattr(error, "cause", None)
        if cause is None:
            return str(getattr(error, "message", "")).strip()
        error = cause
    return ""


def op_map(paths: Iterable[Path]) -> dict[str, str]:
    return {op_name(p): label(p) for p in paths}


def failed_steps(instance: dg.DagsterInstance, run_id: str, ops: dict[str, str]) -> list[tuple[str, str]]:
    """(asset, cause) of each failed step of a finished run."""
    follower = RunFollower(instance, run_id, ops)
    follower.poll()
    return follower.failures()


def send_alerts(
    flows: dict[str, Flow],
    run: dg.DagsterRun,
    failures: list[tuple[str, str]],
    ui_url: str,
    by_cli: bool = False,
) -> Iterator[str]:
    """Alert every flow with alerts whose assets failed in ``run``; yields delivery problems.

    A run the CLI started carries ``couplet/alerted``: the CLI alerts it (``by_cli``), a sensor that
    happens to see it does not, so nobody is told twice.
    """
    if run.tags.get(TAG_ALERTED) and not by_cli:
        return
    for name, flow in flows.items():
        if flow.alerts is None:
            continue
        mine = [(a, c) for a, c in failures if _belongs(a, name, flow)]
        if not mine and failures:
            continue
        text = "\n".join(f"{a}: {c}" for a, c in mine) or "the run failed before any asset ran"
        failure = Failure(name, run.job_name, run.run_id, text, ui_url)
        yield from notify(failure, flow.alerts.email, flow.alerts.webhook_url())


def _belongs(asset: str, flow_name: str, flow: Flow) -> bool:
    parts = asset.split("/")
    if parts[0] in ("flow", "publish"):
        return parts[1] == flow_name
    return any(parts[1:] == [s.connection, s.entity] for s in flow.sources.values())
