"""The data directory: a local folder, or an ``s3://bucket/prefix`` / ``gs://bucket/prefix`` URI.

Staging, the change-capture state (the staged file's own metadata), the ``append_new`` ledgers,
step results, reconcile markers and writers' reports live under ``settings.data_dir``. Everything
that reads or writes them goes through this module, which hands out *locations*::

    root = location(settings.data_dir)            # Path("data") or ObjectPath("s3", "bucket/couplet")
    file = root / "staging" / "harvest" / "clients" / "all.parquet"
    write_table(file, table)                      # atomic, local or remote
    exists(file), read_table(file), parquet_files(file.parent), num_rows(file), delete(file)

A local location is a plain ``pathlib.Path``: every function takes the same fast path as before
(``pyarrow.parquet`` on the file, temp file + rename through ``pipelines.tempfiles``), and DuckDB
reads local files itself with ``read_parquet``. A remote one is an ``ObjectPath``; ``str()`` of it
is its URI, which is how it travels in ``StepInput.files`` and ``ParquetSource.paths`` and how
``location`` recognises it again.

Object stores go through ``pyarrow.fs`` (S3FileSystem, GcsFileSystem). Credentials and endpoint
come from the standard environment only: for S3 the AWS chain (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, profiles,
instance roles) and ``AWS_ENDPOINT_URL`` for an S3-compatible store (MinIO, moto), which pyarrow
reads itself; for GCS, Google's default credentials (``GOOGLE_APPLICATION_CREDENTIALS``), or
``STORAGE_EMULATOR_HOST`` for an emulator (then anonymous).

**Atomic writes on an object store.** A reader sees an object's old bytes or its new ones, never
half: an object appears only when its upload completes. But an upload stream that fails half way
may still be *completed* by the client when it is closed (pyarrow closes streams on an exception),
so the bytes are never streamed to the final key. A write goes: the data is written to a local
temp file (system temp folder), uploaded to a temp object ``.<name>.<random>.tmp`` beside the
target, its size checked against the local file, then copied server-side onto the target
(``copy_file``: S3 CopyObject, GCS rewrite; one request, no data through this machine) and the temp
object deleted. A failure at any point leaves the previous object untouched; a temp object a killed
process left behind is swept by age, as local temp files are (``sweep``, ``tempfiles.STALE_AFTER``).
Two concurrent writers of one object: the last copy wins whole, as with a local rename; couplet's
Dagster pools already serialize the writers of one entity, and ledgers are written by one output's
run at a time.

Costs per write: 3 requests (PUT, COPY, DELETE) and the object's size uploaded once; a staged
folder's first write of a run also LISTs it (sweep). Reading a file is a GET (a footer read first
for schemas and row counts).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .tempfiles import STALE_AFTER, replacing
from .tempfiles import sweep as sweep_local

SCHEMES = ("s3", "gs")
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_TEMP = re.compile(r"^\..+\.tmp$")
_CHUNK = 8 << 20  # bytes per read/write when copying a file to or from a store
_ENV = (  # what a filesystem is built from: a change (a test's monkeypatch) builds a new one
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "STORAGE_EMULATOR_HOST",
)
FIX = (
    "settings.data_dir must be a local folder, s3://bucket/prefix or gs://bucket/prefix; "
    "credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, "
    "AWS_ENDPOINT_URL for an S3-compatible store; GOOGLE_APPLICATION_CREDENTIALS for GCS)"
)


class DataDirError(ValueError):
    """The data directory cannot be used: a bad URI, a missing bucket, refused credentials."""


@dataclass(frozen=True)
class ObjectPath:
    """A key on an object store: ``scheme`` ("s3", "gs") and ``key`` ("bucket/prefix/...")."""

    scheme: str
    key: str

    def __truediv__(self, part: str) -> ObjectPath:
        return ObjectPath(self.scheme, f"{self.key.rstrip('/')}/{part}")

    def __str__(self) -> str:
        return f"{self.scheme}://{self.key}"

    @property
    def bucket(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def stem(self) -> str:
        return PurePosixPath(self.key).stem

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.scheme, str(PurePosixPath(self.key).parent))

    def with_name(self, name: str) -> ObjectPath:
        return self.parent / name


Location = Path | ObjectPath


def location(value: str | Path | ObjectPath) -> Location:
    """A data directory setting, or a file under it, as a location (a URI's scheme checked)."""
    if isinstance(value, Path | ObjectPath):
        return value
    match = _URI.match(value)
    if match is None:
        return Path(value)
    scheme, rest = match.group(1).lower(), match.group(2).strip("/")
    if scheme not in SCHEMES:
        raise DataDirError(f"settings.data_dir {value!r}: unknown scheme {scheme}://. {FIX}")
    bucket = rest.split("/", 1)[0]
    if not _BUCKET.match(bucket):
        raise DataDirError(
            f"settings.data_dir {value!r}: {bucket!r} is not a bucket name (3-63 lowercase letters, "
            f"digits, dots and dashes). {FIX}"
        )
    return ObjectPath(scheme, rest)


def check_setting(value: str) -> str:
    """``value`` when it is a usable data directory setting (no network); else a ``DataDirError``
    (for the flow file's validation, which names the setting itself)."""
    try:
        location(value)
    except DataDirError as exc:
        raise DataDirError(str(exc).removeprefix("settings.data_dir ")) from None
    return value


def is_remote(value: str | Path | ObjectPath) -> bool:
    return isinstance(value, ObjectPath) or (isinstance(value, str) and _URI.match(value) is not None)


def filesystem(path: ObjectPath) -> pafs.FileSystem:
    """The pyarrow filesystem of ``path``'s store, built from the environment (cached per bucket)."""
    return _filesystem(path.scheme, path.bucket, tuple(os.environ.get(n) for n in _ENV))


@functools.lru_cache(maxsize=8)
def _filesystem(scheme: str, bucket: str, env: tuple[str | None, ...]) -> pafs.FileSystem:
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    with _translated(ObjectPath(scheme, bucket)):
        if scheme == "gs" and emulator:
            match = _URI.match(emulator)
            host = match.group(2) if match else emulator
            use = match.group(1) if match else "http"
            return pafs.GcsFileSystem(anonymous=True, endpoint_override=host.rstrip("/"), scheme=use)
        fs, _ = pafs.FileSystem.from_uri(f"{scheme}://{bucket}")
        return fs


_DENIED = ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "401")
_MISSING_BUCKET = ("NO_SUCH_BUCKET", "NoSuchBucket", "does not exist", "not found")


