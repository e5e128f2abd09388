"""The wire between deployer (the front) and a webapp's worker process.

A frame is a 9-byte header, then its payload: ``!IBI`` = payload length, kind, stream id. Request
and response bodies and websocket messages travel as raw bytes; session snapshots and their
changes as JSON. HTTP header fields travel as they do on HTTP's own wire, one ``name: value\r\n``
line each: a parsed field can hold neither CR nor LF and a name no colon, and joining and splitting
lines costs a fraction of encoding them as JSON, once per request each way. Every payload is
bounded (MAX_PAYLOAD) and so are every stream's unacknowledged response bytes (WINDOW, returned
with CREDIT frames), so neither side can make the other buffer without limit. Stdlib only, and
Python 3.9 compatible: the worker side runs in the app's own interpreter. Front and worker always
come from the same deployer checkout, so there is no version negotiation.
"""

from __future__ import annotations

import json
import json.scanner
import re
import struct
from typing import Any

HEADER = struct.Struct("!IBI")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 16 * 1024 * 1024  # a frame larger than this is a protocol error
CHUNK = 256 * 1024  # bodies are split into frames of at most this size
WINDOW = 1024 * 1024  # what a stream's response frames may cost in flight before CREDIT
FRAME_COST = 64  # what a body or message frame costs on top of its bytes: tiny frames add up

# control socket
CONFIG = 1  # front -> worker, JSON: what to load and how (config.py)
READY = 2  # worker -> front, JSON: the app imported (and its lifespan started)
FAILED = 3  # worker -> front, JSON: {"error", "traceback"}; the worker then exits
STOP = 4  # front -> worker: finish and exit

# data channels, per stream
REQUEST = 10  # front -> worker: u32 length, the JSON head (worker/request.py), header lines
BODY = 11  # both ways: a body chunk, more follows
BODY_LAST = 12  # both ways: the last body chunk (may be empty)
DISCONNECT = 13  # front -> worker: the client went away
PULL = 14  # worker -> front: the app wants the next request body chunk (or the disconnect)
START = 15  # worker -> front: u16 status, u32 length, JSON session delta or "", header lines
END = 16  # worker -> front, JSON {"session", "abort"} or empty: the app returned
CREDIT = 17  # front -> worker, JSON int: response bytes the client has taken
WS_ACCEPT = 20  # worker -> front, JSON {"subprotocol", "headers" (lines, latin-1), "session"}
WS_TEXT = 21  # both ways: one text message, UTF-8
WS_BYTES = 22  # both ways: one binary message
WS_CLOSE = 23  # both ways, JSON {"code", "reason"}

# A REQUEST's head is these fields, as bytes joined by NUL (none can hold one: HTTP's request line
# and XML cannot carry a NUL), then the header lines. No JSON but the session's: the head is
# encoded once per request, and joining bytes costs a fraction of encoding text.
HEAD_FIELDS = (
    "kind",  # b"http" | b"websocket"
    "method",  # b"" for a websocket
    "raw_path",  # as the request line had it (the worker decodes it as uvicorn does)
    "query",  # the raw query string
    "root",  # the context path, UTF-8 (ASGI root_path, WSGI SCRIPT_NAME)
    "scheme", "version",  # b"http" / b"https", b"1.1"
    "client_host", "client_port", "server_host", "server_port",  # b"" when unknown
    "body",  # b"0" no body, b"1" its first chunk follows unasked, b"2" only on PULL (100-continue)
    "session",  # b"-": the context has no sessions; b"": none yet; else a JSON snapshot
    "subprotocols",  # a websocket's, comma-separated
)
# A session snapshot is a list: id, node id (null when the same), created, accessed and last
# accessed (epoch milliseconds), max inactive interval (s), is new, attributes.
SNAPSHOT_FIELDS = ("id", "node_id", "created_ms", "accessed_ms", "last_accessed_ms",
                   "max_inactive", "is_new", "attributes")

KINDS = frozenset({CONFIG, READY, FAILED, STOP, REQUEST, BODY, BODY_LAST, DISCONNECT, PULL,
                   START, END, CREDIT, WS_ACCEPT, WS_TEXT, WS_BYTES, WS_CLOSE})

Frame = tuple[int, int, bytes]  # kind, stream, payload

_pack = HEADER.pack
_unpack_from = HEADER.unpack_from
_LENGTH = struct.Struct("!I")
_COLON = b": "
_HEADER_LINES = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+: [^\x00-\x08\x0a-\x1f\x7f]*\r\n)*")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS = struct.Struct("!HI")
_PAIRS = re.compile(rb"([^:\r\n]*): ([^\r\n]*)\r\n").findall  # a name holds no colon
def _no_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_encoder() -> Any:
    """One compact, NaN-refusing encoder for the life of the process. json.dumps builds a new C
    encoder on every call, which costs more than encoding a short list; this builds it once."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is not None:
        try:
            encoder = make(None, _no_default, json.encoder.encode_basestring_ascii, None, ":",
                           ",", False, False, False)
            return lambda value: "".join(encoder(value, 0))
        except TypeError:  # an interpreter whose private signature differs
            pass
    return json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False).encode


_encode = dumps = _json_encoder()


class ProtocolError(Exception):
    """The other side broke the wire's rules; the connection cannot be trusted any more."""


def frame(kind: int, stream: int, payload: bytes = b"") -> bytes:
    return _pack(len(payload), kind, stream) + payload


def json_frame(kind: int, stream: int, value: Any) -> bytes:
    payload = _encode(value).encode()
    return _pack(len(payload), kind, stream) + payload


def cost(payload_size: int) -> int:
    """What one body or websocket frame counts against its stream's WINDOW, on both sides."""
    return payload_size + FRAME_COST


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


