"""The front's bounds on a request head and on connections (issue 12, items 1 and 2), over real
sockets: a head too large, too many headers, a head that never ends, too many connections."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from deployer.web.protocol import HttpLimits
from deployer.web.router import Router
from deployer.web.server import Server
from tests.support.waiting import wait_for
from tests.web.conftest import Harness


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def _read_all(s: socket.socket) -> bytes:
    """Everything until the server closes (the test fails on the 10 s socket timeout)."""
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _exchange(port: int, data: bytes) -> bytes:
    with _connect(port) as s:
        s.sendall(data)
        return _read_all(s)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@pytest.fixture
def port(harness: Harness) -> int:
    assert harness.server.port is not None
    return harness.server.port


def test_a_huge_header_is_refused_with_431_and_closed(port: int) -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    response = _exchange(port, head)
    assert _status(response) == 431
    assert b"connection: close" in response.lower()
    # the front's own plain-text error page, as every answer it makes itself (responses.py)
    assert b"cache-control: must-revalidate,no-cache,no-store\r\n" in response.lower()
    assert response.endswith(b"\r\n\r\n431 Request Header Fields Too Large\n")


def test_a_huge_request_line_is_refused_with_414(port: int) -> None:
    response = _exchange(port, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert _status(response) == 414


def test_too_many_headers_are_refused_with_431(port: int) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(150))  # 150 * ~10 B: under 8 KiB
    response = _exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n" + headers + b"\r\n")
    assert _status(response) == 431


def test_a_head_just_under_the_limit_with_a_large_body_in_one_send_is_served(port: int) -> None:
    """The budget is the head's: a body sent in the same packet is not counted against it."""
    body = b"b" * 200_000
    cookie = b"Cookie: c=" + b"x" * 7000 + b"\r\n"
    head = (b"POST /nowhere HTTP/1.1\r\nHost: a\r\n" + cookie +
            b"Content-Length: %d\r\n\r\n" % len(body))
    assert len(head) < 8192
    with _connect(port) as s:  # kept alive: a close with the body unread would reset
        s.sendall(head + body)
        response = b""
        while b"\r\n\r\n" not in response:
            response += s.recv(65536)
    assert _status(response) == 404  # routed, no context there


def test_pipelined_requests_each_get_a_fresh_budget(port: int) -> None:
    one = b"GET /x HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"p" * 5000 + b"\r\n\r\n"
    last = b"GET /y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    response = _exchange(port, one * 3 + last)
    assert response.count(b"HTTP/1.1 404") == 4


@pytest.fixture
def strict(harness: Harness) -> Iterator[Server]:
    """A second server on the harness's loop with a short header timeout and 3 per client."""
    server = Server(Router(), "127.0.0.1", 0,
                    limits=HttpLimits(header_timeout=0.3, max_per_client=3))
    harness.run(server.start())
    try:
        yield server
    finally:
        harness.run(server.stop(1.0))


def test_a_head_that_trickles_past_the_header_timeout_gets_408(strict: Server) -> None:
    assert strict.port is not None
    with _connect(strict.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
        sent = 0
        try:
            while True:  # a byte now and then, as slowloris does, until the server hangs up
                s.settimeout(0.05)
                try:
                    data = s.recv(65536)
                    break
                except TimeoutError:
                    s.sendall(b"X")
                    sent += 1
                    assert sent < 200, "the server never closed the trickling connection"
        finally:
            s.settimeout(10)
        assert _status(data + _read_all(s)) == 408


def test_a_connection_that_sends_nothing_is_closed(strict: Server) -> None:
    assert strict.port is not None
    with _connect(strict.port) as s:
        assert _read_all(s) == b""


def test_connections_per_client_address_are_bounded(strict: Server) -> None:
    assert strict.port is not None
    held = [_connect(strict.port) for _ in range(3)]
    try:
        wait_for(lambda: sum(strict.clients.open.values()) == 3, what="3 connections counted")
        with _connect(strict.port) as extra:
            assert _read_all(extra) == b""  # closed at once, before the header timeout
        assert strict.clients.refused >= 1
        held[0].sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert _status(_read_all(held[0])) == 404  # the others are served
    finally:
        for s in held:
            s.close()
    wait_for(lambda: not strict.clients.open, what="every connection released")


@pytest.fixture
def brief(harness: Harness) -> Iterator[Server]:
    """A second server on the harness's loop that keeps an idle connection for 1 s."""
    server = Server(Router(), "127.0.0.1", 0, timeout_keep_alive=1,
                    limits=HttpLimits(header_timeout=0.5))
    harness.run(server.start())
    try:
        yield server
    finally:
        harness.run(server.stop(1.0))


def _one_answer(s: socket.socket, path: bytes) -> bytes:
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"Not Found\n"):
        chunk = s.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def test_keep_alive_serves_a_busy_connection_and_closes_an_idle_one(brief: Server) -> None:
    """The keep-alive wait and the head's deadline share one sweep (protocol.Deadlines): a
    request moves the connection's deadline, and only the last one counts."""
    assert brief.port is not None
    with _connect(brief.port) as s:
        for i in range(6):  # 2.4 s in all, more than the keep-alive, never idle for 1 s
            assert _status(_one_answer(s, b"/%d" % i)) == 404
            time.sleep(0.4)
        began = time.monotonic()
        assert _read_all(s) == b""  # idle: closed by the server
        assert time.monotonic() - began > 0.3  # not at once: after the wait


def test_a_head_after_a_kept_alive_answer_has_its_own_deadline(brief: Server) -> None:
    assert brief.port is not None
    with _connect(brief.port) as s:
        assert _status(_one_answer(s, b"/first")) == 404
        s.sendall(b"GET /second HTTP/1.1\r\n")  # then nothing more: the head never ends
        assert _status(_read_all(s)) == 408
