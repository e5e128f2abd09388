"""Deploy, redeploy, undeploy: build the new version, then swap the route, then stop the old one.

Jetty undeploys first and then parses the new descriptor (JETTY.md §2.5), so every redeploy leaves a
gap of 404s and a broken edit takes the site down. Here the new version is parsed, validated and
built on a thread, its worker processes started (every one READY: the app imported, its lifespan
started) while the old one serves; only then do the sessions move to it (SessionManager.take_over),
the route table is swapped in one assignment, and the old version drains (bounded) and stops its
workers. If anything fails, the old version keeps serving and the error stays in the App's status.
A context whose workers then keep dying is marked FAILED here too (it answers 503).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.deploy.app import App, AppState, Claims
from deployer.deploy.build import WorkerDefaults, build_context, resolve
from deployer.deploy.provider import Change
from deployer.deploy.watch import Dependencies
from deployer.descriptor.loader import load_descriptor
from deployer.descriptor.specs import ContextSpec, ServerSpec, SessionIdManagerSpec
from deployer.errors import AppLoadError, ConflictError, DeployerError, SessionError
from deployer.lifecycle import State
from deployer.sessions.manager import SessionIdManager, SessionScheduler
from deployer.web.router import (
    Route,
    Router,
    admitted_hosts,
    normalize_context_path,
    reachable,
)

log = logging.getLogger("deployer.deploy")
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # seconds before a store fault's first and longest retry


@dataclass
class _Built:
    """A new version, started and ready to be swapped in."""

    path: Path
    context: Any
    sessions: Any
    spec: ContextSpec
    claims: Claims
    dependencies: Dependencies
    started: float
    took: float = 0.0  # seconds to parse, build and start it


@dataclass
class _Failed:
    path: Path
    error: str
    started: float
    conflict: Path | None = None
    took: float = 0.0
    retry: bool = False  # a session store fault (not the descriptor's): tried again by itself


def _ms(since: float, extra: float = 0.0) -> str:
    return f"{(time.perf_counter() - since + extra) * 1000:.1f} ms"


def _claims(spec: ContextSpec, store: Path | None, connector: str | None) -> Claims:
    """The (path, host) pairs the context takes on this server's listener, as the router will
    admit them ("" for any host); none when no entry admits the listener."""
    hosts = admitted_hosts(spec.virtual_hosts, connector)
    path = normalize_context_path(spec.context_path) or "/"
    pairs = frozenset() if hosts is None else frozenset((path, h) for h in hosts or [""])
    return Claims(pairs, store)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AppLoadError):
        return f"{exc}\n{exc.traceback_text}".rstrip()
    if isinstance(exc, DeployerError):
        return str(exc)
    return "".join(traceback.format_exception(exc)).rstrip()


def _check_conflicts(
    path: Path, claims: Claims, routes: dict[tuple[str, str], Path], stores: dict[Path, Path]
) -> None:
    """Two descriptors may not serve the same path on the same host, nor share a session store."""
    for key in sorted(claims.routes):
        other = routes.get(key)
        if other is not None and other != path:
            ctx, host = key
            where = f"context path {ctx}" + (f" on virtual host {host}" if host else "")
            raise ConflictError(f"{path}: {where} is already deployed by {other}; refused", other)
    if claims.store is not None:
        other = stores.get(claims.store)
        if other is not None and other != path:
            raise ConflictError(
                f"{path}: storeDirectory {claims.store} is already used by {other} "
                "(their sessions would mix); refused", other,
            )


class DeploymentManager:
    """Owns every App and the route table; apply() takes the provider's batches one at a time."""

    def __init__(
        self,
        router: Router,
        *,
        properties: Mapping[str, str] | None = None,
        system_properties: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        drain_timeout: float = 10.0,
        id_manager: SessionIdManager | None = None,
        worker_name: str | None = None,
        worker_defaults: WorkerDefaults | None = None,
        server: ServerSpec | None = None,
    ) -> None:
        self.router = router
        self.properties = dict(properties or {})
        self.system_properties = dict(system_properties or {})
        self.environ = dict(os.environ if environ is None else environ)
        self.drain_timeout = drain_timeout
        self.worker_defaults = worker_defaults or WorkerDefaults()
        # the one "Server" id every descriptor sees; its id manager is server-wide, as in Jetty
        # (a server descriptor, `run --config`, brings its own: session beans, id manager)
        self.server_spec = server or ServerSpec(session_id_manager=SessionIdManagerSpec())
        if worker_name is not None:
            self.server_spec.session_id_manager.worker_name = worker_name
        self.id_manager = id_manager or SessionIdManager(
            self.server_spec.session_id_manager.worker_name
        )
        # one pool for every context's scavenger and saver, as Jetty's HouseKeeper
        self.scheduler = SessionScheduler()
        self.apps: dict[Path, App] = {}
        self.counts: Counter[str] = Counter()
        self._retiring: set[asyncio.Task[None]] = set()
        self._retries: set[asyncio.Task[None]] = set()
        self._retry_delays: dict[Path, float] = {}
        self._lock = asyncio.Lock()
        # hears "deploy", "redeploy", "failure", "undeploy" with the App and the seconds it took
        self.on_event: Callable[[str, App, float], None] | None = None

    def dependencies(self, path: Path) -> Dependencies:
        """What redeploys the version of ``path`` that serves (or failed at start)."""
        app = self.apps.get(path)
        return app.dependencies if app is not None else Dependencies()

    def status(self) -> list[dict[str, Any]]:
        return [app.status() for _, app in sorted(self.apps.items())]

    # -- the batch ---------------------------------------------------------------------------------
    async def apply(self, changes: list[Change]) -> None:
        """Removals first (a rename frees its route and store before the add), then builds."""
        async with self._lock:
            log.debug("changes: %s", ", ".join(f"{c.kind} {c.path.name}" for c in changes))
            removed = [c.path for c in changes if c.kind == "remove"]
            built = [c.path for c in changes if c.kind != "remove" and not self._held(c)]
            if removed:
                await self._undeploy(removed)
            touched = set(removed) | set(built)
            retry = [p for p, a in sorted(self.apps.items())
                     if a.state is AppState.REFUSED and a.conflicts_with in touched
                     and p not in touched]
            if built or retry:
                self.scheduler.start()  # idempotent
                prepared = await asyncio.to_thread(self._prepare_all, built + retry)
                results = await asyncio.gather(*(self._start(r) for r in prepared))
                self._install(list(results))

    def _held(self, change: Change) -> bool:
        """A stopped context waits for start; an undeployed one comes back when its file
        changes (the provider's first sight of a file, "add", is no change)."""
        app = self.apps.get(change.path)
        if app is None or app.held is None:
            return False
        if app.held is AppState.UNDEPLOYED and change.kind == "change":
            app.held = None
            return False
        log.info("%s changed; stopped until started", app.path)
        return True

    def _emit(self, kind: str, app: App, seconds: float) -> None:
        if self.on_event is not None:
            self.on_event(kind, app, seconds)

    # -- an operator's actions (the manager listener) ----------------------------------------------
    def app(self, path: Path) -> App:
        app = self.apps.get(path)
        if app is None:
            raise KeyError(path)
        return app

    async def redeploy(self, path: Path) -> App:
        """Build the descriptor again (build, swap, stop), as if its files had changed; a
        stopped or undeployed context starts."""
        self.app(path).held = None
        await self.apply([Change("change", path)])
        return self.app(path)

    async def start_context(self, path: Path) -> App:
        """Start a stopped, undeployed or failed context; one that answers is left alone."""
        app = self.app(path)
        if app.held is None and app.answers and app.state is AppState.DEPLOYED:
            return app
        return await self.redeploy(path)

    async def stop_context(self, path: Path) -> App:
        """Stop serving (404; sessions with a store saved) until started again."""
        return await self._hold(path, AppState.STOPPED)

    async def undeploy_context(self, path: Path) -> App:
        """Stop serving; the descriptor stays, and deploys again when it changes or on start."""
        return await self._hold(path, AppState.UNDEPLOYED)

    async def _hold(self, path: Path, state: AppState) -> App:
        async with self._lock:
            app = self.app(path)
            started = time.perf_counter()
            app.held, app.state = state, state
            context, app.context, app.deployed_at = app.context, None, None
            self._swap()
            if context is not None:
                app.retire_workers(context)
                await self._retire(context)
                self.counts["undeploy"] += 1
                self._emit("undeploy", app, time.perf_counter() - started)
                log.info("%s %s (%s) by the manager in %s", state.value, app.path,
                         app.context_path, _ms(started))
            return app

    async def _start(self, result: _Built | _Failed) -> _Built | _Failed:
        """Workers first (every one READY), then the sessions taken over and started. A new
        version that cannot start leaves the old one serving; a first one is routed FAILED."""
        if isinstance(result, _Failed):
            return result
        context = result.context
        old = self.apps.get(result.path)
        serving = old is not None and old.context is not None
        started = time.perf_counter()
        try:
            await context.start_workers()
            await asyncio.to_thread(self._start_sessions, result, old)
        except Exception as exc:
            if serving or not isinstance(exc, AppLoadError):
                await self._stop(context)
                return _Failed(result.path, _describe(exc), result.started,
                               took=result.took + time.perf_counter() - started,
                               retry=isinstance(exc, SessionError))
        result.took += time.perf_counter() - started
        return result

    @staticmethod
    def _start_sessions(result: _Built, old: App | None) -> None:
        sessions = result.sessions
        if (old is not None and old.context is not None and sessions is not None
                and old.sessions is not None and old.context.state is State.STARTED
                and type(old.sessions) is type(sessions)):  # a store change: no hand-over
            sessions.take_over(old.sessions)
        result.context.start()

    async def _undeploy(self, paths: list[Path]) -> None:
        started = time.perf_counter()
        gone = [app for app in (self.apps.pop(p, None) for p in paths) if app is not None]
        self._swap()
        serving = [app for app in gone if app.context is not None]
        await asyncio.gather(*(self._retire(app.context) for app in serving))
        for app in gone:
            app.state = AppState.UNDEPLOYED
            if app.context is not None:
                self.counts["undeploy"] += 1
                log.info("undeployed %s (%s) in %s", app.path, app.context_path, _ms(started))

    def _prepare_all(self, paths: list[Path]) -> list[_Built | _Failed]:
        """Builds in order; each success claims its routes and store before the next is checked."""
        routes: dict[tuple[str, str], Path] = {}
        stores: dict[Path, Path] = {}
        building = set(paths)
        for path, app in self.apps.items():
            if app.context is not None and path not in building:
                routes.update(dict.fromkeys(app.claims.routes, path))
                if app.claims.store is not None:
                    stores[app.claims.store] = path
        for path, app in self.apps.items():  # a redeploy keeps its claims unless it gives them up
            if app.context is not None and path in building:
                for key in app.claims.routes:
                    routes.setdefault(key, path)
                if app.claims.store is not None:
                    stores.setdefault(app.claims.store, path)
        results: list[_Built | _Failed] = []
        for path in paths:
            result = self._prepare(path, routes, stores)
            result.took = time.perf_counter() - result.started
            if isinstance(result, _Built):
                routes.update(dict.fromkeys(result.claims.routes, path))
                if result.claims.store is not None:
                    stores[result.claims.store] = path
            results.append(result)
        return results

    def _prepare(
        self, path: Path, routes: dict[tuple[str, str], Path], stores: dict[Path, Path]
    ) -> _Built | _Failed:
        """Runs on a thread: parse, validate, resolve, check conflicts, build (nothing started)."""
        started = time.perf_counter()
        context = None
        try:
            descriptor = load_descriptor(
                path, properties=self.properties, system_properties=self.system_properties,
                environ=self.environ, server=self.server_spec,
            )
            spec = descriptor.context
            for warning in descriptor.warnings:
                log.warning("%s", warning)
            if not reachable(spec.virtual_hosts, self.router.connector):
                where = spec.locations.get("virtual_hosts") or spec.location or path
                log.warning("%s: virtualHosts %s name only connectors this server does not have "
                            "(its listener is %s): the context can never be reached", where,
                            ", ".join(spec.virtual_hosts),
                            repr(self.router.connector) if self.router.connector else "unnamed")
            resolved = resolve(spec, path)
            claims = _claims(spec, resolved.store, self.router.connector)
            _check_conflicts(path, claims, routes, stores)
            context, sessions = build_context(
                spec, resolved, self.id_manager, path.stem, self.scheduler,
                defaults=self.worker_defaults, environ=self.environ,
                on_failed=self._context_failed, server=self.server_spec,
                properties=self.properties)
            if sessions is not None and sessions.store is not None:
                sessions.store.ensure_directory()  # fail here, before any hand-over
            deps = Dependencies.of_webapp(
                resolved.base, includes=spec.reload_includes, excludes=spec.reload_excludes,
                virtualenv=resolved.virtualenv, python_path=resolved.python_path)
            return _Built(path, context, sessions, spec, claims, deps, started)
        except ConflictError as exc:
            return _Failed(path, str(exc), started, conflict=exc.other)
        except Exception as exc:
            if context is not None:
                try:
                    context.stop()
                except Exception:
                    log.exception("stopping the failed new version of %s", path)
            return _Failed(path, _describe(exc), started, retry=isinstance(exc, SessionError))

    # -- swapping in ---------------------------------------------------------------------------
    def _install(self, results: list[_Built | _Failed]) -> None:
        """Record results, swap once for the whole batch, retire the old versions. Each log line
        gives the file's own build time plus the swap."""
        swap_started = time.perf_counter()
        olds: list[Any] = []
        done: list[tuple[str, App, _Built]] = []
        for result in results:
            app = self.apps.setdefault(result.path, App(result.path))
            if isinstance(result, _Failed):
                self._fail(app, result)
                continue
            self._retry_delays.pop(result.path, None)
            kind = "redeployed" if app.context is not None else "deployed"
            if app.context is not None:
                olds.append(app.context)
                app.retire_workers(app.context)
            app.context, app.sessions, app.spec = result.context, result.sessions, result.spec
            app.claims, app.dependencies = result.claims, result.dependencies
            app.version += 1
            app.conflicts_with = None
            app.deployed_at = time.time()
            failed = result.context.state is State.FAILED
            app.state = AppState.FAILED if failed else AppState.DEPLOYED
            app.error = _describe(result.context.error) if failed else None
            done.append((kind, app, result))
        self._swap()
        for kind, app, result in done:
            if app.state is AppState.FAILED:
                self.counts["failure"] += 1
                log.error("FAILED %s (%s) in %s, answering 503: %s", app.path,
                          app.context_path, _ms(swap_started, result.took), app.error)
                self._emit("failure", app, time.perf_counter() - swap_started + result.took)
                continue
            event = "deploy" if kind == "deployed" else "redeploy"
            self.counts[event] += 1
            self._emit(event, app, time.perf_counter() - swap_started + result.took)
            log.info("%s %s (%s) v%d in %s", kind, app.path, app.context_path, app.version,
                     _ms(swap_started, result.took))
        for old in olds:
            task = asyncio.get_running_loop().create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    def _context_failed(self, context: Any, error: AppLoadError) -> None:
        """A serving context's workers keep dying: its App is FAILED until its files change."""
        for app in self.apps.values():
            if app.context is context:
                app.state = AppState.FAILED
                app.error = _describe(error)
                self.counts["failure"] += 1
                self._emit("failure", app, 0.0)

    def _fail(self, app: App, result: _Failed) -> None:
        app.error = result.error
        app.conflicts_with = result.conflict
        if result.conflict is not None:
            app.state = AppState.REFUSED
        elif app.context is None:
            app.state = AppState.FAILED
        else:
            app.state = AppState.FAILED  # the older version keeps serving
        self.counts["failure"] += 1
        still = f"; v{app.version} still serving" if app.context is not None else ""
        took = f"{result.took * 1000:.1f} ms"
        where = f" ({app.context_path})" if app.spec is not None else ""
        again = f"; trying again in {self._retry(app.path):g} s" if result.retry else ""
        log.error("FAILED %s%s in %s%s: %s%s", app.path, where, took, still, result.error, again)
        self._emit("failure", app, result.took)

    def _retry(self, path: Path) -> float:
        """A session store fault (read-only, full, locked by another process) may be fixed
        without any file of the context changing: build it again by itself, waiting twice as
        long each time (up to a minute). Returns the delay."""
        delay = min(RETRY_MAX, self._retry_delays.get(path, RETRY_FIRST / 2) * 2)
        self._retry_delays[path] = delay

        async def again() -> None:
            await asyncio.sleep(delay)
            app = self.apps.get(path)
            if app is not None and app.state is AppState.FAILED:
                await self.apply([Change("change", path)])

        task = asyncio.get_running_loop().create_task(again())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)
        return delay

    def _swap(self) -> None:
        """One new table from every serving app; the router installs it in one assignment."""
        routes = [
            Route(a.spec.context_path, list(a.spec.virtual_hosts), a.context)
            for a in self.apps.values() if a.context is not None
        ]
        self.router.swap(routes)
        log.debug("routes: %s", ", ".join(
            f"{r.context_path or '/'}{'@' + ','.join(r.virtual_hosts) if r.virtual_hosts else ''}"
            f" -> {r.target.name}" for r in routes) or "none")

    async def _retire(self, context: Any) -> None:
        """The old version: no new requests reach it; let those in flight finish, then stop."""
        try:
            await context.drain(self.drain_timeout)
        except Exception:
            log.exception("draining %s", context.name)
        await self._stop(context)

    @staticmethod
    async def _stop(context: Any) -> None:
        try:
            await context.astop()
        except Exception:
            log.exception("stopping %s", context.name)

    # -- shutdown --------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop every context (sessions with a store are saved), after the retiring ones."""
        for task in list(self._retries):
            task.cancel()
        async with self._lock:
            if self._retiring:
                await asyncio.gather(*self._retiring, return_exceptions=True)
            contexts = [a.context for _, a in sorted(self.apps.items()) if a.context is not None]
            for app in self.apps.values():
                app.context = None
                app.state = AppState.UNDEPLOYED
            self._swap()
            await asyncio.gather(*(self._retire(c) for c in contexts), return_exceptions=True)
            await asyncio.to_thread(self.scheduler.stop)  # joins its threads
