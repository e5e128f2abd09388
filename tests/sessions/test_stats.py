"""SessionStats: what the manager page and /metrics read of a context's sessions."""

from __future__ import annotations

import time

from deployer.sessions.stats import Timings


def test_counts_follow_the_sessions_across_a_take_over(make_manager, tmp_path) -> None:
    old = make_manager(tmp_path / "store", name="v1", max_inactive_interval=10)
    a, b, c = old.create(), old.create(), old.create()
    for s in (a, b, c):
        s["n"] = 1
        old.complete(s)
    old.scavenge(now=time.time() + 11)
    assert (old.stats.created, old.stats.expired) == (3, 3)
    d = old.create()
    d["n"] = 2
    old.complete(d)
    new = make_manager(tmp_path / "store", name="v2", start=False)
    new.take_over(old)
    new.start()
    new.create()
    assert new.stats is old.stats and new.stats.created == 5
    assert new.save() == 2 and new.stats.saved == 2
    buckets, total = new.stats.save_seconds.cumulative()
    assert buckets[-1] == ("+Inf", 1) and total > 0


def test_listing_and_invalidating_by_id(make_manager) -> None:
    m = make_manager()
    s = m.create()
    s["cart"] = [1]
    m.complete(s)
    [entry] = m.listing()
    assert entry["id"] == s.id and entry["attributes"] == ["cart"]
    assert m.invalidate_id(s.id) and not s.is_valid and m.listing() == []
    assert not m.invalidate_id(s.id)


def test_timings_are_cumulative_buckets() -> None:
    t = Timings((0.1, 1.0))
    for seconds in (0.05, 0.5, 0.5, 3.0):
        t.add(seconds)
    assert t.cumulative() == ([("0.1", 1), ("1.0", 3), ("+Inf", 4)], 4.05)
