"""The session an app sees in its worker: a snapshot from the front, its changes sent back.

The front owns every session (deployer.sessions); a request carries a snapshot of its session and
the worker reports what the app changed, attribute by attribute, so two workers serving one
session at once do not undo each other's writes. A session created here gets an id from
``secrets`` at once (the app may read it); the front checks that id before it adopts it.

Values are JSON, as in the front's store: a value that is not is refused when it is set, naming
the attribute. A list or dict read from the session and changed in place counts as changed.
The rules shared with the front (id format, what an attribute may hold) live here, because this
package is the one both sides of the wire can import.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

ID_BYTES = 18  # 144 bits, 24 URL-safe characters
_SCALARS = (str, bool, type(None))
_BIG = 1 << 64
_encode = json.JSONEncoder(allow_nan=False).encode
_EMPTY: dict[str, Any] = {}

CURRENT: contextvars.ContextVar[WorkerSession | None] = contextvars.ContextVar(
    "deployer_session", default=None)


class SessionError(Exception):
    """A session attribute that cannot be kept, or a use of an invalidated session."""


def new_cluster_id() -> str:
    """A fresh session id: 144 random bits, URL-safe, never starting with '-' (an option)."""
    import secrets  # on the first session a worker makes, not at every worker's boot

    while True:
        candidate = secrets.token_urlsafe(ID_BYTES)
        if not candidate.startswith("-"):
            return candidate


def attribute_problem(name: Any, value: Any) -> str | None:
    """Why ``value`` cannot be stored under ``name`` (as standard JSON), or None."""
    if not isinstance(name, str):
        return f"session attribute names must be strings, got {name!r}"
    t = type(value)
    if t in _SCALARS or (t is int and -_BIG < value < _BIG):
        return None
    try:
        _encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        return (f"session attribute {name!r} is not JSON-serialisable "
                f"({type(value).__name__}): {exc}")
    return None


def changes_of(session: WorkerSession | None) -> dict[str, Any] | None:
    """A request's session delta so far (None for a context without sessions)."""
    return session.take_changes() if session is not None else None


def current_session() -> WorkerSession | None:
    """The session of the request being served in this thread or task (framework adapters)."""
    return CURRENT.get()


