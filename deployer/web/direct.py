"""The direct path: a request answered from the HTTP protocol's callbacks, with no ASGI cycle.

Most requests a webapp serves are alike: no body, an answer of one START, one final BODY and an
END, all in one read from the worker. Through the ASGI path each costs the front a task, a chain
of coroutines (router, context, exchange), futures between the channel and the exchange, and two
writes to the client; together more CPU than the worker spends on the app (bench_workers.py).
The direct path answers that kind of request from ``on_headers_complete`` and the channel's frame
callback: route, session, REQUEST frame; then the answer as one write, its session changes applied
first. Anything else goes the ASGI path, which stays the one that knows every case:

- a request it does not take (a body, an upgrade, dot segments, ``/ctx`` without its slash, no
  route, a static or failed context, a session or store to await, no worker free now, a client
  whose connection has answers it has not read) is left to
  uvicorn's ``on_headers_complete`` as if the direct path were not there;
- an answer it does not finish (a streamed body, a transfer-encoding, a Content-Length that does
  not match, a worker that died, requestTimeout) is handed, with the frames not yet used, to an
  Exchange in a real uvicorn cycle (``WebContext.follow_direct``), mid-way.

It reads uvicorn's protocol state (``cycle``, ``pipeline``, ``on_response_complete``) as
protocol.py already does, and stands in for a cycle with ``DirectCycle`` meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

from deployer.errors import SessionLimitError
from deployer.web.channel import GONE
from deployer.web.exchange import body_mode, peer_fields, session_field
from deployer.web.responses import error_page
from deployer.web.router import request_host
from deployer.web.sessionwire import apply_changes
from deployer.worker import wire

if TYPE_CHECKING:
    from deployer.sessions.session import LazySession
    from deployer.web.channel import Stream
    from deployer.web.context import WebContext
    from deployer.web.forwarded import ForwardedHeaders
    from deployer.web.observe import Observer
    from deployer.web.router import Router

log = logging.getLogger("deployer.web")
_START, _BODY_LAST, _END, _PULL = wire.START, wire.BODY_LAST, wire.END, wire.PULL
_NO_BODY = (204, 304)


class DirectPath:
    """What the front's protocol asks, per request head, whether it may answer directly."""

    def __init__(self, router: Router, observer: Observer | None = None) -> None:
        self.router = router
        self.observer = observer
        self.forwarded: ForwardedHeaders | None = None  # set by the Server that trusts proxies
        self.taken = self.followed = 0  # requests begun here; of those, handed to an Exchange
        self.live: set[DirectExchange] = set()  # begun here, not yet ended or handed over
        self._date_src: Any = None
        self._date = b""

    def cut(self) -> None:
        """The server's drain ran out (uvicorn has cancelled its own tasks): what is still
        waiting for its worker gets 503 and its connection closed, as the ASGI path's do."""
        for exchange in list(self.live):
            exchange.cut()

    def default_headers(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """uvicorn's default headers (the Date, renewed each second) as header lines."""
        if headers is not self._date_src:
            self._date = b"".join(k + b": " + v + b"\r\n" for k, v in headers)
            self._date_src = headers
        return self._date

    def take(self, protocol: Any) -> bool:
        """Begin answering the request whose head ``protocol`` just parsed; False (nothing
        done, nothing changed) when the ASGI path is to serve it."""
        parser = protocol.parser
        if parser.should_upgrade():
            return False
        if protocol.flow.write_paused:
            return False  # the client is not reading: uvicorn's cycle waits for the drain
        if body_mode(protocol.scope):
            return False  # a body: read as the app asks, through the ASGI cycle
        if b"\0" in protocol.url:
            return False  # never on the wire (encode_head's escape)
        try:
            url = httptools.parse_url(protocol.url)
            raw_path = url.path
            path = raw_path.decode("ascii")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            return False  # uvicorn's own answer
        if "%" in path:
            path = unquote(path)
        if "/." in path:
            return False  # dot segments: the router resolves them
        scope = protocol.scope.copy()  # the ASGI path starts from uvicorn's own, untouched
        method = parser.get_method()
        scope["method"] = method.decode("ascii")
        version = parser.get_http_version()
        if version != "1.1":
            scope["http_version"] = version
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = url.query or b""
        if self.forwarded is not None:
            self.forwarded.rewrite(scope)
        table = self.router.table
        entry = table.match(request_host(scope) if table.uses_hosts else "", path)
        if entry is None:
            return False
        context = entry.target
        if entry.prefix:
            if len(path) == len(entry.prefix):
                return False  # /ctx: the router's redirect
            scope["root_path"] = scope["root_path"] + entry.prefix
        open_direct = getattr(context, "open_direct", None)
        if open_direct is None:
            return False
        if self.forwarded is None:
            peer = protocol.direct_peer
            if peer is None:
                peer = protocol.direct_peer = peer_fields(scope)
        else:
            peer = peer_fields(scope)
        root = scope["root_path"].encode()
        version_field = version.encode()

        def head(lazy: LazySession | None) -> bytes:
            """Made once the session is known: the tracking may have taken a ``;jsessionid=``
            off the path, and proxy headers may have added headers."""
            return wire.request_payload(  # wire.HEAD_FIELDS
                [b"http", method, scope["raw_path"], scope["query_string"], root, peer[0],
                 version_field, peer[1], b"0", session_field(lazy), b""], scope["headers"])

        opened = open_direct(scope, head)
        if opened is None:
            return False
        stream, lazy = opened
        self.taken += 1
        keep_alive = version != "1.0" and parser.should_keep_alive()
        DirectExchange(self, protocol, context, scope, stream, lazy, keep_alive)
        return True


class DirectCycle:
    """What uvicorn's protocol reads and writes on its current cycle, for a request the direct
    path answers: it is ``message_event`` too, so a disconnect reaches the exchange."""

    __slots__ = ("exchange", "response_complete", "disconnected", "keep_alive", "more_body",
                 "body", "message_event")

    def __init__(self, exchange: DirectExchange, keep_alive: bool) -> None:
        self.exchange = exchange
        self.response_complete = self.disconnected = False
        self.keep_alive = keep_alive
        self.more_body = False
        self.body = b""
        self.message_event = self

    def set(self) -> None:
        """uvicorn's protocol sets the event at the request's end and when the client goes."""
        if self.disconnected:
            self.exchange.client_gone()


class DirectExchange:
    """One request from its head to the worker's END, driven by the frames as they come."""

    __slots__ = ("path", "protocol", "context", "scope", "stream", "lazy", "held", "cycle", "timer",
                 "start", "answered", "status", "size", "began", "clock",
                 "following")

    def __init__(self, path: DirectPath, protocol: Any, context: WebContext,
                 scope: dict[str, Any], stream: Stream, lazy: LazySession | None,
                 keep_alive: bool) -> None:
        self.path = path
        self.protocol = protocol
        self.context = context
        self.scope = scope
        self.stream = stream
        self.lazy = lazy  # where the answer's session changes go; None once none may
        self.following = False  # the task an Exchange goes on in (_follow) has begun
        self.held = lazy  # the session the request holds until its end (close_direct)
        self.start: bytes | None = None  # the START payload, used once the body is in
        self.answered = False
        self.status = self.size = 0
        if path.observer is not None:
            self.began, self.clock = time.time(), time.perf_counter()
        self.cycle = protocol.cycle = DirectCycle(self, keep_alive)
        path.live.add(self)
        stream.listener = self.frame
        self.timer: asyncio.TimerHandle | None = None
        timeout = context.pool.spec.request_timeout  # type: ignore[union-attr]
        if timeout > 0:
            self.timer = protocol.loop.call_later(timeout, stream.push, -1, b"")

    # -- frames from the worker ----------------------------------------------------------------
    def frame(self, kind: int, payload: bytes) -> None:
        """The stream's listener, called from the channel's data_received: nothing may escape
        it, or the channel dies behind the pool's back (no _broken, no new worker)."""
        try:
            self._frame(kind, payload)
        except Exception as exc:
            log.exception("%s: frame kind %d of a direct request", self.context.name, kind)
            if self.stream.closed or self.stream.listener is None:  # ended, or handed over
                return
            self.stream.channel.fail(f"{exc!r} at a frame of kind {kind}")
            if not self.answered:
                self.answered = True
                self.cycle.keep_alive = False
                self._page(502)
            self._finish()

    def _frame(self, kind: int, payload: bytes) -> None:
        if self.stream.closed:
            return
        if self.answered:
            if kind == _END:
                self._end(payload)
            elif kind == GONE:
                self._finish()  # the answer is out; only the END's session changes are lost
            elif kind == -1:  # requestTimeout, the answer out: the worker is replaced
                self.stream.send(wire.DISCONNECT)
                self.context.pool.timed_out(self.stream)  # type: ignore[union-attr]
                self._finish()
            elif kind != _PULL:
                self.stream.channel.fail(f"frame kind {kind} after the response")
                self._finish()
            return
        if kind == _START and self.start is None:
            self.start = payload
        elif kind == _BODY_LAST and self.start is not None:
            try:
                if not self._answer(payload):
                    self._follow(kind, payload)
            except wire.ProtocolError:
                self._follow(kind, payload)  # the Exchange finds it again and answers 502
        elif kind == _PULL:
            pass  # the app waits for the disconnect, which client_gone sends anyway
        elif kind == _END and self.cycle.disconnected:
            self._unanswered(payload)
        else:
            self._follow(kind, payload)

    def _answer(self, body: bytes) -> bool:
        """Write the whole answer; False (nothing done) when the ASGI path is to write it."""
        status, changes, lines = wire.split_start(self.start)  # type: ignore[arg-type]
        if not 100 <= status <= 599:
            return False
        own = status == 500 and lines == wire.ERROR_LINES  # the front's page replaces it
        if own:
            lines = b""
        else:
            wire.check_header_lines(lines)
        low = b"\r\n" + lines.lower()  # a value holds no CR or LF: "\r\nname:" starts a line
        if b"\r\ntransfer-encoding:" in low:
            return False
        head_only = self.scope["method"] == "HEAD"
        at = low.find(b"\r\ncontent-length:")
        if at >= 0:
            value = low[at + 17:low.index(b"\r\n", at + 2)].strip()
            if not value.isdigit() or (not head_only and int(value) != len(body)):
                return False  # uvicorn's checks, and its answers
        elif status < 200 or body and status in _NO_BODY:
            return False
        cookies = b""
        lazy = self.lazy
        if lazy is not None:
            try:
                apply_changes(lazy, changes, self.context.name)
            except SessionLimitError:  # the app made a session the manager cannot keep
                self.lazy = lazy = None
                status, own = 503, True
            except wire.ProtocolError as exc:  # maybe half applied: not to be applied again
                self.stream.channel.fail(str(exc))
                self.lazy = lazy = None  # nor the END's, as the Exchange never reads it
                status, own = 502, True
            binder = self.context._binder
            if lazy is not None and binder is not None:
                for k, v in binder.response_cookie(lazy, self.scope["scheme"]):
                    cookies += k + b": " + v + b"\r\n"
        cycle = self.cycle
        keep_alive = cycle.keep_alive
        close = b""
        if own:  # the front's error page, with no header of the app's
            lines, body = error_page(status, self.scope)
            if not keep_alive:
                close = b"connection: close\r\n"
        else:
            if b"\r\nconnection:" in low and any(
                    line.startswith(b"connection:") and b"close" in
                    [t.strip() for t in line[11:].split(b",")] for line in low.split(b"\r\n")):
                keep_alive = cycle.keep_alive = False
            elif not keep_alive:
                close = b"connection: close\r\n"
            if at < 0 and not head_only and status not in _NO_BODY:
                close += b"content-length: %d\r\n" % len(body)
        self.answered = True  # requestTimeout holds on until the END, as in an Exchange
        protocol = self.protocol
        self.status, self.size = status, len(body)
        transport = protocol.transport
        if not cycle.disconnected and not transport.is_closing():
            date = self.path.default_headers(protocol.server_state.default_headers)
            transport.write(b"".join((STATUS_LINE[status], date, lines, cookies, close, b"\r\n",
                                      b"" if head_only else body)))
        cycle.response_complete = True
        if not keep_alive:
            transport.close()
        protocol.on_response_complete()
        return True

    def _unanswered(self, payload: bytes) -> None:
        """The END of a request whose client left before its answer: the session changes the
        app made still count."""
        lazy = self.lazy
        if lazy is not None and self.start is not None:
            try:
                apply_changes(lazy, wire.split_start(self.start)[1], self.context.name)
            except SessionLimitError:
                pass
            except wire.ProtocolError as exc:
                self.stream.channel.fail(str(exc))
                self._finish()
                return
        if self.timer is not None:
            self.timer.cancel()
        self._end(payload)

    def _end(self, payload: bytes) -> None:
        lazy = self.lazy
        if lazy is not None and payload:
            try:
                value = wire.loads(payload)
                if not isinstance(value, dict):
                    raise wire.ProtocolError("a malformed END")
                apply_changes(lazy, value.get("session"), self.context.name)
            except SessionLimitError:
                pass  # answered already; the manager logged it
            except wire.ProtocolError as exc:
                self.stream.channel.fail(str(exc))
        self._finish()

    def _finish(self) -> None:
        self.path.live.discard(self)
        self._release()
        observer = self.path.observer
        if observer is not None:
            observer.report(self.scope, self.status, self.size, self.began, self.clock)

    def cut(self) -> None:
        """Cut off by the end of a drain: 503 unless the answer is out, and the app is told."""
        if self.stream.closed:
            return
        self.context.note_cut()
        if not self.answered:
            self.stream.send(wire.DISCONNECT)
            self.answered = True
            if self.timer is not None:
                self.timer.cancel()
            self.cycle.keep_alive = False
            self._page(503)
        self._finish()

    def _page(self, status: int) -> None:
        """The front's own error page, on a connection that then closes."""
        lines, body = error_page(status, self.scope)
        self.status, self.size = status, len(body)
        protocol, cycle = self.protocol, self.cycle
        transport = protocol.transport
        if not cycle.disconnected and not transport.is_closing():
            date = self.path.default_headers(protocol.server_state.default_headers)
            transport.write(b"".join((STATUS_LINE[status], date, lines,
                                      b"connection: close\r\n\r\n",
                                      b"" if self.scope["method"] == "HEAD" else body)))
        cycle.response_complete = True
        transport.close()

    def client_gone(self) -> None:
        """The client closed its connection before the answer: the app hears of it."""
        if not self.answered:
            self.stream.send(wire.DISCONNECT)

    # -- handing over to the ASGI path ---------------------------------------------------------
    def _follow(self, kind: int, payload: bytes) -> None:
        """The rest of the answer goes through an Exchange in a real uvicorn cycle, which takes
        the frames from where the direct path stopped."""
        self.path.live.discard(self)
        stream = self.stream
        stream.listener = None
        if self.start is not None:
            stream.frames.append((_START, self.start))
        stream.frames.append((kind, payload))
        self.path.followed += 1
        protocol, old = self.protocol, self.cycle
        cycle = RequestResponseCycle(
            scope=self.scope, transport=protocol.transport, flow=protocol.flow,
            logger=protocol.logger, access_logger=protocol.access_logger,
            access_log=protocol.access_log,
            default_headers=protocol.server_state.default_headers,
            message_event=asyncio.Event(), expect_100_continue=False,
            keep_alive=old.keep_alive, on_response=protocol.on_response_complete)
        cycle.more_body = False
        cycle.disconnected = old.disconnected
        if protocol.cycle is old:
            protocol.cycle = cycle
        task = protocol.loop.create_task(cycle.run_asgi(self._followed))
        task.add_done_callback(protocol.tasks.discard)
        task.add_done_callback(self._never_followed)
        protocol.tasks.add(task)

    def _never_followed(self, task: asyncio.Task[None]) -> None:
        """A drain's end may cancel the task before its first step: then nothing in it ran to
        release the request's stream and its count."""
        if not self.following:
            self._release()

    def _release(self) -> None:
        """The request's end, however it came: its timer, its stream, its count and session."""
        if self.timer is not None:
            self.timer.cancel()
        self.stream.close()
        self.context.close_direct(self.held)

    async def _followed(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.following = True
        observer = self.path.observer
        if observer is None:
            await self.context.follow_direct(scope, receive, send, self.stream, self.lazy,
                                             self.timer, self.cycle.disconnected)
            return

        async def observed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                self.size += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                self.status = message["status"]
            await send(message)

        try:
            await self.context.follow_direct(scope, receive, observed, self.stream, self.lazy,
                                             self.timer, self.cycle.disconnected)
        except BaseException:
            self.status = self.status or 500
            raise
        finally:
            observer.report(scope, self.status, self.size, self.began, self.clock)