def header_lines(headers: Any) -> bytes:
    """``[(name, value), ...]`` (bytes) as ``name: value\r\n`` lines."""
    if not headers:
        return b""
    return b"\r\n".join(map(_COLON.join, headers)) + b"\r\n"


def response_header_lines(pairs: Any, text: bool = False) -> bytes:
    """An app's response headers as header lines, checked as an HTTP server checks them: byte
    pairs (ASGI), or str pairs when ``text`` (WSGI, latin-1). One regex over all the lines, and
    one CRLF per pair: a value holding ``\r\nSet-Cookie: x`` reads as two good lines, so the
    regex alone would let it through. The look at each pair is only to name the bad one
    (ValueError)."""
    try:
        if text:
            if not all([type(k) is str and type(v) is str for k, v in pairs]):
                raise TypeError
            lines = "".join([f"{k}: {v}\r\n" for k, v in pairs]).encode("latin-1")
        else:
            lines = b"".join([k + b": " + v + b"\r\n" for k, v in pairs])
        if _HEADER_LINES.fullmatch(lines) and lines.count(b"\r\n") == len(pairs):
            return lines
    except (TypeError, ValueError):
        pass
    want = str if text else bytes
    for name, value in pairs:
        if not (isinstance(name, want) and _TOKEN.fullmatch(_latin1(name))):
            raise ValueError(f"invalid response header name {name!r}")
        if not isinstance(value, want) or _BAD_VALUE.search(_latin1(value)):
            raise ValueError(f"invalid value for response header {name!r}: {value!r}")
    raise ValueError(f"invalid response headers {pairs!r}")


def _latin1(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return b"\0"  # neither a token nor a value


def trusted_header_lines(block: bytes) -> list[tuple[bytes, bytes]]:
    """The reverse of header_lines, for lines the front made (a worker trusts its front)."""
    return _PAIRS(block)


def check_header_lines(block: bytes) -> None:
    """ProtocolError for anything that is not ``token: value`` lines (no CR, LF or other
    control character in a value): lines from the other side."""
    if not _HEADER_LINES.fullmatch(block):
        raise ProtocolError("malformed header lines")


def split_header_lines(block: bytes) -> list[tuple[bytes, bytes]]:
    """The reverse of header_lines, for lines from the other side (check_header_lines)."""
    check_header_lines(block)
    return trusted_header_lines(block)


def request_payload(fields: list[bytes], headers: Any) -> bytes:
    head = b"\0".join(fields)
    return _LENGTH.pack(len(head)) + head + header_lines(headers)


def split_request(payload: bytes) -> tuple[list[bytes], bytes]:
    """(the HEAD_FIELDS, the header lines) of a REQUEST payload."""
    (size,) = _LENGTH.unpack_from(payload)
    fields = payload[4:4 + size].split(b"\0")
    if len(fields) != len(HEAD_FIELDS):
        raise ProtocolError(f"a REQUEST head of {len(fields)} fields, not {len(HEAD_FIELDS)}")
    return fields, payload[4 + size:]


def start_frame(stream: int, status: int, session: Any, lines: bytes) -> bytes:
    delta = _encode(session).encode() if session is not None else b""
    payload = _STATUS.pack(status, len(delta)) + delta + lines
    return _pack(len(payload), START, stream) + payload


# A worker's own report (an app that failed, ...) on stderr: one line, so the front logs it as one
# record (its traceback with it) at ERROR; the app's own output stays line by line.
RECORD, UNIT = "\x1e", "\x1f"


def record_line(message: str) -> str:
    return RECORD + message.replace("\n", UNIT)


def split_record(line: str) -> str | None:
    """The message of a worker's report line, newlines restored; None for any other line."""
    return line[1:].replace(UNIT, "\n") if line.startswith(RECORD) else None


ERROR_BODY = b"Internal Server Error"  # what a client sees of an app that failed before starting
ERROR_LINES = b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % len(ERROR_BODY)


def end_frame(stream: int, session: Any, abort: bool) -> bytes:
    """END: the session's changes (or None) and whether the response was cut short."""
    payload: dict[str, Any] = {}
    if session:
        payload["session"] = session
    if abort:
        payload["abort"] = True
    return json_frame(END, stream, payload) if payload else _pack(0, END, stream)


def split_start(payload: bytes) -> tuple[int, Any, bytes]:
    """(status, session delta or None, header lines) of a START payload."""
    if len(payload) < _STATUS.size:
        raise ProtocolError("a START shorter than its fixed part")
    status, size = _STATUS.unpack_from(payload)
    end = _STATUS.size + size
    if end > len(payload):
        raise ProtocolError("a START whose session delta runs past its end")
    delta = loads(payload[_STATUS.size:end]) if size else None
    return status, delta, payload[end:]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


_strict = json.JSONDecoder(parse_constant=_reject_constant)
_scan = getattr(json.scanner, "c_make_scanner", json.scanner.make_scanner)(_strict)


def loads(payload: bytes) -> Any:
    """JSON from the other side: NaN and Infinity refused, nesting bounded by the decoder.
    The scanner is called directly: JSONDecoder.decode's own layers cost more than a short
    document, once or twice per request."""
    try:
        text = payload.decode("utf-8")
        start = len(text) - len(text.lstrip()) if text[:1].isspace() else 0
        value, end = _scan(text, start)
    except (ValueError, RecursionError, StopIteration) as exc:
        raise ProtocolError(f"bad JSON payload: {exc!r}") from None
    if end != len(text) and text[end:].strip():
        raise ProtocolError(f"bad JSON payload: extra data at {end}")
    return value


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
