"""Session tracking over HTTP: the JSESSIONID cookie and the ``;jsessionid=`` path parameter.

The names and defaults are Jetty 9.3's (JETTY.md §3.2). A requested id is checked with
``SessionIdManager.is_valid`` before it reaches the manager, so a cookie like ``../../etc/passwd``
never touches a store. The cookie is set when the request created the session, and re-sent when
``refresh_cookie_age`` says so (only with a positive ``max_age``, as in Jetty).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from deployer.sessions.manager import NEEDS_STORE, SessionManager
from deployer.sessions.session import LazySession, Session

_NO_IDS: tuple[str, ...] = ()
# The parsed-Cookie cache is keyed by client bytes: bound it by bytes, and never keep a large
# header (a browser's Cookie header is far shorter; parsing a rare large one again is cheap).
_CACHE_BYTES = 1 << 20
_CACHE_MAX_HEADER = 2048


@dataclass(frozen=True)
class SessionTracking:
    """Cookie and URL settings of one context's session handler (Jetty names in comments)."""

    cookie_name: str = "JSESSIONID"  # sessionCookie
    path_parameter: str | None = "jsessionid"  # sessionIdPathParameterName ("none" disables)
    http_only: bool = False  # httpOnly
    secure_request_only: bool = True  # secureRequestOnly: Secure on HTTPS requests
    using_cookies: bool = True  # usingCookies
    domain: str | None = None  # org.eclipse.jetty.servlet.SessionDomain
    path: str | None = None  # org.eclipse.jetty.servlet.SessionPath (None: the context path)
    max_age: int = -1  # org.eclipse.jetty.servlet.MaxAge (-1: a browser-session cookie)
    refresh_cookie_age: int = 0  # refreshCookieAge (s)
    secure: bool = False  # SessionCookieConfig secure: Secure even on plain HTTP (TLS at a proxy)
    same_site: str | None = None  # SameSite (Jetty 12), or __SAME_SITE_*__ in the comment (9.4)

    def __post_init__(self) -> None:
        if not self.cookie_name or any(c in self.cookie_name for c in " ;,=\t\r\n"):
            raise ValueError(f"invalid session cookie name {self.cookie_name!r}")

    @property
    def url_parameter(self) -> str | None:
        p = self.path_parameter
        return None if not p or p.lower() == "none" else p


def parse_cookie_values(header: str, name: str) -> list[str]:
    """Every value of cookie ``name`` in a Cookie header, in order (quotes removed)."""
    values = []
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            values.append(value.strip().strip('"'))
    return values


def strip_path_parameter(path: str, name: str) -> tuple[str, str | None]:
    """Remove ``;name=value`` from a path; return the new path and the (last) value."""
    marker = ";" + name + "="
    found = None
    while (i := path.find(marker)) >= 0:
        j = i + len(marker)
        end = j
        while end < len(path) and path[end] not in ";/?#":
            end += 1
        found = path[j:end]
        path = path[:i] + path[end:]
    return path, found