class WorkerSession(MutableMapping):
    """``environ["deployer.session"]`` / ``scope["deployer.session"]`` in a worker.

    Like the front's LazySession: reads never create a session, the first write does (and the
    front then sets the cookie); ``invalidate()`` ends it. ``take_changes()`` gives what changed
    since it was last called, as the wire's session delta.
    """

    __slots__ = ("_attrs", "_id", "_node_id", "_times", "_mi", "_new", "_live",
                 "_created", "_invalidated", "_set", "_del", "_seen", "_default_mi",
                 "_worker_name", "_mi_changed")

    def __init__(self, snapshot: list[Any] | None, default_max_inactive: int,
                 worker_name: str | None) -> None:
        """``snapshot`` is the wire's (wire.SNAPSHOT_FIELDS), or None for no session yet."""
        self._default_mi = default_max_inactive
        self._worker_name = worker_name
        self._created: str | None = None  # id of a session this request created
        self._invalidated = False  # the snapshot's session was invalidated
        self._set: dict[str, Any] = {}
        self._del: set = set()
        # list/dict values the app has seen, as the JSON the front knows them by
        self._seen: dict[str, str] | None = None
        self._mi_changed = False
        if snapshot is None:
            self._live = False
            self._attrs: dict[str, Any] = {}
            self._id = self._node_id = None
            self._times = (0.0, 0.0, 0.0)
            self._mi = default_max_inactive
            self._new = True
        else:
            sid, node, created, accessed, last, self._mi, self._new, attrs = snapshot
            self._live = True
            self._attrs = attrs or {}
            self._id = sid
            self._node_id = node or sid
            self._times = (created / 1000, accessed / 1000, last / 1000)

    # -- identity and times ------------------------------------------------------------------
    @property
    def id(self) -> str | None:
        return self._id if self._live else None

    @property
    def node_id(self) -> str | None:
        return self._node_id if self._live else None

    @property
    def created(self) -> float | None:
        return self._times[0] if self._live else None

    @property
    def accessed(self) -> float | None:
        return self._times[1] if self._live else None

    @property
    def last_accessed(self) -> float | None:
        return self._times[2] if self._live else None

    @property
    def is_new(self) -> bool:
        return self._new if self._live else True

    @property
    def max_inactive_interval(self) -> int:
        return self._mi if self._live else self._default_mi

    @property
    def default_max_inactive_interval(self) -> int:
        """The context's maxInactiveInterval: what a new session gets (Django's set_expiry(0))."""
        return self._default_mi

    @max_inactive_interval.setter
    def max_inactive_interval(self, seconds: int) -> None:
        self._for_write()
        self._mi = int(seconds)
        self._mi_changed = True

    def invalidate(self) -> None:
        if not self._live:
            return
        if self._created is None:
            self._invalidated = True
        self._created = None  # a session made and ended in one request never reaches the front
        self._live = False
        self._attrs = {}
        self._set.clear()
        self._del.clear()
        self._seen = None
        self._mi_changed = False

    def _for_write(self) -> None:
        if self._live:
            return
        sid = new_cluster_id()
        now = time.time()
        self._created, self._id = sid, sid
        self._node_id = f"{sid}.{self._worker_name}" if self._worker_name else sid
        self._times = (now, now, now)
        self._mi = self._default_mi
        self._new = True
        self._live = True
        self._attrs = {}

    # -- the mapping -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        value = (self._attrs if self._live else _EMPTY)[name]
        if type(value) in (list, dict):
            self._note_seen(name, value)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        attrs = self._attrs if self._live else _EMPTY
        value = attrs.get(name, default)
        if type(value) in (list, dict) and name in attrs:
            self._note_seen(name, value)
        return value

    def _note_seen(self, name: str, value: Any) -> None:
        seen = self._seen
        if seen is None:
            seen = self._seen = {}
        if name not in seen and name not in self._set:
            seen[name] = _encode(value)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._attrs if self._live else ()))

    def __len__(self) -> int:
        return len(self._attrs) if self._live else 0

    def __contains__(self, name: object) -> bool:
        return self._live and name in self._attrs

    def __setitem__(self, name: str, value: Any) -> None:
        t = type(value)
        if not (type(name) is str and (t in _SCALARS or t is int and -_BIG < value < _BIG)):
            problem = attribute_problem(name, value)
            if problem is not None:
                raise SessionError(problem)
        self._for_write()
        self._attrs[name] = value
        self._set[name] = value
        self._del.discard(name)

    def __delitem__(self, name: str) -> None:
        if not self._live or name not in self._attrs:
            raise KeyError(name)
        del self._attrs[name]
        self._set.pop(name, None)
        self._del.add(name)

    def __repr__(self) -> str:
        state = "live" if self._live else "none"
        return f"<WorkerSession {self.id or '-'} {state} {len(self)} attributes>"

    # -- changes for the front ---------------------------------------------------------------
    def take_changes(self) -> dict[str, Any] | None:
        """What changed since the last call (the wire's session delta), or None."""
        seen = self._seen
        if seen:  # values changed in place (Django's and Flask's docs warn of this)
            attrs = self._attrs
            for name, known in seen.items():
                if name in attrs and name not in self._set and _encode(attrs[name]) != known:
                    self._set[name] = attrs[name]
        if not (self._set or self._del or self._invalidated or self._created
                or self._mi_changed):
            return None
        delta: dict[str, Any] = {}
        if self._invalidated:
            delta["inv"] = True
            self._invalidated = False
        if self._created is not None:
            delta["new"] = self._created
            self._created = None
        if self._set:
            sent = delta["set"] = self._set
            self._set = {}
            # what was sent is what the front knows; a later change in place is a change again
            known = self._seen if self._seen is not None else {}
            for k, v in sent.items():
                if type(v) in (list, dict):
                    known[k] = _encode(v)
                else:
                    known.pop(k, None)
            self._seen = known or None
        if self._del:
            delta["del"], self._del = sorted(self._del), set()
        if self._mi_changed:
            delta["mi"] = self._mi
            self._mi_changed = False
        return delta

