"""Cron strings as flow files write them: parsed into sets of values, checked, and rendered back.

``parse_cron`` reads a five-field cron (numbers, names, ranges, lists, steps, and ``L`` for the last
day of the month, which Dagster's croniter knows) into a ``Cron``, with an error that names the
field and says how to fix it; ``Cron.runs_on`` answers cron's own day rule (restricting both day
fields means either may match). ``render`` writes the shortest usual field for a set of values.
``pipelines/schedule.py`` builds schedules from them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from itertools import pairwise

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbers Sunday 0 (and 7)
# name, low, high, names for the low.. values
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, CRON_DAYS),
)


@dataclass(frozen=True)
class Cron:
    """One cron string as sets of values; day-of-week in cron numbering (Sunday 0)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]
    last_dom: bool = False

    def runs_on(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.doms or (
            self.last_dom and day.day == calendar.monthrange(day.year, day.month)[1]
        )
        dow = (day.weekday() + 1) % 7 in self.dows
        # cron (and croniter, which Dagster uses): restricting both day fields means either may match
        if (self.last_dom or len(self.doms) < 31) and len(self.dows) < 7:
            return dom or dow
        return dom and dow


def parse_field(text: str, index: int, expr: str) -> frozenset[int]:
    name, low, high, names = FIELDS[index]
    where = f"cron {expr!r}: {name} field {text!r}"
    values: set[int] = set()

    def number(token: str) -> int:
        if token.isdigit():
            value = int(token)
        elif token in names:
            value = names.index(token) + low
        else:
            named = f" or names {names[0]}..{names[-1]}" if names else ""
            raise ValueError(f"{where}: {token!r} is not a value; use numbers {low}-{high}{named}")
        if not low <= value <= high:
            raise ValueError(f"{where}: {value} is out of range {low}-{high}")
        return value

    for item in text.lower().split(","):
        m = re.fullmatch(r"(\*|\w+(?:-(\w+))?)(?:/(\d+))?", item)
        if m is None:
            raise ValueError(
                f"{where}: can't read {item!r}; use numbers, ranges (1-5), lists (1,3) and steps (*/15) - "
                "extensions such as W, # and ? are not supported"
            )
        step = int(m[3]) if m[3] else 1
        if m[1] == "*":
            first, last = low, (6 if index == 4 else high)
        else:
            first = number(m[1].split("-")[0])
            last = number(m[2]) if m[2] else (high if m[3] else first)  # "5/15" means 5-59/15
        if first > last:
            raise ValueError(f"{where}: the range {item!r} runs backwards; split it, e.g. 5-6,0-1")
        if step == 0 or (step > 1 and len(range(first, last + 1, step)) == 1):
            raise ValueError(f"{where}: the step in {item!r} gives at most one value; use a smaller step")
        values.update(range(first, last + 1, step))
    return frozenset(v % 7 for v in values) if index == 4 else frozenset(values)


def parse_cron(expr: str) -> Cron:
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(
            f"cron {expr!r} has {len(parts)} fields; it needs 5: minute hour day-of-month month day-of-week "
            "(e.g. '0 6 * * 1-5')"
        )
    last_dom = parts[2].upper() == "L"  # Dagster's croniter knows L: the last day of the month
    doms = frozenset() if last_dom else parse_field(parts[2], 2, expr)
    minutes, hours, months, dows = (parse_field(parts[i], i, expr) for i in (0, 1, 3, 4))
    if not last_dom and len(dows) == 7:
        longest = {m: 29 if m == 2 else calendar.monthrange(2001, m)[1] for m in months}
        if not any(d <= longest[m] for d in doms for m in months):
            raise ValueError(
                f"cron {expr!r} never runs: no month in it has day {', '.join(map(str, sorted(doms)))}"
            )
    return Cron(" ".join(parts), minutes, hours, doms, months, dows, last_dom)


def render(values: frozenset[int], low: int, high: int, steps: bool = True) -> str:
    """The shortest usual cron field for a set of values (``steps``: may use */N and a-b/N)."""
    vs = sorted(values)
    if vs == list(range(low, high + 1)):
        return "*"
    step = vs[1] - vs[0] if len(vs) > 1 else 0
    if steps and step > 1 and vs == list(range(low, high + 1, step)):
        return f"*/{step}"
    if len(vs) >= 3 and len({b - a for a, b in pairwise(vs)}) == 1 and (steps or step == 1):
        return f"{vs[0]}-{vs[-1]}" if step == 1 else f"{vs[0]}-{vs[-1]}/{step}"
    runs: list[list[int]] = []
    for v in vs:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)
