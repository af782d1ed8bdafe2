"""The ledger behind the ``append_new`` output mode: every record sent exactly once, ever.

A ledger is a Parquet file of the primary keys already delivered to one output
(``<data_dir>/ledgers/<flow>/<output>.parquet``, local or on an object store: ``pipelines.datadir``). A run sends only rows whose key is not in it, and
records their keys only after the destination confirmed the write. Writers are atomic, so a failed
write delivered nothing and records nothing: the rerun sends those rows once. Edits of a record
already sent do not send it again (that is the point: an invoice line is exported once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from destinations.base import ParquetSource

from . import datadir


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Ledger:
    def __init__(self, data_dir: str | Path, flow: str, output: str) -> None:
        self.path = datadir.location(data_dir) / "ledgers" / flow / f"{output}.parquet"

    def sent(self) -> pa.Table | None:
        return datadir.read_table(self.path) if datadir.exists(self.path) else None

    def new_rows(self, data: ParquetSource | pa.Table, keys: Sequence[str]) -> pa.Table:
        """The rows of ``data`` whose key was never sent (and each key once, its last row)."""
        table = data.to_table() if isinstance(data, ParquetSource) else data
        numbered = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
        key_list = ", ".join(_quote(k) for k in keys)
        con = duckdb.connect()
        try:
            con.register("incoming", numbered)
            # A key twice in one batch: its last row is the one to send.
            con.execute(
                "CREATE TEMP TABLE fresh AS SELECT * FROM incoming "
                f"QUALIFY row_number() OVER (PARTITION BY {key_list} ORDER BY __row DESC) = 1"
            )
            sent = self.sent()
            if sent is None:
                query = "SELECT * EXCLUDE (__row) FROM fresh ORDER BY __row"
            else:
                con.register("sent", sent)
                on = " AND ".join(f"f.{_quote(k)} IS NOT DISTINCT FROM s.{_quote(k)}" for k in keys)
                query = f"SELECT f.* EXCLUDE (__row) FROM fresh f ANTI JOIN sent s ON {on} ORDER BY f.__row"
            return con.sql(query).to_arrow_table().cast(table.schema)
        finally:
            con.close()

    def record(self, rows: pa.Table, keys: Sequence[str], now: dt.datetime | None = None) -> int:
        """Add the keys of ``rows`` (just delivered) to the ledger, atomically."""
        if rows.num_rows == 0:
            return 0
        stamp = now or dt.datetime.now(dt.UTC)
        added = rows.select(list(keys)).append_column(
            "_sent_at", pa.array([stamp] * rows.num_rows, pa.timestamp("us", tz="UTC"))
        )
        previous = self.sent()
        table = (
            pa.concat_tables([previous, added], promote_options="permissive")
            if previous is not None
            else added
        )
        datadir.write_table(self.path, table)
        return rows.num_rows
