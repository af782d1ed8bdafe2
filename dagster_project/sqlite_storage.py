"""The local Dagster instance's storage: Dagster's SQLite storages, keeping their connections open.

Dagster's SQLite run and event-log storages build a new SQLAlchemy engine and open a new SQLite
connection for every statement they run, and the event log does so twice for each asset event (the
run's own database, then the cross-run index). A run of one monthly-partitioned asset over two years
stores ~75 events, and the connecting alone was ~0.45 s of a 5.5 s ``couplet flows run`` (measured,
``bench/README.md``). These subclasses change only that: each database keeps one engine whose pool
holds one open connection, reused statement after statement. Everything else (the tables, their
layout under ``$DAGSTER_HOME/history``, WAL journaling, the Alembic migrations, the watchers) is
Dagster's own, so a home switched to this storage keeps its runs, and one switched back keeps them
too.

- Per-run databases: the index and the ``RUN_SHARDS_KEPT`` most recently used run databases keep
  their engines; older ones are closed, so a webserver that reads a thousand runs does not hold a
  thousand files open.
- Several processes (CLI, webserver, daemon, run workers) may write at once, as with Dagster's own:
  SQLite's WAL and busy timeout arbitrate; an idle open connection holds no lock.
- A forked child drops the engines it inherited (SQLAlchemy's advice for ``multiprocessing``) and
  opens its own.

``dagster_project.flows_run.local_instance`` writes this storage into a new ``dagster.yaml``
(``INSTANCE_YAML``); a ``dagster.yaml`` of your own (PostgreSQL, ``deploy/dagster.yaml``) is never
changed.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
import yaml
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData

EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE"
RUN_SHARDS_KEPT = 4  # run databases whose connection stays open, besides the index

INSTANCE_YAML = """\
# Written by couplet on first use. Edit freely: couplet never rewrites a dagster.yaml it did not write.
telemetry:
  enabled: false
# Dagster's SQLite storage under this folder, keeping its connections open (dagster_project/sqlite_storage.py)
storage:
  custom:
    module: dagster_project.sqlite_storage
    class: CoupletSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
"""
OLD_INSTANCE_YAMLS = ("telemetry:\n  enabled: false\n",)  # what earlier couplet versions wrote

_storages: weakref.WeakSet[Any] = weakref.WeakSet()


def _engine(conn_string: str) -> db.Engine:
    """One pooled connection, reused; extra threads get short-lived overflow connections."""
    return db.create_engine(
        conn_string,
        poolclass=db.pool.QueuePool,
        pool_size=1,
        max_overflow=8,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )


def _after_fork() -> None:
    for storage in list(_storages):
        storage.forget_engines()


os.register_at_fork(after_in_child=_after_fork)


class KeptSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage with one engine for its one database."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(conn_string, inst_data)
        self._engine = _engine(conn_string)
        _storages.add(self)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> KeptSqliteRunStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[db.Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def forget_engines(self) -> None:
        self._engine.dispose(close=False)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event-log storage with an engine for the index and the latest run databases."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, db.Engine] = OrderedDict()  # most recently used last
        self._tables: set[str] = set()  # index tables known to exist (tables are never dropped)
        self._engines_lock = threading.Lock()
        self._batch = threading.local()  # .held: shard -> connection in a transaction, during a batch
        super().__init__(base_dir, inst_data)
        _storages.add(self)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> KeptSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine_for(self, shard: str) -> db.Engine:
        with self._engines_lock:
            engine = self._engines.pop(shard, None) or _engine(self.conn_string_for_shard(shard))
            self._engines[shard] = engine
            runs = [s for s in self._engines if s != INDEX_SHARD_NAME]
            for old in runs[: max(0, len(runs) - RUN_SHARDS_KEPT)]:
                self._engines.pop(old).dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        held: dict[str, db.Connection] | None = getattr(self._batch, "held", None)
        with self._db_lock:
            if held is not None and shard in held:
                yield held[shard]
                return
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            if held is not None:  # this batch's first use of the database: open its transaction
                conn = engine.connect()
                conn.begin()
                held[shard] = conn
                yield conn
                return
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A batch (a run's planned events, a partition range's materializations) in one transaction
        per database, where Dagster's SQLite storage commits each event on its own. Dagster hands
        batches over when ``DAGSTER_EVENT_BATCH_SIZE`` is set (``CoupletSqliteStorage`` sets it)."""
        if len(events) < 2 or getattr(self._batch, "held", None) is not None:
            super().store_event_batch(events)
            return
        held: dict[str, db.Connection] = {}
        self._batch.held = held
        try:
            super().store_event_batch(events)  # one store_event each, on the held connections
            for conn in held.values():
                conn.commit()
        finally:
            self._batch.held = None
            for conn in held.values():
                conn.close()  # rolls back what was not committed: Dagster then stores one by one

    def has_table(self, table_name: str) -> bool:
        # Dagster asks this for every asset event; it may be asked inside an index transaction (the
        # lock is held then), so the first answer comes from a connection of its own, as Dagster's does.
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def forget_engines(self) -> None:
        """In a forked child: the parent's connections are the parent's (and so may be its lock)."""
        self._engines_lock = threading.Lock()
        for engine in self._engines.values():
            engine.dispose(close=False)
        self._engines.clear()

    def _close_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._close_engines()  # before the run databases' files are deleted
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_engines()


class CoupletSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage layout under ``base_dir`` (``$DAGSTER_HOME``), with kept connections.

    ``dagster.yaml``::

        storage:
          custom:
            module: dagster_project.sqlite_storage
            class: CoupletSqliteStorage
            config: {base_dir: {env: DAGSTER_HOME}}
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        # Dagster hands events over in batches only when this is set; the event log above writes a
        # batch in one transaction per database (a run's planned events, a range's materializations).
        os.environ.setdefault(EVENT_BATCH_SIZE, "1000")
        self.base_dir = base_dir
        self._run_storage = KeptSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = KeptSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()  # not DagsterSqliteStorage.__init__: it builds its own

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> CoupletSqliteStorage:  # type: ignore[override]
        return cls.from_local(inst_data=inst_data, **config_value)

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        return _class_data(KeptSqliteEventLogStorage, _event_logs_directory(self.base_dir))

    @property
    def run_storage_data(self) -> ConfigurableClassData | None:
        return _class_data(KeptSqliteRunStorage, _runs_directory(self.base_dir))


def _class_data(cls: type, base_dir: str) -> ConfigurableClassData:
    return ConfigurableClassData(__name__, cls.__name__, yaml.safe_dump({"base_dir": base_dir}))
