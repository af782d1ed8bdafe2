"""Transports for the Google emulators: an ASGI app (the sandbox server) and a threaded HTTP server (tests).

Both turn HTTP into ``wire.Request`` and hand it to the same ``Emulator.dispatch``; neither knows an
API. The ASGI app runs ``dispatch`` in a worker thread, since DuckDB work (BigQuery loads and
MERGEs) would otherwise stall the event loop that also serves the source sandboxes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from sandbox.common import relative_path

from .wire import Emulator, Request

E = TypeVar("E", bound=Emulator)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def asgi_app(emulator: Emulator) -> Starlette:
    """The emulator as a Starlette app, to mount anywhere (``Mount("/google/sheets", app=...)``);
    ``app.state.emulator`` is the emulator."""

    async def endpoint(request: StarletteRequest) -> StarletteResponse:
        root = request.scope.get("root_path", "")
        wire = Request(
            method=request.method,
            path=relative_path(request) or "/",
            query=parse_qs(request.url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            base_url=f"{request.url.scheme}://{request.url.netloc}{root}",
        )
        response = await run_in_threadpool(emulator.dispatch, wire)
        data, headers = response.encoded()
        return StarletteResponse(data, response.status, headers)

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)])
    app.state.emulator = emulator
    return app


class ThreadedServer:
    """The emulator behind ``http.server`` on 127.0.0.1 (a free port), in a daemon thread. Sets
    ``emulator.url``. A context manager; ``close()`` stops the server, not the emulator."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._host = host
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=unquote(parts.path),
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    base_url=server.url,
                )
                response = emulator.dispatch(request)
                data, headers = response.encoded()
                self.send_response(response.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        emulator.url = self.url

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._httpd.server_port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def serve_threaded(emulator: E) -> Iterator[E]:
    """``with serve_threaded(SheetsEmulator()) as sheets:`` -- served at ``sheets.url`` until the
    block ends; then the server stops and the emulator is closed."""
    server = ThreadedServer(emulator)
    try:
        yield emulator
    finally:
        server.close()
        emulator.close()
