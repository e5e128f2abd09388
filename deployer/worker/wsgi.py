"""Serving a WSGI app in a worker: one thread per channel, one request at a time per thread.

Each thread blocks on its own socket, so a request costs no thread hop and no event loop: read
the head, call the app, write the response. A body the app returns whole (a list) goes out with
its START and END in one write; an iterable's chunks go out as they are produced, each at once,
with a look at the channel between chunks for the client's disconnect (the generator is then
closed) and for credit (a client slower than the app holds the app back, not memory).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from deployer.worker import wire
from deployer.worker.channel import Channel, Closed
from deployer.worker.config import WorkerConfig
from deployer.worker.inflight import InFlight
from deployer.worker.log import current_traceback, fatal, log
from deployer.worker.request import Head, parse_head, wsgi_base, wsgi_environ
from deployer.worker.session import CURRENT, WorkerSession, changes_of

_NO_BODY_STATUS = (204, 304)


class Disconnected(OSError):
    """The client went away (raised from wsgi.input, and inside a streamed response)."""


class RequestBody:
    """``wsgi.input``: reads pull body chunks from the front only when the app asks."""

    def __init__(self, channel: Channel, stream: int, mode: int) -> None:
        self._channel = channel
        self._stream = stream
        self._buf = bytearray()
        self._done = mode == 0
        self._unasked = mode == 1  # the front sent the first chunk without a PULL

    def _fill(self) -> bool:
        if self._done:
            return False
        if self._unasked:
            self._unasked = False
        else:
            self._channel.send(wire.frame(wire.PULL, self._stream))
        while True:
            kind, stream, payload = self._channel.read()
            if stream != self._stream:
                continue
            if kind == wire.BODY or kind == wire.BODY_LAST:
                self._buf += payload
                self._done = kind == wire.BODY_LAST
                return True
            if kind == wire.DISCONNECT:
                self._done = True
                raise Disconnected("the client disconnected while sending the request body")

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            data = bytes(self._buf)
            self._buf.clear()
            return data
        while len(self._buf) < size and self._fill():
            pass
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def readline(self, size: int = -1) -> bytes:
        while True:
            end = self._buf.find(b"\n")
            if end >= 0 or (0 <= size <= len(self._buf)) or not self._fill():
                break
        cut = len(self._buf) if end < 0 else end + 1
        if size is not None and 0 <= size < cut:
            cut = size
        data = bytes(self._buf[:cut])
        del self._buf[:cut]
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


class _Response:
    """One request's response side, owned by its thread."""

    __slots__ = ("channel", "stream", "session", "head_only", "status", "headers", "lines",
                 "sent", "unacked")

    def __init__(self, channel: Channel, stream: int, session: WorkerSession | None,
                 head_only: bool) -> None:
        self.channel = channel
        self.stream = stream
        self.session = session
        self.head_only = head_only
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.lines = b""  # the headers as the wire's lines
        self.sent = False
        self.unacked = 0

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
        code = status[:3]
        if not (isinstance(status, str) and code.isdigit() and 100 <= int(code) <= 599):
            raise ValueError(f"WSGI status {status!r} is not '<3 digits> <reason>'")
        checked = list(headers)
        self.lines = wire.response_header_lines(checked, text=True)
        self.status = int(code)
        self.headers = checked
        return self.write

    def _start(self) -> bytes:
        self.sent = True
        return wire.start_frame(self.stream, self.status, changes_of(self.session), self.lines)

    def write(self, data: bytes) -> None:
        """Stream one chunk now (also the legacy ``write`` callable of start_response)."""
        if not self.status:
            raise AssertionError("write() before start_response()")
        if not data:
            return
        if not self.sent:
            self.channel.send(self._start())
        if not self.head_only:
            self._send_body(bytes(data), last=False)

    def _send_body(self, data: bytes, last: bool) -> None:
        """Frame by frame, each once the client is less than a window behind."""
        for frame in wire.body_frames(self.stream, data, last):
            cost = wire.cost(len(frame) - wire.HEADER_SIZE)
            self._wait_for_room(cost)
            self.unacked += cost
            self.channel.send(frame)

    def _wait_for_room(self, cost: int) -> None:
        """Stop on a disconnect; wait while this frame would put the client past the window."""
        channel = self.channel
        while True:
            full = self.unacked and self.unacked + cost > wire.WINDOW
            frame = channel.read() if full else channel.poll()
            if frame is None:
                return
            kind, stream, payload = frame
            if stream != self.stream:
                continue
            if kind == wire.DISCONNECT:
                raise Disconnected("the client disconnected")
            if kind == wire.CREDIT:
                self.unacked = max(0, self.unacked - int(wire.loads(payload)))

    def whole(self, chunks: list[bytes]) -> bytes:
        """A body returned whole: with Content-Length when it is missing, and, when it fits in
        the window, with its START and END in one write (what is returned is still to send)."""
        body = b"".join(chunks)
        if (not any(k.lower() == "content-length" for k, _ in self.headers)
                and self.status >= 200 and self.status not in _NO_BODY_STATUS):
            self.lines += b"Content-Length: %d\r\n" % len(body)
        start = self._start()
        if self.head_only:
            body = b""
        if len(body) <= wire.CHUNK:  # nothing is in flight yet: it fits the window
            self.unacked += wire.cost(len(body))
            return start + wire.frame(wire.BODY_LAST, self.stream, body)
        self.channel.send(start)
        self._send_body(body, last=True)
        return b""

    def finish(self) -> bytes:
        """What ends a response: the start if nothing was sent, then the last (empty) chunk."""
        out = b"" if self.sent else self._start()
        self._wait_for_room(wire.FRAME_COST)
        self.unacked += wire.FRAME_COST
        return out + wire.frame(wire.BODY_LAST, self.stream)

    def error(self) -> bytes:
        self.status, self.lines = 500, wire.ERROR_LINES
        return self._start() + wire.frame(wire.BODY_LAST, self.stream, wire.ERROR_BODY)


