"""The direct path (web/direct.py): the requests it answers from the protocol's callbacks, the
ones it leaves to the ASGI path, and the answers it hands to an Exchange mid-way. Each test reads
the path's counters, so it fails if the request went the other way."""

from __future__ import annotations

import os
import re
import signal
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
from deployer.web.tracking import SessionTracking
from tests.support.waiting import wait_for
from tests.web.conftest import Harness

APP = '''
import asyncio, os

async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    session = scope["deployer.session"]
    path = scope["path"][len(scope["root_path"]):]
    headers = [(b"content-type", b"text/plain")]
    if path == "/count":
        session["n"] = session.get("n", 0) + 1
        body = f"{session['n']} {session.get('left', '-')}".encode()
        headers.append((b"content-length", str(len(body)).encode()))
    elif path == "/nolength":
        body = b"no length given"
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"one;", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
        return
    elif path == "/leave":  # changes the session, then waits for the client to go
        session["left"] = "yes"
        await receive()
        message = await receive()
        open("heard", "w").write(message["type"])
        return
    elif path == "/slow":
        open("entered", "w").write(str(os.getpid()))
        await asyncio.sleep(60)
        body = b"late"
    elif path == "/close":
        headers.append((b"connection", b"close"))
        body = b"closing"
    elif path == "/boom":
        raise RuntimeError("before the start")
    elif path == "/echo":
        import json
        body = json.dumps({"path": scope["path"], "raw": scope["raw_path"].decode(),
                           "scheme": scope["scheme"], "client": scope["client"][0],
                           "headers": sorted(k.decode() for k, _ in scope["headers"])}).encode()
    elif path == "/linger":  # answers, then goes on past requestTimeout
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"answered"})
        await asyncio.sleep(60)
        return
    elif path == "/baddelta":  # a broken worker: a START whose session delta is malformed
        import json
        from urllib.parse import unquote
        from deployer.worker import wire
        own = send.__self__
        delta = json.loads(unquote(scope["query_string"].decode()) or '{"set": 5}')
        own.channel.write(
            wire.start_frame(own.sid, 200, delta, b"content-length: 2\\r\\n")
            + wire.frame(wire.BODY_LAST, own.sid, b"ok")
            + wire.end_frame(own.sid, {"set": {"left": "after"}}, False))
        await asyncio.sleep(60)
        return
    elif path == "/big":
        body = b"x" * 60_000
    elif path == "/upload":
        message = await receive()
        body = b"got " + message["body"]
    else:
        body = f"{scope['method']} {path}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
'''


def start(harness: Harness, tmp_path: Path, **kw: object) -> tuple[Path, SessionManager]:
    base = tmp_path / "app"
    base.mkdir(parents=True)
    (base / "asgi.py").write_text(textwrap.dedent(APP))
    sessions = SessionManager(SessionConfig(), SessionIdManager(), "d")
    harness.context(base, "/d", sessions=sessions, tracking=SessionTracking(), **kw)
    return base, sessions


def exchange(port: int, data: bytes, *, until_closed: bool = True) -> bytes:
    """Raw bytes in, everything the server answers until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
            if not until_closed:
                break
    return b"".join(chunks)


@pytest.fixture(params=[True, False], ids=["direct", "asgi"])
def each_path(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A harness with the direct path, then one without: one test, both paths."""
    harness = Harness(direct=request.param)
    try:
        yield harness
    finally:
        harness.close()


def counters(harness: Harness) -> tuple[int, int]:
    assert harness.direct is not None
    return harness.direct.taken, harness.direct.followed


def test_short_answers_go_direct_with_their_session_and_cookie(harness: Harness,
                                                               tmp_path: Path) -> None:
    start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        first = client.get("/d/count")
        assert first.text == "1 -" and "set-cookie" in first.headers
        rest = [client.get("/d/count") for _ in range(3)]
    assert [r.text for r in rest] == ["2 -", "3 -", "4 -"]
    assert all("set-cookie" not in r.headers and r.headers["date"] for r in rest)
    assert counters(harness) == (4, 0)


