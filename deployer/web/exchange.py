"""One request forwarded to a worker and its answer forwarded to the client, both streamed.

The head goes out with the session's snapshot; the worker's frames come back in order: START
(its session changes applied first, so a new session's cookie is in the headers), BODY chunks as
they come (each handed to the client at once, its size credited back once the client took it),
END (the last changes). The request body is read from the client only when the app asks (PULL),
so ``Expect: 100-continue`` is answered only then; a body's first chunk goes unasked unless the
client expects a 100. After the body, the client is watched for a disconnect only when the app
waits for one or streams its answer. A worker that dies before its answer started gives 502;
after, the client's connection is cut, as a proxy would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from deployer.errors import SessionLimitError
from deployer.sessions.session import LazySession
from deployer.web.channel import GONE, Stream
from deployer.web.pool import PoolUnavailable, WorkerPool
from deployer.web.responses import error
from deployer.web.sessionwire import apply_changes, snapshot
from deployer.worker import wire

log = logging.getLogger("deployer.web")
_encode = wire.dumps
_TIMEOUT = -1  # pseudo-frame: requestTimeout passed
_START, _BODY, _BODY_LAST, _END = wire.START, wire.BODY, wire.BODY_LAST, wire.END


class ResponseAborted(Exception):
    """The answer broke off after it started: the server cuts the client's connection."""


def _object(payload: bytes, what: str) -> dict[str, Any]:
    """The JSON object of an END, WS_ACCEPT or WS_CLOSE (empty: {}); else a ProtocolError."""
    value = wire.loads(payload) if payload else {}
    if not isinstance(value, dict):
        raise wire.ProtocolError(f"a malformed {what}")
    return value


def body_mode(scope: dict[str, Any]) -> int:
    """0: no body; 1: its first chunk goes unasked; 2: only on PULL (Expect: 100-continue)."""
    if scope["type"] != "http":
        return 0
    mode = 0
    expect = False
    for k, v in scope["headers"]:
        if k == b"content-length":
            if v.strip() not in (b"0", b""):
                mode = 1
        elif k == b"transfer-encoding":
            mode = 1
        elif k == b"expect":
            expect = v.lower() == b"100-continue"
    return 2 if mode and expect else mode


def peer_fields(scope: dict[str, Any]) -> tuple[bytes, bytes]:
    """The scheme, and the client and server addresses joined, of a REQUEST head
    (wire.HEAD_FIELDS): the same for every request of a connection unless proxy headers change
    them, so the direct path keeps them per connection."""
    client, server = scope.get("client"), scope.get("server")
    return scope.get("scheme", "http").encode(), b"\0".join((
        client[0].encode() if client else b"", b"%d" % client[1] if client else b"",
        server[0].encode() if server else b"", b"%d" % (server[1] or 0) if server else b""))


def session_field(lazy: LazySession | None) -> bytes:
    """A REQUEST head's session: ``-`` the context has none, empty none yet, else a snapshot."""
    if lazy is None:
        return b"-"
    return b"" if lazy.session is None else snapshot(lazy.session).encode()


def encode_head(scope: dict[str, Any], lazy: LazySession | None, mode: int) -> bytes:
    """The REQUEST payload. Made when a channel takes the request, not before it waits for one,
    so the session snapshot is the newest."""
    http = scope["type"] == "http"
    raw = scope.get("raw_path") or quote(scope["path"]).encode()
    query = scope.get("query_string", b"")
    if b"\0" in raw or b"\0" in query:  # not from HTTP's request line, but never on the wire
        raw, query = raw.replace(b"\0", b"%00"), query.replace(b"\0", b"%00")
    scheme, addresses = peer_fields(scope)
    return wire.request_payload([  # wire.HEAD_FIELDS, in order
        b"http" if http else b"websocket",
        scope["method"].encode() if http else b"",
        raw, query, scope.get("root_path", "").encode(), scheme,
        scope.get("http_version", "1.1").encode(), addresses,
        b"012"[mode:mode + 1], session_field(lazy),
        b",".join(p.encode() for p in scope.get("subprotocols") or ()) if not http else b"",
    ], scope["headers"])


