"""Session ids: random, URL-safe, unique across contexts, checked before touching anything."""

from __future__ import annotations

import re

import pytest

from deployer.errors import SessionError
from deployer.sessions.manager import SessionIdManager


def test_new_ids_are_long_url_safe_and_unique() -> None:
    ids = SessionIdManager()
    made = {ids.new_id() for _ in range(2000)}
    assert len(made) == 2000
    for sid in made:
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", sid)  # 18 bytes = 144 bits
        assert ids.is_valid(sid) and ids.in_use(sid)


@pytest.mark.parametrize("bad", [
    "../../etc/passwd", "..%2F..%2Fetc", "", "short", "a" * 129, "a" * 24 + "/x",
    "a" * 24 + ".", "a" * 24 + ".w.x", "a" * 23 + "\n", "a" * 24 + "\x00", None, 42,
])
def test_is_valid_refuses_what_could_become_a_path(bad) -> None:
    assert not SessionIdManager.is_valid(bad)


def test_worker_name_and_node_ids() -> None:
    ids = SessionIdManager("node7")
    sid = ids.new_id()
    assert ids.node_id(sid) == f"{sid}.node7"
    assert ids.cluster_id(f"{sid}.node7") == sid and ids.cluster_id(sid) == sid
    assert ids.is_valid(f"{sid}.node7")
    assert SessionIdManager().node_id(sid) == sid


@pytest.mark.parametrize("bad", ["a.b", "", "x y", "../w"])
def test_worker_name_must_not_contain_a_dot(bad) -> None:
    with pytest.raises(SessionError, match="workerName"):
        SessionIdManager(bad)


def test_an_id_in_use_in_one_context_is_not_handed_out_again(make_manager, ids) -> None:
    a, b = make_manager(name="a"), make_manager(name="b")
    s = a.create()
    assert ids.in_use(s.id)
    assert b.get(s.id) is None  # shared registry, separate tables
    made = {b.create().id for _ in range(500)}
    assert s.id not in made
    s.invalidate()
    assert not ids.in_use(s.id)


def test_no_id_starts_with_a_dash() -> None:
    """`deployer sessions show STORE ID` must never read a fresh id as an option (1 in 64 did)."""
    ids = SessionIdManager()
    assert not [i for i in (ids.new_id() for _ in range(5000)) if i.startswith("-")]


def test_a_reused_id_stays_in_use_until_every_context_lets_it_go(make_manager, ids) -> None:
    a, b = make_manager(name="a"), make_manager(name="b")
    s = a.create()
    t = b.create(requested=s.id)  # the id is live in a: b's new session takes it
    assert t.id == s.id and t is not s and b.get(s.id) is t
    s.invalidate()
    assert ids.in_use(s.id)  # b still uses it
    t.invalidate()
    assert not ids.in_use(s.id)
    u = b.create(requested=s.id)  # used nowhere now: a fresh id, never a stranger's
    assert u.id != s.id