def test_a_body_without_a_length_gets_one_and_head_gets_none(harness: Harness,
                                                             tmp_path: Path) -> None:
    start(harness, tmp_path)
    port = harness.server.port
    answer = exchange(port, b"GET /d/nolength HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert body == b"no length given"
    assert b"content-length: 15" in head.lower() and b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    answer = exchange(port, b"HEAD /d/count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b""
    assert counters(harness) == (2, 0)


def test_a_streamed_answer_goes_on_through_an_exchange(harness: Harness, tmp_path: Path) -> None:
    start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        assert client.get("/d/stream").text == "one;two"
        assert client.get("/d/count").text == "1 -"  # the connection serves on
    assert counters(harness) == (2, 1)


def test_what_needs_the_asgi_path_never_reaches_the_direct_one(harness: Harness,
                                                               tmp_path: Path) -> None:
    start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10, follow_redirects=False) as client:
        assert client.post("/d/upload", content=b"abc").text == "got abc"  # a body
        assert client.get("/d").status_code == 302  # the context path without its slash
        assert client.get("/nowhere").status_code == 404  # no route
    answer = exchange(harness.server.port,  # dot segments (httpx would resolve them itself)
                      b"GET /d/x/../y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"\r\nGET /y\r\n" in answer
    assert counters(harness) == (0, 0)


def test_pipelined_requests_are_answered_in_order(harness: Harness, tmp_path: Path) -> None:
    start(harness, tmp_path)
    answer = exchange(harness.server.port,
                      b"GET /d/one HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"POST /d/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                      b"GET /d/three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert re.findall(rb"HTTP/1.1 200 |GET /one|got hi|GET /three", answer) == [
        b"HTTP/1.1 200 ", b"GET /one", b"HTTP/1.1 200 ", b"got hi", b"HTTP/1.1 200 ",
        b"GET /three"]
    assert counters(harness)[0] >= 1


def test_http_10_and_an_app_that_closes_close_the_connection(harness: Harness,
                                                            tmp_path: Path) -> None:
    start(harness, tmp_path)
    port = harness.server.port
    answer = exchange(port, b"GET /d/ten HTTP/1.0\r\n\r\n")  # read until the server closes
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"GET /ten")
    assert b"connection: close" in answer.lower()
    answer = exchange(port, b"GET /d/close HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.endswith(b"closing") and answer.lower().count(b"connection: close") == 1
    assert counters(harness) == (2, 0)


def test_an_app_that_fails_gets_the_fronts_page(harness: Harness, tmp_path: Path) -> None:
    start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        r = client.get("/d/boom", headers={"accept": "text/html"})
    assert r.status_code == 500 and "Context path: /d" in r.text
    assert r.headers["cache-control"] == "must-revalidate,no-cache,no-store"
    assert counters(harness) == (1, 0)


def test_a_client_that_leaves_is_heard_and_its_session_changes_kept(harness: Harness,
                                                                    tmp_path: Path) -> None:
    base, _ = start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        assert client.get("/d/count").text == "1 -"
        cookie = client.cookies["JSESSIONID"]
        with socket.create_connection(("127.0.0.1", harness.server.port), timeout=10) as s:
            s.sendall(f"GET /d/leave HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID={cookie}"
                      "\r\n\r\n".encode())
            wait_for(lambda: harness.contexts[0].in_flight == 1, what="the request in the app")
        wait_for(lambda: (base / "heard").exists(), what="the app to hear the disconnect")
        assert (base / "heard").read_text() == "http.disconnect"
        wait_for(lambda: harness.contexts[0].in_flight == 0, what="the request's end")
        assert client.get("/d/count").text == "2 yes"
    assert counters(harness) == (3, 0)


def test_a_worker_killed_mid_request_gives_502_then_serves(harness: Harness,
                                                          tmp_path: Path) -> None:
    base, _ = start(harness, tmp_path)
    answers: list[int] = []
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        t = threading.Thread(target=lambda: answers.append(client.get("/d/slow").status_code))
        t.start()
        wait_for(lambda: (base / "entered").exists(), what="the request in the app")
        os.kill(int((base / "entered").read_text()), signal.SIGKILL)
        t.join(10)
        assert answers == [502]
        wait_for(lambda: client.get("/d/count").status_code == 200, what="a new worker")
    assert counters(harness)[1] == 1


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "asgi"])
def test_request_timeout_gives_504_and_the_access_log_has_every_request(
        tmp_path: Path, direct: bool) -> None:
    log = tmp_path / "access.log"
    harness = Harness(direct=direct, access_log=log)
    try:
        start(harness, tmp_path, request_timeout=0.5)
        with httpx.Client(base_url=harness.url, timeout=10) as client:
            answers = [client.get(f"/d/{p}") for p in ("slow", "count", "stream")]
    finally:
        harness.close()
    assert [(r.status_code, r.text) for r in answers][1:] == [(200, "1 -"), (200, "one;two")]
    assert answers[0].status_code == 504
    lines = log.read_text().splitlines()
    assert [line.split('"')[1:3] for line in lines] == [
        [f"GET /d/{p} HTTP/1.1", f" {r.status_code} {len(r.content)} "]
        for p, r in zip(("slow", "count", "stream"), answers, strict=True)], lines
    if direct:  # the timeout and the stream went on in an Exchange; the count went direct
        assert counters(harness)[1] == 2  # unless it came while the worker was being replaced