def _secrets() -> list[str]:
    return [v for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if (v := os.environ.get(n))]


def explain(exc: OSError, path: ObjectPath) -> DataDirError:
    """A store's error as one line that names the setting and the fix (no secret in it)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for secret in _secrets():
        text = text.replace(secret, "***")
    where = f"settings.data_dir {path.scheme}://{path.bucket}"
    if any(s in text for s in _DENIED) or "credential" in text.lower():
        env = (
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            if path.scheme == "s3"
            else "GOOGLE_APPLICATION_CREDENTIALS"
        )
        fix = f"set {env} to credentials that may read and write the bucket"
        return DataDirError(f"{where}: access refused ({text}); {fix}")
    if any(s in text for s in _MISSING_BUCKET) and "bucket" in text.lower():
        return DataDirError(
            f"{where}: the bucket does not exist ({text}); create it or fix settings.data_dir"
        )
    return DataDirError(f"{where}: {text}. {FIX}")


@contextmanager
def _translated(path: ObjectPath) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise explain(exc, path) from None


def check(value: str | Path | ObjectPath) -> None:
    """Whether the data directory can be used now: for a remote one, the bucket exists and the
    credentials may list it (one request). A ``DataDirError`` naming the setting and the fix if not."""
    path = location(value)
    if isinstance(path, Path):
        return
    fs = filesystem(path)
    with _translated(path):
        info = fs.get_file_info(path.bucket)
        if info.type is pafs.FileType.NotFound:
            raise DataDirError(
                f"settings.data_dir {path}: bucket {path.bucket!r} does not exist; create it or fix settings.data_dir"
            )
        fs.get_file_info(pafs.FileSelector(path.key, allow_not_found=True))


def exists(path: Location) -> bool:
    if isinstance(path, Path):
        return path.exists()
    with _translated(path):
        return filesystem(path).get_file_info(path.key).type is pafs.FileType.File


def parquet_files(folder: Location) -> list[Location]:
    """The ``*.parquet`` files directly in ``folder``, sorted (none when it does not exist)."""
    if isinstance(folder, Path):
        return list[Location](sorted(folder.glob("*.parquet")))
    with _translated(folder):
        infos = filesystem(folder).get_file_info(pafs.FileSelector(folder.key, allow_not_found=True))
    names = sorted(
        i.base_name for i in infos if i.type is pafs.FileType.File and i.base_name.endswith(".parquet")
    )
    return [folder / n for n in names if not n.startswith(".")]


def parquet_file(path: Location) -> pq.ParquetFile:
    """``path`` opened for its footer and batches (use as a context manager)."""
    if isinstance(path, Path):
        return pq.ParquetFile(path)
    with _translated(path):
        return pq.ParquetFile(filesystem(path).open_input_file(path.key))


def read_table(path: Location | str, **kwargs: Any) -> pa.Table:
    """``pq.read_table`` of a location (or of a path or URI string)."""
    path = location(path)
    if isinstance(path, Path):
        return pq.read_table(path, **kwargs)
    with _translated(path):
        return pq.read_table(path.key, filesystem=filesystem(path), **kwargs)


def read_schema(path: Location) -> pa.Schema:
    if isinstance(path, Path):
        return pq.read_schema(path)
    with parquet_file(path) as file:
        return file.schema_arrow


def num_rows(path: Location) -> int:
    """Rows of a Parquet file, from its footer."""
    with parquet_file(path) as file:
        return int(file.metadata.num_rows)


@contextmanager
def writing(target: Location) -> Iterator[Path]:
    """Yield a local temp path to write; when the block completes, it replaces ``target`` atomically.

    Local: the temp file sits beside ``target`` and is renamed over it (``tempfiles.replacing``).
    Remote: it sits in the system temp folder and is uploaded as described in the module docstring.
    Either way a failure leaves the previous ``target`` and no temp file behind.
    """
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        with replacing(target) as tmp:
            yield tmp
        return
    with tempfile.TemporaryDirectory(prefix="couplet-") as folder:
        tmp = Path(folder) / target.name
        yield tmp
        upload(tmp, target)


def upload(local: Path, target: ObjectPath) -> None:
    """Put a local file at ``target`` atomically: temp object, size checked, server-side copy."""
    fs = filesystem(target)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    size = local.stat().st_size
    with _translated(target):
        try:
            with open(local, "rb") as source, fs.open_output_stream(temp.key) as sink:
                shutil.copyfileobj(source, sink, _CHUNK)
            uploaded = fs.get_file_info(temp.key).size
            if uploaded != size:
                raise OSError(f"upload of {target.name} incomplete: {uploaded} of {size} bytes stored")
            fs.copy_file(temp.key, target.key)
        finally:
            _delete_quietly(fs, temp.key)


def _delete_quietly(fs: pafs.FileSystem, key: str) -> None:
    with suppress(OSError):  # never uploaded, or already gone; a leftover is swept by age
        fs.delete_file(key)


def write_table(target: Location, table: pa.Table, **kwargs: Any) -> None:
    """``pq.write_table`` to ``target``, atomically (``writing``)."""
    with writing(target) as tmp:
        pq.write_table(table, tmp, **kwargs)


def read_bytes(path: Location) -> bytes | None:
    """A small file's bytes, None when it does not exist."""
    if isinstance(path, Path):
        return path.read_bytes() if path.exists() else None
    with _translated(path):
        try:
            with filesystem(path).open_input_stream(path.key) as stream:
                return bytes(stream.readall())
        except FileNotFoundError:
            return None


