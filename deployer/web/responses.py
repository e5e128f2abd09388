"""The answers the front gives itself: short error pages (404, 502, 503, 504, ...) and redirect
locations.

As Jetty's ErrorHandler: a small HTML page with the status, its reason and the context path, never a
stack trace or a file path, and ``Cache-Control: must-revalidate,no-cache,no-store`` so no cache
keeps an outage. A client that prefers text (``Accept`` without ``text/html``: curl, wrk, load
balancers' probes) gets one line of plain text instead.
"""

from __future__ import annotations

from html import escape
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from deployer.worker.wire import header_lines

_CACHE = (b"cache-control", b"must-revalidate,no-cache,no-store")
_HTML = b"text/html; charset=utf-8"
_TEXT = b"text/plain; charset=utf-8"
_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{status} {reason}</title>
<style>body{{font:16px system-ui,sans-serif;margin:3em auto;max-width:40em;color:#222}}
h1{{font-size:1.4em}} p{{color:#555}}</style></head>
<body><h1>{status} {reason}</h1><p>{detail}</p></body></html>
"""


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def prefers_html(scope: dict[str, Any]) -> bool:
    """True when the client's Accept names text/html (a browser); False for curl's */* or none."""
    for k, v in scope.get("headers", ()):
        if k == b"accept":
            return b"text/html" in v
    return False


def error_body(status: int, scope: dict[str, Any]) -> tuple[bytes, bytes]:
    """(content type, body) of the error page for ``scope``'s client."""
    phrase = reason(status)
    if not prefers_html(scope):
        return _TEXT, f"{status} {phrase}\n".encode()
    detail = f"Context path: {escape(scope.get('root_path') or '/')}"
    page = _PAGE.format(status=status, reason=escape(phrase), detail=detail)
    return _HTML, page.encode()


def error_headers(ctype: bytes, body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", ctype), (b"content-length", b"%d" % len(body)), _CACHE]


def error_page(status: int, scope: dict[str, Any]) -> tuple[bytes, bytes]:
    """(header lines, body) of the error page, for an answer written as raw bytes where no ASGI
    cycle exists (a refused head, the direct path)."""
    ctype, body = error_body(status, scope)
    return header_lines(error_headers(ctype, body)), body


async def error(send: Any, status: int, scope: dict[str, Any],
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole error response (HTML or text, by the client's Accept) through an ASGI ``send``."""
    ctype, body = error_body(status, scope)
    await send({"type": "http.response.start", "status": status,
                "headers": [*error_headers(ctype, body), *(extra or ())]})
    await send({"type": "http.response.body", "body": body})


async def redirect(send: Any, status: int, scope: dict[str, Any], target: str,
                   query: bytes = b"") -> None:
    """A redirect (no body) to ``target`` made absolute on the request's host, ``query`` (the raw
    query string, if any) appended."""
    location = absolute_location(scope, target)
    if query:
        location += "?" + query.decode("latin-1")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


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
