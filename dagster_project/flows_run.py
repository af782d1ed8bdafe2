"""``couplet flows run``: run flows now, through Dagster, in this process.

One run for all the flows asked for (their own job for one flow, ``all_flows`` narrowed to their
assets for several), so a source they share is read once. Runs are recorded in the Dagster
instance under ``DAGSTER_HOME`` (default ``data/dagster_home``), so the UI shows them. Progress is
printed per asset as it finishes (the instance hands this process each event of the run as it is
stored, so following the run reads nothing back and never competes with the run for the
interpreter), then a table of every asset with its status, rows and seconds, and each failure's cause. The exit code is
1 when anything failed. A failed run sends the flows' alerts from here: Dagster's run-failure
sensors only see runs launched through a code location, not runs started in process.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg

from connectors.core.sizing import next_month
from pipelines.loader import Catalog

from .runs import RunFollower, op_map, send_alerts
from .translator import (
    ALL_FLOWS_JOB,
    TAG_ALERTED,
    TAG_DRY_RUN,
    TAG_FLOWS,
    TAG_LOOKBACK,
    TAG_RECONCILE,
    TAG_WINDOW,
    flow_assets,
    label,
    lookback_window,
    reconcile_window,
    window_tags,
)


def local_instance() -> dg.DagsterInstance:
    """The instance under ``DAGSTER_HOME`` (default ``data/dagster_home``), created on first use."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("data/dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.get()


def run_window(
    catalog: Catalog, names: list[str], start: str | None, end: str | None, now: dt.datetime
) -> tuple[dt.date, dt.date]:
    """Days ``[start, end)`` of the run: the ones given, or the flows' look-back."""
    flows = [catalog.flow_file.flows[n] for n in names]
    first_allowed = catalog.flow_file.settings.partitions_start
    if start or end:
        today = now.date()
        first = _day(start, "--start") if start else today - dt.timedelta(days=31)
        after = _day(end, "--end") if end else today + dt.timedelta(days=1)
        if after <= first:
            raise ValueError(f"--end must be after --start (got {start} .. {end})")
        if first < first_allowed:
            raise ValueError(
                f"--start {first} is before the first partition, {first_allowed}: set settings.partitions_start "
                "in a flow file to an earlier day to read further back"
            )
    else:
        first, after = lookback_window(flows, catalog.flow_file, now)
        first = max(first, first_allowed)
    return first, min(after, next_month(now.astimezone(dt.UTC).date()))


