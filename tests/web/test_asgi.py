"""ASGI apps in worker processes, over real HTTP and websockets: streaming both ways, the
client's disconnect, Expect: 100-continue, HEAD, websockets, failures before and after the start.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import textwrap
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support.waiting import wait_for
from tests.web.conftest import Harness

APP = '''
import asyncio, os

async def application(scope, receive, send):
    if scope["type"] == "websocket":
        await websocket(scope, receive, send)
        return
    path = scope["path"][len(scope["root_path"]):]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"one;", "more_body": True})
        for _ in range(2000):
            if os.path.exists("go"):
                break
            await asyncio.sleep(0.005)
        await send({"type": "http.response.body", "body": b"two" if os.path.exists("go")
                    else b"late"})
    elif path == "/upload":
        sizes = []
        while True:
            message = await receive()
            sizes.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        body = f"{sum(sizes)} bytes in {len(sizes)} messages".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    elif path == "/wait-for-disconnect":
        await receive()  # the (empty) body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"tick", "more_body": True})
        message = await receive()
        open("disconnected", "w").write(message["type"])
    elif path == "/big":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a" * 10_000_000})
    elif path == "/inject":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-a", b"1\\r\\nset-cookie: evil=1")]})
        await send({"type": "http.response.body", "body": b"injected"})
    elif path == "/boom-before":
        raise RuntimeError("before the start")
    elif path == "/boom-after":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("after the start")
    else:
        body = f"{scope['method']} {path}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

async def websocket(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    if scope["path"].endswith("/reject"):
        await send({"type": "websocket.close", "code": 1008})
        return
    offered = scope["subprotocols"]
    await send({"type": "websocket.accept", "headers": [(b"x-accepted", b"by the app")],
                "subprotocol": "echo.v1" if "echo.v1" in offered else None})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            open("ws-closed", "w").write(str(message["code"]))
            return
        if message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 4000, "reason": "asked to"})
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"].upper()})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
'''


@pytest.fixture
def app(harness: Harness, tmp_path: Path) -> Path:
    base = tmp_path / "app"
    base.mkdir()
    (base / "asgi.py").write_text(textwrap.dedent(APP))
    harness.context(base, "/a")
    return base


def test_a_chunk_reaches_the_client_before_the_app_sends_the_next(harness: Harness,
                                                                   app: Path) -> None:
    with httpx.Client(base_url=harness.url, timeout=5) as c, c.stream("GET", "/a/stream") as r:
        chunks = r.iter_raw()
        assert next(chunks) == b"one;"
        (app / "go").touch()
        assert b"".join(chunks) == b"two"


def test_a_large_upload_streams_in_several_messages(harness: Harness, app: Path) -> None:
    body = b"x" * (5 * 1024 * 1024)
    r = httpx.post(f"{harness.url}/a/upload", content=body, timeout=10)
    size, _, _, count, _ = r.text.split()
    assert int(size) == len(body) and int(count) > 1


def test_a_large_body_sent_at_once_reaches_a_slow_client(harness: Harness, app: Path) -> None:
    with httpx.Client(base_url=harness.url, timeout=10) as c, c.stream("GET", "/a/big") as r:
        received = 0
        for chunk in r.iter_raw(65536):
            received += len(chunk)
            if received < 3_000_000:
                time.sleep(0.002)  # a window behind: the worker waits for credit
    assert received == 10_000_000


def test_the_app_hears_the_disconnect(harness: Harness, app: Path) -> None:
    with httpx.Client(base_url=harness.url, timeout=5) as c, \
            c.stream("GET", "/a/wait-for-disconnect") as r:
        assert next(r.iter_raw()) == b"tick"
    assert wait_for((app / "disconnected").exists, 5.0, "the app to see the disconnect")
    assert (app / "disconnected").read_text() == "http.disconnect"


def test_head_and_expect_100_continue(harness: Harness, app: Path) -> None:
    r = httpx.head(f"{harness.url}/a/plain")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "11"
    with socket.create_connection(("127.0.0.1", harness.server.port), timeout=5) as sock:
        sock.sendall(b"POST /a/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"abc")
        reply = b""
        while b"messages" not in reply:
            reply += sock.recv(65536)
        assert b"3 bytes in 1 messages" in reply


def test_failures_before_and_after_the_start(harness: Harness, app: Path) -> None:
    r = httpx.get(f"{harness.url}/a/boom-before")
    assert r.status_code == 500
    r = httpx.get(f"{harness.url}/a/inject")  # send() raises: the app fails before its start
    assert r.status_code == 500 and "set-cookie" not in r.headers and "x-a" not in r.headers
    with pytest.raises(httpx.RemoteProtocolError):  # cut off, as a proxy would
        httpx.get(f"{harness.url}/a/boom-after")
    assert httpx.get(f"{harness.url}/a/still").text == "GET /still"


def test_websocket_echo_close_and_reject(harness: Harness, app: Path) -> None:
    url = harness.url.replace("http://", "ws://")

    async def talk() -> tuple[str, bytes, int, str, int]:
        async with websockets.connect(f"{url}/a/ws", subprotocols=["echo.v1"]) as ws:
            assert ws.subprotocol == "echo.v1"
            assert ws.response.headers["x-accepted"] == "by the app"
            await ws.send("hello")
            text = await ws.recv()
            await ws.send(b"\x01\x02\x03")
            data = await ws.recv()
            await ws.send("bye")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        async with websockets.connect(f"{url}/a/ws"):
            pass  # the client closes: the app hears websocket.disconnect
        try:
            async with websockets.connect(f"{url}/a/reject"):
                rejected = 0
        except websockets.InvalidStatus as exc:
            rejected = exc.response.status_code
        return text, data, closed.value.rcvd.code, closed.value.rcvd.reason, rejected

    text, data, code, reason, rejected = asyncio.run(talk())
    assert (text, data, code, reason) == ("HELLO", b"\x03\x02\x01", 4000, "asked to")
    assert rejected == 403
    assert wait_for((app / "ws-closed").exists, 5.0, "the websocket close") and \
        (app / "ws-closed").read_text() == "1000"


def test_a_websocket_to_a_wsgi_app_is_refused(harness: Harness, tmp_path: Path) -> None:
    base = tmp_path / "w"
    base.mkdir()
    (base / "wsgi.py").write_text("def application(e, s):\n    s('200 OK', [])\n"
                                  "    return [b'ok']\n")
    harness.context(base, "/w")
    assert websocket_status(harness, "/w/ws") == 403
    assert httpx.get(f"{harness.url}/w/").text == "ok"


def websocket_status(harness: Harness, path: str) -> int:
    """The status a websocket handshake to ``path`` gets (101 when accepted)."""
    url = harness.url.replace("http://", "ws://") + path

    async def attempt() -> int:
        try:
            async with websockets.connect(url):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code

    return asyncio.run(attempt())


def test_a_websocket_to_a_static_context_is_refused_and_logged_once(
        harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """It answered 500 ("ASGI callable returned without ...", the context unnamed)."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hi")
    harness.context(tmp_path / "site", "/site")
    assert [websocket_status(harness, "/site/") for _ in range(3)] == [403, 403, 403]
    refused = [r.getMessage() for r in caplog.records
               if r.name.startswith("deployer") and "websocket" in r.getMessage()]
    assert refused == ["/site: websocket upgrade refused (403): a static context takes no "
                       "websockets"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert httpx.get(f"{harness.url}/site/").text == "hi"
