"""SessionManager in memory: lookups, expiry, request counting, stop, take_over, threads."""

from __future__ import annotations

import threading
import time

import pytest

from deployer.errors import SessionError
from deployer.lifecycle import State
from deployer.sessions.manager import NEEDS_STORE, SessionConfig, SessionManager
from tests.support.waiting import wait_for

from .conftest import session_threads


def test_create_get_complete(make_manager) -> None:
    m = make_manager()
    s = m.create()
    s["n"] = 1
    assert s.is_new
    m.complete(s)
    got = m.get(s.id)
    assert got is s and not s.is_new and got["n"] == 1
    assert s.last_accessed <= s.accessed
    m.complete(s)
    assert m.try_get(s.id) is s
    assert m.get("no-such-session-id-here") is None
    assert m.try_get("../../etc/passwd") is None


def test_node_ids_are_accepted_and_cut(make_manager, ids) -> None:
    from deployer.sessions.manager import SessionIdManager

    worker_ids = SessionIdManager("w1")
    m = make_manager(id_manager=worker_ids)
    s = m.create()
    assert s.node_id == f"{s.id}.w1"
    assert m.get(s.node_id) is s and m.get(s.id) is s


def test_scavenge_expires_sessions_not_in_use(make_manager) -> None:
    m = make_manager(max_inactive_interval=10)
    idle, busy, forever = m.create(), m.create(), m.create()
    forever.max_inactive_interval = 0
    m.complete(idle)
    m.complete(forever)
    m.scavenge(now=time.time() + 11)
    assert not idle.is_valid and m.get(idle.id) is None
    assert busy.is_valid, "a request is still using it"
    assert forever.is_valid
    m.complete(busy)
    m.scavenge(now=time.time() + 11)
    assert not busy.is_valid and m.sessions == 1


def test_the_scavenger_thread_expires_by_itself(make_manager) -> None:
    m = make_manager(max_inactive_interval=1, scavenge_period=1)
    s = m.create()
    m.complete(s)
    wait_for(lambda: not s.is_valid, timeout=6, what="the scavenger to expire the session")
    assert m.sessions == 0


def test_get_of_an_expired_session_returns_none(make_manager) -> None:
    m = make_manager(max_inactive_interval=1, scavenge_period=60)
    s = m.create()
    m.complete(s)
    s._accessed -= 5
    assert m.try_get(s.id) is None and not s.is_valid


def test_scavenge_period_is_clamped_as_jetty() -> None:
    assert SessionConfig(scavenge_period=0).scavenge_interval == 60
    assert SessionConfig(scavenge_period=500).scavenge_interval == 60
    assert SessionConfig(scavenge_period=0.01).scavenge_interval == 1
    assert SessionConfig(scavenge_period=30, max_inactive_interval=20).scavenge_interval == 2
    assert SessionConfig(save_period=-5).save_period == 0


def test_stop_without_store_invalidates(make_manager, ids) -> None:
    m = make_manager()
    s = m.create()
    s["a"] = 1
    m.stop()
    assert not s.is_valid and dict(s) == {} and not ids.in_use(s.id)
    assert m.state is State.STOPPED and not session_threads()
    m.stop()  # idempotent
    with pytest.raises(SessionError, match="not running"):
        m.create()


def test_take_over_keeps_ids_attributes_and_times(make_manager) -> None:
    old = make_manager(name="v1")
    s = old.create()
    s["cart"] = ["apple"]
    old.complete(s)
    times = (s.id, s.created, s.accessed, s.last_accessed)
    new = make_manager(name="v2", start=False)
    new.take_over(old)
    new.start()
    old.stop()
    assert s.is_valid and new.sessions == 1
    got = new.get(s.id)
    assert got is s and got["cart"] == ["apple"]
    assert (got.id, got.created) == times[:2] and got.last_accessed == times[2]
    got.invalidate()  # now handled by the new manager
    assert new.sessions == 0


def test_take_over_after_start_is_refused(make_manager) -> None:
    a, b = make_manager(), make_manager()
    with pytest.raises(SessionError, match="before start"):
        b.take_over(a)


def test_try_get_never_blocks(make_manager) -> None:
    m = make_manager()
    s = m.create()
    m.complete(s)
    with m._table.lock:  # another thread holds the table: try_get answers at once
        assert m.try_get(s.id) is NEEDS_STORE
    assert m.try_get(s.id) is s


def test_concurrent_requests_on_threads(make_manager) -> None:
    m = make_manager()
    shared = m.create()
    shared["n"] = 0
    m.complete(shared)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(300):
                s = m.get(shared.id)
                with lock:
                    s["n"] += 1
                mine = m.create()
                mine["x"] = 1
                m.complete(mine)
                mine.invalidate()
                m.complete(s)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert shared["n"] == 2400 and m.sessions == 1 and shared._requests == 0


def test_a_manager_can_be_restarted(ids) -> None:
    m = SessionManager(SessionConfig(), ids, "again")
    for _ in range(3):
        m.start()
        m.complete(m.create())
        m.stop()
    assert not session_threads()


def test_a_new_version_that_fails_gives_the_sessions_back(make_manager) -> None:
    old = make_manager(name="v1")
    s = old.create()
    s["cart"] = ["apple"]
    old.complete(s)
    new = make_manager(name="v2", start=False)
    new.take_over(old)
    new.start()
    new.stop()  # the new version failed after its sessions started: the old one keeps serving
    assert s.is_valid and s["cart"] == ["apple"] and old.get(s.id) is s
    assert s._manager is old and not old._handed_over
    s.invalidate()
    assert old.sessions == 0


def test_two_redeploys_within_a_drain_keep_the_sessions_with_the_newest(make_manager) -> None:
    """v1 still drains (started) when v3 takes over from v2 and v2 is retired: v2 served, so
    its stop gives nothing back to v1, and v1's later stop leaves v3's sessions alone."""
    ids = make_manager(name="ids", start=False).id_manager
    v1 = make_manager(name="v1", id_manager=ids)
    s = v1.create()
    s["cart"] = ["apple"]
    v1.complete(s)
    v2 = make_manager(name="v2", start=False, id_manager=ids)
    v2.take_over(v1)
    v2.start()
    v3 = make_manager(name="v3", start=False, id_manager=ids)
    v3.take_over(v2)
    v3.start()
    v2.stop()  # retired at once; v1 still drains
    v1.stop()
    assert v3.get(s.id) is s and s._manager is v3 and s["cart"] == ["apple"]
    assert ids.in_use(s.id)
    v3.stop()


def test_handed_over_managers_are_not_kept_alive(make_manager) -> None:
    v1 = make_manager(name="v1")
    v1.complete(v1.create())
    v2 = make_manager(name="v2", start=False)
    v2.take_over(v1)
    v2.start()
    v1.stop()
    assert v2._taken_from is None and v1._successor is None, "no chain across redeploys"
    assert v2.sessions == 1
    v2.stop()  # a later stop of v2 behaves normally: nothing to give back
    assert v2.sessions == 0