def _day(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{flag} {value!r} is not a date; write YYYY-MM-DD") from None


def run_flows(
    names: list[str],
    catalog: Catalog,
    start: str | None = None,
    end: str | None = None,
    *,
    instance: dg.DagsterInstance | None = None,
    out=None,
    reconcile: bool = False,
    reconcile_days: int | None = None,
    dry_run: bool = False,
) -> int:
    """Run ``names`` in one Dagster run; print progress and a table; 0 when everything succeeded.

    ``reconcile``: the run covers the flows' reconcile range (``reconcile_days`` back, else their
    ``reconcile.days``, else everything since ``partitions_start``); the look-back is re-read and the
    older days are checked for drift (see ``dagster_project/reconcile.py``). ``dry_run``: the
    outputs write nothing and report what they would write (``dagster_project/publish.py``).
    """
    from .build import build_definitions

    out = out or sys.stdout
    now = dt.datetime.now(dt.UTC)
    flow_file = catalog.flow_file
    flows = {n: flow_file.flows[n] for n in names}
    assets = [flow_assets(n, f, flow_file) for n, f in flows.items()]
    paths = list(dict.fromkeys(p for a in assets for p in a.paths))
    partitioned = any(a.partitioned for a in assets)
    if reconcile:
        if not partitioned:
            print(
                f"{', '.join(names)}: no dated source, nothing to reconcile (dimensions are read whole)",
                file=out,
            )
        first, after = reconcile_window(list(flows.values()), flow_file, now, reconcile_days)
        after = min(after, next_month(now.astimezone(dt.UTC).date()))
    else:
        first, after = run_window(catalog, names, start, end, now)
    tags = {TAG_FLOWS: ",".join(names), TAG_ALERTED: "by the couplet CLI"}
    tags.update(window_tags(first, after) if partitioned else {TAG_WINDOW: f"{first}..{after}"})
    if not (start or end):
        tags[TAG_LOOKBACK] = "1"  # each dated source re-reads its own lookback_days of this window
    if reconcile and partitioned:
        tags[TAG_RECONCILE] = "1"
    if dry_run:
        tags[TAG_DRY_RUN] = "1"
    defs = build_definitions(catalog)
    job = defs.resolve_job_def(names[0] if len(names) == 1 else ALL_FLOWS_JOB)
    inst = instance or local_instance()
    run_id = str(uuid.uuid4())
    days = f" [{first} .. {after - dt.timedelta(days=1)}]" if partitioned else ""
    print(f"run {', '.join(names)}{days}: {len(paths)} asset(s), run {run_id[:8]}", file=out, flush=True)
    outcome: dict[str, object] = {}
    events: queue.SimpleQueue[dg.EventLogEntry | None] = queue.SimpleQueue()
    inst.add_event_listener(run_id, events.put)  # called in the run's thread, once stored

    def execute() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                instance=inst,
                run_id=run_id,
                tags=tags,
                asset_selection=[dg.AssetKey(p) for p in paths] if len(names) > 1 else None,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
        except Exception as exc:  # a run that could not even start: say why
            outcome["error"] = exc
        finally:
            events.put(None)  # the run is over: nothing more will come

    thread = threading.Thread(target=execute, daemon=True)
    started = time.perf_counter()
    thread.start()
    follower = RunFollower(inst, run_id, op_map(paths))
    width = max(len(label(p)) for p in paths)
    while (entry := events.get()) is not None:
        for asset, o in follower.feed(entry):
            rows = f"{o.rows:>10,} rows" if o.rows is not None else " " * 15
            print(f"  {o.status:7} {asset.ljust(width)} {rows} {o.seconds:6.1f}s", file=out, flush=True)
            if o.cause:  # the first line now; the whole cause in the summary
                print(_indent(_short(o.cause, asset).splitlines()[0]), file=sys.stderr, flush=True)
    thread.join()
    if "error" in outcome:
        print(f"couplet: error: the run could not start: {outcome['error']}", file=sys.stderr)
        return 1
    follower.finish(label(p) for p in paths)
    result = outcome.get("result")
    ok = bool(getattr(result, "success", False)) and not follower.failures()
    _table(follower, [label(p) for p in paths], out)
    took = time.perf_counter() - started
    print(f"\n{'ok' if ok else 'FAILED'}: run {run_id} in {took:.1f}s", file=out)
    if not ok:
        run = inst.get_run_by_id(run_id)
        if run is not None:
            problems = send_alerts(
                flows, run, follower.failures(), os.environ.get("COUPLET_UI_URL", ""), by_cli=True
            )
            for problem in problems:
                print(f"couplet: alert not delivered: {problem}", file=sys.stderr)
    return 0 if ok else 1


def _indent(text: str) -> str:
    return "\n".join("          " + line for line in text.splitlines())


def _short(cause: str, asset: str) -> str:
    """A failure's cause without the asset it names (it is printed beside it)."""
    return cause.removeprefix(f"{asset} failed: ")


def _table(follower: RunFollower, planned: list[str], out) -> None:
    width = max((len(a) for a in planned), default=10)
    print(f"\n{'asset'.ljust(width)}  {'status':8} {'rows':>10}  {'seconds':>8}", file=out)
    for asset in planned:
        o = follower.outcomes[asset]
        rows = f"{o.rows:,}" if o.rows is not None else "-"
        print(f"{asset.ljust(width)}  {o.status:8} {rows:>10}  {o.seconds:8.1f}", file=out)
    for asset, cause in follower.failures():
        print(f"\n{asset} failed:\n{_indent(_short(cause, asset))}", file=out)
