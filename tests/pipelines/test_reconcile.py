"""Reconcile finds drift anywhere in two staged years and re-extracts only what drifted.

For each source, against its sandbox: two years are staged (that extraction is the full re-read the
costs are compared with), a reconcile of the unchanged history re-extracts nothing, then records far
outside the last month are edited, moved, inserted and deleted through the sandbox's admin API, one
reconcile runs, and the staged rows must equal the source's truth, read by the test through its own
paging of the sandbox. Costs are HTTP requests (the engine's counters).

What each signal can see, and so what is asserted (pipelines/reconcile.py has the sources):
- Harvest: every edit and insert comes from ``updated_since`` (one request); where the count of the
  range then differs, the team time report (one request per year) names the users whose hours
  dropped and each is re-read alone over that year; a deletion worth no hours is found by halving
  ``total_entries`` counts, about log2(pages) probes. The 5 % bound is asserted for edits and inserts.
- Clockify time entries: report totals per month, narrowed to the users that differ; 5 % asserted.
- Clockodo: the user reports' hours per user and day (one request per calendar year, plus the
  people's time zones) find every edit, move, insert and delete of a time entry, in place too; one
  count of the whole range finds what carries no duration (a lump sum). Those 5 requests are already
  5 % of re-reading an account of this size, so what is asserted is that they are all the finding
  costs, and that a drifted day re-reads its own UTC days only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from connectors import get_source
from connectors.core.ratelimit import LIMITERS
from connectors.core.settings import ResolvedSettings, resolve_settings
from pipelines.reconcile import ReconcileReport, reconcile_entity
from pipelines.staging import Staging, stage_entity
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import RunningServer, client_env, start_background

ANCHOR = dt.date(2026, 6, 1)
START, END = ANCHOR - dt.timedelta(days=730), ANCHOR
OLD = ANCHOR - dt.timedelta(days=60)  # mutations happen before this: far outside any look-back
ISO = "%Y-%m-%dT%H:%M:%SZ"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    # 60 people: two years are ~95k entries, and Clockify's per-user time entries ~1,400 requests.
    server = start_background(SandboxOptions(org=OrgOptions(anchor=ANCHOR, users=60), rate_limit=False))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh(sandbox: RunningServer) -> None:
    for mount in ("/clockodo/api", "/clockify", "/harvest"):
        httpx.post(sandbox.url(mount + "/_admin/reset")).raise_for_status()
    LIMITERS.clear()


def settings(server: RunningServer, name: str) -> ResolvedSettings:
    """The sandbox's settings for one source, with no client-side rate limit."""
    env = client_env(server.base_url) | {f"{s}_RATE_LIMIT": "off" for s in ("CLOCKIFY", "HARVEST")}
    return resolve_settings(get_source(name), environ=env)


