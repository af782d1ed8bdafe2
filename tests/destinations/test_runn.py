"""The Runn writer against the Runn sandbox over real HTTP (``sandbox/runn``, served on a local port).

Each test starts from an empty Runn account (``POST /_admin/reset``) and looks at what the sandbox
holds (``/_admin/<entity>``) and what it was sent (``/_admin/requests``). Most tests switch the
writer's own rate limiter off (``rate_limit: off``) so they never wait; the sandbox still enforces
Runn's 120 requests a minute, and one test checks the limiter itself.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pyarrow as pa
import pytest

from destinations.base import DestinationAuthError, DestinationConfigError
from destinations.runn import RunnTarget
from destinations.runn.writer import RunnWriteFailed, RunnWriter
from sandbox.common import SandboxOptions
from sandbox.server import RunningServer, client_env, start_background

D = dt.date.fromisoformat
REF = "couplet:harvest:main"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with start_background(SandboxOptions()) as running:
        yield running


class Runn:
    """The sandbox's admin API, the env a writer reads, and a shortcut to write."""

    def __init__(self, server: RunningServer) -> None:
        self.env = client_env(server.base_url)
        self.root = self.env["RUNN_BASE_URL"]
        self.admin = httpx.Client(base_url=self.root + "/_admin", timeout=30)

    def table(self, entity: str) -> list[dict[str, Any]]:
        return self.admin.get(f"/{entity}").json()

    def seed(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.admin.post(f"/{entity}", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        params = {"path": path} if path else {}
        return self.admin.get("/requests", params=params).json()["requests"]

    def faults(self, body: dict[str, Any]) -> None:
        self.admin.post("/faults", json=body).raise_for_status()

    def target(self, target: str, **settings: Any) -> RunnTarget:
        defaults: dict[str, Any] = {"connection_name": "main", "source": "harvest", "rate_limit": "off"}
        return RunnTarget(target=target, **{**defaults, **settings})  # type: ignore[arg-type]

    def write(
        self, target: str, table: pa.Table, env: dict[str, str] | None = None, **settings: Any
    ) -> dict[str, Any]:
        result = RunnWriter(env=self.env if env is None else env).write(
            self.target(target, **settings), table, "upsert", ["id"]
        )
        assert result.extra["failed"] == 0
        return {**result.extra, "rows_written": result.rows_written, "label": result.target}


@pytest.fixture
def runn(server: RunningServer) -> Iterator[Runn]:
    client = Runn(server)
    client.admin.post("/reset").raise_for_status()
    yield client
    client.admin.close()


def clients(ids: list[int], names: list[str]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "name": names})


def people(ids: list[int], first: list[str], roles: list[list[str]]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "first_name": first,
            "last_name": ["Tester"] * len(ids),
            "email": [f"{f.lower()}@example.com" for f in first],
            "roles": pa.array(roles, pa.list_(pa.string())),
        }
    )


def entries(rows: Sequence[tuple[int, int, str, float, bool]]) -> pa.Table:
    """Time entries: (person id, project id, day, minutes, billable)."""
    return pa.table(
        {
            "person_id": pa.array([r[0] for r in rows], pa.int64()),
            "project_id": pa.array([r[1] for r in rows], pa.int64()),
            "date": pa.array([D(r[2]) for r in rows], pa.date32()),
            "minutes": pa.array([r[3] for r in rows], pa.float64()),
            "billable": [r[4] for r in rows],
        }
    )


def setup_planning(runn: Runn) -> None:
    """Clients 1-2, projects 10-11, people 5 (Developer), 6 (no role) and 7 (two roles)."""
    runn.write("clients", clients([1, 2], ["Acme", "Globex"]))
    runn.write("projects", pa.table({"id": [10, 11], "name": ["Web", "App"], "client_id": [1, 2]}))
    runn.write("people", people([5, 6, 7], ["Ada", "Bob", "Cy"], [["Developer"], [], ["Developer", "PM"]]))


# -- matching, adoption, updates ------------------------------------------------------------------


def test_rerun_never_duplicates_and_reports_unchanged(runn: Runn) -> None:
    first = runn.write("clients", clients([1, 2], ["Acme", "Globex"]))
    second = runn.write("clients", clients([1, 2], ["Acme", "Globex"]))
    assert (first["created"], first["unchanged"], first["rows_written"]) == (2, 0, 2)
    assert (second["created"], second["updated"], second["unchanged"], second["rows_written"]) == (0, 0, 2, 0)
    stored = runn.table("clients")
    assert sorted(c["name"] for c in stored) == ["Acme", "Globex"]
    assert {c["references"][0]["externalId"] for c in stored} == {"1", "2"}
    assert {c["references"][0]["referenceName"] for c in stored} == {REF}
    assert first["reference_names"] == [REF]