def test_the_worker_sees_the_path_without_its_session_parameter(harness: Harness,
                                                                tmp_path: Path) -> None:
    start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        assert client.get("/d/count").text == "1 -"
        sid = client.cookies["JSESSIONID"]
    with httpx.Client(base_url=harness.url, timeout=10) as cookieless:
        assert cookieless.get(f"/d/count;jsessionid={sid}").text == "2 -"
        echo = cookieless.get(f"/d/echo;jsessionid={sid}").json()
    assert echo["path"] == "/d/echo" and echo["raw"] == "/d/echo"
    assert counters(harness) == (3, 0)


def test_proxy_headers_reach_the_worker_as_the_asgi_path_gives_them(tmp_path: Path) -> None:
    seen = []
    for direct in (True, False):
        harness = Harness(direct=direct, forwarded_allow_ips="127.0.0.1")
        try:
            start(harness, tmp_path / str(direct))
            with httpx.Client(base_url=harness.url, timeout=10) as client:
                seen.append(client.get("/d/echo", headers={
                    "forwarded": "for=10.1.2.3;proto=https"}).json())
            assert counters(harness) == (1, 0) if direct else harness.direct is None
        finally:
            harness.close()
    assert seen[0] == seen[1]
    assert seen[0]["client"] == "10.1.2.3" and seen[0]["scheme"] == "https"
    assert "x-forwarded-for" in seen[0]["headers"]


def _write_buffered(harness: Harness) -> int:
    """The most any client connection of the server holds unsent, in bytes."""
    async def most() -> int:
        state = harness.server._server.server_state  # type: ignore[union-attr]
        return max((c.transport.get_write_buffer_size() for c in state.connections), default=0)
    return int(harness.run(most()))


def test_a_client_that_never_reads_is_not_answered_into_memory(
        each_path: Harness, tmp_path: Path) -> None:
    """uvicorn's cycle waits for the transport to drain before it writes, and a request that
    comes meanwhile waits in the pipeline with reading paused: what a client that sends and never
    reads costs the front is bounded. The direct path must not write past a paused transport."""
    harness = each_path
    start(harness, tmp_path)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", harness.server.port))
        s.settimeout(10)
        for _ in range(300):  # 18 MB of answers, one request at a time
            s.sendall(b"GET /d/big HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.01)
        time.sleep(0.5)
        buffered = _write_buffered(harness)
    assert buffered < 1_000_000, f"{buffered} bytes held for a client that never reads"


def test_request_timeout_holds_after_the_answer_until_the_app_ends(
        each_path: Harness, tmp_path: Path) -> None:
    """An app that answers and then runs on past requestTimeout holds its worker's slot until
    the timeout: then its worker is replaced and the request is over for the front."""
    harness = each_path
    start(harness, tmp_path, request_timeout=0.5)
    ctx = harness.contexts[0]
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        r = client.get("/d/linger")
        assert (r.status_code, r.text) == (200, "answered")
        wait_for(lambda: ctx.in_flight == 0, timeout=5, what="the request's end")
    with httpx.Client(base_url=harness.url, timeout=10) as client:  # the ASGI path cuts
        wait_for(lambda: client.get("/d/count").status_code == 200, what="a worker")
    if harness.direct is not None:
        assert counters(harness)[0] >= 1


def test_a_broken_session_delta_gives_502_and_no_later_change_of_that_answer(
        each_path: Harness, tmp_path: Path) -> None:
    """A START whose session delta breaks the wire's rules: 502, the worker is killed, and the
    END that came with it changes nothing either (the Exchange stops reading at the START)."""
    harness = each_path
    start(harness, tmp_path)
    ctx = harness.contexts[0]
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        assert client.get("/d/count").text == "1 -"
        assert client.get("/d/baddelta").status_code == 502
        wait_for(lambda: ctx.in_flight == 0, what="the request's end")
        wait_for(lambda: client.get("/d/nothing").status_code == 200, what="a new worker")
        assert client.get("/d/count").text == "2 -"
    if harness.direct is not None:
        assert counters(harness)[0] >= 2


def test_a_session_delta_of_the_wrong_shape_gives_502_and_the_context_serves_on(
        each_path: Harness, tmp_path: Path) -> None:
    """A delta whose "del" holds a list (unhashable): the front answers 502 and replaces the
    worker, on either path. It raised TypeError inside the worker channel's data_received, which
    killed the channel behind the pool's back: the context then never answered again."""
    harness = each_path
    start(harness, tmp_path)
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        assert client.get("/d/count").text == "1 -"
        bad = client.get("/d/baddelta?" + quote('{"del": [[1]]}'))
        assert bad.status_code == 502
        wait_for(lambda: client.get("/d/count", timeout=3).status_code == 200,
                 what="a new worker")
    if harness.direct is not None:
        assert counters(harness)[0] >= 2
