"""storeDirectory: save on stop, restore eager or lazy, idle save, savePeriod, bad entries."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from pathlib import Path

from deployer.errors import SessionError
from deployer.sessions.lock import LOCK_NAME
from deployer.sessions.manager import NEEDS_STORE
from deployer.sessions.store import DB_NAME, SessionStore
from tests.sessions.conftest import idle_sessions
from tests.support.waiting import wait_for


def fill(m, n: int) -> dict[str, int]:
    made = {}
    for i in range(n):
        s = m.create()
        s["count"] = i
        m.complete(s)
        made[s.id] = i
    return made


def stored(store_dir: Path) -> dict[str, dict]:
    st = SessionStore(store_dir, create=False)
    try:
        return {r[0]: r[5] for r in st.load_all()}
    finally:
        st.close()


def test_eager_restore_after_stop(make_manager, tmp_path) -> None:
    store = tmp_path / "shop"
    m = make_manager(store)
    made = fill(m, 50)
    s = m.get(next(iter(made)))
    s.max_inactive_interval = 77
    times = (s.created, s.accessed, s.last_accessed)
    m.complete(s)
    m.stop()
    assert {k: v["count"] for k, v in stored(store).items()} == made
    m2 = make_manager(store)
    assert m2.sessions == 50
    again = m2.get(s.id)
    assert again["count"] == made[s.id] and again.max_inactive_interval == 77
    assert again.created == times[0] and again.last_accessed == times[1]
    assert not again.is_new


def test_lazy_load_reads_nothing_before_the_first_get(make_manager, tmp_path) -> None:
    store = tmp_path / "lazy"
    writer = make_manager(store, name="writer")
    made = fill(writer, 200)
    writer.stop()
    db = store / DB_NAME
    before = db.stat()
    m = make_manager(store, lazy_load=True, name="lazy")
    assert m.store.opens == 0 and m.store.rows_read == 0 and m.sessions == 0
    sid = next(iter(made))
    assert m.try_get(sid) is NEEDS_STORE
    m.complete(m.create())  # a request without an id creates without loading (JETTY.md 3.5)
    assert m.store.opens == 0, "neither start, try_get nor create touched the store"
    assert not (store / f"{DB_NAME}-wal").exists()
    after = db.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
    assert m.get(sid)["count"] == made[sid]
    assert m.store.opens == 1


def test_lazy_first_get_loads_that_id_then_the_rest_in_background(make_manager, tmp_path) -> None:
    store = tmp_path / "lazy"
    writer = make_manager(store, name="writer")
    made = fill(writer, 300)
    writer.stop()
    m = make_manager(store, lazy_load=True, name="lazy")
    assert m.store.opens == 0 and m.store.rows_read == 0
    sid = list(made)[123]
    s = m.get(sid)
    assert s is not None and s["count"] == 123
    wait_for(lambda: m.sessions == 300, what="the background load of the other sessions")
    assert m.store.opens == 1
    other = list(made)[7]
    assert m.try_get(other)["count"] == 7
    assert m.get("unknown-but-valid-id-xx") is None


def test_lazy_load_happens_on_the_first_scavenge_too(make_manager, tmp_path) -> None:
    store = tmp_path / "lazy"
    writer = make_manager(store, name="writer")
    fill(writer, 20)
    writer.stop()
    m = make_manager(store, lazy_load=True, name="lazy")
    assert m.store.opens == 0
    m.scavenge()
    assert m.sessions == 20


def test_expired_sessions_are_dropped_from_the_store(make_manager, tmp_path) -> None:
    store = tmp_path / "exp"
    m = make_manager(store, max_inactive_interval=10)
    s, keep = m.create(), m.create()
    m.complete(s)
    m.complete(keep)
    keep.max_inactive_interval = -1
    m.save()
    assert len(stored(store)) == 2
    m.scavenge(now=time.time() + 60)
    assert not s.is_valid and keep.is_valid
    assert set(stored(store)) == {keep.id}
    keep.invalidate()
    wait_for(lambda: not stored(store), what="the deletion of an invalidated session")


def test_idle_save_drops_memory_and_reads_back(make_manager, tmp_path) -> None:
    store = tmp_path / "idle"
    m = make_manager(store, idle_save_period=5)
    s = m.create()
    s["cart"] = ["apple", "pear"]
    m.complete(s)
    busy = m.create()
    busy["x"] = 1
    m.scavenge(now=time.time() + 10)
    assert s._attrs is None, "attributes dropped from memory"
    assert busy._attrs == {"x": 1}, "a session in use is never idled"
    assert stored(store)[s.id] == {"cart": ["apple", "pear"]}
    assert m.try_get(s.id) is NEEDS_STORE
    back = m.get(s.id)
    assert back is s and back["cart"] == ["apple", "pear"]
    m.complete(back)


def test_idle_session_whose_entry_vanished_is_invalidated(make_manager, tmp_path, caplog) -> None:
    store = tmp_path / "idle"
    m = make_manager(store, idle_save_period=1)
    s = m.create()
    s["a"] = 1
    m.complete(s)
    m.scavenge(now=time.time() + 10)
    m.store.delete([s.id])
    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        assert m.get(s.id) is None
    assert not s.is_valid and "could not be read back" in caplog.text


def test_save_period_writes_changed_sessions_only(make_manager, tmp_path) -> None:
    store = tmp_path / "periodic"
    m = make_manager(store, save_period=1)
    s = m.create()
    s["n"] = 1
    m.complete(s)
    wait_for(lambda: stored(store).get(s.id) == {"n": 1}, what="the periodic save")
    m.save()  # settles a save that raced the write of "n" (it stays dirty, so it is redone)
    written = m.store.rows_written
    assert m.save() == 0 and m.store.rows_written == written, "unchanged: not rewritten"
    m.get(s.id)["n"] = 2
    m.complete(s)
    wait_for(lambda: stored(store).get(s.id) == {"n": 2}, what="the periodic save of a change")


def test_two_managers_keep_their_own_stores(make_manager, tmp_path) -> None:
    a = make_manager(tmp_path / "a", name="a")
    b = make_manager(tmp_path / "b", name="b")
    sa, sb = a.create(), b.create()
    sa["who"], sb["who"] = "a", "b"
    a.stop()
    b.stop()
    assert stored(tmp_path / "a") == {sa.id: {"who": "a"}}
    assert stored(tmp_path / "b") == {sb.id: {"who": "b"}}


def test_path_traversal_id_reads_nothing(make_manager, tmp_path) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    m = make_manager(tmp_path / "store" / "ctx", lazy_load=True)
    for bad in ("../../etc/passwd", "../etc/passwd", "/etc/passwd", "..", "sessions.db"):
        assert m.try_get(bad) is None
        assert m.get(bad) is None
    assert m.store.opens == 0 and m.store.rows_read == 0
    assert os.listdir(tmp_path / "store" / "ctx") == [LOCK_NAME]  # the lock alone


def test_store_files_are_private(make_manager, tmp_path) -> None:
    store = tmp_path / "private"
    m = make_manager(store, save_period=1)
    s = m.create()
    s["a"] = 1
    m.save()
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    files = sorted(p.name for p in store.iterdir())
    assert DB_NAME in files and f"{DB_NAME}-wal" in files
    for p in store.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    m.stop()
    assert stat.S_IMODE((store / DB_NAME).stat().st_mode) == 0o600


def test_take_over_with_a_store_leaves_sessions_on_disk(make_manager, tmp_path) -> None:
    store = tmp_path / "hot"
    old = make_manager(store, name="v1")
    s = old.create()
    s["cart"] = [1]
    old.complete(s)
    new = make_manager(store, name="v2", start=False)
    new.take_over(old)
    new.start()
    assert new.store.rows_read == 0, "sessions come from memory, not from the store"
    old.stop()
    assert stored(store) == {s.id: {"cart": [1]}}
    assert new.get(s.id) is s and s["cart"] == [1]


def test_take_over_into_a_different_store_writes_everything_there(make_manager, tmp_path) -> None:
    old = make_manager(tmp_path / "one", name="v1", idle_save_period=1)
    s, t = old.create(), old.create()
    s["a"], t["b"] = 1, 2
    old.complete(s)
    old.complete(t)
    old.scavenge(now=time.time() + 10)  # both idled into the old store
    new = make_manager(tmp_path / "two", name="v2", start=False)
    new.take_over(old)
    new.start()
    old.stop()
    new.stop()
    assert stored(tmp_path / "two") == {s.id: {"a": 1}, t.id: {"b": 2}}


def bad_rows(store: Path) -> None:
    with sqlite3.connect(store / DB_NAME) as c:
        c.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)", [
            ("corruptjsonxxxxxxxxxxxxx", 1.0, time.time(), 1.0, 1800, "{not json"),
            ("truncatedxxxxxxxxxxxxxxx", 1.0, time.time(), 1.0, 1800, '{"cart": ["app'),
            ("wrongtypesxxxxxxxxxxxxxx", "yesterday", time.time(), 1.0, 1800, "{}"),
            ("notanobjectxxxxxxxxxxxxx", 1.0, time.time(), 1.0, 1800, "[1, 2]"),
            ("../../etc/passwd", 1.0, time.time(), 1.0, 1800, "{}"),
        ])
    c.close()


def test_corrupt_and_truncated_entries_are_set_aside(make_manager, tmp_path, caplog) -> None:
    store = tmp_path / "bad"
    m = make_manager(store)
    good = m.create()
    good["ok"] = True
    m.stop()
    bad_rows(store)
    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        m2 = make_manager(store)
    assert m2.sessions == 1 and m2.get(good.id)["ok"] is True
    quarantined = dict(m2.store.quarantined())
    assert set(quarantined) == {"corruptjsonxxxxxxxxxxxxx", "truncatedxxxxxxxxxxxxxxx",
                                "wrongtypesxxxxxxxxxxxxxx", "notanobjectxxxxxxxxxxxxx",
                                "../../etc/passwd"}
    assert "not valid JSON" in quarantined["truncatedxxxxxxxxxxxxxxx"]
    assert "quarantine" in caplog.text and "truncatedxxx" in caplog.text
    assert m2.store.count() == 1, "set aside, so not retried on every start"


def test_unrestorable_entries_are_deleted_when_asked(make_manager, tmp_path, caplog) -> None:
    store = tmp_path / "bad"
    SessionStore(store).count()  # an empty store: created on first use
    bad_rows(store)
    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        m = make_manager(store, delete_unrestorable=True, lazy_load=True)
        assert m.get("truncatedxxxxxxxxxxxxxxx") is None
        m.scavenge()
    assert m.sessions == 0 and m.store.count() == 0 and m.store.quarantined() == []
    assert "deleted (deleteUnrestorableSessions)" in caplog.text


def test_a_garbage_database_file_is_set_aside(make_manager, tmp_path, caplog) -> None:
    store = tmp_path / "garbage"
    store.mkdir(mode=0o700)
    (store / DB_NAME).write_bytes(os.urandom(8192))
    assert_set_aside_then_fresh(make_manager, store, caplog)


def assert_set_aside_then_fresh(make_manager, store, caplog) -> Path:
    """A manager on ``store`` sets its database file aside, says where, and starts afresh;
    returns where the file went."""
    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        m = make_manager(store)
    assert m.store.set_aside and m.store.set_aside[0].exists()
    assert str(m.store.set_aside[0]) in caplog.text
    s = m.create()
    s["fresh"] = 1
    m.stop()
    assert stored(store) == {s.id: {"fresh": 1}}
    return m.store.set_aside[0]


def test_a_truncated_database_file_is_set_aside(make_manager, tmp_path, caplog) -> None:
    store = tmp_path / "trunc"
    m = make_manager(store)
    for i in range(3000):
        m.create()["payload"] = "x" * 50 + str(i)
    m.stop()
    db = store / DB_NAME
    with open(db, "r+b") as f:
        f.truncate(db.stat().st_size // 3)
    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        m2 = make_manager(store)
    assert m2.is_running
    assert m2.store.set_aside and "set aside" in caplog.text
    m2.create()["after"] = 1
    m2.stop()
    assert SessionStore(store, create=False).count() == 1


def test_a_zero_length_database_file_is_reported_and_set_aside(make_manager, tmp_path,
                                                               caplog) -> None:
    """SQLite takes a 0-byte file for an empty database: 200 sessions were gone, nothing said."""
    store = tmp_path / "zero"
    store.mkdir(mode=0o700)
    (store / DB_NAME).write_bytes(b"")
    assert assert_set_aside_then_fresh(make_manager, store, caplog).stat().st_size == 0
    assert "the file is empty (0 bytes)" in caplog.text


def test_a_foreign_sqlite_file_is_set_aside_untouched(make_manager, tmp_path, caplog) -> None:
    """Its journal mode was switched to WAL before it was found not to be a session store."""
    store = tmp_path / "foreign"
    store.mkdir(mode=0o700)
    with sqlite3.connect(store / DB_NAME) as c:
        c.execute("CREATE TABLE users (name TEXT)")
        c.execute("INSERT INTO users VALUES ('ada')")
    c.close()
    before = (store / DB_NAME).read_bytes()
    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        m = make_manager(store)
    aside = m.store.set_aside[0]
    assert aside.read_bytes() == before
    assert not Path(f"{aside}-wal").exists()
    with sqlite3.connect(aside) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert c.execute("SELECT name FROM users").fetchall() == [("ada",)]
    c.close()
    assert "not a deployer session store" in caplog.text


def test_a_lazy_manager_survives_a_garbage_database(make_manager, tmp_path) -> None:
    store = tmp_path / "garbage"
    store.mkdir(mode=0o700)
    (store / DB_NAME).write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    m = make_manager(store, lazy_load=True)
    assert m.get("abcdefghijklmnopqrstuvwx") is None
    assert m.store.set_aside


def test_lazy_load_never_resurrects_an_invalidated_session(make_manager, tmp_path) -> None:
    store = tmp_path / "lazy"
    writer = make_manager(store, name="writer")
    made = fill(writer, 500)
    writer.stop()
    m = make_manager(store, lazy_load=True, name="lazy")
    victim = list(made)[42]
    m.get(victim).invalidate()  # the background load may read its row before it is deleted
    wait_for(lambda: m._loaded, what="the background load")
    m.scavenge()
    assert m.sessions == 499 and m.get(victim) is None
    assert victim not in stored(store)


def test_concurrent_first_gets_with_lazy_load_share_one_object(make_manager, tmp_path) -> None:
    import threading

    store = tmp_path / "lazy"
    writer = make_manager(store, name="writer")
    made = list(fill(writer, 2000))
    writer.stop()
    m = make_manager(store, lazy_load=True, name="lazy")
    seen: dict[str, set[int]] = {sid: set() for sid in made}
    lock = threading.Lock()

    def reader(offset: int) -> None:
        for sid in made[offset:] + made[:offset]:
            s = m.get(sid)
            assert s is not None
            with lock:
                seen[sid].add(id(s))
            m.complete(s)

    threads = [threading.Thread(target=reader, args=(i * 250,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(objs) == 1 for objs in seen.values()), "a session was loaded twice"
    assert m.sessions == 2000


def test_expired_entries_are_not_revived_at_restore(make_manager, tmp_path) -> None:
    store = tmp_path / "old"
    m = make_manager(store, max_inactive_interval=5)
    s = m.create()
    m.complete(s)
    s._accessed -= 100
    m.stop()
    m2 = make_manager(store)
    assert m2.sessions == 0 and stored(store) == {}


def test_lazy_new_manager_takes_over_without_reading(make_manager, tmp_path) -> None:
    store = tmp_path / "hot"
    old = make_manager(store, name="v1")
    s = old.create()
    s["a"] = 1
    new = make_manager(store, name="v2", lazy_load=True, start=False)
    new.take_over(old)
    new.start()
    old.stop()
    assert new.store.opens == 0
    assert new.try_get(s.id) is s
    assert new.try_get("nobody-has-this-id-xxxxx") is None, "all loaded: None, not NEEDS_STORE"


def test_a_stopped_manager_restores_again_when_restarted(make_manager, tmp_path) -> None:
    store = tmp_path / "again"
    m = make_manager(store)
    s = m.create()
    s["n"] = 1
    for _ in range(2):
        m.stop()
        assert m.sessions == 0
        m.start()
        assert m.sessions == 1 and m.get(s.id)["n"] == 1


def test_idle_save_racing_requests_loses_no_update(make_manager, tmp_path) -> None:
    """Requests on threads while sweeps idle every session not in use at that instant."""
    import threading

    m = make_manager(tmp_path / "race", idle_save_period=0.001)
    mine = idle_sessions(m, 6, n=0)
    done = threading.Event()
    errors: list[BaseException] = []

    def requests(sid: str) -> None:
        try:
            for _ in range(150):
                s = m.get(sid)
                s["n"] = s["n"] + 1
                m.complete(s)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def sweeper() -> None:
        while not done.is_set():
            m.scavenge(now=time.time() + 100)

    sweep = threading.Thread(target=sweeper)
    sweep.start()
    workers = [threading.Thread(target=requests, args=(sid,)) for sid in mine]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    sweep.join()
    assert not errors
    assert m.store.rows_written > 0, "sessions were idled while the requests ran"
    assert [m.get(sid)["n"] for sid in mine] == [150] * 6


def test_a_value_changed_in_place_to_non_json_skips_only_that_session(
        make_manager, tmp_path, caplog) -> None:
    store = tmp_path / "inplace"
    m = make_manager(store)
    good, bad = m.create(), m.create()
    good["a"] = [1]
    bad["cart"] = []
    bad["cart"].append(object())  # behind the set-time check's back
    with caplog.at_level(logging.ERROR, "deployer.sessions"):
        assert m.save() == 1
    assert set(stored(store)) == {good.id}
    assert f"session {bad.id} not saved" in caplog.text
    assert bad.dirty and not good.dirty


def test_a_start_with_nothing_stored_creates_no_database(make_manager, tmp_path) -> None:
    """An eager restore of an empty store reads nothing and writes nothing; the first save does."""
    store = tmp_path / "empty"
    m = make_manager(store)
    assert store.is_dir() and not (store / DB_NAME).exists()
    assert m.store.opens == 0
    m.create()["n"] = 1
    m.stop()
    assert list(stored(store).values()) == [{"n": 1}]



def test_a_reader_never_sees_a_database_without_its_schema(tmp_path) -> None:
    """`deployer sessions list` racing the first save: "no store yet" or the store, never half."""
    import threading

    record = ("a" * 24, 1.0, 2.0, 1.0, 1800, '{"n": 1}')
    for n in range(40):
        directory = tmp_path / f"race{n}"
        failures: list[BaseException] = []

        def write(d: Path = directory, failures: list[BaseException] = failures) -> None:
            try:
                SessionStore(d).save([record])
            except BaseException as exc:  # reported by the test thread below
                failures.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        while True:
            done = not writer.is_alive()
            reader = SessionStore(directory, create=False)
            try:
                rows = reader.load_all()
            except SessionError as exc:
                assert "holds no session store" in str(exc), exc
                rows = None
            finally:
                reader.close()
            if done:
                break
        writer.join()
        assert not failures, failures
        assert rows is not None and [r[0] for r in rows] == [record[0]]
