"""Declarations: what a source and its entities are, stated as frozen data.

A connector is a ``Source`` plus a table of ``Entity`` records; the engine in this package does
the paging, windows, fan-out, retries and typing. A simple entity is one line::

    Entity("teams", "/v3/teams", envelope="data", columns=cols("id:int name:str leader:int"))

Nothing here names a particular API.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

# The drift declarations live apart (driftspec.py) and are re-exported here with the rest.
from .driftspec import Drift as Drift
from .driftspec import Figure as Figure
from .driftspec import Fingerprint as Fingerprint
from .driftspec import Probe as Probe
from .driftspec import Totals as Totals

#: Column types a declaration may use, and the Arrow type each lands as.
ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "json": pa.string(),  # nested lists/objects kept whole as JSON text
}

#: The JSON body itself is the one record (no envelope, no list).
BODY = "$"

#: Columns the engine adds to every record; a primary key may use them (e.g. a report row per window).
STAMP_NAMES = ("_extracted_at", "_window_start", "_window_end")


@dataclass(frozen=True)
class Column:
    """A declared column. ``path`` reaches into nested objects with dots (``budget.amount``)."""

    name: str
    type: str
    path: str = ""
    nullable: bool = True
    description: str = ""
    convert: str = ""  # a named conversion applied to the raw value first (see records.CONVERSIONS)

    def __post_init__(self) -> None:
        if self.type not in ARROW_TYPES:
            raise ValueError(
                f"column {self.name!r}: unknown type {self.type!r}; use one of {list(ARROW_TYPES)}"
            )

    @property
    def source_path(self) -> tuple[str, ...]:
        return tuple((self.path or self.name).split("."))

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


def cols(spec: str) -> tuple[Column, ...]:
    """Columns from a compact spec: ``"id:int name:str budget_amount:float=budget.amount"``.

    A trailing ``!`` on the type marks a column that is never null (``id:int!``); ``|name`` after
    the path names a conversion (``rate:float=hourlyRate.amount|cents``).
    """
    out = []
    for token in spec.split():
        name, _, rest = token.partition(":")
        rest, _, convert = rest.partition("|")
        typ, _, path = rest.partition("=")
        out.append(Column(name, typ.rstrip("!"), path, nullable=not typ.endswith("!"), convert=convert))
    return tuple(out)


class Partitioning(enum.StrEnum):
    NONE = "none"  # full refresh every run
    DAILY = "daily"  # a date window per day; ranges fetched as windows of at most max_days
    YEARLY = "yearly"  # one request (series) per calendar year


@dataclass(frozen=True)
class Sizing:
    """Wide windows for an API that takes any date range with paging (Clockodo entries).

    Instead of one request series per ``max_days``, the engine asks for a whole range at once and
    splits it (at month boundaries) only where it holds more than ``target_rows`` records, so a long
    range costs about as many requests as it has pages of data. The size of a range comes from a
    cheap probe: the first page of the range with ``probe_params`` (e.g. one item per page), whose
    ``count_path`` tells how many records match. ``probe_in_rate_group=False`` keeps probes out of
    the entity's extra rate group when the params that trigger it are overridden.
    """

    count_path: str
    probe_params: Mapping[str, Any] = field(default_factory=dict)
    probe_in_rate_group: bool = True
    target_rows: int = 20_000


@dataclass(frozen=True)
class Window:
    """How an entity is asked for a slice of time.

    Daily windows send ``since_param``/``until_param`` formatted with ``format`` (strftime; the
    values are UTC). ``inclusive_end`` means the API's ``until`` names the last day included, so
    the engine sends ``end - 1 day``. Yearly windows send the year in ``year_param``.
    ``partition_field`` is the record field that places a record in a partition; records outside
    the requested window are dropped (an API that returns overlapping records must not duplicate).
    """

    partitioning: Partitioning
    since_param: str = ""
    until_param: str = ""
    year_param: str = ""
    format: str = "%Y-%m-%d"
    inclusive_end: bool = False
    max_days: int = 31
    partition_field: str = ""
    inject_year_as: str = ""  # add the requested year to each record under this column
    earliest: dt.date | None = None  # documented first day with data: full extracts start there
    pad_days: int = 0  # widen each request by this many days on both sides (bounds in a local time zone)
    in_body: bool = False  # since/until go into the JSON body (dotted paths) instead of the query
    sizing: Sizing | None = None  # wide windows split by size instead of max_days (see Sizing)

    def __post_init__(self) -> None:
        if self.partitioning is Partitioning.DAILY and not self.partition_field:
            # Staging replaces whole days of records: each record must say which day it belongs to.
            raise ValueError("a daily window needs partition_field: the record field that dates a record")


@dataclass(frozen=True)
class Incremental:
    """Change capture for an unpartitioned entity: ask only for records changed since the newest
    ``field`` already staged, merge them in by primary key, and re-read everything every
    ``full_refresh_days`` (deletions leave no trace in a "changed since" answer).

    ``count_path`` (e.g. ``total_entries``) catches deletions on the next run instead: each
    change-capture run first asks for the list without the change parameter, one record a page
    (``paging.size_param`` = 1), and reads how many records exist from that path of the answer; when
    the merged records are not that many, everything is read at once. None = no such check.
    """

    param: str
    field: str
    format: str = "%Y-%m-%dT%H:%M:%SZ"
    overlap_seconds: int = 1  # timestamps have second precision: re-read the last second
    full_refresh_days: int = 7
    count_path: str | None = None


@dataclass(frozen=True)
class FanOut:
    """Request the entity once per record of a parent entity, or once per fixed value.

    ``parent_key`` is read from each parent record; it goes into the path placeholder or query
    param named ``target`` (a dotted body path when the entity posts a JSON body) and is injected
    into each child record as ``inject_as`` (if set and the record lacks it). With ``values`` and
    no ``parent``, the series are those values (e.g. one request per status an API lists apart).
    """

    parent: str
    target: str
    parent_key: str = "id"
    inject_as: str = ""
    values: tuple[str, ...] = ()


class PagingKind(enum.StrEnum):
    SINGLE = "single"  # one request, the whole list
    PAGE_COUNT = "page_count"  # page numbers; the first page tells how many pages there are
    PAGE_UNTIL_SHORT = "page_until_short"  # page numbers until a short/empty page or a last-page header
    NEXT_LINK = "next_link"  # follow a next URL found in the body or the Link header


@dataclass(frozen=True)
class Paging:
    kind: PagingKind = PagingKind.SINGLE
    page_param: str = "page"
    size_param: str = ""
    size: int = 0
    first_page: int = 1
    count_path: str = ""  # dotted path to the page count (PAGE_COUNT)
    current_path: str = ""  # dotted path to the echoed page number, checked against the request
    next_path: str = ""  # dotted path to the next URL (NEXT_LINK); empty = Link header
    last_page_header: str = ""  # header that says "true" on the last page (PAGE_UNTIL_SHORT)
    count_optional: bool = False  # PAGE_COUNT: a response without the count is the only page
    in_body: bool = False  # page and size go into the JSON body at the dotted paths page_param/size_param
    max_pages: int = 100_000


SINGLE = Paging()

RecordHook = Callable[[list[dict[str, Any]], "HookContext"], list[dict[str, Any]]]


@dataclass(frozen=True)
class HookContext:
    """What a quirk hook may know about the request that produced its records."""

    entity: str
    params: Mapping[str, Any]
    parent: Mapping[str, Any]
    year: int | None = None


@dataclass(frozen=True)
class Entity:
    name: str
    path: str
    columns: tuple[Column, ...]
    envelope: str | None = None  # key of the list; None = the body is the list; BODY = the body is one record
    envelope_fallbacks: tuple[str, ...] = ()  # legacy keys accepted when ``envelope`` is absent
    fallback_paths: tuple[str, ...] = ()  # older paths tried in order when ``path`` answers 404/410
    body_keys: tuple[str, ...] = ()  # with envelope=BODY: keys the body must have to be the record
    primary_key: tuple[str, ...] = ("id",)
    paging: Paging = SINGLE
    window: Window | None = None
    fan_out: FanOut | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    method: str = "GET"
    json_body: Mapping[str, Any] = field(default_factory=dict)  # template of a POST body
    incremental: Incremental | None = None
    host: str = "base_url"  # which base-URL setting of the source the path is appended to
    rate_group: str = ""  # extra rate-limit bucket of the source this entity also counts against
    hook: RecordHook | None = None
    description: str = ""
    drift: Drift | None = None  # cheap signals that find changes beyond the look-back (reconcile)
    # Documented fields deliberately not staged (dotted paths, as connectors.core.fields names them)
    # -> where they are instead or why: schema drift does not report them as undeclared.
    not_kept: Mapping[str, str] = field(default_factory=dict)
    # Declared fields the API documents as sent only for some records (a kind, a right) -> when: a
    # read without any of them is not reported as missing them.
    sometimes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"entity {self.name!r}: duplicate column names")
        read = {".".join(c.source_path) for c in self.columns}
        clash = sorted(p for p in self.not_kept if p in read or any(r.startswith(p + ".") for r in read))
        if clash:
            raise ValueError(f"entity {self.name!r}: not_kept {clash} are read by columns")
        unread = sorted(p for p in self.sometimes if p not in read)
        if unread:
            raise ValueError(f"entity {self.name!r}: sometimes {unread} are not read by any column")
        missing = [k for k in self.primary_key if k not in names and k not in STAMP_NAMES]
        if missing:
            raise ValueError(f"entity {self.name!r}: primary key {missing} not among its columns")
        holes = placeholders(self.path)
        allowed = {"workspace_id"} | ({self.fan_out.target} if self.fan_out else set())
        if holes - allowed:
            raise ValueError(
                f"entity {self.name!r}: path {self.path!r} has unknown placeholders {holes - allowed}"
            )
        counted = self.incremental is not None and self.incremental.count_path
        # The count probe is one request for the whole list, one record a page.
        if counted and (self.fan_out is not None or self.window is not None or not self.paging.size_param):
            raise ValueError(
                f"entity {self.name!r}: incremental.count_path needs one unwindowed request series "
                "and a page-size parameter (paging.size_param); remove count_path or those settings"
            )
        if self.drift is not None:
            self._check_drift(self.drift, names)

    def _check_drift(self, drift: Drift, names: list[str]) -> None:
        where = f"entity {self.name!r}: drift"
        if self.partitioning is not Partitioning.DAILY:
            raise ValueError(f"{where} needs a daily window: staging is compared day by day")
        if not drift.probe.figures:
            raise ValueError(f"{where} probe has no figures to compare")
        if drift.probe.request is not None and drift.probe.request.fan_out is not None:
            raise ValueError(f"{where} probe must ask one endpoint, not one per fan-out parent")
        for figure in drift.probe.figures:
            unknown = [c for c in (figure.column, *figure.where) if c and c not in names]
            if unknown:
                raise ValueError(f"{where} figure {figure.name!r} names unknown columns {unknown}")
        if drift.changes is not None and drift.changes.field not in names:
            raise ValueError(f"{where} changes field {drift.changes.field!r} is not a column")
        totals = drift.totals
        if totals is not None:
            missing = [c for c in (totals.column, totals.series_column) if c not in names]
            theirs = {c.name for c in totals.request.columns}
            missing += [c for c in (totals.series_field, totals.value_field) if c not in theirs]
            if missing:
                raise ValueError(f"{where} totals name unknown columns {missing}")
            w = totals.request.window
            if w is None or w.partitioning is Partitioning.NONE or w.year_param or totals.request.fan_out:
                raise ValueError(f"{where} totals must ask one endpoint with a since/until window")
            if self.fan_out is not None:
                raise ValueError(f"{where} totals re-read a series by filter_param: not for a fan-out")
        if drift.probe.series and (self.fan_out is None or not self.fan_out.inject_as):
            raise ValueError(
                f"{where} probe.series needs a fan-out whose values land in a column (inject_as)"
            )

    @property
    def partitioning(self) -> Partitioning:
        return self.window.partitioning if self.window else Partitioning.NONE

    def schema(self, extra: tuple[pa.Field, ...] = ()) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type, c.nullable) for c in self.columns] + list(extra))


def placeholders(path: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(path) if name}


@dataclass(frozen=True)
class Setting:
    """A connection setting read from an environment variable (unless the flow file overrides it)."""

    name: str
    env: str
    secret: bool = False
    required: bool = True
    default: str = ""
    help: str = ""


@dataclass(frozen=True)
class RateLimit:
    requests: int
    per_seconds: float


@dataclass(frozen=True)
class Source:
    """A source API: its entities, settings, auth headers and published limits."""

    name: str
    title: str
    entities: tuple[Entity, ...]
    settings: tuple[Setting, ...]
    headers: Callable[[Mapping[str, str]], dict[str, str]]
    rate_limits: tuple[RateLimit, ...] = ()
    rate_groups: Mapping[str, tuple[RateLimit, ...]] = field(default_factory=dict)
    max_concurrency: int = 4
    docs_url: str = ""
    rights_hint: str = ""  # who may read everything, for a 403's message ("an owner's key reads all")
    prepare: Callable[[dict[str, str]], dict[str, str]] | None = None  # derive/validate settings
    # Fill settings the API can tell, once per extraction (e.g. discover the only workspace of a key).
    discover: Callable[[Any, dict[str, str]], Awaitable[dict[str, str]]] | None = None

    def __post_init__(self) -> None:
        names = [e.name for e in self.entities]
        if len(set(names)) != len(names):
            raise ValueError(f"source {self.name!r}: duplicate entity names")
        for e in self.entities:
            if e.fan_out and not e.fan_out.values and e.fan_out.parent not in names:
                raise ValueError(
                    f"{self.name}.{e.name}: fan-out parent {e.fan_out.parent!r} is not an entity"
                )
            if e.rate_group and e.rate_group not in self.rate_groups:
                raise ValueError(f"{self.name}.{e.name}: unknown rate group {e.rate_group!r}")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", e.name):
                raise ValueError(f"{self.name}: entity name {e.name!r} must be snake_case")

    def entity(self, name: str) -> Entity:
        for e in self.entities:
            if e.name == name:
                return e
        raise KeyError(name)

    @property
    def secret_settings(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.settings if s.secret)
