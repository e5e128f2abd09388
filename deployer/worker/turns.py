"""Writing frames on an asyncio transport, one system call per turn of the event loop at most
after the first: shared by both ends of a multiplexed channel (the front's, an ASGI worker's)."""

from __future__ import annotations

from typing import Any


class TurnWriter:
    """Mixin for a protocol with ``loop`` and ``transport``: the first write of a turn of the
    loop leaves at once (the other side can start on it while this one goes on); the rest of
    the turn's writes leave together at its end. Corking every write made the two sides take
    turns instead of working at once; writing each one costs a system call per frame."""

    loop: Any
    transport: Any
    _out: list[bytes] | None = None  # a list while a flush is due this turn

    def write(self, data: bytes) -> None:
        out = self._out
        if out is None:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)
            self._out = []
            self.loop.call_soon(self._flush)
        else:
            out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, None
        if not out:
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))