class SessionBinder:
    """One context's tracking: finds requested ids, hands the app a LazySession, sets cookies."""

    def __init__(self, manager: SessionManager, tracking: SessionTracking | None,
                 context_path: str) -> None:
        self.manager = manager
        self.tracking = tracking or SessionTracking()
        self.id_manager = getattr(manager, "id_manager", None)
        cp = context_path.rstrip("/")
        self.cookie_path = self.tracking.path or cp or "/"
        self._cookie_set: dict[str, float] = {}
        name = re.escape(self.tracking.cookie_name.encode("latin-1"))
        self._cookie_re = re.compile(rb'(?:^|;)[ \t]*' + name + rb'[ \t]*=[ \t]*"?([^;",\s]*)')
        self._valid = self.id_manager.is_valid if self.id_manager is not None else _plausible
        self._parsed: dict[bytes, tuple[str, ...]] = {}  # Cookie header -> valid ids (pure)
        self.parsed_bytes = 0  # the keys' total length, at most _CACHE_BYTES
        self._param = self.tracking.url_parameter
        self.cookies = self.tracking.using_cookies
        t = self.tracking
        # a cookie on a response that did not create the session: only to refresh it
        self.refresh = t.using_cookies and t.max_age > 0 and t.refresh_cookie_age > 0
        # requested_ids checked every id with the manager's own id_manager: no second check
        self.try_get = (getattr(manager, "try_get_valid", manager.try_get)
                        if self.id_manager is not None else manager.try_get)
        # a store on the network (sessions/cache.py): loads, writes and the flush before the
        # response head are awaited on the event loop instead of run on a thread
        self.aget = getattr(manager, "aget", None)
        self.acomplete = getattr(manager, "acomplete", None)
        self.before_commit = getattr(manager, "before_commit", None)

    # -- finding the requested session -------------------------------------------------------
    def requested_ids(self, scope: dict[str, Any]) -> Sequence[str]:
        """Cookie values first, then the URL parameter (which is stripped from the path).
        Every id passed the id manager's check; the tuple may be shared, as it is immutable."""
        ids = _NO_IDS
        if self.cookies:
            parsed = self._parsed
            for k, v in scope["headers"]:
                if k == b"cookie":
                    found = parsed.get(v)
                    if found is None:
                        found = self._cookie_ids(v)
                    ids = ids + found if ids else found
        param = self._param
        if param and ";" in scope["path"]:
            path, found_id = strip_path_parameter(scope["path"], param)
            scope["path"] = path
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = strip_path_parameter(raw.decode("latin-1"), param)[0].encode(
                    "latin-1")
            if found_id and self._valid(found_id):
                ids = (*ids, found_id)
        return ids

    def _cookie_ids(self, header: bytes) -> tuple[str, ...]:
        valid = self._valid
        ids = tuple(i for m in self._cookie_re.findall(header) if valid(i := m.decode("latin-1")))
        size = len(header)
        if size <= _CACHE_MAX_HEADER:
            if self.parsed_bytes + size > _CACHE_BYTES:
                self._parsed.clear()
                self.parsed_bytes = 0
            self._parsed[header] = ids
            self.parsed_bytes += size
        return ids

    def found_now(self, ids: Sequence[str]) -> Session | None | object:
        """The requested session from memory, without waiting: None when no id was asked for or
        it is unknown; NEEDS_STORE when a store must be read (or several ids tried: alookup)."""
        if not ids:
            return None
        return self.try_get(ids[0]) if len(ids) == 1 else NEEDS_STORE

    def lazy(self, found: Session | None, ids: Sequence[str]) -> LazySession:
        """What the app sees; a session it creates may take the id the request asked for."""
        return LazySession(self.manager, found, ids[0] if ids and found is None else None)

    async def alookup(self, ids: Sequence[str]) -> Session | None:
        """Event-loop lookup: ``try_get`` first, a thread only when the store must be read."""
        for sid in ids:
            s = self.try_get(sid)
            if s is NEEDS_STORE:
                s = await (self.aget(sid) if self.aget is not None
                           else asyncio.to_thread(self.manager.get, sid))
            if s is not None:
                return s  # type: ignore[return-value]
        return None

    async def complete(self, session: Session) -> None:
        """The end of a request for its session: awaited on the loop for a store on the network,
        else the manager's own ``complete``."""
        if self.acomplete is not None:
            await self.acomplete(session)
        else:
            self.manager.complete(session)

    # -- the response side ---------------------------------------------------------------------
    def response_cookie(self, lazy: LazySession, scheme: str) -> list[tuple[bytes, bytes]]:
        """The Set-Cookie this response needs: for a session it created, or a refresh."""
        if self.cookies and (self.refresh or lazy.created_now):
            return self.set_cookie(lazy, scheme)
        return []

    def set_cookie(self, lazy: LazySession, scheme: str) -> list[tuple[bytes, bytes]]:
        """The Set-Cookie header this response needs, if any."""
        t = self.tracking
        s = lazy.session
        if not t.using_cookies or s is None or not (lazy.created_now or t.max_age > 0 and
                                                    t.refresh_cookie_age > 0) or not s.is_valid:
            return []
        now = time.time()
        if not lazy.created_now:
            last = self._cookie_set.get(s.id, s.created)
            if now - last <= t.refresh_cookie_age:
                return []
        if t.max_age > 0 and t.refresh_cookie_age > 0:
            if len(self._cookie_set) > 100_000:
                self._cookie_set.clear()  # fall back to creation times: at worst a spare refresh
            self._cookie_set[s.id] = now
        return [(b"set-cookie", self.cookie(s.node_id, scheme == "https", now).encode("latin-1"))]

    def cookie(self, value: str, secure: bool, now: float | None = None) -> str:
        t = self.tracking
        parts = [f"{t.cookie_name}={value}", f"Path={self.cookie_path}"]
        if t.domain:
            parts.append(f"Domain={t.domain}")
        if t.max_age >= 0:
            when = (time.time() if now is None else now) + t.max_age
            parts += [f"Max-Age={t.max_age}", f"Expires={formatdate(when, usegmt=True)}"]
        if t.secure or secure and t.secure_request_only:
            parts.append("Secure")
        if t.http_only:
            parts.append("HttpOnly")
        if t.same_site:
            parts.append(f"SameSite={t.same_site}")
        return "; ".join(parts)


def _plausible(sid: str) -> bool:
    return 0 < len(sid) <= 256 and all(c.isalnum() or c in "-_." for c in sid)