def test_hand_made_item_with_the_external_id_is_adopted_not_duplicated(runn: Runn) -> None:
    # made in Runn's app; the reference name typed with other capitals
    hand = runn.seed("clients", {"name": "ACME (typed by hand)",
                                 "references": [{"referenceName": "Couplet:Harvest:main", "externalId": "1"}]})  # fmt: skip
    same_name = runn.seed("clients", {"name": "Globex"})  # a name alone never matches
    report = runn.write("clients", clients([1, 2], ["Acme", "Globex"]))
    assert (report["created"], report["updated"]) == (1, 1)
    assert report["updated_items"][0]["runn_id"] == hand["id"]
    assert report["updated_items"][0]["changes"] == {"name": ["ACME (typed by hand)", "Acme"]}
    stored = {c["id"]: c for c in runn.table("clients")}
    assert len(stored) == 3 and stored[hand["id"]]["name"] == "Acme"
    assert stored[same_name["id"]]["references"] == []


def test_people_adopted_through_their_reference(runn: Runn) -> None:
    role = runn.seed("roles", {"name": "Developer"})
    hand = runn.seed("people", {"firstName": "Ada", "lastName": "Tester", "roleId": role["id"],
                                "references": [{"referenceName": REF, "externalId": "5"}]})  # fmt: skip
    report = runn.write("people", people([5], ["Ada"], [["Developer"]]))
    assert (report["created"], report["updated"]) == (0, 1)  # the e-mail was added
    assert report["updated_items"][0]["changes"] == {"email": [None, "ada@example.com"]}
    assert [p["id"] for p in runn.table("people")] == [hand["id"]]


def test_changes_at_the_source_are_updated_unless_update_false(runn: Runn) -> None:
    runn.write("clients", clients([1, 2], ["Acme", "Globex"]))
    kept = runn.write("clients", clients([1, 2], ["Acme Inc", "Globex"]), update=False)
    assert (kept["updated"], kept["unchanged"], kept["skipped"]) == (0, 1, 1)
    assert kept["skipped_items"][0]["reason"].endswith("(update: false)")
    assert kept["skipped_items"][0]["changes"] == {"name": ["Acme", "Acme Inc"]}
    assert sorted(c["name"] for c in runn.table("clients")) == ["Acme", "Globex"]
    changed = runn.write("clients", clients([1, 2], ["Acme Inc", "Globex"]))
    assert (changed["updated"], changed["unchanged"]) == (1, 1)
    assert sorted(c["name"] for c in runn.table("clients")) == ["Acme Inc", "Globex"]
    assert [r["method"] for r in runn.requests("/clients/451001")] == ["PATCH"]


def test_ambiguous_reference_is_skipped_with_both_ids(runn: Runn) -> None:
    ref = [{"referenceName": REF, "externalId": "1"}]
    a, b = (
        runn.seed("clients", {"name": "A", "references": ref}),
        runn.seed("clients", {"name": "B", "references": ref}),
    )
    report = runn.write("clients", clients([1], ["Acme"]))
    assert report["skipped"] == 1 and report["created"] == 0
    assert f"ids {a['id']}, {b['id']}" in report["skipped_items"][0]["reason"]


def test_projects_link_to_their_client_and_missing_clients_are_reported(runn: Runn) -> None:
    runn.write("clients", clients([1], ["Acme"]))
    table = pa.table({"id": [10, 11, 12], "name": ["Web", "Lost", "Solo"], "client_id": [1, 99, None]})
    report = runn.write("projects", table)
    assert report["created"] == 1 and report["skipped"] == 2
    reasons = {s["id"]: s["reason"] for s in report["skipped_items"]}
    assert "client 99" in reasons["11"] and "write the clients target first" in reasons["11"]
    assert "no client" in reasons["12"]
    (project,) = runn.table("projects")
    assert project["clientId"] == runn.table("clients")[0]["id"]
    moved = runn.write("projects", pa.table({"id": [10], "name": ["Web shop"], "client_id": [1]}))
    assert moved["updated_items"][0]["changes"] == {"name": ["Web", "Web shop"]}


