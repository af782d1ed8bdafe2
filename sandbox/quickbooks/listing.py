"""How QuickBooks lists: its query language (reference §6), parsed and run over rendered records, and
the page a query's STARTPOSITION/MAXRESULTS cut (the shared `sandbox.listing.offset`).

    SELECT * | COUNT(*) FROM <Entity> [WHERE <prop> <op> <value> [AND ...]]
        [ORDERBY <prop> [ASC|DESC]] [STARTPOSITION n] [MAXRESULTS n]

Operators `=`, `<`, `>`, `<=`, `>=`, `IN (...)`, `LIKE` (only `%` is special). Values: `'quoted'` text
(a quote inside is written `\\'`, a backslash `\\\\`), unquoted numbers, `true`/`false`. Keywords are
case-insensitive, the entity name is not. Strict where the reference is silent or UNCONFIRMED: no OR,
no projections, no `ORDER BY` spelt in two words, clauses in the grammar's order, and only the
properties an entity declares filterable (`entities.Kind.filterable`) may appear in WHERE or ORDERBY.
Text compares case-insensitively (as names clash case-insensitively). Every error is a 400 `Fault`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sandbox.listing import offset
from sandbox.quickbooks.params import ApiError, parse_datetime, query_error

Record = dict[str, Any]
_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<str>'(?:[^'\\]|\\.)*')|(?P<op><=|>=|<>|!=|[=<>(),*])"
    r"|(?P<num>-?\d+(?:\.\d+)?)(?![A-Za-z_])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)"
)
_UNESCAPE = re.compile(r"\\(['\\])")
OPERATORS = ("=", "<", ">", "<=", ">=", "IN", "LIKE")


@dataclass(frozen=True)
class Token:
    kind: str  # str, num, word, op
    text: str
    value: Any


@dataclass(frozen=True)
class Condition:
    prop: str
    op: str
    value: Any  # a list for IN


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool = False
    where: tuple[Condition, ...] = ()
    order: tuple[str, bool] | None = None  # (property, descending)
    start: int = 1
    max_results: int | None = None


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            what = "an unterminated string" if text[pos] == "'" else f"unexpected character {text[pos]!r}"
            raise query_error(f"{what} at position {pos + 1}")
        kind, piece = match.lastgroup or "", match.group()
        pos = match.end()
        if kind == "str":
            tokens.append(Token(kind, piece, _UNESCAPE.sub(r"\1", piece[1:-1])))
        elif kind == "num":
            tokens.append(Token(kind, piece, float(piece) if "." in piece else int(piece)))
        elif kind != "space":
            tokens.append(Token(kind, piece, piece))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.i = tokenize(text), 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind in ("word", "op") and token.text.upper() in words:
            self.i += 1
            return token.text.upper()
        return None

    def expect(self, word: str) -> None:
        if self.keyword(word) is None:
            raise query_error(f"expected {word} {self.where()}")

    def where(self) -> str:
        token = self.peek()
        return f"near {token.text!r}" if token else "at the end of the query"

    def take(self, *kinds: str) -> Token:
        token = self.peek()
        if token is None or token.kind not in kinds:
            raise query_error(f"expected a {' or '.join(kinds)} {self.where()}")
        self.i += 1
        return token

    def integer(self, clause: str) -> int:
        token = self.take("num")
        if not isinstance(token.value, int) or token.value < 1:
            raise query_error(f"{clause} takes a whole number of at least 1, not {token.text}")
        return int(token.value)

    def value(self) -> Any:
        token = self.take("str", "num", "word")
        if token.kind == "word":
            if token.text.lower() not in ("true", "false"):
                raise query_error(f"values are 'quoted', numbers, true or false, not {token.text}")
            return token.text.lower() == "true"
        return token.value

    def parse(self) -> Query:
        self.expect("SELECT")
        count = False
        if self.keyword("*") is None:
            if self.keyword("COUNT") is None:
                raise query_error("only SELECT * and SELECT COUNT(*) are supported (no projections)")
            for part in ("(", "*", ")"):
                self.expect(part)
            count = True
        self.expect("FROM")
        entity = self.take("word").text
        where: list[Condition] = []
        if self.keyword("WHERE"):
            where.append(self.condition())
            while self.keyword("AND"):
                where.append(self.condition())
        order = None
        if self.keyword("ORDERBY"):
            prop = self.take("word").text
            order = (prop, self.keyword("ASC", "DESC") == "DESC")
        start = self.integer("STARTPOSITION") if self.keyword("STARTPOSITION") else 1
        limit = self.integer("MAXRESULTS") if self.keyword("MAXRESULTS") else None
        token = self.peek()
        if token is not None:
            if token.text.upper() == "OR":
                raise query_error("OR is not supported: combine conditions with AND, or use IN")
            raise query_error(
                f"unexpected {token.text!r} (clauses go WHERE, ORDERBY, STARTPOSITION, MAXRESULTS)"
            )
        return Query(entity, count, tuple(where), order, start, limit)

    def condition(self) -> Condition:
        prop = self.take("word").text
        token = self.peek()
        op = self.keyword(*OPERATORS)
        if op is None:
            raise query_error(f"unsupported operator {token.text if token else 'missing'!r} after {prop}")
        if op != "IN":
            return Condition(prop, op, self.value())
        self.expect("(")
        values = [self.value()]
        while self.keyword(","):
            values.append(self.value())
        self.expect(")")
        return Condition(prop, op, values)


def parse(text: str) -> Query:
    return _Parser(text).parse()


def _field(record: Record, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _typed(kind: str, value: Any, prop: str) -> Any:
    """A query literal (or a record's value) in the property's type, for comparing."""
    try:
        if kind == "id":
            return int(value) if not isinstance(value, bool) else _bad()
        if kind == "bool":
            return value if isinstance(value, bool) else {"true": True, "false": False}[str(value).lower()]
        if kind == "str":
            return value.casefold() if isinstance(value, str) else _bad()
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "datetime":
            return parse_datetime(value if "T" in value else value + "T00:00:00")
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    raise query_error(f"{value!r} is not a valid value for {prop} ({kind})")


def _bad() -> Any:
    raise ValueError


def _matches(record: Record, cond: Condition, kind: str) -> bool:
    raw = _field(record, cond.prop)
    if raw is None:
        return False
    have = _typed(kind, raw, cond.prop)
    if cond.op == "IN":
        return have in [_typed(kind, v, cond.prop) for v in cond.value]
    if cond.op == "LIKE":
        pattern = ".*".join(re.escape(part) for part in cond.value.casefold().split("%"))
        return re.fullmatch(pattern, have, re.DOTALL) is not None
    want = _typed(kind, cond.value, cond.prop)
    compare = {"=": have == want, "<": have < want, ">": have > want, "<=": have <= want, ">=": have >= want}
    return compare[cond.op]


def run(query: Query, records: Iterable[Record], filterable: Mapping[str, str]) -> list[Record]:
    """The matching records in order (all of them: the caller pages)."""
    for cond in query.where:
        kind = filterable.get(cond.prop)
        if kind is None:
            raise query_error(f"property {cond.prop} is not queryable on {query.entity}")
        if cond.op == "LIKE" and (kind != "str" or not isinstance(cond.value, str)):
            raise query_error(f"LIKE needs a text property and a 'quoted' pattern ({cond.prop})")
        for value in cond.value if cond.op == "IN" else [cond.value]:
            _typed(kind, value, cond.prop)  # a bad literal is an error even when no record is compared
    rows = [r for r in records if all(_matches(r, c, filterable[c.prop]) for c in query.where)]
    prop, descending = query.order or ("Id", False)
    kind = filterable.get(prop)
    if kind is None:
        raise query_error(f"cannot ORDERBY {prop} on {query.entity}")

    def key(record: Record) -> tuple[bool, Any]:
        value = _field(record, prop)
        typed: Any = _typed(kind, value, prop) if value is not None else None
        return (typed is None) != descending, typed if typed is not None else 0

    try:
        return sorted(rows, key=key, reverse=descending)
    except TypeError:  # datetimes with and without offsets cannot be compared; all stored ones have one
        raise ApiError(400, "4000", "Error parsing query", f"cannot order by {prop}") from None


def page(query: Query, rows: list[Record], entity: str, default_size: int, max_size: int) -> Record:
    """The `QueryResponse` of a SELECT: rows from STARTPOSITION (1-based), at most MAXRESULTS (the
    default when absent, capped silently), or `{}` when none is left."""
    cut = offset(rows, query.start, min(query.max_results or default_size, max_size))
    return {entity: cut.rows, "startPosition": query.start, "maxResults": len(cut.rows)} if cut.rows else {}
