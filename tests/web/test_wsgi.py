"""WSGI apps in worker processes, over real HTTP: PEP 3333 environ, write(), close(), streaming,
disconnects, errors."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import httpx

from tests.support.waiting import wait_for
from tests.web.conftest import Harness

APP = '''
import json, sys, time

CLOSED = []

class Body:
    def __init__(self, chunks):
        self.chunks = chunks
    def __iter__(self):
        return iter(self.chunks)
    def close(self):
        CLOSED.append(True)

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/environ":
        keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
                "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "CONTENT_TYPE", "CONTENT_LENGTH",
                "HTTP_X_TWICE", "HTTP_HOST", "wsgi.url_scheme"]
        out = {k: environ.get(k) for k in keys}
        out["body"] = environ["wsgi.input"].read().decode()
        out["multithread"] = environ["wsgi.multithread"]
        out["errors"] = hasattr(environ["wsgi.errors"], "write")
        out["context"] = environ["deployer.context"].context_path
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(out).encode()]
    if path == "/write":
        write = start_response("201 Created", [("X-Way", "write")])
        write(b"via ")
        write(b"write ")
        return [b"and iterable"]
    if path == "/close":
        start_response("200 OK", [])
        return Body([b"a", b"b"])
    if path == "/closed":
        start_response("200 OK", [])
        return [str(len(CLOSED)).encode()]
    if path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (bytes([i]) * 100_000 for i in range(20))
    if path == "/whole-big":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [b"w" * 10_000_000]
    if path == "/slow":
        def gen():
            for i in range(3):
                time.sleep(0.03)
                yield f"{i};".encode()
        start_response("200 OK", [])
        return gen()
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/exc_info":
        start_response("200 OK", [])
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Oops", [("X-Err", "1")], sys.exc_info())
        return [b"replaced"]
    if path == "/inject":
        start_response("200 OK", [("X-A", "1\\r\\nSet-Cookie: evil=1")])
        return [b"injected"]
    if path == "/bad-name":
        start_response("200 OK", [("X A", "1")])
        return [b"bad name"]
    if path == "/latin1":
        start_response("200 OK", [("X-Name", "caf\\xe9")])
        return [b"ok"]
    if path.startswith("/utf8"):
        start_response("200 OK", [])
        return [environ["PATH_INFO"].encode("latin-1")]
    start_response("404 Not Found", [])
    return [b""]
'''


def make(harness: Harness, tmp_path: Path) -> None:
    base = tmp_path / "app"
    base.mkdir()
    (base / "wsgi.py").write_text(textwrap.dedent(APP))
    harness.context(base, "/ctx")


def test_environ(harness: Harness, client: httpx.Client, tmp_path: Path) -> None:
    make(harness, tmp_path)
    r = client.post("/ctx/environ?a=1&b=%20", content=b"x" * 5000,
                    headers=[("x-twice", "1"), ("x-twice", "2"), ("content-type", "text/plain")])
    env = json.loads(r.text)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "/ctx" and env["PATH_INFO"] == "/environ"
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == str(harness.server.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "5000"
    assert env["HTTP_X_TWICE"] == "1,2" and env["HTTP_HOST"] == f"127.0.0.1:{harness.server.port}"
    assert env["wsgi.url_scheme"] == "http" and env["multithread"] and env["errors"]
    assert env["body"] == "x" * 5000 and env["context"] == "/ctx"


def test_write_close_stream_and_errors(harness: Harness, client: httpx.Client,
                                       tmp_path: Path) -> None:
    make(harness, tmp_path)
    r = client.get("/ctx/write")
    assert r.status_code == 201 and r.text == "via write and iterable"
    assert r.headers["x-way"] == "write"
    assert client.get("/ctx/close").text == "ab"
    assert client.get("/ctx/closed").text == "1"
    r = client.get("/ctx/big")
    assert r.content == b"".join(bytes([i]) * 100_000 for i in range(20))
    r = client.get("/ctx/whole-big")  # returned whole, sent a window at a time
    assert r.headers["content-length"] == "10000000" and r.content == b"w" * 10_000_000
    assert client.get("/ctx/slow").text == "0;1;2;"
    r = client.get("/ctx/boom")
    assert r.status_code == 500
    r = client.get("/ctx/exc_info")
    assert r.status_code == 500 and r.headers["x-err"] == "1" and r.text == "replaced"
    assert client.get("/ctx/utf8/%C3%A9").content == "/utf8/é".encode()
    assert client.get("/ctx/environ").status_code == 200  # still serving after errors


def test_response_headers_are_checked_in_the_worker(harness: Harness, client: httpx.Client,
                                                    tmp_path: Path) -> None:
    make(harness, tmp_path)
    for path in ("/ctx/inject", "/ctx/bad-name"):  # start_response raises: the app fails
        r = client.get(path)
        assert r.status_code == 500 and r.text == "500 Internal Server Error\n"
        assert "set-cookie" not in r.headers and "x-a" not in r.headers
    r = client.get("/ctx/latin1")  # obs-text is a field value HTTP allows
    assert [v for k, v in r.headers.raw if k.lower() == b"x-name"] == [b"caf\xe9"]


ENDLESS = '''
import time

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/event-stream")])
    def events():
        try:
            while True:
                time.sleep(0.01)
                yield b"data: tick\\n\\n"
        finally:
            open("closed.txt", "w").close()
    return events()
'''


def test_endless_stream_stops_when_the_client_goes(harness: Harness, tmp_path: Path) -> None:
    base = tmp_path / "sse"
    base.mkdir()
    (base / "wsgi.py").write_text(ENDLESS)
    ctx = harness.context(base, "/sse")
    with httpx.Client(base_url=harness.url, timeout=5) as c, c.stream("GET", "/sse/") as r:
        first = next(r.iter_bytes())
        assert first.startswith(b"data: tick")
    assert wait_for((base / "closed.txt").exists, 5.0, "the generator closed"), \
        "generator still running"
    assert harness.run(ctx.drain(5)) is True


STEPWISE = '''
import os, time

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    def chunks():
        yield b"one;"
        deadline = time.monotonic() + 10
        while not os.path.exists("go") and time.monotonic() < deadline:
            time.sleep(0.005)
        yield b"two" if os.path.exists("go") else b"late"
    return chunks()
'''


def test_a_chunk_reaches_the_client_before_the_app_yields_the_next(harness: Harness,
                                                                    tmp_path: Path) -> None:
    """The app yields its second chunk only once the client has the first one."""
    base = tmp_path / "steps"
    base.mkdir()
    (base / "wsgi.py").write_text(STEPWISE)
    harness.context(base, "/steps")
    with httpx.Client(base_url=harness.url, timeout=5) as c, c.stream("GET", "/steps/") as r:
        chunks = r.iter_raw()
        assert next(chunks) == b"one;"  # a ReadTimeout here: the first chunk was held back
        (base / "go").touch()
        assert b"".join(chunks) == b"two"


LINES = '''
def application(environ, start_response):
    body = environ["wsgi.input"]
    first = body.readline()
    two = body.read(2)
    rest = list(body)
    start_response("200 OK", [])
    return [repr((first, two, rest)).encode()]
'''


def test_input_readline_read_and_iteration_over_a_chunked_body(harness: Harness,
                                                               client: httpx.Client,
                                                               tmp_path: Path) -> None:
    base = tmp_path / "lines"
    base.mkdir()
    (base / "wsgi.py").write_text(LINES)
    harness.context(base, "/l")

    def parts():  # no Content-Length: Transfer-Encoding chunked, several receive() calls
        yield b"alpha\nbe"
        yield b"ta\ngam"
        yield b"ma"

    r = client.post("/l/", content=parts())
    assert r.text == repr((b"alpha\n", b"be", [b"ta\n", b"gamma"]))


def test_head_and_expect_100_continue(harness: Harness, tmp_path: Path) -> None:
    make(harness, tmp_path)
    with httpx.Client(base_url=harness.url) as c:
        r = c.head("/ctx/big")
        assert r.status_code == 200 and r.content == b""
    with socket.create_connection(("127.0.0.1", harness.server.port), timeout=5) as sock:
        sock.sendall(b"POST /ctx/environ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")  # once the app reads
        sock.sendall(b"abc")
        reply = b""
        while b'"context"' not in reply:
            reply += sock.recv(65536)
        assert b'"body": "abc"' in reply