def test_inactive_items_are_archived_in_runn_and_not_created(runn: Runn) -> None:
    runn.write("clients", clients([1], ["Acme"]))
    table = pa.table({"id": [1, 2], "name": ["Acme", "Gone"], "active": [False, False]})
    report = runn.write("clients", table)
    assert report["updated_items"][0]["changes"] == {"isArchived": [False, True]}
    assert report["skipped_items"][0]["reason"].startswith("inactive at the source")
    assert [(c["name"], c["isArchived"]) for c in runn.table("clients")] == [("Acme", True)]


# -- people and roles -----------------------------------------------------------------------------


def test_people_get_their_single_role_or_unknown_and_are_listed(runn: Runn) -> None:
    report = runn.write(
        "people", people([5, 6, 7], ["Ada", "Bob", "Cy"], [["Developer"], [], ["Developer", "PM"]])
    )
    assert report["created"] == 3
    assert sorted(report["roles_created"]) == ["Developer", "Unknown"]
    roles = {r["id"]: r["name"] for r in runn.table("roles")}
    assert sorted(roles.values()) == ["Developer", "Unknown"]  # "PM" is not made: Cy has no single role
    by_name = {p["firstName"]: roles[p["_roleId"]] for p in runn.table("people")}
    assert by_name == {"Ada": "Developer", "Bob": "Unknown", "Cy": "Unknown"}
    unknown = {u["id"]: u for u in report["unknown_role"]}
    assert set(unknown) == {"6", "7"}
    assert unknown["6"]["reason"] == "no role at the source"
    assert unknown["7"]["reason"] == "several roles at the source: Developer, PM"
    again = runn.write(
        "people", people([5, 6, 7], ["Ada", "Bob", "Cy"], [["Developer"], [], ["Developer", "PM"]])
    )
    assert (again["created"], again["unchanged"]) == (0, 3)
    assert len(again["unknown_role"]) == 2 and "roles_created" not in again
    assert len(runn.table("roles")) == 2  # "Unknown" is found, not made twice


def test_people_and_projects_flow_columns_with_two_tools(runn: Runn) -> None:
    """The shapes the shipped people_and_projects flow produces, both tools in one table."""
    settings = {"connection_name": {"clockify": "clockify", "harvest": "harvest"}, "source": None}
    clients_t = pa.table({"source": ["clockify", "harvest"], "source_id": ["c1", "7"], "client": ["Acme", "Acme"],
                          "active": [True, True]})  # fmt: skip
    projects_t = pa.table({"source": ["clockify", "harvest"], "source_id": ["p1", "70"], "project": ["Web", "Web"],
                           "client_source_id": ["c1", "7"], "client": ["Acme", "Acme"], "active": [True, True]})  # fmt: skip
    people_t = pa.table({"source": ["clockify", "harvest", "harvest"], "source_id": ["u1", "9", "10"],
                         "person": ["Ada King Lovelace", "Bob Marley", "Cher"],
                         "email": ["ada@example.com", None, "cher@example.com"],
                         "role": ["Unknown", "Designer", "Designer"], "active": [True, True, False]})  # fmt: skip
    assert runn.write("clients", clients_t, **settings)["created"] == 2  # same name, two tools: two clients
    report = runn.write("projects", projects_t, **settings)
    assert report["created"] == 2 and report["reference_names"] == [
        "couplet:clockify:clockify",
        "couplet:harvest:harvest",
    ]
    report = runn.write("people", people_t, **settings)
    assert report["created"] == 2
    assert report["skipped_items"][0]["id"] == "10" and "inactive" in report["skipped_items"][0]["reason"]
    assert [u["id"] for u in report["unknown_role"]] == ["u1"]
    assert report["unknown_role"][0]["reason"] == "the source gives no single role"
    names = sorted((p["firstName"], p["lastName"]) for p in runn.table("people"))
    assert names == [("Ada King", "Lovelace"), ("Bob", "Marley")]


def test_roles_target_creates_missing_roles_and_reports_renames(runn: Runn) -> None:
    runn.seed("roles", {"name": "Developer"})
    table = pa.table({"id": [1, 2], "name": ["Developer", "Designer"], "standard_rate": [150.0, 120.0]})
    report = runn.write("roles", table)
    assert (report["created"], report["unchanged"]) == (1, 1)  # "Developer" exists: matched by name
    designer = next(r for r in runn.table("roles") if r["name"] == "Designer")
    assert designer["standardRate"] == 120.0 and designer["references"][0]["externalId"] == "2"
    renamed = runn.write("roles", pa.table({"id": [2], "name": ["UX Designer"]}))
    assert renamed["skipped"] == 1 and "no update for roles" in renamed["skipped_items"][0]["reason"]


