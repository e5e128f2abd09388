"""The Session record and the LazySession an application sees.

A Session is a MutableMapping of JSON values. It is kept small (``__slots__``, no per-session lock,
no empty dict) because a server may hold 100,000 of them; the manager's locks guard state changes.
Dirty tracking is a pair of counters: ``_version`` moves on every change (attribute, access, max
inactive interval) and ``_saved`` records the version last written, so a save skips unchanged
sessions (Jetty PR #1094) and a change made while a save was running is not lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from deployer.errors import SessionError
from deployer.worker.session import attribute_problem

if TYPE_CHECKING:
    from deployer.sessions.manager import SessionManager

VALID, IDLED, INVALID = 0, 1, 2
_EMPTY: dict[str, Any] = {}
_SCALARS = frozenset({str, bool, type(None)})  # always JSON; floats may be NaN, ints huge
_BIG = 1 << 64


def check_json(name: str, value: Any) -> None:
    """Refuse, naming the attribute, a value the store could not write as standard JSON (the
    rule a worker applies too: deployer.worker.session.attribute_problem)."""
    problem = attribute_problem(name, value)
    if problem is not None:
        raise SessionError(problem)


class Session(MutableMapping[str, Any]):
    """One HTTP session: attributes plus the times Jetty keeps (epoch seconds, floats)."""

    __slots__ = (
        "_manager", "_id", "_node_id", "_created", "_accessed", "_last_accessed",
        "_max_inactive", "_new", "_attrs", "_version", "_saved", "_requests", "_state",
    )

    def __init__(
        self,
        manager: SessionManager | None,
        session_id: str,
        node_id: str,
        created: float,
        accessed: float,
        last_accessed: float,
        max_inactive_interval: int,
        attributes: dict[str, Any] | None = None,
        *,
        is_new: bool = False,
        saved: bool = False,
    ) -> None:
        self._manager = manager
        self._id = session_id
        self._node_id = node_id
        self._created = created
        self._accessed = accessed
        self._last_accessed = last_accessed
        self._max_inactive = max_inactive_interval
        self._new = is_new
        self._attrs = attributes or None
        self._version = 1
        self._saved = 1 if saved else 0
        self._requests = 0
        self._state = VALID

    # -- identity and times -------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The cluster id (what the store is keyed by)."""
        return self._id

    @property
    def node_id(self) -> str:
        """``<id>.<worker>`` when the id manager has a worker name: the cookie value."""
        return self._node_id

    @property
    def created(self) -> float:
        return self._created

    @property
    def accessed(self) -> float:
        """Time of the current (latest) access; expiry counts from here."""
        return self._accessed

    @property
    def last_accessed(self) -> float:
        """Time of the access before the current one (the servlet getLastAccessedTime)."""
        return self._last_accessed

    @property
    def is_new(self) -> bool:
        """True until a request other than the creating one has used the session."""
        return self._new

    @property
    def is_valid(self) -> bool:
        return self._state != INVALID

    @property
    def max_inactive_interval(self) -> int:
        return self._max_inactive

    @max_inactive_interval.setter
    def max_inactive_interval(self, seconds: int) -> None:
        self._max_inactive = int(seconds)
        self._version += 1

    def _touch(self, now: float) -> Session:
        """A request starts using it: the one rule for both SessionManager and SessionCache."""
        self._last_accessed = self._accessed
        self._accessed = now
        self._version += 1
        self._new = False
        self._requests += 1
        return self

    def expired(self, now: float | None = None) -> bool:
        mi = self._max_inactive
        return mi > 0 and self._accessed + mi < (time.time() if now is None else now)

    @property
    def attributes(self) -> dict[str, Any]:
        """The attributes themselves (read-only by convention): a snapshot is encoded from it."""
        return self._data()

    def snapshot(self) -> tuple[str, str, float, float, float, int, bool, dict[str, Any]]:
        """id, node id, created, accessed, last accessed, max inactive interval, is new and the
        attributes (read-only by convention), in one call: a request to a worker carries them."""
        attrs = self._data() if self._state == IDLED else (self._attrs or _EMPTY)
        return (self._id, self._node_id, self._created, self._accessed, self._last_accessed,
                self._max_inactive, self._new, attrs)

    def listed(self) -> dict[str, object]:
        """What an operator sees of it (the manager page): id, times, attribute names; no
        values, they may hold anything."""
        return {"id": self._id, "created": self._created, "last_accessed": self._accessed,
                "max_inactive_interval": self._max_inactive,
                "attributes": sorted(self._attrs) if self._attrs else [],
                "idle_saved": self._state == IDLED}

    @property
    def dirty(self) -> bool:
        """Changed since it was last written to the store."""
        return self._version != self._saved

    def invalidate(self) -> None:
        """End the session now: attributes dropped, id released, store entry deleted."""
        if self._state == INVALID:
            return
        if self._manager is not None:
            self._manager._invalidate(self)
        else:
            self._drop()

    def _drop(self) -> None:
        self._state = INVALID
        self._attrs = None

    # -- the mapping --------------------------------------------------------------------------
    def _data(self) -> dict[str, Any]:
        if self._state == IDLED and self._manager is not None:
            self._manager._deidle(self)
        return self._attrs or _EMPTY

    # a VALID session (the request path's case) reads and writes its dict without _data()
    def __getitem__(self, name: str) -> Any:
        if self._state == IDLED:
            return self._data()[name]
        return (self._attrs or _EMPTY)[name]

    def get(self, name: str, default: Any = None) -> Any:
        attrs = self._data() if self._state == IDLED else self._attrs
        return attrs.get(name, default) if attrs else default

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data()))

    def __len__(self) -> int:
        return len(self._data())

    def __contains__(self, name: object) -> bool:
        return name in self._data()

    def __setitem__(self, name: str, value: Any) -> None:
        state = self._state
        if state == INVALID:
            raise SessionError(f"session {self._id} has been invalidated")
        t = type(value)  # check_json's cheap cases first, without the call
        if not (type(name) is str and (t is int and -_BIG < value < _BIG or t in _SCALARS)):
            check_json(name, value)
        if state == IDLED:
            self._data()
        attrs = self._attrs
        if attrs is None:
            attrs = self._attrs = {}
        attrs[name] = value
        self._version += 1

    def __delitem__(self, name: str) -> None:
        data = self._data()
        if name not in data:
            raise KeyError(name)
        del self._attrs[name]  # type: ignore[index]
        if not self._attrs:
            self._attrs = None
        self._version += 1

    def __repr__(self) -> str:
        state = ("valid", "idled", "invalid")[self._state]
        return f"<Session {self._id} {state} {len(self._attrs or _EMPTY)} attributes>"

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


