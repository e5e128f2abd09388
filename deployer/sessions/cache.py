"""Jetty 9.4's SessionCache in front of a SessionDataStore: the session manager of a context whose
sessions live in a store other nodes share (PostgreSQL, Redis), or in a SessionDataStore at all.

It keeps HashSessionManager's interface towards the web layer (``try_get_valid``, ``create``,
``complete``, ``id_manager``, ``config.max_inactive_interval``) and adds the awaitable steps a
network store needs: ``aget`` (load on the event loop), ``before_commit`` (flushOnResponseCommit)
and ``acomplete`` (the write when the last request leaves).

Policies (JETTY.md §9.2): ``eviction_policy`` -1 never, 0 when the last request leaves (what
NullSessionCache forces), N after N idle seconds; ``save_on_create``; ``save_on_inactive_eviction``;
``remove_unloadable``; ``flush_on_response_commit``; ``invalidate_on_shutdown``; ``save_period``
throttles writes that would only move times. The rules of §9.5: an update of a session another
node deleted is refused by the store and the session is dropped here (never resurrected); an
unreadable session is logged and kept (or removed with ``remove_unloadable``), never taken for
absent; expiry in tiers (this node's, then this context's after a grace period, then any context's
orphans), with jitter, never expiring a session a request here is using. A store that is down is
logged as SessionManager's is (health.StoreHealth: once, a reminder every few minutes, once when it
works again); sessions stay in memory and are written when it is back.

Everything runs on the event loop the first request arrives on (a version that took over from
another binds to that one's loop when it starts); ``stop()`` may be called from another thread
(the deploy layer stops contexts off the loop) and waits for the final writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import random
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from deployer.errors import SessionError
from deployer.lifecycle import LifeCycle, State
from deployer.sessions.config import NEEDS_STORE, _NeedsStore
from deployer.sessions.datastore import (
    SessionData,
    SessionDataStore,
    SessionGone,
    StoreUnavailable,
    UnreadableSession,
    encode_attributes,
)
from deployer.sessions.health import StoreHealth
from deployer.sessions.ids import SessionIdManager
from deployer.sessions.session import INVALID, LazySession, Session
from deployer.sessions.stats import SessionStats

log = logging.getLogger("deployer.sessions")
NEVER_EVICT, EVICT_ON_SESSION_EXIT = -1, 0
_RETRY = 1.0  # seconds between retries while the store is down
_FALLBACK = 10_000  # evicted sessions remembered for when the store is down
_PROBE_ID = "deployer-probe-0000"  # a well-formed id no session has: asks "are you there?"
_STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class CacheConfig:
    """DefaultSessionCache / NullSessionCache settings plus the store factory's periods."""

    eviction_policy: int = NEVER_EVICT
    save_on_create: bool = False
    save_on_inactive_eviction: bool = False
    remove_unloadable: bool = False
    flush_on_response_commit: bool = False
    invalidate_on_shutdown: bool = False
    null_cache: bool = False  # NullSessionCache: nothing kept past the last request
    save_period: float = 0  # savePeriodSec: writes of times only, at most this often
    grace_period: float = 3600  # gracePeriodSec: before other nodes' sessions are expired here
    scavenge_interval: float = 600  # HouseKeeper intervalSec; <= 0: no scavenging
    max_inactive_interval: int = 1800

    @property
    def eviction(self) -> int:
        return EVICT_ON_SESSION_EXIT if self.null_cache else self.eviction_policy