def test_a_role_changed_at_the_source_is_reported_not_changed(runn: Runn) -> None:
    runn.write("people", people([5], ["Ada"], [["Developer"]]))
    report = runn.write("people", people([5], ["Ada"], [["Designer"]]))
    (differs,) = report["role_differs"]
    assert (differs["runn_role"], differs["source_role"]) == ("Developer", "Designer")
    assert "contract" in differs["reason"] and report["unchanged"] == 1
    roles = {r["id"]: r["name"] for r in runn.table("roles")}
    assert [roles[p["_roleId"]] for p in runn.table("people")] == ["Developer"]
    assert list(roles.values()) == ["Developer"]  # no "Designer" role made for nobody


# -- actuals --------------------------------------------------------------------------------------


def test_actuals_summed_per_day_and_overwritten_on_rerun_never_doubled(runn: Runn) -> None:
    setup_planning(runn)
    day = [(5, 10, "2025-01-06", 30, True), (5, 10, "2025-01-06", 45, True), (5, 10, "2025-01-06", 60, False),
           (5, 11, "2025-01-06", 15, True), (5, 10, "2025-01-07", 90, True)]  # fmt: skip
    first = runn.write("actuals", entries(day))
    assert (first["created"], first["minutes_sent"], first["bulk_requests"]) == (3, 240, 1)
    again = runn.write("actuals", entries(day))
    assert (again["created"], again["updated"], again["unchanged"], again["actuals_to_send"]) == (0, 0, 3, 0)
    edited = [*day[:2], (5, 10, "2025-01-06", 20, False), *day[3:]]  # the non-billable entry shrank
    third = runn.write("actuals", entries(edited))
    assert (third["updated"], third["unchanged"]) == (1, 2)
    assert third["updated_items"][0]["runn_before"] == {"billableMinutes": 75, "nonbillableMinutes": 60}
    actuals = {(a["projectId"], a["date"]): a for a in runn.table("actuals")}
    assert len(actuals) == 3
    monday = next(a for (p, d), a in actuals.items() if d == "2025-01-06" and a["billableMinutes"] == 75)
    assert (monday["billableMinutes"], monday["nonbillableMinutes"], monday["_writes"]) == (75, 20, 2)


def test_actuals_from_hours_with_notes(runn: Runn) -> None:
    setup_planning(runn)
    table = pa.table(
        {
            "person_id": ["5", "5", "5"],
            "project_id": ["10", "10", "10"],
            "date": ["2025-01-06", "2025-01-06T17:00:00", "2025-01-06"],
            "hours": [1.5, 0.25, 2.0],
            "billable": ["true", "true", "false"],
            "note": ["design", "review", "internal"],
        }
    )
    report = runn.write("actuals", table)
    assert report["created"] == 1 and report["minutes_sent"] == 225
    (actual,) = runn.table("actuals")
    assert (actual["billableMinutes"], actual["nonbillableMinutes"]) == (105, 120)
    assert (actual["billableNote"], actual["nonbillableNote"]) == ("design\nreview", "internal")
    assert runn.write("actuals", table)["unchanged"] == 1


def test_actuals_for_missing_or_unknown_people_and_projects_are_reported(runn: Runn) -> None:
    setup_planning(runn)
    rows = [(5, 10, "2025-01-06", 60, True), (6, 10, "2025-01-06", 60, True), (6, 10, "2025-01-07", 30, True),
            (99, 10, "2025-01-06", 60, True), (5, 77, "2025-01-06", 60, True)]  # fmt: skip
    report = runn.write("actuals", entries(rows))
    assert report["created"] == 1 and report["skipped"] == 3
    skipped = {(s["person_id"], s["project_id"]): s for s in report["skipped_items"]}
    assert "role in Runn is Unknown" in skipped[("6", "10")]["reason"]
    assert (skipped[("6", "10")]["days"], skipped[("6", "10")]["minutes"]) == (2, 90)
    assert "person 99" in skipped[("99", "10")]["reason"] and "not in Runn" in skipped[("99", "10")]["reason"]
    assert "project 77" in skipped[("5", "77")]["reason"]
    assert len(runn.table("actuals")) == 1


