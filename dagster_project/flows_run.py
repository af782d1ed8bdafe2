"""``couplet flows run``: run flows now, through Dagster, in this process.

One run for all the flows asked for (their own job for one flow, ``all_flows`` narrowed to their
assets for several), so a source they share is read once. Runs are recorded in the Dagster
instance under ``DAGSTER_HOME`` (default ``data/dagster_home``), so the UI shows them. Progress is
printed per asset as it finishes (the instance hands this process each event of the run as it is
stored, so following the run reads nothing back and never competes with the run for the
interpreter), then a table of every asset with its status, rows and seconds, and each failure's cause. The exit code is
1 when anything failed. A failed run sends the flows' alerts from here: Dagster's run-failure
sensors only see runs launched through a code location, not runs started in process.

With ``settings.executor: multiprocess`` the run cannot be executed in process (Dagster's
``execute_in_process`` always uses the in-process executor): it goes through ``dg.execute_job`` with
a reconstructable job (``flows_job``: each step's process rebuilds the definitions from the same
flow files), on the persistent instance under ``DAGSTER_HOME``. Each step then stores its own
events from its own process, so this process follows the run by reading its event log (a
``RunFollower`` poll every ``POLL_SECONDS``) instead of being handed the events.
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
from pipelines.loader import Catalog, load_catalog

from .gcstart import end_startup
from .runs import AssetOutcome, RunFollower, op_map, send_alerts
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

POLL_SECONDS = 0.5  # how often a multiprocess run's event log is read for progress
TAG_INVOCATION = "couplet/invocation"  # finds the run dg.execute_job created for this command


def flows_job(files: str, job_name: str) -> dg.JobDefinition:
    """The job ``job_name`` of the flow files ``files`` (joined by ``os.pathsep``): how every process
    of a multiprocess run rebuilds it (``dg.build_reconstructable_job``)."""
    from .build import build_definitions

    return build_definitions(load_catalog(files.split(os.pathsep))).resolve_job_def(job_name)


def reconstructable_job(catalog: Catalog, job_name: str) -> dg.ReconstructableJob:
    """``job_name`` as a job other processes can rebuild: from the catalog's flow files, by path."""
    if not catalog.files:
        raise ValueError(
            "executor: multiprocess needs the flows to come from flow files (each process loads them)"
        )
    files = os.pathsep.join(str(Path(f).resolve()) for f in catalog.files)
    args: tuple = (files, job_name)  # Dagster's hint says tuple[object]: it means any tuple
    return dg.build_reconstructable_job(
        __name__, flows_job.__name__, args, reconstructor_working_directory=os.getcwd()
    )


def local_instance() -> dg.DagsterInstance:
    """The instance under ``DAGSTER_HOME`` (default ``data/dagster_home``), created on first use.

    A new home gets couplet's ``dagster.yaml`` (``sqlite_storage.INSTANCE_YAML``: telemetry off,
    Dagster's SQLite storage keeping its connections), and so does one holding exactly what an
    earlier couplet wrote; any other ``dagster.yaml`` is the user's and is left as it is.
    """
    from dagster_project.sqlite_storage import INSTANCE_YAML, OLD_INSTANCE_YAMLS

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("data/dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() in OLD_INSTANCE_YAMLS:
        config.write_text(INSTANCE_YAML)
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
    job_name = names[0] if len(names) == 1 else ALL_FLOWS_JOB
    multiprocess = flow_file.settings.executor == "multiprocess"
    inst = instance or local_instance()
    if multiprocess and inst.is_ephemeral:
        print(
            "couplet: error: executor: multiprocess needs a persistent Dagster instance: set DAGSTER_HOME",
            file=sys.stderr,
        )
        return 1
    run_id = str(uuid.uuid4())  # in process: the run's id; multiprocess: finds the run execute_job made
    days = f" [{first} .. {after - dt.timedelta(days=1)}]" if partitioned else ""
    how = f"{flow_file.settings.processes} processes" if multiprocess else f"run {run_id[:8]}"
    print(f"run {', '.join(names)}{days}: {len(paths)} asset(s), {how}", file=out, flush=True)
    outcome: dict[str, object] = {}
    events: queue.SimpleQueue[dg.EventLogEntry | None] = queue.SimpleQueue()
    inst.add_event_listener(run_id, events.put)  # called in the run's thread, once stored
    selection = [dg.AssetKey(p) for p in paths] if len(names) > 1 else None
    run_config = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    job = None if multiprocess else build_definitions(catalog).resolve_job_def(job_name)

    def execute() -> None:
        try:
            if multiprocess:
                outcome["result"] = dg.execute_job(
                    reconstructable_job(catalog, job_name),
                    instance=inst,
                    tags={**tags, TAG_INVOCATION: run_id},
                    asset_selection=selection,
                    raise_on_error=False,
                    run_config=run_config,
                )
            else:
                assert job is not None
                outcome["result"] = job.execute_in_process(
                    instance=inst,
                    run_id=run_id,
                    tags=tags,
                    asset_selection=selection,
                    raise_on_error=False,
                    run_config=run_config,
                )
        except Exception as exc:  # a run that could not even start: say why
            outcome["error"] = exc
        finally:
            events.put(None)  # the run is over: nothing more will come

    thread = threading.Thread(target=execute, daemon=True)
    end_startup()  # imports and definitions done: collections on again (see gcstart)
    started = time.perf_counter()
    thread.start()
    follower = RunFollower(inst, run_id, op_map(paths))
    width = max(len(label(p)) for p in paths)
    if multiprocess:
        follower.run_id = _follow_by_polling(inst, follower, thread, run_id, width, out)
    else:
        while (entry := events.get()) is not None:
            _progress(follower.feed(entry), width, out)
    thread.join()
    if "error" in outcome:
        print(f"couplet: error: the run could not start: {outcome['error']}", file=sys.stderr)
        return 1
    run_id = follower.run_id
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


def _progress(finished: list[tuple[str, AssetOutcome]], width: int, out) -> None:
    for asset, o in finished:
        rows = f"{o.rows:>10,} rows" if o.rows is not None else " " * 15
        print(f"  {o.status:7} {asset.ljust(width)} {rows} {o.seconds:6.1f}s", file=out, flush=True)
        if o.cause:  # the first line now; the whole cause in the summary
            print(_indent(_short(o.cause, asset).splitlines()[0]), file=sys.stderr, flush=True)


def _follow_by_polling(
    inst: dg.DagsterInstance,
    follower: RunFollower,
    thread: threading.Thread,
    token: str,
    width: int,
    out,
) -> str:
    """Print a multiprocess run's progress from its event log until its thread ends; its run id."""
    found = dg.RunsFilter(tags={TAG_INVOCATION: token})
    run_id = token
    while True:
        over = not thread.is_alive()  # read before the last poll: nothing is missed
        if run_id == token:
            records = inst.get_run_records(filters=found, limit=1)
            if records:
                run_id = follower.run_id = records[0].dagster_run.run_id
        if run_id != token:
            _progress(follower.poll(), width, out)
        if over:
            return run_id
        thread.join(POLL_SECONDS)


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
    notes = [(a, follower.outcomes[a].reconciled) for a in planned if follower.outcomes[a].reconciled]
    if notes:
        print("", file=out)
    for asset, note in notes:
        print(f"{asset}: {note}", file=out)
    for asset, cause in follower.failures():
        print(f"\n{asset} failed:\n{_indent(_short(cause, asset))}", file=out)