class WsgiServer:
    """The channel threads of one worker; ``in_flight`` counts the requests being served."""

    def __init__(self, config: WorkerConfig, app: Callable[..., Any],
                 channels: list[Channel]) -> None:
        self.config = config
        self.app = app
        self.channels = channels
        self.threads: list[threading.Thread] = []
        self.in_flight = InFlight()
        self.base = wsgi_base(config, len(channels))

    def start(self) -> None:
        for i, channel in enumerate(self.channels):
            t = threading.Thread(target=self._serve, args=(channel,), daemon=True,
                                 name=f"deployer-wsgi-{i}")
            t.start()
            self.threads.append(t)

    def _serve(self, channel: Channel) -> None:
        try:
            while True:
                kind, stream, payload = channel.read()
                if kind != wire.REQUEST:
                    continue  # a late frame of a request already answered
                self.in_flight.enter()
                try:
                    self._handle(channel, stream, parse_head(payload))
                finally:
                    self.in_flight.leave()
        except (Closed, OSError, wire.ProtocolError):
            pass  # the front closed this channel: the worker is being stopped
        except BaseException:
            fatal("serving a WSGI request")

    def _handle(self, channel: Channel, stream: int, head: Head) -> None:
        config = self.config
        session = (WorkerSession(head.session, config.max_inactive, config.worker_name)
                   if head.session is not False else None)
        token = CURRENT.set(session)
        response = _Response(channel, stream, session, head.method == "HEAD")
        body = RequestBody(channel, stream, head.body)
        environ = wsgi_environ(head, self.base, session, body)
        out = b""
        abort = False
        try:
            result = self.app(environ, response.start_response)
            try:
                if type(result) is list or type(result) is tuple:
                    if not response.status:
                        raise AssertionError("WSGI app returned without calling start_response")
                    if response.sent:  # it used write(): the rest goes out as chunks
                        for chunk in result:
                            response.write(chunk)
                        out = response.finish()
                    else:
                        out = response.whole(result)
                else:
                    for chunk in result:
                        response.write(chunk)
                    if not response.status:
                        raise AssertionError("WSGI app returned without calling start_response")
                    out = response.finish()
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Disconnected:
            out, abort = b"", True
        except Exception:
            log(f"{config.name}: {head.where}: the WSGI app failed\n"
                + current_traceback())
            if response.sent:
                out, abort = b"", True
            else:
                out = response.error()
        finally:
            CURRENT.reset(token)
        channel.send(out + wire.end_frame(stream, changes_of(session), abort))

