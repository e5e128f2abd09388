"""The routing table: virtual host, then the longest context path on a segment boundary.

A table is immutable; a change builds a new one and ``Router.swap`` installs it with one reference
assignment, so a request sees either the old table or the new one, never half of each.
Virtual hosts follow Jetty 9.4: exact names, or ``*.example.com`` for one label under example.com,
compared without the port, case-insensitively and without a trailing dot; ``@name`` admits requests
on the connector (listener) called name, ``host@name`` that host on that connector; a route without
hosts serves any host. Before matching, dot segments are resolved (``/a/../b`` is ``/b``; one that
climbs above the root is a 400), and ``/ctx`` is redirected to ``/ctx/`` (JETTY.md §10).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deployer.web.responses import error, redirect


def normalize_context_path(path: str) -> str:
    """"/" and "" mean the root (""); others keep one leading slash and no trailing one."""
    path = "/" + path.strip("/") if path else ""
    return "" if path == "/" else path


@dataclass(frozen=True)
class Route:
    context_path: str
    virtual_hosts: tuple[str, ...] | list[str] = ()
    target: Any = field(default=None, compare=False)


def normalize_host(host: str) -> str:
    """Jetty's normalizeHostname: case-folded, without surrounding blanks or a trailing dot."""
    host = host.strip().lower()
    return host[:-1] if host.endswith(".") else host


def split_virtual_host(entry: str) -> tuple[str, str | None]:
    """``host@connector`` -> (host, connector); ``@connector`` -> ("", connector)."""
    host, at, connector = entry.strip().partition("@")
    return normalize_host(host), (connector.strip().lower() if at else None)


def admitted_hosts(virtual_hosts: Iterable[str], connector: str | None) -> list[str] | None:
    """The hosts a route is served on through ``connector`` (the listener's name, None: unnamed):
    [] for any host (no entry names one, or a bare ``@name`` admits this connector); None when
    every entry names another connector, so nothing can reach it."""
    entries = [split_virtual_host(h) for h in virtual_hosts if h and h.strip()]
    named = (connector or "").lower()
    mine = [h for h, c in entries if c is None or c and c == named]
    if entries and not mine:
        return None
    hosts = [h for h in mine if h]
    return [] if len(hosts) < len(mine) else hosts


def reachable(virtual_hosts: Iterable[str], connector: str | None) -> bool:
    """False when every entry names a connector other than ``connector``: nothing can reach it."""
    return admitted_hosts(virtual_hosts, connector) is not None


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


def _entry(route: Route, connector: str | None) -> _Entry | None:
    """The route as this connector sees it; None when no entry admits this connector."""
    hosts = admitted_hosts(route.virtual_hosts, connector)
    if hosts is None:
        return None
    any_host = not hosts
    exact = frozenset(h for h in hosts if not h.startswith("*."))
    wildcard = tuple(h[1:] for h in hosts if h.startswith("*."))
    return _Entry(normalize_context_path(route.context_path), exact, wildcard,
                  any_host, route.target)


class RouteTable:
    """Routes sorted so the first match wins: longer paths first, host-specific before any-host.
    ``connector`` is the name of the listener the table serves (None: unnamed, as in Jetty)."""

    def __init__(self, routes: Iterable[Route] = (), connector: str | None = None) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        self.connector = connector
        entries = [e for e in (_entry(r, connector) for r in self.routes) if e is not None]
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
            return normalize_host(host.rsplit(":", 1)[0] if ":" in host else host)
    server = scope.get("server")
    return normalize_host(str(server[0])) if server else ""


def resolve_dot_segments(path: str) -> str | None:
    """``/a/./b/../c`` -> ``/a/c`` (a trailing slash kept); None when ``..`` climbs above ``/``."""
    if "/." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "..":
            if not out:
                return None
            out.pop()
            if last:
                out.append("")
        elif seg == ".":
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)



class Router:
    """The ASGI app the server runs: dispatch to the matching route's target. ``connector`` is
    the name of the listener it serves, what ``@name`` virtual hosts match."""

    def __init__(self, table: RouteTable | Iterable[Route] = (), *,
                 connector: str | None = None) -> None:
        self.connector = connector
        self._table = self._table_of(table)

    def _table_of(self, table: RouteTable | Iterable[Route]) -> RouteTable:
        if isinstance(table, RouteTable) and table.connector == self.connector:
            return table
        routes = table.routes if isinstance(table, RouteTable) else table
        return RouteTable(routes, self.connector)

    @property
    def table(self) -> RouteTable:
        return self._table

    def swap(self, table: RouteTable | Iterable[Route]) -> RouteTable:
        """Install a new table (one reference assignment); return the old one."""
        new = self._table_of(table)
        old, self._table = self._table, new
        return old

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return  # contexts run their apps' lifespans themselves
        path = scope["path"]
        if "/." in path:
            path = resolve_dot_segments(path)
            if path is None:
                if kind == "http":
                    await error(send, 400, scope)
                else:
                    await send({"type": "websocket.close", "code": 1008})
                return
            scope["path"] = path
            scope.pop("raw_path", None)  # the raw form still has the dot segments
        table = self._table
        entry = table.match(request_host(scope) if table.uses_hosts else "", path)
        if entry is None:
            scope["deployer.unrouted"] = True  # for the metrics: no context's request
            if kind == "http":
                await error(send, 404, scope)
            elif kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        if entry.prefix:  # the request's own scope: nothing else holds it
            if (len(path) == len(entry.prefix) and kind == "http"
                    and not getattr(entry.target, "allow_null_path_info", False)):
                # Jetty's ContextHandler: /ctx is 302 to /ctx/ whatever serves the context, so
                # relative links resolve the same for every app and framework (JETTY.md §10)
                await redirect(send, 302, scope, path + "/", scope.get("query_string", b""))
                return
            scope["root_path"] = scope.get("root_path", "") + entry.prefix
        await entry.target(scope, receive, send)
