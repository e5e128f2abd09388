"""Blocking frame I/O over one socket: a WSGI worker thread's channel, and the control socket.

One thread owns a channel, so nothing here locks. ``poll`` looks without waiting, which is how a
thread streaming a response notices the client's disconnect or a credit between two chunks.
"""

from __future__ import annotations

import collections
import contextlib
import select
import socket

from deployer.worker.wire import Frame, FrameReader


class Closed(Exception):
    """The front closed the channel."""


class Channel:
    __slots__ = ("sock", "_reader", "_frames")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = FrameReader()
        self._frames: collections.deque[Frame] = collections.deque()

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, waiting for it (at most ``timeout`` s: None when it passes).
        Raises Closed at end of file."""
        frames = self._frames
        while not frames:
            if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
                return None
            data = self.sock.recv(65536)
            if not data:
                raise Closed()
            frames.extend(self._reader.feed(data))
        return frames.popleft()

    def poll(self) -> Frame | None:
        """A frame if one has arrived, else None, without waiting."""
        return self.read(0.0)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