def test_actuals_go_in_bulk_requests_of_at_most_100(runn: Runn) -> None:
    setup_planning(runn)
    start = D("2024-01-01")
    days = [(5, 10, (start + dt.timedelta(days=i)).isoformat(), 60, i % 2 == 0) for i in range(250)]
    report = runn.write("actuals", entries(days))
    assert report["created"] == 250 and report["bulk_requests"] == 3
    assert len(runn.requests("/actuals/bulk/")) == 3
    assert [r for r in runn.requests("/actuals/") if r["method"] == "POST"] == []
    assert all(r["status"] == 200 for r in runn.requests("/actuals/bulk/"))
    assert len(runn.table("actuals")) == 250


def test_a_refused_bulk_request_is_sent_one_by_one(runn: Runn) -> None:
    setup_planning(runn)
    runn.faults({"fail_next": [{"status": 400, "count": 1, "path": "/actuals/bulk"}]})
    report = runn.write(
        "actuals", entries([(5, 10, "2025-01-06", 60, True), (5, 10, "2025-01-07", 30, False)])
    )
    assert report["created"] == 2 and "sent one by one" in report["notes"][0]
    assert len(runn.table("actuals")) == 2


# -- throttling, retries, failures ----------------------------------------------------------------


def test_429_is_retried_after_retry_after(runn: Runn) -> None:
    runn.faults({"fail_next": [{"status": 429, "retry_after": 0.2, "count": 2, "path": "/clients"}]})
    report = runn.write("clients", clients([1, 2], ["Acme", "Globex"]))
    assert report["created"] == 2 and report["retries"] >= 1 and report["throttled_seconds"] >= 0.2
    assert len(runn.table("clients")) == 2
    assert [r["status"] for r in runn.requests()][:2] == [429, 429]


def test_429_on_a_create_is_sent_again_without_duplicating(runn: Runn) -> None:
    runn.write("clients", clients([1], ["Acme"]))  # the list is read; the create comes next
    runn.faults({"fail_next": [{"status": 429, "retry_after": 0.1, "count": 1, "path": "/clients"}]})
    report = runn.write("clients", clients([1, 2], ["Acme", "Globex"]))
    assert report["created"] == 1 and len(runn.table("clients")) == 2


class LoseFirstCreateAnswer(httpx.AsyncBaseTransport):
    """Delivers the first POST /clients/ to the server, then drops its answer (a timeout's worst case)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/clients/") and not self.lost:
            await response.aread()
            self.lost += 1
            raise httpx.ReadError("connection dropped", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_create_whose_answer_was_lost_is_found_not_sent_twice(runn: Runn) -> None:
    transport = LoseFirstCreateAnswer()
    writer = RunnWriter(env=runn.env, transport=transport)
    result = writer.write(runn.target("clients"), clients([1], ["Acme"]), "upsert")
    assert transport.lost == 1 and result.extra["created"] == 1
    assert len(runn.table("clients")) == 1
    assert len([r for r in runn.requests("/clients/") if r["method"] == "POST"]) == 1


class Recording(httpx.AsyncBaseTransport):
    """Passes requests on and keeps their headers."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_every_request_carries_the_token_and_the_version_header(runn: Runn) -> None:
    transport = Recording()
    RunnWriter(env=runn.env, transport=transport).write(runn.target("clients"), clients([1], ["A"]), "upsert")
    assert [(r.method, r.url.path) for r in transport.seen] == [
        ("GET", "/runn/clients/"),
        ("POST", "/runn/clients/"),
    ]
    for request in transport.seen:
        assert request.headers["authorization"] == f"Bearer {runn.env['RUNN_API_TOKEN']}"
        assert request.headers["accept-version"] == "1.0.0"
    assert transport.seen[0].url.params["sortBy"] == "id"
    assert transport.seen[1].headers["content-type"] == "application/json"


def test_the_rate_limiter_paces_requests(runn: Runn) -> None:
    report = runn.write("clients", clients([1, 2, 3, 4], ["A", "B", "C", "D"]), rate_limit="4/s")
    assert report["requests"] == 5 and report["throttled_seconds"] > 0


