"""Session ids: random, URL-safe, checked before they touch a store; one manager per server.

Jetty 9.3 used an incoming id as a file name without checking it (JETTY.md §3.5): here every id
is matched against a strict pattern first, so ``../../etc/passwd`` never reaches a store or a path.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Container

from deployer.errors import SessionError
from deployer.worker.session import ID_BYTES, new_cluster_id

__all__ = ["ID_BYTES", "SessionIdManager", "is_valid_cluster_id"]
_CLUSTER = r"[A-Za-z0-9_-]{16,128}"
_WORKER = r"[A-Za-z0-9_-]{1,64}"
_VALID_ID = re.compile(rf"{_CLUSTER}(?:\.{_WORKER})?")
_VALID_CLUSTER = re.compile(_CLUSTER)
_VALID_WORKER = re.compile(_WORKER)


def is_valid_cluster_id(session_id: object) -> bool:
    return isinstance(session_id, str) and _VALID_CLUSTER.fullmatch(session_id) is not None


class SessionIdManager:
    """Hands out cluster ids, unique across the server (HashSessionIdManager), and knows which
    contexts use each: an id live in one context is reused for a new session in another
    (``share``), as Jetty's newSessionId does, so contexts sharing one cookie keep one id."""

    def __init__(self, worker_name: str | None = None) -> None:
        if worker_name is not None and not _VALID_WORKER.fullmatch(worker_name):
            raise SessionError(
                f"workerName {worker_name!r} is not usable: it needs 1-64 characters from "
                "A-Z a-z 0-9 _ - (no '.', which separates it from the session id)"
            )
        self.worker_name = worker_name
        self._in_use: dict[str, int] = {}  # id -> contexts using it
        self._lock = threading.Lock()

    def new_id(self) -> str:
        """A fresh cluster id, reserved until released; never one in use in any context."""
        with self._lock:
            while True:
                candidate = new_cluster_id()  # the same rule workers draw their ids by
                if candidate not in self._in_use:
                    self._in_use[candidate] = 1
                    return candidate

    def claim(self, cluster_id: str) -> bool:
        """Reserve an id drawn elsewhere (a worker); False when malformed or already in use."""
        if not is_valid_cluster_id(cluster_id):
            return False
        with self._lock:
            if cluster_id in self._in_use:
                return False
            self._in_use[cluster_id] = 1
            return True

    def share(self, cluster_id: str) -> bool:
        """Use, in one more context, an id live in another (JETTY.md §10: a requested id in use
        elsewhere is the new session's id); False when no context uses it."""
        with self._lock:
            if cluster_id not in self._in_use:
                return False
            self._in_use[cluster_id] += 1
            return True

    def for_new_session(self, requested: str | None, session_id: str | None,
                        here: Container[str]) -> str:
        """The cluster id of a context's new session (``here``: the ids it holds). The id the
        request presented, when another context uses it (Jetty's server-wide id manager); else
        ``session_id``, one drawn by a worker, if well formed and unused in every context; else a
        fresh one. Call it under the lock that guards ``here``, so check and insert are one step."""
        sid = self.cluster_id(requested) if requested else None
        if sid is not None and sid not in here and self.share(sid):
            return sid
        if session_id is None:
            return self.new_id()
        if self.claim(session_id):
            return session_id
        raise SessionError(f"session id {session_id[:40]!r} from a worker is malformed or "
                           "already in use")

    def node_id(self, cluster_id: str) -> str:
        return f"{cluster_id}.{self.worker_name}" if self.worker_name else cluster_id

    @staticmethod
    def cluster_id(any_id: str) -> str:
        return any_id.rpartition(".")[0] if "." in any_id else any_id

    @staticmethod
    def is_valid(any_id: object) -> bool:
        """Syntactic check, done before anything touches a store or a path."""
        return isinstance(any_id, str) and _VALID_ID.fullmatch(any_id) is not None

    def in_use(self, cluster_id: str) -> bool:
        return cluster_id in self._in_use

    def register(self, cluster_id: str) -> None:
        self.register_many([cluster_id])

    def register_many(self, cluster_ids: list[str]) -> None:
        in_use = self._in_use
        with self._lock:
            for sid in cluster_ids:
                in_use[sid] = in_use.get(sid, 0) + 1

    def release(self, cluster_id: str) -> None:
        self.release_many([cluster_id])

    def release_many(self, cluster_ids: list[str]) -> None:
        """One context stopped using these ids; an id is free once no context uses it."""
        in_use = self._in_use
        with self._lock:
            for sid in cluster_ids:
                left = in_use.get(sid, 0) - 1
                if left > 0:
                    in_use[sid] = left
                else:
                    in_use.pop(sid, None)

    @property
    def count(self) -> int:
        return len(self._in_use)
