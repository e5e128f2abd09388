"""Serving an ASGI app in a worker: one event loop, one multiplexed channel, a task per request.

``receive`` and ``send`` map ASGI events onto frames: a request body arrives only when the app
asks for it (so ``Expect: 100-continue`` and back-pressure mean what they should); after the body,
a ``receive`` waits for the client's disconnect; ``send`` waits while the client is a window
behind. Writes made during one turn of the loop leave in one system call.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from deployer.worker import wire
from deployer.worker.config import WorkerConfig
from deployer.worker.inflight import InFlight
from deployer.worker.log import current_traceback, fatal, log
from deployer.worker.request import Head, asgi_scope, parse_head
from deployer.worker.session import CURRENT, WorkerSession, changes_of
from deployer.worker.turns import TurnWriter

_DISCONNECT = {"type": "http.disconnect"}


def _lines(raw: Any) -> bytes:
    """ASGI response headers (byte pairs, or none) as the wire's header lines, checked."""
    return wire.response_header_lines(list(raw or ()))


class Channel(TurnWriter, asyncio.Protocol):
    """The worker's end of its data channel: frames in, tasks out (writes: turns.py)."""

    def __init__(self, server: AsgiServer) -> None:
        self.server = server
        self.loop = server.loop
        self.streams: dict[int, Stream] = {}
        self.transport: asyncio.Transport | None = None
        self._reader = wire.FrameReader()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._frames(data)
        except BaseException:
            fatal("reading the channel")

    def _frames(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
            for kind, sid, payload in frames:
                if kind == wire.REQUEST:
                    stream = Stream(self, sid, parse_head(payload))
                    self.streams[sid] = stream
                    self.server.in_flight.enter()
                    self.loop.create_task(stream.run())
                else:
                    stream = self.streams.get(sid)
                    if stream is not None:
                        stream.deliver(kind, payload)
        except wire.ProtocolError as exc:
            log(f"{self.server.config.name}: closing the channel: {exc}")
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        for stream in list(self.streams.values()):
            stream.deliver(wire.DISCONNECT, b"")


class Stream:
    """One request (or websocket) between the app and the channel."""

    def __init__(self, channel: Channel, sid: int, head: Head) -> None:
        server = channel.server
        self.channel = channel
        self.sid = sid
        self.head = head
        self.kind = head.kind
        config = server.config
        self.session = (WorkerSession(head.session, config.max_inactive, config.worker_name)
                        if head.session is not False else None)
        self.body_mode = head.body
        self.body_done = False
        self.unasked = self.body_mode == 1
        self.inbox: collections.deque[tuple[int, bytes]] = collections.deque()
        self.waiter: asyncio.Future | None = None
        self.pulled = False
        self.disconnected = False
        self.head_only = head.method == "HEAD"
        self.start: tuple[int, bytes] | None = None  # held until the first body message
        self.started = self.complete = False
        self.accepted = self.closed = self.connected = False
        self.abort = False
        self.unacked = 0
        self.credit: asyncio.Future | None = None

    # -- frames from the front -----------------------------------------------------------------
    def deliver(self, kind: int, payload: bytes) -> None:
        if kind == wire.CREDIT:
            self.unacked = max(0, self.unacked - int(wire.loads(payload)))
            self._wake_credit()
            return
        if kind == wire.DISCONNECT:
            self.disconnected = True
            self._wake_credit()
        self.inbox.append((kind, payload))
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_credit(self) -> None:
        credit = self.credit
        if credit is not None and not credit.done():
            credit.set_result(None)

    async def _next(self, pull: bool) -> tuple[int, bytes]:
        while not self.inbox:
            if self.complete and self.kind == "http":
                return wire.DISCONNECT, b""
            if pull and not self.pulled:
                self.pulled = True
                self.channel.write(wire.frame(wire.PULL, self.sid))
            self.waiter = self.channel.loop.create_future()
            await self.waiter
        self.pulled = False
        return self.inbox.popleft()

    # -- the app's receive ---------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        if self.kind != "http":
            return await self._receive_ws()
        if (self.disconnected and not self.inbox) or self.complete:
            return _DISCONNECT
        if not self.body_done:
            if self.body_mode == 0:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            pull = not self.unasked
            self.unasked = False
            kind, payload = await self._next(pull)
            if kind == wire.BODY:
                return {"type": "http.request", "body": payload, "more_body": True}
            if kind == wire.BODY_LAST:
                self.body_done = True
                return {"type": "http.request", "body": payload, "more_body": False}
            return _DISCONNECT
        await self._next(pull=True)  # after the body, a PULL asks the front to watch the client
        return _DISCONNECT

    async def _receive_ws(self) -> dict[str, Any]:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        kind, payload = await self._next(pull=False)
        if kind == wire.WS_TEXT:
            return {"type": "websocket.receive", "text": payload.decode("utf-8")}
        if kind == wire.WS_BYTES:
            return {"type": "websocket.receive", "bytes": payload}
        info = wire.loads(payload) if kind == wire.WS_CLOSE and payload else {}
        self.closed = True
        return {"type": "websocket.disconnect", "code": int(info.get("code", 1006)),
                "reason": str(info.get("reason", ""))}

    # -- the app's send ------------------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self.kind != "http":
            await self._send_ws(kind, message)
            return
        if kind == "http.response.start":
            if self.start is not None or self.started:
                raise RuntimeError("http.response.start sent twice")
            status = message["status"]
            if not (isinstance(status, int) and 100 <= status <= 599):
                raise RuntimeError(f"invalid status {status!r}")
            self.start = (status, _lines(message.get("headers")))
        elif kind == "http.response.body":
            if self.start is None or self.complete:
                raise RuntimeError("http.response.body sent " + (
                    "after the response completed" if self.complete else "before the start"))
            if self.disconnected:
                return  # as uvicorn does: the client is gone, the bytes go nowhere
            body = message.get("body", b"")
            more = message.get("more_body", False)
            start = b"" if self.started else self._start_frame()  # sent with the first chunk
            if self.head_only:
                body = b""
            if not more:
                self.complete = True
            if body or not more:
                for frame in wire.body_frames(self.sid, bytes(body), last=not more):
                    cost = wire.cost(len(frame) - wire.HEADER_SIZE)
                    if self.unacked and self.unacked + cost > wire.WINDOW:  # never with START:
                        await self._room(cost)  # nothing is unacked before the first chunk
                    self.unacked += cost
                    self.channel.write(start + frame if start else frame)
                    start = b""
            elif start:
                self.channel.write(start)
            if not more:
                self._wake()  # a receive() waiting for the disconnect returns now
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} for an HTTP request")

    def _start_frame(self) -> bytes:
        self.started = True
        status, lines = self.start or (500, b"")
        return wire.start_frame(self.sid, status, changes_of(self.session), lines)

    async def _room(self, cost: int) -> None:
        """Wait while this frame would put the client more than a window behind."""
        while self.unacked and self.unacked + cost > wire.WINDOW and not self.disconnected:
            self.credit = self.channel.loop.create_future()
            await self.credit

    async def _send_ws(self, kind: str, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if kind == "websocket.accept":
            if self.accepted:
                raise RuntimeError("websocket.accept sent twice")
            self.accepted = True
            self.channel.write(wire.json_frame(wire.WS_ACCEPT, self.sid, {
                "subprotocol": message.get("subprotocol"),
                "headers": _lines(message.get("headers")).decode("latin-1"),
                "session": changes_of(self.session)}))
        elif kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            text = message.get("text")
            data = text.encode("utf-8") if text is not None else bytes(message.get("bytes") or b"")
            if len(data) > wire.MAX_PAYLOAD:
                raise RuntimeError(f"a websocket message of {len(data)} bytes is over the "
                                   f"limit of {wire.MAX_PAYLOAD}")
            await self._room(wire.cost(len(data)))
            self.unacked += wire.cost(len(data))
            self.channel.write(wire.frame(wire.WS_TEXT if text is not None else wire.WS_BYTES,
                                          self.sid, data))
        elif kind == "websocket.close":
            self.closed = True
            self.channel.write(wire.json_frame(wire.WS_CLOSE, self.sid, {
                "code": int(message.get("code", 1000)), "reason": message.get("reason") or ""}))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} for a websocket")

    # -- the request's task --------------------------------------------------------------------
    async def run(self) -> None:
        server = self.channel.server
        scope = asgi_scope(self.head, server.config, self.session, server.state)
        token = CURRENT.set(self.session)
        try:
            await server.app(scope, self.receive, self.send)
        except Exception:
            log(f"{server.config.name}: {self.head.where}: the ASGI app failed\n"
                + current_traceback())
            self._failed()
        else:
            self._returned()
        finally:
            CURRENT.reset(token)
            try:
                self._end()
            except BaseException:
                fatal("ending an ASGI request")

    def _failed(self) -> None:
        if self.kind != "http":
            if not self.closed:
                self.closed = True
                self.channel.write(wire.json_frame(wire.WS_CLOSE, self.sid, {
                    "code": 1011 if self.accepted else 1006, "reason": ""}))
        elif not self.started:
            self.start = (500, wire.ERROR_LINES)
            self.channel.write(self._start_frame()
                               + wire.frame(wire.BODY_LAST, self.sid, wire.ERROR_BODY))
            self.complete = True
        elif not self.complete:
            self.abort = True

    def _returned(self) -> None:
        name = self.channel.server.config.name
        if self.kind != "http":
            if not self.closed:
                self.closed = True
                self.channel.write(wire.json_frame(wire.WS_CLOSE, self.sid,
                                                   {"code": 1000, "reason": ""}))
        elif self.disconnected:
            pass
        elif not self.started and self.start is None:
            log(f"{name}: {self.head.where}: the ASGI app returned without starting a response")
            self._failed()
        elif not self.complete:
            log(f"{name}: {self.head.where}: "
                "the ASGI app returned without completing its response")
            if not self.started:
                self.channel.write(self._start_frame())
            self.abort = True

    def _end(self) -> None:
        if self.channel.streams.pop(self.sid, None) is not None:
            self.channel.server.in_flight.leave()
        self.channel.write(wire.end_frame(self.sid, changes_of(self.session), self.abort))


class AsgiServer:
    """What an ASGI worker's channel serves from: the app, its lifespan state, the count."""

    def __init__(self, config: WorkerConfig, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.app = app
        self.loop = loop
        self.state: dict[str, Any] = {}
        self.in_flight = InFlight()

    async def open(self, sock: Any) -> None:
        await self.loop.connect_accepted_socket(lambda: Channel(self), sock)
