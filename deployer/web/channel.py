"""The front's end of one data channel to a worker: frames in and out, one Stream per request.

Nothing the worker sends is trusted: a frame too large or of an unknown kind, a frame for a stream
never opened, a response past its stream's credit window, all mean the worker is broken, and it
is killed (its requests in flight then get 502, as for any worker death). Writes made during one
turn of the event loop leave in one system call.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

from deployer.worker import wire
from deployer.worker.turns import TurnWriter

GONE = 0  # the pseudo-frame a stream gets when its worker's connection ends
_COUNTED = frozenset({wire.BODY, wire.BODY_LAST, wire.WS_TEXT, wire.WS_BYTES})
_WINDOW, _FRAME_COST = wire.WINDOW, wire.FRAME_COST
_MAX_QUEUED = 16  # uncounted frames (PULL, START, END...) a stream may have waiting


class Stream:
    """One request's frames from the worker, awaited in order by the request's coroutine."""

    __slots__ = ("channel", "sid", "frames", "waiter", "unacked", "taken", "closed", "listener")

    def __init__(self, channel: Channel, sid: int) -> None:
        self.channel = channel
        self.sid = sid
        self.frames: collections.deque[tuple[int, bytes]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.unacked = 0  # the cost of response frames received and not yet credited back
        self.taken = 0  # of that, what the client has taken since the last CREDIT
        self.closed = False
        # a callback that takes each frame as it comes (web/direct.py), instead of a coroutine
        # awaiting ``next()``
        self.listener: Callable[[int, bytes], None] | None = None

    def push(self, kind: int, payload: bytes) -> None:
        listener = self.listener
        if listener is not None:
            listener(kind, payload)
            return
        self.frames.append((kind, payload))
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> tuple[int, bytes]:
        frames = self.frames
        while not frames:
            self.waiter = self.channel.loop.create_future()
            await self.waiter
        return frames.popleft()

    def send(self, kind: int, payload: bytes = b"") -> None:
        if not self.closed:
            self.channel.write(wire.frame(kind, self.sid, payload))

    def taken_by_client(self, size: int) -> None:
        """A frame of ``size`` bytes reached the client: give the worker its window back, in
        halves."""
        self.taken += size + _FRAME_COST
        if self.taken >= wire.WINDOW // 2 and not self.closed:
            self.unacked -= self.taken
            self.channel.write(wire.json_frame(wire.CREDIT, self.sid, self.taken))
            self.taken = 0

    def close(self) -> None:
        """The request is over on the front's side; late frames for it are dropped."""
        if not self.closed:
            self.closed = True
            self.channel.stream_closed(self)


class Channel(TurnWriter, asyncio.Protocol):
    """A connection to one worker, multiplexed by stream id; ``capacity`` streams at once."""

    def __init__(self, capacity: int, on_broken: Callable[[str], None],
                 on_free: Callable[[Channel], None]) -> None:
        self.capacity = capacity
        self.loop = asyncio.get_running_loop()
        self.streams: dict[int, Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.retired = False  # no new streams (its worker is draining or gone)
        self._next_id = 1
        self._reader = wire.FrameReader()
        self._on_broken = on_broken
        self._on_free = on_free
        self._lost: int | None = None  # requests in flight when the connection ended

    @property
    def in_flight(self) -> int:
        return len(self.streams)

    @property
    def stranded(self) -> int:
        """Requests the worker's end left without their answer: counted when the connection
        ended, since their coroutines may close their streams before the pool hears of the
        exit."""
        return self._lost if self._lost is not None else len(self.streams)

    @property
    def usable(self) -> bool:
        return not self.retired and self.transport is not None and \
            len(self.streams) < self.capacity

    # -- streams ---------------------------------------------------------------------------------
    def open(self, head: Callable[[], bytes]) -> Stream:
        """A new stream whose REQUEST frame (its payload made by ``head``) is written at once."""
        sid = self._next_id
        self._next_id = sid + 1 if sid < 0xFFFFFFFF else 1
        stream = Stream(self, sid)
        self.streams[sid] = stream
        self.write(wire.frame(wire.REQUEST, sid, head()))
        return stream

    def stream_closed(self, stream: Stream) -> None:
        """Its room goes to the next request once its coroutine has applied the session
        changes of its answer (the next snapshot of that session must hold them)."""
        if self.streams.pop(stream.sid, None) is not None:
            self._on_free(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
        except wire.ProtocolError as exc:
            self._broken(str(exc))
            return
        streams = self.streams
        for kind, sid, payload in frames:
            stream = streams.get(sid)
            if stream is None:
                if sid >= self._next_id or sid == 0:
                    self._broken(f"a frame for stream {sid}, which was never opened")
                    return
                continue  # a late frame of a stream the front already closed
            if kind in _COUNTED:
                stream.unacked += len(payload) + _FRAME_COST
                if stream.unacked > _WINDOW:
                    self._broken(f"stream {sid} sent past its window of {_WINDOW} bytes")
                    return
            elif len(stream.frames) > _MAX_QUEUED:
                self._broken(f"stream {sid} sent {_MAX_QUEUED} frames nobody asked for")
                return
            stream.push(kind, payload)

    def fail(self, why: str) -> None:
        """A frame broke the wire's rules (found by whoever read it): the worker goes."""
        self._broken(why)

    def _broken(self, why: str) -> None:
        self.retired = True
        self._on_broken(why)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.retired = True
        self.transport = None
        self._lost = len(self.streams)
        for stream in list(self.streams.values()):
            stream.push(GONE, b"")