class Case:
    """Two staged years of one entity, and reconciles of them."""

    def __init__(
        self,
        server: RunningServer,
        tmp: Path,
        source: str,
        entity: str,
        start: dt.date = START,
        end: dt.date = END,
        page_size: int = 0,
    ) -> None:
        self.server, self.name, self.entity = server, source, get_source(source).entity(entity)
        self.source, self.settings, self.staging = get_source(source), settings(server, source), Staging(tmp)
        if page_size:  # a smaller page than the API's default: a day of this org then holds several
            paging = dataclasses.replace(self.entity.paging, size=page_size)
            self.entity = dataclasses.replace(self.entity, paging=paging)
            src = self.source  # and as many more requests: no client-side waits for them
            self.source = dataclasses.replace(
                src, rate_limits=(), rate_groups={g: () for g in src.rate_groups}
            )
        self.start, self.end = start, end
        self.full = int(
            stage_entity(self.source, self.settings, source, self.entity, self.staging, start, end).stats[
                "requests"
            ]
        )

    def reconcile(self, **kw: Any) -> ReconcileReport:
        return reconcile_entity(
            self.source, self.settings, self.name, self.entity, self.staging, self.start, self.end, **kw
        )

    def staged(self) -> pa.Table:
        return self.staging.read(self.name, self.entity)

    def old_rows(self, n: int, seed: int, timed: bool = False) -> list[dict[str, Any]]:
        """``n`` staged records before ``OLD``, each from another month (``timed``: with a duration)."""
        table = self.staged()
        table = table.filter(pc.less(table.column("_window_start"), OLD))
        if timed:
            table = table.filter(pc.is_valid(table.column("duration")))
        rows = table.to_pylist()
        random.Random(seed).shuffle(rows)
        picked: dict[str, dict[str, Any]] = {}
        for r in rows:
            picked.setdefault(r["_window_start"].strftime("%Y-%m"), r)
        assert len(picked) >= n
        return list(picked.values())[:n]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        mount = {"harvest": "/harvest", "clockodo": "/clockodo/api", "clockify": "/clockify"}[self.name]
        r = httpx.request(method, self.server.url(mount + "/_admin/" + path), json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()


def assert_unchanged_costs(case: Case, requests: int) -> None:
    report = case.reconcile()
    assert report.windows == [] and report.series_windows == [] and report.rows_reread == 0, report.drifted
    assert report.requests == report.probe_requests == requests


def free_month(case: Case, taken: set[str], seed: int) -> dt.date:
    """A day before OLD in a month no other mutation of the test touches (counts cannot cancel)."""
    rng = random.Random(seed)
    while True:
        day = case.start + dt.timedelta(days=rng.randrange((min(OLD, case.end) - case.start).days))
        if day.strftime("%Y-%m") not in taken:
            taken.add(day.strftime("%Y-%m"))
            return day


# -- Harvest -------------------------------------------------------------------------------------------


def harvest_truth(case: Case) -> set[tuple[Any, ...]]:
    headers = {
        "Authorization": "Bearer sandbox-harvest-token",
        "Harvest-Account-Id": "123456",
        "User-Agent": "t",
    }
    last = case.end - dt.timedelta(days=1)
    params: dict[str, Any] = {"from": case.start.isoformat(), "to": last.isoformat(), "per_page": 2000}
    body = httpx.get(case.server.url("/harvest/v2/time_entries"), params=params, headers=headers).json()
    rows = list(body["time_entries"])
    while body["links"]["next"]:
        body = httpx.get(body["links"]["next"], headers=headers).json()
        rows += body["time_entries"]
    return {(r["id"], r["spent_date"], r["hours"], r["notes"], r["updated_at"]) for r in rows}


def harvest_staged(case: Case) -> set[tuple[Any, ...]]:
    return {
        (r["id"], r["spent_date"].isoformat(), r["hours"], r["notes"], r["updated_at"].strftime(ISO))
        for r in case.staged().to_pylist()
    }


def harvest_edits(case: Case, seed: int) -> set[str]:
    """An hour edit, a notes edit, a move to another month and two inserts; returns months touched."""
    a, b, c = case.old_rows(3, seed)
    taken = {r["spent_date"].strftime("%Y-%m") for r in (a, b, c)}
    case.admin("PATCH", f"time_entries/{a['id']}", {"hours": 6.25})
    case.admin("PATCH", f"time_entries/{b['id']}", {"notes": "edited long after the look-back"})
    case.admin("PATCH", f"time_entries/{c['id']}", {"spent_date": free_month(case, taken, seed).isoformat()})
    for k in range(2):
        new = {"user_id": a["user_id"], "project_id": a["project_id"], "task_id": a["task_id"], "hours": 1.5}
        case.admin(
            "POST", "time_entries", {**new, "spent_date": free_month(case, taken, seed + k).isoformat()}
        )
    return taken


def test_harvest_edits_inserts_and_deletions_anywhere_are_repaired(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "harvest", "time_entries")
    assert_unchanged_costs(case, 2)  # updated_since + one count of the whole range
    taken = harvest_edits(case, seed=1)
    victims = [r for r in case.old_rows(8, seed=2) if r["spent_date"].strftime("%Y-%m") not in taken][:2]
    for r in victims:
        case.admin("DELETE", f"time_entries/{r['id']}")
    report = case.reconcile()
    assert harvest_staged(case) == harvest_truth(case)
    assert report.merged == 5
    # The count of the range differs; the team report (two years: two requests) names the users whose
    # hours dropped, and each is re-read alone over that year (one page): no halving.
    by_hours = {d.start for d in report.drifted if d.reason.startswith("total_hours by user_id")}
    assert by_hours == {r["spent_date"] for r in victims}, report.drifted
    assert not [d for d in report.drifted if d.reason.startswith("count")]
    users = {r["user_id"] for r in victims}
    assert {s for _, _, series in report.series_windows for s in series} == users
    # The newest year is asked first; the older one only if deletions remain after its re-reads.
    newest = (case.end - dt.timedelta(days=365), case.end)
    years = 1 if all(newest[0] <= r["spent_date"] for r in victims) else 2
    assert report.requests == 2 + years + len(users), (report.requests, report.drifted)
    assert report.windows == [] and report.rows_reread < case.staged().num_rows / 20
    assert_unchanged_costs(case, 2)  # the marker moved on: nothing changed since


def test_harvest_a_deleted_entry_worth_no_hours_is_found_by_halving_the_counts(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "harvest", "time_entries")
    (a,) = case.old_rows(1, seed=5)
    new = {"user_id": a["user_id"], "project_id": a["project_id"], "task_id": a["task_id"], "hours": 0}
    zero = case.admin("POST", "time_entries", {**new, "spent_date": a["spent_date"].isoformat()})
    assert case.reconcile().merged == 1  # the insert comes from updated_since
    case.admin("DELETE", f"time_entries/{zero['id']}")
    report = case.reconcile()
    assert harvest_staged(case) == harvest_truth(case)
    # Every user's hours agree, so the counts are halved down to the day.
    assert report.series_windows == [] and report.not_comparable == []
    counted = [d for d in report.drifted if d.reason.startswith("count")]
    assert counted and all(d.start <= a["spent_date"] < d.end for d in counted)
    bound = 2 + 2 + math.ceil(math.log2(case.full)) + 3
    assert report.requests <= bound, (report.requests, report.drifted)


def test_harvest_without_report_rights_the_counts_find_a_deletion(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "harvest", "time_entries")
    faults = httpx.post(
        sandbox.url("/harvest/_admin/faults"), json={"forbidden": [{"path": "/v2/reports/*"}]}
    )
    assert faults.status_code == 200, faults.text
    (victim,) = case.old_rows(1, seed=7)
    case.admin("DELETE", f"time_entries/{victim['id']}")
    report = case.reconcile()
    assert harvest_staged(case) == harvest_truth(case)
    assert "403" in report.totals_unavailable or "forbidden" in report.totals_unavailable.lower()
    assert report.series_windows == []
    assert any(
        d.start <= victim["spent_date"] < d.end for d in report.drifted if d.reason.startswith("count")
    )


def test_harvest_totals_that_are_not_comparable_are_left_to_the_counts(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "harvest", "time_entries")
    totals = case.entity.drift.totals if case.entity.drift else None
    assert totals is not None
    # Unrounded hours against a report of rounded ones: most users differ, so the report is not used.
    drift = dataclasses.replace(case.entity.drift, totals=dataclasses.replace(totals, column="hours"))
    case.entity = dataclasses.replace(case.entity, drift=drift)
    (victim,) = case.old_rows(1, seed=6)
    case.admin("DELETE", f"time_entries/{victim['id']}")
    report = case.reconcile()
    assert harvest_staged(case) == harvest_truth(case)
    assert len(report.not_comparable) == 2 and report.series_windows == []
    assert any(
        d.start <= victim["spent_date"] < d.end for d in report.drifted if d.reason.startswith("count")
    )


def test_harvest_edits_and_inserts_cost_two_requests(sandbox: RunningServer, tmp_path: Path) -> None:
    case = Case(sandbox, tmp_path, "harvest", "time_entries")
    harvest_edits(case, seed=3)
    report = case.reconcile()
    assert harvest_staged(case) == harvest_truth(case)
    assert report.merged == 5 and report.windows == [] and report.requests == 2
    assert report.requests <= 0.05 * case.full, (report.requests, case.full)


def test_harvest_changes_can_be_re_extracted_instead_of_merged(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "harvest", "time_entries")
    harvest_edits(case, seed=4)
    report = case.reconcile(merge_changes=False)
    assert harvest_staged(case) == harvest_truth(case)
    assert report.merged == 5 and report.windows and all((b - a).days <= 31 for a, b in report.windows)


# -- Clockify --------------------------------------------------------------------------------------------


def clockify_truth(case: Case) -> set[tuple[Any, ...]]:
    ws, headers = case.settings.get("workspace_id"), {"X-Api-Key": "sandbox-key"}
    base = case.server.url(f"/clockify/api/v1/workspaces/{ws}")

    def every(path: str, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in range(1, 1000):
            r = httpx.get(base + path, params={**params, "page": page, "page-size": 1000}, headers=headers)
            rows += r.json()
            if r.headers["Last-Page"] == "true":
                return rows
        raise AssertionError("no last page")

    day = dt.timedelta(days=1)
    window = {"start": f"{case.start - day}T00:00:00Z", "end": f"{case.end + day}T00:00:00Z"}
    out = set()
    for user in every("/users", status="ALL"):
        for r in every(f"/user/{user['id']}/time-entries", **window):
            if case.start.isoformat() <= r["timeInterval"]["start"][:10] < case.end.isoformat():
                interval = r["timeInterval"]
                out.add((r["id"], interval["start"], interval["duration"], r["billable"], r["description"]))
    return out


def clockify_staged(case: Case) -> set[tuple[Any, ...]]:
    rows = case.staged().to_pylist()
    return {
        (
            r["id"],
            r["timeInterval_start"].strftime(ISO),
            r["timeInterval_duration"],
            r["billable"],
            r["description"],
        )
        for r in rows
    }


def test_clockify_time_entries_drift_is_narrowed_to_the_users_that_differ(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "clockify", "time_entries")
    assert_unchanged_costs(case, 24)  # one report total per month of the two years
    a, b, c, d = case.old_rows(4, seed=5)
    taken = {r["_window_start"].strftime("%Y-%m") for r in (a, b, c, d)}
    start = a["timeInterval_start"]
    longer = {"start": start.strftime(ISO), "end": (start + dt.timedelta(hours=7)).strftime(ISO)}
    case.admin("PATCH", f"time_entries/{a['id']}", {"timeInterval": longer})
    case.admin("PATCH", f"time_entries/{b['id']}", {"billable": not b["billable"]})
    moved = dt.datetime.combine(free_month(case, taken, 6), dt.time(9), dt.UTC)
    interval = {"start": moved.strftime(ISO), "end": (moved + dt.timedelta(hours=2)).strftime(ISO)}
    case.admin("PATCH", f"time_entries/{c['id']}", {"timeInterval": interval})
    case.admin("DELETE", f"time_entries/{d['id']}")
    when = dt.datetime.combine(free_month(case, taken, 7), dt.time(14), dt.UTC)
    new = {"start": when.strftime(ISO), "end": (when + dt.timedelta(minutes=45)).strftime(ISO)}
    case.admin(
        "POST", "time_entries", {"userId": a["userId"], "projectId": a["projectId"], "timeInterval": new}
    )
    report = case.reconcile()
    assert clockify_staged(case) == clockify_truth(case)
    assert report.windows == [] and report.series_windows  # only the drifted users were re-read
    assert all(len(series) <= 3 for _, _, series in report.series_windows)
    assert report.requests <= 0.05 * case.full, (report.requests, case.full, report.drifted)
    assert_unchanged_costs(case, 24)


# -- Clockodo --------------------------------------------------------------------------------------------


def clockodo_truth(case: Case) -> set[tuple[Any, ...]]:
    headers = {
        "X-ClockodoApiUser": "sandbox@couplet.dev",
        "X-ClockodoApiKey": "sandbox-key",
        "X-Clockodo-External-Application": "couplet-tests;dev@couplet.dev",
    }
    window: dict[str, Any] = {
        "time_since": f"{case.start}T00:00:00Z",
        "time_until": f"{case.end}T00:00:00Z",
        "items_per_page": 1000,
    }
    rows: list[dict[str, Any]] = []
    for page in range(1, 10_000):
        body = httpx.get(
            case.server.url("/clockodo/api/v2/entries"), params={**window, "page": page}, headers=headers
        )
        rows += body.json()["entries"]
        if page >= body.json()["paging"]["count_pages"]:
            break
    inside = (r for r in rows if case.start.isoformat() <= r["time_since"][:10] < case.end.isoformat())
    return {(r["id"], r["time_since"], r.get("duration")) for r in inside}  # lump sums have no duration


def clockodo_staged(case: Case) -> set[tuple[Any, ...]]:
    return {(r["id"], r["time_since"].strftime(ISO), r["duration"]) for r in case.staged().to_pylist()}


def test_clockodo_inserts_deletes_and_moves_are_found_by_the_user_reports_and_a_count(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "clockodo", "entries")
    assert_unchanged_costs(case, 5)  # a user report per year (3), the time zones, one count; no pages
    a, b, c = case.old_rows(3, seed=8)
    taken = {r["_window_start"].strftime("%Y-%m") for r in (a, b, c)}
    case.admin("DELETE", f"entries/{a['id']}")
    since = dt.datetime.combine(free_month(case, taken, 9), dt.time(10), dt.UTC)
    until = since + dt.timedelta(hours=1)
    case.admin(
        "PATCH", f"entries/{b['id']}", {"time_since": since.strftime(ISO), "time_until": until.strftime(ISO)}
    )
    for k in range(2):
        when = dt.datetime.combine(free_month(case, taken, 10 + k), dt.time(15), dt.UTC)
        new = {"users_id": c["users_id"], "customers_id": c["customers_id"], "projects_id": c["projects_id"]}
        case.admin(
            "POST",
            "entries",
            {**new, "services_id": c["services_id"], "time_since": when.strftime(ISO), "duration": 1800},
        )
    report = case.reconcile()
    assert clockodo_staged(case) == clockodo_truth(case)
    assert len(report.months) == 5 and report.windows  # the five months touched, nothing else
    # Every change here moves a duration: the user reports find the days, the count then agrees.
    assert {d.reason.split(":")[0] for d in report.drifted} == {"hours by day"}
    assert report.probe_requests == 5 and report.probes == 1
    # A drifted local day re-reads its UTC days (a size probe and a page); nearby ones are joined.
    assert report.reextract_requests <= 2 * len(report.drifted)
    assert sum((b - a).days for a, b in report.windows) <= 31
    assert report.rows_reread < case.staged().num_rows / 20
    assert_unchanged_costs(case, 5)


def test_clockodo_an_edit_in_place_is_found_by_the_user_reports_days(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "clockodo", "entries", START, START + dt.timedelta(days=120))
    (a,) = case.old_rows(1, seed=11, timed=True)
    assert (ANCHOR - a["_window_start"]).days > 200  # far older than any look-back
    case.admin("PATCH", f"entries/{a['id']}", {"duration": a["duration"] + 3600})
    report = case.reconcile()
    assert clockodo_staged(case) == clockodo_truth(case)
    local = a["time_since"].astimezone(ZoneInfo("Europe/Berlin")).date()  # the sandbox's people: UTC+0..2
    assert [d.start for d in report.drifted] == [local] and "users_id" in report.drifted[0].reason
    assert report.windows and all((b - a).days <= 2 for a, b in report.windows)
    assert report.fingerprints == 1 and report.probes == 1  # one report year, one count of the range
    assert report.probe_requests == 3  # + the people's time zones (one page of /v3/users)
    assert report.reextract_requests <= 2  # its size, one page: the day and the evening before it


def test_clockodo_a_day_of_several_pages_re_reads_only_its_drifted_people(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    # 40 entries a page: a UTC day of this org (~130 entries) takes 4, one person's day one.
    case = Case(sandbox, tmp_path, "clockodo", "entries", START, START + dt.timedelta(days=120), page_size=40)
    a, b, c = case.old_rows(3, seed=21, timed=True)
    case.admin("PATCH", f"entries/{a['id']}", {"duration": a["duration"] + 3600})  # an edit in place
    case.admin("DELETE", f"entries/{b['id']}")
    table = case.staged()
    others = pc.unique(table.column("users_id")).to_pylist()
    to = next(u for u in others if u != c["users_id"])
    case.admin("PATCH", f"entries/{c['id']}", {"users_id": to})  # to another person, same time
    report = case.reconcile()
    assert clockodo_staged(case) == clockodo_truth(case)
    assert {d.reason.split(":")[0] for d in report.drifted} == {"hours by day"}
    people = {who for _, _, series in report.series_windows for who in series}
    assert people == {a["users_id"], b["users_id"], c["users_id"], to}
    assert report.windows == []  # no day re-read whole
    # One request per person and day (their UTC days fit a page), where a whole day takes 4 pages.
    assert report.reextract_requests == sum(len(series) for _, _, series in report.series_windows)
    assert report.rows_reread < 40 * report.reextract_requests


def test_clockodo_a_deleted_lump_sum_is_found_by_the_count_of_the_range(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "clockodo", "entries", START, START + dt.timedelta(days=120))
    table = case.staged()
    lumps = table.filter(pc.not_equal(table.column("type"), 1)).to_pylist()
    assert lumps
    case.admin("DELETE", f"entries/{lumps[len(lumps) // 2]['id']}")
    report = case.reconcile()
    assert clockodo_staged(case) == clockodo_truth(case)
    assert report.drifted and all(d.reason.startswith("count") for d in report.drifted)


def test_clockodo_an_edit_in_place_is_invisible_without_the_fingerprint(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "clockodo", "entries", START, START + dt.timedelta(days=120))
    (a,) = case.old_rows(1, seed=11, timed=True)
    case.admin("PATCH", f"entries/{a['id']}", {"duration": a["duration"] + 3600})
    report = case.reconcile(fingerprint=False)
    assert report.windows == [] and clockodo_staged(case) != clockodo_truth(case)  # counts agree


def test_clockodo_a_text_edit_is_invisible_to_the_figures_and_lands_by_the_refresh(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "clockodo", "entries", start=ANCHOR - dt.timedelta(days=365), end=OLD)
    (row,) = case.old_rows(1, seed=12, timed=True)
    case.admin("PATCH", f"entries/{row['id']}", {"text": "rewritten a year later"})

    def staged_text() -> str | None:
        table = case.staged()
        return table.filter(pc.equal(table.column("id"), row["id"])).column("text")[0].as_py()

    assert case.reconcile().rows_reread == 0 and staged_text() == row["text"]  # no figure moved
    months = {
        r["_window_start"].strftime("%Y-%m") for r in case.staged().select(["_window_start"]).to_pylist()
    }
    refreshed: set[tuple[dt.date, dt.date]] = set()
    for _ in range(-(-len(months) // 4)):  # four months a reconcile: every month within this many
        report = case.reconcile(refresh_months=4)
        assert len(report.refreshed) == 4 and report.rows_reread > 0
        new = set(report.refreshed) - refreshed  # each time the months read longest ago
        assert len(new) == min(4, len(months) - len(refreshed)), (report.refreshed, refreshed)
        refreshed |= new
    assert {a.strftime("%Y-%m") for a, _ in refreshed} == months
    assert staged_text() == "rewritten a year later"
    assert clockodo_staged(case) == clockodo_truth(case)


def test_the_refresh_moves_on_past_months_without_records(sandbox: RunningServer, tmp_path: Path) -> None:
    # The sandbox has no entries after its anchor: the range's last two months hold no rows, so
    # only the refresh's own note tells when they were read.
    end = dt.date(ANCHOR.year, ANCHOR.month + 2, 1)
    case = Case(sandbox, tmp_path, "clockodo", "entries", start=dt.date(2026, 4, 1), end=end)
    picked = [case.reconcile(refresh_months=1).refreshed for _ in range(4)]
    # Never-read months first, then the ones read longest ago: each month once, none stuck.
    months = [a.strftime("%Y-%m") for p in picked for a, _ in p]
    assert months == ["2026-06", "2026-07", "2026-04", "2026-05"]


def test_a_range_cheaper_to_re_read_than_to_probe_is_re_read_when_asked(
    sandbox: RunningServer, tmp_path: Path
) -> None:
    case = Case(sandbox, tmp_path, "clockodo", "entries", START, START + dt.timedelta(days=120))
    (a,) = case.old_rows(1, seed=12, timed=True)
    case.admin("PATCH", f"entries/{a['id']}", {"duration": a["duration"] + 3600})
    assert case.reconcile(probe_days=1, fingerprint=False).probes == 120  # a count a day; all agree
    report = case.reconcile(probe_days=1, reread_if_cheaper=True)  # 120 probes cost more than ~25 pages
    assert report.windows == [(case.start, case.end)] and report.probes == 0
    assert report.requests <= case.full + 1
    assert clockodo_staged(case) == clockodo_truth(case)  # a re-read sees the edit counts cannot
