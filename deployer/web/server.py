"""The front's HTTP server: uvicorn (httptools) inside the caller's event loop.

uvicorn's own worker processes are not used: the front is one process that keeps the socket, the
routes and the sessions; webapps run in worker processes of their own (pool.py). No signal
handlers: the caller owns SIGTERM/SIGINT/SIGHUP. We bind the socket ourselves so port 0 works and
``.port`` is the real one, and drive uvicorn's startup/shutdown directly instead of ``serve()``,
which would capture signals. Connections are uvicorn's httptools protocol with bounds on the
request head, its arrival time and connections per client (protocol.py). ``loop_factory()``
gives the loop to run it all in (uvloop when available).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from deployer.tasks import cancel_and_wait
from deployer.web.direct import DirectPath
from deployer.web.exchange import ResponseAborted
from deployer.web.forwarded import ForwardedHeaders
from deployer.web.protocol import (
    BoundedHttpProtocol,
    ClientConnections,
    Deadlines,
    HttpLimits,
)

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


class Server:
    """``await start()`` returns once listening; ``await stop(drain_timeout)`` is graceful."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8080, *,
                 access_log: bool = False, backlog: int = 2048,
                 timeout_keep_alive: int = 5, name: str = "",
                 forwarded_allow_ips: str | list[str] | None = None,
                 limits: HttpLimits | None = None, direct: DirectPath | None = None) -> None:
        """``forwarded_allow_ips``: peers whose proxy headers are believed (None: nobody's);
        ``limits``: what one client may send before its request reaches the app (protocol.py);
        ``direct``: the direct path to the router ``app`` leads to (direct.py), if any."""
        self.app = app
        self.name = name  # in its log lines: "manager listening on ..."
        self.limits = limits or HttpLimits()
        self.clients = ClientConnections(self.limits.max_per_client)
        self.direct = direct
        # the head and keep-alive deadlines are kept to within an eighth of the shorter one
        period = min(self.limits.header_timeout, timeout_keep_alive) / 8
        protocol = functools.partial(BoundedHttpProtocol, limits=self.limits, clients=self.clients,
                                     deadlines=Deadlines(min(1.0, max(0.01, period))),
                                     direct=direct)
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        if forwarded_allow_ips is not None:
            app = ForwardedHeaders(app, forwarded_allow_ips)
            if direct is not None:
                direct.forwarded = app
        self._config = uvicorn.Config(
            app, host=host, port=port, http=protocol, loop="none", lifespan="off",
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

    def bind(self) -> None:
        """Take the address now (OSError when it is in use), listen only in ``start()``: ``run``
        checks the port before importing any app, and accepts nothing until all are deployed."""
        if self._sock is not None:
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.requested_port))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]

    async def start(self) -> None:
        """Bind (unless ``bind()`` did) and start accepting; OSError when the address is taken."""
        if self._server is not None:
            return
        config = self._config
        if not config.loaded:
            config.load()
        self.bind()
        sock = self._sock
        assert sock is not None
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)  # LifespanOff: contexts run lifespans
        try:
            sock.listen(config.backlog)
            await server.startup(sockets=[sock])
        except BaseException:
            sock.close()
            self._sock = None
            raise
        self._server = server
        self._ticker = asyncio.ensure_future(server.main_loop())  # Date header refresh
        log.info("%slistening on http://%s:%d", f"{self.name} " if self.name else "",
                 self.host, self.port)

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (at most ``drain_timeout`` s), close."""
        server, self._server = self._server, None
        if server is None:
            if self._sock is not None:  # bound, never started
                self._sock.close()
                self._sock = None
            return
        server.should_exit = True
        if self._ticker is not None:
            with contextlib.suppress(Exception):
                await cancel_and_wait(self._ticker)
            self._ticker = None
        server.config.timeout_graceful_shutdown = max(0.0, drain_timeout)  # type: ignore[assignment]
        await server.shutdown(sockets=[self._sock] if self._sock else None)
        if self.direct is not None:
            self.direct.cut()
        self._sock = None
        log.info("stopped listening on %s:%s", self.host, self.port)
