"""Wide windows sized by probes, and the calendar months they (and staging) cut ranges at.

An entity whose API takes any date range with paging (``Window.sizing``, e.g. Clockodo entries) is
not asked one window per ``max_days``: a whole range is probed with one cheap request that says how
many records match, and only ranges holding more than ``target_rows`` are cut, at month boundaries,
into about records/target_rows parts, each probed in turn. A ten-year extract of a small account
then costs a probe and its pages; an empty range costs its probe and no page at all.

The same kind of probe counts a change-captured dimension (``Incremental.count_path``): ``total``
asks for the whole list, one record a page, and reads how many records exist now, so staging can
tell a deletion the "changed since" answer never shows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from .entity import Entity
from .errors import ConfigError, ConnectorError, ResponseShapeError
from .paginate import dig

if TYPE_CHECKING:
    from .extract import Extractor, Slice


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_pieces(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """``[start, end)`` cut at month boundaries."""
    out, cursor = [], start
    while cursor < end:
        nxt = min(next_month(cursor), end)
        out.append((cursor, nxt))
        cursor = nxt
    return out


async def probe(
    ex: Extractor,
    entity: Entity,
    params: dict[str, Any],
    count_path: str,
    where: str,
    declared: str,
    rate_group: bool = True,
) -> int:
    """The number at ``count_path`` of one request for ``entity`` with ``params``.

    It goes through the extractor's HTTP client (its limiters, retries, auth and redaction);
    ``rate_group=False`` keeps it out of the entity's extra rate group. ``declared`` names the
    declaration the path comes from, for the error when the answer lacks it.
    """
    extra = (ex.group_limiter(entity),) if entity.rate_group and rate_group else ()
    try:
        resp = await ex.client.request_json(ex.url(entity, {}), params, extra_limiters=extra)
    except ConnectorError as exc:
        raise exc.with_context(source=ex.source.name, entity=entity.name, window=where) from None
    value = dig(resp.body, count_path)
    if value is None:
        raise ResponseShapeError(
            f"the count probe's answer has no {count_path!r}: the API changed, or the entity's "
            f"{declared} names the wrong path; fix (or remove) {declared}",
            entity=entity.name,
            window=where,
        )
    return int(value)


async def count(ex: Extractor, entity: Entity, sl: Slice) -> int:
    """How many records of a sized entity lie in ``sl``, from one probe request."""
    assert entity.window is not None and entity.window.sizing is not None
    sizing = entity.window.sizing
    params: dict[str, Any] = {**entity.params, **ex.window_params(entity, sl)}
    if entity.paging.page_param:
        params[entity.paging.page_param] = entity.paging.first_page
    params.update(sizing.probe_params)
    return await probe(
        ex, entity, params, sizing.count_path, str(sl), "window.sizing.count_path", sizing.probe_in_rate_group
    )


async def total(ex: Extractor, entity: Entity) -> int:
    """How many records a change-captured entity has now (``Incremental.count_path``): its list
    without the change parameter, one record a page, costs one request whatever its size."""
    inc = entity.incremental
    if inc is None or not inc.count_path:
        raise ConfigError(
            f"{entity.name} declares no incremental.count_path to count its records with", entity=entity.name
        )
    params: dict[str, Any] = {**entity.params, entity.paging.size_param: 1}
    return await probe(ex, entity, params, inc.count_path, "all", "incremental.count_path")


async def sized_slices(ex: Extractor, entity: Entity, start: dt.date, end: dt.date) -> list[Slice]:
    """Slices of a wide-window entity: whole ranges where they are small, split where dense.

    A range holding at most ``target_rows`` records (or one month) is one slice; a denser one is
    cut at month boundaries into about records/target_rows parts. Ranges the probe finds empty
    become slices that need no request.
    """
    from .extract import Slice

    assert entity.window is not None and entity.window.sizing is not None
    target = max(1, entity.window.sizing.target_rows)

    async def split(pieces: list[tuple[dt.date, dt.date]]) -> list[Slice]:
        whole = Slice(pieces[0][0], pieces[-1][1])
        n = await count(ex, entity, whole)
        if n == 0:
            return [dataclasses.replace(whole, empty=True)]
        if n <= target or len(pieces) == 1:
            return [whole]
        k = min(len(pieces), math.ceil(n / target))
        bounds = [round(i * len(pieces) / k) for i in range(k + 1)]
        parts = await asyncio.gather(*(split(pieces[a:b]) for a, b in pairwise(bounds) if b > a))
        return [sl for part in parts for sl in part]

    return await split(month_pieces(start, end))
