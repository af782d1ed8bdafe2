"""Real services for the scale test and the scale benchmark: PostgreSQL, an S3 imitation (moto) and
a Dagster deployment (code server, daemon, webserver) on the instance of ``deploy/dagster.yaml``.

Every service is a context manager that starts it on a free port in a temp folder and stops and
removes it on exit. They are stable building blocks (``bench/`` reuses them):

    install_postgres()                  the PostgreSQL binaries; installs the Debian package if missing
    postgres() -> Postgres              a fresh server with a ``dagster`` database; ``.env()`` = DAGSTER_PG_*
    moto_s3(buckets) -> S3              ``moto_server``; ``.env()`` = AWS_ENDPOINT_URL, keys and region
    dagster_home(folder) -> Path        a DAGSTER_HOME holding ``deploy/dagster.yaml`` as it is
    deployment(work, env) -> Deployment code server + ``dagster-daemon run`` + webserver, all with ``env``

``env`` is the whole environment of the Dagster processes (and so of the runs): ``os.environ`` plus
DAGSTER_HOME, ``Postgres.env()``, ``S3.env()`` and the connections' variables. Every process writes
its output to a log file in ``work``; a service that does not come up raises ``ServiceError`` with
the tail of that log.

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user in a folder it
owns (the Debian package creates that user); as anyone else, as that user. It listens on 127.0.0.1
and on a unix socket in its folder, with ``trust`` authentication (a throwaway local server).

Run ``python -m tests.scale.services install`` to install PostgreSQL (what ``make test-scale`` does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
DEPLOY_DAGSTER_YAML = REPO / "deploy" / "dagster.yaml"
BIN = Path(sys.executable).parent
LOCATION = "couplet"


class ServiceError(RuntimeError):
    """A service could not be installed or did not come up; the message says why and what to do."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(check: Any, what: str, timeout: float, log: Path | None = None) -> None:
    """Poll ``check()`` (true when ready; exceptions count as not yet) every 0.5 s until ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.5)
    raise ServiceError(
        f"{what} not ready after {timeout:.0f} s" + (f"; log {log}:\n{_tail(log)}" if log else "")
    )


# -- PostgreSQL ----------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb``, else one on PATH, else None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def install_postgres() -> Path:
    """The PostgreSQL server binaries; as root, ``apt-get install postgresql`` first when missing."""
    found = postgres_bin()
    if found:
        return found
    if os.geteuid() != 0:
        raise ServiceError(
            "PostgreSQL is not installed and this user cannot install it: run "
            "`sudo apt-get install -y postgresql` (or put initdb and pg_ctl on PATH), then retry"
        )
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=quiet)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"], check=True, env=quiet
    )
    found = postgres_bin()
    if not found:
        raise ServiceError("apt-get installed postgresql but no initdb was found under /usr/lib/postgresql")
    return found


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server and the database Dagster uses."""

    host: str
    port: int
    user: str
    password: str
    database: str
    folder: Path  # data directory, log and unix socket

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        """The variables ``deploy/dagster.yaml`` reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.database,
        }


def _as_postgres_user(args: Sequence[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@contextlib.contextmanager
def postgres(
    database: str = "dagster", user: str = "dagster", password: str = "dagster", timeout: float = 60.0
) -> Iterator[Postgres]:
    """A fresh PostgreSQL server on a free port with ``database`` owned by ``user``; removed on exit."""
    bindir = install_postgres()
    folder = Path(tempfile.mkdtemp(prefix="couplet-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, log, port = folder / "data", folder / "server.log", free_port()
    run: dict[str, Any] = {"check": True, "capture_output": True, "text": True, "cwd": folder}
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run(
            _as_postgres_user([*initdb, "--no-sync"]),
            **run,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            _as_postgres_user(
                [*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", str(int(timeout)), "start"]
            ),
            **run,
        )
        psql = [str(bindir / "psql"), "-h", str(folder), "-p", str(port), "-U", "postgres", "-v"]
        for sql in (
            f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'",
            f'CREATE DATABASE "{database}" OWNER "{user}"',
        ):
            subprocess.run(_as_postgres_user([*psql, "ON_ERROR_STOP=1", "-qc", sql]), **run)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ServiceError(f"PostgreSQL did not start: {exc.stderr or exc.stdout}\n{_tail(log)}") from exc
    try:
        yield Postgres("127.0.0.1", port, user, password, database, folder)
    finally:
        subprocess.run(
            _as_postgres_user([*pg_ctl, "-m", "immediate", "stop"]),
            capture_output=True,
            cwd=folder,
        )
        shutil.rmtree(folder, ignore_errors=True)


# -- processes -----------------------------------------------------------------------------------


@dataclass
class Process:
    """A started service process writing to ``log``, in its own process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to its process group (it and the children it started), SIGKILL after ``timeout``."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, 15)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, 9)
            self.popen.wait(10)


