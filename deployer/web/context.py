"""A running web context: one webapp (or a redirect) under a context path, with its sessions.

``start()`` is synchronous like every LifeCycle; it loads the app and starts the session manager.
ASGI lifespan startup needs the serving event loop, so it runs there: ``await astart()`` does both
(load in a thread, then lifespan on the loop) and is what a deployer should call to learn about a
failing start before it swaps a route. If only ``start()`` was called, the lifespan startup runs
before the first request. A FAILED context answers 503 and keeps its error (with the traceback).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from deployer.errors import AppLoadError
from deployer.lifecycle import LifeCycle, State
from deployer.web.apps import LoadedApp
from deployer.web.lifespan import Lifespan
from deployer.web.tracking import (
    IDS_KEY,
    NEEDS_STORE,
    LazySession,
    SessionBinder,
    WsgiSessionHook,
)

log = logging.getLogger("deployer.web")
_STARTED = State.STARTED  # a module global: an enum member lookup costs more, once per request


@dataclass
class ContextInfo:
    """What the app sees as environ/scope["deployer.context"]."""

    context_path: str = "/"
    init_params: Mapping[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    display_name: str | None = None
    welcome_files: Sequence[str] = ("index.html", "index.htm")


@dataclass(frozen=True)
class Redirect:
    """MovedContextHandler: send every request under this context to ``new_context_path``."""

    new_context_path: str
    permanent: bool = False
    discard_path_info: bool = False
    discard_query: bool = False


async def _plain(send: Any, status: int, body: bytes,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    hdrs = [(b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


class WebContext(LifeCycle):
    """An ASGI app for requests already routed to this context."""

    def __init__(self, info: ContextInfo, virtual_hosts: list[str],
                 app_factory: Callable[[], LoadedApp] | None, sessions: Any = None,
                 tracking: Any = None, redirect: Redirect | None = None, name: str = "") -> None:
        super().__init__()
        self.info = info
        self.virtual_hosts = list(virtual_hosts)
        self.app_factory = app_factory
        self.sessions = sessions
        self.tracking = tracking
        self.redirect = redirect
        self.name = name or info.display_name or info.context_path
        self.loaded: LoadedApp | None = None
        self.in_flight = 0
        self._app: Any = None
        self._binder: Any = None
        self._sessions_started = False
        self._wsgi = False
        self._lifespan: Lifespan | None = None
        self._startup: asyncio.Future | None = None
        self._idle: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def do_start(self) -> None:
        if self.app_factory is None:
            return
        try:
            loaded = self.app_factory()
        except AppLoadError as exc:
            log.error("context %s failed to load: %s\n%s", self.name, exc, exc.traceback_text)
            raise
        except Exception as exc:
            tb = traceback.format_exc()
            log.error("context %s failed to load: %r\n%s", self.name, exc, tb)
            raise AppLoadError(f"{self.name}: {exc!r}", tb) from exc
        self.loaded = loaded
        app = loaded.asgi
        if self.sessions is not None:
            # started whatever the app, so a later version can take the sessions over;
            # static files never touch them
            self.sessions.start()
            self._sessions_started = True
            if loaded.kind != "static":
                self._binder = SessionBinder(self.sessions, self.tracking,
                                             self.info.context_path)
            if loaded.kind == "wsgi":
                app = app.with_hook(WsgiSessionHook(self._binder))
        self._app = app
        self._wsgi = loaded.kind == "wsgi"
        self._startup = None
        self._lifespan = Lifespan(loaded.asgi) if loaded.kind == "asgi" else None
        if self._lifespan is not None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop here: the lifespan starts before the first request
            self._startup = asyncio.ensure_future(self._run_startup())

    def do_stop(self) -> None:
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            lifespan.shutdown_from_any_thread()
        try:
            if self.sessions is not None and self._sessions_started:
                self._sessions_started = False
                self.sessions.stop()
        finally:
            if self.loaded is not None:
                self.loaded.unload()
            self._app = None

    async def astart(self) -> None:
        """Start with the app loaded off the loop and the lifespan run on it; raise on failure."""
        await asyncio.to_thread(self.start)
        await self.ensure_started()
        if self.state is State.FAILED:
            raise self.error  # type: ignore[misc]

    async def astop(self) -> None:
        """Stop with the lifespan shutdown run on this loop and the rest off it."""
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.shutdown()
        await asyncio.to_thread(self.stop)

    async def ensure_started(self) -> None:
        """Run the ASGI lifespan startup (once) if it is still pending."""
        if self._lifespan is None or self._lifespan.started:
            return
        if self._startup is None:
            self._startup = asyncio.ensure_future(self._run_startup())
        await asyncio.shield(self._startup)

    async def _run_startup(self) -> None:
        lifespan = self._lifespan
        if lifespan is None:
            return
        try:
            await lifespan.startup()
        except Exception as exc:
            err = exc if isinstance(exc, AppLoadError) else AppLoadError(
                f"{self.name}: lifespan startup failed: {exc!r}", traceback.format_exc())
            log.error("context %s failed to start: %s\n%s", self.name, err, err.traceback_text)
            self._lifespan, self._app = None, None  # requests meanwhile get a 503
            await asyncio.to_thread(self.stop)
            self._state, self.error = State.FAILED, err

    # -- requests --------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        app = self._app
        lifespan = self._lifespan
        if (app is None or self._state is not _STARTED or scope["type"] == "lifespan"
                or (lifespan is not None and not lifespan.started)):
            await self._unready(scope, receive, send)
            return
        self.in_flight += 1
        try:
            scope["deployer.context"] = self.info
            if lifespan is not None and lifespan.state:
                scope["state"] = dict(lifespan.state)
            binder = self._binder
            if binder is None:
                await app(scope, receive, send)
                return
            ids = binder.requested_ids(scope)
            if self._wsgi:
                scope[IDS_KEY] = ids  # looked up in the worker thread
                await app(scope, receive, send)
                return
            manager = binder.manager
            if len(ids) == 1:
                found = binder.try_get(ids[0])
                if found is NEEDS_STORE:
                    found = await binder.alookup(ids)
            else:
                found = await binder.alookup(ids) if ids else None
            lazy = scope["deployer.session"] = LazySession(manager, found)
            if binder.cookies:  # else no cookie is ever set: the app gets the server's send
                send = binder.sender(lazy, scope.get("scheme", "http"), send)
            try:
                await app(scope, receive, send)
            finally:
                if lazy.session is not None:
                    manager.complete(lazy.session)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0 and self._idle is not None:
                self._idle.set()

    async def _unready(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Everything but a plain request to a started context: redirects, nothing to serve,
        a lifespan still to run, FAILED or stopped (503)."""
        kind = scope["type"]
        if kind == "lifespan":
            return
        if self.redirect is not None:
            await self._redirect(scope, send)
            return
        if self.app_factory is None:  # a ContextHandler with nothing to serve
            if kind == "http":
                await _plain(send, 404, b"404 Not Found\n")
            return
        if self._lifespan is not None and not self._lifespan.started:
            await self.ensure_started()
            if self._state is State.STARTED and self._app is not None:
                await self(scope, receive, send)
                return
        if kind == "http":
            await _plain(send, 503, b"503 Service Unavailable\n")

    async def _redirect(self, scope: dict[str, Any], send: Any) -> None:
        r = self.redirect
        assert r is not None
        target = r.new_context_path
        if not r.discard_path_info:
            root = scope.get("root_path", "")
            info = scope["path"][len(root):] if scope["path"].startswith(root) else scope["path"]
            if info:
                target = target.rstrip("/") + "/" + info.lstrip("/")
        location = quote(target, safe="/;=:@!$&'()*+,~%?#")
        if "://" not in target:
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            if host is None:
                server = scope.get("server") or ("localhost", 80)
                host = f"{server[0]}:{server[1]}"
            location = f"{scope.get('scheme', 'http')}://{host}{location}"
        qs = scope.get("query_string", b"")
        if qs and not r.discard_query:
            location += "?" + qs.decode("latin-1")
        status = 301 if r.permanent else 302
        await _plain(send, status, b"", [(b"location", location.encode("latin-1"))])

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) until no request is in flight; True when drained."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.in_flight > 0:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if self._idle is None or self._idle.is_set():
                self._idle = asyncio.Event()  # shared by concurrent drains
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                return self.in_flight == 0
        return True
