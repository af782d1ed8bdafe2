"""Compile one step to a DuckDB SELECT over its inputs, checking every column it names.

Each input is read as a view named like the input (a quoted identifier). Identifiers are always
quoted with ``quote``; filter values are ``?`` parameters cast to the column's type, so a value
is never SQL. The one exception is ``derive``, whose expressions are the flow author's own SQL
(the planner checks each is a single expression). Besides the statement, a step yields *probes*:
small statements the planner binds first so that an error points at one key of the flow file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .steps_base import INTEGERS, Compiled, Context, Probe, Schema, StepError, quote
from .steps_base import family as _family
from .steps_days import compile_split_days
from .steps_model import (
    REGEX_OPS,
    TEXT_OPS,
    Aggregate,
    Append,
    Condition,
    Derive,
    Filter,
    Join,
    Rename,
    Select,
    Sort,
    Step,
)

__all__ = ["Compiled", "Probe", "Schema", "StepError", "compile_step", "derive_hint", "quote"]

JOIN_SQL = {"inner": "INNER JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "full": "FULL OUTER JOIN"}
LEFT, RIGHT = '"__left"', '"__right"'  # table aliases; never clash with a source name (those start a-z)


def derive_hint(message: str) -> str:
    """What to do about DuckDB's complaint on a derive expression."""
    if "not found" in message:
        return "expressions see the input's columns; build on a derived column in a second derive step"
    if "GROUP BY" in message or "aggregate" in message.lower():
        return (
            "derive works row by row: use an aggregate step, or a window such as sum(x) OVER (PARTITION BY k)"
        )
    return ""


def _check_distinct(ctx: Context, tail: Sequence[Any], names: Sequence[str], fix: str) -> None:
    # DuckDB matches names case-insensitively: "Name" and "name" are one column to it.
    seen: dict[str, str] = {}
    for name in names:
        if name.lower() in seen:
            twice = name if seen[name.lower()] == name else f"{seen[name.lower()]}' and '{name}"
            raise ctx.error(tail, f"the result would have column '{twice}' twice; {fix}")
        seen[name.lower()] = name


def _join(ctx: Context, spec: Join) -> Compiled:
    left, right = ctx.schemas[spec.left], ctx.schemas[spec.right]
    conditions, probes = [], []
    for tail, lcol, rcol in spec.key_pairs():
        ltype = ctx.column(tail, spec.left, lcol)
        rtype = ctx.column(tail, spec.right, rcol)
        if _family(ltype) != _family(rtype):
            # DuckDB would cast one side per row and fail mid-run (or match nothing); say so now.
            raise ctx.error(
                tail,
                f"key '{lcol}' is {ltype} but '{rcol}' is {rtype}; cast one side with a derive step first",
            )
        condition = f"{LEFT}.{quote(lcol)} = {RIGHT}.{quote(rcol)}"
        conditions.append(condition)
        probes.append(
            Probe(
                ctx.path(*tail),
                f"SELECT 1 FROM {quote(spec.left)} AS {LEFT} JOIN {quote(spec.right)} AS {RIGHT} ON {condition} LIMIT 0",
            )
        )
    # A key named the same on both sides is one column (like SQL USING): the left value, the right
    # one for a right join, whichever is set for a full join. Keys named differently are both kept.
    merged = {lcol for _, lcol, rcol in spec.key_pairs() if lcol == rcol}
    lsuffix, rsuffix = spec.suffix_pair()
    left_names = {c.lower() for c, _ in left}
    right_names = {c.lower() for c, _ in right if c not in merged}
    select, names = [], []
    for column, _ in left:
        if column in merged:
            lref, rref = f"{LEFT}.{quote(column)}", f"{RIGHT}.{quote(column)}"
            expr = {"right": rref, "full": f"COALESCE({lref}, {rref})"}.get(spec.how, lref)
            name = column
        else:
            expr = f"{LEFT}.{quote(column)}"
            name = column + lsuffix if column.lower() in right_names else column
        select.append(f"{expr} AS {quote(name)}")
        names.append(name)
    for column, _ in right:
        if column not in merged:
            name = column + rsuffix if column.lower() in left_names else column
            select.append(f"{RIGHT}.{quote(column)} AS {quote(name)}")
            names.append(name)
    _check_distinct(ctx, ["suffixes"], names, "choose suffixes: [<left>, <right>] that keep names apart")
    sql = (
        f"SELECT {', '.join(select)} FROM {quote(spec.left)} AS {LEFT} "
        f"{JOIN_SQL[spec.how]} {quote(spec.right)} AS {RIGHT} ON {' AND '.join(conditions)}"
    )
    return Compiled(sql, (), tuple(probes))


