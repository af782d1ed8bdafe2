"""``couplet flows``: validate, list, show and run flows from the command line.

``validate``, ``list`` and ``show`` never load Dagster: they read the flow files (and plan their
steps) only, so they answer in about a second. A flow file with mistakes harms only itself: every
command names each problem (``file:line: key.path: problem``, with "did you mean" where a name is
close) and goes on with the healthy flows. ``run`` executes flows through Dagster in this process
(``flows_run``); ``history`` prints a flow's last runs from the Dagster instance (``history``);
``preview`` runs a flow's steps over staged data, without Dagster, and prints a step's or an
output's types and first rows, writing nothing to any destination (``preview``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING

from .gcstart import end_startup

if TYPE_CHECKING:
    from pipelines.config import Flow
    from pipelines.loader import Catalog


def add_parser(sub: argparse._SubParsersAction) -> None:
    flows = sub.add_parser("flows", help="validate, list, show and run flows")
    fsub = flows.add_subparsers(dest="flows_command", required=True)
    v = fsub.add_parser("validate", help="check flow files; every mistake with file, line, key and fix")
    v.add_argument(
        "files", nargs="*", help="flow files or folders (default: COUPLET_FLOWS or the shipped flows)"
    )
    fsub.add_parser("list", help="the flows, their sources, outputs and schedules")
    s = fsub.add_parser("show", help="a flow's plan: assets, partitions, schedule, next runs")
    s.add_argument("flow")
    r = fsub.add_parser("run", help="run flows now, through Dagster, in this process")
    r.add_argument(
        "flows", nargs="*", metavar="flow", help="one or more flows (a source they share is read once)"
    )
    r.add_argument("--all", action="store_true", help="every flow, in one run")
    r.add_argument("--start", help="first day (YYYY-MM-DD) of the dated sources")
    r.add_argument("--end", help="day after the last (YYYY-MM-DD); default: tomorrow")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="read and stage the sources, run the steps, but write to no output: report what each "
        "would write (Runn: what it would create, update and send)",
    )
    from .pools import add_arguments as pool_arguments

    pool_arguments(
        fsub.add_parser(
            "pools",
            help="the Dagster pools the flows declare and their limits; --set sets them on the "
            "instance before any run (a deployment does this once: docs/scale.md)",
        )
    )
    pv = fsub.add_parser(
        "preview",
        help="a step's or output's column types and first rows, computed from staged data (extracts "
        "only what is missing for the flow's range; writes nothing to any destination)",
    )
    pv.add_argument("flow")
    pv.add_argument("name", nargs="?", help="a step, output or source of the flow (default: each output)")
    pv.add_argument(
        "--rows", type=int, default=10, help="how many rows to show (default 10; 0: only the types)"
    )
    h = fsub.add_parser(
        "history", help="a flow's last runs: status, start, duration, rows per output, failures"
    )
    h.add_argument("flow")
    h.add_argument("--last", type=int, default=10, help="how many runs (default 10)")
    rc = fsub.add_parser(
        "reconcile",
        help="run flows now and check older history for drift: re-read the look-back, re-extract "
        "only the older windows whose counts or sums differ from what is staged",
    )
    rc.add_argument("flows", nargs="*", metavar="flow", help="one or more flows")
    rc.add_argument("--all", action="store_true", help="every flow, in one run")
    rc.add_argument(
        "--days", type=int, help="how far back (default: the flow's reconcile.days, else all staged)"
    )


def print_problems(catalog: Catalog, out=None) -> None:
    """Every problem of every file, grouped by file, then what was set aside."""
    out = out or sys.stderr
    for file, problems in catalog.broken_files().items():
        print(f"{file}: {len(problems)} problem(s)", file=out)
        for p in problems:
            print(f"  {p}", file=out)
    if catalog.set_aside:
        names = ", ".join(sorted(catalog.set_aside))
        print(f"set aside until fixed: {names} (the other flows are not affected)", file=out)


def run(args: argparse.Namespace) -> int:
    from pipelines.loader import flow_paths, load_catalog

    command = args.flows_command
    if command not in ("run", "reconcile"):
        end_startup()  # a run ends start-up itself, when its definitions are built (see gcstart)
    if command == "validate":
        paths = [p for f in args.files for p in flow_paths(f)] if args.files else None
        catalog = load_catalog(paths)
        print_problems(catalog)
        ff = catalog.flow_file
        summary = (
            f"{len(catalog.files)} file(s), {len(ff.connections)} connection(s), {len(ff.flows)} flow(s)"
        )
        if catalog.problems:
            healthy = ", ".join(ff.flows) or "none"
            print(f"{len(catalog.problems)} problem(s); loaded: {summary} ({healthy})", file=sys.stderr)
            return 2
        print(f"ok: {summary}")
        return 0
    catalog = load_catalog()
    if catalog.problems:
        print_problems(catalog)
        print(file=sys.stderr)
    flow_file = catalog.flow_file
    if command == "list":
        for name, flow in flow_file.flows.items():
            print(
                f"{name}: {len(flow.sources)} source(s), {len(flow.outputs)} output(s); {schedule_text(flow)}"
            )
            if flow.description:
                print(f"    {flow.description}")
        for name, file in sorted(catalog.set_aside.items()):
            print(f"{name}: set aside, {file} has problems (see above)")
        return 0
    if command == "show":
        shown = _flow(catalog, args.flow)
        if shown is None:
            return 2
        show(args.flow, shown, catalog)
        return 0
    if command == "pools":
        from .pools import run as run_pools

        return run_pools(args, catalog)
    if command == "preview":
        shown = _flow(catalog, args.flow)
        if shown is None:
            return 2
        if args.rows < 0:
            print("couplet: error: --rows must be 0 or more", file=sys.stderr)
            return 2
        from .preview import run_preview

        return run_preview(args.flow, shown, catalog, args.name, args.rows)
    if command == "history":
        shown = _flow(catalog, args.flow)
        if shown is None:
            return 2
        if args.last < 1:
            print("couplet: error: --last must be 1 or more", file=sys.stderr)
            return 2
        from .flows_run import local_instance
        from .history import print_history

        return print_history(args.flow, shown, flow_file, args.last, local_instance())
    names = sorted(flow_file.flows) if args.all else list(dict.fromkeys(args.flows))
    if not names:
        print("couplet: error: name one or more flows, or --all", file=sys.stderr)
        return 2
    if any(_flow(catalog, n) is None for n in names):
        return 2
    from .flows_run import run_flows

    if command == "reconcile":
        if args.days is not None and args.days < 1:
            print("couplet: error: --days must be 1 or more", file=sys.stderr)
            return 2
        return run_flows(names, catalog, reconcile=True, reconcile_days=args.days)
    return run_flows(names, catalog, args.start, args.end, dry_run=args.dry_run)


def _flow(catalog: Catalog, name: str) -> Flow | None:
    from pipelines.yamlfile import did_you_mean

    flows = catalog.flow_file.flows
    if name in flows:
        return flows[name]
    if name in catalog.set_aside:
        print(
            f"couplet: error: flow {name!r} is set aside: {catalog.set_aside[name]} has problems (above)",
            file=sys.stderr,
        )
        return None
    known = [*flows, *catalog.set_aside]
    print(
        f"couplet: error: no flow {name!r}{did_you_mean(name, known)}; flows: {', '.join(sorted(flows)) or 'none'}",
        file=sys.stderr,
    )
    return None


def schedule_text(flow: Flow) -> str:
    if flow.schedule is None:
        return "no schedule (run on demand)"
    from pipelines.schedule import describe

    return describe(flow.schedule) + ("" if flow.schedule.enabled else " [enabled: false]")


def show(name: str, flow: Flow, catalog: Catalog) -> None:
    from .translator import Kind, flow_assets, label, lookback_days

    flow_file = catalog.flow_file
    assets = flow_assets(name, flow, flow_file)
    print(f"flow {name}" + (f": {flow.description}" if flow.description else ""))
    print(f"  job {name}" + (" (partitioned by month)" if assets.partitioned else " (unpartitioned)"))
    for path in assets.paths:
        kind = "monthly" if assets.kinds[path] is Kind.MONTHLY else ""
        print(f"    {label(path)}" + (f"  [{kind}]" if kind else ""))
    print(f"  schedule: {schedule_text(flow)}")
    if flow.schedule is not None:
        from pipelines.schedule import next_runs

        for when in next_runs(flow.schedule, dt.datetime.now(dt.UTC), 3):
            print(f"    next: {when.isoformat(sep=' ', timespec='minutes')}")
        if assets.partitioned:
            print(
                f"  a run now re-reads the last {lookback_days(flow, flow_file, dt.datetime.now(dt.UTC))} "
                "day(s) of the dated sources (besides today)"
            )
