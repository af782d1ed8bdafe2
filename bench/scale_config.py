"""What ``bench_scale.py`` deploys: the flow file of N client accounts, their environment, the run tags.

An agency that syncs N clients' Harvest accounts writes one connection per account (its own token and
account id, from env vars) and one flow per client, so each client's sync is its own job, schedule and
run: ``client_001`` reads ``client_001``'s time entries and writes them to DuckDB. Where they land is
the one choice measured both ways (``--duckdb``):

- ``per-account``: ``<work>/warehouse/client_001.duckdb`` and so on, one file (one writer pool) each;
- ``shared``: one ``<work>/warehouse.duckdb``, each client in its own schema (``client_001.time_entries``),
  so every publish step waits for the one pool ``duckdb:<file>``: the single-writer limit.

No Dagster here and nothing that needs a server: ``tests/scale/test_bench_scale_config.py`` loads what
``flow_file`` writes with couplet's own loader.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sandbox.accounts import account_mount, credentials

DUCKDB_MODES = ("per-account", "shared")
# The sandbox's agency: the last generated day is ANCHOR - 1, and a run reads one whole month.
ANCHOR = dt.date(2026, 6, 1)
MONTH_START = dt.date(2026, 5, 1)
HISTORY_DAYS = (ANCHOR - MONTH_START).days
# Dagster's tags for a run over a range of partitions, and couplet's window tag (dagster_project.translator).
RANGE_START, RANGE_END, TAG_WINDOW = (
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
    "couplet/window",
)


def account_name(index: int) -> str:
    """The connection and flow name of account ``index`` (1-based): ``client_001``."""
    return f"client_{index:03d}"


def env_prefix(index: int) -> str:
    return f"CLIENT_{index:03d}_HARVEST"


def account_env(base_url: str, accounts: int) -> dict[str, str]:
    """Every account's ``<PREFIX>_ACCESS_TOKEN``, ``_ACCOUNT_ID`` and ``_BASE_URL`` for the sandbox at
    ``base_url`` (``sandbox.accounts``)."""
    env: dict[str, str] = {}
    for index in range(1, accounts + 1):
        token, account_id = credentials(index)
        prefix = env_prefix(index)
        env[f"{prefix}_ACCESS_TOKEN"] = token
        env[f"{prefix}_ACCOUNT_ID"] = str(account_id)
        env[f"{prefix}_BASE_URL"] = base_url + account_mount(index)
    return env


def duckdb_target(work: Path, index: int, mode: str) -> dict[str, str]:
    """The DuckDB output of account ``index`` under ``mode`` (see the module docstring)."""
    if mode == "per-account":
        return {"path": str(work / "warehouse" / f"{account_name(index)}.duckdb"), "table": "time_entries"}
    if mode == "shared":
        return {"path": str(work / "warehouse.duckdb"), "table": f"{account_name(index)}.time_entries"}
    raise ValueError(f"--duckdb must be one of {', '.join(DUCKDB_MODES)}, got {mode!r}")


def flow_document(work: Path, accounts: int, mode: str) -> dict[str, Any]:
    """The flow file of ``accounts`` clients as a mapping: one Harvest connection (the published
    rate limit, the connector's default) and one flow per client, staging under ``<work>/data``."""
    connections: dict[str, Any] = {}
    flows: dict[str, Any] = {}
    for index in range(1, accounts + 1):
        name, prefix = account_name(index), env_prefix(index)
        connections[name] = {
            "connector": "harvest",
            "access_token": {"env": f"{prefix}_ACCESS_TOKEN"},
            "account_id": {"env": f"{prefix}_ACCOUNT_ID"},
            "base_url": {"env": f"{prefix}_BASE_URL"},
        }
        flows[name] = {
            "description": f"Time entries of client account {index}",
            "sources": {"time_entries": {"connection": name, "entity": "time_entries"}},
            "outputs": [
                {
                    "from": "time_entries",
                    "to": {"duckdb": duckdb_target(work, index, mode)},
                    "mode": "replace",
                    "name": "time_entries",
                }
            ],
        }
    settings = {"data_dir": str(work / "data"), "partitions_start": MONTH_START.isoformat()}
    return {"settings": settings, "connections": connections, "flows": flows}


def write_flow_file(work: Path, accounts: int, mode: str) -> Path:
    """``flow_document`` written to ``<work>/flows/clients.yaml`` (JSON is YAML); returns its path."""
    path = work / "flows" / "clients.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(flow_document(work, accounts, mode), indent=1) + "\n")
    return path


def run_tags() -> dict[str, str]:
    """Tags of every run: the month [MONTH_START, ANCHOR) as a one-partition range and a window."""
    month = MONTH_START.strftime("%Y-%m")
    return {
        RANGE_START: month,
        RANGE_END: month,
        TAG_WINDOW: f"{MONTH_START.isoformat()}..{ANCHOR.isoformat()}",
    }
