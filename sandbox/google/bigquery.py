"""The BigQuery API v2 emulator: the subset google-cloud-bigquery uses, with table state in DuckDB.

Served by ``couplet sandbox`` at ``/google/bigquery`` (the real API: ``https://bigquery.googleapis.com``)
and by a threaded server in tests. Point the real client at it::

    bigquery.Client(project="p", credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": "http://127.0.0.1:8765/google/bigquery"})

(or set ``BIGQUERY_EMULATOR_HOST`` to that URL). Implemented: datasets insert/get; tables
insert/get/patch/delete; tabledata.list; jobs insert (query), jobs get, getQueryResults (with
paging); load jobs through multipart uploads and through resumable uploads (POST opens a session,
PUTs send chunks, 308 until the last byte); the token endpoint for service-account keys (see
``wire.Emulator``). Any project id is accepted. ``allowed`` restricts callers to some
service-account e-mails (403 "Access Denied" for others, like a missing IAM role). Jobs run to
completion when they are inserted; a failed job is DONE with an ``errorResult``, as in BigQuery.
Other endpoints answer 400 so a client notices what the emulator does not do (streaming inserts,
dataset listing, copy/extract jobs, legacy SQL, DDL).

Admin reads (not part of the BigQuery API; no auth, no faults, not logged):

* ``GET /_admin/tables``: every table with its ``row_count`` and schema (staging tables included);
* ``GET /_admin/tables/{project}/{dataset}/{table}[?limit=100]``: the same for one table plus its
  first ``limit`` ``rows`` as JSON objects (dates ISO, decimals as text).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

from .bigquery_engine import Engine, JobFailed, TableMeta, legacy
from .wire import Emulator, HttpError, Request, Response, limit_arg

_V2 = "/bigquery/v2/projects/"
_UPLOAD = "/upload/bigquery/v2/projects/"


class BigQueryEmulator(Emulator):
    def __init__(
        self, location: str = "US", request_log_size: int | None = None, logged_body_bytes: int | None = None
    ) -> None:
        super().__init__(request_log_size, logged_body_bytes)
        self.engine = Engine()
        self.location = location
        self.jobs: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.allowed: set[str] | None = None

    def close(self) -> None:
        with self.lock, self.engine.lock:
            if self.engine.con is None:
                return
            self.engine.con.close()
            # Drop the last references too: duckdb's bindings complain about objects alive at exit.
            self.engine.con = None  # type: ignore[assignment]
            self.results.clear()

    # -- helpers for tests and the demo ----------------------------------------------------
    def rows(
        self, project: str, dataset: str, table: str, order_by: str | None = None
    ) -> list[dict[str, Any]]:
        meta = self.engine.tables[(project, dataset, table)]
        names = [f["name"] for f in meta.fields]
        rows = [dict(zip(names, r, strict=True)) for r in self.engine.rows(meta)]
        return sorted(rows, key=lambda r: (r[order_by] is None, r[order_by])) if order_by else rows

    def schema(self, project: str, dataset: str, table: str) -> dict[str, str]:
        return {f["name"]: f["type"] for f in self.engine.tables[(project, dataset, table)].fields}

    def table_names(self, project: str, dataset: str) -> list[str]:
        return sorted(t for p, d, t in self.engine.tables if (p, d) == (project, dataset))

    def table_meta(self, project: str, dataset: str, table: str) -> dict[str, Any]:
        return self.engine.table_resource(self.engine.tables[(project, dataset, table)])

    # -- admin reads -----------------------------------------------------------------------
    def admin(self, request: Request) -> Response:
        parts = request.path.removeprefix("/_admin/").split("/")
        if request.method != "GET" or parts[0] != "tables" or len(parts) not in (1, 4):
            raise HttpError(404, f"no admin endpoint {request.method} {request.path}; try GET /_admin/tables")
        with self.engine.lock:
            if len(parts) == 1:
                metas = [self.engine.tables[k] for k in sorted(self.engine.tables)]
                return Response(200, {"tables": [self._summary(m) for m in metas]})
            meta = self.engine.tables.get((parts[1], parts[2], parts[3]))
            if meta is None:
                known = [".".join(k) for k in sorted(self.engine.tables)]
                raise HttpError(404, f"no table {'.'.join(parts[1:])}; known: {known}")
            names = [f["name"] for f in meta.fields]
            rows = self.engine.rows(meta, limit_arg(request))
            return Response(
                200,
                {
                    **self._summary(meta),
                    "rows": [dict(zip(names, map(_plain, r), strict=True)) for r in rows],
                },
            )

    def _summary(self, meta: TableMeta) -> dict[str, Any]:
        resource = self.engine.table_resource(meta)
        return {
            "project": meta.project,
            "dataset": meta.dataset,
            "table": meta.table,
            "row_count": int(resource["numRows"]),
            "schema": {f["name"]: f["type"] for f in meta.fields},
            "location": resource["location"],
        }

    # -- HTTP ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        caller = self.caller(request)
        if self.allowed is not None and caller not in self.allowed:
            raise HttpError(403, f"Access Denied: User {caller or 'anonymous'} does not have permission "
                                 "bigquery.jobs.create (or the dataset/table permissions) in this project.",
                            "accessDenied")  # fmt: skip
        if request.path.startswith(_UPLOAD):
            return self._upload(request)
        if not request.path.startswith(_V2):
            raise HttpError(404, f"no such endpoint in the emulator: {request.path}")
        parts = request.path[len(_V2) :].split("/")
        project, rest = parts[0], parts[1:]
        with self.engine.lock:
            return self._route(request, project, rest)

    def _route(self, request: Request, project: str, rest: list[str]) -> Response:
        m = request.method
        if rest == ["datasets"] and m == "POST":
            body = request.json()
            dataset = body["datasetReference"]["datasetId"]
            if (project, dataset) in self.engine.datasets:
                raise HttpError(409, f"Already Exists: Dataset {project}:{dataset}", "duplicate")
            return Response(
                200, self.engine.create_dataset(project, dataset, body.get("location") or self.location)
            )
        if len(rest) == 2 and rest[0] == "datasets" and m == "GET":
            self._dataset(project, rest[1])
            return Response(200, self.engine.dataset_resource(project, rest[1]))
        if len(rest) == 3 and rest[0] == "datasets" and rest[2] == "tables" and m == "POST":
            return self._create_table(project, rest[1], request.json())
        if len(rest) >= 4 and rest[0] == "datasets" and rest[2] == "tables":
            return self._table(request, project, rest[1], rest[3], rest[4:])
        if rest == ["jobs"] and m == "POST":
            return Response(200, self._run_job(project, request.json(), None))
        if len(rest) == 2 and rest[0] == "jobs" and m == "GET":
            return Response(200, self._job(rest[1]))
        if len(rest) == 2 and rest[0] == "queries" and m == "GET":
            return Response(200, self._query_results(project, rest[1], request))
        raise HttpError(400, f"not implemented in the emulator: {m} {request.path}")

    def _dataset(self, project: str, dataset: str) -> None:
        if (project, dataset) not in self.engine.datasets:
            raise HttpError(404, f"Not found: Dataset {project}:{dataset}", "notFound")

    def _create_table(self, project: str, dataset: str, body: dict[str, Any]) -> Response:
        self._dataset(project, dataset)
        table = body["tableReference"]["tableId"]
        if (project, dataset, table) in self.engine.tables:
            raise HttpError(409, f"Already Exists: Table {project}:{dataset}.{table}", "duplicate")
        extra: dict[str, Any] = {
            k: body[k]
            for k in ("timePartitioning", "clustering", "expirationTime", "labels", "description")
            if k in body
        }
        try:
            meta = self.engine.create_table(
                project, dataset, table, body.get("schema", {}).get("fields", []), extra
            )
        except JobFailed as exc:
            raise HttpError(400, exc.message, exc.reason) from None
        return Response(200, self.engine.table_resource(meta))

    def _table(self, request: Request, project: str, dataset: str, table: str, rest: list[str]) -> Response:
        key = (project, dataset, table)
        meta = self.engine.tables.get(key)
        if meta is None:
            raise HttpError(404, f"Not found: Table {project}:{dataset}.{table}", "notFound")
        if rest == ["data"] and request.method == "GET":
            rows = self.engine.rows(meta)
            start = int(request.arg("pageToken") or request.arg("startIndex") or 0)
            size = int(request.arg("maxResults") or 10_000)
            page = rows[start : start + size]
            int64 = (request.arg("formatOptions.useInt64Timestamp") or "").lower() == "true"
            out: dict[str, Any] = {"kind": "bigquery#tableDataList", "totalRows": str(len(rows)),
                                   "rows": json_rows(page, meta.fields, int64)}  # fmt: skip
            if start + size < len(rows):
                out["pageToken"] = str(start + size)
            return Response(200, out)
        if rest:
            raise HttpError(400, f"not implemented in the emulator: {request.method} {request.path}")
        if request.method == "GET":
            return Response(200, self.engine.table_resource(meta))
        if request.method == "DELETE":
            self.engine.drop_table(key)
            return Response(204)
        if request.method in ("PATCH", "PUT"):
            body = request.json() or {}
            if "schema" in body:
                try:
                    self.engine.evolve(
                        meta, body["schema"]["fields"], True, True, f"{project}:{dataset}.{table}"
                    )
                except JobFailed as exc:
                    raise HttpError(400, exc.message, exc.reason) from None
            for k in ("expirationTime", "labels", "description", "clustering"):
                if k in body:
                    meta.extra[k] = body[k]
            return Response(200, self.engine.table_resource(meta))
        raise HttpError(400, f"not implemented in the emulator: {request.method} {request.path}")

    # -- jobs ------------------------------------------------------------------------------
    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise HttpError(404, f"Not found: Job {job_id}", "notFound")
        return job

    def _run_job(self, project: str, body: dict[str, Any], data: bytes | None) -> dict[str, Any]:
        ref = dict(body.get("jobReference") or {})
        ref.setdefault("projectId", project)
        ref.setdefault("jobId", uuid.uuid4().hex)
        ref.setdefault("location", self.location)
        if ref["jobId"] in self.jobs:
            raise HttpError(
                409, f"Already Exists: Job {project}:{ref['location']}.{ref['jobId']}", "duplicate"
            )
        config = body.get("configuration", {})
        now = str(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        stats: dict[str, Any] = {"creationTime": now, "startTime": now, "endTime": now}
        status: dict[str, Any] = {"state": "DONE"}
        try:
            if "load" in config:
                stats["load"] = self.engine.load(config["load"], data or b"")
            elif "query" in config:
                stats["query"] = self._query(project, ref["jobId"], config["query"])
            else:
                raise JobFailed("invalid", "the emulator runs load and query jobs only")
        except JobFailed as exc:
            status["errorResult"] = {"reason": exc.reason, "message": exc.message}
            status["errors"] = [status["errorResult"]]
        job = {"kind": "bigquery#job", "id": f"{project}:{ref['location']}.{ref['jobId']}", "jobReference": ref,
               "configuration": config, "status": status, "statistics": stats}  # fmt: skip
        self.jobs[ref["jobId"]] = job
        return job

    def _query(self, project: str, job_id: str, config: dict[str, Any]) -> dict[str, Any]:
        if config.get("useLegacySql"):
            raise JobFailed("invalidQuery", "the emulator speaks standard SQL only")
        default = (config.get("defaultDataset") or {}).get("projectId", project)
        result = self.engine.query(config["query"], config.get("queryParameters", []), default)
        self.results[job_id] = result
        stats: dict[str, Any] = {"statementType": result["statementType"], "totalBytesProcessed": "0"}
        if "affected" in result:
            stats["numDmlAffectedRows"] = str(result["affected"])
            dml = result["dml"]
            stats["dmlStats"] = {"insertedRowCount": str(dml.get("INSERT", 0)),
                                 "updatedRowCount": str(dml.get("UPDATE", 0)),
                                 "deletedRowCount": str(dml.get("DELETE", 0))}  # fmt: skip
        return stats

    def _query_results(self, project: str, job_id: str, request: Request) -> dict[str, Any]:
        job = self._job(job_id)
        out: dict[str, Any] = {"kind": "bigquery#getQueryResultsResponse", "jobComplete": True,
                               "jobReference": job["jobReference"]}  # fmt: skip
        result = self.results.get(job_id)
        if result is None:  # a failed job
            return out
        if "affected" in result:
            out["numDmlAffectedRows"] = str(result["affected"])
            return out
        rows = result["rows"]
        start = int(request.arg("pageToken") or request.arg("startIndex") or 0)
        size = int(request.arg("maxResults") or 10_000)
        int64 = (request.arg("formatOptions.useInt64Timestamp") or "").lower() == "true"
        out.update({"schema": {"fields": result["schema"]}, "totalRows": str(len(rows)),
                    "rows": json_rows(rows[start : start + size], result["schema"], int64)})  # fmt: skip
        if start + size < len(rows):
            out["pageToken"] = str(start + size)
        return out

    # -- uploads ---------------------------------------------------------------------------
    def _upload(self, request: Request) -> Response:
        project = request.path[len(_UPLOAD) :].split("/")[0]
        kind = request.arg("uploadType")
        if kind == "multipart" and request.method == "POST":
            meta, data = _multipart(request)
            with self.engine.lock:
                return Response(200, self._run_job(project, meta, data))
        if kind == "resumable" and request.method == "POST":
            upload_id = uuid.uuid4().hex
            self.uploads[upload_id] = {"meta": request.json(), "data": bytearray(), "project": project}
            location = f"{request.base_url}{_UPLOAD}{project}/jobs?uploadType=resumable&upload_id={upload_id}"
            return Response(200, b"", {"Location": location})
        if kind == "resumable" and request.method == "PUT":
            session = self.uploads.get(request.arg("upload_id") or "")
            if session is None:
                raise HttpError(404, "No such upload session", "notFound")
            session["data"] += request.body
            total = request.headers.get("content-range", "").rpartition("/")[2]
            if total == "*" or (total.isdigit() and len(session["data"]) < int(total)):
                return Response(308, b"", {"Range": f"bytes=0-{len(session['data']) - 1}"})
            del self.uploads[request.arg("upload_id") or ""]
            with self.engine.lock:
                return Response(
                    200, self._run_job(session["project"], session["meta"], bytes(session["data"]))
                )
        raise HttpError(400, f"not implemented in the emulator: upload {kind} {request.method}")


def _multipart(request: Request) -> tuple[dict[str, Any], bytes]:
    content_type = request.headers.get("content-type", "")
    boundary = content_type.partition("boundary=")[2].strip('"').encode()
    if not boundary:
        raise HttpError(400, "multipart upload without a boundary")
    parts = [p for p in request.body.split(b"--" + boundary) if p.strip() not in (b"", b"--")]
    if len(parts) != 2:
        raise HttpError(400, f"multipart upload needs 2 parts, got {len(parts)}")
    bodies = []
    for part in parts:
        _, _, body = part.partition(b"\r\n\r\n")
        bodies.append(body[:-2] if body.endswith(b"\r\n") else body)
    return json.loads(bodies[0]), bodies[1]


def _plain(value: Any) -> Any:
    """A DuckDB value as plain JSON for the admin reads: ISO dates, decimals as text, base64 bytes."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)  # Decimal, UUID


