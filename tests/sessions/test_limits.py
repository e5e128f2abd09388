"""maxActiveSessions (issue 12, item 5): sessions in memory are bounded. With a store the least
recently used are passivated and come back on their next request; without one new sessions are
refused, logged once per burst."""

from __future__ import annotations

import logging

import pytest

from deployer.errors import SessionLimitError
from tests.sessions.conftest import idle_sessions
from tests.support.waiting import wait_for


def test_without_a_store_new_sessions_are_refused_and_logged_once_per_burst(
        make_manager, caplog: pytest.LogCaptureFixture) -> None:
    m = make_manager(None, max_active_sessions=50)
    made = [m.create() for _ in range(50)]
    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        for _ in range(10):
            with pytest.raises(SessionLimitError, match="maxActiveSessions 50"):
                m.create()
        for s in made[:5]:
            s.invalidate()
        for _ in range(5):
            m.create()
        with pytest.raises(SessionLimitError):
            m.create()  # a second burst within a minute: counted, not logged again
    lines = [r.getMessage() for r in caplog.records]
    assert len([x for x in lines if "refusing new sessions" in x]) == 1, lines
    assert len([x for x in lines if "accepting new sessions again, after refusing 10" in x]) == 1
    assert m.sessions == 50 and m.refused == 1


def test_with_a_store_the_least_recently_used_are_passivated_and_come_back(
        make_manager, tmp_path) -> None:
    m = make_manager(tmp_path / "store", max_active_sessions=100)
    ids: dict[str, int] = {}
    highest = 0
    for i in range(1000):
        try:
            s = m.create()
        except SessionLimitError:  # the passivation is behind: as a client would, come back
            wait_for(lambda: m.sessions < 125, what="passivation below the hard cap")
            s = m.create()
        s["n"] = i
        m.complete(s)
        ids[s.id] = i
        highest = max(highest, m.sessions)
    assert highest <= 125  # the bound plus the quarter allowed while passivating
    wait_for(lambda: m.sessions <= 100, what="passivation")
    for sid, n in ids.items():  # every one is there: from memory or read back from the store
        s = m.get(sid)
        assert s is not None and s["n"] == n, sid
        m.complete(s)
    wait_for(lambda: m.sessions <= 100, what="passivation after reading them all back")
    assert m.try_get(next(iter(ids))) is not None  # a lookup still finds what the store holds


def test_a_passivated_session_that_expires_leaves_the_store(make_manager, tmp_path) -> None:
    m = make_manager(tmp_path / "store", max_active_sessions=10, max_inactive_interval=60)
    made = idle_sessions(m, 12, x=1)
    wait_for(lambda: m.sessions <= 10 and m.store.count() >= 2, what="passivation")
    passivated = [sid for sid in made if sid not in m._table.sessions]
    assert passivated
    m.scavenge(now=m.store.get(passivated[0])[2] + 3600)
    assert m.store.get(passivated[0]) is None
    assert not m.id_manager.in_use(passivated[0])


def test_a_session_read_back_and_invalidated_frees_its_id(make_manager, tmp_path) -> None:
    """Passivation kept the id registered and the read-back registered it again, so after a
    logout the id still counted as in use, and a new session presenting the old cookie was
    given the invalidated id."""
    m = make_manager(tmp_path / "store", max_active_sessions=10)
    made = idle_sessions(m, 12, x=1)
    wait_for(lambda: m.sessions <= 10 and m.store.count() >= 2, what="passivation")
    sid = next(s for s in made if s not in m._table.sessions)
    back = m.get(sid)  # read back from the store
    assert back is not None and m.id_manager.in_use(sid)
    back.invalidate()
    m.complete(back)
    assert not m.id_manager.in_use(sid)
    assert m.create(None, sid).id != sid
