"""Staging keeps a file per month; a read replaces exactly the days it covered.

A look-back across a month boundary replaces those days in both months' files and keeps the other
days; a record deleted at the source disappears; a month with nothing read and nothing staged gets
no file, a month whose records all went gets an empty one; files of the former per-day layout are
folded into month files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.core.entity import Entity, Partitioning, Setting, Source, Window, cols
from connectors.core.errors import ConnectorError
from connectors.core.http import RetryPolicy
from connectors.core.settings import resolve_settings
from pipelines.staging import Staging, stage_entity

ENTITY = Entity(
    "events",
    "/events",
    cols("id:int! day:date note:str"),
    envelope="data",
    window=Window(Partitioning.DAILY, "from", "to", max_days=10, partition_field="day"),
)
SOURCE = Source(
    "t",
    "T",
    (ENTITY,),
    (Setting("base_url", "T_URL"), Setting("key", "T_KEY", secret=True)),
    headers=lambda v: {},
)
SETTINGS = resolve_settings(SOURCE, environ={"T_URL": "https://t.test", "T_KEY": "k"})


class API:
    """One record a day from 2026-01-01 to 2026-03-31, editable."""

    def __init__(self) -> None:
        day0 = dt.date(2026, 1, 1)
        self.records = {
            i: {"id": i, "day": (day0 + dt.timedelta(days=i)).isoformat(), "note": "v1"} for i in range(90)
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        since, until = (dt.date.fromisoformat(request.url.params[k]) for k in ("from", "to"))
        rows = [r for r in self.records.values() if since <= dt.date.fromisoformat(r["day"]) < until]
        return httpx.Response(200, json={"data": rows})

    def stage(self, staging: Staging, start: str, end: str) -> None:
        stage_entity(
            SOURCE,
            SETTINGS,
            "t",
            ENTITY,
            staging,
            dt.date.fromisoformat(start),
            dt.date.fromisoformat(end),
            transport=httpx.MockTransport(self.handler),
            retry=RetryPolicy(max_attempts=1),
        )


def month(staging: Staging, key: str) -> dict[int, str]:
    table = pq.read_table(staging.path("t", "events", key))
    return dict(zip(table.column("id").to_pylist(), table.column("note").to_pylist(), strict=True))


def test_a_look_back_across_a_month_boundary_replaces_exactly_its_days(tmp_path: Path) -> None:
    api, staging = API(), Staging(tmp_path)
    api.stage(staging, "2026-01-01", "2026-04-01")
    assert sorted(p.stem for p in staging.files("t", "events")) == ["2026-01", "2026-02", "2026-03"]
    assert len(month(staging, "2026-01")) == 31 and len(month(staging, "2026-02")) == 28
    api.records[29]["note"] = "edited"  # 2026-01-30
    del api.records[32]  # 2026-02-02
    api.records[2]["note"] = "edited, but older than the look-back"  # 2026-01-03
    api.stage(staging, "2026-01-28", "2026-02-05")
    jan, feb = month(staging, "2026-01"), month(staging, "2026-02")
    assert len(jan) == 31 and jan[29] == "edited" and jan[2] == "v1"
    assert len(feb) == 27 and 32 not in feb and feb[40] == "v1"


def test_months_with_nothing_read(tmp_path: Path) -> None:
    api, staging = API(), Staging(tmp_path)
    api.stage(staging, "2025-11-01", "2026-01-05")
    assert sorted(p.stem for p in staging.files("t", "events")) == ["2026-01"]  # no empty files for nothing
    for i in range(4):
        del api.records[i]
    api.stage(staging, "2026-01-01", "2026-01-05")
    assert month(staging, "2026-01") == {}  # every record of those days went: the month is empty now


def test_files_of_the_per_day_layout_are_folded_into_months(tmp_path: Path) -> None:
    staging = Staging(tmp_path)
    folder = staging.folder("t", "events")
    folder.mkdir(parents=True)
    schema = pa.schema([("id", pa.int64()), ("_window_start", pa.date32())])
    for day in ("2026-01-30", "2026-01-31", "2026-02-01"):
        d = dt.date.fromisoformat(day)
        pq.write_table(
            pa.table({"id": [d.day], "_window_start": [d]}, schema=schema), folder / f"{day}.parquet"
        )
    assert [p.stem for p in staging.files("t", "events")] == ["2026-01", "2026-02"]
    assert pq.read_table(folder / "2026-01.parquet").column("id").to_pylist() == [30, 31]


def test_each_month_is_written_once_and_a_failed_read_keeps_the_months_it_did_not_finish(
    tmp_path: Path, monkeypatch
) -> None:
    api, staging = API(), Staging(tmp_path)
    writes: list[str] = []
    original = Staging.write

    def counted(self: Staging, connection: str, entity: str, key: str, table: pa.Table) -> Path:
        writes.append(key)
        return original(self, connection, entity, key, table)

    monkeypatch.setattr(Staging, "write", counted)
    api.stage(staging, "2026-01-01", "2026-04-01")  # 10-day windows: three or four per month
    assert sorted(writes) == ["2026-01", "2026-02", "2026-03"]
    for r in api.records.values():
        r["note"] = "v2"
    failing = api.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["from"] >= "2026-02-15":
            return httpx.Response(400, json={"error": "no"})
        return failing(request)

    api.handler = handler  # type: ignore[method-assign]
    with pytest.raises(ConnectorError):
        api.stage(staging, "2026-01-01", "2026-04-01")
    assert set(month(staging, "2026-01").values()) == {"v2"}  # read whole before the failure
    assert set(month(staging, "2026-02").values()) == {"v1"}  # half read: the file stays as it was


def test_an_extraction_raises_the_young_gc_threshold_only_while_it_runs(tmp_path: Path) -> None:
    import gc

    from connectors.core.gcscope import YOUNG_THRESHOLD, FewerCollections

    before = gc.get_threshold()
    seen: list[int] = []
    api, staging = API(), Staging(tmp_path)
    handler = api.handler

    def watching(request: httpx.Request) -> httpx.Response:
        seen.append(gc.get_threshold()[0])
        return handler(request)

    api.handler = watching  # type: ignore[method-assign]
    with FewerCollections():  # nested with a scope of its own: the inner end must not undo it
        api.stage(staging, "2026-01-01", "2026-01-20")
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    assert seen and set(seen) == {max(before[0], YOUNG_THRESHOLD)}
    assert gc.get_threshold() == before