class LazySession(MutableMapping[str, Any]):
    """What the app sees: the real session is created by the first write, never by a read."""

    __slots__ = ("_manager", "session", "created_now", "requested")

    def __init__(self, manager: SessionManager, existing: Session | None,
                 requested: str | None = None) -> None:
        self._manager = manager
        self.session = existing
        self.created_now = False
        self.requested = requested  # the id the request presented (a new session may reuse it)

    def _live(self) -> Session | None:
        s = self.session
        return s if s is not None and s.is_valid else None

    def _for_write(self) -> Session:
        s = self._live()
        if s is None:
            s = self.session = self._manager.create(None, self.requested)
            self.created_now = True
        return s

    def adopt(self, session_id: str | None) -> Session:
        """A session created elsewhere (by the app in its worker) under ``session_id``,
        checked and claimed by the manager; None draws a fresh id."""
        s = self.session = self._manager.create(session_id, self.requested)
        self.created_now = True
        return s

    @property
    def id(self) -> str | None:
        s = self._live()
        return s.id if s else None

    @property
    def node_id(self) -> str | None:
        s = self._live()
        return s.node_id if s else None

    @property
    def created(self) -> float | None:
        s = self._live()
        return s.created if s else None

    @property
    def accessed(self) -> float | None:
        s = self._live()
        return s.accessed if s else None

    @property
    def last_accessed(self) -> float | None:
        s = self._live()
        return s.last_accessed if s else None

    @property
    def max_inactive_interval(self) -> int:
        s = self._live()
        return s.max_inactive_interval if s else self._manager.config.max_inactive_interval

    @max_inactive_interval.setter
    def max_inactive_interval(self, seconds: int) -> None:
        self._for_write().max_inactive_interval = seconds

    @property
    def is_new(self) -> bool:
        s = self._live()
        return s.is_new if s else True

    def invalidate(self) -> None:
        s = self._live()
        if s is not None:
            s.invalidate()

    # the mapping methods test the session inline (not via _live()): they run on every request
    def __getitem__(self, name: str) -> Any:
        s = self.session
        if s is None or s._state == INVALID:
            raise KeyError(name)
        return s[name]

    def get(self, name: str, default: Any = None) -> Any:
        s = self.session
        if s is None:
            return default
        state = s._state
        if state == VALID:  # Session.get inlined: the request path's read
            attrs = s._attrs
            return attrs.get(name, default) if attrs else default
        return default if state == INVALID else s.get(name, default)

    def __iter__(self) -> Iterator[str]:
        s = self._live()
        return iter(s) if s is not None else iter(())

    def __len__(self) -> int:
        s = self._live()
        return len(s) if s is not None else 0

    def __contains__(self, name: object) -> bool:
        s = self._live()
        return s is not None and name in s

    def __setitem__(self, name: str, value: Any) -> None:
        s = self.session
        if s is None or s._state == INVALID:
            check_json(name, value)  # refuse before creating a session for a value we cannot keep
            s = self._for_write()
        s[name] = value

    def __delitem__(self, name: str) -> None:
        s = self._live()
        if s is None:
            raise KeyError(name)
        del s[name]

    def __repr__(self) -> str:
        return f"<LazySession {self.session!r}>"
