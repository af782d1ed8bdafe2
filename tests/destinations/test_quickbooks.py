"""The QuickBooks Online writer against the QuickBooks sandbox over real HTTP (uvicorn, ``sandbox/quickbooks``).

Each test gets a fresh company (``/_admin/reset``), its own state folder and no access token in the
process cache, so every write starts from the refresh token as a first run would. Faults come from
the sandbox's admin API (``fail_next``, ``drop_rate``); ``Hook`` runs a step right before a batch
request leaves (switch a fault on, deactivate an employee), which is how "the answer of this batch
is lost" and "this entry became invalid after it was looked up" are staged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from connectors.core.http import RetryPolicy
from connectors.core.ratelimit import LIMITERS, parse_rate_limits
from destinations.base import DestinationAuthError, DestinationConfigError
from destinations.quickbooks import STATE_DIR_ENV, QuickBooksTarget, state_dir
from destinations.quickbooks.errors import InputError, ReconnectError, WriteFailed
from destinations.quickbooks.oauth import Tokens, TokenStore, forget_access_tokens
from destinations.quickbooks.writer import QuickBooksWriter
from pipelines.ledger import Ledger
from sandbox import server
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.quickbooks import QuickBooksOptions, create_app

ORG = OrgOptions(anchor=dt.date(2026, 6, 1), history_days=30)
QBO = QuickBooksOptions()
FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05, timeout=10)
DAY = dt.date(2026, 5, 4)


class Company:
    """One running sandbox: env vars for the writer, the admin API, the names it was seeded with."""

    def __init__(self, running: server.RunningServer, options: QuickBooksOptions = QBO) -> None:
        self.running = running
        self.base = running.url("/quickbooks")
        self.admin_http = httpx.Client(base_url=self.base, timeout=10)
        self.env = {
            "QUICKBOOKS_BASE_URL": self.base + "/v3",
            "QUICKBOOKS_TOKEN_URL": self.base + "/oauth2/v1/tokens/bearer",
            "QUICKBOOKS_CLIENT_ID": options.client_id,
            "QUICKBOOKS_CLIENT_SECRET": options.client_secret,
            "QUICKBOOKS_REFRESH_TOKEN": options.refresh_token,
            "QUICKBOOKS_REALM_ID": options.realm_id,
        }

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = self.admin_http.request(method, f"/_admin/{path}", **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def reset(self) -> None:
        """A fresh company (the sandbox clears its limits too) and a fresh process's tokens and limiters."""
        self.admin("POST", "reset")
        forget_access_tokens()
        LIMITERS.clear()

    def records(self, entity: str) -> list[dict[str, Any]]:
        return list(self.admin("GET", f"state?entity={entity}")["entities"][entity])

    def time_activities(self) -> list[dict[str, Any]]:
        return self.records("TimeActivity")

    def faults(self, **body: Any) -> None:
        self.admin("POST", "faults", json=body)

    def requests(self, ending: str = "") -> list[dict[str, Any]]:
        """The request log (API and token endpoint), of paths ending with ``ending``."""
        return [r for r in self.admin("GET", "requests")["requests"] if r["path"].endswith(ending)]

    def employee(self, index: int = 0) -> dict[str, Any]:
        return [e for e in self.records("Employee") if e.get("Active")][index]

    def job(self) -> tuple[str, str, dict[str, Any]]:
        """(client, project, job record) of an active job whose DisplayName is the project's name."""
        customers = self.records("Customer")
        by_id = {c["Id"]: c for c in customers}
        job = next(c for c in customers if c.get("Job") and c.get("Active") and "(" not in c["DisplayName"])
        return by_id[job["ParentRef"]["value"]]["DisplayName"], job["DisplayName"], job


@pytest.fixture(scope="module")
def running() -> Iterator[server.RunningServer]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(server, "SANDBOXES", [("/quickbooks", create_app)])
        started = server.start_background(SandboxOptions(org=ORG))
    yield started
    started.stop()


