"""The local instance's storage: Dagster's SQLite storages with their connections kept open.

``couplet`` writes ``dagster_project.sqlite_storage.INSTANCE_YAML`` into a new ``DAGSTER_HOME``. The
tests check that it is Dagster's own layout and tables (a home switched to it, or back, keeps its
runs), that a batch of events is one transaction that leaves nothing behind when it fails, that
only a few run databases keep a connection, that another instance (another process) sees what one
writes, and that a forked child opens connections of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as db
from dagster._core.events import StepMaterializationData
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from dagster_project import sqlite_storage as storage
from dagster_project.flows_run import local_instance
from dagster_project.translator import RANGE_END, RANGE_START

MONTHS = dg.MonthlyPartitionsDefinition(start_date="2026-01-01")


@dg.asset(partitions_def=MONTHS, backfill_policy=dg.BackfillPolicy.single_run())
def monthly(context) -> dg.MaterializeResult:  # unannotated: Dagster checks the annotation by name
    return dg.MaterializeResult(metadata={"months": len(context.partition_keys)})


@dg.asset
def whole() -> None:
    return None


RANGE = {RANGE_START: "2026-01-01", RANGE_END: "2026-03-01"}  # three months


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def events_of(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list:
    return [e for e in instance.all_logs(run_id) if e.dagster_event and e.dagster_event.event_type == kind]


def test_a_new_home_gets_the_storage_an_old_default_is_upgraded_and_a_users_file_is_kept(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_instance() as instance:
        assert (home / "dagster.yaml").read_text() == storage.INSTANCE_YAML
        assert isinstance(instance.event_log_storage, storage.KeptSqliteEventLogStorage)
        assert isinstance(instance.run_storage, storage.KeptSqliteRunStorage)
    old = tmp_path / "old"
    old.mkdir()
    (old / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # what couplet wrote before
    monkeypatch.setenv("DAGSTER_HOME", str(old))
    with local_instance() as instance:
        assert (old / "dagster.yaml").read_text() == storage.INSTANCE_YAML
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "dagster.yaml").write_text("telemetry:\n  enabled: false\n# mine\n")
    monkeypatch.setenv("DAGSTER_HOME", str(mine))
    with local_instance() as instance:
        assert (mine / "dagster.yaml").read_text().endswith("# mine\n")
        assert not isinstance(instance.event_log_storage, storage.KeptSqliteEventLogStorage)


def test_a_range_run_is_stored_as_dagster_stores_it_and_a_home_switched_back_keeps_it(home: Path) -> None:
    with local_instance() as instance:
        result = dg.materialize([monthly, whole], instance=instance, tags=RANGE)
        assert result.success
        run_id = result.run_id
        materialized = events_of(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert sorted(e.dagster_event.partition or "" for e in materialized) == [
            "",
            "2026-01-01",
            "2026-02-01",
            "2026-03-01",
        ]
        planned = events_of(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        assert len(planned) >= 4  # a planned event per month, and the unpartitioned asset's
        keys = instance.get_materialized_partitions(dg.AssetKey("monthly"))
        assert keys == {"2026-01-01", "2026-02-01", "2026-03-01"}
        count = len(instance.all_logs(run_id))
    plain = DagsterSqliteStorage(str(home))  # Dagster's own storage on the same folder
    try:
        assert len(plain.event_log_storage.get_logs_for_run(run_id)) == count
        assert (
            plain.run_storage.get_runs(dg.RunsFilter(run_ids=[run_id]))[0].status
            == dg.DagsterRunStatus.SUCCESS
        )
    finally:
        plain.dispose()
    with dg.DagsterInstance.from_config(str(home)) as again:  # another instance: other connections
        assert len(again.all_logs(run_id)) == count
        assert again.get_materialized_partitions(dg.AssetKey("monthly")) == keys


def commits_during(event_log: storage.KeptSqliteEventLogStorage, action) -> int:
    """How many transactions were committed on the event log's databases while ``action`` ran."""
    counted: list[int] = []

    def count(conn) -> None:
        counted.append(1)

    db.event.listen(db.engine.Engine, "commit", count)
    try:
        action()
    finally:
        db.event.remove(db.engine.Engine, "commit", count)
    return len(counted)


def test_a_batch_is_one_transaction_per_database_and_a_failed_one_leaves_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_instance() as instance:
        run_id = dg.materialize([whole], instance=instance).run_id
        event_log = instance.event_log_storage
        assert isinstance(event_log, storage.KeptSqliteEventLogStorage)
        before = len(event_log.get_logs_for_run(run_id))
        batch = [
            dg.EventLogEntry(
                error_info=None,
                level="debug",
                user_message="",
                run_id=run_id,
                timestamp=1_800_000_000.0 + i,
                dagster_event=dg.DagsterEvent(
                    dg.DagsterEventType.ASSET_MATERIALIZATION.value,
                    "job",
                    event_specific_data=StepMaterializationData(
                        dg.AssetMaterialization(asset_key="batched", partition=f"p{i}")
                    ),
                ),
            )
            for i in range(6)
        ]
        calls = {"n": 0}
        original = storage.KeptSqliteEventLogStorage._store_asset_event

        def third_fails(self, conn, event, event_id) -> None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("disk full")
            original(self, conn, event, event_id)

        monkeypatch.setattr(storage.KeptSqliteEventLogStorage, "_store_asset_event", third_fails)
        with pytest.raises(RuntimeError, match="disk full"):
            event_log.store_event_batch(batch)
        assert len(event_log.get_logs_for_run(run_id)) == before  # the first two were rolled back
        assert event_log.get_materialized_partitions(dg.AssetKey("batched")) == set()
        monkeypatch.setattr(storage.KeptSqliteEventLogStorage, "_store_asset_event", original)
        commits = commits_during(event_log, lambda: event_log.store_event_batch(batch))
        assert commits == 2  # the run's database and the index, not two per event
        assert len(event_log.get_logs_for_run(run_id)) == before + 6
        assert event_log.get_materialized_partitions(dg.AssetKey("batched")) == {f"p{i}" for i in range(6)}
        one = commits_during(event_log, lambda: event_log.store_event(batch[0]))
        assert one == 2  # outside a batch each event commits on its own, as in Dagster's storage


def test_only_the_index_and_the_latest_run_databases_keep_a_connection(home: Path) -> None:
    with local_instance() as instance:
        runs = [dg.materialize([whole], instance=instance).run_id for _ in range(storage.RUN_SHARDS_KEPT + 2)]
        event_log = instance.event_log_storage
        assert isinstance(event_log, storage.KeptSqliteEventLogStorage)
        kept = list(event_log._engines)
        assert "index" in kept
        assert sorted(s for s in kept if s != "index") == sorted(runs[-storage.RUN_SHARDS_KEPT :])
        assert len(instance.all_logs(runs[0])) > 0  # an older run reopens its database when read
        instance.wipe()
        assert not list((home / "history" / "runs").glob(f"{runs[0]}.db"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_writes_through_connections_of_its_own(home: Path) -> None:
    with local_instance() as instance:
        run_id = dg.materialize([whole], instance=instance).run_id
        before = len(instance.all_logs(run_id))
        pid = os.fork()
        if pid == 0:  # the child: report an event on the inherited instance, then leave at once
            code = 1
            try:
                instance.report_engine_event("from the child", instance.get_run_by_id(run_id))
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        logs = instance.all_logs(run_id)
        assert len(logs) == before + 1 and logs[-1].dagster_event.message == "from the child"
