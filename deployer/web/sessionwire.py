"""A request's session across the process boundary, front side: the snapshot sent with the
request, and the changes the worker sends back applied to the session the front keeps.

Changes are applied attribute by attribute, so two workers serving one session at once do not undo
each other. A session the app created arrives with the id the worker drew from ``secrets``; it is
adopted only if it is well formed and unused in every context, else the session gets a fresh id
of the front's own (the app saw the other one for the length of one request).
"""

from __future__ import annotations

import logging
from typing import Any

from deployer.errors import SessionError, SessionLimitError
from deployer.sessions.session import LazySession, Session
from deployer.worker.wire import ProtocolError, dumps

log = logging.getLogger("deployer.web")


def snapshot(session: Session) -> str:
    """What the worker's WorkerSession is made from, as JSON (wire.SNAPSHOT_FIELDS, in order).
    Ids are checked URL-safe text, so they need no escaping."""
    sid, node, created, accessed, last, max_inactive, new, attrs = session.snapshot()
    node_json = "null" if node == sid else f'"{node}"'
    return (f'["{sid}",{node_json},{int(created * 1000)},{int(accessed * 1000)},'
            f'{int(last * 1000)},{int(max_inactive)},{"true" if new else "false"},'
            f"{dumps(attrs) if attrs else '{}'}]")


def apply_changes(lazy: LazySession, changes: Any, where: str) -> None:
    """Apply one session delta (see deployer.worker.session.WorkerSession.take_changes)."""
    if changes is None:
        return
    if not isinstance(changes, dict):
        raise ProtocolError(f"a session delta must be an object, got {type(changes).__name__}")
    if changes.get("inv"):
        lazy.invalidate()
    new = changes.get("new")
    if new is not None:
        try:
            lazy.adopt(str(new))
        except SessionLimitError:
            raise  # no new session at all: the exchange answers 503
        except SessionError as exc:
            log.warning("%s: %s; the session gets a new id", where, exc)
            lazy.adopt(None)
    session = lazy.session
    if session is None or not session.is_valid:
        return
    values = changes.get("set") or {}
    removed = changes.get("del") or []
    if not isinstance(values, dict) or not isinstance(removed, list) or not all(
            type(name) is str for name in removed):
        raise ProtocolError("a session delta's set must be an object and its del a list of "
                            "names")
    for name, value in values.items():
        try:
            session[name] = value
        except SessionError as exc:
            log.error("%s: session attribute %r not kept: %s", where, name, exc)
    for name in removed:
        session.pop(name, None)
    if "mi" in changes:
        interval = changes["mi"]
        if type(interval) is not int:
            raise ProtocolError(f"a session delta's max inactive interval is {interval!r}")
        session.max_inactive_interval = interval