@pytest.fixture
def qbo(running: server.RunningServer) -> Iterator[Company]:
    company = Company(running)
    company.reset()
    yield company
    company.admin_http.close()
    forget_access_tokens()


def table(*rows: dict[str, Any], billable: bool = False) -> pa.Table:
    """Rows shaped like the billable_export flow's ``export`` step (plus ``is_billable`` if asked)."""
    columns: dict[str, tuple[pa.DataType, Any]] = {
        "id": (pa.int64(), None),
        "date": (pa.date32(), DAY),
        "users_name": (pa.string(), None),
        "customers_name": (pa.string(), None),
        "projects_name": (pa.string(), None),
        "services_name": (pa.string(), None),
        "text": (pa.string(), None),
        "minutes": (pa.int64(), 60),
        "rounded_minutes": (pa.int64(), None),
        "hourly_rate": (pa.float64(), 100.0),
    }
    if billable:
        columns["is_billable"] = (pa.bool_(), True)
    return pa.table(
        {
            name: pa.array([r.get(name, default) for r in rows], type_)
            for name, (type_, default) in columns.items()
        }
    )


def write(
    qbo: Company, state: Path, rows: pa.Table, hook: httpx.AsyncBaseTransport | None = None, **settings: Any
) -> Any:
    target = QuickBooksTarget.model_validate({"source": "clockodo", **settings})
    return QuickBooksWriter(state, env=qbo.env, transport=hook, retry=FAST).write(
        target, rows, "append", ["id"]
    )


