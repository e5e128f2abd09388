"""A Django session engine on deployer's sessions: ``SESSION_ENGINE = "deployer.worker.django"``.

``request.session`` then reads and writes the request's deployer session, which the front keeps
(HashSessionManager semantics, a ``storeDirectory`` that outlives restarts, sessions handed over
across redeploys); Django's own stores (database, cache, files) are not used, and the
``JSESSIONID`` cookie, set by the front, is the only session cookie.

Django's stock ``SessionMiddleware`` keeps working: it builds a ``SessionStore`` per request and,
at the response, asks ``modified`` and ``is_empty()`` to decide whether to save and set its
``sessionid`` cookie. Here every change has already gone to deployer's session when it was made,
so those answer "nothing to save, no cookie to set" (``modified`` is always False, ``is_empty()``
always True, whatever ``SESSION_SAVE_EVERY_REQUEST`` says); a ``sessionid`` cookie a browser
still sends from before is deleted by the middleware itself (so ``SESSION_COOKIE_NAME`` must not
be deployer's cookie name).

- ``session_key`` is deployer's session id (None until the first write creates the session);
  ``save()`` creates the session when there is none (``if not session.session_key: save()``).
- ``cycle_key()`` (``login()``'s protection against session fixation) ends the session and
  starts a new one, with a new id, holding the same data; ``flush()`` (``logout()``) and
  ``delete()`` end it.
- ``set_expiry(seconds)`` is the session's ``maxInactiveInterval`` (Django's meaning too: that
  many seconds of inactivity); ``None`` and ``0`` restore the descriptor's; a ``datetime`` or
  ``timedelta`` is an absolute end, kept as Django keeps it and enforced when the session is next
  read. ``get_expiry_age()`` answers from deployer's interval, not ``SESSION_COOKIE_AGE``.
- Values are JSON (Django's default serializer already requires it): one that is not is refused
  when it is set, with a ``deployer.worker.SessionError`` naming it.
- ``clear_expired()`` (``manage.py clearsessions``) does nothing: the front expires sessions.

Outside a request served by deployer (``manage.py shell``, Django's test client) there is no
deployer session: using ``request.session`` raises an error that says so.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

from deployer.worker.session import WorkerSession, current_session

EXPIRY = "_session_expiry"  # Django's own key for a custom expiry


class NoDeployerSession(RuntimeError):
    """``request.session`` used where deployer gives no session."""


class SessionStore(SessionBase):
    """``request.session``: the request's WorkerSession behind Django's SessionBase API."""

    def __init__(self, session_key: str | None = None) -> None:
        # the key from a sessionid cookie is not ours: deployer found the session by JSESSIONID
        self._worker: WorkerSession | None = current_session()
        self._checked = False
        super().__init__(None)

    # -- the questions SessionMiddleware asks (see the module's docstring) -------------------
    @property
    def modified(self) -> bool:
        return False

    @modified.setter
    def modified(self, value: bool) -> None:
        pass  # changes are applied as they are made (in-place ones are detected)

    def is_empty(self) -> bool:
        return True

    # -- identity ------------------------------------------------------------------------------
    @property
    def session_key(self) -> str | None:  # type: ignore[override]
        return self._worker.id if self._worker is not None else None

    @property
    def _session_key(self) -> str | None:  # type: ignore[override]
        return self.session_key

    @_session_key.setter
    def _session_key(self, value: str | None) -> None:
        pass  # Django sets it from the cookie and after flush(); deployer owns the id

    def _worker_session(self) -> WorkerSession:
        session = self._worker
        if session is None:
            raise NoDeployerSession(
                "no deployer session: this code is not serving a request of deployer's, or the "
                "context has no session manager (SESSION_ENGINE = 'deployer.worker.django')")
        if not self._checked:
            self._checked = True
            end = session.get(EXPIRY)
            if isinstance(end, str) and _ended(end):
                session.invalidate()  # the absolute end set_expiry(datetime) asked for
        return session

    def _get_session(self, no_load: bool = False) -> WorkerSession:  # type: ignore[override]
        self.accessed = True
        return self._worker_session()

    async def _aget_session(self, no_load: bool = False) -> WorkerSession:  # type: ignore
        return self._get_session(no_load)

    _session = property(_get_session)

    def load(self) -> dict[str, Any]:
        return dict(self._get_session())

    async def aload(self) -> dict[str, Any]:
        return self.load()

    def exists(self, session_key: str | None) -> bool:
        return session_key is not None and session_key == self.session_key

    async def aexists(self, session_key: str | None) -> bool:
        return self.exists(session_key)

    # -- life cycle ----------------------------------------------------------------------------
    def create(self) -> None:
        """A new, empty session with a new id (the old one, if any, ends)."""
        session = self._get_session()
        session.invalidate()
        session.max_inactive_interval = session.max_inactive_interval  # the write that creates

    async def acreate(self) -> None:
        self.create()

    def save(self, must_create: bool = False) -> None:
        """Changes are already applied; a session that does not exist yet is created."""
        session = self._get_session()
        if session.id is None:
            self.create()

    async def asave(self, must_create: bool = False) -> None:
        self.save(must_create)

    def delete(self, session_key: str | None = None) -> None:
        """End this session (another one's key cannot be reached from here: ignored)."""
        session = self._get_session()
        if session_key is None or session_key == session.id:
            session.invalidate()

    async def adelete(self, session_key: str | None = None) -> None:
        self.delete(session_key)

    def clear(self) -> None:
        self._get_session().clear()

    def flush(self) -> None:
        self.delete()

    async def aflush(self) -> None:
        self.flush()

    def cycle_key(self) -> None:
        """Same data, same timeout, a new id: the old session ends, a new one starts."""
        session = self._get_session()
        if session.id is None:
            self.create()
            return
        data = dict(session)
        timeout = session.max_inactive_interval
        session.invalidate()
        session.max_inactive_interval = timeout  # creates the new session, even an empty one
        for name, value in data.items():
            session[name] = value

    async def acycle_key(self) -> None:
        self.cycle_key()

    @classmethod
    def clear_expired(cls) -> None:
        pass  # the front's scavenger expires deployer's sessions

    @classmethod
    async def aclear_expired(cls) -> None:
        pass

    # -- expiry --------------------------------------------------------------------------------
    def get_session_cookie_age(self) -> int:
        """What Django falls back to without a custom expiry: the session's idle timeout."""
        if self._worker is None:
            return super().get_session_cookie_age()
        return self._worker_session().max_inactive_interval

    def set_expiry(self, value: int | datetime | timedelta | None) -> None:
        session = self._get_session()
        if isinstance(value, timedelta):
            value = timezone.now() + value
        if isinstance(value, datetime):  # an absolute end; idle sessions end by then anyway
            left = (value - timezone.now()).total_seconds()
            session.max_inactive_interval = max(1, math.ceil(left))
            session[EXPIRY] = value.isoformat()
        elif value:  # seconds of inactivity: exactly deployer's maxInactiveInterval
            session.max_inactive_interval = int(value)
            session.pop(EXPIRY, None)
        else:  # None: the descriptor's policy; 0: the same, ending with the browser
            default = session.default_max_inactive_interval  # the descriptor's maxInactiveInterval
            if session.id is not None and session.max_inactive_interval != default:
                session.max_inactive_interval = default
            if value is None:
                session.pop(EXPIRY, None)
            else:
                session[EXPIRY] = 0  # the front's cookie is a browser-session cookie

    async def aset_expiry(self, value: int | datetime | timedelta | None) -> None:
        self.set_expiry(value)


def _ended(text: str) -> bool:
    try:
        return datetime.fromisoformat(text) <= timezone.now()
    except (ValueError, TypeError):  # not a date, or naive against aware (USE_TZ changed)
        return False
