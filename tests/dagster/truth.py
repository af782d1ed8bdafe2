"""The truth for the differential test: what each sandbox holds, read through its own public API by
the test's own paging (no couplet code), and what each destination holds, read back through
DuckDB, openpyxl and the Google emulators' ``/_admin/`` reads, both normalised to comparable rows.

Records are ``{id: (field, ...)}`` with ids as text (Excel and Sheets may give ``10000123.0``) and
fields normalised by ``norm`` (numbers as rounded floats, empty text as None).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import httpx
import openpyxl

Row = dict[str, Any]
Records = dict[str, tuple[Any, ...]]

TIMEOUT = 60.0
SPREADSHEET = "couplet-differential-test-spreadsheet"
BQ_PROJECT, BQ_DATASET = "couplet-test", "differential"
DUCKDB_PATH = "out/warehouse.duckdb"


# -- normalising --------------------------------------------------------------------------------


def norm_id(value: Any) -> str:
    """An id as text: ``10000123``, ``10000123.0`` and ``"10000123"`` are the same id."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and re.fullmatch(r"\d+\.0+", value):
        return value.split(".")[0]
    return str(value)


def norm(value: Any) -> Any:
    """A field comparable across destinations: numbers (and numeric text) as floats rounded to 4
    places, empty text as None, other text stripped."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return round(float(value), 4)
    text = str(value).strip()
    if not text:
        return None
    try:
        return round(float(text), 4)
    except ValueError:
        return text


_ISO_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


def iso_seconds(value: str | None) -> float | None:
    """``PT1H30M`` -> 5400.0 (Clockify's regular API durations)."""
    if value is None:
        return None
    match = _ISO_DURATION.match(value)
    assert match, f"not an ISO-8601 duration: {value!r}"
    h, m, s = match.groups()
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)


