"""Sessions over HTTP with the real SessionManager: cookies, ;jsessionid=, hostile ids, refresh."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
from deployer.sessions.store import DB_NAME
from deployer.web.tracking import (
    SessionBinder,
    SessionTracking,
    parse_cookie_values,
    strip_path_parameter,
)
from tests.support.waiting import wait_for
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
    binder = SessionBinder(manager(SessionIdManager(), "x"), SessionTracking(), "/app")
    assert binder.cookie("v", secure=True) == "JSESSIONID=v; Path=/app; Secure"
    assert binder.cookie("v", secure=False) == "JSESSIONID=v; Path=/app"


def test_asgi_cookieless_client(counters: Harness) -> None:
    sid = httpx.get(f"{counters.url}/hello/").cookies["JSESSIONID"]
    assert httpx.get(f"{counters.url}/hello/;jsessionid={sid}").text == "hello count=2\n"


def test_refresh_cookie_age(harness: Harness, ids: SessionIdManager) -> None:
    tracking = SessionTracking(max_age=600, refresh_cookie_age=1)
    harness.context(SAMPLES / "counter", "/r", sessions=manager(ids, "r"), tracking=tracking)
    with httpx.Client(base_url=harness.url) as client:
        assert "set-cookie" in client.get("/r/").headers
        assert "set-cookie" not in client.get("/r/").headers  # set less than 1 s ago
        wait_for(lambda: "set-cookie" in client.get("/r/").headers, timeout=5,
                 what="the cookie re-sent once 1 s has passed")


def test_counter_survives_a_restart_with_a_store(harness: Harness, ids: SessionIdManager,
                                                 tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = harness.context(SAMPLES / "counter", "/p", sessions=manager(ids, "p", store))
    with httpx.Client(base_url=harness.url) as client:
        assert client.get("/p/").text == "count=1\n"
        assert client.get("/p/").text == "count=2\n"
        harness.run(first.astop())  # saves the sessions
        assert client.get("/p/").status_code == 503
        harness.router.swap([])
        harness.context(SAMPLES / "counter", "/p", sessions=manager(SessionIdManager(), "p", store))
        assert client.get("/p/").text == "count=3\n"


def test_the_parsed_cookie_cache_is_bounded_by_bytes(ids: SessionIdManager) -> None:
    """3,000 distinct 64 KB Cookie headers kept 187 MB for good (issue 12, item 3)."""
    binder = SessionBinder(manager(ids, "x"), SessionTracking(), "/app")
    sid = ids.new_id()
    for i in range(3000):
        header = b"JSESSIONID=%s; pad%d=%s" % (sid.encode(), i, b"p" * 65536)
        assert binder.requested_ids({"headers": [(b"cookie", header)], "path": "/"}) == (sid,)
    for i in range(3000):  # short distinct headers: cached, within the byte bound
        header = b"JSESSIONID=%s; n=%d" % (sid.encode(), i)
        assert binder.requested_ids({"headers": [(b"cookie", header)], "path": "/"}) == (sid,)
    kept = sum(len(k) for k in binder._parsed)
    assert kept == binder.parsed_bytes <= 1 << 20
    assert kept > 0  # the cache still works for ordinary headers


def test_a_lazy_store_that_cannot_be_read_answers_503_and_logs_once(
        harness: Harness, ids: SessionIdManager, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """It gave 500 and "Exception in ASGI application" with a traceback to every request that
    carried a stored cookie (issue 12, item 7)."""
    store = tmp_path / "store"
    first = harness.context(SAMPLES / "counter", "/p", sessions=manager(ids, "p", store))
    with httpx.Client(base_url=harness.url) as client:
        assert client.get("/p/").text == "count=1\n"
        harness.run(first.astop())  # saved
        harness.router.swap([])
        db = store / DB_NAME
        db.rename(store / "moved")
        db.mkdir()  # the store cannot be opened: EISDIR, a real OS error whoever runs this
        lazy = SessionManager(SessionConfig(store_directory=store, lazy_load=True),
                              SessionIdManager(), "p")
        harness.context(SAMPLES / "counter", "/p", sessions=lazy)
        assert [client.get("/p/").status_code for _ in range(3)] == [503, 503, 503]
        db.rmdir()
        (store / "moved").rename(db)
        assert client.get("/p/").text == "count=2\n"  # the stored session, read at last
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "reading a session failed" in m]) == 1, messages
    assert len([m for m in messages if "the store works again after 3 failed" in m]) == 1
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


def test_sessions_over_max_active_sessions_without_a_store_get_503(
        harness: Harness, ids: SessionIdManager) -> None:
    """100,000 cookie-less requests made 100,000 sessions (issue 12, item 5)."""
    sessions = SessionManager(SessionConfig(max_active_sessions=3), ids, "few")
    harness.context(SAMPLES / "counter", "/few", sessions=sessions)
    clients = [httpx.Client(base_url=harness.url) for _ in range(5)]
    try:
        answers = [c.get("/few/") for c in clients]
        assert [a.status_code for a in answers] == [200, 200, 200, 503, 503]
        assert "set-cookie" not in answers[3].headers
        assert [c.get("/few/").text for c in clients[:3]] == ["count=2\n"] * 3
        assert sessions.sessions == 3
    finally:
        for c in clients:
            c.close()


def test_contexts_sharing_a_cookie_keep_one_id_and_their_own_sessions(
        harness: Harness, ids: SessionIdManager) -> None:
    """JETTY.md §10 "two contexts sharing a cookie (SessionPath=/)" and "session id live in another
    context": Jetty counts 1,1,2,2 on one id; each context keeps its own session under it."""
    shared = SessionTracking(path="/")
    harness.context(SAMPLES / "counter", "/a", sessions=manager(ids, "a"), tracking=shared)
    harness.context(SAMPLES / "counter", "/b", sessions=manager(ids, "b"), tracking=shared)
    with httpx.Client(base_url=harness.url) as c:
        counts = [c.get(p).text for p in ("/a/", "/b/", "/a/", "/b/")]
        assert counts == ["count=1\n", "count=1\n", "count=2\n", "count=2\n"]
        assert len(c.cookies.jar) == 1
    (sid,) = [ck.value for ck in c.cookies.jar]
    assert ids.in_use(sid)



