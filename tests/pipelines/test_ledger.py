"""append_new: each record exactly once across reruns, edits and a failed write."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from destinations.duckdb import DuckDBTarget, DuckDBWriter
from pipelines.ledger import Ledger


def entries(ids, notes) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "note": notes})


def deliver(ledger: Ledger, writer, target, data: pa.Table) -> int:
    """What the publish step does: new rows, write (append), then record."""
    fresh = ledger.new_rows(data, ("id",))
    writer.write(target, fresh, "append", allow_empty=True)
    ledger.record(fresh, ("id",))
    return fresh.num_rows


def test_each_record_once_across_reruns_and_edits(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, "billable_export", "entries")
    writer, target = DuckDBWriter(), DuckDBTarget(path=str(tmp_path / "w.duckdb"), table="exported")
    assert deliver(ledger, writer, target, entries([1, 2, 2], ["a", "b", "b2"])) == 2
    # rerun with the same data, an edit of a sent record, and one new record
    assert deliver(ledger, writer, target, entries([1, 2, 3], ["a-edited", "b", "c"])) == 1
    assert deliver(ledger, writer, target, entries([1, 2, 3], ["a", "b", "c"])) == 0
    rows = sorted(writer.read(target).to_pylist(), key=lambda r: r["id"])
    assert rows == [{"id": 1, "note": "a"}, {"id": 2, "note": "b2"}, {"id": 3, "note": "c"}]
    assert ledger.sent().num_rows == 3


def test_a_failed_write_records_nothing_and_the_rerun_sends_once(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, "f", "o")

    class Broken:
        def write(self, *args, **kwargs):
            raise RuntimeError("destination down")

    with pytest.raises(RuntimeError):
        deliver(ledger, Broken(), None, entries([1, 2], ["a", "b"]))
    assert ledger.sent() is None
    writer, target = DuckDBWriter(), DuckDBTarget(path=str(tmp_path / "w.duckdb"), table="t")
    assert deliver(ledger, writer, target, entries([1, 2], ["a", "b"])) == 2
    assert deliver(ledger, writer, target, entries([1, 2], ["a", "b"])) == 0
    assert len(writer.read(target)) == 2