# -- JSON rows as the REST API sends them -----------------------------------------------------
def cell(value: Any, f: dict[str, Any], int64_timestamp: bool) -> Any:
    if value is None:
        return None
    if f.get("mode") == "REPEATED":
        return [{"v": cell(v, {**f, "mode": "NULLABLE"}, int64_timestamp)} for v in value]
    t = legacy(f["type"])
    if t == "RECORD":
        return {"f": [{"v": cell(value.get(c["name"]), c, int64_timestamp)} for c in f["fields"]]}
    if t == "BOOLEAN":
        return "true" if value else "false"
    if t == "BYTES":
        return base64.b64encode(value).decode()
    if t == "TIMESTAMP":
        micros = (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
        return str(micros) if int64_timestamp else str(micros / 1e6)
    if t in ("DATE", "TIME"):
        return value.isoformat()
    if t == "DATETIME":
        return value.isoformat(timespec="microseconds")
    if t == "FLOAT":
        return repr(float(value))
    return str(value)


def json_rows(
    rows: list[tuple[Any, ...]], fields: list[dict[str, Any]], int64_timestamp: bool
) -> list[dict[str, Any]]:
    return [
        {"f": [{"v": cell(v, f, int64_timestamp)} for v, f in zip(row, fields, strict=True)]} for row in rows
    ]
