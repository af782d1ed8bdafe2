"""The ``couplet`` command: ``sandbox``, ``extract``, ``demo``.

``extract`` uses the connector engine directly (no Dagster), streaming slices into a .jsonl, .csv
or .parquet file; ``demo`` runs the shipped flow through Dagster against the sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import sys
from pathlib import Path

from .gcstart import end_startup, pause_for_startup

EXTRACT_FROM = dt.date(
    2010, 1, 1
)  # default start of `extract` for dated entities: all of an account's history


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="couplet", description="Coupler.io-style connectors on Dagster")
    sub = parser.add_subparsers(dest="command", required=True)

    sb = sub.add_parser("sandbox", help="serve the sandbox APIs (Clockodo at /clockodo/api)")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8765)
    _sandbox_size_args(sb)

    ex = sub.add_parser("extract", help="extract one entity into a .jsonl, .csv or .parquet file")
    ex.add_argument("connector")
    ex.add_argument("entity")
    ex.add_argument("--start", type=_date, help="first day (dated entities; default 2010-01-01)")
    ex.add_argument("--end", type=_date, help="day after the last (default: a year from today)")
    ex.add_argument("--out", required=True, help="output file: .jsonl, .csv or .parquet")

    from .flows_cli import add_parser

    add_parser(sub)

    demo = sub.add_parser("demo", help="run the shipped flow against the sandbox and print what landed")
    demo.add_argument("--days", type=int, default=90, help="days of time entries to load (default 90)")

    args = parser.parse_args(argv)
    try:
        if args.command in ("sandbox", "demo"):
            end_startup()  # long-lived or many runs: collections on from here (see gcstart)
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "extract":
            return _extract(args)
        if args.command == "flows":
            from .flows_cli import run as run_flows_command

            return run_flows_command(args)
        from .demo import run_demo

        return run_demo(days=args.days)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line, never a traceback (COUPLET_DEBUG=1 shows it)
        if os.environ.get("COUPLET_DEBUG"):
            raise
        print(f"couplet: error: {_describe(exc)}", file=sys.stderr)
        return 2


def _describe(exc: Exception) -> str:
    from connectors.core.errors import ConnectorError
    from destinations.base import DestinationError
    from pipelines.loader import FlowError

    if isinstance(exc, ConnectorError | DestinationError | FlowError | ValueError):
        return str(exc)
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else "KeyError"
    return f"{type(exc).__name__}: {exc} (set COUPLET_DEBUG=1 to see where)"


def _sandbox_size_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=42, help="seed of the synthetic organisation (default 42)")
    p.add_argument("--users", type=int, default=12, help="number of people (default 12)")
    p.add_argument("--clients", type=int, default=8, help="number of clients (default 8)")
    p.add_argument("--history-days", type=int, default=730, help="days of generated history (default 730)")
    p.add_argument(
        "--entries-per-day", type=float, default=4.0, help="average entries per person per working day"
    )
    p.add_argument(
        "--entries", type=int, default=None, help="total entries to generate (rescales entries per day)"
    )
    p.add_argument("--no-rate-limit", action="store_true", help="switch the published rate limits off")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered with a 5xx")
    p.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every request")
    p.add_argument("--truncate-rate", type=float, default=0.0, help="share of responses cut short")
    p.add_argument("--drop-rate", type=float, default=0.0, help="share of connections closed mid-response")


def sandbox_options(args: argparse.Namespace):
    from sandbox.common import SandboxOptions
    from sandbox.org import OrgOptions

    org = OrgOptions(
        seed=args.seed,
        users=args.users,
        clients=args.clients,
        history_days=args.history_days,
        entries_per_day=args.entries_per_day,
        target_entries=args.entries,
    )
    return SandboxOptions(
        org=org,
        rate_limit=not args.no_rate_limit,
        error_rate=args.error_rate,
        latency_ms=args.latency_ms,
        truncate_rate=args.truncate_rate,
        drop_rate=args.drop_rate,
    )


def _sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import serve

    options = sandbox_options(args)
    base = f"http://{args.host}:{args.port}"
    print(f"couplet sandbox on {base}")
    print(f"  Clockodo  {base}/clockodo/api   (user sandbox@couplet.dev, key sandbox-key)")
    print(f"  Clockify  {base}/clockify/api and {base}/clockify/reports   (key sandbox-key)")
    print(f"  Harvest   {base}/harvest   (token sandbox-harvest-token, account 123456)")
    print(f"  Sheets    {base}/google/sheets   (Google Sheets API emulator; admin: /_admin/spreadsheets)")
    print(f"  BigQuery  {base}/google/bigquery   (BigQuery API emulator; admin: /_admin/tables)")
    serve(host=args.host, port=args.port, options=options)
    return 0


def _extract(args: argparse.Namespace) -> int:
    from connectors import get_source
    from connectors.core.entity import Partitioning
    from connectors.core.settings import resolve_settings

    source = get_source(args.connector)
    try:
        entity = source.entity(args.entity)
    except KeyError:
        names = ", ".join(e.name for e in source.entities)
        raise KeyError(f"{args.connector} has no entity {args.entity!r}; entities: {names}") from None
    out = Path(args.out)
    if out.suffix not in (".jsonl", ".csv", ".parquet"):
        raise SystemExit(f"couplet: error: --out must end in .jsonl, .csv or .parquet (got {out.name!r})")
    start = end = None
    if entity.partitioning is not Partitioning.NONE:
        earliest = entity.window.earliest if entity.window else None
        start = args.start or max(EXTRACT_FROM, earliest or EXTRACT_FROM)
        end = args.end or (dt.date.today() + dt.timedelta(days=366))
    settings = resolve_settings(source)
    end_startup()
    rows, stats, fields = asyncio.run(_extract_to(source, settings, entity, start, end, out))
    print(
        f"{args.connector}.{args.entity}: {rows} rows -> {out} ({stats['requests']} requests, {stats['retries']} retries)"
    )
    drift = fields.summary() if fields is not None else ""
    if drift:  # the API's records do not match the declaration: say so, the file has only the columns
        print(f"couplet: warning: {args.connector}.{args.entity}: {drift}", file=sys.stderr)
    return 0


async def _extract_to(source, settings, entity, start, end, out: Path):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from connectors.core.extract import Extractor, staged_schema
    from pipelines.tempfiles import replacing, sweep, temp_patterns

    schema = staged_schema(entity)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Leftovers of a killed extract to the same file (a running one's stay: see pipelines.tempfiles).
    sweep(out.parent, temp_patterns(out))
    rows = 0
    seen: set[tuple] = set()  # a record the API returns in two windows is written once
    with replacing(out) as tmp:  # renamed over `out` when complete, removed on any failure
        async with Extractor(source, settings) as ex:
            if out.suffix == ".parquet":
                writer = pq.ParquetWriter(tmp, schema)
            elif out.suffix == ".csv":
                writer = pacsv.CSVWriter(tmp, schema)
            else:
                writer = open(tmp, "w", encoding="utf-8")  # noqa: SIM115
            try:
                async for result in ex.extract(entity, start, end):
                    table = result.table
                    keys = list(zip(*(table.column(k).to_pylist() for k in entity.primary_key), strict=True))
                    mask = [k not in seen for k in keys]
                    seen.update(keys)
                    table = table.filter(pa.array(mask, pa.bool_())) if not all(mask) else table
                    rows += table.num_rows
                    if out.suffix == ".jsonl":
                        for record in table.to_pylist():
                            writer.write(json.dumps(record, default=_json_default, ensure_ascii=False) + "\n")
                    else:
                        writer.write_table(table)
            finally:
                writer.close()
            stats = ex.client.stats.as_dict()
    return rows, stats, ex.stats.fields.get(entity.name)  # and the schema drift, for the warning


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def entry() -> None:
    """The ``couplet`` console script: ``main``, then exit without a last full garbage collection.

    A run leaves a few hundred thousand objects (Dagster's definitions, the instance); the
    interpreter's collection at exit would walk them all for about half a second, only to free
    memory the process gives back anyway. Frozen objects are skipped; files and connections are
    already closed, and exit handlers still run.
    """
    pause_for_startup()  # no collections while Dagster is imported (see gcstart)
    code = main()
    sys.stdout.flush()
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    entry()
