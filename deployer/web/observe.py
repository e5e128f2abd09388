"""What each request did, told to the metrics and the access log: the front's outermost ASGI app.

Wraps the router: it sees every request, including the ones no context serves and the ones that
failed (a worker that died, an app that raised: uvicorn answers 500 for an exception before the
response started). The context is the route's ``root_path`` the router set ("/" for the root
context), or None when no context matched. Nothing here runs unless asked for: with neither
metrics nor an access log the server runs the router itself.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import IO, Any, Protocol

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F)} | {ord('"'): '\\"', ord("\\"): "\\\\"}


class RequestSink(Protocol):
    def observe(self, context: str | None, status: int, seconds: float) -> None: ...


def _quoted(value: str) -> str:
    """A field between quotes: quotes, backslashes and control bytes escaped, as Apache does."""
    return value.translate(_ESCAPES)


def _header(scope: dict[str, Any], name: bytes) -> str:
    for k, v in scope["headers"]:
        if k == name:
            return _quoted(v.decode("latin-1"))
    return "-"


class AccessLog:
    """NCSA combined format (Jetty's RequestLog, Apache's ``combined``), one line per request:
    ``host - - [day/Mon/year:H:M:S +zone] "METHOD target HTTP/v" status bytes "referer" "agent"``.
    ``open()``/``close()``; ``"-"`` is standard output. Lines are written as requests end,
    gathered into one ``write`` per turn of the event loop (under load many lines a system call;
    a crash loses at most the lines of the turn it happened in)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._out: IO[str] | None = None
        self._second = -1
        self._stamp = ""
        self._pending: list[str] = []

    def open(self) -> None:
        if self._out is None:
            if self.target == "-":
                self._out = sys.stdout
            else:
                self._out = open(self.target, "a", encoding="utf-8",  # noqa: SIM115
                                 errors="backslashreplace")

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        out = self._out
        if lines and out is not None:
            out.write("".join(lines))
            out.flush()

    def close(self) -> None:
        self.flush()
        out, self._out = self._out, None
        if out is not None and self.target != "-":
            out.close()

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # once a second, not once a request
            t = time.localtime(second)
            off = t.tm_gmtoff // 60
            sign = "+" if off >= 0 else "-"
            self._stamp = (f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
                           f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} "
                           f"{sign}{abs(off) // 60:02d}{abs(off) % 60:02d}")
            self._second = second
        return self._stamp

    def line(self, scope: dict[str, Any], status: int, size: int, began: float) -> str:
        client = scope.get("client")
        path = scope.get("raw_path") or scope["path"].encode()
        qs = scope.get("query_string")
        target = (path + b"?" + qs if qs else path).decode("latin-1")
        request = f'{scope["method"]} {target} HTTP/{scope.get("http_version", "1.1")}'
        return (f'{client[0] if client else "-"} - - [{self._timestamp(began)}] '
                f'"{_quoted(request)}" {status or "-"} {size if size else "-"} '
                f'"{_header(scope, b"referer")}" "{_header(scope, b"user-agent")}"\n')

    def write(self, scope: dict[str, Any], status: int, size: int, began: float) -> None:
        """Called on the event loop: the line goes out at the end of this turn."""
        if self._out is None:
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(self.line(scope, status, size, began))


class Observer:
    """The ASGI app that times each HTTP request and reports it; websockets pass through."""

    def __init__(self, app: Any, metrics: RequestSink | None = None,
                 access_log: AccessLog | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.time()
        clock = time.perf_counter()
        status = size = 0

        async def observed(message: dict[str, Any]) -> None:
            nonlocal status, size
            if message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except BaseException:
            status = status or 500  # uvicorn answers 500 when nothing was sent; else it cuts
            raise
        finally:
            self.report(scope, status, size, began, clock)

    def report(self, scope: dict[str, Any], status: int, size: int, began: float,
               clock: float) -> None:
        """One HTTP request's end (``began``: time.time(), ``clock``: perf_counter() at its
        start); also for the requests the direct path (direct.py) answers itself."""
        if self.metrics is not None:
            context = None if "deployer.unrouted" in scope else scope.get("root_path") or "/"
            self.metrics.observe(context, status, time.perf_counter() - clock)
        if self.access_log is not None:
            self.access_log.write(scope, status, size, began)
