"""Flask's ``session`` on deployer's sessions.

``app.session_interface = DeployerSessionInterface()`` is the one line an app needs: then
``flask.session`` reads and writes the request's deployer session, which the front keeps
(HashSessionManager semantics: idle expiry, a ``storeDirectory`` that outlives restarts, sessions
handed over across redeploys). Flask sets no cookie of its own and needs no ``secret_key`` for
sessions: the ``JSESSIONID`` cookie is the front's, set and refreshed from the descriptor.

Values: deployer keeps JSON, and so does Flask's own cookie session, through its tagged JSON
serializer, which also round-trips tuples, bytes, ``Markup``, ``UUID`` and ``datetime``. Flask
code relies on that (``flash()`` stores tuples, ``flash(Markup(...))`` must stay markup), so
values are stored in exactly the form that serializer gives (``{" t": [...]}`` for a tuple), and
plain JSON values unchanged; what it cannot express (a set, an object) is refused when it is set,
with a ``deployer.worker.SessionError`` naming the attribute. ``interface.serializer`` takes
custom tags as Flask's does.

- ``session.new``: the session did not exist before this request (or does not exist yet);
- ``session.modified``: something was set or deleted, or a value read was changed in place (those
  are detected and kept, without Flask's ``session.modified = True``, though that is accepted);
- ``session.permanent``: kept as Flask keeps it (the ``_permanent`` key) but changes no lifetime:
  the descriptor's ``maxInactiveInterval`` and ``maxCookieAge`` decide those, one place for the
  operator; ``session.max_inactive_interval`` changes this session's idle timeout;
- ``session.clear()`` ends the session (a later write starts one with a new id): as an emptied
  Flask cookie session is deleted, and the idiom ``session.clear(); session["user"] = ...`` on
  login then protects against session fixation.

Outside deployer (``flask run``, tests) there is no deployer session: reads see an empty session
and a write raises an error that says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import NullSession, SessionInterface, SessionMixin
from flask.wrappers import Request, Response

from deployer.worker.session import WorkerSession

_PLAIN = (str, int, float, bool, type(None))


class NoDeployerSession(NullSession):
    """The null session: deployer did not serve this request, or its context has no sessions."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "no deployer session: this request was not served by deployer, or its context has "
            "no session manager (DeployerSessionInterface uses deployer's sessions)")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail  # type: ignore
    del _fail


class DeployerSession(SessionMixin):
    """``flask.session``: a view of the request's WorkerSession in Flask's tagged JSON."""

    def __init__(self, session: WorkerSession, serializer: TaggedJSONSerializer) -> None:
        self._session = session
        self._serializer = serializer
        self._handed: dict[str, Any] = {}  # containers given to the app: changes in place
        self._changed = False
        self.accessed = False

    # -- deployer's view -----------------------------------------------------------------------
    @property
    def id(self) -> str | None:
        return self._session.id

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self._session.is_new

    @property
    def modified(self) -> bool:  # type: ignore[override]
        return self._changed or any(self._differs(k, v) for k, v in self._handed.items())

    @modified.setter
    def modified(self, value: bool) -> None:
        self._changed = self._changed or bool(value)  # what changed is found by comparing

    @property
    def permanent(self) -> bool:
        return bool(self.get("_permanent", False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        if value:
            self["_permanent"] = True
        else:
            self.pop("_permanent", None)  # False is the default: it creates no session

    @property
    def max_inactive_interval(self) -> int:
        return self._session.max_inactive_interval

    @max_inactive_interval.setter
    def max_inactive_interval(self, seconds: int) -> None:
        self._session.max_inactive_interval = seconds
        self._changed = True

    def invalidate(self) -> None:
        """End the session now; the next write starts a new one, with a new id."""
        self._handed.clear()
        if self._session.id is not None:
            self._changed = True
        self._session.invalidate()

    clear = invalidate  # type: ignore[assignment]

    # -- the mapping ---------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        self.accessed = True  # Flask 3.1.3 marks it itself; older ones leave it to us
        if key in self._handed:
            return self._handed[key]
        value = self._untag(self._session[key])
        if not isinstance(value, _PLAIN):
            self._handed[key] = value
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = True
        self._session[key] = self._serializer.tag(value)  # SessionError names a bad value
        self._changed = True
        if isinstance(value, _PLAIN):
            self._handed.pop(key, None)
        else:
            self._handed[key] = value

    def __delitem__(self, key: str) -> None:
        del self._session[key]
        self._handed.pop(key, None)
        self._changed = True

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(self._session)

    def __len__(self) -> int:
        return len(self._session)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return key in self._session

    def __repr__(self) -> str:
        return f"<DeployerSession {self.id or '-'} {dict(self)!r}>"

    # -- tagged JSON ---------------------------------------------------------------------------
    def _untag(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self._serializer.untag({k: self._untag(v) for k, v in value.items()})
        if isinstance(value, list):
            return [self._untag(v) for v in value]
        return value

    def _differs(self, key: str, value: Any) -> bool:
        return key in self._session and self._serializer.tag(value) != self._session[key]

    def write_back(self) -> None:
        """Store the values the app changed in place (the end of the request calls this)."""
        for key, value in self._handed.items():
            if self._differs(key, value):
                self._session[key] = self._serializer.tag(value)
                self._changed = True


class DeployerSessionInterface(SessionInterface):
    """Flask's session interface for an app served by deployer (see the module's docstring)."""

    null_session_class = NoDeployerSession
    pickle_based = False
    serializer = TaggedJSONSerializer()

    def open_session(self, app: Flask, request: Request) -> DeployerSession | None:
        session = request.environ.get("deployer.session")
        if session is None:
            return None  # Flask then makes the null session
        return DeployerSession(session, self.serializer)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """No cookie (the front sets JSESSIONID) and no store (the front applies the changes
        when the response starts); what was changed in place is written back first."""
        if isinstance(session, DeployerSession):
            session.write_back()
        if session.accessed:
            response.vary.add("Cookie")
