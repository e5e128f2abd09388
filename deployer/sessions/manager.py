"""HashSessionManager semantics (Jetty 9.3, JETTY.md §3) over the SQLite session store.

Locks, outermost first: ``_sweep`` (one scavenge/save at a time), ``_io`` (a single-session read
from the store: lazy load, de-idle), ``_deleting`` (one flush of invalidated ids at a time), the
store's own lock, then the table lock, which is only ever held for in-memory work. ``try_get``
never waits on any of them. The scavenger, the periodic saver, store deletions and the lazy
background load run on a SessionScheduler (scheduler.py): one shared by every manager of a server,
or, when none is given, a private one-thread scheduler started and stopped with the manager. The
scheduler runs one manager on one thread at a time and holds none of these locks meanwhile.

Deliberate differences from Jetty 9.3 (all in FORMAT.md): stored entries are kept after a restore
(PR #1093's crash-loss, for every savePeriod), expired entries are dropped at restore instead of
being revived for one scavenge, lazyLoad reads the requested id at once and the rest in the
background, and the first scavenge loads too, as Jetty's documentation promised.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from operator import attrgetter
from typing import TypeVar

from deployer.errors import SessionError, SessionLimitError
from deployer.lifecycle import LifeCycle, State
from deployer.sessions import lock as store_lock
from deployer.sessions.config import NEEDS_STORE, SessionConfig, _NeedsStore
from deployer.sessions.health import StoreHealth
from deployer.sessions.ids import SessionIdManager
from deployer.sessions.persistence import StoreSync
from deployer.sessions.scheduler import SessionScheduler
from deployer.sessions.session import IDLED, INVALID, VALID, LazySession, Session
from deployer.sessions.stats import SessionStats
from deployer.sessions.store import SessionStore

__all__ = ["NEEDS_STORE", "LazySession", "Session", "SessionConfig", "SessionIdManager",
           "SessionManager", "SessionScheduler"]

log = logging.getLogger("deployer.sessions")
BURST_QUIET = 60.0  # seconds: a burst of refused sessions is logged at most this often
_T = TypeVar("_T")
_R = TypeVar("_R")


class _Table:
    """The in-memory sessions; shared by two managers after a take_over."""

    __slots__ = ("sessions", "lock", "tombstones")

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()
        self.tombstones: set[str] = set()  # invalidated while a lazy load may still bring them


class SessionManager(StoreSync, LifeCycle):
    """One context's sessions: ids, expiry, idle save, periodic save, lazy or eager restore."""

    def __init__(self, config: SessionConfig, id_manager: SessionIdManager, name: str,
                 scheduler: SessionScheduler | None = None) -> None:
        super().__init__()
        if config.allow_pickle:
            log.warning("sessions %s: allow_pickle is not supported; attributes stay JSON", name)
        self.config = config
        self.id_manager = id_manager
        self.name = name
        self.stats = SessionStats()
        self.store: SessionStore | None = (
            SessionStore(config.store_directory, delete_unrestorable=config.delete_unrestorable)
            if config.store_directory is not None else None
        )
        self._table = _Table()
        self._loaded = self.store is None  # every stored session is in memory
        self._bulk_requested = False
        self._accepting = False
        self._handed_over = False
        self._taken_from: SessionManager | None = None
        self._successor: SessionManager | None = None
        self._generation = 0  # the store generation our dirty flags refer to
        self._doomed: set[str] = set()  # invalidated ids still to delete from the store
        self._io = threading.RLock()
        self._sweep = threading.Lock()
        self._deleting = threading.Lock()
        self._own_scheduler = scheduler is None
        self._scheduler = scheduler or SessionScheduler(threads=1, name=f"sessions-{name}")
        self._next_scavenge = self._next_save = float("inf")  # time.monotonic
        self.health = StoreHealth(name)  # store failures: logged once per outage
        self._passivated = False  # the store holds live sessions that are not in memory
        self.refused = 0  # new sessions refused in the current burst (maxActiveSessions)
        self._burst_logged, self._burst_logged_at = False, -BURST_QUIET

    # -- lifecycle ----------------------------------------------------------------------------
    def do_start(self) -> None:
        if self.store is not None:
            self.store.ensure_directory()
            store_lock.acquire(self.store.directory)  # no second process on this store
            try:
                if not self.config.lazy_load and not self._loaded:
                    self._bulk_load()
            except BaseException:
                store_lock.release(self.store.directory)
                raise
        self._accepting = True
        now = time.monotonic()
        self._next_scavenge = now + self.config.scavenge_interval
        save_every = self.config.save_period if self.store is not None else 0
        self._next_save = now + save_every if save_every else float("inf")
        if self._own_scheduler:
            self._scheduler.start()
        self._scheduler.register(self, min(self._next_scavenge, self._next_save))

    def do_stop(self) -> None:
        self._accepting = False
        self._scheduler.unregister(self)  # waits for a background run in progress
        if self._own_scheduler:
            self._scheduler.stop()
        table = self._table
        successor, self._successor = self._successor, None
        if successor is not None:
            successor._taken_from = None  # no chain of old managers kept alive across redeploys
        keep = self._handed_over or self._give_back()
        if self.store is not None:
            try:
                self._flush_deletes()
                saved = self.save()
                log.info("sessions %s: %d saved to %s on stop", self.name, saved, self.store.path)
            except (SessionError, OSError) as exc:  # stopping must finish; say what was lost
                log.error("sessions %s: could not save sessions to %s on stop: %s",
                          self.name, self.store.path, exc)
            finally:
                self.store.close()
                store_lock.release(self.store.directory)
            if not keep:
                with table.lock:
                    passivated = list(table.sessions.values())
                    table.sessions.clear()
                    for s in passivated:
                        s._manager = None  # saved, not invalidated; no path back to a closed store
                self.id_manager.release_many([s.id for s in passivated])
            # a restart restores from the store, the passivated sessions with the rest
            self._loaded = self._bulk_requested = self._passivated = False
        elif not keep:
            with table.lock:
                doomed = list(table.sessions.values())
                table.sessions.clear()
                for s in doomed:
                    s._drop()
            self.id_manager.release_many([s.id for s in doomed])

    def _give_back(self) -> bool:
        """Stopped while the manager we took over still runs (the new version failed): its
        sessions go back to it untouched. True if they did."""
        giver, self._taken_from = self._taken_from, None
        if giver is None or not giver._handed_over or giver.state is not State.STARTED:
            return False
        table = self._table
        self._flush_deletes()
        with table.lock:
            giver._handed_over = False
            for s in table.sessions.values():
                s._manager = giver
        self._table = _Table()
        log.info("sessions %s: handed back to %s, which still runs", self.name, giver.name)
        return True

    def take_over(self, old: SessionManager) -> None:
        """Share old's in-memory sessions (same objects); old then stops without dropping them."""
        if self.is_running:
            raise SessionError("take_over() must be called before start()")
        same_store = (self.store is not None and old.store is not None
                      and self.store.path.resolve() == old.store.path.resolve())
        if old.store is not None and not same_store:
            if old._passivated:  # they move to the new store with the rest
                old._loaded = old._passivated = False
                old._bulk_load()
            for s in list(old._table.sessions.values()):
                if s._state == IDLED:
                    old._deidle(s)
        table = old._table
        with table.lock:
            old._handed_over = True
            self._taken_from = old
            old._successor = self
            self.stats = old.stats  # one tally across versions
            self._table = table
            for s in table.sessions.values():
                s._manager = self
        if same_store:
            self._loaded = self._loaded or old._loaded
            self._passivated = old._passivated
        elif self.store is not None:
            self._generation = -1  # our store has none of them yet: the next save writes all

    # -- lookups ------------------------------------------------------------------------------
    @property
    def sessions(self) -> int:
        return len(self._table.sessions)

    def try_get(self, session_id: str) -> Session | None | _NeedsStore:
        """Answer from memory without waiting: a session, None, or NEEDS_STORE."""
        if not self.id_manager.is_valid(session_id):
            return None
        return self.try_get_valid(session_id)

    def try_get_valid(self, session_id: str) -> Session | None | _NeedsStore:
        """``try_get`` for an id that already passed ``id_manager.is_valid``: the web layer checks
        each requested id once, when it parses the cookie, so the request path skips the regex."""
        if not self._accepting:
            return None
        table = self._table
        s = table.sessions.get(session_id.rpartition(".")[0] if "." in session_id else session_id)
        if s is None:
            return None if self._loaded and not self._passivated else NEEDS_STORE
        if s._state == IDLED:
            return NEEDS_STORE
        lock = table.lock
        if not lock.acquire(False):
            return NEEDS_STORE
        try:
            now = time.time()
            mi = s._max_inactive
            if s._state == INVALID or mi > 0 and s._accessed + mi < now and s._requests == 0:
                return self._access_locked(s, now)  # invalid or expiring: the slow path
            s._last_accessed = s._accessed  # _access_locked's touch, inlined for the common case
            s._accessed = now
            s._version += 1
            s._new = False
            s._requests += 1
            return s
        finally:
            lock.release()

    def get(self, session_id: str) -> Session | None:
        """The live session for an id (cluster or node id), touched; None if unknown/expired."""
        if not self._accepting or not self.id_manager.is_valid(session_id):
            return None
        sid = self.id_manager.cluster_id(session_id)
        s = self._table.sessions.get(sid)
        if s is None:
            if self._loaded and not self._passivated:
                return None
            s = self._stored(self._load_one, sid)
            if s is None:
                return None
            if len(self._table.sessions) > self.config.max_active_sessions:
                self._wake()  # read back over the bound: passivate others
        with self._table.lock:
            s = self._access_locked(s, time.time())
        if s is not None and s._state == IDLED:
            self._stored(self._deidle, s)
            if s._state == INVALID:
                return None
        return s

    def _stored(self, read: Callable[[_T], _R], arg: _T) -> _R:
        """A store read for a request: a failure is counted in ``health`` (one log line per
        outage) and raised as the SessionError it is, for the web layer to answer 503."""
        try:
            result = read(arg)
        except SessionError as exc:
            self.health.failed("reading a session", exc)
            raise
        self.health.ok()
        return result

    def _access_locked(self, s: Session, now: float) -> Session | None:
        if s._state == INVALID:
            return None
        mi = s._max_inactive  # s.expired(now), inlined: once per request
        if mi > 0 and s._accessed + mi < now and s._requests == 0:
            self._invalidate_locked(s)
            self.stats.expired += 1
            self._wake()
            return None
        return s._touch(now)

    def create(self, session_id: str | None = None, requested: str | None = None) -> Session:
        """A new session; it counts as used by the current request. ``requested`` is the id the
        request presented (already checked): when another context uses it, it is this session's
        id too (Jetty's server-wide id manager). Else ``session_id``, one drawn by a worker, is
        used if well formed and unused in every context; else a fresh id."""
        if not self._accepting:
            raise SessionError(f"session manager {self.name!r} is not running")
        self._admit()
        ids = self.id_manager
        table = self._table
        now = time.time()
        with table.lock:  # the reuse check and the insert are one step
            sid = ids.for_new_session(requested, session_id, table.sessions)
            s = Session(self, sid, ids.node_id(sid), now, now, now,
                        self.config.max_inactive_interval, is_new=True)
            s._requests = 1
            table.sessions[sid] = s
            self.stats.created += 1
        return s

    def _admit(self) -> None:
        """maxActiveSessions: one client's cookie-less requests made 100,000 sessions, and at
        that rate the default maxInactiveInterval keeps millions. With a store the least
        recently used are passivated in the background (a quarter over the bound is allowed
        meanwhile); without one, or past that, a new session is refused: logged once per
        burst (and at most once a minute: with a store, refusals come and go as passivation
        catches up), SessionLimitError for the caller (the web layer answers 503)."""
        n = len(self._table.sessions)
        limit = self.config.max_active_sessions
        if n < limit:
            if self.refused:
                if self._burst_logged:
                    log.warning("sessions %s: accepting new sessions again, after refusing %d",
                                self.name, self.refused)
                self.refused, self._burst_logged = 0, False
            return
        if self.store is not None:
            self._wake()
            if n < limit + limit // 4:
                return
        self.refused += 1
        now = time.monotonic()
        if self.refused == 1 and now - self._burst_logged_at >= BURST_QUIET:
            self._burst_logged, self._burst_logged_at = True, now
            log.warning("sessions %s: %d sessions in memory, the maxActiveSessions bound: "
                        "refusing new sessions%s", self.name, n,
                        "" if self.store is None else " until older ones are passivated")
        raise SessionLimitError(f"sessions {self.name}: {n} sessions in memory "
                                f"(maxActiveSessions {limit}); no new session now")

    def _passivate(self) -> bool:
        """Write the least recently used idle sessions to the store and drop them from memory,
        down to 90 % of maxActiveSessions; their next request reads them back (as lazyLoad
        does). True if it used the store."""
        assert self.store is not None
        limit = self.config.max_active_sessions
        table = self._table
        with self._sweep:
            with table.lock:
                excess = len(table.sessions) - (limit - limit // 10)
                if excess <= 0 or self._handed_over:
                    return False
                idle = [s for s in table.sessions.values()
                        if s._requests == 0 and s._state != INVALID]
            victims = heapq.nsmallest(excess, idle, key=attrgetter("_accessed"))
            self._write(victims, drop=False)
            with self._io, table.lock:  # a lazy read in progress sees them either here or stored
                gone = []
                for s in victims:
                    if (s._requests == 0 and table.sessions.get(s._id) is s and
                            (s._state == IDLED or s._state == VALID and s._saved == s._version)):
                        del table.sessions[s._id]
                        s._manager = None  # saved, not invalidated; it comes back as a new object
                        gone.append(s._id)
                self._passivated = self._passivated or bool(gone)
        # as a lazyLoad session not read yet, a stored one holds no id: reading it back
        # registers its id again, and an invalidation then frees it
        self.id_manager.release_many(gone)
        log.debug("sessions %s: %d least recently used sessions passivated to %s",
                  self.name, len(gone), self.store.path)
        return True

    def complete(self, session: Session) -> None:
        """The request that used the session is done."""
        with self._table.lock:
            if session._requests > 0:
                session._requests -= 1

    def listing(self) -> list[dict[str, object]]:
        """The sessions in memory, for an operator (ids, times, attribute names; no values: they
        may hold anything). A lazyLoad store not yet read in full is not listed."""
        with self._table.lock:
            live = list(self._table.sessions.values())
        return [s.listed() for s in live if s._state != INVALID]

    def invalidate_id(self, session_id: str) -> bool:
        """An operator ends a session (as the app's ``invalidate()``); False if it is unknown."""
        s = self._table.sessions.get(session_id)
        if s is None:
            return False
        s.invalidate()
        return True

    # -- invalidation -------------------------------------------------------------------------
    def _invalidate(self, s: Session) -> None:
        with self._table.lock:
            self._invalidate_locked(s)
        self._wake()

    def _invalidate_locked(self, s: Session) -> None:
        table = self._table
        if table.sessions.get(s.id) is s:
            del table.sessions[s.id]
            self.id_manager.release(s.id)  # once: this context no longer uses the id
        s._drop()
        if self.store is not None:
            self._doomed.add(s.id)
            if not self._loaded:
                table.tombstones.add(s.id)

    def _flush_deletes(self) -> None:
        """Delete invalidated sessions from the store; returns once they are committed, even
        when another thread was already flushing."""
        if self.store is None:
            return
        with self._deleting:
            if not self._doomed:
                return
            with self._table.lock:
                ids, self._doomed = self._doomed, set()
            try:
                self.store.delete(ids)
            except BaseException:
                with self._table.lock:
                    self._doomed |= ids
                raise

    # -- scavenge and save --------------------------------------------------------------------
    def scavenge(self, now: float | None = None) -> None:
        """One sweep: lazy load if pending, expire, delete, idle-save. ``now`` for tests."""
        with self._sweep:
            if self.store is not None and not self._loaded:
                self._bulk_load()
            if self._handed_over:
                self._flush_deletes()
                return
            now = time.time() if now is None else now
            table = self._table
            with table.lock:
                for s in list(table.sessions.values()):
                    if s._requests == 0 and s.expired(now):
                        self._invalidate_locked(s)
                        self.stats.expired += 1
            self._flush_deletes()
            if self._passivated and self.store is not None:
                with self._io:  # expired while passivated: only the store holds them
                    gone = [i for i in self.store.expired_ids(now) if i not in table.sessions]
                    self.store.delete(gone)
            idle = self.config.idle_save_period
            if idle > 0 and self.store is not None:
                with table.lock:
                    sleepy = [s for s in table.sessions.values() if s._state == VALID
                              and s._requests == 0 and s._accessed + idle < now]
                self._write(sleepy, drop=True)

    # -- background work, on the scheduler -----------------------------------------------------
    def _wake(self) -> None:
        """Ask for a background run soon (store deletions, the lazy bulk load)."""
        self._scheduler.wake(self)

    def run_background(self) -> float:
        """One run for the scheduler: pending work, then the scavenge and save that are due.
        A failing step is logged and tried again at its next time. Returns the next time due
        (time.monotonic)."""
        self._background("loading or deleting", self._pending_work)
        over = self.store is not None and self.sessions > self.config.max_active_sessions
        if over:
            self._background("passivating sessions over maxActiveSessions", self._passivate)
        now = time.monotonic()
        if now >= self._next_scavenge:
            self._background("the scavenge", self.scavenge)
            self._next_scavenge = time.monotonic() + self.config.scavenge_interval
        if now >= self._next_save:
            self._background("the periodic save", self.save)
            self._next_save = time.monotonic() + self.config.save_period
        if over and self.sessions > self.config.max_active_sessions and not self.health.failures:
            return now + 0.01  # sessions were made while it ran: again, shortly
        return min(self._next_scavenge, self._next_save)

    def _pending_work(self) -> bool:
        loading = self._bulk_requested and not self._loaded
        if loading:
            with self._sweep:
                self._bulk_load()
        deleting = bool(self._doomed)
        self._flush_deletes()
        return loading or deleting

    def _background(self, what: str, step: Callable[[], object]) -> None:
        """Run one step; a store failure goes to ``health`` (logged once per outage, sessions
        kept in memory), anything else is a bug and logged with its traceback. A step that
        returns something true used the store, which proves it works again."""
        try:
            used_store = step()
        except SessionError as exc:
            self.health.failed(what, exc)
        except Exception:
            log.exception("sessions %s: %s failed; will retry", self.name, what)
        else:
            if used_store:
                self.health.ok()
