"""The drift fingerprint: a year of per-(series, day) figures in one request (connectors/core/drift.py).

Against a fake Clockodo answering ``/userreports`` and ``/v3/users`` in the reference's shapes
(clockodo.md §3.16, §3.4): the request asked, the days read (future days without ``hours`` left
out), loud errors for a changed answer, and the people's time zones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
import pytest

from connectors import get_source
from connectors.core.drift import fingerprint, series_zones
from connectors.core.errors import ResponseShapeError
from connectors.core.extract import Extractor
from tests.connectors.fakeapi import settings_for

SOURCE = get_source("clockodo")
ENTRIES = SOURCE.entity("entries")


def day(date: str, hours: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"date": date, "weekday": 1, "nonbusiness": False, "target": 28800}
    if hours is not None:
        out["hours"] = hours
    return out


def report(users_id: int, days: list[dict[str, Any]]) -> dict[str, Any]:
    weeks = [{"nr": 1, "sum_hours": 0, "day_details": days}]
    return {"users_id": users_id, "sum_hours": 0, "month_details": [{"nr": 1, "week_details": weeks}]}


def run(
    body: Any, calls: list[httpx.Request] | None = None, users: list[dict[str, Any]] | None = None
) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        if calls is not None:
            calls.append(request)
        if request.url.path.endswith("/v3/users"):
            return httpx.Response(
                200, json={"data": users or [], "paging": {"count_pages": 1, "current_page": 1}}
            )
        return httpx.Response(200, content=json.dumps(body).encode())

    async def go() -> Any:
        async with Extractor(SOURCE, settings_for(SOURCE), transport=httpx.MockTransport(answer)) as ex:
            return await fingerprint(ex, ENTRIES, 2024), await series_zones(ex, ENTRIES)

    return asyncio.run(go())


def test_one_request_a_year_reads_each_users_hours_per_day() -> None:
    calls: list[httpx.Request] = []
    body = {
        "userreports": [
            report(7, [day("2024-01-01", 3600), day("2024-01-02", 0), day("2024-12-31", None)]),
            report(8, [day("2024-01-01", 7200)]),
        ]
    }
    figures, _ = run(body, calls)
    assert figures == {
        (7, dt.date(2024, 1, 1)): 3600.0,
        (7, dt.date(2024, 1, 2)): 0.0,
        (8, dt.date(2024, 1, 1)): 7200.0,
    }
    reports = [c for c in calls if c.url.path.endswith("/userreports")]
    assert len(reports) == 1 and reports[0].method == "GET"
    assert dict(reports[0].url.params) == {"year": "2024", "type": "3"}  # days need type 3 (§3.16)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"data": []}, "'userreports'"),
        ({"userreports": [{"sum_hours": 1}]}, "'users_id'"),
        ({"userreports": [report(7, [day("01/02/2024", 60)])]}, "'date'"),
        ({"userreports": [report(7, [day("2024-01-02", 0) | {"hours": "1h"}])]}, "'hours'"),
    ],
)
def test_an_answer_of_another_shape_is_a_loud_error(body: dict[str, Any], says: str) -> None:
    with pytest.raises(ResponseShapeError) as err:
        run(body)
    assert says in str(err.value) and "Drift.fingerprint" in str(err.value) and "2024" in str(err.value)


def test_the_people_s_time_zones_come_from_the_users_list() -> None:
    users = [{"id": 7, "timezone": "Europe/Berlin"}, {"id": 8, "timezone": "Mars/Olympus"}, {"id": 9}]
    _, zones = run({"userreports": []}, users=users)
    assert zones[7] is not None and zones[7].key == "Europe/Berlin"
    assert zones[8] is None and zones[9] is None  # unknown or missing: not compared


def test_clockodo_entries_declare_the_user_reports_fingerprint_and_one_count_of_the_range() -> None:
    drift = ENTRIES.drift
    assert drift is not None and drift.fingerprint is not None
    assert drift.fingerprint.request.path == SOURCE.entity("user_reports").path == "/userreports"
    assert drift.fingerprint.params == {"type": 3} and drift.fingerprint.zones == "users"
    assert drift.probe.max_days == 0  # the count probes the whole range at once
    assert SOURCE.entity("user_reports").params == {"type": 1}  # the extracted entity is unchanged