def default_node_name() -> str:
    """lastNode when no workerName is set: unique per process (host and pid), without '.'."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40]
    return f"{host}-{os.getpid()}"


class CachedSessionManager(LifeCycle):
    """One context's sessions: a SessionCache over a SessionDataStore."""

    def __init__(self, config: CacheConfig, data_store: SessionDataStore,
                 id_manager: SessionIdManager, name: str) -> None:
        super().__init__()
        self.config = config
        self.data_store = data_store
        self.id_manager = id_manager
        self.name = name
        self.store = None  # no storeDirectory of HashSessionManager's to claim
        self.node = data_store.node
        self.before_commit = self.flush if config.flush_on_response_commit else None
        self._cache: dict[str, Session] = {}
        self._data: dict[str, SessionData] = {}  # the store's view of each cached session
        self._written: dict[str, bytes] = {}  # payload last written (savePeriod's test)
        # the last copy of sessions evicted from the cache: served only while the store is
        # down (the store is the truth whenever it answers), written back when it is up
        self._fallback: OrderedDict[str, SessionData] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._loading: dict[str, asyncio.Future[None]] = {}
        self._deleting: dict[str, asyncio.Task[None]] = {}
        self._retry_save: set[str] = set()
        self._retry_delete: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store_started: asyncio.Task[None] | None = None
        self._housekeeper: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._accepting = False
        self._handed_over = False
        self._successor: CachedSessionManager | None = None
        self._taken_from: CachedSessionManager | None = None  # until it stops
        self.health = StoreHealth(name)  # the store's outages: logged once, reminded, ended
        self._last_expiry_check = 0.0
        self._last_orphan_check = 0.0
        self.stats = SessionStats()  # for the manager page and /metrics, as SessionManager's

    # -- lifecycle ----------------------------------------------------------------------------
    def do_start(self) -> None:
        self._accepting = True
        loop = self._giver_loop()
        if self._loop is None and loop is not None and loop.is_running():
            # the retries a take_over brought are done now, not at the first request; bound
            # before start() returns, so a stop() right after finds the loop and stops it there
            _on_loop(loop, self._bind)

    def do_stop(self) -> None:
        self._accepting = False
        loop = self._loop
        if loop is None or loop.is_closed():
            # never bound: nothing to write, but the sessions may go back, on the loop using them
            _on_loop(self._giver_loop(), self._give_back)
            return
        if _running_loop() is loop:
            self._spawn(self._astop())  # on the loop itself: cannot wait for it here
            return
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result(_STOP_TIMEOUT)
        except Exception as exc:  # stopping must finish; say what may be lost
            log.error("sessions %s: final writes to %s did not finish: %s", self.name,
                      self.data_store.where, exc)

    async def _astop(self) -> None:
        """Shutdown: every cached session stored (or invalidated), then the store closed; or,
        when the version these were taken from still runs (this one failed to start, or is
        stopped during that one's drain), given back to it untouched."""
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        if self._successor is not None:  # no chain of old versions kept alive by redeploys
            self._successor._taken_from = None
        self._give_back()
        try:
            if not self._handed_over:
                for s in list(self._cache.values()):
                    if self.config.invalidate_on_shutdown:
                        s.invalidate()
                    else:
                        await self._save(s)
            await self._settle()
        finally:
            for task in list(self._tasks):
                if task is not asyncio.current_task():
                    task.cancel()
            if self._handed_over:
                self._repoint()  # any session still naming it names the version holding it
            await self.data_store.stop()
            if not self._handed_over:
                self.id_manager.release_many(list(self._cache))
                for s in self._cache.values():
                    s._manager = None  # type: ignore[assignment]  # no way back to a closed store
                self._cache.clear()
                self._data.clear()

    async def _settle(self) -> None:
        """Wait for the deletes and writes already under way."""
        pending = [t for t in list(self._deleting.values()) if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def take_over(self, old: Any) -> None:
        """A redeploy on the same store: the new version shares the old one's sessions and
        everything it knows of them (cache, the store's view, locks, loads and deletes under
        way, the writes and deletes an outage held back), as SessionManager's versions share one
        table. Whichever version a request reaches acts on that one state, so nothing is held
        twice or released twice, and a session the old one makes before the route swaps is the
        new one's too. Done on the old version's loop (the deploy layer calls this from another
        thread). On another store nothing is shared: the old version keeps its sessions and
        writes them to its own store when it stops."""
        if self.is_running:
            raise SessionError("take_over() must be called before start()")
        if not isinstance(old, CachedSessionManager):
            return
        mine, theirs = self.data_store, old.data_store
        if (mine.where, mine.context, mine.vhost) != (theirs.where, theirs.context, theirs.vhost):
            log.info("sessions %s: the store changed (%s to %s): the sessions stay in the old "
                     "one", self.name, theirs.where, mine.where)
            return
        _on_loop(old._loop, self._take_over, old)

    def _take_over(self, old: CachedSessionManager) -> None:
        self._cache, self._data, self._written = old._cache, old._data, old._written
        self._fallback, self._locks = old._fallback, old._locks
        self._loading, self._deleting = old._loading, old._deleting
        self._retry_save, self._retry_delete = old._retry_save, old._retry_delete
        self.stats, self.health = old.stats, old.health  # one tally, one outage
        for s in self._cache.values():
            s._manager = self  # type: ignore[assignment]
        old._handed_over = True
        old._successor = self
        self._taken_from = old

    def _giver_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop of the version this one took over from, while that one runs."""
        giver = self._taken_from
        return giver._loop if giver is not None else None

    def _owner(self) -> CachedSessionManager:
        """The version whose sessions these are now: this one, or the last that took over."""
        owner = self
        while owner._handed_over and owner._successor is not None:
            owner = owner._successor
        return owner

    def _repoint(self) -> None:
        """A stopping version that was taken over: the sessions that still name it (made or
        loaded by it after the take over) name the version holding them now, which is woken
        for what is owed the store."""
        owner = self._owner()
        if owner is self:
            return
        for s in list(self._cache.values()):
            if s._manager is self:
                s._manager = owner  # type: ignore[assignment]
        if self._retry_save or self._retry_delete:
            owner._wake_housekeeper()

    def _give_back(self) -> None:
        """Stopped while the version it took over from still runs (this one failed to start,
        or is stopped during that one's drain): the sessions are that one's again, as
        SessionManager's are; this one then neither writes nor releases them. One taken over
        itself owes nothing back: its successor holds them."""
        giver, self._taken_from = self._taken_from, None
        if (giver is None or self._handed_over
                or giver._successor is not self or giver.state is not State.STARTED):
            return
        giver._successor = None
        giver._handed_over = False
        for s in list(self._cache.values()):
            s._manager = giver  # type: ignore[assignment]
        self._handed_over = True  # what it holds is the giver's again
        if giver._loop is None and _running_loop() is not None:
            giver._bind()  # it never served itself: it needs its loop to write them at its stop
        if self._retry_save or self._retry_delete:
            giver._wake_housekeeper()
        log.info("sessions %s: handed back to the version still running", self.name)

    def _wake_housekeeper(self) -> None:
        """From any thread: retry what is owed the store now."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            if _running_loop() is loop:
                wake.set()
            else:
                loop.call_soon_threadsafe(wake.set)

    def _bind(self) -> asyncio.AbstractEventLoop:
        """The loop every store call runs on: the first caller's. Starts the store and the
        housekeeper there."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._store_started = loop.create_task(self.data_store.start())
            self._housekeeper = loop.create_task(self._housekeeping())
            self._spawn(self._check_node())
        return loop

    async def _ready(self) -> None:
        self._bind()
        assert self._store_started is not None
        await self._store_started

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self._bind().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _check_node(self) -> None:
        """Worker names must be unique among the nodes sharing a store (JETTY.md §9.5): the
        scavenger's "my sessions" and lastNode mean nothing otherwise. The store lists its live
        clients, each named after its node and process."""
        await self._ready()
        try:
            others = await self.data_store.node_conflicts()
        except SessionError:
            return  # the store is down: the outage is logged elsewhere
        if others:
            log.error("sessions %s: worker name %r is also used by %s connected to %s: give "
                      "each node its own --worker-name (workerName)", self.name, self.node,
                      ", ".join(others), self.data_store.where)

    # -- outage bookkeeping -------------------------------------------------------------------
    @property
    def _outage(self) -> bool:
        return self.health.failures > 0

    def _down(self, what: str, exc: Exception) -> None:
        """A store call failed: counted and logged by ``health``; the housekeeper retries."""
        self.health.failed(what, exc)
        owner = self._owner()  # after a take_over, the housekeeper that works is the successor's
        if asyncio.current_task() is not owner._housekeeper:
            owner._wake_housekeeper()  # it retries every second until the store is back

    # -- lookups ------------------------------------------------------------------------------
    @property
    def sessions(self) -> int:
        return len(self._cache)

    def listing(self) -> list[dict[str, object]]:
        """The sessions in this node's cache (ids, times, attribute names; no values), for an
        operator; the store may hold more, of other nodes."""
        return [s.listed() for s in list(self._cache.values()) if s._state != INVALID]

    def invalidate_id(self, session_id: str) -> bool:
        """An operator ends a cached session (deleted from the store as the app's
        ``invalidate()`` would); False if this node does not hold it."""
        s = self._cache.get(session_id)
        if s is None:
            return False
        s.invalidate()
        return True

    def try_get(self, session_id: str) -> Session | None | _NeedsStore:
        if not self.id_manager.is_valid(session_id):
            return None
        return self.try_get_valid(session_id)

    def try_get_valid(self, session_id: str) -> Session | None | _NeedsStore:
        """A cached session, touched; NEEDS_STORE when only the store can tell (then aget)."""
        if not self._accepting:
            return None
        s = self._cache.get(self.id_manager.cluster_id(session_id))
        if s is None or s._state == INVALID or s.expired() and s._requests == 0:
            return NEEDS_STORE
        return s._touch(time.time())

    def get(self, session_id: str) -> Session | None:
        """The blocking form: only from a thread other than the loop's."""
        loop = self._loop
        if loop is None or not self.id_manager.is_valid(session_id):
            found = self.try_get(session_id)
            return found if isinstance(found, Session) else None
        return asyncio.run_coroutine_threadsafe(self.aget(session_id), loop).result()

    async def aget(self, session_id: str) -> Session | None:
        """The session for an id, loaded from the store if not cached; None if unknown,
        expired, unreadable or the store is down (the request then goes on without it)."""
        if not self._accepting or not self.id_manager.is_valid(session_id):
            return None
        sid = self.id_manager.cluster_id(session_id)
        while True:
            s = self._cache.get(sid)
            if s is not None and s._state != INVALID:
                if s.expired() and s._requests == 0:
                    await self._expire(s)
                    return None
                return s._touch(time.time())
            loading = self._loading.get(sid)
            if loading is None:
                break
            await asyncio.shield(loading)  # one load per id, shared by concurrent requests
            if sid not in self._cache:
                return None
        future = self._bind().create_future()
        self._loading[sid] = future
        try:
            s = await self._load(sid)
        finally:
            del self._loading[sid]
            future.set_result(None)
        return s._touch(time.time()) if s is not None and self._accepting else None

    async def _load(self, sid: str) -> Session | None:
        await self._ready()
        if self._outage:  # answer now; the housekeeper finds out when the store is back
            return self._revive(sid)
        started = time.perf_counter()
        try:
            data = await self.data_store.load(sid)
            self.stats.load_seconds.add(time.perf_counter() - started)
        except UnreadableSession as exc:
            if self.config.remove_unloadable:
                log.warning("sessions %s: %s; removed (removeUnloadableSessions)", self.name, exc)
                await self._delete_quietly(sid)
            else:
                log.warning("sessions %s: %s; kept in %s (set removeUnloadableSessions to "
                            "delete such sessions)", self.name, exc, self.data_store.where)
            return None
        except StoreUnavailable as exc:
            self._down("reading a session", exc)
            return self._revive(sid)
        self.health.ok()
        self._fallback.pop(sid, None)
        if data is None:
            return None
        if data.expired():
            await self._delete_quietly(sid, expired_only=True)
            return None
        return self._cached(sid, data)

    def _revive(self, sid: str) -> Session | None:
        """The store is down: this node's last copy of an evicted session, if it has one (it
        is written back when the store returns; an update another node refused never is)."""
        data = self._fallback.pop(sid, None)
        if data is None or data.expired():
            return None
        s = self._cached(sid, data)
        s._version += 1  # dirty: written when the store is back
        return s

    def _cached(self, sid: str, data: SessionData) -> Session:
        if sid in self._cache:  # created or taken over meanwhile
            return self._cache[sid]
        s = Session(self._owner(), sid, self.id_manager.node_id(sid),  # type: ignore[arg-type]
                    data.created, data.accessed, data.last_accessed, data.max_inactive,
                    data.attributes or None, saved=True)
        self._cache[sid] = s
        self._data[sid] = data
        if self.config.save_period > 0:
            self._written[sid] = encode_attributes(data.attributes)
        self.id_manager.register(sid)
        return s

    def create(self, session_id: str | None = None, requested: str | None = None) -> Session:
        """A new session, used by the current request; stored at once with saveOnCreate.
        ``requested`` (the id the request presented) is reused when another context of this
        server uses it, as SessionManager.create does; else ``session_id`` (a worker's) if
        well formed and unused, else a fresh id."""
        if not self._accepting:
            raise SessionError(f"session manager {self.name!r} is not running")
        if _running_loop() is not None:
            self._bind()  # a version holding sessions has its loop: a take_over runs there
        ids = self.id_manager
        sid = ids.for_new_session(requested, session_id, self._cache)
        now = time.time()
        s = Session(self._owner(), sid, ids.node_id(sid), now, now, now,  # type: ignore[arg-type]
                    self.config.max_inactive_interval, is_new=True)
        s._requests = 1
        self._cache[sid] = s
        self._data[sid] = SessionData(sid, now, now, now, s._max_inactive)
        self.stats.created += 1
        if self.config.save_on_create:
            self._spawn(self._save(s))
        return s

    # -- the end of a request -----------------------------------------------------------------
    async def flush(self, lazy: LazySession) -> None:
        """flushOnResponseCommit: before the response goes out, the session as it is now is
        in the store (or deleted from it), so the client's next request, wherever it lands,
        sees it."""
        owner = self._owner()
        if owner is not self:  # taken over: the version holding the sessions writes them
            return await owner.flush(lazy)
        s = lazy.session
        if s is None or not self._accepting:  # stopped: its sessions were written then
            return
        if s._state == INVALID:
            task = self._deleting.get(s.id)
            if task is not None:
                await asyncio.shield(task)
        elif s._version != s._saved:
            await self._save(s)

    def complete(self, session: Session) -> None:
        """The request is done (the synchronous form: the write happens in a task)."""
        owner = self._owner()
        if owner is not self:
            return owner.complete(session)
        if session._requests > 0:
            session._requests -= 1
        if session._requests == 0 and self._accepting:
            self._spawn(self._exit(session))

    async def acomplete(self, session: Session) -> None:
        """The request is done: when it was the last one using the session, write it (and
        evict it with EVICT_ON_SESSION_EXIT) before returning. A request that outlived its
        version's drain ends on the version holding the sessions now (its own store is closed),
        or, when none runs any more, writes nothing."""
        owner = self._owner()
        if owner is not self:
            return await owner.acomplete(session)
        if session._requests > 0:
            session._requests -= 1
        if session._requests == 0 and self._accepting:
            await self._exit(session)

    async def _exit(self, s: Session) -> None:
        if s._state == INVALID:
            task = self._deleting.get(s.id)
            if task is not None:
                await asyncio.shield(task)
            return
        await self._save(s)
        self._evict_on_exit(s)

    def _evict_on_exit(self, s: Session) -> None:
        """EVICT_ON_SESSION_EXIT: out of memory once no request uses it and it is stored."""
        if (self.config.eviction == EVICT_ON_SESSION_EXIT and s._requests == 0
                and s._version == s._saved and s._state != INVALID):
            self._evict(s, remember=True)

    def _evict(self, s: Session, *, remember: bool = False) -> None:
        if self._cache.get(s.id) is s:
            del self._cache[s.id]
            data = self._data.pop(s.id, None)
            if remember and data is not None and self.data_store.shared:
                self._fallback[s.id] = data
                if len(self._fallback) > _FALLBACK:
                    self._fallback.popitem(last=False)
            self._written.pop(s.id, None)
            self._locks.pop(s.id, None)
            self.id_manager.release(s.id)

    async def _save(self, s: Session) -> None:
        """Write the session if it changed (or was never written); one write per session at a
        time. A refused update means another node deleted it: it goes here too."""
        lock = self._locks.get(s.id)
        if lock is None:
            lock = self._locks[s.id] = asyncio.Lock()
        async with lock:
            data = self._data.get(s.id)
            if data is None or s._state == INVALID:
                return
            version = s._version
            if data.last_saved > 0 and version == s._saved:
                return
            data.accessed, data.last_accessed = s._accessed, s._last_accessed
            data.max_inactive = s._max_inactive
            data.attributes = dict(s._attrs) if s._attrs else {}
            payload = b""
            if self.config.save_period > 0 and data.last_saved > 0:
                payload = encode_attributes(data.attributes)
                if (payload == self._written.get(s.id)
                        and time.time() - data.last_saved < self.config.save_period):
                    return  # only times moved, and savePeriodSec has not passed
            await self._ready()
            if self._outage:  # no request waits on a store known to be down
                self._retry_save.add(s.id)
                return
            started = time.perf_counter()
            try:
                await self.data_store.store(data)
            except SessionGone as exc:
                log.info("sessions %s: %s", self.name, exc)
                self._gone(s)
                return
            except StoreUnavailable as exc:
                self._retry_save.add(s.id)
                self._down("writing a session", exc)
                return
            except (SessionError, TypeError, ValueError) as exc:
                log.error("sessions %s: session %s not written: %s", self.name, s.id, exc)
                return
            self.stats.saved += 1
            self.stats.save_seconds.add(time.perf_counter() - started)
            s._saved = version
            self._retry_save.discard(s.id)
            if self.config.save_period > 0:
                self._written[s.id] = payload or encode_attributes(data.attributes)
            self.health.ok()

    def _gone(self, s: Session) -> None:
        """Deleted (elsewhere, or as expired): drop our copy without touching the store."""
        self._evict(s)
        s._drop()

    # -- invalidation and expiry --------------------------------------------------------------
    def _invalidate(self, s: Session) -> None:
        """Session.invalidate(): gone here at once, deleted from the store in a task that
        before_commit and acomplete wait for."""
        held = self._cache.get(s.id) is s
        if held:
            del self._cache[s.id]
        self._data.pop(s.id, None)
        self._written.pop(s.id, None)
        self._fallback.pop(s.id, None)
        s._drop()
        if held:  # its id once, by the cache holding it (not again after a stop released it)
            self.id_manager.release(s.id)
        if self._running_here():
            self._deleting[s.id] = self._spawn(self._delete_task(s.id))
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._invalidate_later, s.id)

    def _invalidate_later(self, sid: str) -> None:
        self._deleting[sid] = self._spawn(self._delete_task(sid))

    def _running_here(self) -> bool:
        loop = _running_loop()
        return loop is not None and (self._loop is None or loop is self._loop)

    async def _delete_task(self, sid: str) -> None:
        try:
            await self._delete_quietly(sid)
        finally:
            self._deleting.pop(sid, None)

    async def _delete_quietly(self, sid: str, *, expired_only: bool = False,
                              now: float | None = None) -> None:
        await self._ready()
        if self._outage:
            if not expired_only:
                self._retry_delete.add(sid)
            return
        try:
            if expired_only:
                await self.data_store.delete_if_expired(sid, time.time() if now is None else now)
            else:
                await self.data_store.delete(sid)
        except StoreUnavailable as exc:
            if not expired_only:
                self._retry_delete.add(sid)
            self._down("deleting a session", exc)
        except SessionError as exc:
            log.error("sessions %s: session %s not deleted: %s", self.name, sid, exc)
        else:
            self._retry_delete.discard(sid)
            self.health.ok()

    async def _expire(self, s: Session, now: float | None = None) -> None:
        """Expired and unused here: dropped, and deleted from the store if still expired
        there (another node may just have used it)."""
        self._gone(s)  # releases its id
        self.stats.expired += 1
        await self._delete_quietly(s.id, expired_only=True, now=now)

    def _deidle(self, s: Session) -> None:  # Session's hook; nothing is ever idled here
        return None

    async def scavenge(self, now: float | None = None) -> int:
        """One HouseKeeper pass in Jetty 10's tiers; returns how many sessions it expired."""
        await self._ready()
        now = time.time() if now is None else now
        grace = self.config.grace_period
        done = set()
        for s in list(self._cache.values()):  # cached and unused here
            if s._requests == 0 and s.expired(now):
                await self._expire(s, now)
                done.add(s.id)
        expired = len(done)
        try:
            candidates = set(await self.data_store.expired_candidates(now, node=self.node))
            if now - self._last_expiry_check >= grace:  # this context's, any node, once a grace
                before = now - (3 * grace if not self._last_expiry_check else grace)
                candidates |= set(await self.data_store.expired_candidates(before, node=None))
                self._last_expiry_check = now
            for sid in candidates - done:
                s = self._cache.get(sid)
                if s is not None and (s._requests > 0 or not s.expired(now)):
                    continue  # in use here, or used since: never expired under a request
                if await self.data_store.delete_if_expired(sid, now):
                    expired += 1
                    if s is not None:
                        self._gone(s)
            if now - self._last_orphan_check >= 10 * grace:
                if self._last_orphan_check:
                    expired += await self.data_store.delete_orphans(now - 10 * grace)
                self._last_orphan_check = now
        except StoreUnavailable as exc:
            self._down("the scavenge", exc)
        await self._evict_idle(now)
        return expired

    async def _evict_idle(self, now: float) -> None:
        policy = self.config.eviction
        if policy <= 0:
            return
        for s in list(self._cache.values()):
            if s._requests == 0 and s._accessed + policy < now and s._state != INVALID:
                if self.config.save_on_inactive_eviction or s._version != s._saved:
                    await self._save(s)
                if s._version == s._saved:
                    self._evict(s, remember=True)

    async def _retry(self) -> None:
        """While the store is down: one probe a second; once it answers, the writes and
        deletes it missed."""
        if self._outage:
            try:
                await self.data_store.exists(_PROBE_ID)
            except StoreUnavailable as exc:
                self._down("the retry", exc)  # counted: the reminder says how long
                return
            except SessionError:
                pass
            self.health.ok()
        for sid in list(self._retry_delete):
            await self._delete_quietly(sid)
        for sid in list(self._retry_save):
            s = self._cache.get(sid)
            if s is None:
                self._retry_save.discard(sid)
            else:
                await self._save(s)
                self._evict_on_exit(s)

    async def _housekeeping(self) -> None:
        """Scavenge every interval (+ up to 10% jitter, so nodes do not all sweep at once);
        retry failed writes every second while the store is down."""
        interval = self.config.scavenge_interval
        next_sweep = time.monotonic() + (interval * (1 + random.random() * 0.1)
                                         if interval > 0 else float("inf"))
        wake = self._wake
        assert wake is not None
        while True:
            pending = self._retry_save or self._retry_delete or self._outage
            delay = min(next_sweep - time.monotonic(), _RETRY if pending else 3600.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, delay)):
                    await wake.wait()
            wake.clear()
            if self._handed_over:
                continue  # the sessions are the successor's: its housekeeper does this
            try:
                if self._retry_save or self._retry_delete or self._outage:
                    await self._retry()
                if time.monotonic() >= next_sweep:
                    await self.scavenge()
                    next_sweep = time.monotonic() + interval * (1 + random.random() * 0.1)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sessions %s: housekeeping failed; will retry", self.name)


def _on_loop(loop: asyncio.AbstractEventLoop | None, fn: Callable[..., object],
             *args: Any) -> None:
    """``fn(*args)`` on ``loop``, whose state it touches, waiting for it from another thread;
    at once when there is no such loop running or this is its thread. A loop that does not
    get to it in time raises TimeoutError, and ``fn`` then never runs there behind the
    caller's back (a redeploy that gave up must not hand the sessions over later)."""
    if loop is None or loop.is_closed() or not loop.is_running() or _running_loop() is loop:
        fn(*args)
        return
    done: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        if not done.set_running_or_notify_cancel():
            return  # the caller gave up on it
        try:
            fn(*args)
        except BaseException as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)

    loop.call_soon_threadsafe(run)
    try:
        done.result(_STOP_TIMEOUT)
    except TimeoutError:
        if done.cancel():  # not begun: now it never will
            raise
        done.result()  # it began just now, on the loop: fn is short and synchronous


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
