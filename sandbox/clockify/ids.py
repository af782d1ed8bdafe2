"""Clockify's wire conventions: 24-hex ids, ISO-8601 durations, UTC and zoned timestamps, money in cents.

Ids are MongoDB ObjectId-shaped (24 hex chars) and derived from the org's integer ids, so the same
person is the same id on every run with the same seed:

    prefix (8 hex, from the seed) | kind (4 hex) | integer id (12 hex)

`decode` turns such an id back into (kind, integer), which is how admin edits and lookups find a record
without a table. Ids not made here decode to None.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.common import iso_utc
from sandbox.org import mix

KINDS = {
    "workspace": 0x01, "user": 0x02, "client": 0x03, "project": 0x04, "task": 0x05, "tag": 0x06,
    "time_entry": 0x07, "user_group": 0x08, "custom_field": 0x09, "approval_request": 0x0A,
    "expense": 0x0B, "expense_category": 0x0C, "invoice": 0x0D, "payment": 0x0E, "holiday": 0x0F,
    "policy": 0x10, "time_off_request": 0x11, "balance": 0x12, "assignment": 0x13, "currency": 0x14,
}  # fmt: skip
KIND_NAMES = {v: k for k, v in KINDS.items()}
_HEX24 = re.compile(r"^[0-9a-f]{24}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$")


class Ids:
    """Encoder/decoder of one sandbox's ids (the prefix depends on the org's seed)."""

    def __init__(self, seed: int) -> None:
        # 0x6....... reads like an ObjectId minted in 2021-2024
        self.prefix = f"{0x60000000 + mix(seed * 0x51ED + 0xC10C) % 0x0FFFFFFF:08x}"
        self._cache: dict[tuple[int, int], str] = {}

    def __call__(self, kind: str, n: int) -> str:
        key = (KINDS[kind], n)
        out = self._cache.get(key)
        if out is None:
            out = f"{self.prefix}{key[0]:04x}{n:012x}"
            if len(self._cache) < 200_000:  # dimensions repeat on every page; entries mostly do not
                self._cache[key] = out
        return out

    def decode(self, value: object, kind: str | None = None) -> int | None:
        """The integer behind an id of ours (of `kind`, when given), else None."""
        if not isinstance(value, str) or not _HEX24.match(value) or not value.startswith(self.prefix):
            return None
        k, n = int(value[8:12], 16), int(value[12:], 16)
        if k not in KIND_NAMES or (kind is not None and KINDS[kind] != k):
            return None
        return n

    def kind_of(self, value: object) -> str | None:
        if self.decode(value) is None:
            return None
        return KIND_NAMES[int(str(value)[8:12], 16)]


def duration(seconds: int | None) -> str | None:
    """ISO-8601 duration as Clockify (Java `Duration.toString`) writes it: PT1H30M, PT45S, PT0S."""
    if seconds is None:
        return None
    return _duration(int(seconds))


@lru_cache(maxsize=65_536)
def _duration(seconds: int) -> str:
    if seconds == 0:
        return "PT0S"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "PT" + sign + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s else "")


_DUR = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def parse_duration(value: str) -> int:
    m = _DUR.match(value)
    if not m or value == "PT":
        raise ValueError(value)
    return int(m.group(1) or 0) * 3600 + int(m.group(2) or 0) * 60 + int(m.group(3) or 0)


def utc(ts: int | None) -> str | None:
    """Epoch seconds as the regular API writes instants: `2025-05-05T08:15:00Z`."""
    return None if ts is None else iso_utc(ts)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def zoned(ts: int | None, tz: ZoneInfo) -> str | None:
    """Epoch seconds in a zone with its offset (`2025-05-05T10:15:00+02:00`), as reports write them."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz).isoformat()


def parse_instant(value: str) -> int:
    """A date-time with Z or an offset, as epoch seconds (fractions dropped)."""
    m = _DATETIME.match(value)
    if not m or m.group(6) is None:
        raise ValueError(value)
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return calendar.timegm(when.utctimetuple())


def parse_wall_clock(value: str, tz: ZoneInfo) -> float:
    """Clockify's reading of a window bound: the date and time *as written* (any Z or offset is
    ignored) on the wall clock of `tz`. Returns epoch seconds, fractions kept (`.999` ends)."""
    m = _DATETIME.match(value)
    if not m:
        raise ValueError(value)
    day = date.fromisoformat(m.group(1))
    naive = datetime(day.year, day.month, day.day, int(m.group(2)), int(m.group(3)), int(m.group(4)))
    frac = float(m.group(5) or 0.0)
    return naive.replace(tzinfo=tz).timestamp() + frac


def local_midnight(day: date, tz: ZoneInfo) -> int:
    """Epoch seconds of 00:00 on `day` in `tz`."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def local_day(ts: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, UTC).astimezone(tz).date()


def day_bounds_utc(first: date, last: date, tz: ZoneInfo) -> tuple[str, str]:
    """`[first 00:00, last 23:59:59.999]` local, written in UTC (time-off periods, approval weeks)."""
    start = local_midnight(first, tz)
    end = local_midnight(last + timedelta(days=1), tz) - 1
    return iso_utc(start), iso_utc(end)[:-1] + ".999Z"


def cents(amount: float) -> int:
    return round(amount * 100)


def rate(amount: float | None, currency: str = "EUR") -> dict[str, object] | None:
    """A Clockify Rate: `{"amount": cents, "currency": "EUR"}`; None for no rate."""
    return None if amount is None else {"amount": cents(amount), "currency": currency}
