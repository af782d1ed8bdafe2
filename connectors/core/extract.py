"""Extraction: an entity and a date range in, Arrow tables per window slice out.

A range is cut into slices of at most ``max_days`` (or calendar years); staging splits each slice's
records into month files. An entity with ``sizing`` takes wide ranges instead: a cheap probe counts a
range's records and only dense ranges are split (at month boundaries), so a long, sparse range costs
a few requests rather than one per month. Each slice is fetched with all its fan-out children and pages,
concurrently under the source's limiters, turned into Arrow page by page, placed into partitions by
the entity's ``partition_field`` (records the API returns from outside the slice are dropped:
another slice owns them), de-duplicated on the primary key, and yielded as one table. Memory is
bounded by the slices in flight, never by the size of the account.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from .columnar import Decoder, columnar_decoder
from .entity import Entity, HookContext, Partitioning, Source
from .errors import ConfigError, ConnectorError, ForbiddenError, NotFoundError, ResponseShapeError
from .fields import FieldTally
from .gcscope import FewerCollections
from .http import HttpClient, RetryPolicy
from .paginate import pages, set_path
from .ratelimit import LIMITERS, RateLimiter, parse_rate_limits
from .records import dedupe_last, to_batch
from .settings import ResolvedSettings
from .sizing import sized_slices

STAMP_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("_extracted_at", pa.timestamp("us", tz="UTC")),
    pa.field("_window_start", pa.date32()),
    pa.field("_window_end", pa.date32()),
)


def staged_schema(entity: Entity) -> pa.Schema:
    """The schema of every table the engine yields for ``entity``: declared columns + stamps."""
    fields = [pa.field(c.name, c.arrow_type) for c in entity.columns]
    return pa.schema(fields + list(STAMP_COLUMNS))


@dataclass(frozen=True)
class Slice:
    """A half-open window ``[start, end)`` of days; ``year`` for yearly entities; all None = everything."""

    start: dt.date | None = None
    end: dt.date | None = None
    year: int | None = None
    empty: bool = False  # a probe found no records here: nothing to request

    def __str__(self) -> str:
        if self.year is not None:
            return str(self.year)
        if self.start is None:
            return "all"
        return f"[{self.start.isoformat()}, {self.end.isoformat() if self.end else ''})"


@dataclass
class ExtractStats:
    rows: int = 0
    pages: int = 0
    slices: int = 0
    dropped_outside_window: int = 0
    duplicates_removed: int = 0
    windows: list[str] = field(default_factory=list)
    # Per entity: fields its records carried that no column declares, declared ones none carried.
    fields: dict[str, FieldTally] = field(default_factory=dict)


@dataclass
class SliceResult:
    slice: Slice
    table: pa.Table


def plan_slices(entity: Entity, start: dt.date | None, end: dt.date | None) -> list[Slice]:
    """Cut ``[start, end)`` into the slices the API is asked for: windows of ``max_days`` (a slice
    may span months: staging splits its records by month), or calendar years."""
    kind = entity.partitioning
    if kind is Partitioning.NONE:
        return [Slice()]
    if start is None or end is None or end <= start:
        raise ConfigError(
            f"{entity.name} is partitioned {kind.value}: give a date range with start < end "
            f"(got {start} .. {end})",
            entity=entity.name,
        )
    assert entity.window is not None
    if kind is Partitioning.YEARLY:
        last_year = (end - dt.timedelta(days=1)).year
        return [Slice(dt.date(y, 1, 1), dt.date(y + 1, 1, 1), y) for y in range(start.year, last_year + 1)]
    step = dt.timedelta(days=max(1, entity.window.max_days))
    out, cursor = [], start
    while cursor < end:
        out.append(Slice(cursor, min(cursor + step, end)))
        cursor += step
    return out


def _format_param(day: dt.date, fmt: str) -> str:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).strftime(fmt)


class Extractor:
    """One account of one source, for the duration of an ``async with`` block."""

    def __init__(
        self,
        source: Source,
        settings: ResolvedSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        max_slices_in_flight: int = 2,
        extracted_at: dt.datetime | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.extracted_at = extracted_at or dt.datetime.now(dt.UTC)
        self.max_slices_in_flight = max_slices_in_flight
        account = settings.get("base_url") + "|" + "|".join(sorted(settings.secrets))
        key = (source.name, str(hash(account)))
        limits = source.rate_limits
        if settings.get("rate_limit"):
            try:
                limits = parse_rate_limits(settings.get("rate_limit"), source.rate_limits)
            except ValueError as exc:
                env = settings.env_names.get("rate_limit", "rate_limit")
                raise ConfigError(f"{env}: {exc}", source=source.name) from None
        self._limiter = LIMITERS.get(key, limits)
        self._group_limiters = {g: LIMITERS.get((*key, g), lims) for g, lims in source.rate_groups.items()}
        self.client = HttpClient(
            source=source.name,
            headers=source.headers(settings.values),
            secrets=settings.secrets,
            limiters=(self._limiter,) if limits else (),
            max_concurrency=max_concurrency or source.max_concurrency,
            retry=retry,
            transport=transport,
            auth_hint=settings.auth_hint,
            rights_hint=source.rights_hint,
        )
        self.stats = ExtractStats()
        self._parents: dict[str, list[dict[str, Any]]] = {}
        self._decoders: dict[str, Decoder | None] = {}
        self._gc = FewerCollections()  # pages are many short-lived objects: see gcscope

    async def __aenter__(self) -> Extractor:
        if self.source.discover is not None:
            # Settings an API can tell (e.g. the only workspace of a key) are filled in here.
            values = await self.source.discover(self.client, dict(self.settings.values))
            self.settings = dataclasses.replace(self.settings, values=values)
        self._gc.__enter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._gc.__exit__(None, None, None)
        await self.client.__aexit__(*exc)

    # -- requests ---------------------------------------------------------------------------

    def url(self, entity: Entity, path_values: Mapping[str, Any]) -> str:
        base = self.settings.get(entity.host)
        if not base:
            raise ConfigError(f"no {entity.host} configured", source=self.source.name, entity=entity.name)
        values = {"workspace_id": self.settings.get("workspace_id"), **path_values}
        return base.rstrip("/") + entity.path.format(**values)

    def window_params(self, entity: Entity, sl: Slice) -> dict[str, Any]:
        """The window's request parameters (query names, or dotted body paths when ``in_body``)."""
        w = entity.window
        if w is None or sl.start is None:
            return {}
        if w.partitioning is Partitioning.YEARLY and w.year_param:
            return {w.year_param: sl.year}
        assert sl.end is not None
        pad = dt.timedelta(days=w.pad_days)
        until = sl.end - dt.timedelta(days=1) if w.inclusive_end else sl.end
        return {
            w.since_param: _format_param(sl.start - pad, w.format),
            w.until_param: _format_param(until + pad, w.format),
        }

    def limiters(self) -> dict[str, RateLimiter]:
        """This account's limiters by name: ``<source>``, and ``<source>/<group>`` per rate group
        (the keys of ``LIMITERS`` without the account, which a connection's state file implies)."""
        named = {self.source.name: self._limiter}
        named.update({f"{self.source.name}/{g}": lim for g, lim in self._group_limiters.items()})
        return named

    def group_limiter(self, entity: Entity) -> RateLimiter:
        """The limiter of the entity's extra rate group (the source's own limits apply anyway)."""
        return self._group_limiters[entity.rate_group]

    async def parent_records(self, name: str) -> list[dict[str, Any]]:
        """Records of a fan-out parent, fetched once per extractor."""
        if name not in self._parents:
            parent = self.source.entity(name)
            records: list[dict[str, Any]] = []
            try:
                async for page, _ in pages(self.client, parent, self.url(parent, {}), dict(parent.params)):
                    assert isinstance(page, list)  # parents are decoded as JSON: their records are read here
                    records.extend(page)
                    self.stats.pages += 1
            except ForbiddenError as exc:
                # A 403 on the parent (users, for work times): the right missing is to read the parent.
                exc.reading = exc.reading or name
                raise
            self._parents[name] = records
        return self._parents[name]

    async def _requests(self, entity: Entity) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(path values, parent record) per request series: one, or one per fan-out parent."""
        fan = entity.fan_out
        if fan is None:
            return [({}, {})]
        if fan.values:
            return [({fan.target: value}, {}) for value in fan.values]
        parents = await self.parent_records(fan.parent)
        out = []
        for record in parents:
            value = record.get(fan.parent_key)
            if value is None:
                raise ResponseShapeError(f"parent {fan.parent} record without {fan.parent_key!r}")
            out.append(({fan.target: value}, record))
        return out

    # -- one slice --------------------------------------------------------------------------

    async def _series(
        self,
        entity: Entity,
        sl: Slice,
        path_values: dict[str, Any],
        parent: dict[str, Any],
        since: dict[str, str] | None = None,
    ):
        fan = entity.fan_out
        window = self.window_params(entity, sl)
        in_body = bool(entity.window and entity.window.in_body)
        params: dict[str, Any] = {**entity.params, **({} if in_body else window), **(since or {})}
        body: dict[str, Any] | None = None
        if entity.method != "GET" or entity.json_body:
            body = copy.deepcopy(dict(entity.json_body))
            for key, value in (window if in_body else {}).items():
                set_path(body, key, value)
        if fan is not None and "{" + fan.target + "}" not in entity.path:
            params[fan.target] = path_values[fan.target]
        url = self.url(entity, path_values)
        extra = (self._group_limiters[entity.rate_group],) if entity.rate_group else ()
        ctx = HookContext(entity.name, params, parent, sl.year)
        batches = []
        decode = self._decoders.setdefault(entity.name, columnar_decoder(entity))
        tally = self.stats.fields.setdefault(
            entity.name, FieldTally(entity.columns, entity.not_kept, entity.sometimes)
        )
        async for records, _ in self._pages_with_fallback(
            entity, url, path_values, params, extra, body, decode
        ):
            self.stats.pages += 1
            if fan is not None and fan.inject_as:
                for r in records:
                    # The record's own value wins: an API that ignores the filter must not relabel rows.
                    r.setdefault(fan.inject_as, path_values[fan.target])
            if entity.window and entity.window.inject_year_as and sl.year is not None:
                for r in records:
                    r[entity.window.inject_year_as] = sl.year
            if entity.hook is not None:
                records = entity.hook(records, ctx)
            batches.append(self._to_batch(entity, records, sl))
            tally.observe(records)  # after the hook: the fields of the records columns are read from
            del records  # converted: free the page before the next one arrives
        return batches

    async def _pages_with_fallback(self, entity, url, path_values, params, extra, body=None, decode=None):
        """Pages of the entity's path; on 404/410, of its documented older paths, in order."""
        urls = [url] + [
            self.url(dataclasses.replace(entity, path=p), path_values) for p in entity.fallback_paths
        ]
        for i, candidate in enumerate(urls):
            try:
                async for page in pages(
                    self.client, entity, candidate, params, extra, body=body, decode=decode
                ):
                    yield page
                return
            except NotFoundError:
                if i == len(urls) - 1:
                    raise

    def _to_batch(self, entity: Entity, records: list[dict[str, Any]], sl: Slice) -> pa.RecordBatch:
        batch = to_batch(records, entity.columns, where=f"(window {sl})")
        n = batch.num_rows
        stamp = pa.array([self.extracted_at] * n, STAMP_COLUMNS[0].type)
        if entity.partitioning is Partitioning.NONE:
            starts = ends = pa.nulls(n, pa.date32())
        else:
            starts, ends, keep = self._partitions(entity, batch, sl)
            if keep is not None:
                self.stats.dropped_outside_window += n - pc.sum(keep).as_py() if n else 0
                batch = batch.filter(keep)
                stamp, starts, ends = stamp.filter(keep), starts.filter(keep), ends.filter(keep)
        return pa.RecordBatch.from_arrays(
            [*batch.columns, stamp, starts, ends],
            names=[*batch.schema.names, *(f.name for f in STAMP_COLUMNS)],
        )

    def _partitions(self, entity: Entity, batch: pa.RecordBatch, sl: Slice):
        w = entity.window
        assert w is not None and sl.start is not None and sl.end is not None
        if not w.partition_field:
            n = batch.num_rows
            return pa.array([sl.start] * n, pa.date32()), pa.array([sl.end] * n, pa.date32()), None
        col = batch.column(w.partition_field)
        if col.null_count:
            raise ResponseShapeError(
                f"{col.null_count} record(s) have no {w.partition_field!r}, which places records in partitions",
                entity=entity.name,
                window=str(sl),
            )
        n = batch.num_rows
        if pa.types.is_integer(col.type):  # a year column: the record belongs to that year
            keep = pc.equal(col, sl.year)
        else:
            day = col if pa.types.is_date32(col.type) else pc.cast(col, pa.date32())
            keep = pc.and_(pc.greater_equal(day, pa.scalar(sl.start)), pc.less(day, pa.scalar(sl.end)))
            if w.partitioning is Partitioning.DAILY:
                ends = pc.cast(
                    pc.add(pc.cast(day, pa.timestamp("s")), pa.scalar(dt.timedelta(days=1))), pa.date32()
                )
                return day, ends, keep
        return pa.array([sl.start] * n, pa.date32()), pa.array([sl.end] * n, pa.date32()), keep

    async def extract_slice(
        self, entity: Entity, sl: Slice, changed_since: dt.datetime | None = None
    ) -> pa.Table:
        if sl.empty:
            self.stats.slices += 1
            self.stats.windows.append(str(sl))
            return staged_schema(entity).empty_table()
        series = await self._requests(entity)
        since = None
        if changed_since is not None:
            if entity.incremental is None:
                raise ConfigError(f"{entity.name} has no change-capture parameter", entity=entity.name)
            since = {
                entity.incremental.param: changed_since.astimezone(dt.UTC).strftime(entity.incremental.format)
            }
        try:
            results = await asyncio.gather(
                *(self._series(entity, sl, pv, parent, since) for pv, parent in series)
            )
        except ConnectorError as exc:
            raise exc.with_context(source=self.source.name, entity=entity.name, window=str(sl)) from None
        schema = staged_schema(entity)
        batches = [b for group in results for b in group if b.num_rows]
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        before = table.num_rows
        table = dedupe_last(table, entity.primary_key)
        self.stats.duplicates_removed += before - table.num_rows
        self.stats.rows += table.num_rows
        self.stats.slices += 1
        self.stats.windows.append(str(sl))
        return table

    async def extract(
        self,
        entity: Entity | str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        changed_since: dt.datetime | None = None,
    ) -> AsyncIterator[SliceResult]:
        """Yield one table per slice of ``[start, end)``, several slices in flight at a time.

        ``changed_since`` asks only for records changed since then (entities with ``incremental``).
        """
        if isinstance(entity, str):
            entity = self.source.entity(entity)
        sizing = entity.window.sizing if entity.window else None
        if sizing is not None and changed_since is None and entity.partitioning is Partitioning.DAILY:
            if start is None or end is None or end <= start:
                plan_slices(entity, start, end)  # raises the same clear error
            assert start is not None and end is not None
            slices = await sized_slices(self, entity, start, end)
        else:
            slices = plan_slices(entity, start, end)
        gate = asyncio.Semaphore(self.max_slices_in_flight)
        done: asyncio.Queue[SliceResult | BaseException] = asyncio.Queue()

        async def run(sl: Slice) -> None:
            # Results travel through the queue, not the task: a finished task would otherwise keep
            # its slice's table alive until every slice is done, and memory would grow with the range.
            try:
                async with gate:
                    await done.put(SliceResult(sl, await self.extract_slice(entity, sl, changed_since)))
            except Exception as exc:
                await done.put(exc)

        if (
            entity.fan_out and not entity.fan_out.values
        ):  # fetch the parent once before the slices race for it
            try:
                await self.parent_records(entity.fan_out.parent)
            except ConnectorError as exc:
                raise exc.with_context(source=self.source.name, entity=entity.name) from None
        tasks = [asyncio.ensure_future(run(sl)) for sl in slices]
        try:
            for _ in slices:
                result = await done.get()
                if isinstance(result, BaseException):
                    raise result
                yield result
                del result
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
