"""Table state of the BigQuery emulator, kept in DuckDB, with BigQuery's rules where a client can see them.

* Tables live in an in-memory DuckDB database as ``"<project>.<dataset>"."<table>"``; their BigQuery
  metadata (schema with legacy type names as the API returns them, partitioning, clustering,
  expiration) sits beside them.
* Load jobs read Parquet with BigQuery's dispositions: CREATE_IF_NEEDED/NEVER, WRITE_TRUNCATE
  (data and schema replaced), WRITE_APPEND (a changed column type fails the job with BigQuery's
  message; a new column needs ALLOW_FIELD_ADDITION), WRITE_EMPTY. A load applies whole or not at all.
* Queries are BigQuery standard SQL translated to DuckDB: backtick identifiers and
  ``project.dataset.table`` paths, ``@named`` parameters. SELECT, MERGE, INSERT, UPDATE, DELETE
  and TRUNCATE TABLE run for real, so the table after a MERGE is what the MERGE computes. MERGE is
  parsed by BigQuery's grammar (``bigquery_merge``: every WHEN clause, ``NOT MATCHED BY SOURCE
  [AND ...] THEN DELETE | UPDATE SET`` included, first matching clause wins); a MERGE whose target
  row matches two source rows fails as it does in BigQuery, and the DML statistics count inserted,
  updated and deleted rows as BigQuery's do. ``MERGE ... ON FALSE`` runs as its exact equivalent,
  the BY SOURCE clause's DELETE or UPDATE then an INSERT, in one transaction (see
  ``bigquery_merge.on_false``). DDL is refused (tables are made via the API).
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

import duckdb

from .bigquery_merge import MergeError, OnFalse, on_false, parse_merge, used

# merge_on_false is re-exported: tests check the emulator's ON FALSE shortcut through it
from .bigquery_merge import merge_on_false as merge_on_false

LEGACY = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
_DUCK = {"STRING": "VARCHAR", "BYTES": "BLOB", "INTEGER": "BIGINT", "FLOAT": "DOUBLE", "NUMERIC": "DECIMAL(38, 9)",
         "BIGNUMERIC": "DECIMAL(38, 18)", "BOOLEAN": "BOOLEAN", "TIMESTAMP": "TIMESTAMPTZ", "DATE": "DATE",
         "TIME": "TIME", "DATETIME": "TIMESTAMP", "JSON": "VARCHAR"}  # fmt: skip
_FROM_DUCK = [("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"), ("TIMESTAMPTZ", "TIMESTAMP"), ("TIMESTAMP", "DATETIME"),
              ("DECIMAL", "NUMERIC"), ("VARCHAR", "STRING"), ("BLOB", "BYTES"), ("BOOLEAN", "BOOLEAN"),
              ("DOUBLE", "FLOAT"), ("FLOAT", "FLOAT"), ("DATE", "DATE"), ("TIME", "TIME")]  # fmt: skip
_INTS = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)


class JobFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def legacy(type_: str) -> str:
    return LEGACY.get(type_.upper(), type_.upper())


def duck_type(f: dict[str, Any]) -> str:
    t = legacy(f["type"])
    base = (
        "STRUCT(" + ", ".join(f'"{c["name"]}" {duck_type(c)}' for c in f.get("fields", [])) + ")"
        if t == "RECORD"
        else _DUCK[t]
    )
    return base + "[]" if f.get("mode") == "REPEATED" else base


def bq_type(duck: str) -> str:
    duck = duck.upper()
    if duck in _INTS:
        return "INTEGER"
    for prefix, bq in _FROM_DUCK:
        if duck.startswith(prefix):
            return bq
    return "STRING"


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class TableMeta:
    project: str
    dataset: str
    table: str
    fields: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)  # timePartitioning, clustering, expirationTime...
    created_ms: int = 0
    modified_ms: int = 0

    @property
    def sql(self) -> str:
        return f"{q(self.project + '.' + self.dataset)}.{q(self.table)}"


def _now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def _norm_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for f in fields:
        g = {"name": f["name"], "type": legacy(f["type"]), "mode": f.get("mode") or "NULLABLE"}
        if f.get("fields"):
            g["fields"] = _norm_fields(f["fields"])
        out.append(g)
    return out


class Engine:
    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.lock = threading.RLock()
        self.datasets: dict[tuple[str, str], dict[str, Any]] = {}
        self.tables: dict[tuple[str, str, str], TableMeta] = {}

    # -- datasets and tables ---------------------------------------------------------------
    def create_dataset(self, project: str, dataset: str, location: str) -> dict[str, Any]:
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(project + '.' + dataset)}")
        self.datasets[(project, dataset)] = {"location": location}
        return self.dataset_resource(project, dataset)

    def dataset_resource(self, project: str, dataset: str) -> dict[str, Any]:
        meta = self.datasets[(project, dataset)]
        return {"kind": "bigquery#dataset", "id": f"{project}:{dataset}", "etag": "e",
                "datasetReference": {"projectId": project, "datasetId": dataset}, "location": meta["location"]}  # fmt: skip

    def create_table(
        self, project: str, dataset: str, table: str, fields: list[dict[str, Any]], extra: dict[str, Any]
    ) -> TableMeta:
        if not fields:
            raise JobFailed("invalid", f"Table {project}:{dataset}.{table} needs a schema")
        meta = TableMeta(project, dataset, table, _norm_fields(fields), extra, _now_ms(), _now_ms())
        cols = ", ".join(f"{q(f['name'])} {duck_type(f)}" for f in meta.fields)
        self.con.execute(f"CREATE TABLE {meta.sql} ({cols})")
        self.tables[(project, dataset, table)] = meta
        return meta

    def drop_table(self, key: tuple[str, str, str]) -> None:
        meta = self.tables.pop(key)
        self.con.execute(f"DROP TABLE {meta.sql}")

    def table_resource(self, meta: TableMeta) -> dict[str, Any]:
        rows = self.con.execute(f"SELECT count(*) FROM {meta.sql}").fetchone()[0]  # type: ignore[index]
        resource = {
            "kind": "bigquery#table", "etag": str(meta.modified_ms), "type": "TABLE",
            "id": f"{meta.project}:{meta.dataset}.{meta.table}",
            "tableReference": {"projectId": meta.project, "datasetId": meta.dataset, "tableId": meta.table},
            "schema": {"fields": meta.fields}, "numRows": str(rows), "numBytes": "0",
            "creationTime": str(meta.created_ms), "lastModifiedTime": str(meta.modified_ms),
            "location": self.datasets[(meta.project, meta.dataset)]["location"],
        }  # fmt: skip
        resource.update(meta.extra)
        return resource

    def evolve(
        self, meta: TableMeta, fields: list[dict[str, Any]], add: bool, relax: bool, what: str
    ) -> None:
        """Apply a new schema to an existing table the way BigQuery allows: add nullable fields, relax modes."""
        current = {f["name"].lower(): f for f in meta.fields}
        for f in _norm_fields(fields):
            old = current.get(f["name"].lower())
            if old is None:
                if not add:
                    raise JobFailed(
                        "invalid",
                        f"Provided Schema does not match Table {what}. Cannot add fields (field: {f['name']})",
                    )
                if f["mode"] == "REQUIRED":
                    raise JobFailed(
                        "invalid", f"Provided Schema does not match Table {what}. Cannot add required fields"
                    )
                self.con.execute(f"ALTER TABLE {meta.sql} ADD COLUMN {q(f['name'])} {duck_type(f)}")
                meta.fields.append(f)
            elif old["type"] != f["type"]:
                raise JobFailed("invalid", f"Provided Schema does not match Table {what}. Field {f['name']} has "
                                           f"changed type from {old['type']} to {f['type']}")  # fmt: skip
            elif old["mode"] == "REQUIRED" and f["mode"] == "NULLABLE":
                if not relax:
                    raise JobFailed(
                        "invalid",
                        f"Provided Schema does not match Table {what}. Field {f['name']} has changed mode from REQUIRED to NULLABLE",
                    )
                old["mode"] = "NULLABLE"
        meta.modified_ms = _now_ms()

    def _count(self, relation: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {relation}").fetchone()
        return int(row[0]) if row else 0

    # -- load jobs -------------------------------------------------------------------------
    def load(self, config: dict[str, Any], data: bytes) -> dict[str, Any]:
        ref = config["destinationTable"]
        key = (ref["projectId"], ref["datasetId"], ref["tableId"])
        what = f"{key[0]}:{key[1]}.{key[2]}"
        if config.get("sourceFormat") != "PARQUET":
            raise JobFailed("invalid", "the emulator loads PARQUET only")
        if config.get("autodetect"):
            raise JobFailed("invalid", "the emulator does not autodetect; send a schema")
        if (key[0], key[1]) not in self.datasets:
            raise JobFailed("notFound", f"Not found: Dataset {key[0]}:{key[1]}")
        fd, path = tempfile.mkstemp(suffix=".parquet")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            with self.lock:
                return self._load(config, key, what, path)
        finally:
            os.unlink(path)

    def _load(
        self, config: dict[str, Any], key: tuple[str, str, str], what: str, path: str
    ) -> dict[str, Any]:
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        except duckdb.Error as exc:
            raise JobFailed("invalid", f"Error while reading data, error message: {exc}") from None
        in_file = {name: typ for name, typ, *_ in described}
        fields = (config.get("schema") or {}).get("fields") or [
            {"name": n, "type": bq_type(t), "mode": "NULLABLE"} for n, t in in_file.items()
        ]
        write = config.get("writeDisposition", "WRITE_APPEND")
        options = set(config.get("schemaUpdateOptions", []))
        meta = self.tables.get(key)
        snapshot = copy.deepcopy(meta)  # metadata rolls back with the data
        self.con.execute("BEGIN TRANSACTION")
        try:
            if meta is None:
                if config.get("createDisposition") == "CREATE_NEVER":
                    raise JobFailed("notFound", f"Not found: Table {what}")
                extra: dict[str, Any] = {
                    k: config[k] for k in ("timePartitioning", "clustering") if k in config
                }
                meta = self.create_table(*key, fields, extra)
            elif write == "WRITE_TRUNCATE":
                extra = dict(meta.extra)
                self.drop_table(key)
                meta = self.create_table(*key, fields, extra)
            elif write == "WRITE_EMPTY" and self._count(meta.sql):
                raise JobFailed("duplicate", f"Already Exists: Table {what}")
            else:
                self.evolve(
                    meta, fields, "ALLOW_FIELD_ADDITION" in options, "ALLOW_FIELD_RELAXATION" in options, what
                )
            names = [f["name"] for f in _norm_fields(fields)]
            types = {f["name"]: duck_type(f) for f in meta.fields}
            select = ", ".join(
                f"CAST({q(n)} AS {types[n]})" if n in in_file else f"NULL::{types[n]}" for n in names
            )
            self.con.execute(
                f"INSERT INTO {meta.sql} ({', '.join(q(n) for n in names)}) SELECT {select} FROM read_parquet('{path}')"
            )
            count = self.con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]  # type: ignore[index]
            meta.modified_ms = _now_ms()
            self.con.execute("COMMIT")
        except BaseException as exc:
            self.con.execute("ROLLBACK")
            if snapshot is None:
                self.tables.pop(key, None)
            else:
                self.tables[key] = snapshot
            if isinstance(exc, duckdb.Error):
                raise JobFailed("invalid", f"Error while reading data, error message: {exc}") from None
            raise
        return {"outputRows": str(count), "inputFiles": "1"}

    # -- queries ---------------------------------------------------------------------------
    def query(self, sql: str, params: list[dict[str, Any]], default_project: str) -> dict[str, Any]:
        duck_sql, kind = translate(sql, default_project)
        values = {p["name"]: param_value(p) for p in params}
        with self.lock:
            try:
                if kind == "MERGE":
                    return self._merge(duck_sql, values)
                cursor = self.con.execute(duck_sql, values)
                if kind == "SELECT":
                    schema = [
                        {"name": d[0], "type": bq_type(str(d[1])), "mode": "NULLABLE"}
                        for d in cursor.description
                    ]
                    return {"statementType": "SELECT", "schema": schema, "rows": cursor.fetchall()}
                affected = cursor.fetchone()[0] if kind != "TRUNCATE_TABLE" else 0  # type: ignore[index]
                key = {"INSERT": "INSERT", "UPDATE": "UPDATE", "DELETE": "DELETE"}.get(kind)
                return {"statementType": kind, "affected": affected, "dml": {key: affected} if key else {}}
            except duckdb.Error as exc:
                text = str(exc)
                if "more than once" in text:
                    raise JobFailed(
                        "invalidQuery", "UPDATE/MERGE must match at most one source row for each target row"
                    ) from None
                raise JobFailed("invalidQuery", text.split("\n")[0]) from None

    def _merge(self, sql: str, values: dict[str, Any]) -> dict[str, Any]:
        try:
            merge = parse_merge(sql)
        except MergeError as exc:
            raise JobFailed("invalidQuery", str(exc)) from None
        if (split := on_false(merge)) is not None:
            return self._on_false(split, values)
        source = f"{merge.source} AS {merge.source_alias}" if merge.source_alias else merge.source

        def source_columns() -> list[str]:
            found = self.con.execute(f"SELECT * FROM {source} LIMIT 0", used(source, values)).description
            return [d[0] for d in found or []]

        duck = merge.duckdb(source_columns) + " RETURNING merge_action"
        actions = self.con.execute(duck, used(duck, values)).fetchall()
        counts = {a: sum(1 for (x,) in actions if x == a) for a in ("INSERT", "UPDATE", "DELETE")}
        return {"statementType": "MERGE", "affected": len(actions), "dml": counts}

    def _on_false(self, split: OnFalse, values: dict[str, Any]) -> dict[str, Any]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            changed = 0
            if split.by_source:
                changed = self.con.execute(split.by_source, used(split.by_source, values)).fetchone()[0]  # type: ignore[index]
            inserted = self.con.execute(split.insert, used(split.insert, values)).fetchone()[0]  # type: ignore[index]
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        dml = {"INSERT": inserted, split.action or "DELETE": changed}
        return {"statementType": "MERGE", "affected": changed + inserted, "dml": dml}

    def rows(self, meta: TableMeta, limit: int | None = None) -> list[tuple[Any, ...]]:
        cols = ", ".join(q(f["name"]) for f in meta.fields)
        cut = "" if limit is None else f" LIMIT {int(limit)}"
        return self.con.execute(f"SELECT {cols} FROM {meta.sql}{cut}").fetchall()


# -- SQL translation -------------------------------------------------------------------------
_TOKEN = re.compile(r"`([^`]*)`|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|@@\w+|@(\w+)")
_KINDS = ("SELECT", "WITH", "MERGE", "INSERT", "UPDATE", "DELETE", "TRUNCATE")


def translate(sql: str, default_project: str) -> tuple[str, str]:
    """BigQuery SQL -> (DuckDB SQL, statement kind)."""
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if head not in _KINDS:
        raise JobFailed(
            "invalidQuery", f"the emulator runs {', '.join(_KINDS)} statements only, not {head or 'nothing'}"
        )
    if ";" in sql.strip().rstrip(";"):
        raise JobFailed("invalidQuery", "the emulator runs one statement per query")

    def replace(m: re.Match[str]) -> str:
        if m[1] is not None:
            parts = m[1].split(".")
            if len(parts) == 3:
                return f"{q(parts[0] + '.' + parts[1])}.{q(parts[2])}"
            if len(parts) == 2:
                return f"{q(default_project + '.' + parts[0])}.{q(parts[1])}"
            return q(m[1])
        if m[2] is not None:
            return "$" + m[2]
        return m[0]

    kind = {"WITH": "SELECT", "TRUNCATE": "TRUNCATE_TABLE"}.get(head, head)
    return _TOKEN.sub(replace, sql.strip().rstrip(";")), kind


def param_value(p: dict[str, Any]) -> Any:
    t = p["parameterType"]["type"]
    raw = p.get("parameterValue", {}).get("value")
    if raw is None:
        return None
    if t in ("INT64", "INTEGER"):
        return int(raw)
    if t in ("FLOAT64", "FLOAT"):
        return float(raw)
    if t in ("BOOL", "BOOLEAN"):
        return raw.lower() == "true" if isinstance(raw, str) else bool(raw)
    if t in ("NUMERIC", "BIGNUMERIC"):
        return decimal.Decimal(raw)
    if t == "DATE":
        return dt.date.fromisoformat(raw)
    if t == "DATETIME":
        return dt.datetime.fromisoformat(raw)
    if t == "TIMESTAMP":
        value = dt.datetime.fromisoformat(raw.replace(" UTC", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return raw
