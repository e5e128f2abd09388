"""The session data store contract (Jetty 9.4's SessionDataStore) and what every store shares.

A store keeps one context's sessions, keyed by (canonical context path, virtual host, id) as
Jetty's JettySessions table is. Stores are asynchronous: the front's event loop calls them
directly, so a store on the network (PostgreSQL, Redis) never blocks a request it does not serve.

The rules Jetty's users learned the hard way (JETTY.md §9.5) are part of the contract:

- ``store(data)`` of a session that was saved before is an UPDATE that must find the session:
  when another node deleted it, ``SessionGone`` is raised and nothing is written (#4646: a long
  request resurrected a deleted session);
- ``load`` of an entry that exists but cannot be decoded raises ``UnreadableSession``: it is not
  an absent session (#4520), and ``removeUnloadableSessions`` decides its fate;
- an empty attribute map is a valid, non-empty payload (#4682);
- the payload is our own versioned JSON, never a pickle (a row written by Java is unreadable).
"""

from __future__ import annotations

import abc
import json
import os
import socket
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from deployer.errors import SessionError
from deployer.sessions.ids import is_valid_cluster_id

PAYLOAD_FORMAT = "deployer-session"
PAYLOAD_VERSION = 1
DEFAULT_VHOST = "0.0.0.0"
_JAVA_MAGIC = b"\xac\xed"
_MAX_PAYLOAD = 16 << 20  # an attacker's (or a bug's) bytes are bounded


class StoreUnavailable(SessionError):
    """The store cannot be reached now (network, server down, pool exhausted)."""


class SessionGone(SessionError):
    """An update found no session: another node deleted (invalidated, expired) it."""


class UnreadableSession(SessionError):
    """The entry exists but cannot be decoded (e.g. written by Java): not the same as absent."""

    def __init__(self, session_id: str, reason: str) -> None:
        super().__init__(f"session {session_id[:40]!r} is unreadable: {reason}")
        self.session_id = session_id
        self.reason = reason


@dataclass(slots=True)
class SessionData:
    """One session as stored: Jetty 9.4's SessionData fields, times in epoch seconds."""

    id: str
    created: float
    accessed: float
    last_accessed: float
    max_inactive: int  # seconds; <= 0 never expires
    attributes: dict[str, Any] = field(default_factory=dict)
    last_node: str = ""
    cookie_set: float = 0.0
    last_saved: float = 0.0  # 0: never saved, so the next store is an INSERT

    @property
    def expiry(self) -> float:
        """When it expires (epoch s); 0 for an immortal session, as Jetty stores it."""
        return self.accessed + self.max_inactive if self.max_inactive > 0 else 0.0

    def expired(self, now: float | None = None) -> bool:
        expiry = self.expiry
        return expiry > 0 and expiry < (time.time() if now is None else now)


def canonical_context(path: str) -> str:
    """Jetty's canonical context path (StringUtil.sanitizeFileSystemName over the path): the
    characters a file name or key cannot hold, controls and non-ASCII become ``_``."""
    out = []
    for ch in path:
        if (ord(ch) < 0x20 or ord(ch) > 0x7E or ch in "/.\\:=,*?!| \"<>&"
                or unicodedata.category(ch).startswith("C")):
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def canonical_vhost(virtual_hosts: list[str] | tuple[str, ...] | None) -> str:
    """The first virtual host (without Jetty's ``@connector`` part), or 0.0.0.0."""
    if not virtual_hosts:
        return DEFAULT_VHOST
    host = virtual_hosts[0].partition("@")[0].strip()
    return canonical_context(host) if host else DEFAULT_VHOST


def encode_attributes(attributes: dict[str, Any]) -> bytes:
    """The ``map`` payload: versioned JSON, so an empty map is 56 bytes, never 0 (#4682)."""
    return json.dumps({"format": PAYLOAD_FORMAT, "version": PAYLOAD_VERSION,
                       "attributes": attributes}, separators=(",", ":"),
                      allow_nan=False).encode()


def decode_attributes(session_id: str, payload: bytes | memoryview | str | None
                      ) -> dict[str, Any]:
    """The attributes of a payload; UnreadableSession says why it is not one of ours."""
    if payload is None:
        raise UnreadableSession(session_id, "no attribute payload")
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if raw.startswith(_JAVA_MAGIC):
        raise UnreadableSession(session_id, "Java-serialized attributes (written by Jetty)")
    if len(raw) > _MAX_PAYLOAD:
        raise UnreadableSession(session_id, f"payload of {len(raw)} bytes exceeds the bound")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UnreadableSession(session_id, f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != PAYLOAD_FORMAT:
        raise UnreadableSession(session_id, "not a deployer session payload")
    version = doc.get("version")
    if type(version) is not int or version > PAYLOAD_VERSION:
        raise UnreadableSession(session_id, f"payload version {version!r}; this deployer reads "
                                            f"up to {PAYLOAD_VERSION}")
    attrs = doc.get("attributes")
    if not isinstance(attrs, dict):
        raise UnreadableSession(session_id, "attributes are not a JSON object")
    return attrs


def client_name(node: str) -> str:
    """What a store connection calls itself: the node's worker name and this process, so a node
    can see another live process using its worker name (the server lists its clients)."""
    return f"deployer:{node}:{socket.gethostname()[:20]}-{os.getpid()}"[:63]


def check_id(session_id: str) -> None:
    if not is_valid_cluster_id(session_id):
        raise SessionError(f"invalid session id {session_id[:40]!r}")


class SessionDataStore(abc.ABC):
    """One context's sessions in a persistent store; every method runs on the event loop.

    ``context`` and ``vhost`` are canonical (``canonical_context``, ``canonical_vhost``);
    ``node`` is this node's worker name, written as lastNode.
    """

    shared = True  # several nodes may use it: flushOnResponseCommit is the default

    def __init__(self, context: str, vhost: str = DEFAULT_VHOST, node: str = "node0") -> None:
        self.context = context
        self.vhost = vhost
        self.node = node

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect (in the background: a store down at start is retried, not fatal)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Release connections; idempotent."""

    @property
    @abc.abstractmethod
    def where(self) -> str:
        """What to name in a log line (a URL without its password, a path)."""

    @abc.abstractmethod
    async def load(self, session_id: str) -> SessionData | None:
        """The session, None if absent; UnreadableSession or StoreUnavailable otherwise."""

    @abc.abstractmethod
    async def store(self, data: SessionData) -> None:
        """INSERT when ``data.last_saved`` is 0, else an UPDATE that raises SessionGone when the
        session is no longer stored. Sets ``data.last_saved`` on success only."""

    @abc.abstractmethod
    async def delete(self, session_id: str) -> bool:
        """Remove it; True if it was there."""

    @abc.abstractmethod
    async def exists(self, session_id: str) -> bool:
        """Stored and not expired."""

    @abc.abstractmethod
    async def expired_candidates(self, before: float, *, node: str | None) -> list[str]:
        """Ids of this context's sessions that expired before ``before`` (epoch s), written
        last by ``node`` (None: by any node)."""

    @abc.abstractmethod
    async def delete_if_expired(self, session_id: str, now: float) -> bool:
        """Delete only if still expired at ``now`` (another node may have just used it)."""

    async def node_conflicts(self) -> list[str]:
        """Other live processes connected under this node's worker name (its client name)."""
        return []

    async def delete_orphans(self, before: float) -> int:
        """Delete any context's sessions expired before ``before``; the count (0 if the store
        leaves that to TTLs)."""
        return 0