@contextlib.contextmanager
def process(
    name: str, args: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path = REPO
) -> Iterator[Process]:
    """``args`` running with ``env`` (stdout and stderr to ``log``) until the block ends."""
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(args), env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    proc = Process(name, popen, log)
    try:
        yield proc
    finally:
        proc.stop()


# -- S3 (moto) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3:
    """A running S3 imitation and the credentials clients use (moto accepts any)."""

    endpoint: str
    access_key: str = "couplet-test"
    secret_key: str = "couplet-test-secret"
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The variables pyarrow, boto3 and couplet's ``s3://`` data dir read."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@contextlib.contextmanager
def moto_s3(work: Path, buckets: Sequence[str] = (), timeout: float = 60.0) -> Iterator[S3]:
    """``moto_server`` on a free port (log in ``work``) with ``buckets`` created."""
    port = free_port()
    s3 = S3(f"http://127.0.0.1:{port}")
    args = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with process("moto", args, os.environ, work / "moto.log") as proc:
        wait_until(
            lambda: httpx.get(s3.endpoint + "/moto-api/", timeout=5).is_success, "moto", timeout, proc.log
        )
        for bucket in buckets:
            s3.client().create_bucket(Bucket=bucket)
        yield s3


# -- Dagster -------------------------------------------------------------------------------------


def dagster_home(folder: Path) -> Path:
    """``folder`` as a DAGSTER_HOME holding ``deploy/dagster.yaml`` unchanged (it reads DAGSTER_PG_*)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEPLOY_DAGSTER_YAML, folder / "dagster.yaml")
    return folder


@dataclass
class Deployment:
    """A code server, daemon and webserver sharing one instance; ``graphql`` talks to the webserver."""

    url: str
    workspace: Path
    processes: list[Process]

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 60) -> Any:
        """The ``data`` of a GraphQL request; errors raise ``ServiceError`` with their messages."""
        reply = httpx.post(
            self.url + "/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=timeout
        ).json()
        if reply.get("errors"):
            raise ServiceError(f"GraphQL errors: {[e.get('message') for e in reply['errors']]}")
        return reply["data"]

    def check_alive(self) -> None:
        for proc in self.processes:
            if not proc.alive():
                raise ServiceError(
                    f"{proc.name} exited ({proc.popen.returncode}); log {proc.log}:\n{_tail(proc.log)}"
                )


LOCATION_STATUS = """
query { workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


@contextlib.contextmanager
def deployment(
    work: Path, env: Mapping[str, str], module: str = "dagster_project.definitions", timeout: float = 180.0
) -> Iterator[Deployment]:
    """The Dagster processes of ``deploy/docker-compose.yml`` on this machine: a code server for
    ``module`` (runs start as its subprocesses, with ``env``), ``dagster-daemon run`` (queue,
    schedules, backfills) and a webserver for GraphQL, each with ``env`` (which must hold
    DAGSTER_HOME). Returns once the code location has loaded; a load error raises ``ServiceError``."""
    if "DAGSTER_HOME" not in env:
        raise ServiceError("deployment(): env has no DAGSTER_HOME; make one with dagster_home()")
    grpc_port, web_port = free_port(), free_port()
    workspace = work / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
        f"      location_name: {LOCATION}\n"
    )
    code = [
        str(BIN / "dagster"),
        "code-server",
        "start",
        "-m",
        module,
        "-h",
        "127.0.0.1",
        "-p",
        str(grpc_port),
    ]
    code += ["--location-name", LOCATION]
    daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
    web = [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(web_port)]
    health = [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(grpc_port)]
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(process("code server", code, env, work / "code-server.log"))]

        def serving() -> bool:
            Deployment("", workspace, procs).check_alive()
            return subprocess.run(health, env=dict(env), capture_output=True).returncode == 0

        wait_until(serving, "the code server", timeout, procs[0].log)
        procs.append(stack.enter_context(process("webserver", web, env, work / "webserver.log")))
        procs.append(stack.enter_context(process("daemon", daemon, env, work / "daemon.log")))
        dep = Deployment(f"http://127.0.0.1:{web_port}", workspace, procs)

        def loaded() -> bool:
            dep.check_alive()
            entries = dep.graphql(LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
            entry = next(e for e in entries if e["name"] == LOCATION)
            result = entry["locationOrLoadError"] or {}
            if result.get("__typename") == "PythonError":
                raise ServiceError(f"code location {LOCATION} failed to load: {result['message']}")
            return entry["loadStatus"] == "LOADED" and result.get("__typename") == "RepositoryLocation"

        deadline = time.monotonic() + timeout
        while True:
            try:
                if loaded():
                    break
            except ServiceError:
                raise
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"the code location did not load in {timeout:.0f} s; log:\n{_tail(procs[0].log)}"
                )
            time.sleep(1)
        yield dep


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m tests.scale.services install")
    print(f"PostgreSQL binaries: {install_postgres()}")
