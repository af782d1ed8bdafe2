"""Declarations of the cheap drift signals of a dated entity (``Entity.drift``), as frozen data.

``Drift`` holds a ``Probe`` (one request answering ``Figure`` values for any window of days), an
optional change feed (``Incremental``), an optional ``Fingerprint`` (a year of per-series, per-day
figures in one request) and optional ``Totals`` (a figure per series over a window, one request). ``connectors/core/drift.py`` asks them; ``pipelines/reconcile*.py`` compares
them with staging. Re-exported by ``entity``, where every other declaration lives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .entity import Entity, Incremental

__all__ = ["Drift", "Figure", "Fingerprint", "Probe", "Totals"]


@dataclass(frozen=True)
class Figure:
    """One number a drift probe reads for a window, and how staging computes the same number.

    ``path`` is dotted into the probe's answer; a number step indexes a list (``totals.0.entriesCount``)
    and an empty list there reads as 0. Staged, the figure is the number of rows (``column`` empty) or
    the sum of ``column``, over the rows whose ``where`` columns are all set (not null, not false).
    Figures must add up over days (counts and sums): narrowing subtracts one half from the whole.
    """

    name: str
    path: str
    column: str = ""
    where: tuple[str, ...] = ()
    tolerance: float = 0.0  # absolute difference still taken as equal (sums of rounded values)


@dataclass(frozen=True)
class Probe:
    """One cheap request that answers ``figures`` for any window of days (see ``Drift``).

    It asks ``request`` (another endpoint such as a report; default: the entity's own list) for the
    window's first page with ``params`` on top (query names, or dotted body paths when the request
    posts a JSON body), e.g. one item per page. ``max_days`` is the widest window one probe may cover
    (0 = any range, so narrowing starts from the whole range); ``end_inclusive`` asks up to the last
    second of the window, for an API whose end bound is inclusive.

    ``series`` (fan-out entities): the dotted param that takes a list of fan-out values (e.g. user
    ids, the entity's ``fan_out.inject_as`` column), sent with ``series_params``. A drifted window is
    then narrowed to the series that differ, and only their request series are re-read.
    """

    figures: tuple[Figure, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    request: Entity | None = None
    in_rate_group: bool = True
    max_days: int = 0
    end_inclusive: bool = False
    series: str = ""
    series_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fingerprint:
    """A table of figures per (series, day) for a whole calendar year from one request.

    ``request`` (a yearly entity, e.g. a per-user year report) is asked once per year with ``params``
    on top. Each record of its answer is one series (``series_field``, e.g. ``users_id``); ``days``
    (dotted, ``*`` steps into every list item) leads to its day records: ``day_field`` a date,
    ``value_field`` a number (a day without it, e.g. a future one, is not compared). Staged, the same
    figure is the sum of ``column`` per ``series_column`` and local date of ``time_column`` in the
    series' time zone, read from the records of ``zones`` (``zone_key`` = the series, ``zone_field``
    an IANA name; no ``zones``: UTC). ``pipelines/reconcile_days.py`` compares them day by day.

    ``filter_param`` (optional): the entity's list parameter that restricts it to one series (e.g.
    Clockodo's ``filter[users_id]``). A drifted day is then re-read for its drifted series only, one
    request series each, where re-reading the whole day would take more requests (a day of more than
    a page); only those series' rows of that day are replaced.
    """

    request: Entity
    column: str
    series_column: str
    time_column: str
    series_field: str
    days: str
    day_field: str = "date"
    value_field: str = "hours"
    params: Mapping[str, Any] = field(default_factory=dict)
    zones: str = ""
    zone_key: str = "id"
    zone_field: str = "timezone"
    tolerance: float = 0.5
    filter_param: str = ""


@dataclass(frozen=True)
class Totals:
    """A figure per series (e.g. hours per user) over any window of up to ``max_days`` days, from
    one request series (e.g. Harvest's team time report), asked where the probe's counts disagree.

    ``request`` (an entity with a daily ``since``/``until`` window, e.g. a report) is read over the
    window with ``params`` on top; its records carry ``series_field`` and ``value_field`` (records of
    one series add up, e.g. one per currency). Staged, the same figure is the sum of ``column`` per
    ``series_column`` over the window's days. A series that differs by more than ``tolerance`` is
    re-read alone over that window through the entity's own list with ``filter_param`` set to it
    (one request series however long the window), and only its rows of those days are replaced.
    Where more than ``max_share`` of the compared series differ, the signal is taken as not
    comparable (e.g. the account rounds differently) and the counts are narrowed as without it.
    """

    request: Entity
    series_field: str
    value_field: str
    column: str
    series_column: str
    filter_param: str
    max_days: int = 365
    tolerance: float = 0.011
    max_share: float = 0.5
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Drift:
    """How drift beyond the look-back is found cheaply for a dated entity (pipelines/reconcile.py).

    ``probe`` compares per-window figures with what is staged; ``changes`` asks once for every record
    changed since a time anywhere in a range (edits and inserts; deletions only show in counts);
    ``fingerprint`` compares per-(series, day) figures of whole years, checked before the probe;
    ``totals`` localizes what the probe's first counts miss to series (e.g. users) and re-reads those.
    """

    probe: Probe
    changes: Incremental | None = None
    fingerprint: Fingerprint | None = None
    totals: Totals | None = None
