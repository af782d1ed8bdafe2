"""Outputs: a flow output's destination settings -> the writer and target that land it.

One place turns the YAML's ``to: {excel: ...}`` (and friends) into a writer and its target, through
the destination's declaration (``destinations.spec.Destination``), so Dagster assets, the CLI and
tests write the same way and nothing here names a destination. Keyed writes (upsert, append_new)
first check that every row has its key (``without_null_keys``): a null key would merge distinct rows.
A destination that replaces its file through a temp file beside it (Excel) has the leftovers of a
killed writer swept here first (``tempfiles.sweep``: older than an hour).
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from destinations.base import Deletes, Mode, ParquetSource, Scope, Writer, WriteResult
from destinations.spec import Context, Destination

from .config import Output
from .tempfiles import sweep, temp_patterns


@dataclass(frozen=True)
class Landing:
    destination: Destination[Any]
    writer: Writer[Any]
    target: Any  # the destination's settings model, completed for the run
    data_dir: str = "data"  # where a writer's rate-limit state is handed over (``limiters``)

    @property
    def kind(self) -> str:
        return self.destination.kind

    def write(
        self,
        data: ParquetSource | pa.Table,
        mode: Mode,
        keys: tuple[str, ...],
        scope: Scope | None,
        allow_empty: bool,
        deletes: Deletes | None = None,
    ) -> WriteResult:
        local = self.destination.local_path(self.target)
        if self.destination.writes_temp_file and local is not None:  # a killed run's copy, if any
            path = Path(local)
            sweep(path.parent, temp_patterns(path))
        with self._handed_over():
            return self.writer.write(
                self.target, data, mode, keys, scope=scope, allow_empty=allow_empty, deletes=deletes
            )

    def _handed_over(self) -> contextlib.AbstractContextManager[None]:
        """A writer with its own rate limiters (Runn, QuickBooks) starts from the send log the last
        write of that account saved, and saves its own (``pipelines.ratestate``)."""
        if not self.destination.limiters:
            return contextlib.nullcontext()
        from .ratestate import registry_handed_over  # the engine's imports only when needed

        pool = self.destination.pool_of(self.target) or self.kind
        name = "dest-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", pool)
        return registry_handed_over(self.data_dir, name, self.destination.limiters)


def landing(output: Output, partitioned: bool, data_dir: str = "data", dry_run: bool = False) -> Landing:
    """Writer and target for ``output``; ``partitioned``: it reads a dated source (BigQuery then
    partitions the table by day); ``dry_run``: the destination's dry run (it must have one)."""
    destination, settings = output.to.destination, output.to.settings
    if dry_run:
        if destination.dry_run is None:
            raise ValueError(f"{destination.kind} outputs have no dry run")
        settings = destination.dry_run(settings)
    context = Context(partitioned=partitioned, data_dir=data_dir)
    return Landing(
        destination, destination.writer(settings, context), destination.target(settings, context), data_dir
    )


def describe(output: Output) -> str:
    """Where an output lands, for people: a path#sheet, a sheet URL, a table id; for Google outputs
    sent to an emulator (the ``endpoint`` setting or its environment variable), ``... at <endpoint>``."""
    return output.to.destination.label(output.to.settings)


class NullKeyError(ValueError):
    """Rows without a primary key value reached a keyed write (upsert, append_new)."""


def without_null_keys(
    data: ParquetSource | pa.Table, keys: tuple[str, ...], output: Output, what: str
) -> tuple[ParquetSource | pa.Table, int]:
    """``data`` minus rows with a null in a key column, and how many went; an error unless the output
    says ``null_keys: drop``. Only the key columns are read to find out."""
    present = [k for k in keys if k in data.schema.names]
    if not present:
        return data, 0
    if isinstance(data, ParquetSource):
        import pyarrow.dataset as ds

        key_table = (
            ds.dataset(list(data.paths), schema=data.schema, format="parquet").to_table(columns=present)
            if data.paths
            else data.schema.empty_table().select(present)
        )
    else:
        key_table = data.select(present)
    nulls = {k: key_table.column(k).null_count for k in present}
    if not any(nulls.values()):
        return data, 0
    valid = functools.reduce(pc.and_, [pc.is_valid(key_table.column(k)) for k in present])
    dropped = key_table.num_rows - (pc.sum(valid).as_py() or 0)
    if output.null_keys != "drop":
        named = ", ".join(f"{k} ({n:,} null)" for k, n in nulls.items() if n)
        raise NullKeyError(
            f"{what}: {dropped:,} row(s) have no value in primary key column(s) {named}; a {output.mode} "
            "matches rows by key and would merge them into one. Set primary_key on the output to columns "
            "that are always filled, or null_keys: drop to leave those rows out (counted in the metadata)"
        )
    table = data.to_table() if isinstance(data, ParquetSource) else data
    return table.filter(valid), dropped