def _append(ctx: Context, spec: Append) -> Compiled:
    columns: dict[str, str] = {}  # lower -> first spelling; UNION BY NAME matches case-insensitively
    for name in spec.inputs:
        for column, _ in ctx.schemas[name]:
            columns.setdefault(column.lower(), column)
    tag = spec.source_column
    if tag is not None:
        if tag.lower() in columns:
            owner = next(n for n in spec.inputs if any(c.lower() == tag.lower() for c, _ in ctx.schemas[n]))
            raise ctx.error(
                ["source_column"],
                f"'{owner}' already has a column '{tag}'; set source_column: to another name, or null",
            )
        columns[tag.lower()] = tag
    parts = [
        f"SELECT *{f', CAST(? AS VARCHAR) AS {quote(tag)}' if tag else ''} FROM {quote(name)}"
        for name in spec.inputs
    ]
    # The outer list fixes the column order: first input's columns, new ones as met, the tag last.
    sql = f"SELECT {', '.join(map(quote, columns.values()))} FROM ({' UNION ALL BY NAME '.join(parts)})"
    return Compiled(sql, tuple(spec.inputs) if tag else ())


def _select(ctx: Context, spec: Select) -> Compiled:
    if spec.columns is not None:
        for i, column in enumerate(spec.columns):
            ctx.column(["columns", i], spec.from_, column)
        kept = list(spec.columns)
        _check_distinct(ctx, ["columns"], kept, "list each column once")
    else:
        assert spec.exclude is not None
        for i, column in enumerate(spec.exclude):
            ctx.column(["exclude", i], spec.from_, column)
        kept = [c for c, _ in ctx.schemas[spec.from_] if c not in spec.exclude]
        if not kept:
            raise ctx.error(["exclude"], "that excludes every column; keep at least one")
    return Compiled(f"SELECT {', '.join(map(quote, kept))} FROM {quote(spec.from_)}")


def _rename(ctx: Context, spec: Rename) -> Compiled:
    for old in spec.columns:
        ctx.column(["columns", old], spec.from_, old)
    schema = ctx.schemas[spec.from_]
    names = [spec.columns.get(c, c) for c, _ in schema]
    seen: dict[str, str] = {}
    for (old, _), new in zip(schema, names, strict=True):
        if new.lower() in seen:
            other = seen[new.lower()]
            tail = ["columns", old if old in spec.columns else other]
            raise ctx.error(tail, f"'{new}' would name both '{other}' and '{old}'; choose another name")
        seen[new.lower()] = old
    select = [
        quote(c) if c == n else f"{quote(c)} AS {quote(n)}" for (c, _), n in zip(schema, names, strict=True)
    ]
    return Compiled(f"SELECT {', '.join(select)} FROM {quote(spec.from_)}")


