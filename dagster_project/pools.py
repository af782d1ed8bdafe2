"""``couplet flows pools``: the Dagster pools the flows declare, and their limits set before any run.

Every raw asset declares ``source:<connection>``, every DuckDB output ``duckdb:<file>``, every
QuickBooks output ``quickbooks:<realm>`` (docs/flows.md, "Running on several processes"). An
instance with ``concurrency: pools: default_limit`` gives a pool its limit the first time a run
claims it, by inserting the pool's row. On PostgreSQL two runs doing that at the same moment fail
one of them (``InFailedSqlTransaction``: Dagster issue #33552, open in 1.13). A pool whose limit was
set explicitly is never initialized by a run, so a deployment sets them all once, ahead of its runs:
``couplet flows pools --set`` (deploy/README.md runs it before the daemon starts). Run it again after
adding a connection or a DuckDB output; pools already set are kept unless ``--force``.

Without ``--set`` it lists each pool, its limit on the instance (``DAGSTER_HOME``) and where that
limit comes from, and how many assets share it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `couplet --help` builds this parser: it must not import Dagster or pyarrow
    import dagster as dg

    from pipelines.loader import Catalog


def declared_pools(defs: dg.Definitions) -> Counter[str]:
    """Every pool an asset of ``defs`` declares, with the number of assets declaring it."""
    import dagster as dg

    found: Counter[str] = Counter()
    for asset in defs.assets or ():
        if isinstance(asset, dg.AssetsDefinition):
            found.update(asset.node_def.pools)
    return found


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="store_true",
        help="set each pool's limit on the instance now (pools already set are kept; see --force)",
    )
    p.add_argument(
        "--limit", type=int, help="the limit to set (default: the instance's default_limit, else 1)"
    )
    p.add_argument("--force", action="store_true", help="with --set: also change pools already set")


def run(args: argparse.Namespace, catalog: Catalog) -> int:
    from .build import build_definitions
    from .flows_run import local_instance

    if args.limit is not None and args.limit < 1:
        print("couplet: error: --limit must be 1 or more", file=sys.stderr)
        return 2
    if args.force and not args.set:
        print("couplet: error: --force goes with --set", file=sys.stderr)
        return 2
    pools = declared_pools(build_definitions(catalog))
    instance = local_instance()
    storage = instance.event_log_storage
    default = storage.get_pool_config().default_pool_limit
    current = {p.name: p for p in storage.get_pool_limits()}
    limit = args.limit or default or 1
    rows = []
    for pool in sorted(pools):
        known = current.get(pool)
        explicit = known is not None and not known.from_default
        if args.set and (args.force or not explicit):
            storage.set_concurrency_slots(pool, limit)
            rows.append((pool, str(limit), "set now", pools[pool]))
        elif known is not None:
            rows.append((pool, str(known.limit), "set" if explicit else "default_limit", pools[pool]))
        elif default is not None:
            rows.append((pool, str(default), "default_limit (not claimed yet)", pools[pool]))
        else:
            rows.append((pool, "none", "no limit: steps run at once", pools[pool]))
    width = max((len(r[0]) for r in rows), default=4)
    print(f"{'pool'.ljust(width)}  limit  from{' ' * 29}assets")
    for pool, lim, origin, count in rows:
        print(f"{pool.ljust(width)}  {lim:>5}  {origin.ljust(33)}{count}")
    if not args.set and any(r[2].startswith("default_limit (not") for r in rows):
        print(
            "\npools left to default_limit get their row when a run first claims them; on PostgreSQL "
            "two runs doing that at once fail one (Dagster issue #33552): run `couplet flows pools "
            "--set` once before the first runs",
            file=sys.stderr,
        )
    return 0
