"""BigQuery's MERGE statement for the emulator: parsed by its documented grammar, run by DuckDB.

The grammar (https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#merge_statement)::

    MERGE [INTO] target_name [[AS] alias] USING source_name [[AS] alias] ON merge_condition
    { when_clause }+

    when_clause: WHEN MATCHED [AND search_condition] THEN { UPDATE SET ... | DELETE }
               | WHEN NOT MATCHED [BY TARGET] [AND search_condition] THEN INSERT [(columns)] { VALUES (...) | ROW }
               | WHEN NOT MATCHED BY SOURCE [AND search_condition] THEN { UPDATE SET ... | DELETE }

``parse_merge`` splits a statement (already in DuckDB's quoting, see ``bigquery_engine.translate``)
into its parts and refuses what the grammar does not allow with a syntax error, and
``Merge.duckdb`` writes it back as DuckDB SQL. DuckDB's MERGE has the same clauses with the same
meaning: every target/source row pair takes the first WHEN clause of its kind whose condition
holds (none: the row is left alone); a NOT MATCHED BY SOURCE clause sees only the target row, so a
reference to the source there fails. ``INSERT ROW`` inserts the source row's columns by position
(spelled out as a VALUES list, so a column list works with it too).

``on_false`` is a shortcut for ``MERGE ... ON FALSE`` (no row matches), which DuckDB plans as a
nested-loop full join: when the statement is one unconditional INSERT plus at most one NOT MATCHED
BY SOURCE clause, the same effect is that clause's DELETE or UPDATE, then an INSERT ... SELECT.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_NAME = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z_0-9]*)'
_RELATION = re.compile(rf"(?P<name>{_NAME}(?:\s*\.\s*{_NAME})*)(?:\s+(?:AS\s+)?(?P<alias>{_NAME}))?", re.I)
_KIND = re.compile(r"\s*(?P<not>NOT\s+)?MATCHED(?:\s+BY\s+(?P<by>TARGET|SOURCE))?\b", re.I)
_INSERT = re.compile(r"(?:\((?P<cols>[^()]*)\)\s*)?(?:(?P<row>ROW)|VALUES\s*\((?P<vals>.*)\))", re.I | re.S)
_RESERVED = {"WHEN", "THEN", "AND", "USING", "ON", "AS", "SET", "MATCHED", "NOT"}

Words = list[tuple[str, int, int]]  # (upper-cased word, start, end)


class MergeError(Exception):
    """A statement the MERGE grammar does not allow (the engine reports it as ``invalidQuery``)."""


@dataclass(frozen=True)
class Clause:
    kind: str  # MATCHED, NOT MATCHED BY TARGET or NOT MATCHED BY SOURCE
    condition: str | None
    action: str  # UPDATE, DELETE or INSERT
    body: str  # what follows the action: "SET a = 1", "(a, b) VALUES (...)", "ROW", ""


@dataclass(frozen=True)
class Merge:
    target: str
    target_alias: str | None
    source: str
    source_alias: str | None
    on: str
    clauses: tuple[Clause, ...]

    def duckdb(self, source_columns: Callable[[], list[str]]) -> str:
        """The statement as DuckDB SQL; ``source_columns()`` names the source's columns (for ROW)."""
        target, source = _aliased(self.target, self.target_alias), _aliased(self.source, self.source_alias)
        parts = [f"MERGE INTO {target} USING {source} ON {self.on}"]
        for c in self.clauses:
            parts.append(
                f"WHEN {c.kind}" + (f" AND {c.condition}" if c.condition else "") + f" THEN {c.action}"
            )
            body = self._insert(c.body, source_columns) if c.action == "INSERT" else c.body
            if body:
                parts.append(body)
        return " ".join(parts)

    def _insert(self, body: str, source_columns: Callable[[], list[str]]) -> str:
        m = _INSERT.fullmatch(body)
        if m is None or not m["row"]:
            return body
        alias = self.source_alias or self.source
        values = ", ".join(f'{alias}."{c.replace(chr(34), chr(34) * 2)}"' for c in source_columns())
        columns = f"({m['cols']}) " if m["cols"] is not None else ""
        return f"{columns}VALUES ({values})"


