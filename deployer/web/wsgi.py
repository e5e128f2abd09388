"""The WSGI -> ASGI bridge: one thread hop per request.

Measured against a2wsgi (which hops between threads for every ``receive``/``send``), this bridge
reads the request body on the event loop, then builds the environ, runs the app and drains its
iterable in ONE worker-thread job, and hands the whole response back in one go. A response that
grows past ``BUFFER`` bytes or takes longer than ``LINGER`` seconds switches to streaming: the
worker then sends each chunk through the loop and waits for it (back-pressure), so downloads and
slow generators work.
Workers are plain threads on a SimpleQueue: cheaper than concurrent.futures for a hop this small.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from deployer.web.pool import WorkerPool

log = logging.getLogger("deployer.web")

BUFFER = 64 * 1024
LINGER = 0.05
SPOOL = 1024 * 1024
_ERROR_BODY = b"500 Internal Server Error\n"


class RequestHook(Protocol):
    """Per-request work done in the worker thread (session lookup, cookies, completion)."""

    def begin(self, environ: dict[str, Any], scope: dict[str, Any]) -> Any: ...
    def headers(self, token: Any, environ: dict[str, Any]) -> list[tuple[bytes, bytes]]: ...
    def end(self, token: Any) -> None: ...


def _set(fut: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def build_environ(scope: dict[str, Any], body: Any) -> dict[str, Any]:
    """PEP 3333 environ from an ASGI http scope (paths as latin-1 strings of the raw bytes)."""
    root = scope.get("root_path", "")
    path = scope["path"]
    if root and path.startswith(root):
        path = path[len(root):]
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + name
        if key in environ:
            sep = "; " if key == "HTTP_COOKIE" else ","
            environ[key] = environ[key] + sep + value
        else:
            environ[key] = value
    for key, value in scope.items():
        if key.startswith("deployer."):
            environ[key] = value
    return environ


class _Exchange:
    """One request's response state, owned by the worker thread."""

    __slots__ = ("status", "headers", "sent", "chunks", "size", "stream", "loop", "send", "extra",
                 "receive", "gone", "watcher")

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Any, receive: Any = None) -> None:
        self.receive = receive
        self.gone = False  # the client disconnected while we streamed
        self.watcher: asyncio.Task | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.sent = False
        self.chunks: list[bytes] = []
        self.size = 0
        self.stream = False
        self.loop = loop
        self.send = send
        self.extra: Callable[[], list[tuple[bytes, bytes]]] | None = None

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status:
            raise AssertionError("start_response called twice without exc_info")
        self.status = int(status[:3])
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return self.write

    def write(self, data: bytes) -> None:
        if not self.status:
            raise AssertionError("write() before start_response")
        if data:
            self.chunks.append(data)
            self.size += len(data)
            if self.stream or self.size > BUFFER:
                self.flush(more=True)

    def _start_message(self) -> dict[str, Any]:
        headers = self.headers
        if self.extra is not None:
            headers = headers + self.extra()
        self.sent = True
        return {"type": "http.response.start", "status": self.status, "headers": headers}

    def flush(self, more: bool) -> None:
        """Streaming mode: send what is buffered through the loop and wait for it."""
        if self.gone:
            raise _Gone
        if not self.stream and self.receive is not None:
            self.loop.call_soon_threadsafe(self._watch)
        self.stream = True
        msgs = [] if self.sent else [self._start_message()]
        body = b"".join(self.chunks)
        self.chunks, self.size = [], 0
        if body or not more:
            msgs.append({"type": "http.response.body", "body": body, "more_body": more})
        if msgs:
            asyncio.run_coroutine_threadsafe(_send_all(self.send, msgs), self.loop).result()


    def _watch(self) -> None:
        """On the loop: notice a disconnect, so an endless generator stops (uvicorn's send
        just drops data once the client is gone)."""
        async def watch() -> None:
            while (await self.receive())["type"] != "http.disconnect":
                pass
            self.gone = True

        self.watcher = asyncio.ensure_future(watch())


class _Gone(Exception):
    """The client went away during a streamed response."""


async def _send_all(send: Any, msgs: list[dict[str, Any]]) -> None:
    for msg in msgs:
        await send(msg)


class WsgiBridge:
    """ASGI callable running a WSGI app on a worker pool; ``hook`` adds per-request work."""

    def __init__(self, app: Callable[..., Iterable[bytes]], threads: int = 16,
                 hook: RequestHook | None = None) -> None:
        self.app = app
        self.pool = WorkerPool(threads)
        self.hook = hook

    def with_hook(self, hook: RequestHook | None) -> WsgiBridge:
        """The same app and pool with another per-request hook (contexts add sessions this way)."""
        clone = WsgiBridge.__new__(WsgiBridge)
        clone.app, clone.pool, clone.hook = self.app, self.pool, hook
        return clone

    def close(self) -> None:
        self.pool.close()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        ex = _Exchange(loop, send, receive)
        started = time.monotonic()

        def job() -> None:
            try:
                result = self._run(scope, body, ex, started)
            except BaseException as exc:  # handed to the loop, raised there
                loop.call_soon_threadsafe(_set, fut, None, exc)
            else:
                loop.call_soon_threadsafe(_set, fut, result, None)

        self.pool.submit(job)
        try:
            msgs = await fut
        finally:
            if ex.watcher is not None:
                ex.watcher.cancel()
        if msgs:
            await send(msgs[0])
            await send(msgs[1])

    def _run(self, scope: dict[str, Any], body: Any, ex: _Exchange,
             started: float) -> tuple[dict, dict] | None:
        environ = build_environ(scope, body)
        hook = self.hook
        token = hook.begin(environ, scope) if hook is not None else None
        if hook is not None:
            ex.extra = lambda: hook.headers(token, environ)
        try:
            try:
                result = self.app(environ, ex.start_response)
            except _Gone:
                return None
            except Exception:
                return _error(ex)
            try:
                for chunk in result:
                    if chunk:
                        ex.write(chunk)
                        if not ex.stream and time.monotonic() - started > LINGER:
                            ex.flush(more=True)
            except _Gone:
                return None  # close() below stops the generator
            except Exception:
                if ex.sent:
                    raise
                return _error(ex)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if not ex.status:
                raise RuntimeError("WSGI app returned without calling start_response")
            if ex.stream:
                with contextlib.suppress(_Gone):
                    ex.flush(more=False)
                return None
            body_bytes = ex.chunks[0] if len(ex.chunks) == 1 else b"".join(ex.chunks)
            if (ex.status >= 200 and ex.status not in (204, 304) and scope["method"] != "HEAD"
                    and not any(k == b"content-length" for k, _ in ex.headers)):
                # the whole body is known: spare the client a chunked encoding
                ex.headers.append((b"content-length", str(len(body_bytes)).encode()))
            start = ex._start_message()
            return start, {"type": "http.response.body", "body": body_bytes}
        finally:
            if hook is not None:
                hook.end(token)


def _error(ex: _Exchange) -> tuple[dict, dict]:
    log.exception("WSGI application failed")
    if ex.sent:
        raise RuntimeError("WSGI application failed after the response started")
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(_ERROR_BODY)).encode())]
    start = {"type": "http.response.start", "status": 500, "headers": headers}
    return start, {"type": "http.response.body", "body": _ERROR_BODY}


async def _read_body(receive: Any) -> Any:
    msg = await receive()
    body = msg.get("body", b"")
    if not msg.get("more_body"):
        return io.BytesIO(body)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - closed with the request
    spool.write(body)
    while msg.get("more_body"):
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        spool.write(msg.get("body", b""))
    spool.seek(0)
    return spool
