"""Trusted proxy headers: the scheme and client a TLS-terminating proxy saw.

uvicorn's ProxyHeadersMiddleware does the work for ``X-Forwarded-Proto``/``X-Forwarded-For`` and
decides whom to trust (addresses and networks, ``*`` for all). Jetty's ForwardedRequestCustomizer
also reads RFC 7239 ``Forwarded``; from a trusted peer that sends no X-Forwarded-* headers, its
``proto`` and ``for`` are handed to the same middleware as their X-Forwarded-* equivalents, so one
rule decides trust for both forms. Off unless ``deployer run --proxy-headers``.
"""

from __future__ import annotations

from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

_X_HEADERS = (b"x-forwarded-proto", b"x-forwarded-for")


def forwarded_pairs(value: str) -> list[dict[str, str]]:
    """``for=1.2.3.4;proto=https, for="[::1]:80"`` -> one dict per element, keys lower-case."""
    elements = []
    for element in value.split(","):
        pairs = {}
        for pair in element.split(";"):
            key, eq, val = pair.partition("=")
            if eq:
                pairs[key.strip().lower()] = val.strip().strip('"')
        elements.append(pairs)
    return elements


class ForwardedHeaders:
    """ASGI middleware: X-Forwarded-* and Forwarded from ``trusted`` peers set scheme and client."""

    def __init__(self, app: Any, trusted: str | list[str] = "127.0.0.1") -> None:
        self.app = app
        self._proxy = ProxyHeadersMiddleware(_nothing, trusted)
        self._trusted = self._proxy.trusted_hosts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            self.rewrite(scope)
        await self.app(scope, receive, send)

    def rewrite(self, scope: dict[str, Any]) -> None:
        """Set the scope's scheme and client from the trusted proxy's headers, in place (also
        for the requests the direct path, direct.py, answers without an ASGI app)."""
        client = scope.get("client")
        headers = scope["headers"]
        forwarded = [v for k, v in headers if k == b"forwarded"]
        if (forwarded and client and client[0] in self._trusted
                and not any(k in _X_HEADERS for k, _ in headers)):
            elements = forwarded_pairs(b",".join(forwarded).decode("latin-1"))
            added = []
            proto = elements[0].get("proto", "").lower()  # the proxy nearest the client
            if proto:
                added.append((b"x-forwarded-proto", proto.encode("latin-1")))
            hops = [e["for"] for e in elements if e.get("for")]
            if hops:
                added.append((b"x-forwarded-for", ", ".join(hops).encode("latin-1")))
            scope["headers"] = [*headers, *added]
        # uvicorn's middleware rewrites the scope in place and then awaits its app, which here
        # returns at once: driven one step, it has done all it does
        step = self._proxy(scope, None, None)
        try:
            step.send(None)
        except StopIteration:
            return
        step.close()
        raise RuntimeError("uvicorn's ProxyHeadersMiddleware awaited something before its app")


async def _nothing(scope: Any, receive: Any, send: Any) -> None:
    return None
