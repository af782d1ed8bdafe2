"""The QuickBooks Online sandbox against the public contract (reference/quickbooks.md), over real HTTP:
each test talks to a uvicorn server serving the sandbox at /quickbooks, as `couplet sandbox` does."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from sandbox import server
from sandbox.common import RateWindow, SandboxOptions
from sandbox.org import Org, OrgOptions
from sandbox.quickbooks import QuickBooksOptions, create_app

ORG = OrgOptions(anchor=dt.date(2026, 6, 1), history_days=30)
QBO = QuickBooksOptions()
REALM = QBO.realm_id
BASIC = "Basic " + base64.b64encode(f"{QBO.client_id}:{QBO.client_secret}".encode()).decode()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AGENCY = Org(ORG)  # the seeded company holds its people, clients, projects and services
# Customer, Vendor and Employee share one id sequence: clients and projects first, then people.
EMPLOYEE, EMPLOYEE_ID = AGENCY.people[3].name, str(len(AGENCY.clients) + len(AGENCY.projects) + 4)
LEFT_ID = next(str(len(AGENCY.clients) + len(AGENCY.projects) + i + 1) for i, p in enumerate(AGENCY.people)
               if p.exit_date and p.exit_date <= AGENCY.anchor)  # an employee who left: inactive  # fmt: skip
NEXT_NAME_ID = str(len(AGENCY.clients) + len(AGENCY.projects) + len(AGENCY.people) + 3)  # after two vendors
ITEM_HOURS, INTERNAL = "2", "1"  # seeded: item "Hours", customer "Couplet Agency (internal)"


class Qbo:
    """A client of one running sandbox: its own tokens, requests under /v3/company/{realm}."""

    def __init__(self, running: server.RunningServer) -> None:
        self.server = running
        self.http = httpx.Client(base_url=running.url("/quickbooks"), timeout=10)
        self.refresh_token = QBO.refresh_token
        self.access_token = ""

    def refresh(self, token: str | None = None, auth: str = BASIC) -> httpx.Response:
        body = {"grant_type": "refresh_token", "refresh_token": token or self.refresh_token}
        r = self.http.post("/oauth2/v1/tokens/bearer", data=body, headers={**FORM, "Authorization": auth})
        if r.status_code == 200:
            self.refresh_token, self.access_token = r.json()["refresh_token"], r.json()["access_token"]
        return r

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.access_token}",
            "Accept": "application/json",
            **kw.pop("headers", {}),
        }
        params = {"minorversion": 75, **(params or {})}
        return self.http.request(method, f"/v3/company/{REALM}{path}", params=params, headers=headers, **kw)

    def query(self, text: str) -> httpx.Response:
        return self.call("GET", "/query", {"query": text})

    def rows(self, text: str) -> list[dict[str, Any]]:
        r = self.query(text)
        assert r.status_code == 200, r.text
        return next(iter(v for k, v in r.json()["QueryResponse"].items() if isinstance(v, list)), [])

    def create(self, entity: str, body: dict[str, Any], **params: Any) -> httpx.Response:
        return self.call("POST", f"/{entity.lower()}", params, json=body)

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, f"/_admin/{path}", **kw)
        assert r.status_code < 300, r.text
        return r.json()


@contextmanager
def sandbox(qbo: QuickBooksOptions = QBO, **options: Any) -> Iterator[Qbo]:
    """The QuickBooks sandbox alone behind uvicorn (with a fresh access token)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(server, "SANDBOXES", [("/quickbooks", create_app)])
        running = server.start_background(SandboxOptions(org=ORG, quickbooks=qbo, **options))
    client = Qbo(running)
    try:
        assert client.refresh().status_code == 200
        assert client.call("GET", f"/employee/{EMPLOYEE_ID}").json()["Employee"]["DisplayName"] == EMPLOYEE
        yield client
    finally:
        client.http.close()
        running.stop()


@pytest.fixture
def qbo() -> Iterator[Qbo]:
    with sandbox() as client:
        yield client