def test_items_runn_refuses_fail_the_write_after_the_others(runn: Runn) -> None:
    table = pa.table(
        {"id": [1, 2], "name": ["Acme", "Globex"], "website": ["not a url", "https://globex.example"]}
    )
    with pytest.raises(RunnWriteFailed) as caught:
        RunnWriter(env=runn.env).write(runn.target("clients"), table, "upsert")
    message = str(caught.value)
    assert "refused 1 item" in message and "website" in message and runn.env["RUNN_API_TOKEN"] not in message
    assert caught.value.report.failed[0]["id"] == "1"
    assert [c["name"] for c in runn.table("clients")] == ["Globex"]


# -- dry run --------------------------------------------------------------------------------------


def test_dry_run_reports_and_writes_nothing(runn: Runn) -> None:
    setup_planning(runn)
    runn.admin.post("/reset").raise_for_status()  # an empty account: everything would be created
    plan = runn.write("people", people([5, 6], ["Ada", "Bob"], [["Developer"], []]), dry_run=True)
    assert (plan["created"], plan["rows_written"], plan["dry_run"]) == (2, 0, True)
    assert sorted(plan["roles_created"]) == ["Developer", "Unknown"]
    assert plan["created_items"][0]["fields"]["firstName"] == "Ada"
    assert plan["label"].endswith("(dry run)")
    runn.write("clients", clients([1], ["Acme"]))
    renamed = runn.write("clients", clients([1, 2], ["Acme Inc", "Globex"]), dry_run=True)
    assert (renamed["created"], renamed["updated"]) == (1, 1)
    assert [c["name"] for c in runn.table("clients")] == ["Acme"]
    assert runn.table("people") == [] and runn.table("roles") == []
    writes = [r for r in runn.requests() if r["method"] != "GET"]
    assert [r["path"] for r in writes] == ["/clients/"]  # only the real write of Acme


def test_dry_run_of_actuals_sends_nothing(runn: Runn) -> None:
    setup_planning(runn)
    before = len(runn.requests("/actuals/bulk/"))
    plan = runn.write("actuals", entries([(5, 10, "2025-01-06", 60, True)]), dry_run=True)
    assert (plan["created"], plan["minutes_to_send"], plan["rows_written"]) == (1, 60, 0)
    assert runn.table("actuals") == [] and len(runn.requests("/actuals/bulk/")) == before


# -- credentials and input errors ----------------------------------------------------------------


def test_missing_token_names_the_env_var(runn: Runn) -> None:
    env = {k: v for k, v in runn.env.items() if k != "RUNN_API_TOKEN"}
    with pytest.raises(DestinationAuthError, match="RUNN_API_TOKEN is not set") as caught:
        RunnWriter(env=env).write(runn.target("clients"), clients([1], ["A"]), "upsert")
    assert "Settings > API" in str(caught.value)
    with pytest.raises(DestinationAuthError, match="MY_RUNN_TOKEN"):
        RunnWriter(env=runn.env).write(
            runn.target("clients", token_env="MY_RUNN_TOKEN"), clients([1], ["A"]), "upsert"
        )


@pytest.mark.parametrize("token", ["TEST_wrong-secret-12345", "TEST_sandbox-runn-read-token"])
def test_rejected_or_read_only_token_is_a_clear_error_without_the_secret(runn: Runn, token: str) -> None:
    env = {**runn.env, "RUNN_API_TOKEN": token}
    with pytest.raises(DestinationAuthError) as caught:
        RunnWriter(env=env).write(runn.target("clients"), clients([1], ["A"]), "upsert")
    message = str(caught.value)
    assert "RUNN_API_TOKEN" in message and "TEST_ token" in message and "write scope" in message
    assert token not in message and token[5:] not in message
    assert runn.table("clients") == []


def test_missing_columns_are_named_with_the_fix(runn: Runn) -> None:
    writer = RunnWriter(env=runn.env)
    with pytest.raises(
        DestinationConfigError,
        match=r"target projects: column 'client_id' \(or 'client_source_id'\) is missing",
    ):
        writer.write(runn.target("projects"), pa.table({"id": [1], "name": ["Web"]}), "upsert")
    with pytest.raises(DestinationConfigError, match="'minutes' or as 'hours'"):
        writer.write(runn.target("actuals"), pa.table({"person_id": [1], "project_id": [1], "date": ["2025-01-01"],
                                                       "billable": [True]}), "upsert")  # fmt: skip
    with pytest.raises(DestinationConfigError, match="row 2, column 'name': the name is empty"):
        writer.write(runn.target("clients"), pa.table({"id": [1, 2], "name": ["A", None]}), "upsert")
    with pytest.raises(DestinationConfigError, match="no 'source' column"):
        writer.write(runn.target("clients", source=None), clients([1], ["A"]), "upsert")
    with pytest.raises(
        DestinationConfigError,
        match=re.escape("connection_name: {clockify: <connection>, harvest: <connection>}"),
    ):
        table = pa.table({"source": ["clockify", "harvest"], "id": ["a", "1"], "name": ["A", "B"]})
        writer.write(runn.target("clients"), table, "upsert")
    with pytest.raises(DestinationConfigError, match="same id '1'"):
        writer.write(runn.target("clients"), clients([1, 1], ["A", "B"]), "upsert")
    assert runn.requests() == []  # input is checked before anything is sent


