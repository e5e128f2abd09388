"""Fixtures for the sessions layer: managers that are always stopped, and no leaked threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager


def session_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sessions-")]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(session_threads())
    yield
    leaked = [t.name for t in session_threads() if t not in before]
    assert not leaked, f"session threads left running: {leaked}"


@pytest.fixture
def ids() -> SessionIdManager:
    return SessionIdManager()


@pytest.fixture
def make_manager(ids: SessionIdManager) -> Iterator[Callable[..., SessionManager]]:
    """make_manager(store, name=, start=True, **config): a manager stopped at teardown."""
    made: list[SessionManager] = []

    def make(store: Path | None = None, *, name: str = "ctx", start: bool = True,
             id_manager: SessionIdManager | None = None, **config: object) -> SessionManager:
        idm = id_manager if id_manager is not None else ids
        m = SessionManager(SessionConfig(store_directory=store, **config), idm, name)
        made.append(m)
        if start:
            m.start()
        return m

    yield make
    for m in reversed(made):
        m.stop()


def idle_sessions(manager: SessionManager, count: int, **attributes: object) -> list[str]:
    """``count`` new sessions holding ``attributes``, their requests over; their ids."""
    made = []
    for _ in range(count):
        s = manager.create()
        s.update(attributes)
        manager.complete(s)
        made.append(s.id)
    return made
