"""A running web context: one webapp (or a redirect) under a context path, with its sessions.

A Python webapp runs in a WorkerPool of its own; static files are served here; a
MovedContextHandler redirects. Starting is two steps, so a deployer can hand sessions over in
between: ``await start_workers()`` (the pool is up and every worker READY, or AppLoadError), then
``start()`` (the session manager; may read a store, so call it off the event loop). A context
whose pool failed, or that is FAILED or stopped, answers 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from deployer.errors import AppLoadError, SessionError
from deployer.lifecycle import LifeCycle, State
from deployer.sessions.session import LazySession
from deployer.web.channel import Stream
from deployer.web.exchange import Exchange, ResponseAborted
from deployer.web.pool import WorkerPool
from deployer.web.process import WorkerSpec
from deployer.web.responses import error, redirect
from deployer.web.static import StaticFiles
from deployer.web.tracking import NEEDS_STORE, SessionBinder

log = logging.getLogger("deployer.web")
_STARTED = State.STARTED  # a module global: an enum member lookup costs more, once per request


@dataclass
class ContextInfo:
    """The context as the front knows it (workers get the same as their deployer.context)."""

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


class WebContext(LifeCycle):
    """An ASGI app for requests already routed to this context.

    ``app`` is a WorkerSpec (a Python webapp), a StaticFiles, or None (nothing to serve).
    """

    def __init__(self, info: ContextInfo, virtual_hosts: list[str],
                 app: WorkerSpec | StaticFiles | None, sessions: Any = None,
                 tracking: Any = None, redirect: Redirect | None = None, name: str = "",
                 on_failed: Callable[[WebContext, AppLoadError], None] | None = None) -> None:
        super().__init__()
        self.info = info
        self.virtual_hosts = list(virtual_hosts)
        self.spec = app if isinstance(app, WorkerSpec) else None
        self.static = app if isinstance(app, StaticFiles) else None
        self.sessions = sessions
        self.tracking = tracking
        self.redirect = redirect
        self.name = name or info.display_name or info.context_path
        self.on_failed = on_failed
        self.pool: WorkerPool | None = None
        self.in_flight = 0
        self._binder: SessionBinder | None = None
        self._sessions_started = False
        self._idle: asyncio.Event | None = None
        self._websocket_refused = False
        self.cut = 0  # requests cut by a drain timeout

    @property
    def allow_null_path_info(self) -> bool:
        """A MovedContextHandler answers ``/ctx`` itself; every other context gets ``/ctx/``."""
        return self.redirect is not None

    @property
    def kind(self) -> str:
        if self.pool is not None and self.pool.kind:
            return self.pool.kind
        return "python" if self.spec else "static" if self.static else "none"

    # -- lifecycle -------------------------------------------------------------------------------
    async def start_workers(self) -> None:
        """Start the pool and wait until every worker is READY; AppLoadError on failure (the
        caller reports it). Nothing to do for other contexts."""
        if self.spec is None or self.pool is not None:
            return
        pool = WorkerPool(self.spec, self._pool_failed)
        try:
            await pool.start()
        except AppLoadError as exc:
            self.fail(exc)
            raise
        self.pool = pool

    def fail(self, error: AppLoadError) -> None:
        """FAILED without having started: it answers 503 and keeps its error."""
        with self._lock:
            self._state, self.error = State.FAILED, error

    def _pool_failed(self, error: AppLoadError) -> None:
        self.error = error
        if self.on_failed is not None:
            self.on_failed(self, error)

    def do_start(self) -> None:
        if self.sessions is not None:
            # started whatever the app, so a later version can take the sessions over;
            # static files never touch them
            self.sessions.start()
            self._sessions_started = True
            if self.spec is not None:
                self._binder = SessionBinder(self.sessions, self.tracking,
                                             self.info.context_path)

    def do_stop(self) -> None:
        if self.sessions is not None and self._sessions_started:
            self._sessions_started = False
            self.sessions.stop()

    async def astart(self) -> None:
        """Workers, then sessions; raise on failure."""
        await self.start_workers()
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """Stop the workers (they were drained first), then the sessions, off the loop."""
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.stop()
        await asyncio.to_thread(self.stop)

    # -- requests --------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._state is not _STARTED or scope["type"] == "lifespan":
            await self._unready(scope, send)
            return
        static, pool = self.static, self.pool
        if static is None and (pool is None or pool.state != "serving"):
            await self._unready(scope, send)
            return
        self.in_flight += 1
        binder = self._binder
        lazy = None
        try:
            if scope["type"] == "websocket" and (static is not None or
                                                 pool.kind != "asgi"):  # type: ignore[union-attr]
                await self._refuse_websocket(send)
            elif static is not None:
                await static(scope, receive, send)
            else:
                cookies = None
                if binder is not None:
                    ids = binder.requested_ids(scope)
                    found = binder.found_now(ids)
                    if found is NEEDS_STORE:
                        try:
                            found = await binder.alookup(ids)
                        except SessionError:  # the manager logged it, once per outage
                            await self._unready(scope, send)  # 503, as for a failed context
                            return
                    lazy = binder.lazy(found, ids)  # type: ignore[arg-type]
                    cookies = binder.response_cookie
                await Exchange(pool, scope, receive, send, lazy, self.name,  # type: ignore[arg-type]
                               cookies, binder.before_commit if binder else None).run()
        except asyncio.CancelledError:  # the server's drain ran out: uvicorn cancels what is left
            await self._cut(scope, send)
        finally:
            if lazy is not None and lazy.session is not None:
                await binder.complete(lazy.session)  # type: ignore[union-attr]
            self.in_flight -= 1
            if self.in_flight == 0 and self._idle is not None:
                self._idle.set()

    # -- requests the direct path (direct.py) answers ---------------------------------------
    def open_direct(self, scope: dict[str, Any],
                    head: Callable[[LazySession | None], bytes],
                    ) -> tuple[Stream, LazySession | None] | None:
        """A request direct.py may answer without an ASGI cycle: its stream to a worker (the
        REQUEST, made by ``head`` from the session, already sent) and its session; None when it
        needs what only the ASGI path does (a worker to wait for, a session or a store to
        await, static files, a redirect...). The caller then ends it with ``close_direct``, or
        hands it to ``follow_direct``."""
        pool = self.pool
        if (self._state is not _STARTED or pool is None or pool.state != "serving"
                or self.static is not None):
            return None
        binder = self._binder
        lazy = None
        if binder is not None:
            if binder.acomplete is not None or binder.before_commit is not None:
                return None  # a store on the network is awaited
            ids = binder.requested_ids(scope)
            found = binder.found_now(ids)
            if found is NEEDS_STORE:
                return None
            lazy = binder.lazy(found, ids)  # type: ignore[arg-type]
        stream = pool.open(lambda: head(lazy))
        if stream is None:  # every worker busy: the ASGI path waits its turn
            if lazy is not None and lazy.session is not None:
                binder.manager.complete(lazy.session)  # type: ignore[union-attr]
            return None
        self.in_flight += 1
        return stream, lazy

    def close_direct(self, lazy: LazySession | None) -> None:
        """The end of a request ``open_direct`` began (its session manager is not awaited)."""
        if lazy is not None and lazy.session is not None:
            self.sessions.complete(lazy.session)
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def follow_direct(self, scope: dict[str, Any], receive: Any, send: Any,
                            stream: Stream, lazy: LazySession | None,
                            timer: asyncio.TimerHandle | None, disconnected: bool) -> None:
        """A request ``open_direct`` began whose answer needs the ASGI path after all (a
        streamed body, a worker that died...): an Exchange takes it from the frames its stream
        holds."""
        binder = self._binder
        exchange = Exchange(self.pool, scope, receive, send, lazy,  # type: ignore[arg-type]
                            self.name, binder.response_cookie if binder else None)
        exchange.body_done = True
        exchange.disconnected = disconnected
        try:
            await exchange.follow(stream, timer)
        except asyncio.CancelledError:
            await self._cut(scope, send)
        finally:
            self.close_direct(lazy)

    def note_cut(self) -> None:
        self.cut += 1
        if self.cut == 1:
            log.warning("%s: the drain timeout ended with requests in flight: answered 503 (or "
                        "cut off, if their answer had started)", self.name)

    async def _cut(self, scope: dict[str, Any], send: Any) -> None:
        """A request still running when the drain timeout ends: 503 (the server is stopping,
        so uvicorn adds ``Connection: close``) if nothing was answered yet, else its connection
        is cut. Not re-raised: it is an expected end, not "Exception in ASGI application" and a
        500 with a traceback; and a request that waited for a worker never reaches one."""
        self.note_cut()
        if scope["type"] != "http":
            return
        try:
            await error(send, 503, scope)
        except RuntimeError:  # the answer had started
            raise ResponseAborted(f"{self.name}: cut off by the drain timeout") from None

    async def _refuse_websocket(self, send: Any) -> None:
        """Static files and WSGI apps take no websockets: a close before accept (the client gets
        403), logged once per context so a client retrying in a loop does not flood the log."""
        if not self._websocket_refused:
            self._websocket_refused = True
            log.warning("%s: websocket upgrade refused (403): a %s context takes no websockets",
                        self.name, self.kind)
        await send({"type": "websocket.close", "code": 1003})

    async def _unready(self, scope: dict[str, Any], send: Any) -> None:
        """Everything but a request to a started app: redirects, nothing to serve, 503."""
        kind = scope["type"]
        if kind == "lifespan":
            return
        if self.redirect is not None:
            await self._redirect(scope, send)
            return
        if kind != "http":
            await send({"type": "websocket.close", "code": 1013})
            return
        if self.spec is None and self.static is None:  # a ContextHandler with nothing to serve
            await error(send, 404, scope)
            return
        await error(send, 503, scope)

    async def _redirect(self, scope: dict[str, Any], send: Any) -> None:
        r = self.redirect
        assert r is not None
        target = r.new_context_path
        if not r.discard_path_info:
            root = scope.get("root_path", "")
            info = scope["path"][len(root):] if scope["path"].startswith(root) else scope["path"]
            if info:
                target = target.rstrip("/") + "/" + info.lstrip("/")
        await redirect(send, 301 if r.permanent else 302, scope, target,
                       b"" if r.discard_query else scope.get("query_string", b""))

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
                async with asyncio.timeout(remaining):
                    await self._idle.wait()
            except TimeoutError:
                return self.in_flight == 0
        return True