class Exchange:
    """Forwards one request; ``run`` returns when the worker has said END (or is gone)."""

    __slots__ = ("pool", "scope", "receive", "send", "lazy", "cookies", "before_commit", "where",
                 "stream", "mode", "body_done", "watcher", "started", "complete", "disconnected",
                 "front_answered")

    def __init__(self, pool: WorkerPool, scope: dict[str, Any], receive: Any, send: Any,
                 lazy: LazySession | None, where: str,
                 cookies: Callable[[LazySession, str], list[tuple[bytes, bytes]]] | None = None,
                 before_commit: Callable[[LazySession], Awaitable[None]] | None = None,
                 ) -> None:
        self.pool = pool
        self.scope = scope
        self.receive = receive
        self.send = send
        self.lazy = lazy
        self.cookies = cookies  # the Set-Cookie a response needs, if any (tracking.py)
        self.before_commit = before_commit  # flushOnResponseCommit: store it before the head
        self.where = where
        self.stream: Stream | None = None
        self.mode = 0
        self.body_done = False
        self.watcher: asyncio.Task[None] | None = None
        self.started = self.complete = self.disconnected = False
        self.front_answered = False  # the front's own error page went out in place of the app's

    def head(self) -> bytes:
        return encode_head(self.scope, self.lazy, self.mode)

    async def run(self) -> None:
        self.mode = mode = body_mode(self.scope)
        self.body_done = mode == 0
        http = self.scope["type"] == "http"
        pool = self.pool
        try:
            stream = pool.open(self.head) or await pool.open_wait(self.head)
        except PoolUnavailable:
            if http:
                await error(self.send, 503, self.scope)
            else:
                await self.send({"type": "websocket.close", "code": 1013})
            return
        timer = None
        timeout = pool.spec.request_timeout
        if timeout > 0:
            timer = asyncio.get_running_loop().call_later(timeout, stream.push, _TIMEOUT, b"")
        await self.follow(stream, timer)

    async def follow(self, stream: Stream, timer: asyncio.TimerHandle | None) -> None:
        """The answer on an open stream, from the frames it holds on (``timer``: the
        requestTimeout's, cancelled at the end). Where a request the direct path (direct.py)
        began goes on when its answer is more than it answers itself."""
        self.stream = stream
        http = self.scope["type"] == "http"
        mode = self.mode
        try:
            if http:
                if mode == 1:
                    await self._forward_body()
                await self._http(stream)
            else:
                await self._websocket(stream)
        except wire.ProtocolError as exc:
            stream.channel.fail(str(exc))  # the worker is killed; its other requests get 502
            if self.started:
                raise ResponseAborted(f"{self.where}: {exc}") from None
            if http:
                await error(self.send, 502, self.scope)
            else:
                await self.send({"type": "websocket.close", "code": 1011})
        finally:
            if timer is not None:
                timer.cancel()
            watcher = self.watcher
            if watcher is not None and not watcher.done():
                watcher.cancel()
            stream.close()

    # -- HTTP ------------------------------------------------------------------------------------
    async def _http(self, stream: Stream) -> None:
        send = self.send
        frames = stream.frames
        while True:
            # START, BODY_LAST and END of a short answer arrive together: no await between them
            kind, payload = frames.popleft() if frames else await stream.next()
            if kind in (_BODY_LAST, _BODY):
                more = kind == _BODY
                if not self.started:
                    raise wire.ProtocolError("a body before the response started")
                if self.front_answered:  # the app's body goes nowhere
                    stream.taken_by_client(len(payload))
                    continue
                await send({"type": "http.response.body", "body": payload, "more_body": more})
                stream.taken_by_client(len(payload))
                if more:
                    self._watch()
                else:
                    self.complete = True
            elif kind == _START:
                status, headers = self._start(payload)
                if self.before_commit is not None and self.lazy is not None:
                    if any(k == _END for k, _ in frames):
                        stream.close()  # the worker is done: its slot serves others meanwhile
                    await self.before_commit(self.lazy)
                if self.front_answered:
                    await error(send, status, self.scope, headers)
                    continue
                try:
                    await send({"type": "http.response.start", "status": status,
                                "headers": headers})
                except RuntimeError as exc:  # uvicorn refuses a malformed header: a lying worker
                    raise wire.ProtocolError(str(exc)) from None
            elif kind == _END:
                if payload or not self.complete:
                    self._end(payload)
                return
            elif kind == wire.PULL:
                self._watch(pull=True)
            elif kind in (GONE, _TIMEOUT):
                await self._lost(kind == _TIMEOUT)
                return
            else:
                raise wire.ProtocolError(f"frame kind {kind} in an HTTP response")

    def _start(self, payload: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The response's status and headers, its session changes applied first (a new session's
        cookie). The front answers with its own error page instead (``front_answered``, the
        headers then being those it adds to the page) for the worker's 500 of a failed app, and
        with 503 for a session the manager cannot keep."""
        if self.started:
            raise wire.ProtocolError("a second START")
        status, changes, lines = wire.split_start(payload)
        if not 100 <= status <= 599:
            raise wire.ProtocolError(f"bad START status {status}")
        own = status == 500 and lines == wire.ERROR_LINES  # the worker's answer to a failed app
        try:
            headers = self._session_applied(changes, [] if own else wire.split_header_lines(lines))
        except SessionLimitError:  # the app made a session the manager cannot keep
            self.lazy = None  # its later changes have no session to go to
            status, headers, own = 503, [], True
        self.started = True
        self.complete = self.front_answered = own
        return status, headers

    def _session_applied(self, changes: Any, headers: list[tuple[bytes, bytes]],
                         ) -> list[tuple[bytes, bytes]]:
        """Apply the session changes a response starts with; the headers, with the session's
        cookie when it needs one (a new session, or a refresh)."""
        lazy = self.lazy
        if lazy is not None:
            apply_changes(lazy, changes, self.where)
            if self.cookies is not None:
                headers += self.cookies(lazy, self.scope.get("scheme", "http"))
        return headers

    def _end(self, payload: bytes) -> None:
        end = _object(payload, "END")
        if self.lazy is not None:
            with contextlib.suppress(SessionLimitError):  # answered already; the manager logged
                apply_changes(self.lazy, end.get("session"), self.where)
        if self.scope["type"] == "http" and not self.complete and not self.disconnected:
            if self.started:
                raise ResponseAborted(f"{self.where}: the app's response broke off")
            raise wire.ProtocolError("END before any response")

    async def _lost(self, timed_out: bool) -> None:
        stream = self.stream
        assert stream is not None
        if timed_out:
            stream.send(wire.DISCONNECT)
            self.pool.timed_out(stream)
        if self.started:
            raise ResponseAborted(f"{self.where}: the worker " + (
                "passed requestTimeout" if timed_out else "died") + " during the response")
        if timed_out:
            log.error("%s: %s %s passed requestTimeout; answered 504", self.where,
                      self.scope.get("method"), self.scope["path"])
            await error(self.send, 504, self.scope)
        else:
            await error(self.send, 502, self.scope)

    # -- the client's side: body and disconnect ------------------------------------------------
    async def _forward_body(self) -> None:
        """One receive() from the client, passed on: a body chunk, or the disconnect."""
        message = await self.receive()
        stream = self.stream
        assert stream is not None
        if message["type"] == "http.request":
            more = message.get("more_body", False)
            self.body_done = not more
            stream.send(wire.BODY if more else wire.BODY_LAST, message.get("body", b""))
        else:
            self.body_done = self.disconnected = True
            stream.send(wire.DISCONNECT)

    def _watch(self, pull: bool = False) -> None:
        """Answer a PULL (the next body chunk), or watch for a disconnect once the body is in:
        a task, so the worker's frames keep flowing meanwhile."""
        if self.watcher is not None and not self.watcher.done():
            return
        if not pull and not self.body_done:
            return  # streaming while the body is unread: reading it here would lose it
        self.watcher = asyncio.get_running_loop().create_task(self._watching())

    async def _watching(self) -> None:
        if not self.body_done:
            await self._forward_body()
            return
        message = await self.receive()  # returns at the disconnect, or once the response is out
        while message["type"] == "http.request":  # a body nobody asked for (an empty one)
            message = await self.receive()
        if message["type"] == "http.disconnect" and not self.complete:
            self.disconnected = True
            if self.stream is not None:
                self.stream.send(wire.DISCONNECT)

    # -- websockets ------------------------------------------------------------------------------
    async def _websocket(self, stream: Stream) -> None:
        receive, send = self.receive, self.send
        connect = await receive()
        if connect["type"] != "websocket.connect":
            stream.send(wire.WS_CLOSE, _encode({"code": 1006}).encode())
            return
        pump: asyncio.Task[None] | None = None
        try:
            while True:
                kind, payload = await stream.next()
                if kind == wire.WS_TEXT or kind == wire.WS_BYTES:
                    if not self.started:
                        raise wire.ProtocolError("a websocket message before the accept")
                    if kind == wire.WS_TEXT:
                        await send({"type": "websocket.send", "text": payload.decode("utf-8")})
                    else:
                        await send({"type": "websocket.send", "bytes": payload})
                    stream.taken_by_client(len(payload))
                elif kind == wire.WS_ACCEPT:
                    accept = _object(payload, "WS_ACCEPT")
                    lines, subprotocol = accept.get("headers", ""), accept.get("subprotocol")
                    if self.started or type(lines) is not str or not (
                            subprotocol is None or type(subprotocol) is str):
                        raise wire.ProtocolError("a second or malformed WS_ACCEPT")
                    try:
                        raw = lines.encode("latin-1")
                    except UnicodeEncodeError:
                        raise wire.ProtocolError("WS_ACCEPT headers past latin-1") from None
                    headers = self._session_applied(accept.get("session"),
                                                    wire.split_header_lines(raw))
                    self.started = True
                    await send({"type": "websocket.accept", "subprotocol": subprotocol,
                                "headers": headers})
                    pump = asyncio.get_running_loop().create_task(self._pump(stream))
                elif kind == wire.WS_CLOSE:
                    close = _object(payload, "WS_CLOSE")
                    code = close.get("code", 1000)
                    if type(code) is not int:
                        raise wire.ProtocolError(f"a WS_CLOSE with code {code!r}")
                    if not self.complete:
                        self.complete = True
                        await send({"type": "websocket.close", "code": code,
                                    "reason": str(close.get("reason", ""))})
                elif kind == wire.END:
                    self._end(payload)
                    if not self.complete:
                        self.complete = True
                        await send({"type": "websocket.close", "code": 1000})
                    return
                elif kind in (GONE, _TIMEOUT):
                    if not self.complete:
                        self.complete = True
                        await send({"type": "websocket.close", "code": 1011})
                    return
                else:
                    raise wire.ProtocolError(f"frame kind {kind} in a websocket")
        finally:
            if pump is not None:
                pump.cancel()

    async def _pump(self, stream: Stream) -> None:
        """Client messages to the app, until the client goes."""
        receive = self.receive
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    stream.send(wire.WS_TEXT, text.encode("utf-8"))
                else:
                    stream.send(wire.WS_BYTES, message.get("bytes") or b"")
            elif kind == "websocket.disconnect":
                self.disconnected = True
                stream.send(wire.WS_CLOSE, _encode({
                    "code": message.get("code", 1005),
                    "reason": message.get("reason") or ""}).encode())
                return