COMPARE = {"eq": "=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
REGEX_HINT = (
    "not a regular expression DuckDB's regexp_matches accepts: RE2 syntax, which has no look-around or "
    "back-references; fix the pattern"
)


def _text_only(ctx: Context, j: int, cond: Condition, column: str, type_: str) -> None:
    if type_ != "VARCHAR":
        raise ctx.error(
            ["where", j, "op"],
            f"{cond.op} works on text, and '{column}' is {type_}; "
            f"derive a text column first, e.g. CAST({column} AS VARCHAR)",
        )


def _against_columns(ctx: Context, spec: Filter, j: int, cond: Condition, type_: str) -> str:
    """``column op other``: the other column(s) must exist and hold the same kind of value."""
    col, others = quote(cond.column), cond.others()
    refs = []
    for k, other in enumerate(others):
        tail = ["where", j, "other", *([k] if isinstance(cond.other, list) else [])]
        other_type = ctx.column(tail, spec.from_, other)
        if _family(other_type) != _family(type_):
            raise ctx.error(
                tail,
                f"'{cond.column}' is {type_} but '{other}' is {other_type}, which cannot be compared; "
                "cast one of them with a derive step first",
            )
        refs.append(quote(other))
    if cond.op == "eq":
        return f"{col} = {refs[0]}"
    if cond.op == "ne":  # every row eq drops: different values, and rows where either is null
        return f"({col} = {refs[0]}) IS NOT TRUE"
    if cond.op == "between":
        return f"{col} BETWEEN {refs[0]} AND {refs[1]}"
    if cond.op in TEXT_OPS:
        return f"{cond.op}({col}, {refs[0]})"
    return f"{col} {COMPARE[cond.op]} {refs[0]}"


def _filter(ctx: Context, spec: Filter) -> Compiled:
    parts: list[str] = []
    params: list[Any] = []
    probes: list[Probe] = []
    for j, cond in enumerate(spec.where):
        type_ = ctx.column(["where", j, "column"], spec.from_, cond.column)
        col, values, op = quote(cond.column), cond.values(), cond.op
        # The value takes the column's type, so 5 against a text column means '5', and a value that
        # cannot be that type fails at planning (the probe), not halfway through a run.
        cast = f"CAST(? AS {type_})"
        listed = ", ".join([cast] * len(values))
        if op in TEXT_OPS or op in REGEX_OPS:
            _text_only(ctx, j, cond, cond.column, type_)
        if cond.other is not None:
            condition = _against_columns(ctx, spec, j, cond, type_)
            parts.append(condition)
            probes.append(
                Probe(
                    ctx.path("where", j, "other"),
                    f"SELECT 1 FROM {quote(spec.from_)} WHERE {condition} LIMIT 0",
                )
            )
        elif op in TEXT_OPS:
            parts.append(f"{op}({col}, ?)")
        elif op in REGEX_OPS:
            # The pattern is compiled here, when the flow loads: a bad one is an error at its key.
            probes.append(
                Probe(
                    ctx.path("where", j, "value"),
                    "SELECT regexp_matches('', CAST(? AS VARCHAR))",
                    tuple(values),
                    hint=REGEX_HINT,
                )
            )
            matches = f"regexp_matches({col}, CAST(? AS VARCHAR))"
            # not_matches keeps nulls, as ne does: a missing value does not match the pattern.
            parts.append(matches if op == "matches" else f"({col} IS NULL OR NOT {matches})")
        elif values:
            probes.append(
                Probe(
                    ctx.path("where", j, "value"),
                    f"SELECT {listed}",
                    tuple(values),
                    hint=f"'{cond.column}' is {type_}",
                )
            )
            parts.append(
                {
                    # ne and not_in keep rows where the column is null: a missing value is not "x".
                    "ne": f"{col} IS DISTINCT FROM {cast}",
                    "in": f"{col} IN ({listed})",
                    "not_in": f"({col} IS NULL OR {col} NOT IN ({listed}))",
                    "between": f"{col} BETWEEN {cast} AND {cast}",
                }.get(op, f"{col} {COMPARE.get(op)} {cast}")
            )
        else:
            parts.append(f"{col} IS {'NOT ' if op == 'not_null' else ''}NULL")
        params.extend(values)
    joiner = " AND " if spec.match == "all" else " OR "
    where = joiner.join(f"({p})" for p in parts)
    return Compiled(f"SELECT * FROM {quote(spec.from_)} WHERE {where}", tuple(params), tuple(probes))


def _derive(ctx: Context, spec: Derive) -> Compiled:
    existing = {c.lower(): c for c, _ in ctx.schemas[spec.from_]}
    replaced: list[str] = []
    added: list[str] = []
    probes: list[Probe] = []
    for name, expression in spec.columns.items():
        same = existing.get(name.lower())
        if same is not None and same != name:
            raise ctx.error(
                ["columns", name],
                f"'{name}' differs from the column '{same}' only in case; DuckDB sees one name",
            )
        # Newlines keep a trailing "-- comment" in the expression from swallowing the parenthesis.
        item = f"(\n{expression}\n) AS {quote(name)}"
        (replaced if same else added).append(item)
        # With * beside it, an aggregate such as sum(x) fails here too, at this column's key.
        probes.append(
            Probe(
                ctx.path("columns", name),
                f"SELECT *, {item} FROM {quote(spec.from_)} LIMIT 0",
                expression=expression,
            )
        )
    star = f"* REPLACE ({', '.join(replaced)})" if replaced else "*"
    return Compiled(f"SELECT {', '.join([star, *added])} FROM {quote(spec.from_)}", (), tuple(probes))


def _aggregate(ctx: Context, spec: Aggregate) -> Compiled:
    for i, column in enumerate(spec.group_by):
        ctx.column(["group_by", i], spec.from_, column)
    groups = [c.lower() for c in spec.group_by]
    select, probes = list(map(quote, spec.group_by)), []
    for name, metric in spec.metrics.items():
        if name.lower() in groups:
            raise ctx.error(
                ["metrics", name], f"'{name}' is also a group_by column; name the metric differently"
            )
        if metric.column == "*":
            expr = "count(*)"
        else:
            type_ = ctx.column(["metrics", name, metric.function], spec.from_, metric.column)
            if metric.function in ("sum", "avg") and _family(type_) not in ("number", "true/false"):
                raise ctx.error(
                    ["metrics", name, metric.function],
                    f"{metric.function} needs a number column, and '{metric.column}' is {type_}; "
                    "use count, count_distinct, min or max, or derive a number first",
                )
            col = quote(metric.column)
            expr = {"count_distinct": f"count(DISTINCT {col})"}.get(
                metric.function, f"{metric.function}({col})"
            )
            if metric.function == "sum" and type_ in INTEGERS:
                expr = f"CAST({expr} AS BIGINT)"  # DuckDB sums integers as HUGEINT, which Parquet lacks
        select.append(f"{expr} AS {quote(name)}")
        probes.append(Probe(ctx.path("metrics", name), f"SELECT {expr} FROM {quote(spec.from_)} LIMIT 0"))
    sql = f"SELECT {', '.join(select)} FROM {quote(spec.from_)}"
    if spec.group_by:
        keys = ", ".join(map(quote, spec.group_by))
        sql += f" GROUP BY {keys} ORDER BY {keys}"  # ordered so that re-runs give identical sheets
    return Compiled(sql, (), tuple(probes))


def _sort(ctx: Context, spec: Sort) -> Compiled:
    keys = []
    for i, key in enumerate(spec.by):
        ctx.column(["by", i], spec.from_, key.column)
        keys.append(f"{quote(key.column)} {'DESC' if key.desc else 'ASC'} NULLS {key.nulls.upper()}")
    return Compiled(f"SELECT * FROM {quote(spec.from_)} ORDER BY {', '.join(keys)}")


COMPILERS: dict[str, Any] = {
    "join": _join,
    "append": _append,
    "select": _select,
    "rename": _rename,
    "filter": _filter,
    "derive": _derive,
    "aggregate": _aggregate,
    "sort": _sort,
    "split_days": compile_split_days,
}


def compile_step(index: int, step: Step, schemas: Mapping[str, Schema], zone: str = "UTC") -> Compiled:
    """SQL for ``step`` (number ``index`` in the list); ``schemas`` must hold every input it reads.

    ``zone`` is the flow's time zone, for steps that cut timestamps into local days (split_days).
    """
    return COMPILERS[step.kind](Context(index, step, schemas, zone), step.spec)  # type: ignore[no-any-return]
