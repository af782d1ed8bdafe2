"""The DuckDB connection flow SQL runs on: it reaches the step's inputs and nothing else.

A ``derive`` expression is the flow author's own SQL, and DuckDB SQL can do much more than compute
a column: ``(SELECT content FROM read_text('/proc/self/environ'))`` would copy every API key of the
process into a table, ``read_csv('/etc/passwd')`` any file, ``read_parquet('https://...')`` fetch
from the network (installing ``httpfs`` on the way). A flow file is configuration, so it must not
be able to do any of that. ``connect`` opens the connection every step is planned and run on:

- ``enable_external_access = false``: no file but the ones named (the staged Parquet files of the
  step's inputs and the step's own output file), no URL, no ``ATTACH`` of a file, no ``INSTALL`` or
  ``LOAD`` of an extension, no ``COPY``/``EXPORT`` elsewhere, no scan of Python variables;
- ``autoinstall_known_extensions`` / ``autoload_known_extensions`` off: naming a URL or a format
  never pulls in an extension;
- ``lock_configuration = true``, set last: no ``SET``, ``RESET`` or ``PRAGMA`` can undo the above
  or raise the memory limit.

The files a run reads are allowed by exact path (``allowed_paths``) rather than through views made
before the lock: DuckDB checks file access when a view is queried, so such views fail once access is
off. This keeps DuckDB's own Parquet reader (parallel, reads only the columns and row groups it
needs, memory-limited, spilling to ``spill``) with no copy of the data. Files on an object store
(a remote data directory, ``pipelines.datadir``) are the exception: DuckDB cannot reach the store
itself (no ``httpfs``, and no network for SQL), so the run registers them as an Arrow dataset, which
Python scans through pyarrow's filesystem; the SQL still names no file and reaches nothing else. Planning opens the same
connection with no files at all, so whatever a run would refuse, ``couplet flows validate`` refuses
first, at the file, line and key of the expression.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from destinations.duckdb import resource_config

# Functions that read the process's environment. Python's DuckDB has none of them today (the CLI
# has getenv); named here so that a flow naming one is told why, whatever the DuckDB version.
ENVIRONMENT_FUNCTIONS = frozenset({"getenv"})

# A derive expression that is really a statement: worth saying it is refused, not just mistyped.
_STATEMENT = re.compile(
    r"(^|;)\s*(COPY|ATTACH|DETACH|INSTALL|LOAD|FORCE|SET|RESET|PRAGMA|EXPORT|IMPORT|CALL|USE|CREATE"
    r"|INSERT|UPDATE|DELETE|DROP|ALTER|CHECKPOINT|VACUUM)\b",
    re.IGNORECASE,
)

# What DuckDB says when the lock-down stops something (besides its PermissionException). A function
# of an extension that is not loaded is refused too: DuckDB's advice to INSTALL it cannot be followed.
_REFUSALS = (
    "the configuration has been locked",
    "external extensions is disabled",
    "is not in the catalog, but it exists in the",
)


def connect(files: Sequence[str] = (), spill: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection that may touch ``files`` (read, or write for the output) and nothing else.

    ``spill`` is where joins and sorts larger than the memory limit spill (DuckDB's own temporary
    files stay allowed there). Everything is set before ``lock_configuration``, which freezes it.
    """
    config: dict[str, str | bool | int | float | list[str]] = {
        **resource_config(),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")  # date_trunc etc. on TIMESTAMPTZ follow the session zone
        if spill is not None:
            con.execute("SET temp_directory = ?", [spill])
        if files:
            con.execute("SET allowed_paths = ?", [list(files)])
        con.execute("SET python_enable_replacements = false")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def only_inputs(inputs: Sequence[str]) -> str:
    """What a flow's SQL may use, for messages."""
    return (
        f"flow SQL may only use the step's inputs ({', '.join(inputs) or 'none'}): no files, URLs, "
        "other databases, extensions, settings or environment variables"
    )


def refusal(exc: duckdb.Error) -> str | None:
    """DuckDB's first line when the lock-down stopped the statement, None for a plain SQL mistake.

    Only the first line: the rest is DuckDB's advice (``INSTALL excel; LOAD excel``), which a flow
    cannot follow.
    """
    first = str(exc).strip().split("\n", 1)[0].strip()
    if isinstance(exc, duckdb.PermissionException) or any(r in first for r in _REFUSALS):
        return first
    return None


def looks_like_statement(expression: str) -> bool:
    """Whether ``expression`` holds a statement (``COPY``, ``ATTACH``, ``SET``...) rather than an expression."""
    return _STATEMENT.search(expression) is not None


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def environment_functions(tree: Any) -> list[str]:
    """Functions of ``ENVIRONMENT_FUNCTIONS`` called anywhere in a ``json_serialize_sql`` tree."""
    return sorted(
        {
            str(node["function_name"]).lower()
            for node in _nodes(tree)
            if node.get("class") == "FUNCTION"
            and str(node.get("function_name", "")).lower() in ENVIRONMENT_FUNCTIONS
        }
    )


def outside_query(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """Why ``sql`` is not one query over the inputs (another statement, getenv...), or None if it is."""
    row = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        return "its SQL is not one query"
    named = environment_functions(tree)
    return f"it calls {', '.join(named)}" if named else None