class Hook(httpx.AsyncBaseTransport):
    """Real HTTP, with ``before(n)`` run right before the n-th batch request is sent."""

    def __init__(self, before: Callable[[int], None]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.before, self.batches = before, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch"):
            self.batches += 1
            self.before(self.batches)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- names ------------------------------------------------------------------------------------------
def test_entries_become_time_activities_found_by_exact_name_with_a_quote(
    qbo: Company, tmp_path: Path
) -> None:
    person = qbo.admin("POST", "employee", json={"DisplayName": "Siobhán O'Neill", "GivenName": "Siobhán"})
    pub = qbo.admin("POST", "customer", json={"DisplayName": "O'Reilly's Pub"})
    job = qbo.admin(
        "POST", "customer", json={"DisplayName": "Tap \\ room", "ParentRef": {"value": pub["Id"]}}
    )
    rows = table(
        {"id": 1, "users_name": "Siobhán O'Neill", "projects_name": "O'Reilly's Pub", "text": "Menu design", "minutes": 270, "hourly_rate": 150.0},
        {"id": 2, "users_name": "Siobhán O'Neill", "projects_name": "Tap \\ room", "minutes": 45},
        {"id": 3, "users_name": "siobhán o'neill", "projects_name": "O'Reilly's Pub"},  # differs in case
    )  # fmt: skip
    result = write(qbo, tmp_path, rows)

    assert (result.rows_written, result.extra["created"], result.extra["skipped"]) == (2, 2, 1)
    first, second = sorted(qbo.time_activities(), key=lambda t: t.get("Description", ""))[::-1]
    assert first["EmployeeRef"]["value"] == person["Id"] and first["CustomerRef"]["value"] == pub["Id"]
    assert (
        first["TxnDate"],
        first["Hours"],
        first["Minutes"],
        first["BillableStatus"],
        first["HourlyRate"],
    ) == ("2026-05-04", 4, 30, "Billable", 150)
    assert first["NameOf"] == "Employee" and first["Description"] == "Menu design" and "ItemRef" not in first
    assert second["CustomerRef"]["value"] == job["Id"] and (second["Hours"], second["Minutes"]) == (0, 45)
    (skipped,) = result.extra["report"].to_pylist()
    assert (skipped["id"], skipped["status"], skipped["reason"]) == ("3", "skipped", "unknown_user")
    assert "Siobhán O'Neill" in skipped["detail"] and "differs in case" in skipped["detail"]
    queries = [dict(r["params"])["query"] for r in qbo.requests("/query")]
    assert any("DisplayName IN ('Siobh" in q for q in queries) and any("O\\'Neill" in q for q in queries)
    assert any("'Tap \\\\ room'" in q for q in queries)
    sent = result.extra["sent"].to_pylist()
    assert {s["id"] for s in sent} == {"1", "2"} and all(len(s["request_id"]) <= 36 for s in sent)


def test_mapping_settings_and_file_override_names(qbo: Company, tmp_path: Path) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, job = qbo.job()
    mapping = tmp_path / "names.csv"
    mapping.write_text(
        f"kind,source,quickbooks\nuser,Tara (Clockodo),{employee}\ncustomer,Relaunch,{project}\nitem,Dev,Hours\n"
    )
    rows = table(
        {"id": 1, "users_name": "Tara (Clockodo)", "projects_name": "Relaunch", "services_name": "Dev"},
        {"id": 2, "users_name": "T. O.", "projects_name": "Relaunch", "services_name": "Dev"},
        {"id": 3, "users_name": employee, "projects_name": "Relaunch"},  # not in the user mapping
    )
    result = write(
        qbo, tmp_path / "state", rows, mapping_file=str(mapping), user_map={"T. O.": employee},
        require_user_map=True, columns={"item": "services_name"},
    )  # fmt: skip
    assert result.extra["created"] == 2
    hours = next(i for i in qbo.records("Item") if i["Name"] == "Hours")
    for ta in qbo.time_activities():
        assert ta["EmployeeRef"]["name"] == employee and ta["CustomerRef"]["value"] == job["Id"]
        assert ta["ItemRef"]["value"] == hours["Id"]
    (row,) = result.extra["report"].to_pylist()
    assert (row["id"], row["reason"]) == ("3", "unmapped_user")

    bad = tmp_path / "bad.csv"
    bad.write_text("kind,source,quickbooks\nperson,A,B\n")
    with pytest.raises(InputError, match=r"bad.csv, line 2: give kind \(user, customer or item\)"):
        write(qbo, tmp_path / "state", rows, mapping_file=str(bad))


def test_parent_customer_and_job_by_full_name(qbo: Company, tmp_path: Path) -> None:
    client, project, job = qbo.job()
    employee = qbo.employee(1)["DisplayName"]
    rows = table(
        {"id": 1, "users_name": employee, "customers_name": client, "projects_name": project},
        {"id": 2, "users_name": employee, "customers_name": "No Such Client", "projects_name": project},
        {"id": 3, "users_name": employee, "customers_name": None, "projects_name": project},
    )
    result = write(qbo, tmp_path, rows, customer="client_project")
    (ta,) = qbo.time_activities()
    assert ta["CustomerRef"] == {"value": job["Id"], "name": f"{client}:{project}"}
    report = {r["id"]: r for r in result.extra["report"].to_pylist()}
    assert {k: r["reason"] for k, r in report.items()} == {"2": "unknown_customer", "3": "no_client"}
    assert f"FullyQualifiedName 'No Such Client:{project}'" in report["2"]["detail"]
    assert report["2"]["customer"] == f"No Such Client:{project}"


# -- rounding, items, billable, skip reasons --------------------------------------------------------
def test_rounding_item_and_the_skip_reasons(qbo: Company, tmp_path: Path) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    ok = {"users_name": employee, "projects_name": project}
    rows = table(
        {"id": 1, **ok, "minutes": 98},  # 1 h 38 min -> 1 h 45 min (15, up)
        {"id": 2, **ok, "is_billable": False},
        {"id": 3, "users_name": employee, "projects_name": None},
        {"id": 4, **ok, "users_name": "Somebody Else"},
        {"id": 5, **ok, "minutes": 23 * 60 + 50},  # rounds up to 24 h 00
        {"id": 6, **ok, "minutes": 23 * 60 + 45},  # 23 h 45: fine
        {"id": 7, **ok, "hourly_rate": None},
        {"id": 8, **ok, "minutes": None},
        billable=True,
    )
    result = write(qbo, tmp_path, rows, rounding={"minutes": 15, "direction": "up"}, item="Hours")
    sent = {(t["Hours"], t["Minutes"]) for t in qbo.time_activities()}
    assert sent == {(1, 45), (23, 45)} and all(t["ItemRef"]["name"] == "Hours" for t in qbo.time_activities())
    report = {r["id"]: r for r in result.extra["report"].to_pylist()}
    assert {k: r["reason"] for k, r in report.items()} == {
        "2": "not_billable", "3": "no_project", "4": "unknown_user", "5": "too_long",
        "7": "no_hourly_rate", "8": "no_duration",
    }  # fmt: skip
    assert (
        report["5"]["minutes"] == 24 * 60
        and "24 h 00 min (rounded from 23 h 50 min)" in report["5"]["detail"]
    )
    assert result.extra["skipped_by_reason"]["too_long"] == 1

    more = table({"id": 2, **ok, "is_billable": False, "hourly_rate": None}, billable=True)
    again = write(qbo, tmp_path, more, billable_only=False)
    assert again.extra["created"] == 1
    assert [t["BillableStatus"] for t in qbo.time_activities()].count("NotBillable") == 1


# -- OAuth -------------------------------------------------------------------------------------------
def test_the_rotated_refresh_token_is_stored_0600_and_used_next_run(qbo: Company, tmp_path: Path) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    write(qbo, tmp_path, table({"id": 1, "users_name": employee, "projects_name": project}))
    token_file = tmp_path / QBO.realm_id / "refresh_token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    stored = json.loads(token_file.read_text())["refresh_token"]
    tokens = {t["token"]: t["state"] for t in qbo.admin("GET", "tokens")["refresh_tokens"]}
    assert tokens[QBO.refresh_token] == "used" and tokens[stored] == "live"

    forget_access_tokens()  # a new process: the env var still holds the first (now dead) token
    write(qbo, tmp_path, table({"id": 2, "users_name": employee, "projects_name": project}))
    assert len(qbo.time_activities()) == 2
    assert json.loads(token_file.read_text())["refresh_token"] != stored

    # a reconnect: a new token in the env var wins over the stored chain (and replaces the file)
    issued = qbo.admin("POST", "tokens/issue")["refresh_token"]
    forget_access_tokens()
    qbo.env["QUICKBOOKS_REFRESH_TOKEN"] = issued
    write(qbo, tmp_path, table({"id": 3, "users_name": employee, "projects_name": project}))
    states = {t["token"]: t["state"] for t in qbo.admin("GET", "tokens")["refresh_tokens"]}
    assert states[issued] == "used" and len(qbo.time_activities()) == 3


def test_access_token_refreshed_before_it_expires_and_after_a_401(qbo: Company, tmp_path: Path) -> None:
    now = [1000.0]
    tokens = Tokens(
        client_id=QBO.client_id, client_secret=QBO.client_secret, env_refresh_token=QBO.refresh_token,
        refresh_env="QUICKBOOKS_REFRESH_TOKEN", store=TokenStore(tmp_path / QBO.realm_id),
        token_url=qbo.env["QUICKBOOKS_TOKEN_URL"], realm=QBO.realm_id, environment="sandbox",
        clock=lambda: now[0],
    )  # fmt: skip
    first = asyncio.run(tokens.access_token())
    now[0] += 3600 - 301  # an access token lives 3600 s: still used 5 min before its end...
    assert asyncio.run(tokens.access_token()) == first and tokens.refreshes == 1
    now[0] += 2  # ...and replaced within the last 5 minutes, while it still works
    second = asyncio.run(tokens.access_token())
    states = {t["token"]: t["state"] for t in qbo.admin("GET", "tokens")["access_tokens"]}
    assert second != first and states[first] == "live" and tokens.refreshes == 2

    forget_access_tokens()
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    write(qbo, tmp_path, table({"id": 1, "users_name": employee, "projects_name": project}))
    qbo.admin("POST", "tokens/expire", json={"access": True})  # revoked early: a 401, one refresh, a retry
    result = write(qbo, tmp_path, table({"id": 2, "users_name": employee, "projects_name": project}))
    # the two look-ups in flight were both refused: one refresh served both retries
    assert result.extra["created"] == 1 and result.extra["token_refreshes"] == 1
    assert [r["status"] for r in qbo.requests("/query")].count(401) == 2


@pytest.mark.parametrize("how", ["revoke", "expire"])
def test_a_dead_refresh_token_says_how_to_reconnect(qbo: Company, tmp_path: Path, how: str) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    write(qbo, tmp_path, table({"id": 1, "users_name": employee, "projects_name": project}))
    if how == "revoke":
        qbo.admin("POST", "tokens/revoke")
    else:
        qbo.admin("POST", "tokens/expire", json={"access": True, "refresh": True})
    forget_access_tokens()
    with pytest.raises(ReconnectError) as caught:
        write(qbo, tmp_path, table({"id": 2, "users_name": employee, "projects_name": project}))
    text = str(caught.value)
    assert "invalid_grant" in text and "QUICKBOOKS_REFRESH_TOKEN" in text and "OAuth 2.0 Playground" in text
    assert (
        str(tmp_path / QBO.realm_id / "refresh_token.json") in text
        and "com.intuit.quickbooks.accounting" in text
    )
    assert len(qbo.time_activities()) == 1


def test_missing_credentials_and_bad_client_secret(qbo: Company, tmp_path: Path) -> None:
    rows = table({"id": 1, "users_name": qbo.employee(0)["DisplayName"], "projects_name": qbo.job()[1]})
    del qbo.env["QUICKBOOKS_CLIENT_SECRET"]
    with pytest.raises(DestinationAuthError, match="QUICKBOOKS_CLIENT_SECRET not set"):
        write(qbo, tmp_path, rows)
    qbo.env["QUICKBOOKS_CLIENT_SECRET"] = "wrong-secret-value"
    with pytest.raises(DestinationAuthError, match="invalid_client") as caught:
        write(qbo, tmp_path, rows)
    assert "wrong-secret-value" not in str(caught.value)
    del qbo.env["QUICKBOOKS_REFRESH_TOKEN"]
    qbo.env["QUICKBOOKS_CLIENT_SECRET"] = QBO.client_secret
    with pytest.raises(ReconnectError, match="QUICKBOOKS_REFRESH_TOKEN is not set"):
        write(qbo, tmp_path / "other", rows)


# -- exactly once ------------------------------------------------------------------------------------
def test_a_dropped_answer_is_replayed_by_requestid_not_created_twice(qbo: Company, tmp_path: Path) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    rows = table(*({"id": i, "users_name": employee, "projects_name": project} for i in (1, 2, 3)))

    # The first batch request is done by QuickBooks and its answer lost (drop_rate after the work);
    # the retry carries the same requestid and gets the first answer back.
    hook = Hook(lambda n: qbo.faults(drop_rate=1.0 if n == 1 else 0.0))
    result = write(qbo, tmp_path, rows, hook=hook)
    assert hook.batches == 2 and result.extra["created"] == 3 and result.extra["retries"] >= 1
    assert len(qbo.time_activities()) == 3
    batches = [r for r in qbo.requests("/batch")]
    assert batches[0]["status"] == "dropped" and dict(batches[0]["params"])["requestid"] == dict(batches[1]["params"])["requestid"]  # fmt: skip

    # A batch dropped before it runs (fail_next drop): the retry creates it, once.
    qbo.faults(fail_next=[{"drop": True, "count": 1, "path": "/batch"}])
    result = write(
        qbo, tmp_path, table(*({"id": i, "users_name": employee, "projects_name": project} for i in (4, 5)))
    )
    assert result.extra["created"] == 2 and len(qbo.time_activities()) == 5


def test_a_batch_whose_answer_never_came_is_replayed_by_the_next_run(qbo: Company, tmp_path: Path) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    rows = table(*({"id": i, "users_name": employee, "projects_name": project} for i in (1, 2)))
    hook = Hook(lambda n: qbo.faults(drop_rate=1.0))  # every attempt done, every answer lost
    with pytest.raises(WriteFailed, match="2 in doubt") as caught:
        write(qbo, tmp_path, rows, hook=hook)
    qbo.faults(drop_rate=0.0)
    assert hook.batches == FAST.max_attempts and len(qbo.time_activities()) == 2  # created once, answer lost
    failed: Any = caught.value.result
    assert failed.extra["delivered"].num_rows == 0  # a ledger records none of them
    pending = tmp_path / QBO.realm_id / "clockodo" / "pending.json"
    assert pending.exists()

    # Next run (the source has one entry more): the lost batch is replayed first, byte for byte.
    more = table(*({"id": i, "users_name": employee, "projects_name": project} for i in (1, 2, 3)))
    result = write(qbo, tmp_path, more)
    assert result.extra["created"] == 3 and len(qbo.time_activities()) == 3 and not pending.exists()
    assert sorted(result.extra["delivered"].column("id").to_pylist()) == [1, 2, 3]
    again = write(qbo, tmp_path, more)
    assert (again.extra["created"], again.extra["already_sent"], len(qbo.time_activities())) == (0, 3, 3)


def test_a_replayed_refusal_is_sent_again_in_the_same_run(qbo: Company, tmp_path: Path) -> None:
    """The lost answer was a refusal (the employee was inactive then): the replay shows it, and the
    entry goes again with a new requestid (the old one would replay the refusal forever)."""
    person = qbo.employee(0)
    _, project, _ = qbo.job()
    rows = table({"id": 1, "users_name": person["DisplayName"], "projects_name": project})

    def lose_a_refusal(n: int) -> None:
        qbo.admin("PATCH", f"employee/{person['Id']}", json={"Active": False})
        qbo.faults(drop_rate=1.0)

    with pytest.raises(WriteFailed, match="1 in doubt"):
        write(qbo, tmp_path, rows, hook=Hook(lose_a_refusal))
    qbo.faults(drop_rate=0.0)
    qbo.admin("PATCH", f"employee/{person['Id']}", json={"Active": True})
    assert qbo.time_activities() == []
    result = write(qbo, tmp_path, rows)
    assert (result.extra["created"], result.extra["rejected"], len(qbo.time_activities())) == (1, 0, 1)
    rids = {dict(r["params"])["requestid"] for r in qbo.requests("/batch")}
    assert len(rids) == 2


def test_one_refused_entry_does_not_lose_the_others(qbo: Company, tmp_path: Path) -> None:
    leaving, staying = qbo.employee(0), qbo.employee(1)
    _, project, _ = qbo.job()
    rows = table(
        {"id": 1, "users_name": staying["DisplayName"], "projects_name": project},
        {"id": 2, "users_name": leaving["DisplayName"], "projects_name": project},
        {"id": 3, "users_name": staying["DisplayName"], "projects_name": project},
    )
    # The employee is made inactive after the look-up, before the batch arrives: that item gets a Fault.
    hook = Hook(
        lambda n: qbo.admin("PATCH", f"employee/{leaving['Id']}", json={"Active": False}) if n == 1 else None
    )
    with pytest.raises(WriteFailed, match="1 rejected") as caught:
        write(qbo, tmp_path, rows, hook=hook)
    result: Any = caught.value.result
    assert len(qbo.time_activities()) == 2 and result.extra["created"] == 2
    assert sorted(result.extra["delivered"].column("id").to_pylist()) == [1, 3]
    (refused,) = result.extra["report"].to_pylist()
    assert (refused["id"], refused["status"]) == ("2", "rejected") and "2500" in refused["detail"]

    # fixed in QuickBooks: the next run sends it (a new requestid: the refusal is not replayed)
    qbo.admin("PATCH", f"employee/{leaving['Id']}", json={"Active": True})
    again = write(qbo, tmp_path, rows)
    assert (again.extra["created"], again.extra["already_sent"], len(qbo.time_activities())) == (1, 2, 3)

    # on_rejected: report keeps the run green and lists the refusal
    late = table({"id": 9, "users_name": staying["DisplayName"], "projects_name": project})
    hook = Hook(lambda n: qbo.admin("PATCH", f"employee/{staying['Id']}", json={"Active": False}))
    quiet = write(qbo, tmp_path, late, hook=hook, on_rejected="report")
    assert quiet.extra["rejected"] == 1 and quiet.extra["delivered"].num_rows == 0


def test_throttling_and_concurrency_limits_are_honoured(qbo: Company, tmp_path: Path) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    qbo.faults(fail_next=[{"status": 429, "count": 2, "path": "/batch"}], latency_ms=40)
    rows = table(*({"id": i, "users_name": employee, "projects_name": project} for i in range(1, 26)))
    result = write(qbo, tmp_path, rows, batch_size=1)  # 25 batch requests at once, 10 in flight at most
    assert result.extra["created"] == 25 and len(qbo.time_activities()) == 25
    assert result.extra["retries"] >= 2 and result.extra["throttled_seconds"] > 0
    statuses = [r["status"] for r in qbo.requests("/batch")]
    assert statuses.count(429) == 2 and statuses.count(200) == 25  # only the injected ones


def test_each_batch_item_is_metered_like_a_request(qbo: Company, tmp_path: Path) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    rows = table(*({"id": i, "users_name": employee, "projects_name": project} for i in range(1, 31)))
    # 2 look-ups + 1 batch of 30 items = 32 requests as QuickBooks counts them (reference §3, §8)
    result = write(qbo, tmp_path, rows, rate_limit="32/min")
    assert result.extra["created"] == 30 and result.extra["requests"] == 3  # the token endpoint aside
    limiter = LIMITERS.get(
        ("quickbooks", qbo.env["QUICKBOOKS_BASE_URL"], QBO.realm_id), parse_rate_limits("32/min")
    )
    assert limiter.delay(time.monotonic()) > 50  # every slot of the minute taken: the next request waits


def test_an_entry_edited_after_it_was_sent_is_reported_with_both_values(qbo: Company, tmp_path: Path) -> None:
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    first = table(
        {"id": 1, "users_name": employee, "projects_name": project, "minutes": 90, "text": "Kick-off"},
        {"id": 2, "users_name": employee, "projects_name": project, "minutes": 30},
    )
    write(qbo, tmp_path, first)
    edited = table(
        {
            "id": 1,
            "users_name": employee,
            "projects_name": project,
            "minutes": 120,
            "text": "Kick-off workshop",
        },
        {"id": 2, "users_name": employee, "projects_name": project, "minutes": 30},
    )
    result = write(qbo, tmp_path, edited)
    assert (result.extra["created"], result.extra["already_sent"], result.extra["changed_since_sent"]) == (
        0,
        2,
        1,
    )
    (changed,) = result.extra["report"].to_pylist()
    assert (
        changed["status"] == "changed_since_sent"
        and changed["changed_fields"] == "description, hours, minutes"
    )
    sent, now = json.loads(changed["sent"]), json.loads(changed["now"])
    assert (sent["hours"], sent["minutes"], sent["description"]) == (1, 30, "Kick-off")
    assert (now["hours"], now["minutes"], now["description"]) == (2, 0, "Kick-off workshop")
    ta = next(t for t in qbo.time_activities() if t["Id"] == changed["time_activity_id"])
    assert (ta["Hours"], ta["Minutes"]) == (1, 30) and len(qbo.time_activities()) == 2  # left as sent


def test_append_new_through_the_ledger_records_only_what_quickbooks_confirmed(
    qbo: Company, tmp_path: Path
) -> None:
    """As publish does for append_new: new rows from the ledger, recorded after the write — here the
    write's ``delivered`` keys, so skipped rows come back once their name exists in QuickBooks."""
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    rows = table(
        {"id": 1, "users_name": employee, "projects_name": project},
        {"id": 2, "users_name": "New Hire", "projects_name": project},
    )
    ledger = Ledger(tmp_path, "billable_export", "quickbooks")
    fresh = ledger.new_rows(rows, ["id"])
    result = write(qbo, tmp_path, fresh)
    ledger.record(result.extra["delivered"], ["id"])
    qbo.admin("POST", "employee", json={"DisplayName": "New Hire"})
    fresh = ledger.new_rows(rows, ["id"])
    assert fresh.column("id").to_pylist() == [2]
    assert write(qbo, tmp_path, fresh).extra["created"] == 1 and len(qbo.time_activities()) == 2


# -- input and secrets -------------------------------------------------------------------------------
def test_bad_input_is_a_clear_error(qbo: Company, tmp_path: Path) -> None:
    rows = table({"id": 1, "users_name": "A", "projects_name": "B"}).drop_columns(["projects_name"])
    with pytest.raises(InputError, match=r"lack the column\(s\) 'projects_name' \(project\)"):
        write(qbo, tmp_path, rows)
    rows = table({"id": 1, "users_name": "A", "projects_name": "B"}).set_column(
        1, "date", pa.array(["4 May"], pa.string())
    )
    with pytest.raises(InputError, match=r"row 1, column 'date': '4 May' is not a date"):
        write(qbo, tmp_path, rows)
    with pytest.raises(InputError, match=r"'rate' \(hourly_rate\)"):
        write(qbo, tmp_path, table({"id": 1}), columns={"hourly_rate": "rate"})
    with pytest.raises(DestinationConfigError, match="mode 'replace' is not offered"):
        QuickBooksWriter(tmp_path, env=qbo.env).write(
            QuickBooksTarget(source="x"), table({"id": 1}), "replace"
        )
    assert qbo.requests("/batch") == [] and qbo.requests("/bearer") == []


def test_secrets_never_reach_logs_errors_or_files(
    qbo: Company, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    employee = qbo.employee(0)["DisplayName"]
    _, project, _ = qbo.job()
    texts: list[str] = []
    write(qbo, tmp_path, table({"id": 1, "users_name": employee, "projects_name": project, "minutes": 5000}))
    write(qbo, tmp_path, table({"id": 2, "users_name": employee, "projects_name": project}))
    qbo.admin("POST", "tokens/expire", json={"access": True})  # a 401 and a refresh
    write(qbo, tmp_path, table({"id": 3, "users_name": employee, "projects_name": project}))
    qbo.admin("POST", "tokens/revoke")
    forget_access_tokens()
    for failing in (
        lambda: write(qbo, tmp_path, table({"id": 4, "users_name": employee, "projects_name": project})),
        lambda: write(
            qbo, tmp_path / "x", table({"id": 4, "users_name": employee, "projects_name": project})
        ),
    ):
        with pytest.raises(DestinationAuthError) as caught:
            failing()
        texts.append(str(caught.value))
    tokens = qbo.admin("GET", "tokens")
    secrets = {QBO.client_secret, *(t["token"] for t in tokens["refresh_tokens"] + tokens["access_tokens"])}
    assert len(secrets) >= 5  # the client secret, three refresh tokens (two rotated), two access tokens
    texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "refresh_token.json":
            texts.append(path.read_text("utf-8", errors="replace"))
    leaked = [s for s in secrets for t in texts if s in t]
    assert leaked == []
    assert [p.name for p in tmp_path.rglob("refresh_token.json")] == ["refresh_token.json"]


def test_state_lives_under_the_data_dir_or_where_the_variable_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    assert state_dir("data") == os.path.join("data", "quickbooks")
    with pytest.raises(DestinationConfigError, match=STATE_DIR_ENV) as err:
        state_dir("s3://bucket/couplet")
    assert "settings.data_dir" in str(err.value)
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    assert state_dir("s3://bucket/couplet") == str(tmp_path)
