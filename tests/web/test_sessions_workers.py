"""Sessions across the process boundary: the front keeps them, workers see snapshots and send
back changes attribute by attribute. A worker's death loses nothing; two workers writing one
session at once do not undo each other; what the app cannot keep is refused by name."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
from pathlib import Path

import httpx

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
from deployer.web.tracking import SessionTracking
from tests.support.waiting import wait_for
from tests.web.conftest import Harness

APP = '''
import json, os, time

def application(environ, start_response):
    session = environ["deployer.session"]
    path = environ["PATH_INFO"]
    if path == "/count":
        session["n"] = session.get("n", 0) + 1
        body = str(session["n"])
    elif path.startswith("/slow-set/"):  # /slow-set/<name>: read, wait, write one attribute
        name = path.rsplit("/", 1)[1]
        open(f"entered-{name}", "w").close()
        deadline = time.monotonic() + 10
        while not os.path.exists("gate") and time.monotonic() < deadline:
            time.sleep(0.005)
        session[name] = True
        body = name
    elif path == "/cart":  # a list changed in place, without setting it again
        session.setdefault("cart", [])
        session["cart"].append(len(session["cart"]))
        body = json.dumps(session["cart"])
    elif path == "/bad":
        try:
            session["when"] = object()
            body = "kept"
        except Exception as exc:
            body = f"{type(exc).__name__}: {exc}"
    elif path == "/renew":  # as a login does: a new id, the data carried over
        data = dict(session)
        session.invalidate()
        session.update(data)
        body = session.id
    elif path == "/pid":
        body = str(os.getpid())
    else:
        body = json.dumps({"id": session.id, "attrs": dict(session), "new": session.is_new})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''


def start(harness: Harness, tmp_path: Path, workers: int = 1) -> tuple[Path, SessionManager]:
    base = tmp_path / "app"
    base.mkdir()
    (base / "wsgi.py").write_text(textwrap.dedent(APP))
    sessions = SessionManager(SessionConfig(), SessionIdManager(), "s")
    harness.context(base, "/s", sessions=sessions, tracking=SessionTracking(), workers=workers,
                    threads=4)
    return base, sessions


def test_a_killed_worker_loses_no_session(harness: Harness, tmp_path: Path) -> None:
    start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        assert [client.get("/s/count").text for _ in range(3)] == ["1", "2", "3"]
        pid = int(client.get("/s/pid").text)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: client.get("/s/pid").text != str(pid))
        assert client.get("/s/count").text == "4"


def test_two_workers_writing_one_session_at_once_keep_both_attributes(harness: Harness,
                                                                      tmp_path: Path) -> None:
    base, _ = start(harness, tmp_path, workers=2)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        client.get("/s/count")  # the session exists
        done: list[str] = []
        threads = [threading.Thread(target=lambda n=n: done.append(
            client.get(f"/s/slow-set/{n}").text)) for n in ("a", "b")]
        for t in threads:
            t.start()
        wait_for(lambda: (base / "entered-a").exists() and (base / "entered-b").exists())
        (base / "gate").touch()
        for t in threads:
            t.join(10)
        assert sorted(done) == ["a", "b"]
        attrs = httpx.Client(base_url=harness.url, cookies=client.cookies).get("/s/").json()
        assert attrs["attrs"] == {"n": 1, "a": True, "b": True}


def test_in_place_changes_a_refused_value_and_a_renewed_id(harness: Harness,
                                                           tmp_path: Path) -> None:
    _, sessions = start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        assert [client.get("/s/cart").text for _ in range(3)] == ["[0]", "[0, 1]", "[0, 1, 2]"]
        r = client.get("/s/bad")
        assert r.text.startswith("SessionError: session attribute 'when' is not JSON")
        before = client.get("/s/").json()
        assert "when" not in before["attrs"] and before["new"] is False
        renewed = client.get("/s/renew").text
        assert renewed != before["id"]
        after = client.get("/s/").json()
        assert after["id"] == renewed and after["attrs"] == {"cart": [0, 1, 2]}
        assert sessions.sessions == 1  # the old one is gone, not kept beside the new one


def test_requests_queued_for_a_worker_see_the_session_as_it_is_when_they_reach_it(
        harness: Harness, tmp_path: Path) -> None:
    """One WSGI thread, 20 concurrent requests on one session: each waits its turn and takes
    its snapshot then, so no increment is lost (a snapshot taken on arrival would be stale)."""
    base = tmp_path / "app"
    base.mkdir()
    (base / "wsgi.py").write_text(textwrap.dedent(APP))
    sessions = SessionManager(SessionConfig(), SessionIdManager(), "q")
    harness.context(base, "/q", sessions=sessions, tracking=SessionTracking(), threads=1)
    with httpx.Client(base_url=harness.url, timeout=20) as client:
        assert client.get("/q/count").text == "1"
        seen: list[str] = []
        threads = [threading.Thread(target=lambda: seen.append(client.get("/q/count").text))
                   for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert sorted(seen, key=int) == [str(n) for n in range(2, 22)]
        assert client.get("/q/count").text == "22"