def fault(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    """The one Error of a `Fault` body (reference §4), after checking the envelope."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"Fault", "time"} and body["Fault"]["type"] == "ValidationFault"
    (error,) = body["Fault"]["Error"]
    assert set(error) == {"Message", "Detail", "code", "element"} and isinstance(error["code"], str)
    return dict(error)


def entry(**fields: Any) -> dict[str, Any]:
    return {"NameOf": "Employee", "EmployeeRef": {"value": EMPLOYEE_ID}, "TxnDate": "2026-01-05", "Hours": 4,
            "Minutes": 30, **fields}  # fmt: skip


# -- OAuth ------------------------------------------------------------------------------------------
def test_refresh_rotates_the_refresh_token_and_the_old_one_is_invalid_grant(qbo: Qbo) -> None:
    first = qbo.refresh_token
    r = qbo.refresh()
    body = r.json()
    assert r.status_code == 200 and set(body) == {"token_type", "access_token", "refresh_token", "expires_in",
                                                  "x_refresh_token_expires_in"}  # fmt: skip
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert 8_726_300 < body["x_refresh_token_expires_in"] <= 8_726_400 and body["refresh_token"] != first
    old = qbo.refresh(first)  # the token used a moment ago is gone (a retry after a lost answer, too)
    assert (old.status_code, old.json()) == (400, {"error": "invalid_grant"})
    assert qbo.refresh(QBO.refresh_token).json() == {"error": "invalid_grant"}  # the initial one as well
    assert qbo.refresh().status_code == 200 and qbo.query("select * from Item").status_code == 200

    bad_client = "Basic " + base64.b64encode(f"{QBO.client_id}:wrong".encode()).decode()
    assert (qbo.refresh(auth=bad_client).status_code, qbo.refresh(auth=bad_client).json()) == (401, {"error": "invalid_client"})  # fmt: skip
    assert qbo.refresh(auth="").status_code == 401
    assert qbo.refresh("no-such-token").json() == {"error": "invalid_grant"}
    other = {"grant_type": "client_credentials"}
    r = qbo.http.post("/oauth2/v1/tokens/bearer", data=other, headers={**FORM, "Authorization": BASIC})
    assert (r.status_code, r.json()) == (400, {"error": "unsupported_grant_type"})
    r = qbo.http.post(
        "/oauth2/v1/tokens/bearer", json={"grant_type": "refresh_token"}, headers={"Authorization": BASIC}
    )
    assert (r.status_code, r.json()) == (400, {"error": "invalid_request"})


def test_revoked_and_expired_refresh_tokens_are_invalid_grant(qbo: Qbo) -> None:
    qbo.admin("POST", "tokens/expire", json={"access": False, "refresh": True})
    assert qbo.refresh().json() == {"error": "invalid_grant"}
    issued = qbo.admin("POST", "tokens/issue")  # a fresh consent
    qbo.refresh_token, qbo.access_token = issued["refresh_token"], issued["access_token"]
    assert qbo.query("select * from Item").status_code == 200
    qbo.admin("POST", "tokens/revoke")
    assert qbo.refresh().json() == {"error": "invalid_grant"}
    assert qbo.query("select * from Item").status_code == 401
    qbo.admin("POST", "reset")  # the initial refresh token is live again
    qbo.refresh_token = QBO.refresh_token
    assert qbo.refresh().status_code == 200


def test_an_expired_access_token_is_401_until_refreshed() -> None:
    with sandbox(QuickBooksOptions(access_token_seconds=0.5)) as qbo:
        assert qbo.query("select * from Employee").status_code == 200
        time.sleep(0.55)
        r = qbo.query("select * from Employee")
        assert r.status_code == 401 and "Fault" not in r.json()  # not the normal Fault (reference §2)
        (error,) = r.json()["fault"]["error"]
        assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
        assert error["code"] == "3200" and "expired" in error["detail"].lower()
        assert (
            qbo.refresh().json()["expires_in"] == 1 and qbo.query("select * from Employee").status_code == 200
        )
        qbo.admin("POST", "tokens/expire")  # the admin way: no waiting
        assert qbo.query("select * from Employee").status_code == 401
        assert qbo.call("GET", f"/employee/{EMPLOYEE_ID}", headers={"Authorization": ""}).status_code == 401


def test_realm_and_minorversion(qbo: Qbo) -> None:
    other = qbo.http.get(
        f"/v3/company/123/employee/{EMPLOYEE_ID}", headers={"Authorization": f"Bearer {qbo.access_token}"}
    )
    assert (
        other.status_code == 403
        and "ApplicationAuthorizationFailed" in other.json()["fault"]["error"][0]["message"]
    )
    assert (
        qbo.call("GET", f"/employee/{EMPLOYEE_ID}", {"minorversion": 75}).json()["Employee"]["DisplayName"]
        == EMPLOYEE
    )
    assert qbo.http.get(f"/v3/company/{REALM}/employee/{EMPLOYEE_ID}", headers={"Authorization": f"Bearer {qbo.access_token}"}).status_code == 200  # fmt: skip
    for low in ("74", "4", "x"):
        assert (
            fault(qbo.call("GET", f"/employee/{EMPLOYEE_ID}", {"minorversion": low}))["element"]
            == "minorversion"
        )
    with sandbox(QuickBooksOptions(min_minor_version=None)) as lenient:
        assert lenient.call("GET", f"/employee/{EMPLOYEE_ID}", {"minorversion": 4}).status_code == 200
    assert fault(qbo.call("GET", "/employee/9999"))["code"] == "610"
    assert fault(qbo.call("GET", "/timeactivities/1"), 404)["code"] == "500"


# -- query ------------------------------------------------------------------------------------------
def test_query_by_display_name_with_quotes_and_escapes(qbo: Qbo) -> None:
    made = qbo.create(
        "Employee", {"GivenName": "Dana", "FamilyName": "O'Brien", "DisplayName": "Dana O'Brien"}
    )
    assert made.status_code == 200, made.text
    (dana,) = qbo.rows(r"select * from Employee where DisplayName = 'Dana O\'Brien'")
    assert dana["Id"] == made.json()["Employee"]["Id"] and dana["PrintOnCheckName"] == "Dana O'Brien"
    posted = qbo.call("POST", "/query", content=r"SELECT * FROM Employee WHERE DisplayName = 'Dana O\'Brien'",
                      headers={"Content-Type": "application/text"})  # fmt: skip
    assert posted.json()["QueryResponse"]["Employee"] == [dana]
    as_json = qbo.call(
        "POST", "/query", json={"query": "select * from Employee"}
    )  # the body is the select text
    assert fault(as_json)["code"] == "500"
    assert fault(qbo.query("select * from Employee where DisplayName = 'Dana O''Brien'"))["code"] == "4000"
    assert fault(qbo.query("select * from Employee where DisplayName = 'Dana O'Brien'"))["code"] == "4000"
    assert (
        qbo.rows(f"select * from Employee where DisplayName = '{EMPLOYEE.lower()}'")[0]["Id"] == EMPLOYEE_ID
    )
    assert qbo.rows("select * from Employee where DisplayName = 'Nobody'") == []
    assert qbo.query("select * from Employee where DisplayName = 'Nobody'").json()["QueryResponse"] == {}
    jobs = qbo.rows("select * from Customer where FullyQualifiedName LIKE 'Nordlicht Bakery:%'")
    assert {j["FullyQualifiedName"] for j in jobs} == {"Nordlicht Bakery:Website relaunch",
                                                        "Nordlicht Bakery:Newsletter programme"}  # fmt: skip
    assert all(
        j["Job"] and j["Level"] == 1 and j["ParentRef"]["value"] == jobs[0]["ParentRef"]["value"]
        for j in jobs
    )
    (hours,) = qbo.rows("select * from Item where Type = 'Service' and Name = 'Hours'")
    assert hours["Id"] == ITEM_HOURS
    after = str(int(EMPLOYEE_ID) + 1)
    two = qbo.rows(f"select * from Employee where Id IN ('{EMPLOYEE_ID}', '{after}', '9999') ORDERBY Id DESC")
    assert [e["Id"] for e in two] == [after, EMPLOYEE_ID]
    for bad in ("select * from employee", "select DisplayName from Employee",
                "select * from Employee where DisplayName = 'a' OR DisplayName = 'b'",
                "select * from Employee where Notes = 'x'", "select * from Employee ORDER BY Id",
                "select * from Employee MAXRESULTS 5 STARTPOSITION 1", "select * from TimeActivity where TxnDate > 'soon'"):  # fmt: skip
        assert fault(qbo.query(bad))["code"] == "4000", bad


def test_query_paging_and_count() -> None:
    with sandbox(QuickBooksOptions(default_max_results=4, max_results=10)) as qbo:
        total = qbo.query("select count(*) from Customer").json()["QueryResponse"]
        assert set(total) == {"totalCount"} and total["totalCount"] > 25
        seen, start = [], 1
        while True:
            r = qbo.query(f"select * from Customer STARTPOSITION {start} MAXRESULTS 7").json()[
                "QueryResponse"
            ]
            if not r:
                break
            assert r["startPosition"] == start and r["maxResults"] == len(r["Customer"]) <= 7
            seen += [c["Id"] for c in r["Customer"]]
            start += r["maxResults"]
        assert len(seen) == len(set(seen)) == total["totalCount"]
        default = qbo.query("select * from Customer").json()["QueryResponse"]
        capped = qbo.query("select * from Customer MAXRESULTS 1000").json()["QueryResponse"]
        assert (default["maxResults"], capped["maxResults"]) == (4, 10)  # silently capped


# -- creates ----------------------------------------------------------------------------------------
def test_create_time_activity_and_read_it_back(qbo: Qbo) -> None:
    body = entry(CustomerRef={"value": INTERNAL}, ItemRef={"value": ITEM_HOURS}, BillableStatus="Billable",
                 HourlyRate=150, Description="Sprint work (couplet:entry-123)")  # fmt: skip
    r = qbo.create("TimeActivity", body, requestid="3f1c2a9e-0b7d-4c55-9e1e-7a3c8b2d1f00")
    assert r.status_code == 200 and set(r.json()) == {"TimeActivity", "time"}
    ta = r.json()["TimeActivity"]
    assert ta["EmployeeRef"] == {"value": EMPLOYEE_ID, "name": EMPLOYEE} and ta["ItemRef"]["name"] == "Hours"
    assert ta["CustomerRef"] == {"value": INTERNAL, "name": "Couplet Agency (internal)"}
    assert (ta["SyncToken"], ta["domain"], ta["sparse"], ta["Taxable"], ta["Hours"], ta["Minutes"]) == ("0", "QBO", False, False, 4, 30)  # fmt: skip
    assert ta["MetaData"]["CreateTime"].endswith("-08:00") and ta["Id"].isdigit()
    assert qbo.call("GET", f"/timeactivity/{ta['Id']}").json()["TimeActivity"] == ta
    span = qbo.create("TimeActivity", entry(Hours=None, Minutes=None, StartTime="2026-01-05T09:00:00-08:00",
                                            EndTime="2026-01-05T12:15:00-08:00", BreakMinutes=15))  # fmt: skip
    assert span.status_code == 200 and span.json()["TimeActivity"]["EndTime"] == "2026-01-05T12:15:00-08:00"
    vendor = qbo.rows("select * from Vendor where DisplayName = 'Mara Vogel'")[0]
    contractor = qbo.create(
        "TimeActivity", {"NameOf": "Vendor", "VendorRef": {"value": vendor["Id"]}, "Hours": 2}
    )
    assert contractor.json()["TimeActivity"]["VendorRef"]["name"] == "Mara Vogel"
    assert contractor.json()["TimeActivity"]["BillableStatus"] == "NotBillable"


@pytest.mark.parametrize(
    ("change", "code", "element"),
    [
        ({"NameOf": None}, "2020", "NameOf"),
        ({"NameOf": "Employees"}, "2170", "NameOf"),
        ({"EmployeeRef": None}, "2020", "EmployeeRef"),
        ({"EmployeeRef": {"value": "999"}}, "2500", "EmployeeRef"),
        (
            {"EmployeeRef": {"value": LEFT_ID}},
            "2500",
            "EmployeeRef",
        ),  # an inactive employee (left the agency)
        ({"CustomerRef": {"value": "999"}}, "2500", "CustomerRef"),
        ({"ItemRef": {"value": "999"}}, "2500", "ItemRef"),
        ({"BillableStatus": "HAS_BEEN_BILLED"}, "2170", "BillableStatus"),
        ({"BillableStatus": "Billable"}, "2020", "CustomerRef"),
        ({"BillableStatus": "Billable", "CustomerRef": {"value": "1"}}, "2020", "HourlyRate"),
        ({"Minutes": 75}, "6000", "Minutes"),
        ({"Hours": 24, "Minutes": 0}, "6000", "Hours"),
        ({"Hours": 1.5}, "6000", "Hours"),
        ({"Hours": None, "Minutes": None}, "2020", "Hours"),
        (
            {"StartTime": "2026-01-05T09:00:00-08:00", "EndTime": "2026-01-05T10:00:00-08:00"},
            "6000",
            "StartTime",
        ),
        ({"TxnDate": "05.01.2026"}, "6000", "TxnDate"),
        ({"Description": "x" * 4001}, "6000", "Description"),
        ({"ProjectName": "Website"}, "6000", "ProjectName"),
    ],
)
def test_invalid_time_activities_get_the_documented_fault(qbo: Qbo, change: dict[str, Any], code: str, element: str) -> None:  # fmt: skip
    body = {k: v for k, v in {**entry(), **change}.items() if v is not None}
    error = fault(qbo.create("TimeActivity", body))
    assert (error["code"], error["element"]) == (code, element), error
    assert qbo.admin("GET", "state", params={"entity": "TimeActivity"})["entities"]["TimeActivity"] == []


def test_sub_customers_names_and_sync_tokens(qbo: Qbo) -> None:
    acme = qbo.create("Customer", {"DisplayName": "Acme Corp"}).json()["Customer"]
    job = qbo.create("Customer", {"DisplayName": "Website rebuild", "Job": True, "ParentRef": {"value": acme["Id"]},
                                  "BillWithParent": True}).json()["Customer"]  # fmt: skip
    assert (acme["Level"], acme["Job"], acme["FullyQualifiedName"]) == (0, False, "Acme Corp")
    assert (job["Level"], job["Job"], job["FullyQualifiedName"]) == (1, True, "Acme Corp:Website rebuild")
    (found,) = qbo.rows("select * from Customer where FullyQualifiedName = 'Acme Corp:Website rebuild'")
    assert found["Id"] == job["Id"]
    for clash in (
        {"DisplayName": "acme corp"},
        {"DisplayName": "Website rebuild", "ParentRef": {"value": "2"}},
    ):
        assert fault(qbo.create("Customer", clash))["code"] == "6240"
    assert "Another employee" in fault(qbo.create("Customer", {"DisplayName": EMPLOYEE}))["Detail"]
    assert (
        fault(qbo.create("Customer", {"DisplayName": "X", "ParentRef": {"value": "999"}}))["code"] == "2500"
    )
    deep = job["Id"]
    for level in range(2, 6):
        deep = qbo.create("Customer", {"DisplayName": f"L{level}", "ParentRef": {"value": deep}}).json()[
            "Customer"
        ]["Id"]
    assert (
        fault(qbo.create("Customer", {"DisplayName": "L6", "ParentRef": {"value": deep}}))["element"]
        == "ParentRef"
    )

    ta = qbo.create("TimeActivity", entry(CustomerRef={"value": job["Id"]})).json()["TimeActivity"]
    assert ta["CustomerRef"]["name"] == "Acme Corp:Website rebuild"
    sparse = {"Id": ta["Id"], "SyncToken": "0", "sparse": True, "Description": "edited"}
    updated = qbo.create("TimeActivity", sparse).json()["TimeActivity"]
    assert (updated["SyncToken"], updated["Description"], updated["Hours"]) == ("1", "edited", 4)
    assert fault(qbo.create("TimeActivity", sparse))["code"] == "5010"  # SyncToken 0 is stale now
    gone = qbo.call("POST", "/timeactivity", {"operation": "delete"}, json={"Id": ta["Id"], "SyncToken": "1"})
    assert gone.json()["TimeActivity"] == {"status": "Deleted", "domain": "QBO", "Id": ta["Id"]}
    assert fault(qbo.call("GET", f"/timeactivity/{ta['Id']}"))["code"] == "610"
    assert fault(qbo.call("POST", "/customer", {"operation": "delete"}, json={"Id": job["Id"], "SyncToken": "0"}))["code"] == "6000"  # fmt: skip


# -- requestid --------------------------------------------------------------------------------------
def test_a_repeated_requestid_replays_the_first_answer_and_creates_nothing(qbo: Qbo) -> None:
    first = qbo.create("TimeActivity", entry(), requestid="req-1")
    again = qbo.create("TimeActivity", entry(Hours=1), requestid="req-1")  # the body does not matter
    assert first.status_code == again.status_code == 200 and first.content == again.content
    bad = qbo.create("TimeActivity", entry(NameOf="x"), requestid="req-2")
    assert (
        fault(bad)["code"] == fault(qbo.create("TimeActivity", entry(), requestid="req-2"))["code"] == "2170"
    )

    qbo.admin("POST", "faults", json={"drop_rate": 1.0})  # the create happens, its answer is lost
    with pytest.raises(httpx.RemoteProtocolError):
        qbo.create("TimeActivity", entry(Description="lost answer"), requestid="req-3")
    qbo.admin("POST", "faults", json={"drop_rate": 0.0})
    retry = qbo.create("TimeActivity", entry(Description="lost answer"), requestid="req-3")
    assert retry.status_code == 200 and retry.json()["TimeActivity"]["Description"] == "lost answer"

    qbo.admin(
        "POST", "faults", json={"fail_next": [{"drop": True, "path": "/timeactivity"}]}
    )  # lost on the way in
    with pytest.raises(httpx.RemoteProtocolError):
        qbo.create("TimeActivity", entry(Description="lost request"), requestid="req-4")
    assert qbo.create("TimeActivity", entry(Description="lost request"), requestid="req-4").status_code == 200

    state = qbo.admin("GET", "state", params={"entity": "TimeActivity"})
    assert [t["Description"] for t in state["entities"]["TimeActivity"] if "Description" in t] == ["lost answer", "lost request"]  # fmt: skip
    assert len(state["entities"]["TimeActivity"]) == 3
    assert {r["requestid"] for r in state["request_ids"]} == {"req-1", "req-2", "req-3", "req-4"}
    assert fault(qbo.create("TimeActivity", entry(), requestid="r" * 51))["element"] == "requestid"


# -- batch ------------------------------------------------------------------------------------------
def test_batch_answers_each_item_and_one_failure_does_not_fail_the_others(qbo: Qbo) -> None:
    items = [
        {"bId": "ta1", "operation": "create", "TimeActivity": entry(Hours=2, Minutes=0)},
        {"bId": "ta2", "operation": "create", "TimeActivity": entry(EmployeeRef={"value": "999"})},
        {"bId": "c1", "operation": "create", "Customer": {"DisplayName": "Batch Co"}},
        {"bId": "q1", "Query": "select * from Customer where DisplayName = 'Batch Co'"},
        {"bId": "ta3", "operation": "create", "TimeActivity": entry(CustomerRef={"value": NEXT_NAME_ID})},
    ]
    r = qbo.call("POST", "/batch", json={"BatchItemRequest": items}, params={"requestid": "batch-1"})
    assert r.status_code == 200 and set(r.json()) == {"BatchItemResponse", "time"}
    out = r.json()["BatchItemResponse"]
    assert [i["bId"] for i in out] == ["ta1", "ta2", "c1", "q1", "ta3"]
    assert out[0]["TimeActivity"]["Hours"] == 2 and out[1]["Fault"]["Error"][0]["code"] == "2500"
    assert out[1]["Fault"]["type"] == "ValidationFault" and out[2]["Customer"]["DisplayName"] == "Batch Co"
    assert out[3]["QueryResponse"] == {}  # items do not see earlier items of the same batch
    assert out[2]["Customer"]["Id"] == NEXT_NAME_ID and out[4]["Fault"]["Error"][0]["code"] == "2500"
    replay = qbo.call("POST", "/batch", json={"BatchItemRequest": items}, params={"requestid": "batch-1"})
    assert replay.content == r.content
    assert len(qbo.admin("GET", "state", params={"entity": "TimeActivity"})["entities"]["TimeActivity"]) == 1

    many = [{"bId": f"b{i}", "Query": "select * from Item"} for i in range(31)]
    assert fault(qbo.call("POST", "/batch", json={"BatchItemRequest": many}))["element"] == "BatchItemRequest"
    assert qbo.call("POST", "/batch", json={"BatchItemRequest": many[:30]}).status_code == 200
    twice = [many[0], many[0]]
    assert fault(qbo.call("POST", "/batch", json={"BatchItemRequest": twice}))["element"] == "bId"
    long_bid = [{"bId": "x" * 11, "Query": "select * from Item"}]
    assert fault(qbo.call("POST", "/batch", json={"BatchItemRequest": long_bid}, params={"requestid": "b2"}))["element"] == "bId"  # fmt: skip
    assert qbo.call("POST", "/batch", json={"BatchItemRequest": long_bid}).status_code == 200


# -- throttling -------------------------------------------------------------------------------------
def test_throttling_answers_429_with_the_throttle_body() -> None:
    limits = {"quickbooks": (RateWindow(4, 60),), "quickbooks_batch": (RateWindow(1, 60),)}
    with sandbox(rate_limits=limits) as qbo:  # `sandbox` made one API call already
        codes = [qbo.query("select * from Item").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = qbo.query("select * from Item")
        (error,) = r.json()["fault"]["error"]
        assert error["message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"
        assert "Retry-After" not in r.headers  # UNCONFIRMED that Intuit sends one: clients must not need it
        assert qbo.refresh().status_code == 200  # the token endpoint is not metered
    with sandbox(rate_limits=limits) as qbo:
        batch = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Item"}]}
        assert [qbo.call("POST", "/batch", json=batch).status_code for _ in range(2)] == [200, 429]
    with sandbox(rate_limits=limits) as qbo:  # each batch item is metered like a call: 1 + 3 fit, 1 + 4 not
        three = {"BatchItemRequest": [{"bId": str(i), "Query": "select * from Item"} for i in range(3)]}
        assert qbo.call("POST", "/batch", json=three).status_code == 200
    with sandbox(rate_limits=limits) as qbo:
        four = {"BatchItemRequest": [{"bId": str(i), "Query": "select * from Item"} for i in range(4)]}
        assert qbo.call("POST", "/batch", json=four).status_code == 429
    with sandbox(QuickBooksOptions(retry_after=True), rate_limits=limits) as qbo:
        statuses = [qbo.query("select * from Item") for _ in range(4)]
        assert statuses[-1].status_code == 429 and statuses[-1].headers["Retry-After"].isdigit()


def test_more_than_ten_requests_in_flight_answer_429() -> None:
    with sandbox(latency_ms=500) as qbo:

        async def burst() -> list[int]:
            headers = {"Authorization": f"Bearer {qbo.access_token}"}
            async with httpx.AsyncClient(base_url=qbo.http.base_url, timeout=10) as c:
                calls = [c.get(f"/v3/company/{REALM}/item/2", headers=headers) for _ in range(12)]
                return [r.status_code for r in await asyncio.gather(*calls)]

        codes = asyncio.run(burst())
        assert sorted(codes) == [200] * 10 + [429] * 2


# -- admin -----------------------------------------------------------------------------------------
def test_admin_api_seeds_edits_and_shows_everything_written(qbo: Qbo) -> None:
    ada = qbo.admin("POST", "employee", json={"DisplayName": "Ada Lovelace", "Id": "900"})
    assert (ada["Id"], ada["SyncToken"], ada["Active"]) == ("900", "0", True)
    assert qbo.rows("select * from Employee where DisplayName = 'Ada Lovelace'")[0]["Id"] == "900"
    again = qbo.http.post("/_admin/employee", json={"DisplayName": "ada lovelace"})
    assert again.status_code == 400 and "6240" in again.json()["error"]  # the API's rules apply
    off = qbo.admin("PATCH", "employee/900", json={"Active": False})
    assert (off["Active"], off["SyncToken"]) == (False, "1")
    assert fault(qbo.create("TimeActivity", entry(EmployeeRef={"value": "900"})))["code"] == "2500"
    assert qbo.http.delete("/_admin/employee/900").status_code == 200
    assert fault(qbo.call("GET", "/employee/900"))["code"] == "610"

    income = qbo.admin("POST", "account", json={"Name": "Workshop Income", "AccountType": "Income"})
    item = qbo.create(
        "Item", {"Name": "Workshop", "Type": "Service", "IncomeAccountRef": {"value": income["Id"]}}
    )
    assert item.json()["Item"]["IncomeAccountRef"] == {"value": income["Id"], "name": "Workshop Income"}
    assert fault(qbo.create("Item", {"Name": "hours", "Type": "Service", "IncomeAccountRef": {"value": "1"}}))["code"] == "6240"  # fmt: skip
    assert fault(qbo.create("Item", {"Name": "Day rate", "Type": "Service"}))["element"] == "IncomeAccountRef"
    assert fault(qbo.create("Account", {"Name": "Other"}))["code"] == "6000"

    state = qbo.admin("GET", "state")
    assert set(state["entities"]) == {"Account", "Item", "Customer", "Employee", "Vendor", "TimeActivity"}
    assert state["deleted"]["Employee"] == ["900"] and state["entities"]["Item"][-1]["Name"] == "Workshop"
    assert {t["state"] for t in state["tokens"]["refresh_tokens"]} == {"used", "live"}
    paths = [r["path"] for r in qbo.admin("GET", "requests")["requests"]]
    assert paths[0] == "/oauth2/v1/tokens/bearer" and f"/v3/company/{REALM}/item" in paths
    assert fault(qbo.call("GET", "/item"), 405)["code"] == "500"
    assert qbo.admin("GET", "org")["credentials"]["realm_id"] == REALM


# -- mounted in the sandbox server ------------------------------------------------------------------
def test_the_server_mounts_it_and_client_env_points_at_it() -> None:
    with server.start_background(SandboxOptions(org=ORG)) as running:
        env = server.client_env(running.base_url)
        auth = base64.b64encode(
            f"{env['QUICKBOOKS_CLIENT_ID']}:{env['QUICKBOOKS_CLIENT_SECRET']}".encode()
        ).decode()
        form = {"grant_type": "refresh_token", "refresh_token": env["QUICKBOOKS_REFRESH_TOKEN"]}
        token = httpx.post(env["QUICKBOOKS_TOKEN_URL"], data=form, headers={"Authorization": f"Basic {auth}"})
        url = f"{env['QUICKBOOKS_BASE_URL']}/company/{env['QUICKBOOKS_REALM_ID']}/query"
        query = {
            "query": f"select * from Employee where DisplayName = '{AGENCY.people[0].name}'",
            "minorversion": "75",
        }
        r = httpx.get(url, params=query, headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert r.status_code == 200 and r.json()["QueryResponse"]["Employee"][0]["Active"] is True