# -- the sources' public APIs -------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    """The sandbox's base URL and the credentials of ``dagster_project.demo.demo_env``."""

    base: str
    env: Mapping[str, str]

    def clockodo(self, path: str, params: Mapping[str, Any]) -> Any:
        headers = {
            "X-ClockodoApiUser": self.env["CLOCKODO_API_USER"],
            "X-ClockodoApiKey": self.env["CLOCKODO_API_KEY"],
            "X-Clockodo-External-Application": "couplet-test;test@example.com",
        }
        answer = httpx.get(f"{self.base}/clockodo/api{path}", params=params, headers=headers, timeout=TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def clockify(self, path: str, params: Mapping[str, Any]) -> httpx.Response:
        ws = self.env["CLOCKIFY_WORKSPACE_ID"]
        answer = httpx.get(
            f"{self.base}/clockify/api/v1/workspaces/{ws}{path}",
            params=params,
            headers={"X-Api-Key": self.env["CLOCKIFY_API_KEY"]},
            timeout=TIMEOUT,
        )
        answer.raise_for_status()
        return answer

    def harvest(self, path: str, params: Mapping[str, Any], key: str) -> Iterator[Row]:
        headers = {
            "Authorization": f"Bearer {self.env['HARVEST_ACCESS_TOKEN']}",
            "Harvest-Account-Id": self.env["HARVEST_ACCOUNT_ID"],
            "User-Agent": "couplet-differential-test",
        }
        url: str | None = f"{self.base}/harvest{path}"
        query: Mapping[str, Any] | None = {**params, "per_page": 2000}
        while url:
            answer = httpx.get(url, params=query, headers=headers, timeout=TIMEOUT)
            answer.raise_for_status()
            body = answer.json()
            yield from body[key]
            url, query = body["links"]["next"], None  # the next link carries every parameter

    def admin(self, source: str, method: str, path: str, body: Row | None = None) -> Row:
        """An admin write of a sandbox (``POST|PATCH|DELETE /_admin/...`` under its mount)."""
        mount = {"clockodo": "/clockodo/api", "clockify": "/clockify", "harvest": "/harvest"}[source]
        answer = httpx.request(method, f"{self.base}{mount}/_admin/{path}", json=body, timeout=TIMEOUT)
        assert answer.is_success, f"{method} {mount}/_admin/{path} {body}: {answer.status_code} {answer.text}"
        return answer.json()


def _midnight(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def clockodo_entries(api: Api, start: dt.date, end: dt.date) -> list[Row]:
    """Every Clockodo entry of ``[start, end)`` (enhanced list: with ``text``), page by page."""
    out: list[Row] = []
    page = 1
    while True:
        params = {
            "time_since": _midnight(start),
            "time_until": _midnight(end),
            "enhanced_list": 1,
            "page": page,
        }
        body = api.clockodo("/v2/entries", params)
        out += body["entries"]
        if page >= body["paging"]["count_pages"]:
            return out
        page += 1


def clockify_entries(api: Api, start: dt.date, end: dt.date) -> list[Row]:
    """Every Clockify time entry starting (UTC) in ``[start, end)``: per user (inactive ones too),
    page by page. The API reads ``start``/``end`` as the owner's wall clock, so the window is padded
    by a day each side and the entries are kept by their UTC start."""
    users = api.clockify("/users", {"status": "ALL", "page-size": 5000}).json()
    out: dict[str, Row] = {}
    for user in users:
        page = 1
        while True:
            params = {
                "start": _midnight(start - dt.timedelta(days=1)),
                "end": _midnight(end + dt.timedelta(days=1)),
                "page": page,
                "page-size": 5000,
            }
            answer = api.clockify(f"/user/{user['id']}/time-entries", params)
            for entry in answer.json():
                day = dt.datetime.fromisoformat(entry["timeInterval"]["start"].replace("Z", "+00:00")).date()
                if start <= day < end:
                    out[entry["id"]] = entry
            if answer.headers.get("Last-Page", "true") == "true" or not answer.json():
                break
            page += 1
    return list(out.values())


def harvest_entries(api: Api, start: dt.date, end: dt.date) -> list[Row]:
    """Every Harvest time entry with a ``spent_date`` in ``[start, end)`` (``to`` is inclusive)."""
    params = {"from": start.isoformat(), "to": (end - dt.timedelta(days=1)).isoformat()}
    return list(api.harvest("/v2/time_entries", params, "time_entries"))


def projects(api: Api, source: str) -> list[Row]:
    """Every project of a source (Clockify: archived ones too, its default without ``archived``)."""
    if source == "clockodo":
        out: list[Row] = []
        page = 1
        while True:
            body = api.clockodo("/v4/projects", {"page": page})
            out += body["data"]
            if page >= body["paging"]["count_pages"]:
                return out
            page += 1
    if source == "clockify":
        found: list[Row] = []
        page = 1
        while True:
            answer = api.clockify("/projects", {"page": page, "page-size": 5000})
            found += answer.json()
            if answer.headers.get("Last-Page", "true") == "true" or not answer.json():
                return found
            page += 1
    return list(api.harvest("/v2/projects", {}, "projects"))


@dataclass(frozen=True)
class Source:
    """One source of the test: its flow and connection name, its dated entity, and how an entry of
    its public API maps to the staged columns the test compares."""

    name: str
    entity: str
    fields: tuple[str, ...]  # staged columns compared besides the id

    def entries(self, api: Api, start: dt.date, end: dt.date) -> list[Row]:
        reader = {"clockodo": clockodo_entries, "clockify": clockify_entries, "harvest": harvest_entries}
        return reader[self.name](api, start, end)

    def values(self, entry: Row) -> tuple[Any, ...]:
        """The compared fields of one entry of the public API, normalised."""
        if self.name == "clockodo":
            return norm(entry.get("text")), norm(entry.get("duration"))
        if self.name == "clockify":
            return norm(entry["description"]), norm(iso_seconds(entry["timeInterval"]["duration"]))
        return norm(entry["notes"]), norm(entry["hours"])

    def truth(self, api: Api, start: dt.date, end: dt.date) -> Records:
        return {norm_id(e["id"]): self.values(e) for e in self.entries(api, start, end)}

    def project_names(self, api: Api) -> Records:
        return {norm_id(p["id"]): (norm(p["name"]),) for p in projects(api, self.name)}

    def day(self, entry: Row) -> dt.date:
        """The day an entry is staged (partitioned) by."""
        if self.name == "clockodo":
            return dt.date.fromisoformat(entry["time_since"][:10])
        if self.name == "clockify":
            return dt.date.fromisoformat(entry["timeInterval"]["start"][:10])
        return dt.date.fromisoformat(entry["spent_date"])

    def project_of(self, entry: Row) -> str:
        if self.name == "clockodo":
            return norm_id(entry["projects_id"])
        if self.name == "clockify":
            return norm_id(entry["projectId"])
        return norm_id(entry["project"]["id"])


SOURCES = (
    Source("clockodo", "entries", ("text", "duration")),
    Source("clockify", "time_entries", ("description", "timeInterval_duration_seconds")),
    Source("harvest", "time_entries", ("notes", "hours")),
)


# -- the destinations ---------------------------------------------------------------------------

DESTINATIONS = ("duckdb", "excel", "google_sheets", "bigquery")


def table_name(source: str, what: str, mode: str) -> str:
    """One name per output: the DuckDB and BigQuery table, the Sheets tab, the Excel file."""
    return f"{source}_{what}_{mode}"


def target_yaml(destination: str, table: str) -> str:
    if destination == "duckdb":
        return f"{{duckdb: {{path: {DUCKDB_PATH}, table: {table}}}}}"
    if destination == "excel":
        return f"{{excel: {{path: out/{table}.xlsx, sheet: data}}}}"
    if destination == "google_sheets":
        return f"{{google_sheets: {{spreadsheet: {SPREADSHEET}, worksheet: {table}}}}}"
    return f"{{bigquery: {{project: {BQ_PROJECT}, dataset: {BQ_DATASET}, table: {table}}}}}"


def _dicts(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[Row]:
    names = [str(h) for h in header]
    return [dict(zip(names, list(r) + [None] * (len(names) - len(r)), strict=False)) for r in rows if any(r)]


def read_target(destination: str, table: str, base: str) -> list[Row] | None:
    """Every row a target holds now (None: the target does not exist)."""
    if destination == "duckdb":
        try:
            with duckdb.connect(DUCKDB_PATH, read_only=True) as con:
                result = con.execute(f'SELECT * FROM "{table}"')
                header = [d[0] for d in result.description]
                return _dicts(header, result.fetchall())
        except (duckdb.CatalogException, duckdb.IOException):
            return None
    if destination == "excel":
        try:
            book = openpyxl.load_workbook(f"out/{table}.xlsx", read_only=True)
        except FileNotFoundError:
            return None
        try:
            values = list(book["data"].iter_rows(values_only=True))
        finally:
            book.close()
        return _dicts(values[0], values[1:]) if values else []
    if destination == "google_sheets":
        answer = httpx.get(
            f"{base}/google/sheets/_admin/spreadsheets/{SPREADSHEET}",
            params={"limit": 1_000_000, "render": "UNFORMATTED_VALUE"},
            timeout=TIMEOUT,
        )
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        tab = next((t for t in answer.json()["tabs"] if t["title"] == table), None)
        if tab is None:
            return None
        values = tab.get("values") or []
        return _dicts(values[0], values[1:]) if values else []
    answer = httpx.get(
        f"{base}/google/bigquery/_admin/tables/{BQ_PROJECT}/{BQ_DATASET}/{table}",
        params={"limit": 1_000_000},
        timeout=TIMEOUT,
    )
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return list(answer.json()["rows"])


@dataclass(frozen=True)
class Landed:
    """A target's rows: the live ones (``_deleted_at`` empty or absent), the soft-deleted ones (id ->
    its ``_deleted_at`` as the destination gives it), and ids found more than once."""

    live: Records
    deleted: dict[str, Any]
    duplicates: frozenset[str]


def landed(rows: list[Row], fields: Sequence[str]) -> Landed:
    live: Records = {}
    deleted: dict[str, Any] = {}
    seen: set[str] = set()
    duplicates: set[str] = set()
    for row in rows:
        key = norm_id(row["id"])
        if key in seen:
            duplicates.add(key)
        seen.add(key)
        if row.get("_deleted_at") not in (None, ""):
            deleted[key] = row["_deleted_at"]
        else:
            live[key] = tuple(norm(row.get(f)) for f in fields)
    return Landed(live, deleted, frozenset(duplicates))


def differences(want: Records, got: Records, limit: int = 5) -> str:
    """What differs between two record sets, briefly: missing, extra and changed ids."""
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[:limit]})")
    if extra:
        parts.append(f"{len(extra)} extra (e.g. {extra[:limit]})")
    if changed:
        shown = "; ".join(f"{k}: source {want[k]} != target {got[k]}" for k in changed[:limit])
        parts.append(f"{len(changed)} changed ({shown})")
    return ", ".join(parts) or "none"
