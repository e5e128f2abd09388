"""The wire between deployer (the front) and a webapp's worker process.

A frame is a 9-byte header, then its payload: ``!IBI`` = payload length, kind, stream id. Request
and response bodies and websocket messages travel as raw bytes; heads, session snapshots and their
changes as JSON. Every payload is bounded (MAX_PAYLOAD) and every stream's unacknowledged response
bytes too (WINDOW, returned with CREDIT frames), so neither side can make the other buffer without
limit. Stdlib only, and Python 3.9 compatible: the worker side runs in the app's own interpreter.
Front and worker always come from the same deployer checkout, so there is no version negotiation.
"""

from __future__ import annotations

import json
import struct
from typing import Any

HEADER = struct.Struct("!IBI")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 16 * 1024 * 1024  # a frame larger than this is a protocol error
CHUNK = 256 * 1024  # bodies are split into frames of at most this size
WINDOW = 1024 * 1024  # response bytes a stream may have in flight before it waits for CREDIT

# control socket
CONFIG = 1  # front -> worker, JSON: what to load and how (config.py)
READY = 2  # worker -> front, JSON: the app imported (and its lifespan started)
FAILED = 3  # worker -> front, JSON: {"error", "traceback"}; the worker then exits
STOP = 4  # front -> worker: finish and exit

# data channels, per stream
REQUEST = 10  # front -> worker, JSON head (see exchange.py and worker/request.py)
BODY = 11  # both ways: a body chunk, more follows
BODY_LAST = 12  # both ways: the last body chunk (may be empty)
DISCONNECT = 13  # front -> worker: the client went away
PULL = 14  # worker -> front: the app wants the next request body chunk (or the disconnect)
START = 15  # worker -> front, JSON {"status", "headers", "session"}
END = 16  # worker -> front, JSON {"session", "abort"} or empty: the app returned
CREDIT = 17  # front -> worker, JSON int: response bytes the client has taken
WS_ACCEPT = 20  # worker -> front, JSON {"subprotocol", "headers"}
WS_TEXT = 21  # both ways: one text message, UTF-8
WS_BYTES = 22  # both ways: one binary message
WS_CLOSE = 23  # both ways, JSON {"code", "reason"}

KINDS = frozenset({CONFIG, READY, FAILED, STOP, REQUEST, BODY, BODY_LAST, DISCONNECT, PULL,
                   START, END, CREDIT, WS_ACCEPT, WS_TEXT, WS_BYTES, WS_CLOSE})

Frame = tuple[int, int, bytes]  # kind, stream, payload

_pack = HEADER.pack
_unpack_from = HEADER.unpack_from
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class ProtocolError(Exception):
    """The other side broke the wire's rules; the connection cannot be trusted any more."""


def frame(kind: int, stream: int, payload: bytes = b"") -> bytes:
    return _pack(len(payload), kind, stream) + payload


def json_frame(kind: int, stream: int, value: Any) -> bytes:
    payload = _encode(value).encode()
    return _pack(len(payload), kind, stream) + payload


def body_frames(stream: int, data: bytes, last: bool) -> list[bytes]:
    """A body as frames of at most CHUNK bytes; only the final one is BODY_LAST when ``last``."""
    if len(data) <= CHUNK:
        return [_pack(len(data), BODY_LAST if last else BODY, stream) + data]
    view = memoryview(data)
    out = []
    for start in range(0, len(data), CHUNK):
        part = bytes(view[start:start + CHUNK])
        final = last and start + CHUNK >= len(data)
        out.append(_pack(len(part), BODY_LAST if final else BODY, stream) + part)
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


_strict = json.JSONDecoder(parse_constant=_reject_constant)


def loads(payload: bytes) -> Any:
    """JSON from the other side: NaN and Infinity refused, nesting bounded by the decoder."""
    try:
        return _strict.decode(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"bad JSON payload: {exc}") from None


class FrameReader:
    """Splits a byte stream into frames; keeps a partial frame until the rest arrives."""

    __slots__ = ("_buf", "limit")

    def __init__(self, limit: int = MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self.limit = limit

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        if buf:
            buf += data
            data = bytes(buf)
        frames: list[Frame] = []
        pos, end = 0, len(data)
        limit = self.limit
        while end - pos >= HEADER_SIZE:
            size, kind, stream = _unpack_from(data, pos)
            if size > limit:
                raise ProtocolError(f"frame of {size} bytes exceeds the limit of {limit}")
            if kind not in KINDS:
                raise ProtocolError(f"unknown frame kind {kind}")
            stop = pos + HEADER_SIZE + size
            if stop > end:
                break
            frames.append((kind, stream, data[pos + HEADER_SIZE:stop]))
            pos = stop
        if pos < end:
            self._buf = bytearray(data[pos:]) if pos or not buf else buf
        elif buf:
            self._buf = bytearray()
        return frames
