"""Drift probes: the cheap figures an API answers for a window, and the records changed since a time.

An entity with ``Entity.drift`` (see ``entity.Drift``) can be checked against what is staged without
re-reading it: ``probe`` asks one request for a window of days (the entity's own list at one item a
page, or a report's totals, like ``sizing.count`` does for wide windows) and reads the declared
``Figure`` values from the answer; ``changed_records`` asks once for every record changed since a
time over a whole range. Both go through the extractor's HTTP client: its rate limiters, retries,
auth headers and redaction. ``fingerprint`` asks a year's table of per-(series, day) figures
(``Fingerprint``) and ``series_zones`` the time zone of each series, for ``pipelines/reconcile_days.py``;
``series_totals`` a window's figure per series (``Totals``), for ``pipelines/reconcile_totals.py``.
``pipelines/reconcile.py`` decides what to probe and what to re-read.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from .entity import Entity, Figure, Fingerprint, Probe, Totals
from .errors import ConfigError, ConnectorError, ResponseShapeError
from .extract import Extractor, Slice
from .paginate import set_path

Figures = dict[str, float]


def drift_of(entity: Entity) -> Probe:
    """The entity's drift probe, or a ConfigError saying which entities have one."""
    if entity.drift is None:
        raise ConfigError(
            f"{entity.name} declares no drift signal (Entity.drift), so drift cannot be found cheaply; "
            "re-extract its range with stage_entity instead, or declare one in its connector",
            entity=entity.name,
        )
    return entity.drift.probe


def _window(ex: Extractor, target: Entity, start: dt.date, end: dt.date, probe: Probe) -> dict[str, Any]:
    params = ex.window_params(target, Slice(start, end))
    w = target.window
    if probe.end_inclusive and w is not None:
        last = dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC) - dt.timedelta(seconds=1)
        params[w.until_param] = last.strftime(w.format)
    return params


async def probe(
    ex: Extractor, entity: Entity, start: dt.date, end: dt.date, series: Sequence[Any] | None = None
) -> Figures:
    """The probe's figures for the days ``[start, end)``, from one request.

    The request is the first page of the probe's endpoint for the window with the probe's params on
    top: query parameters, or dotted paths of the JSON body when the endpoint posts one. ``series``
    restricts it to those fan-out values (``Probe.series``), e.g. some users.
    """
    p = drift_of(entity)
    target = p.request or entity
    window, paging = target.window, target.paging
    if window is None:
        raise ConfigError(
            f"the drift probe of {entity.name} asks an endpoint without a window", entity=entity.name
        )
    bounds = _window(ex, target, start, end, p)
    params: dict[str, Any] = dict(target.params)
    body: dict[str, Any] | None = None
    if target.method != "GET" or target.json_body:
        body = copy.deepcopy(dict(target.json_body))
    for key, value in bounds.items():
        if body is not None and window.in_body:
            set_path(body, key, value)
        else:
            params[key] = value
    if paging.page_param:
        if body is not None and paging.in_body:
            set_path(body, paging.page_param, paging.first_page)
        else:
            params[paging.page_param] = paging.first_page
    overrides = dict(p.params)
    if series is not None:
        if not p.series:
            raise ConfigError(
                f"the drift probe of {entity.name} cannot be narrowed by series", entity=entity.name
            )
        overrides.update({p.series: list(series), **p.series_params})
    for key, value in overrides.items():
        if body is not None:
            set_path(body, key, value)
        else:
            params[key] = value
    extra = (ex.group_limiter(target),) if target.rate_group and p.in_rate_group else ()
    where = f"[{start.isoformat()}, {end.isoformat()})"
    try:
        resp = await ex.client.request_json(
            ex.url(target, {}), params, method=target.method, json_body=body, extra_limiters=extra
        )
    except ConnectorError as exc:
        raise exc.with_context(source=ex.source.name, entity=entity.name, window=where) from None
    return {f.name: figure_value(resp.body, f, entity.name, where) for f in p.figures}


def figure_value(body: Any, figure: Figure, entity: str, where: str = "") -> float:
    """The number at ``figure.path``: dotted keys, number steps index lists, an empty list is 0."""
    value = body
    for step in figure.path.split("."):
        if isinstance(value, list) and step.isdigit():
            if not value:
                return 0.0  # e.g. a report's totals over a range without records
            value = value[int(step)] if int(step) < len(value) else None
        elif isinstance(value, dict):
            value = value.get(step)
        else:
            value = None
        if value is None:
            break
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResponseShapeError(
            f"the drift probe's answer has no number at {figure.path!r} (figure {figure.name!r}): the "
            "API changed or the connector's Entity.drift names the wrong path; fix the declaration",
            entity=entity,
            window=where or None,
        )
    return float(value)


async def changed_records(
    ex: Extractor, entity: Entity, start: dt.date, end: dt.date, since: dt.datetime
) -> pa.Table:
    """Every record of ``[start, end)`` changed since ``since``, as staged rows, in one request series.

    The range is one slice however long (the change parameter keeps the answer small); records are
    typed, stamped and placed by day exactly as an extraction would place them.
    """
    changes = entity.drift.changes if entity.drift is not None else None
    if changes is None:
        raise ConfigError(f"{entity.name} declares no drift.changes parameter", entity=entity.name)
    reader = dataclasses.replace(entity, incremental=changes, drift=None)
    return await ex.extract_slice(reader, Slice(start, end), changed_since=since)


