"""The store side of SessionManager: restore (eager, lazy, one id), idle save, periodic save.

A mixin so that manager.py stays about lookups, expiry and the lifecycle; it uses the manager's
table, locks and store (see the lock order in manager.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import TYPE_CHECKING

from deployer.sessions.session import IDLED, VALID, Session
from deployer.sessions.store import Record, SessionStore

if TYPE_CHECKING:
    from deployer.sessions.ids import SessionIdManager
    from deployer.sessions.manager import _Table
    from deployer.sessions.stats import SessionStats

log = logging.getLogger("deployer.sessions")
_CHUNK = 4096
_BIG = 16 * 1048576  # a store this large (~50,000 sessions) takes seconds: it is announced


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _make_dumps():  # noqa: ANN202
    """The C encoder called directly: 3x faster than json.dumps for 100,000 small dicts."""
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    enc = c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",",
                         False, False, False)
    return lambda value: "".join(enc(value, 0))


_dumps = _make_dumps()


class StoreSync:
    """Moves sessions between the in-memory table and the SessionStore."""

    store: SessionStore | None
    id_manager: SessionIdManager
    name: str
    _table: _Table
    _loaded: bool
    _bulk_requested: bool
    _generation: int
    _io: threading.RLock
    _sweep: threading.Lock
    stats: SessionStats

    def _invalidate_locked(self, s: Session) -> None:  # pragma: no cover - see SessionManager
        raise NotImplementedError

    def _wake(self) -> None:  # pragma: no cover - see SessionManager
        raise NotImplementedError

    # -- loading ------------------------------------------------------------------------------
    def _make(self, rec: Record) -> Session:
        sid = rec[0]
        return Session(self, sid, self.id_manager.node_id(sid), rec[1], rec[2], rec[3], rec[4],
                       rec[5], saved=True)

    def _load_one(self, sid: str) -> Session | None:
        """lazyLoad: read this one id now; the others follow in the background."""
        assert self.store is not None
        with self._io:
            s = self._table.sessions.get(sid)
            if s is not None:
                return s
            if sid in self._table.tombstones:
                return None
            began = time.perf_counter()
            rec = self.store.get(sid)
            self.stats.load_seconds.add(time.perf_counter() - began)
            if not self._bulk_requested:
                self._bulk_requested = True
                self._wake()
            if rec is None:
                return None
            s = self._make(rec)
            with self._table.lock:
                if sid in self._table.sessions or sid in self._table.tombstones:
                    return self._table.sessions.get(sid)
                self._table.sessions[sid] = s
            self.id_manager.register(sid)
            return s

    def _bulk_load(self) -> None:
        """Restore every stored session not already in memory; expired ones are deleted."""
        assert self.store is not None
        if self._loaded:
            return
        began = time.perf_counter()
        try:
            size = os.stat(self.store.path).st_size  # no query: it would create the database
        except OSError:
            size = 0
        if size >= _BIG:  # the only line until it is done: say it has begun
            log.info("sessions %s: restoring %.0f MB of sessions from %s", self.name,
                     size / 1048576, self.store.path)
        records = self.store.load_all()
        self.stats.load_seconds.add(time.perf_counter() - began)
        now = time.time()
        expired = [r[0] for r in records if r[4] > 0 and r[2] + r[4] < now]
        made = [self._make(r) for r in records if not (r[4] > 0 and r[2] + r[4] < now)]
        table = self._table
        added: list[str] = []
        for i in range(0, len(made), _CHUNK):
            with table.lock:
                for s in made[i:i + _CHUNK]:
                    if s._id not in table.sessions and s._id not in table.tombstones:
                        table.sessions[s._id] = s
                        added.append(s._id)
        self.id_manager.register_many(added)
        if expired:
            self.store.delete(expired)
        with table.lock:
            self._loaded = True
            table.tombstones.clear()
        log.info("sessions %s: %d restored from %s (%d expired dropped)",
                 self.name, len(added), self.store.path, len(expired))

    # -- idle save ----------------------------------------------------------------------------
    def _deidle(self, s: Session) -> None:
        """Read an idled session's attributes back; if they cannot be read it is invalidated."""
        with self._io:
            if s._state != IDLED:
                return
            rec = self.store.get(s.id) if self.store is not None else None
            with self._table.lock:
                if rec is None:
                    log.warning("sessions %s: idled session %s could not be read back; "
                                "invalidated", self.name, s.id)
                    self._invalidate_locked(s)
                else:
                    s._attrs = rec[5] or None
                    s._state = VALID
        self._wake()

    def save(self) -> int:
        """Write every session changed since its last save, in one transaction; returns count."""
        if self.store is None:
            return 0
        with self._sweep:
            written = 0
            for _ in range(2):  # again if the store was replaced (unreadable file) meanwhile
                if self._generation != self.store.generation:
                    self._generation = self.store.generation
                    targets = list(self._table.sessions.values())
                else:
                    targets = [s for s in list(self._table.sessions.values())
                               if s._version != s._saved]
                written += self._write(targets, drop=False)
                if self._generation == self.store.generation:
                    break
            return written

    def _write(self, sessions: list[Session], *, drop: bool) -> int:
        assert self.store is not None
        live = [s for s in sessions if s._state == VALID]
        versions = [s._version for s in live]  # read before the attributes: never newer
        try:
            records: list[Record] = [
                (s._id, s._created, s._accessed, s._last_accessed, s._max_inactive,
                 _dumps(s._attrs) if s._attrs else "{}") for s in live
            ]
        except (TypeError, ValueError, RuntimeError, RecursionError):
            live, versions, records = self._records_one_by_one(live, versions)
        began = time.perf_counter()
        self.store.save(records)
        self.stats.save_seconds.add(time.perf_counter() - began)
        self.stats.saved += len(records)
        with self._table.lock:
            for s, version in zip(live, versions, strict=True):
                s._saved = version
                if drop and s._version == version and s._requests == 0 and s._state == VALID:
                    s._attrs = None
                    s._state = IDLED
        return len(records)

    def _records_one_by_one(self, live: list[Session], versions: list[int]
                            ) -> tuple[list[Session], list[int], list[Record]]:
        """The slow path when some session holds a value JSON cannot write: skip just those."""
        kept: list[Session] = []
        kept_versions: list[int] = []
        records: list[Record] = []
        for s, version in zip(live, versions, strict=True):
            try:
                text = _dumps(s._attrs) if s._attrs else "{}"
            except (TypeError, ValueError, RuntimeError, RecursionError) as exc:
                log.error("sessions %s: session %s not saved, an attribute changed in place to "
                          "something JSON cannot hold: %s", self.name, s._id, exc)
                continue
            records.append((s._id, s._created, s._accessed, s._last_accessed, s._max_inactive,
                            text))
            kept.append(s)
            kept_versions.append(version)
        return kept, kept_versions, records
