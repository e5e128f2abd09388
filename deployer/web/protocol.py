"""The front's HTTP/1.1 connection: uvicorn's httptools protocol with the bounds it lacks.

uvicorn's httptools protocol hands every byte to the parser, which buffers a header until it ends:
a 64 MB header was read and answered, 10,000 headers accepted, and a connection that trickles a
byte now and then stays open for ever. This subclass keeps uvicorn's request cycle and adds, before
bytes reach the parser:

- the whole request head (request line and headers) is at most ``max_head`` bytes, Jetty's
  ``requestHeaderSize`` (8 KiB): a longer request line answers 414, a longer head 431, more than
  ``max_headers`` headers 431, each with ``Connection: close``;
- the head must arrive within ``header_timeout`` seconds of its first byte (of the connection, for
  a new one), else 408 (or a plain close when nothing came);
- at most ``max_per_client`` connections per client address; more are closed at once.

The head's deadline and the keep-alive wait are kept by one sweep for all connections
(``Deadlines``), to within an eighth of the shorter of the two timeouts.

The head is fed to the parser in slices no longer than what is left of its budget, so the parser
never holds more than ``max_head`` bytes of a head whatever a client sends (a pipelined head that
began in the same read as the end of the request before it may exceed that by the rest of that read,
at most 256 KiB: httptools does not say where in the bytes it was given a message ended).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from deployer.web.direct import DirectPath
from deployer.web.responses import error_page

log = logging.getLogger("deployer.web")


@dataclass(frozen=True)
class HttpLimits:
    """What one client may cost the front before its request reaches a context."""

    max_head: int = 8192  # request line + headers, bytes (Jetty's requestHeaderSize)
    max_headers: int = 100  # header lines per request
    header_timeout: float = 10.0  # seconds for a head to arrive
    max_per_client: int = 256  # open connections per client address

    def __post_init__(self) -> None:
        if self.max_head < 256:
            raise ValueError(f"max_head must be >= 256 bytes, got {self.max_head}")
        if self.max_headers < 1:
            raise ValueError(f"max_headers must be >= 1, got {self.max_headers}")
        if self.header_timeout <= 0:
            raise ValueError(f"header_timeout must be > 0, got {self.header_timeout}")
        if self.max_per_client < 1:
            raise ValueError(f"max_per_client must be >= 1, got {self.max_per_client}")


class ClientConnections:
    """Open connections per client address, shared by every connection of one server."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}
        self.refused = 0

    def acquire(self, address: str) -> bool:
        n = self.open.get(address, 0)
        if n >= self.limit:
            if self.refused == 0:
                log.warning("client %s has %d connections open (the limit): refusing more",
                            address, n)
            self.refused += 1
            return False
        self.open[address] = n + 1
        self.refused = 0
        return True

    def release(self, address: str) -> None:
        n = self.open.get(address, 0) - 1
        if n > 0:
            self.open[address] = n
        else:
            self.open.pop(address, None)


_HEAD, _IDLE = 1, 2  # what a connection's deadline is for: a request head, or an idle keep-alive


class Deadlines:
    """One timer for every connection of a server. Each connection keeps its one deadline in an
    attribute (a request head must arrive in time; an idle kept-alive connection closes) and
    moves it per request at the cost of storing a float; every ``period`` seconds the sweep
    looks at them all. A timer armed and cancelled twice per request, as uvicorn and the head
    bound did, cost about a fifth of the direct path's Python per request."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.connections: set[BoundedHttpProtocol] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: BoundedHttpProtocol) -> None:
        self.connections.add(connection)
        if self._timer is None:
            self._timer = connection.loop.call_later(self.period, self._sweep, connection.loop)

    def discard(self, connection: BoundedHttpProtocol) -> None:
        self.connections.discard(connection)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        for connection in [c for c in self.connections if 0 < c.deadline <= now]:
            connection.deadline_passed()
        if self.connections:
            self._timer = loop.call_later(self.period, self._sweep, loop)


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; ``send_400_response`` then answers."""


