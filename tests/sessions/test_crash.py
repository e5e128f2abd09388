"""kill -9 during a save of 10,000 sessions: nothing torn, every committed save restorable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deployer.sessions.store import DB_NAME, SessionStore

CHILD = textwrap.dedent("""
    import sys
    from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
    m = SessionManager(SessionConfig(store_directory=sys.argv[1]), SessionIdManager(), "crash")
    m.start()
    sessions = [m.create() for _ in range(10_000)]
    for s in sessions:
        m.complete(s)
    k = 0
    while True:
        k += 1
        for s in sessions:
            s["n"] = k
            s["blob"] = "x" * (k % 7) * 20
        print("saving", k, flush=True)
        m.save()
        print("saved", k, flush=True)
""")


def wal_state(store: Path) -> tuple[int, int]:
    try:
        st = os.stat(store / f"{DB_NAME}-wal")
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def kill_when_the_wal_moves(child: subprocess.Popen, store: Path) -> None:
    """Spin (no sleep) until the commit starts writing the WAL, then SIGKILL at once."""
    start = wal_state(store)
    deadline = time.monotonic() + 20
    while wal_state(store) == start and child.poll() is None:
        if time.monotonic() > deadline:
            pytest.fail("the save never wrote to the WAL")
    child.send_signal(signal.SIGKILL)


@pytest.mark.parametrize("when", ["saving", "committing"])
@pytest.mark.parametrize("kill_at", [2, 4])
def test_kill_9_during_a_save_leaves_nothing_torn(tmp_path: Path, kill_at: int,
                                                  when: str) -> None:
    """Killed as a save begins, or as its commit is writing the WAL: all or nothing."""
    store = tmp_path / "crash"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(store)],
                             stdout=subprocess.PIPE, text=True)
    last_saved = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:  # blocks on the child's output: no sleeps
            word, k = line.split()
            if word == "saved":
                last_saved = int(k)
            elif int(k) >= kill_at:  # it has just begun saving 10,000 rows: kill it now
                if when == "saving":
                    child.send_signal(signal.SIGKILL)
                else:
                    kill_when_the_wal_moves(child, store)
                break
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert last_saved >= kill_at - 1

    with sqlite3.connect(store / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    st = SessionStore(store)
    try:
        records = st.load_all()
        assert st.last_bad == [], "no torn or unreadable entry"
    finally:
        st.close()
    assert len(records) == 10_000, "every session saved before the kill is there"
    values = {r[5]["n"] for r in records}
    assert len(values) == 1, f"one save is all or nothing, found generations {values}"
    (n,) = values
    assert n in (last_saved, last_saved + 1)
    assert all(r[5]["blob"] == "x" * (n % 7) * 20 for r in records)
