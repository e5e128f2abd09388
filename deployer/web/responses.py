"""The short plain-text answers the front gives itself: 404, 502, 503, 504."""

from __future__ import annotations

from typing import Any


async def plain(send: Any, status: int, body: bytes) -> None:
    """A whole text/plain response through an ASGI ``send``."""
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
