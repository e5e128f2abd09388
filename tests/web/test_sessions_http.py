"""Sessions over HTTP with the real SessionManager: cookies, ;jsessionid=, hostile ids, refresh."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
from deployer.web.tracking import SessionTracking, parse_cookie_values, strip_path_parameter
from tests.web.conftest import SAMPLES, Harness


@pytest.fixture
def ids() -> SessionIdManager:
    return SessionIdManager()


def manager(ids: SessionIdManager, name: str, store: Path | None = None) -> SessionManager:
    return SessionManager(SessionConfig(store_directory=store), ids, name)


@pytest.fixture
def counters(harness: Harness, ids: SessionIdManager) -> Iterator[Harness]:
    harness.context(SAMPLES / "counter", "/counter", sessions=manager(ids, "counter"),
                    tracking=SessionTracking(http_only=True))
    harness.context(SAMPLES / "asgi-hello", "/hello", sessions=manager(ids, "hello"),
                    tracking=SessionTracking())
    yield harness


@pytest.mark.parametrize("path,prefix", [("/counter/", "count="), ("/hello/", "hello count=")])
def test_cookie_flow_counts(counters: Harness, path: str, prefix: str) -> None:
    with httpx.Client(base_url=counters.url) as client:
        r = client.get(path)
        assert r.text == f"{prefix}1\n"
        cookie = r.headers["set-cookie"]
        ctx = path.rstrip("/")
        assert re.fullmatch(rf"JSESSIONID=[A-Za-z0-9_-]{{22,}}; Path={ctx}(; HttpOnly)?", cookie)
        assert client.get(path).text == f"{prefix}2\n"
        r = client.get(path)
        assert r.text == f"{prefix}3\n" and "set-cookie" not in r.headers  # only when created


def test_cookieless_client_uses_the_path_parameter(counters: Harness) -> None:
    with httpx.Client(base_url=counters.url) as c:
        r = c.get("/counter/")
        sid = r.cookies["JSESSIONID"]
    for n in (2, 3):  # fresh clients: no cookie jar
        r = httpx.get(f"{counters.url}/counter/;jsessionid={sid}")
        assert r.text == f"count={n}\n" and "set-cookie" not in r.headers
    r = httpx.get(f"{counters.url}/hello;jsessionid={sid}?x=1")  # another context: own sessions
    assert r.text == "hello count=1\n"


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "..%2F..%2Fetc", "a" * 300, "x/y", ""])
def test_hostile_ids_are_ignored(counters: Harness, hostile: str) -> None:
    r = httpx.get(f"{counters.url}/counter/", headers={"cookie": f"JSESSIONID={hostile}"})
    assert r.status_code == 200 and r.text == "count=1\n"
    assert "set-cookie" in r.headers  # a new session, not the hostile one
    assert hostile not in r.headers["set-cookie"] or not hostile


def test_unknown_valid_id_gets_a_new_session(counters: Harness, ids: SessionIdManager) -> None:
    r = httpx.get(f"{counters.url}/counter/", headers={"cookie": f"JSESSIONID={ids.new_id()}"})
    assert r.text == "count=1\n" and "set-cookie" in r.headers


def test_reads_create_nothing(harness: Harness, ids: SessionIdManager, tmp_path: Path) -> None:
    base = tmp_path / "ro"
    base.mkdir()
    (base / "wsgi.py").write_text(
        "def application(environ, start_response):\n"
        "    s = environ['deployer.session']\n"
        "    start_response('200 OK', [])\n"
        "    return [str(s.get('x')).encode(), str(len(s)).encode()]\n")
    sessions = manager(ids, "ro")
    harness.context(base, "/ro", sessions=sessions)
    r = httpx.get(f"{harness.url}/ro/")
    assert r.text == "None0" and "set-cookie" not in r.headers
    assert sessions.sessions == 0


def test_cookie_attributes_and_refresh(harness: Harness, ids: SessionIdManager) -> None:
    tracking = SessionTracking(cookie_name="SID", domain="example.com", path="/", max_age=600,
                               refresh_cookie_age=0)
    harness.context(SAMPLES / "counter", "/c", sessions=manager(ids, "c"), tracking=tracking)
    r = httpx.get(f"{harness.url}/c/")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("SID=") and "; Path=/; Domain=example.com; Max-Age=600; Expires="\
        in cookie
    assert "Secure" not in cookie and "HttpOnly" not in cookie


def test_tracking_helpers() -> None:
    assert parse_cookie_values('a=1; JSESSIONID="x"; JSESSIONID=y', "JSESSIONID") == ["x", "y"]
    assert strip_path_parameter("/a;jsessionid=abc/b", "jsessionid") == ("/a/b", "abc")
    assert strip_path_parameter("/a;jsessionid=abc", "jsessionid") == ("/a", "abc")
    assert strip_path_parameter("/a;x=1", "jsessionid") == ("/a;x=1", None)
    secure = SessionBinderFactory.cookie(True)
    assert secure.endswith("; Secure")


class SessionBinderFactory:
    @staticmethod
    def cookie(secure: bool) -> str:
        from deployer.web.tracking import SessionBinder

        binder = SessionBinder(SessionManager(SessionConfig(), SessionIdManager(), "x"),
                               SessionTracking(), "/app")
        return binder.cookie("v", secure)
