"""The Session record and LazySession: a JSON-only mapping, small, with dirty tracking."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from deployer.errors import SessionError
from deployer.sessions.session import LazySession, Session


def test_session_is_a_mapping_of_json_values(make_manager) -> None:
    m = make_manager()
    s = m.create()
    s["user"] = {"name": "ada", "roles": ["admin"]}
    s["n"] = 1
    assert dict(s) == {"user": {"name": "ada", "roles": ["admin"]}, "n": 1}
    del s["n"]
    assert "n" not in s and len(s) == 1
    with pytest.raises(KeyError):
        del s["missing"]
    assert s.is_new and s.id and s.created == s.accessed
    assert s.max_inactive_interval == 1800


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", float("nan"), {"deep": [object()]}])
def test_non_json_attribute_is_refused_with_its_name(make_manager, value) -> None:
    s = make_manager().create()
    with pytest.raises(SessionError, match="'cart'"):
        s["cart"] = value
    assert "cart" not in s


def test_dirty_tracking_counts_changes_not_reads(make_manager) -> None:
    s = make_manager().create()
    assert s.dirty
    s._saved = s._version
    _ = s.get("x"), len(s), list(s)
    assert not s.dirty
    s["x"] = 1
    assert s.dirty
    s._saved = s._version
    s.max_inactive_interval = 60
    assert s.dirty


def test_invalidated_session_refuses_writes_and_reads_empty(make_manager) -> None:
    m = make_manager()
    s = m.create()
    s["a"] = 1
    s.invalidate()
    s.invalidate()  # idempotent
    assert not s.is_valid and dict(s) == {}
    with pytest.raises(SessionError, match="invalidated"):
        s["a"] = 2
    assert m.get(s.id) is None


def test_lazy_session_reads_create_nothing(make_manager) -> None:
    m = make_manager()
    lazy = LazySession(m, None)
    assert lazy.get("x") is None and len(lazy) == 0 and list(lazy) == [] and "x" not in lazy
    assert lazy.id is None and lazy.session is None and not lazy.created_now
    lazy.invalidate()
    assert m.sessions == 0
    with pytest.raises(SessionError, match="'bad'"):
        lazy["bad"] = object()
    assert m.sessions == 0 and lazy.session is None
    lazy["count"] = 1
    assert lazy.created_now and lazy.session is not None and m.sessions == 1
    assert lazy.id == lazy.session.id and lazy["count"] == 1


def test_lazy_session_over_an_existing_one(make_manager) -> None:
    m = make_manager()
    s = m.create()
    s["a"] = 1
    lazy = LazySession(m, s)
    assert lazy["a"] == 1 and not lazy.created_now
    lazy.invalidate()
    assert lazy.id is None and len(lazy) == 0
    lazy["b"] = 2  # a write after invalidate starts a new session, as getSession(true) does
    assert lazy.created_now and lazy.id != s.id


def test_memory_per_session_is_small(make_manager) -> None:
    """Target: < 1 KiB per small session beyond its attributes (table + id registry included)."""
    m = make_manager()
    n = 5000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            m.complete(m.create())
        per_session = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_session < 1024, per_session


def test_slots_keep_sessions_free_of_a_dict() -> None:
    s = Session(None, "a" * 24, "a" * 24, 1.0, 1.0, 1.0, 10)
    assert not hasattr(s, "__dict__")
    s["k"] = "v"
    assert s["k"] == "v"


def test_values_json_cannot_write_back_are_refused(make_manager) -> None:
    s = make_manager().create()
    s["small"] = 2**63
    with pytest.raises(SessionError, match="'huge'"):
        s["huge"] = 10**5000  # beyond Python's int-to-str limit: the save would fail later
    loop: list = []
    loop.append(loop)
    with pytest.raises(SessionError, match="'loop'"):
        s["loop"] = loop
