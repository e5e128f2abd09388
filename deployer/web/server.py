"""The front's HTTP server: uvicorn (httptools) inside the caller's event loop.

uvicorn's own worker processes are not used: the front is one process that keeps the socket, the
routes and the sessions; webapps run in worker processes of their own (pool.py). No signal
handlers: the caller owns SIGTERM/SIGINT/SIGHUP. We bind the socket ourselves so port 0 works and
``.port`` is the real one, and drive uvicorn's startup/shutdown directly instead of ``serve()``,
which would capture signals. ``loop_factory()`` gives the loop to run it all in (uvloop when
available).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from deployer.web.exchange import ResponseAborted
from deployer.web.forwarded import ForwardedHeaders

log = logging.getLogger("deployer.web")


class _QuietAborts(logging.Filter):
    """A response cut off on purpose (its worker died, or the app failed mid-answer) was
    already logged with its context; uvicorn's "Exception in ASGI application" would repeat it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ResponseAborted)


_quiet = _QuietAborts()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop when installed, else asyncio's (for ``asyncio.Runner(loop_factory=...)``)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def _http_impl() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


class Server:
    """``await start()`` returns once listening; ``await stop(drain_timeout)`` is graceful."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8080, *,
                 access_log: bool = False, backlog: int = 2048,
                 timeout_keep_alive: int = 5, name: str = "",
                 forwarded_allow_ips: str | list[str] | None = None) -> None:
        """``forwarded_allow_ips``: peers whose proxy headers are believed (None: nobody's)."""
        self.app = app
        self.name = name  # in its log lines: "manager listening on ..."
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        if forwarded_allow_ips is not None:
            app = ForwardedHeaders(app, forwarded_allow_ips)
        self._config = uvicorn.Config(
            app, host=host, port=port, http=_http_impl(), loop="none", lifespan="off",
            access_log=access_log, log_config=None, backlog=backlog,
            timeout_keep_alive=timeout_keep_alive, ws="auto", server_header=False,
            proxy_headers=False,
        )
        uvicorn_log = logging.getLogger("uvicorn.error")
        if _quiet not in uvicorn_log.filters:
            uvicorn_log.addFilter(_quiet)
        self._server: uvicorn.Server | None = None
        self._sock: socket.socket | None = None
        self._ticker: asyncio.Task | None = None

    @property
    def started(self) -> bool:
        return self._server is not None

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.requested_port))
            sock.listen(self._config.backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def start(self) -> None:
        """Bind and start accepting; raises OSError when the address is taken."""
        if self._server is not None:
            return
        config = self._config
        if not config.loaded:
            config.load()
        sock = self._bind()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)  # LifespanOff: contexts run lifespans
        try:
            await server.startup(sockets=[sock])
        except BaseException:
            sock.close()
            raise
        self._sock, self._server = sock, server
        self.port = sock.getsockname()[1]
        self._ticker = asyncio.ensure_future(server.main_loop())  # Date header refresh
        log.info("%slistening on http://%s:%d", f"{self.name} " if self.name else "",
                 self.host, self.port)

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (at most ``drain_timeout`` s), close."""
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._ticker is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ticker
            self._ticker = None
        server.config.timeout_graceful_shutdown = max(0.0, drain_timeout)  # type: ignore[assignment]
        await server.shutdown(sockets=[self._sock] if self._sock else None)
        self._sock = None
        log.info("stopped listening on %s:%s", self.host, self.port)
