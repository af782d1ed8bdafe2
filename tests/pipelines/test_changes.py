"""Change capture catches deletions on the next run (``Incremental.count_path``, pipelines/changes.py).

Against the Harvest sandbox in process: a dimension staged once, then changed through the sandbox's
admin API. A deleted project is gone after the next run (not a week later); an unchanged dimension
costs exactly one request more than before (the count); an insert and a delete in the same interval
still force the full read; an insert alone is merged without one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from connectors import get_source
from connectors.core.entity import Entity, FanOut, Incremental, Paging, PagingKind, cols
from connectors.core.errors import ResponseShapeError
from connectors.core.http import RetryPolicy
from connectors.core.settings import resolve_settings
from pipelines.changes import FULL_REFRESH_AT
from pipelines.staging import StageReport, Staging, stage_entity
from sandbox.common import SandboxOptions
from sandbox.harvest import create_app
from sandbox.org import OrgOptions

OPTIONS = SandboxOptions(org=OrgOptions(history_days=30, users=4, clients=3), rate_limit=False)
SOURCE = get_source("harvest")
BASE = "http://sandbox/harvest"
SETTINGS = resolve_settings(
    SOURCE,
    environ={
        "HARVEST_BASE_URL": BASE,
        "HARVEST_ACCESS_TOKEN": OPTIONS.harvest_token,
        "HARVEST_ACCOUNT_ID": str(OPTIONS.harvest_account_id),
    },
)


class Harvest:
    """A fresh Harvest sandbox mounted at /harvest, and staging runs against it."""

    def __init__(self, tmp_path: Path) -> None:
        self.app = create_app(OPTIONS)
        self.root = Starlette(routes=[Mount("/harvest", app=self.app)])
        self.staging = Staging(tmp_path)

    def stage(self, entity: Entity | str = "projects", **kw: Any) -> StageReport:
        transport = httpx.ASGITransport(app=self.root)
        return stage_entity(SOURCE, SETTINGS, "h", entity, self.staging, transport=transport, **kw)

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.root), base_url=BASE) as c:
                return await c.request(method, "/_admin" + path, json=body)

        r = asyncio.run(go())
        assert r.status_code in (200, 201), r.text
        return r.json()

    def ids(self, entity: str = "projects") -> set[int]:
        return set(self.staging.read("h", SOURCE.entity(entity)).column("id").to_pylist())

    def requests(self, path: str) -> list[dict[str, str]]:
        log = self.app.state.sandbox.state.log
        return [dict(item["params"]) for item in log.snapshot(path)["requests"]]


def test_a_deleted_project_is_gone_after_the_next_run(tmp_path: Path) -> None:
    h = Harvest(tmp_path)
    assert h.stage().mode == "full"
    before = h.ids()
    gone = sorted(before)[1]
    h.admin("DELETE", f"/projects/{gone}")
    report = h.stage()
    assert report.mode == f"full: {len(before)} staged vs {len(before) - 1} at the source"
    assert h.ids() == before - {gone}
    assert report.partitions == {"all": len(before) - 1}
    # The full read stamped the file anew: the next run is a change read again, and agrees.
    assert h.stage().mode.startswith("changes since")
    assert h.ids() == before - {gone}


def test_an_unchanged_dimension_costs_exactly_one_extra_request(tmp_path: Path) -> None:
    h = Harvest(tmp_path)
    uncounted = SOURCE.entity("clients")
    assert uncounted.incremental is not None
    uncounted = dataclasses.replace(
        uncounted, incremental=dataclasses.replace(uncounted.incremental, count_path=None)
    )
    h.stage("clients")
    staged = h.ids("clients")
    without = h.stage(uncounted)
    counted = h.stage("clients")
    assert without.mode.startswith("changes since") and counted.mode.startswith("changes since")
    assert (without.stats["requests"], counted.stats["requests"]) == (1, 2)
    assert h.ids("clients") == staged
    probe, changes = h.requests("/v2/clients")[-2:]
    assert probe == {"per_page": "1"}  # the whole list, one record a page: total_entries
    assert "updated_since" in changes and changes["per_page"] == "2000"


def test_an_insert_and_a_delete_in_the_same_interval_are_still_caught(tmp_path: Path) -> None:
    h = Harvest(tmp_path)
    h.stage("clients")
    before = h.ids("clients")
    new = h.admin("POST", "/clients", {"name": "Newco"})["id"]
    gone = sorted(before)[0]
    h.admin("DELETE", f"/clients/{gone}")
    report = h.stage("clients")
    # The insert is merged, the deleted client is still staged: one more than the source holds.
    assert report.mode == f"full: {len(before) + 1} staged vs {len(before)} at the source"
    assert report.changed >= 1  # Newco, and the newest staged record again (one second of overlap)
    assert h.ids("clients") == (before - {gone}) | {new}


def test_an_insert_alone_is_merged_without_a_full_read(tmp_path: Path) -> None:
    h = Harvest(tmp_path)
    h.stage()
    client = h.app.state.sandbox.dims("clients")[0]["id"]
    new = h.admin("POST", "/projects", {"name": "Relaunch", "client_id": client})["id"]
    report = h.stage()
    assert report.mode.startswith("changes since") and report.changed >= 1
    assert new in h.ids() and report.stats["requests"] == 2
    path = h.staging.path("h", "projects", "all")
    assert FULL_REFRESH_AT in (pq.read_schema(path).metadata or {})  # still the first full read's time


def test_a_count_needs_one_unwindowed_series_with_a_page_size() -> None:
    spec = cols("id:int! updated_at:datetime")
    counted = Incremental("updated_since", "updated_at", count_path="total")
    paged = Paging(PagingKind.NEXT_LINK, size_param="per_page", size=100, next_path="next")
    Entity("things", "/things", spec, envelope="things", paging=paged, incremental=counted)
    with pytest.raises(
        ValueError, match=r"entity 'things': incremental.count_path needs .*paging.size_param"
    ):
        Entity("things", "/things", spec, envelope="things", incremental=counted)
    with pytest.raises(ValueError, match=r"entity 'things': incremental.count_path"):
        Entity(
            "things",
            "/p/{p}/things",
            spec,
            envelope="things",
            paging=paged,
            incremental=counted,
            fan_out=FanOut(parent="ps", target="p"),
        )


def test_a_count_answer_without_the_count_names_the_entity_and_the_fix(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        rows = [{"id": 1, "name": "Acme", "updated_at": "2026-01-01T10:00:00Z"}]
        return httpx.Response(200, json={"clients": rows, "links": {"next": None}})  # no total_entries

    staging = Staging(tmp_path)
    run = dict(transport=httpx.MockTransport(handler), retry=RetryPolicy(max_attempts=1))
    assert stage_entity(SOURCE, SETTINGS, "h", "clients", staging, **run).mode == "full"
    with pytest.raises(ResponseShapeError) as caught:
        stage_entity(SOURCE, SETTINGS, "h", "clients", staging, **run)
    message = str(caught.value)
    assert "total_entries" in message and "incremental.count_path" in message and "clients" in message
    assert staging.rows("h", "clients", "all") == 1  # the staged file is untouched


def test_the_first_read_and_a_full_refresh_ask_no_count(tmp_path: Path) -> None:
    h = Harvest(tmp_path)
    h.stage("clients")
    report = h.stage("clients", full_refresh=True)
    assert report.mode == "full" and report.stats["requests"] == 1
    assert all(q.get("per_page") != "1" for q in h.requests("/v2/clients"))
    assert dt.datetime.fromisoformat(
        (pq.read_schema(h.staging.path("h", "clients", "all")).metadata or {})[FULL_REFRESH_AT].decode()
    )