class OnFalse(NamedTuple):
    """``MERGE ... ON FALSE`` as plain statements: the BY SOURCE clause's (or None), then the INSERT."""

    by_source: str | None
    insert: str
    action: str  # what ``by_source`` does: DELETE or UPDATE ("" without it)


def parse_merge(sql: str) -> Merge:
    words = _top_level_words(sql)
    names = [w for w, _, _ in words]
    if not names or names[0] != "MERGE":
        raise MergeError("Syntax error: Expected keyword MERGE")
    head = 1 if names[1:2] == ["INTO"] else 0
    using = _find(words, "USING", head + 1)
    on = _find(words, "ON", using + 1)
    whens = [i for i in range(on + 1, len(words)) if names[i] == "WHEN"]
    if not whens:
        raise MergeError("Syntax error: Expected keyword WHEN but got end of statement")
    target, target_alias = _relation(sql[words[head][2] : words[using][1]])
    source, source_alias = _relation(sql[words[using][2] : words[on][1]])
    condition = sql[words[on][2] : words[whens[0]][1]].strip()
    if not condition:
        raise MergeError("Syntax error: Expected a merge condition after ON")
    clauses = []
    for n, i in enumerate(whens):
        start, end = words[i][2], words[whens[n + 1]][1] if n + 1 < len(whens) else len(sql)
        inner = [(w, s - start, e - start) for w, s, e in words if start <= s < end]
        clauses.append(_clause(sql[start:end], inner))
    return Merge(target, target_alias, source, source_alias, condition, tuple(clauses))


def on_false(merge: Merge) -> OnFalse | None:
    if merge.on.strip("() \n\t").upper() != "FALSE":
        return None
    inserts = [c for c in merge.clauses if c.kind == "NOT MATCHED BY TARGET"]
    others = [c for c in merge.clauses if c.kind == "NOT MATCHED BY SOURCE"]
    if len(inserts) != 1 or inserts[0].condition or len(others) > 1:
        return None
    if len(inserts) + len(others) != len(merge.clauses):  # a MATCHED clause (never runs): keep it real
        return None
    m = _INSERT.fullmatch(inserts[0].body)
    if m is None or m["cols"] is None or m["row"]:
        return None
    source = _aliased(merge.source, merge.source_alias)
    insert = f"INSERT INTO {merge.target} ({m['cols']}) SELECT {m['vals']} FROM {source}"
    if not others:
        return OnFalse(None, insert, "")
    clause, target = others[0], _aliased(merge.target, merge.target_alias)
    where = f" WHERE {clause.condition}" if clause.condition else ""
    if clause.action == "DELETE":
        return OnFalse(f"DELETE FROM {target}{where}", insert, "DELETE")
    return OnFalse(f"UPDATE {target} {clause.body}{where}", insert, "UPDATE")


def merge_on_false(sql: str) -> OnFalse | None:
    """``on_false`` of a statement, or ``None`` for other shapes (or a statement that does not parse)."""
    try:
        return on_false(parse_merge(sql))
    except MergeError:
        return None


