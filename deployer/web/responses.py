"""The short answers the front gives itself: 404, 502, 503, 504, and redirect locations."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


async def plain(send: Any, status: int, body: bytes) -> None:
    """A whole text/plain response through an ASGI ``send``."""
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def absolute_location(scope: dict[str, Any], target: str) -> str:
    """``target`` (a path, or already a URL) as an absolute Location on the request's host."""
    location = quote(target, safe="/;=:@!$&'()*+,~%?#")
    if "://" in target:
        return location
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{location}"