class BoundedHttpProtocol(HttpToolsProtocol):
    """One connection; see the module docstring for the bounds."""

    def __init__(self, *args: Any, limits: HttpLimits, clients: ClientConnections,
                 deadlines: Deadlines, direct: DirectPath | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = deadlines
        self.deadline = 0.0  # loop time the wait below ends at (Deadlines sweeps); 0: none
        self._waiting = 0  # _HEAD or _IDLE
        self.direct = direct  # answers most requests to a webapp without an ASGI cycle
        self.direct_peer: tuple[bytes, bytes] | None = None  # its part of a REQUEST head
        self.limits = limits
        self.clients = clients
        self._address: str | None = None  # counted in clients while set
        self._head_pending = True  # bytes now being received belong to a request head
        self._head_bytes = 0
        self._line_ended = False  # the request line of the pending head is complete
        self._header_count = 0
        self._refusal: tuple[int, bytes] | None = None
        self._heads_ended = 0  # heads completed within the slice being parsed

    # -- connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        if not self.clients.acquire(address):
            transport.close()
            return
        self._address = address
        self.deadlines.add(self)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._release()  # the websocket protocol takes the transport; its close is not ours
        super().handle_websocket_upgrade()

    def _release(self) -> None:
        self.deadline = 0.0
        self.deadlines.discard(self)
        if self._address is not None:
            self.clients.release(self._address)
            self._address = None

    # -- the head budget ----------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        while self._head_pending:
            if self._waiting != _HEAD or not self.deadline:
                self._arm_head_timer()  # the first byte of a kept-alive connection's next request
            room = self.limits.max_head - self._head_bytes
            head, data = data[:room], data[room:]
            self._head_bytes += len(head)
            self._heads_ended = 0
            if not self._line_ended and b"\n" in head:
                self._line_ended = True
            super().data_received(head)
            if not data or self.transport.is_closing() or self.transport.get_protocol() is not self:
                return
            if self._head_pending and not self._heads_ended:
                if self._line_ended or self._header_count:
                    self._refuse(431, b"Request Header Fields Too Large")
                else:
                    self._refuse(414, b"URI Too Long")
                return
        super().data_received(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = (431, b"Too many request headers")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_pending, self._heads_ended = False, self._heads_ended + 1
        self._cancel_head_timer()
        direct = self.direct
        if direct is not None and (self.cycle is None or self.cycle.response_complete) \
                and direct.take(self):
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_pending, self._head_bytes = True, 0
        self._line_ended, self._header_count = False, 0

    def send_400_response(self, msg: str) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is None:
            super().send_400_response(msg)
        else:
            self._refuse(*refusal)

    def _refuse(self, status: int, why: bytes) -> None:
        """The front's error page (its plain-text form: there is no parsed Accept yet), written
        raw since no ASGI cycle exists for a head that was never parsed; then close."""
        log.debug("%s: refused a request head: %d %s", self._address, status, why.decode())
        lines, body = error_page(status, {})
        self.transport.write(b"".join((STATUS_LINE[status], lines, b"connection: close\r\n\r\n",
                                       body)))
        self.transport.close()

    # -- the connection's deadline (Deadlines) ------------------------------------------------
    def _arm_head_timer(self) -> None:
        self.deadline = self.loop.time() + self.limits.header_timeout
        self._waiting = _HEAD

    def _cancel_head_timer(self) -> None:
        if self._waiting == _HEAD:
            self.deadline = 0.0

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive wait as a deadline rather than a timer of its own."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._waiting != _HEAD or not self.deadline:  # unless the next head has begun
            self.deadline = self.loop.time() + self.timeout_keep_alive
            self._waiting = _IDLE

    def _unset_keepalive_if_required(self) -> None:
        if self._waiting == _IDLE:
            self.deadline = 0.0

    def deadline_passed(self) -> None:
        self.deadline = 0.0
        if self._waiting == _IDLE:
            self.timeout_keep_alive_handler()
        else:
            self._head_timed_out()

    def _head_timed_out(self) -> None:
        if not self._head_pending or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_timer()  # a pipelined head waits for the answer before it
            return
        if self._head_bytes:
            self._refuse(408, b"Request Timeout")
        else:
            self.transport.close()
