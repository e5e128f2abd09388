"""The routing table: virtual host, then the longest context path on a segment boundary.

A table is immutable; a change builds a new one and ``Router.swap`` installs it with one reference
assignment, so a request sees either the old table or the new one, never half of each.
Virtual hosts follow Jetty: exact names, or ``*.example.com`` for one label under example.com,
compared without the port and case-insensitively; a route without hosts serves any host.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deployer.web.responses import error


def normalize_context_path(path: str) -> str:
    """"/" and "" mean the root (""); others keep one leading slash and no trailing one."""
    path = "/" + path.strip("/") if path else ""
    return "" if path == "/" else path


@dataclass(frozen=True)
class Route:
    context_path: str
    virtual_hosts: tuple[str, ...] | list[str] = ()
    target: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class _Entry:
    prefix: str
    exact: frozenset[str]
    wildcard: tuple[str, ...]  # ".example.com" suffixes
    any_host: bool
    target: Any

    def host_matches(self, host: str) -> bool:
        if self.any_host or host in self.exact:
            return True
        dot = host.find(".")
        return dot > 0 and host[dot:] in self.wildcard


def _entry(route: Route) -> _Entry:
    hosts = [h.strip().lower() for h in route.virtual_hosts if h and not h.startswith("@")]
    exact = frozenset(h for h in hosts if not h.startswith("*."))
    wildcard = tuple(h[1:] for h in hosts if h.startswith("*."))
    return _Entry(normalize_context_path(route.context_path), exact, wildcard,
                  not hosts, route.target)


class RouteTable:
    """Routes sorted so the first match wins: longer paths first, host-specific before any-host."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        entries = [_entry(r) for r in self.routes]
        entries.sort(key=lambda e: (-len(e.prefix), e.any_host))
        self._entries = tuple(entries)
        self.uses_hosts = not all(e.any_host for e in entries)

    def match(self, host: str, path: str) -> _Entry | None:
        for e in self._entries:
            p = e.prefix
            if p and not (path.startswith(p) and (len(path) == len(p) or path[len(p)] in "/;")):
                continue
            if e.host_matches(host):
                return e
        return None


def request_host(scope: dict[str, Any]) -> str:
    for k, v in scope["headers"]:
        if k == b"host":
            host = v.decode("latin-1").lower()
            if host.startswith("["):  # IPv6 literal
                return host[: host.find("]") + 1]
            return host.rsplit(":", 1)[0] if ":" in host else host
    server = scope.get("server")
    return str(server[0]).lower() if server else ""



class Router:
    """The ASGI app the server runs: dispatch to the matching route's target."""

    def __init__(self, table: RouteTable | Iterable[Route] = ()) -> None:
        self._table = table if isinstance(table, RouteTable) else RouteTable(table)

    @property
    def table(self) -> RouteTable:
        return self._table

    def swap(self, table: RouteTable | Iterable[Route]) -> RouteTable:
        """Install a new table (one reference assignment); return the old one."""
        new = table if isinstance(table, RouteTable) else RouteTable(table)
        old, self._table = self._table, new
        return old

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return  # contexts run their apps' lifespans themselves
        table = self._table
        entry = table.match(request_host(scope) if table.uses_hosts else "", scope["path"])
        if entry is None:
            scope["deployer.unrouted"] = True  # for the metrics: no context's request
            if kind == "http":
                await error(send, 404, scope)
            elif kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        if entry.prefix:  # the request's own scope: nothing else holds it
            scope["root_path"] = scope.get("root_path", "") + entry.prefix
        await entry.target(scope, receive, send)
