"""`deployer sessions list|show|purge STORE_DIR` through deployer.cli.main and a real process."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from deployer.cli import main
from deployer.sessions.store import DB_NAME


@pytest.fixture
def store(make_manager, tmp_path):
    d = tmp_path / "shop"
    m = make_manager(d, max_inactive_interval=600)
    live = m.create()
    live["cart"] = ["apple", "pear"]
    live["user"] = "ada"
    old = m.create()
    old["x"] = 1
    forever = m.create()
    forever.max_inactive_interval = -1
    m.stop()
    with sqlite3.connect(d / DB_NAME) as c:  # make one of them expired
        c.execute("UPDATE sessions SET accessed = ? WHERE id = ?", (time.time() - 3600, old.id))
    c.close()
    return d, live.id, old.id, forever.id


def test_list_text_and_json(store, capsys) -> None:
    d, live, old, forever = store
    assert main(["sessions", "list", str(d)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert set(lines) == {live, old, forever}
    assert lines[old].endswith("yes") and lines[live].endswith("no")
    assert " 2  " in lines[live] and "never" in lines[forever]
    assert "3 sessions, 1 expired" in out
    assert main(["sessions", "list", str(d), "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[live]["attribute_count"] == 2 and rows[live]["max_inactive_interval"] == 600
    assert rows[old]["expired"] and not rows[forever]["expired"]


def test_list_is_sorted_latest_first_then_by_id(make_manager, tmp_path, capsys) -> None:
    d = tmp_path / "s"
    m = make_manager(d)
    made = [m.create() for _ in range(20)]
    for s in made:
        s["x"] = 1
    m.stop()
    with sqlite3.connect(d / DB_NAME) as c:  # two groups of equal access times
        c.executemany("UPDATE sessions SET accessed = ? WHERE id = ?",
                      [(1000.0 + i % 2, s.id) for i, s in enumerate(made)])
    c.close()
    assert main(["sessions", "list", str(d)]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:-1]]
    newer = sorted(s.id for i, s in enumerate(made) if i % 2)
    older = sorted(s.id for i, s in enumerate(made) if not i % 2)
    assert listed == newer + older


def test_show_prints_attributes(store, capsys) -> None:
    d, live, *_ = store
    assert main(["sessions", "show", str(d), live]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["attributes"] == {"cart": ["apple", "pear"], "user": "ada"}
    assert main(["sessions", "show", str(d), f"{live}.node1"]) == 0  # node ids are accepted


def test_show_refuses_invalid_and_unknown_ids(store, capsys) -> None:
    d, *_ = store
    assert main(["sessions", "show", str(d), "../../etc/passwd"]) == 1
    assert "not a valid session id" in capsys.readouterr().err
    assert main(["sessions", "show", str(d), "a" * 24]) == 1
    assert "no session " + "a" * 24 in capsys.readouterr().err


def test_purge_expired_then_all(store, capsys) -> None:
    d, live, old, forever = store
    assert main(["sessions", "purge", str(d)]) == 0
    assert "purged 1 expired sessions" in capsys.readouterr().out
    assert main(["sessions", "list", str(d), "--format", "json"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out)} == {live, forever}
    assert main(["sessions", "purge", str(d), "--all"]) == 0
    assert "purged 2 sessions" in capsys.readouterr().out


def test_a_directory_without_a_store(tmp_path, capsys) -> None:
    assert main(["sessions", "list", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "holds no session store" in captured.err
    assert captured.out == "", "no empty table and '0 sessions' for a store that is not there"
    assert main(["sessions", "show", str(tmp_path), "abcdefghijklmnopqrstuvwx"]) == 1
    assert "holds no session store" in capsys.readouterr().err  # not "no session ..."
    assert main(["sessions", "list", str(tmp_path / "missing")]) == 1
    assert list(tmp_path.iterdir()) == [], "inspecting creates nothing"
    (tmp_path / DB_NAME).write_bytes(b"garbage" * 100)
    assert main(["sessions", "list", str(tmp_path)]) == 1
    assert "session store" in capsys.readouterr().err
    assert (tmp_path / DB_NAME).read_bytes() == b"garbage" * 100, "inspecting moves nothing"


def test_unreadable_entries_are_reported_not_moved(store, capsys) -> None:
    d, *_ = store
    with sqlite3.connect(d / DB_NAME) as c:
        c.execute("INSERT INTO sessions VALUES ('brokenxxxxxxxxxxxxxxxxxx', 1.0, 1.0, 1.0, 5, '{')")
    c.close()
    assert main(["sessions", "list", str(d)]) == 0
    captured = capsys.readouterr()
    assert "unreadable entry 'brokenxxxxxxxxxxxxxxxxxx'" in captured.err
    assert main(["sessions", "show", str(d), "brokenxxxxxxxxxxxxxxxxxx"]) == 1
    assert "unreadable" in capsys.readouterr().err


def test_as_a_real_command(store) -> None:
    d, live, *_ = store
    done = subprocess.run([sys.executable, "-m", "deployer", "sessions", "show", str(d), live],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == live