def used(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters a statement refers to (DuckDB refuses unused ones)."""
    return {k: v for k, v in values.items() if re.search(rf"\${re.escape(k)}\b", sql)}


# -- scanning --------------------------------------------------------------------------------
def _top_level_words(sql: str) -> Words:
    """The words outside parentheses, CASE ... END, string literals, quoted names and comments."""
    out: Words = []
    depth = cases = i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"":
            i = _skip_quoted(sql, i)
        elif sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = len(sql) if end < 0 else end + 2
        elif ch.isalpha() or ch == "_":
            m = _WORD.match(sql, i)
            assert m is not None
            word = m[0].upper()
            after_dot_or_param = i > 0 and sql[i - 1] in ".$"
            if word == "CASE":
                cases += 1
            elif word == "END" and cases:
                cases -= 1
            elif depth == 0 and cases == 0 and not after_dot_or_param:
                out.append((word, i, m.end()))
            i = m.end()
        else:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            i += 1
            if ch.isdigit():  # a number such as 1e5: its letters are not a word
                while i < len(sql) and (sql[i].isalnum() or sql[i] in "._"):
                    i += 1
    return out


def _skip_quoted(sql: str, i: int) -> int:
    quote, j = sql[i], i + 1
    while j < len(sql):
        if sql[j] == "\\" or sql.startswith(quote * 2, j):
            j += 2
        elif sql[j] == quote:
            return j + 1
        else:
            j += 1
    raise MergeError("Syntax error: Unclosed string literal")


def _find(words: Words, word: str, start: int) -> int:
    for i in range(start, len(words)):
        if words[i][0] == word:
            return i
    raise MergeError(f"Syntax error: Expected keyword {word}")


def _relation(text: str) -> tuple[str, str | None]:
    """``name [[AS] alias]`` or ``(query) [[AS] alias]``."""
    text = text.strip()
    if text.startswith("("):
        depth = 0
        for i, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                alias = re.sub(r"^AS\s+", "", text[i + 1 :].strip(), flags=re.I)
                if alias and (not re.fullmatch(_NAME, alias) or alias.upper() in _RESERVED):
                    raise MergeError(f"Syntax error: Unexpected {alias!r}")
                return text[: i + 1], alias or None
    m = _RELATION.fullmatch(text)
    if m is None or (m["alias"] or "").upper() in _RESERVED:
        raise MergeError(f"Syntax error: Unexpected {text!r}")
    return m["name"], m["alias"]


def _clause(text: str, words: Words) -> Clause:
    """One WHEN clause (``text`` starts after WHEN; ``words`` are its top-level words)."""
    m = _KIND.match(text)
    if m is None:
        raise MergeError("Syntax error: Expected keyword MATCHED or keyword NOT after WHEN")
    kind = f"NOT MATCHED BY {(m['by'] or 'TARGET').upper()}" if m["not"] else "MATCHED"
    if kind == "MATCHED" and m["by"]:
        raise MergeError("Syntax error: Unexpected keyword BY after WHEN MATCHED")
    then = next((w for w in words if w[0] == "THEN"), None)
    if then is None:
        raise MergeError(f"Syntax error: Expected keyword THEN in WHEN {kind}")
    head = text[m.end() : then[1]].strip()
    condition = None
    if head:
        if not re.match(r"AND\b", head, re.I) or not head[3:].strip():
            raise MergeError(
                f"Syntax error: Expected keyword AND or keyword THEN but got {head.split()[0]!r}"
            )
        condition = head[3:].strip()
    rest = text[then[2] :].strip()
    action = rest.split(None, 1)[0].upper() if rest else ""
    body = rest[len(action) :].strip()
    allowed = ("INSERT",) if kind == "NOT MATCHED BY TARGET" else ("DELETE", "UPDATE")
    if action not in allowed:
        expected = " or ".join(f"keyword {a}" for a in allowed)
        got = f"keyword {action}" if action else "end of statement"
        raise MergeError(f"Syntax error: Expected {expected} but got {got} in WHEN {kind}")
    if action == "DELETE" and body:
        raise MergeError(f"Syntax error: Unexpected {body.split()[0]!r} after DELETE")
    if action == "UPDATE" and not re.match(r"SET\s+\S", body, re.I):
        raise MergeError("Syntax error: Expected keyword SET after UPDATE")
    if action == "INSERT" and _INSERT.fullmatch(body) is None:
        raise MergeError("Syntax error: Expected keyword VALUES or keyword ROW after INSERT")
    return Clause(kind, condition, action, body)


def _aliased(relation: str, alias: str | None) -> str:
    return f"{relation} AS {alias}" if alias else relation
