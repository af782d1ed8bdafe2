"""The shared sandbox engine (`sandbox.app`, `sandbox.listing`, `sandbox.admin`, `sandbox.store`).

A toy imitation built from the engine alone (what a seventh API needs: auth, error shape, routes,
a listing, admin facts), the engine's primitives one by one, and a contract every imitation keeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.admin import RecordAdmin, admin_routes, blank
from sandbox.app import ApiError, Sandbox
from sandbox.common import JSON, RateWindow, SandboxOptions
from sandbox.listing import (
    Filter,
    Listing,
    beyond,
    decode_cursor,
    encode_cursor,
    nested,
    numbered,
    offset,
    order,
    predicates,
    public,
    select,
)
from sandbox.org import Org, OrgOptions
from sandbox.server import create_root_app
from sandbox.store import GeneratedRecords, Overlay, Sequences

Record = dict[str, Any]
ORG = OrgOptions(history_days=60, users=4)
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- a toy imitation: everything below is what an API folder would hold ------------------------
def widget_error(status: int, message: str) -> Response:
    return JSON({"error": message, "status": status}, status)


WIDGETS = Listing("widgets", "/widgets", "widgets", (Filter("color", "text", "color"),))


@dataclass(frozen=True)
class Token:
    email: str
    key: str


class WidgetAdmin(RecordAdmin):
    required = {"widgets": ("name",)}
    defaults = {"widgets": {"color": "grey"}}
    derived = ("stats",)


class WidgetSandbox(Sandbox):
    limits = {"widgets": (RateWindow(100, 60),)}

    def __init__(self, options: SandboxOptions, org: Org | None = None) -> None:
        super().__init__(options, org)
        build: Callable[[str], list[Record]] = lambda entity: [  # noqa: E731
            {"id": i, "name": f"W{i}", "color": "red" if i % 2 else "blue", "_secret": i} for i in range(1, 8)
        ]
        self.records = GeneratedRecords(self.state.overlay, build)
        self.admin = WidgetAdmin(self.state, self.records, self.info)

    def authenticate(self, request: Request) -> Token | Response:
        key = request.headers.get("X-Token")
        return Token("widget-user", key) if key == "good" else widget_error(401, "bad token")

    def error(self, request: Request, status: int, kind: str, message: str) -> Response:
        return widget_error(status, message)

    def unrouted(self, request: Request, status: int, detail: str) -> Response:
        return widget_error(status, f"no route: {detail}")

    def info(self) -> Record:
        return {"entities": ["widgets"], **self.state.limits_info()}

    def routes(self) -> list[BaseRoute]:
        async def widgets(request: Request, token: Token) -> Response:
            q = request.query_params
            build = lambda f: (lambda r: r[f.field] == q[f.param]) if f.param in q else None  # noqa: E731
            rows = select(self.records.dims("widgets"), predicates(WIDGETS.filters, build))
            if "size" in q and not q["size"].isdigit():
                raise ApiError(widget_error(400, "size must be a number"))
            page = numbered(rows, int(q.get("page", 1)), int(q.get("size", 3)))
            return JSON({WIDGETS.envelope: [public(r) for r in page.rows], "last": page.last})

        return [
            *admin_routes(self.state, self.admin),
            Route(WIDGETS.path, self.pipeline.wrap(widgets), methods=["GET"]),
        ]


@pytest.fixture
async def toy() -> AsyncIterator[httpx.AsyncClient]:
    app = WidgetSandbox.create_app(SandboxOptions(org=ORG))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://toy") as c:
        yield c


async def test_a_toy_imitation_gets_auth_paging_errors_and_faults_from_the_engine(
    toy: httpx.AsyncClient,
) -> None:
    ok = {"X-Token": "good"}
    assert (await toy.get("/widgets")).json() == {"error": "bad token", "status": 401}
    first = (await toy.get("/widgets", headers=ok)).json()
    assert [w["id"] for w in first["widgets"]] == [1, 2, 3] and not first["last"]
    assert "_secret" not in first["widgets"][0]
    red = (await toy.get("/widgets", headers=ok, params={"color": "red", "page": 2})).json()
    assert [w["id"] for w in red["widgets"]] == [7] and red["last"]
    bad = await toy.get("/widgets", headers=ok, params={"size": "x"})
    assert (bad.status_code, bad.json()["error"]) == (400, "size must be a number")
    assert (await toy.get("/nowhere")).json() == {"error": "no route: Not Found", "status": 404}
    assert (await toy.post("/_admin/faults", json={"fail_next": [{"status": 503}]})).status_code == 200
    assert (await toy.get("/widgets", headers=ok)).json()["status"] == 503
    log = (await toy.get("/_admin/requests")).json()
    assert log["count"] == 5 and log["by_path"] == {"/widgets": 5}  # an unrouted request is not the API's
    org = (await toy.get("/_admin/org")).json()
    assert org["rate_limits"] == {"widgets": [[100, 60]]} and org["rate_limit"] is True


async def test_a_toy_imitation_gets_admin_inserts_edits_and_deletes_from_the_engine(
    toy: httpx.AsyncClient,
) -> None:
    ok = {"X-Token": "good"}
    made = await toy.post("/_admin/widgets", json={"name": "New"})
    assert made.status_code == 201
    assert made.json() == {"id": 8, "name": "New", "color": "grey"}  # blank template + defaults, next id
    assert (await toy.post("/_admin/widgets", json={"name": "Again", "id": 8})).status_code == 409
    assert (await toy.post("/_admin/widgets", json={"color": "x"})).json()[
        "error"
    ] == "widgets needs ['name']"
    assert (await toy.post("/_admin/stats", json={})).status_code == 400
    assert (await toy.post("/_admin/gadgets", json={})).status_code == 404
    assert (await toy.patch("/_admin/widgets/2", json={"color": "red"})).json()["color"] == "red"
    assert (await toy.delete("/_admin/widgets/3")).json() == {"deleted": 3}
    assert (await toy.delete("/_admin/widgets/3")).status_code == 404
    red = (await toy.get("/widgets", headers=ok, params={"color": "red", "size": 10})).json()
    assert [w["id"] for w in red["widgets"]] == [1, 2, 5, 7]
    everything = (await toy.get("/widgets", headers=ok, params={"size": 10})).json()["widgets"]
    assert [w["id"] for w in everything] == [1, 2, 4, 5, 6, 7, 8]
    assert (await toy.post("/_admin/reset")).json() == {"reset": True}
    assert len((await toy.get("/widgets", headers=ok, params={"size": 10})).json()["widgets"]) == 7


# -- primitives ----------------------------------------------------------------------------------
def test_order_sorts_by_several_keys_with_nones_last_and_first_when_descending() -> None:
    rows: list[Record] = [{"id": 1, "n": "b"}, {"id": 2, "n": None}, {"id": 3, "n": "a"}, {"id": 4, "n": "b"}]
    by_name = order(rows, [(lambda r: r["n"], False), (lambda r: r["id"], True)])
    assert [r["id"] for r in by_name] == [3, 4, 1, 2]
    assert [r["id"] for r in order(rows, [(lambda r: r["n"], True)])] == [2, 1, 4, 3]  # stable on ties


def test_pages_by_number_by_position_and_by_key() -> None:
    rows = [{"id": i} for i in range(1, 8)]
    page = numbered(rows, 3, 3)
    assert ([r["id"] for r in page.rows], page.number, page.pages, page.last) == ([7], 3, 3, True)
    assert numbered(rows, 1, 3).first and not numbered(rows, 2, 3).last
    assert numbered([], 1, 50).pages == 0 and numbered([], 1, 50).last
    assert [r["id"] for r in offset(rows, 6, 5).rows] == [6, 7] and offset(rows, 9, 5).rows == []
    key = lambda r: r["id"]  # noqa: E731
    assert [r["id"] for r in beyond(rows, key, 5)] == [6, 7]
    assert [r["id"] for r in beyond(rows[::-1], key, 3, descending=True)] == [2, 1]
    assert [r["id"] for r in beyond(rows, key, 4.5)] == [5, 6, 7]  # a position whose row has gone


def test_cursors_filters_and_public_fields() -> None:
    token = encode_cursor({"after": [1, 2]})
    assert "=" not in token and decode_cursor(token) == {"after": [1, 2]}
    for garbage in ("!!", "bm90IGpzb24"):  # no base64; base64 of "not json"
        with pytest.raises(ValueError):
            decode_cursor(garbage)
    rows: list[Record] = [{"id": 1, "a": {"b": 1}, "_x": 1}, {"id": 2, "a": {"b": 2}}]

    def build(f: Filter) -> Callable[[Record], bool] | None:  # the API's kinds; `c` is absent
        return None if f.param == "c" else lambda r: nested(r, f.field) == 2

    wanted = predicates([Filter("b", "eq", ("a", "b")), Filter("c", "eq")], build)
    assert len(wanted) == 1 and select(rows, wanted) == [rows[1]] and select(rows, []) == rows
    assert public(rows[0]) == {"id": 1, "a": {"b": 1}} and nested(rows[0], ("a", "z", "q")) is None
    assert blank({"n": 3, "f": 1.5, "ok": True, "l": [1], "s": "x"}, deep=True) == {
        "n": 0, "f": 0.0, "ok": False, "l": [], "s": None}  # fmt: skip


def test_overlay_shadows_generated_records_without_touching_them() -> None:
    overlay = Overlay()
    generated = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    overlay.patch("t", 1, {"v": "A"})
    overlay.delete("t", 2)
    overlay.insert("t", {"id": 9, "v": "new"})
    assert overlay.apply("t", generated) == [{"id": 1, "v": "A"}, {"id": 9, "v": "new"}]
    assert generated[0] == {"id": 1, "v": "a"} and overlay.touched("t") == {1, 2}
    lookup = {r["id"]: r for r in generated}.get
    assert overlay.current("t", 1, lookup) == {"id": 1, "v": "A"}
    assert overlay.current("t", 2, lookup) is None and overlay.current("t", 9, lookup) == {
        "id": 9,
        "v": "new",
    }
    assert overlay.edited("t", lookup) == [{"id": 9, "v": "new"}, {"id": 1, "v": "A"}]
    assert overlay.next_id("t", 5) == 10 and overlay.next_id("u", 5) == 6
    hexed = [{"id": "x1", "v": "a"}]
    overlay.patch("h", 1, {"v": "H"})
    assert overlay.apply("h", hexed, key=lambda wire: int(wire[1:])) == [{"id": "x1", "v": "H"}]


def test_generated_records_are_built_once_and_viewed_per_overlay_version() -> None:
    builds: list[str] = []
    overlay = Overlay()

    def build(entity: str) -> list[Record]:
        builds.append(entity)
        return [{"id": 2}, {"id": 1}]

    records = GeneratedRecords(overlay, build, lambda e, rows: sorted(rows, key=lambda r: r["id"]))
    assert records.dims("t") == [{"id": 1}, {"id": 2}] and records.dims("t") is records.dims("t")
    overlay.delete("t", 1)
    assert records.dims("t") == [{"id": 2}] and builds == ["t"]
    assert records.get("t", 2) == {"id": 2} and records.get("t", [2]) is None and records.largest_id("t") == 2


def test_sequences_hand_out_ids_per_space_and_step_over_chosen_ones() -> None:
    ids = Sequences({"a": 100}, {"b": "shared", "c": "shared"})
    assert [ids.next("a"), ids.next("b"), ids.next("c"), ids.next("d")] == [101, 1, 2, 1]
    ids.claim("b", 50)
    assert ids.next("c") == 51
    ids.reset()
    assert ids.next("a") == 101 and ids.next("b") == 1


# -- the contract every imitation keeps ----------------------------------------------------------
API = {  # mount -> (a path below it that needs no parameters, headers with valid credentials)
    "/clockodo/api": ("/v3/customers", {"X-ClockodoApiUser": "sandbox@couplet.dev", "X-ClockodoApiKey":
                                        "sandbox-key", "X-Clockodo-External-Application": "t;t@t.de"}),
    "/clockify": ("/api/v1/workspaces", {"X-Api-Key": "sandbox-key"}),
    "/harvest": ("/v2/clients", {"Authorization": "Bearer sandbox-harvest-token", "Harvest-Account-Id":
                                 "123456", "User-Agent": "t (t@t.de)"}),
    "/runn": ("/clients/", {"Authorization": "Bearer TEST_sandbox-runn-token", "Accept-Version": "1.0.0"}),
}  # fmt: skip


@pytest.mark.parametrize("mount", [*API, "/quickbooks"])
async def test_every_imitation_is_a_sandbox_with_the_shared_admin_api(mount: str) -> None:
    root = create_root_app(SandboxOptions(org=ORG))
    sandbox = root.state.apps[mount].state.sandbox
    assert isinstance(sandbox, Sandbox)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=root), base_url="http://sb") as c:
        org = (await c.get(f"{mount}/_admin/org")).json()
        assert org["rate_limit"] is True and set(org["rate_limits"]) == set(sandbox.limits)
        path, headers = API.get(mount, ("", {}))
        unrouted = await c.get(f"{mount}/no/such/route/at/all", headers=headers)
        assert unrouted.status_code == 404 and unrouted.headers["content-type"] == "application/json"
        if mount in API:
            assert (await c.get(mount + path, headers=headers)).status_code == 200
            await c.post(f"{mount}/_admin/faults", json={"fail_next": [{"status": 502}]})
            failed = await c.get(mount + path, headers=headers)
            assert failed.status_code == 502 and failed.headers["content-type"] == "application/json"
            assert (await c.get(f"{mount}/_admin/requests")).json()["by_path"][path] == 2
        assert (await c.post(f"{mount}/_admin/reset")).json() == {"reset": True}
        assert (await c.get(f"{mount}/_admin/requests")).json()["count"] == 0
