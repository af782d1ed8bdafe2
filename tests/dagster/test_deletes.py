"""Upsert outputs through Dagster: a record deleted at the source leaves the destination (hard), is
kept with ``_deleted_at`` (soft) or stays (keep); null keys are refused or dropped and counted; each
dated source of a look-back run re-reads its own ``lookback_days``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from dagster_project.build import build_definitions
from dagster_project.demo import demo_env
from dagster_project.translator import TAG_FLOWS, TAG_LOOKBACK
from pipelines.loader import FlowError, load_flows
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

from .helpers import QUIET, days, failures

FLOW = """
connections:
  cl: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
flows:
  wh:
    sources:
      entries: {connection: cl, entity: entries}
    outputs:
      - {from: entries, to: {duckdb: {path: out/wh.duckdb, table: entries}}, mode: upsert DELETES}
"""


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    server = start_background(SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=60)))
    for key, value in demo_env(server.base_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    yield server
    server.stop()


def defs_for(tmp_path: Path, text: str) -> dg.Definitions:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return build_definitions(load_flows([path]), data_dir=str(tmp_path / "data"))


def rows(sql: str) -> list[tuple]:
    with duckdb.connect("out/wh.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def run(
    defs: dg.Definitions, instance: dg.DagsterInstance, tags: dict[str, str]
) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("wh").execute_in_process(
        instance=instance, tags=tags, run_config=QUIET, raise_on_error=False
    )


@pytest.mark.parametrize("deletes", ["", ", deletes: hard", ", deletes: soft", ", deletes: keep"])
def test_a_record_deleted_at_the_source(sandbox, tmp_path: Path, deletes: str) -> None:
    defs = defs_for(tmp_path, FLOW.replace(" DELETES", deletes))
    may = days("2026-05-01", "2026-05-31")
    with dg.instance_for_test() as instance:
        assert run(defs, instance, days("2026-04-01", "2026-05-31")).success
        before = dict(rows("SELECT id, time_since FROM entries"))
        may_ids = [i for i, t in before.items() if t.date() >= dt.date(2026, 5, 1)]
        april_ids = [i for i, t in before.items() if t.date() < dt.date(2026, 5, 1)]
        gone, gone_in_april = may_ids[0], april_ids[0]
        for record in (gone, gone_in_april):
            httpx.delete(f"{sandbox.base_url}/clockodo/api/_admin/entries/{record}").raise_for_status()
        result = run(defs, instance, may)  # re-reads May only: May is authoritative, April is not
        assert result.success, failures(result)
    after = {r[0]: r[1:] for r in rows("SELECT * EXCLUDE (time_since) FROM entries")}
    columns = [r[0] for r in rows("SELECT column_name FROM (DESCRIBE entries)")]
    assert gone_in_april in after  # outside the re-read months: nobody can tell it went
    mode = deletes.split(": ")[-1] if deletes else "hard"
    if mode == "hard":
        assert gone not in after and len(after) == len(before) - 1
    elif mode == "soft":
        stamp = rows(f"SELECT _deleted_at FROM entries WHERE id = {gone}")[0][0]
        assert stamp is not None and len(after) == len(before)
        assert rows("SELECT count(*) FROM entries WHERE _deleted_at IS NOT NULL") == [(1,)]
    else:
        assert gone in after and "_deleted_at" not in columns
    mats = result.asset_materializations_for_node("publish__wh__entries")
    assert mats[0].metadata["rows_deleted"].value == (0 if mode == "keep" else 1)


def test_deletes_belong_to_upsert(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.replace("mode: upsert DELETES", "mode: replace, deletes: soft"))
    with pytest.raises(FlowError, match=r"flow\.yaml:\d+.*deletes: soft applies to mode upsert only"):
        load_flows([path])


NULL_KEYS = FLOW.replace(" DELETES", ", primary_key: [texts_id] NULLS")


def test_null_keys_are_refused_or_dropped_and_counted(sandbox, tmp_path: Path) -> None:
    may = days("2026-05-01", "2026-05-31")
    with dg.instance_for_test() as instance:
        result = run(defs_for(tmp_path, NULL_KEYS.replace(" NULLS", "")), instance, may)
        assert not result.success
        (message,) = failures(result)
        assert "have no value in primary key column(s) texts_id" in message
        assert "null_keys: drop" in message
        result = run(defs_for(tmp_path, NULL_KEYS.replace(" NULLS", ", null_keys: drop")), instance, may)
        assert result.success, failures(result)
    dropped = result.asset_materializations_for_node("publish__wh__entries")[0].metadata
    assert dropped["rows_dropped_null_key"].value > 0
    assert rows("SELECT count(*) FROM entries WHERE texts_id IS NULL") == [(0,)]


TWO = """
connections:
  a: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
  b: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
flows:
  wh:
    sources:
      short: {connection: a, entity: entries, lookback_days: 3}
      long: {connection: b, entity: entries, lookback_days: 20}
    outputs:
      - {from: short, to: {duckdb: {path: out/wh.duckdb, table: short}}}
      - {from: long, to: {duckdb: {path: out/wh.duckdb, table: long}}}
"""


def test_each_source_re_reads_its_own_look_back(sandbox, tmp_path: Path) -> None:
    defs = defs_for(tmp_path, TWO)
    tags = {**days("2026-05-11", "2026-05-31"), TAG_LOOKBACK: "1", TAG_FLOWS: "wh"}  # today: 05-31
    with dg.instance_for_test() as instance:
        result = run(defs, instance, tags)
        assert result.success, failures(result)
    read = {
        node: result.asset_materializations_for_node(node)[-1].metadata["read"].value
        for node in ("raw__a__entries", "raw__b__entries")
    }
    assert read == {"raw__a__entries": "2026-05-28..2026-06-01", "raw__b__entries": "2026-05-11..2026-06-01"}
