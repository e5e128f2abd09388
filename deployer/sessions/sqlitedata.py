"""The SQLite store (store.py, unchanged) behind the SessionDataStore contract.

Jetty 9.4's FileSessionDataStore maps here: one node, one directory per context. The store's
calls block on the disk, so each runs on a thread; the conditional update (SessionGone) is checked
under the store's own lock, which is enough for a store only this process writes.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from deployer.sessions import lock as store_lock
from deployer.sessions.datastore import (
    DEFAULT_VHOST,
    SessionData,
    SessionDataStore,
    SessionGone,
    check_id,
)
from deployer.sessions.persistence import _dumps
from deployer.sessions.store import SessionStore


class SqliteDataStore(SessionDataStore):
    """One context's sessions in ``<directory>/sessions.db``."""

    shared = False

    def __init__(self, directory: Path | str, context: str, vhost: str = DEFAULT_VHOST,
                 node: str = "node0", *, delete_unrestorable: bool = False) -> None:
        super().__init__(context, vhost, node)
        self.sqlite = SessionStore(directory, delete_unrestorable=delete_unrestorable)
        self._locked = False  # holding the directory's lock (start..stop)

    @property
    def where(self) -> str:
        return str(self.sqlite.path)

    async def start(self) -> None:
        """The directory, and its lock (sessions/lock.py): a second process on one store fails
        here, naming the holder, as HashSessionManager's does."""
        if self._locked:
            return
        await asyncio.to_thread(self.sqlite.ensure_directory)
        store_lock.acquire(self.sqlite.directory)
        self._locked = True

    async def stop(self) -> None:
        await asyncio.to_thread(self.sqlite.close)
        if self._locked:
            self._locked = False
            store_lock.release(self.sqlite.directory)

    async def load(self, session_id: str) -> SessionData | None:
        check_id(session_id)
        rec = await asyncio.to_thread(self.sqlite.get, session_id)
        if rec is None:
            return None
        sid, created, accessed, last, max_inactive, attrs = rec
        return SessionData(sid, created, accessed, last, max_inactive, attrs or {},
                           last_node=self.node, last_saved=accessed)

    def _store(self, data: SessionData) -> None:
        with self.sqlite._lock:  # noqa: SLF001 - the check and the write as one step
            if data.last_saved > 0 and self.sqlite.get(data.id) is None:
                raise SessionGone(f"session {data.id} is no longer in {self.where}; "
                                  "not written back")
            self.sqlite.save([(data.id, data.created, data.accessed, data.last_accessed,
                               data.max_inactive,
                               _dumps(data.attributes) if data.attributes else "{}")])

    async def store(self, data: SessionData) -> None:
        check_id(data.id)
        now = time.time()
        await asyncio.to_thread(self._store, data)
        data.last_saved = now

    async def delete(self, session_id: str) -> bool:
        return bool(await asyncio.to_thread(self.sqlite.delete, [session_id]))

    async def exists(self, session_id: str) -> bool:
        data = await self.load(session_id)
        return data is not None and not data.expired()

    async def expired_candidates(self, before: float, *, node: str | None) -> list[str]:
        return await asyncio.to_thread(self.sqlite.expired_ids, before)

    async def delete_if_expired(self, session_id: str, now: float) -> bool:
        def run() -> bool:
            with self.sqlite._lock:  # noqa: SLF001
                rec = self.sqlite.get(session_id)
                if rec is None or not (rec[4] > 0 and rec[2] + rec[4] <= now):
                    return False
                return bool(self.sqlite.delete([session_id]))

        return await asyncio.to_thread(run)
