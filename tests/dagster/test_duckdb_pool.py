"""One Dagster concurrency pool per DuckDB file: its writers queue when the instance limits the pool.

Every publish asset writing a DuckDB output declares ``duckdb:<absolute path>``; outputs writing the
same file share it, other destinations have none. With ``concurrency: pools: default_limit: 1`` a
run whose output writes a file that another run is writing waits for the slot, then writes.
"""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.build import build_definitions
from pipelines.loader import load_flows

FLOW = """
connections:
  cl: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}}
flows:
  f:
    sources:
      customers: {connection: cl, entity: customers}
      users: {connection: cl, entity: users}
    outputs:
      - {from: customers, to: {duckdb: {path: out dir/w.duckdb, table: customers}}, allow_empty: true}
      - {from: users, to: {duckdb: {path: ./out dir/../out dir/w.duckdb, table: users}}, allow_empty: true}
      - {from: users, to: {duckdb: {path: other.duckdb, table: users}}, allow_empty: true, name: other}
      - {from: users, to: {excel: {path: out/users.xlsx, sheet: Users}}, allow_empty: true}
"""


@pytest.fixture
def defs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    return build_definitions(load_flows([path]), data_dir=str(tmp_path / "data"))


def pool(defs: dg.Definitions, output: str) -> str | None:
    return defs.get_assets_def(dg.AssetKey(["publish", "f", output])).op.pool


def test_each_duckdb_file_is_a_pool(defs: dg.Definitions, tmp_path: Path) -> None:
    shared = f"duckdb:{tmp_path}/out%20dir/w.duckdb"  # absolute, whitespace escaped
    assert pool(defs, "customers") == shared
    assert pool(defs, "users") == shared  # the same file, spelled differently
    assert pool(defs, "other") == f"duckdb:{tmp_path}/other.duckdb"
    assert pool(defs, "xlsx_users") is None


def test_a_second_writer_of_the_file_queues_on_the_pool(defs: dg.Definitions, tmp_path: Path) -> None:
    key = dg.AssetKey(["publish", "f", "customers"])
    name = pool(defs, "customers")
    assert name is not None
    overrides = {"concurrency": {"pools": {"default_limit": 1}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(name)
        # Another run's step writing the same file holds the pool's only slot.
        assert storage.claim_concurrency_slot(name, "other-run", "publish__f__users").is_claimed
        done: dict[str, dg.ExecuteInProcessResult] = {}

        def run() -> None:
            done["result"] = defs.resolve_job_def("f").execute_in_process(
                instance=instance,
                asset_selection=[key],
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            )

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(1.5)
        assert thread.is_alive() and not (tmp_path / "out dir" / "w.duckdb").exists()  # queued
        storage.free_concurrency_slots_for_run("other-run")
        thread.join(60)
        assert not thread.is_alive() and done["result"].success
    with duckdb.connect(str(tmp_path / "out dir" / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (0,)


def test_each_source_account_is_a_pool(defs: dg.Definitions) -> None:
    """Every read of one account shares ``source:<connection>``: limited to one slot on the
    instance, runs that read the same account queue, and its published rate limits hold."""
    for entity in ("customers", "users"):
        assert defs.get_assets_def(dg.AssetKey(["raw", "cl", entity])).op.pool == "source:cl"