def _cookie_config_tracking(tmp_path: Path, body: str) -> SessionTracking:
    """A descriptor's sessionCookieConfig as `run` builds it."""
    from deployer.deploy.build import session_manager_spec, session_tracking
    from tests.descriptor.helpers import ctx

    spec = ctx(tmp_path, f"""<Get name="sessionHandler">{body}</Get>""")
    manager_spec = session_manager_spec(spec)
    assert manager_spec is not None
    return session_tracking(spec, manager_spec)


@pytest.mark.parametrize("body,same_site", [
    ('<Get name="sessionCookieConfig"><Set name="secure">true</Set></Get>', None),
    ('<Get name="sessionCookieConfig"><Set name="secure">true</Set>'
     '<Set name="comment">__SAME_SITE_STRICT__</Set></Get>', "Strict"),  # Jetty 9.4's form
    ('<Set name="sameSite">LAX</Set><Get name="sessionCookieConfig">'
     '<Set name="secure">true</Set></Get>', "Lax"),  # Jetty 12's
    ('<Get name="sessionCookieConfig"><Call name="setAttribute"><Arg>Secure</Arg><Arg>true</Arg>'
     '</Call><Call name="setAttribute"><Arg>SameSite</Arg><Arg>None</Arg></Call></Get>',
     "None"),  # servlet 6 (Jetty 12 ee10)
])
def test_secure_cookie_config_and_same_site(tmp_path: Path, harness: Harness,
                                            ids: SessionIdManager, body: str,
                                            same_site: str | None) -> None:
    """JETTY.md §10 "SessionCookieConfig.setSecure(true)": Secure even on plain HTTP."""
    tracking = _cookie_config_tracking(tmp_path, body)
    assert tracking.secure and tracking.same_site == same_site
    harness.context(SAMPLES / "counter", "/c", sessions=manager(ids, "c"), tracking=tracking)
    cookie = httpx.get(f"{harness.url}/c/").headers["set-cookie"]
    assert "; Secure" in cookie
    assert (f"; SameSite={same_site}" in cookie) if same_site else "SameSite" not in cookie


@pytest.fixture
def behind_proxy() -> Iterator[Harness]:
    h = Harness(forwarded_allow_ips="127.0.0.1")
    try:
        yield h
    finally:
        h.close()


@pytest.mark.parametrize("headers,secure", [
    ({"x-forwarded-proto": "https"}, True),
    ({"forwarded": 'for="[2001:db8::1]:4711";proto=https, for=10.0.0.2'}, True),
    ({"forwarded": "for=10.0.0.1;proto=http"}, False),
    ({}, False),
])
def test_trusted_proxy_headers_make_the_cookie_secure(behind_proxy: Harness, ids: SessionIdManager,
                                                      headers: dict[str, str],
                                                      secure: bool) -> None:
    """secureRequestOnly (the default): Secure when the request was HTTPS at the proxy."""
    behind_proxy.context(SAMPLES / "counter", "/c", sessions=manager(ids, "c"),
                         tracking=SessionTracking())
    cookie = httpx.get(f"{behind_proxy.url}/c/", headers=headers).headers["set-cookie"]
    assert ("; Secure" in cookie) is secure


def test_proxy_headers_from_an_untrusted_peer_are_ignored(ids: SessionIdManager) -> None:
    h = Harness(forwarded_allow_ips="10.9.9.9")
    try:
        h.context(SAMPLES / "counter", "/c", sessions=manager(ids, "c"), tracking=SessionTracking())
        for headers in ({"x-forwarded-proto": "https"}, {"forwarded": "proto=https"}):
            assert "Secure" not in httpx.get(f"{h.url}/c/", headers=headers).headers["set-cookie"]
    finally:
        h.close()
