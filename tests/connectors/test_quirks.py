"""Quirk tests for Clockify and Harvest, beside the generated standard tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from connectors import get_source
from connectors.core.extract import Extractor
from connectors.core.http import RetryPolicy
from connectors.core.records import iso_duration_seconds
from connectors.core.settings import resolve_settings
from pipelines.staging import Staging, stage_entity

FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)
CLOCKIFY_ENV = {
    "CLOCKIFY_API_KEY": "k",
    "CLOCKIFY_WORKSPACE_ID": "ws1",
    "CLOCKIFY_BASE_URL": "https://c.test/api",
}
HARVEST_ENV = {"HARVEST_ACCESS_TOKEN": "t", "HARVEST_ACCOUNT_ID": "42", "HARVEST_BASE_URL": "https://h.test"}


def extract(
    source_name: str, env: dict, entity: str, handler, start=None, end=None
) -> tuple[pa.Table, list[httpx.Request]]:
    source = get_source(source_name)
    settings = resolve_settings(source, environ=env)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async def go():
        async with Extractor(source, settings, transport=httpx.MockTransport(record), retry=FAST) as ex:
            tables = [r.table async for r in ex.extract(entity, start, end)]
            return pa.concat_tables(tables)

    return asyncio.run(go()), seen


def test_clockify_time_entries_pad_the_window_and_keep_each_entry_once() -> None:
    # Entries at 23:30 UTC on both edges: the server reads bounds as local wall-clock time, so a
    # window must be padded; each entry belongs to the slice its UTC start falls in.
    entries = {
        "e1": "2026-01-31T23:30:00Z",  # before the range: dropped
        "e2": "2026-02-01T00:30:00Z",
        "e3": "2026-03-03T23:30:00Z",  # in the second slice
        "e4": "2026-03-04T00:10:00Z",  # after the range: dropped
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/users"):
            return httpx.Response(200, json=[{"id": "u1", "name": "Ann"}], headers={"Last-Page": "true"})
        start = dt.datetime.fromisoformat(request.url.params["start"].replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(request.url.params["end"].replace("Z", "+00:00"))
        rows = [
            {"id": i, "userId": "u1", "timeInterval": {"start": s, "end": s, "duration": "PT1H"}}
            for i, s in entries.items()
            if start <= dt.datetime.fromisoformat(s.replace("Z", "+00:00")) < end
        ]
        return httpx.Response(200, json=rows, headers={"Last-Page": "true"})

    table, seen = extract(
        "clockify", CLOCKIFY_ENV, "time_entries", handler, dt.date(2026, 2, 1), dt.date(2026, 3, 4)
    )
    assert sorted(table.column("id").to_pylist()) == ["e2", "e3"]
    windows = [(r.url.params["start"], r.url.params["end"]) for r in seen if "time-entries" in r.url.path]
    assert windows[0] == ("2026-01-31T00:00:00Z", "2026-03-05T00:00:00Z")  # [Feb 1 - 1 day, Mar 4 + 1 day)
    assert all("X-Api-Key" in r.headers and "authorization" not in r.headers for r in seen)


def test_clockify_unpaged_endpoint_is_asked_once() -> None:
    # A collection as long as a page, no Last-Page header: a short-page paginator would loop forever.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"id": f"f{i}", "name": "x"} for i in range(1000)])

    table, seen = extract("clockify", CLOCKIFY_ENV, "custom_fields", handler)
    assert len(seen) == 1 and table.num_rows == 1000


def test_clockify_stops_on_last_page_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        rows = [{"id": f"t{page}-{i}", "name": "x"} for i in range(1000)]  # always full pages
        return httpx.Response(200, json=rows, headers={"Last-Page": "true" if page == 2 else "false"})

    table, seen = extract("clockify", CLOCKIFY_ENV, "user_groups", handler)  # one request series
    assert [int(r.url.params["page"]) for r in seen] == [1, 2]
    assert table.num_rows == 2000


def test_clockify_cents_and_iso_durations() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[
                {
                    "id": "p1",
                    "hourlyRate": {"amount": 4550, "currency": "EUR"},
                    "duration": "PT2H54M",
                    "estimate": {"estimate": "P1DT2H"},
                }
            ],
            headers={"Last-Page": "true"},
        )

    (row,) = extract("clockify", CLOCKIFY_ENV, "projects", handler)[0].to_pylist()
    assert (
        row["hourlyRate_amount"] == 4550 and row["hourlyRate"] == 45.5 and row["hourlyRate_currency"] == "EUR"
    )
    assert row["duration"] == "PT2H54M" and row["duration_seconds"] == 2 * 3600 + 54 * 60
    assert row["estimate_seconds"] == 26 * 3600
    assert iso_duration_seconds("PT0S") == 0 and iso_duration_seconds("PT1.5S") == 1.5


def test_clockify_workspace_discovery() -> None:
    env = {k: v for k, v in CLOCKIFY_ENV.items() if k != "CLOCKIFY_WORKSPACE_ID"}

    def one(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/v1/workspaces"):
            return httpx.Response(200, json=[{"id": "only", "name": "Agency"}])
        return httpx.Response(200, json=[], headers={"Last-Page": "true"})

    _, seen = extract("clockify", env, "tags", one)
    assert seen[-1].url.path == "/api/v1/workspaces/only/tags"

    def two(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=[{"id": "a1", "name": "Agency"}, {"id": "b2", "name": "Side project"}]
        )

    from connectors.core.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"CLOCKIFY_WORKSPACE_ID to one of: a1 \(Agency\); b2 \(Side project\)"
    ):
        extract("clockify", env, "tags", two)


def test_clockify_region_sets_both_hosts() -> None:
    s = resolve_settings(get_source("clockify"), environ={"CLOCKIFY_API_KEY": "k", "CLOCKIFY_REGION": "euc1"})
    assert (
        s["base_url"] == "https://euc1.clockify.me/api"
        and s["reports_url"] == "https://euc1.clockify.me/report"
    )
    s = resolve_settings(get_source("clockify"), environ={"CLOCKIFY_API_KEY": "k"})
    assert s["reports_url"] == "https://reports.api.clockify.me"


def _harvest_pages(total: int, per_page: int, key: str, make):
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", 1))
        chunk = [make(i) for i in range((page - 1) * per_page, min(page * per_page, total))]
        pages = -(-total // per_page)
        nxt = str(request.url.copy_set_param("page", page + 1)) if page < pages else None
        return httpx.Response(200, json={key: chunk, "per_page": per_page, "links": {"next": nxt}})

    return handler


def test_harvest_follows_links_next_over_several_pages() -> None:
    handler = _harvest_pages(
        5, 2, "clients", lambda i: {"id": i + 1, "name": f"c{i}", "updated_at": "2026-01-01T00:00:00Z"}
    )
    table, seen = extract("harvest", HARVEST_ENV, "clients", handler)
    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5]
    assert [r.url.params.get("page") for r in seen] == [None, "2", "3"]
    first = seen[0]
    assert first.url.params["per_page"] == "2000"
    assert first.headers["Authorization"] == "Bearer t" and first.headers["Harvest-Account-Id"] == "42"
    assert first.headers["User-Agent"].startswith("couplet")


def test_harvest_report_windows_are_split_per_year() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        frm = request.url.params["from"]
        return httpx.Response(
            200,
            json={
                "results": [{"client_id": 1, "currency": "EUR", "total_hours": float(frm[:4])}],
                "links": {"next": None},
            },
        )

    table, seen = extract(
        "harvest", HARVEST_ENV, "report_time_clients", handler, dt.date(2025, 1, 1), dt.date(2027, 1, 1)
    )
    assert sorted((r.url.params["from"], r.url.params["to"]) for r in seen) == [
        ("20250101", "20251231"),
        ("20260101", "20261231"),
    ]
    assert sorted(table.column("total_hours").to_pylist()) == [2025.0, 2026.0]


def test_harvest_updated_since_upserts_edits(tmp_path: Path) -> None:
    clients = {1: ("Acme", "2026-01-01T10:00:00Z"), 2: ("Globex", "2026-01-02T10:00:00Z")}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        since = request.url.params.get("updated_since")
        rows = [
            {"id": i, "name": n, "updated_at": u}
            for i, (n, u) in clients.items()
            if since is None or u >= since
        ]
        per_page = int(request.url.params.get("per_page", 2000))  # 1: the count probe
        body = {"clients": rows[:per_page], "total_entries": len(rows), "links": {"next": None}}
        return httpx.Response(200, json=body)

    source = get_source("harvest")
    settings = resolve_settings(source, environ=HARVEST_ENV)
    staging = Staging(tmp_path)
    first = stage_entity(source, settings, "h", "clients", staging, transport=httpx.MockTransport(handler))
    assert first.mode == "full" and first.rows == 2
    clients[2] = ("Globex Corp", "2026-01-05T09:00:00Z")  # edited
    clients[3] = ("Initech", "2026-01-05T09:30:00Z")  # new
    second = stage_entity(source, settings, "h", "clients", staging, transport=httpx.MockTransport(handler))
    assert seen[-1].url.params["updated_since"] == "2026-01-02T09:59:59Z"  # newest staged, minus a second
    assert second.mode.startswith("changes since") and second.changed == 2
    rows = {r["id"]: r["name"] for r in staging.read("h", source.entity("clients")).to_pylist()}
    assert rows == {1: "Acme", 2: "Globex Corp", 3: "Initech"}
    full = stage_entity(
        source, settings, "h", "clients", staging, transport=httpx.MockTransport(handler), full_refresh=True
    )
    assert full.mode == "full" and "updated_since" not in seen[-1].url.params


def test_harvest_line_items_come_from_invoices() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        invoice = {
            "id": 9,
            "line_items": [
                {"id": 1, "amount": 10.0},
                {"id": 2, "amount": 5.0, "project": {"id": 3, "name": "P"}},
            ],
        }
        return httpx.Response(
            200, json={"invoices": [invoice, {"id": 10, "line_items": []}], "links": {"next": None}}
        )

    table, _ = extract("harvest", HARVEST_ENV, "invoice_line_items", handler)
    assert [(r["invoice_id"], r["id"], r["project_id"]) for r in table.to_pylist()] == [
        (9, 1, None),
        (9, 2, 3),
    ]


def test_clockify_detailed_report_is_a_paged_post() -> None:
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        page = body["detailedFilter"]["page"]
        rows = [
            {
                "_id": f"{page}-{i}",
                "timeInterval": {"start": "2026-02-01T09:00:00+00:00", "duration": 3600},
                "amount": 12345,
            }
            for i in range(1000 if page == 1 else 3)
        ]
        return httpx.Response(200, json={"totals": [], "timeentries": rows})

    env = {**CLOCKIFY_ENV, "CLOCKIFY_REPORTS_URL": "https://r.test"}
    table, seen = extract(
        "clockify", env, "detailed_report", handler, dt.date(2026, 2, 1), dt.date(2026, 2, 2)
    )
    assert table.num_rows == 1003 and seen[0].method == "POST" and seen[0].url.host == "r.test"
    assert bodies[0]["timeZone"] == "UTC" and bodies[0]["dateRangeStart"] == "2026-02-01T00:00:00Z"
    assert [b["detailedFilter"]["page"] for b in bodies] == [1, 2] and bodies[0]["detailedFilter"][
        "pageSize"
    ] == 1000
    assert table.column("amount_units").to_pylist()[0] == 123.45
