"""The dlt side of `bench/bench_peer.py`: Harvest time entries -> Parquet load files -> DuckDB.

Runs in dlt's own venv (`bench/.venv-dlt/`, made by `bench_peer.py`), never in couplet's, so the two
share no packages. A plain `rest_api` source as dlt's documentation writes one: `GET /v2/time_entries`
over the whole range at 2000 records a page, following `links.next` until it is null.

    bench/.venv-dlt/bin/python bench/peers/dlt_harvest.py --url http://127.0.0.1:8765/harvest \
        --workdir /tmp/x --first 2024-06-01 --last 2026-05-31

`--last` is inclusive, as Harvest's `to` is. Prints one JSON line: `rows` and `columns` (read back from
DuckDB), `seconds` (the `pipeline.run` call alone), `dlt_version`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import dlt
import duckdb
from dlt.sources.rest_api import rest_api_source

DATASET = "harvest"
TABLE = "time_entries"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="Harvest base URL, e.g. <sandbox>/harvest")
    parser.add_argument("--workdir", required=True, help="a fresh folder for the pipeline and DuckDB file")
    parser.add_argument("--first", required=True, help="first day (YYYY-MM-DD)")
    parser.add_argument("--last", required=True, help="last day, inclusive (YYYY-MM-DD)")
    parser.add_argument("--token", default="sandbox-harvest-token")
    parser.add_argument("--account-id", default="123456")
    args = parser.parse_args()

    workdir = Path(args.workdir)
    database = workdir / "dlt.duckdb"
    source = rest_api_source(
        {
            "client": {
                "base_url": args.url,
                "headers": {
                    "Authorization": f"Bearer {args.token}",
                    "Harvest-Account-Id": args.account_id,
                    "User-Agent": "couplet-bench-peer (bench@couplet.dev)",
                },
                "paginator": {"type": "json_link", "next_url_path": "links.next"},
            },
            "resource_defaults": {"write_disposition": "replace"},
            "resources": [
                {
                    "name": TABLE,
                    "endpoint": {
                        "path": "v2/time_entries",
                        "data_selector": "time_entries",
                        "params": {"from": args.first, "to": args.last, "per_page": 2000},
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_peer",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=DATASET,
        pipelines_dir=str(workdir / "pipelines"),
    )
    started = time.perf_counter()
    pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - started
    with duckdb.connect(str(database), read_only=True) as con:
        table = f'"{DATASET}"."{TABLE}"'  # constants, quoted
        (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        columns = len(con.execute(f"SELECT * FROM {table} LIMIT 0").description)
    print(json.dumps({"rows": rows, "columns": columns, "seconds": seconds, "dlt_version": dlt.__version__}))


if __name__ == "__main__":
    main()