def write_bytes(target: Location, data: bytes) -> None:
    """Replace a small file's bytes atomically."""
    with writing(target) as tmp:
        tmp.write_bytes(data)


def delete(path: Location) -> None:
    """Remove a file; nothing happens when it does not exist."""
    if isinstance(path, Path):
        path.unlink(missing_ok=True)
        return
    with _translated(path), suppress(FileNotFoundError):
        filesystem(path).delete_file(path.key)


def sweep(folder: Location, older_than: float = STALE_AFTER, now: float | None = None) -> list[Location]:
    """Remove temp files (``.<name>.<random>.tmp``) of dead writers in ``folder``: local ones as
    ``tempfiles.sweep`` does, remote temp objects by their last-modified time. Returns what went."""
    if isinstance(folder, Path):
        return list(sweep_local(folder, older_than=older_than, now=now))
    now = time.time() if now is None else now
    fs = filesystem(folder)
    with _translated(folder):
        infos = fs.get_file_info(pafs.FileSelector(folder.key, allow_not_found=True))
    removed: list[Location] = []
    for info in infos:
        if info.type is not pafs.FileType.File or not _TEMP.match(info.base_name) or info.mtime is None:
            continue
        if now - info.mtime.timestamp() >= older_than:
            _delete_quietly(fs, info.path)
            removed.append(folder / info.base_name)
    return removed


def arrow_dataset(files: Sequence[str]) -> ds.Dataset:
    """Remote Parquet files (URIs of one store) as one lazily scanned Arrow dataset, columns united
    by name (a column some files lack reads as null), for DuckDB to scan with pushdown."""
    paths = [location(f) for f in files]
    remote = [p for p in paths if isinstance(p, ObjectPath)]
    if len(remote) != len(paths) or not remote:
        raise ValueError("arrow_dataset reads remote files (s3:// or gs:// URIs) only")
    fs = filesystem(remote[0])
    with _translated(remote[0]):
        found = ds.dataset([p.key for p in remote], filesystem=fs, format="parquet")
        schemas = [fragment.physical_schema for fragment in found.get_fragments()]
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        return ds.dataset([p.key for p in remote], schema=schema, filesystem=fs, format="parquet")


@contextmanager
def local_copies(paths: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """``paths`` as local files for a reader that needs them (DuckDB's ``read_parquet`` in a
    writer): local paths as they are; remote files downloaded to a temp folder removed afterwards."""
    if not any(is_remote(p) for p in paths):
        yield tuple(paths)
        return
    with tempfile.TemporaryDirectory(prefix="couplet-inputs-") as folder:
        local: list[str] = []
        for i, value in enumerate(paths):
            path = location(value)
            if isinstance(path, Path):
                local.append(str(path))
                continue
            copy = Path(folder) / f"{i:05d}-{path.name}"
            with (
                _translated(path),
                filesystem(path).open_input_stream(path.key) as source,
                open(copy, "wb") as sink,
            ):
                shutil.copyfileobj(source, sink, _CHUNK)
            local.append(str(copy))
        yield tuple(local)