# -- fingerprints: a year of per-(series, day) figures in one request ---------------------------------

DayFigures = dict[tuple[Any, dt.date], float]


def fingerprint_of(entity: Entity) -> Fingerprint | None:
    return entity.drift.fingerprint if entity.drift is not None else None


def _walk(value: Any, steps: list[str]) -> list[Any]:
    """Every value at the dotted ``steps``; ``*`` steps into each item of a list."""
    if not steps:
        return [value]
    step, rest = steps[0], steps[1:]
    if step == "*":
        return [v for item in value for v in _walk(item, rest)] if isinstance(value, list) else []
    return _walk(value.get(step), rest) if isinstance(value, dict) else []


async def fingerprint(ex: Extractor, entity: Entity, year: int) -> DayFigures:
    """The fingerprint's figure per (series, day) of ``year``, from one request.

    Days whose record has no number at ``value_field`` (e.g. a report's future days) are left out:
    they are not compared. A day outside ``year`` is left out too.
    """
    fp = fingerprint_of(entity)
    if fp is None:
        raise ConfigError(f"{entity.name} declares no drift.fingerprint", entity=entity.name)
    target = fp.request
    if target.window is None or not target.window.year_param:
        raise ConfigError(
            f"the drift fingerprint of {entity.name} asks {target.name}, which has no yearly window",
            entity=entity.name,
        )
    params = {**target.params, target.window.year_param: year, **fp.params}
    where = str(year)
    try:
        resp = await ex.client.request_json(ex.url(target, {}), params, method=target.method)
    except ConnectorError as exc:
        raise exc.with_context(source=ex.source.name, entity=entity.name, window=where) from None

    def shape(problem: str) -> ResponseShapeError:
        return ResponseShapeError(
            f"the drift fingerprint's answer ({target.path}) {problem}: the API changed or the "
            "connector's Drift.fingerprint names the wrong path; fix the declaration",
            entity=entity.name,
            window=where,
        )

    records = resp.body.get(target.envelope) if isinstance(resp.body, dict) else None
    if not isinstance(records, list):
        raise shape(f"has no list at {target.envelope!r}")
    out: DayFigures = {}
    for record in records:
        series = record.get(fp.series_field) if isinstance(record, dict) else None
        if series is None:
            raise shape(f"has a record without {fp.series_field!r}")
        for day in _walk(record, fp.days.split(".")):
            value = day.get(fp.value_field) if isinstance(day, dict) else None
            if value is None:
                continue
            try:
                date = dt.date.fromisoformat(str(day.get(fp.day_field))[:10])
            except ValueError:
                raise shape(f"has a day whose {fp.day_field!r} is not a date") from None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise shape(f"has a day whose {fp.value_field!r} is not a number")
            if date.year == year:
                out[(series, date)] = out.get((series, date), 0.0) + float(value)
    return out


async def series_zones(ex: Extractor, entity: Entity) -> dict[Any, ZoneInfo | None]:
    """The time zone of each series (records of ``Fingerprint.zones``); None where it is missing or
    unknown (such a series cannot be compared day by day). Empty when no zones are declared."""
    fp = fingerprint_of(entity)
    if fp is None or not fp.zones:
        return {}
    out: dict[Any, ZoneInfo | None] = {}
    for record in await ex.parent_records(fp.zones):
        name = record.get(fp.zone_field)
        try:
            out[record.get(fp.zone_key)] = ZoneInfo(name) if isinstance(name, str) and name else None
        except (ZoneInfoNotFoundError, ValueError):
            out[record.get(fp.zone_key)] = None
    return out


# -- totals: a window's figure per series --------------------------------------------------------------


def totals_of(entity: Entity) -> Totals | None:
    return entity.drift.totals if entity.drift is not None else None


async def series_totals(ex: Extractor, entity: Entity, start: dt.date, end: dt.date) -> dict[Any, float]:
    """The ``Totals`` figure per series over the days ``[start, end)`` (every page of the request;
    records of one series added up; a record without a series or a number is left out)."""
    totals = totals_of(entity)
    if totals is None:
        raise ConfigError(f"{entity.name} declares no drift.totals", entity=entity.name)
    reader = dataclasses.replace(
        totals.request, params={**totals.request.params, **totals.params}, drift=None
    )
    where = f"[{start.isoformat()}, {end.isoformat()})"
    try:
        table = await ex.extract_slice(reader, Slice(start, end))
    except ConnectorError as exc:
        raise exc.with_context(source=ex.source.name, entity=entity.name, window=where) from None
    out: dict[Any, float] = {}
    for s, v in zip(
        table.column(totals.series_field).to_pylist(),
        table.column(totals.value_field).to_pylist(),
        strict=True,
    ):
        if s is not None and v is not None:
            out[s] = out.get(s, 0.0) + float(v)
    return out
