"""One process per store directory: an OS lock held while a manager owns it (issue 12, item 8),
against a real second process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deployer.errors import SessionError
from deployer.sessions.sqlitedata import SqliteDataStore

HOLDER = textwrap.dedent("""
    import sys
    from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
    m = SessionManager(SessionConfig(store_directory=sys.argv[1]), SessionIdManager(), "holder")
    m.start()
    print("started", flush=True)
    sys.stdin.readline()
    m.stop()
""")


def test_a_second_process_on_one_store_is_refused_naming_the_store_and_pid(
        make_manager, tmp_path: Path) -> None:
    store = tmp_path / "shared"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "started\n"
        m = make_manager(store, start=False)
        with pytest.raises(SessionError) as refused:
            m.start()
        assert str(store.resolve()) in str(refused.value)
        assert f"pid {holder.pid}" in str(refused.value)
    finally:
        holder.communicate("stop\n", timeout=30)
    assert holder.returncode == 0
    again = make_manager(store)  # the holder is gone: the store is free
    again.create()["x"] = 1


def test_managers_of_one_process_share_the_lock_across_a_redeploy(make_manager,
                                                                  tmp_path: Path) -> None:
    store = tmp_path / "s"
    old = make_manager(store)
    s = old.create()
    s["x"] = 1
    new = make_manager(store, start=False)
    new.take_over(old)
    new.start()
    old.stop()
    assert new.get(s.id) is not None
    new.stop()
    holder = subprocess.run([sys.executable, "-c", HOLDER, str(store)], input="\n",
                            capture_output=True, text=True, timeout=30)
    assert holder.returncode == 0, holder.stderr  # released when the last manager stopped


def test_the_file_session_data_store_takes_the_same_lock(tmp_path: Path) -> None:
    """Jetty 9.4's FileSessionDataStore (sqlitedata.py) on a directory another process holds
    fails at start as HashSessionManager's store does, and frees the directory at stop."""
    store = tmp_path / "files"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "started\n"
        with pytest.raises(SessionError, match=f"pid {holder.pid}"):
            asyncio.run(SqliteDataStore(store, "/ctx").start())
    finally:
        holder.communicate("stop\n", timeout=30)

    async def start_and_stop() -> None:
        mine = SqliteDataStore(store, "/ctx")
        await mine.start()
        await mine.stop()
        await mine.stop()  # twice: the lock is given back once
    asyncio.run(start_and_stop())
    holder = subprocess.run([sys.executable, "-c", HOLDER, str(store)], input="\n",
                            capture_output=True, text=True, timeout=30)
    assert holder.returncode == 0, holder.stderr
