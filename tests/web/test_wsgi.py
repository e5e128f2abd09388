"""The WSGI bridge over real HTTP: PEP 3333 environ, write(), close(), streaming, errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx

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
    assert client.get("/ctx/slow").text == "0;1;2;"
    r = client.get("/ctx/boom")
    assert r.status_code == 500
    r = client.get("/ctx/exc_info")
    assert r.status_code == 500 and r.headers["x-err"] == "1" and r.text == "replaced"
    assert client.get("/ctx/utf8/%C3%A9").content == "/utf8/é".encode()
    assert client.get("/ctx/environ").status_code == 200  # still serving after errors


ENDLESS = '''
import threading, time
CLOSED = threading.Event()

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/event-stream")])
    def events():
        try:
            while True:
                time.sleep(0.01)
                yield b"data: tick\\n\\n"
        finally:
            CLOSED.set()
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
    assert ctx.loaded.modules["wsgi"].CLOSED.wait(5), "generator still running"
    assert harness.run(ctx.drain(5)) is True