def test_modes_other_than_upsert_are_refused(runn: Runn) -> None:
    with pytest.raises(DestinationConfigError, match="set mode: upsert"):
        RunnWriter(env=runn.env).write(runn.target("clients"), clients([1], ["A"]), "replace")
    with pytest.raises(DestinationConfigError, match="mode 'append' is not offered"):
        RunnWriter(env=runn.env).write(runn.target("actuals"), entries([]), "append")


# -- through the registry, as a flow file's output --------------------------------------------------

FLOW = """\
connections:
  harvest: {connector: harvest, access_token: {env: H_TOKEN}, account_id: {env: H_ACCOUNT}}
  clockify: {connector: clockify, api_key: {env: C_KEY}, workspace_id: {env: C_WS}}
flows:
  planning:
    sources:
      users: {connection: harvest, entity: users}
    steps:
      - derive: {from: users, columns: {source: "'harvest'", source_id: "CAST(id AS VARCHAR)"}, as: people}
    outputs:
      - from: people
        to: {runn: {target: clients, connection_name: {clockify: clockify, harvest: harvest}, dry_run: true}}
        mode: upsert
        primary_key: [source, source_id]
"""


def test_a_flow_output_writes_to_runn_through_the_registry(
    runn: Runn, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from destinations.base import Mode
    from pipelines.loader import FlowError, load_flows
    from pipelines.outputs import describe, landing

    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    output = load_flows([path]).flows["planning"].outputs[0]
    assert output.to.kind == "runn" and output.output_name == "runn_clients"
    monkeypatch.setenv("RUNN_API_TOKEN", runn.env["RUNN_API_TOKEN"])
    monkeypatch.setenv("RUNN_BASE_URL", runn.root)
    assert describe(output) == f"Runn clients at {runn.root} (dry run)"
    table = pa.table({"source": ["harvest", "clockify"], "source_id": ["1", "a"], "client": ["Acme", "Beta"]})
    result = landing(output, partitioned=False).write(
        table, Mode.UPSERT, ("source", "source_id"), None, False
    )
    assert (result.extra["created"], result.rows_written, runn.table("clients")) == (2, 0, [])
    bad = FLOW.replace("target: clients", "target: client")
    path.write_text(bad)
    with pytest.raises(
        FlowError,
        match=re.escape("flows.planning.outputs.0.to.runn.target: 'client' is not one of clients, projects"),
    ):
        load_flows([path])


def test_a_runn_landing_hands_its_send_log_to_the_next_write(
    runn: Runn, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Landing.write takes over and saves the writer's own limiters (Destination.limiters), so a
    write in another process starts from this one's sends (pipelines.ratestate)."""
    import json

    from connectors.core.ratelimit import LIMITERS
    from destinations.base import Mode
    from pipelines.loader import load_flows
    from pipelines.outputs import landing

    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    output = load_flows([path]).flows["planning"].outputs[0]
    monkeypatch.setenv("RUNN_API_TOKEN", runn.env["RUNN_API_TOKEN"])
    monkeypatch.setenv("RUNN_BASE_URL", runn.root)
    table = pa.table({"source": ["harvest"], "source_id": ["1"], "client": ["Acme"]})
    LIMITERS.clear()
    try:
        landing(output, partitioned=False, data_dir=str(tmp_path / "data")).write(
            table, Mode.UPSERT, ("source", "source_id"), None, False
        )
    finally:
        LIMITERS.clear()
    saved = json.loads((tmp_path / "data/state/ratelimit/dest-runn_RUNN_API_TOKEN.json").read_text())
    (key, state), *_ = saved["limiters"].items()
    assert key.startswith("runn|") and state["sent"] and state["limits"]
