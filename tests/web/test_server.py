"""The embedded server: port 0, graceful stop that lets in-flight requests finish, drain()."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.support.waiting import wait_for
from tests.web.conftest import Harness

SLOW = '''
import os, time

def application(environ, start_response):
    open("entered", "w").close()
    deadline = time.monotonic() + 10
    while not os.path.exists("gate") and time.monotonic() < deadline:
        time.sleep(0.005)
    start_response("200 OK", [])
    return [b"finished"]
'''


def test_graceful_stop_finishes_in_flight_requests(harness: Harness, tmp_path: Path) -> None:
    base = tmp_path / "slow"
    base.mkdir()
    (base / "wsgi.py").write_text(SLOW)
    ctx = harness.context(base, "/slow")
    assert harness.server.port and harness.server.port > 0
    result: dict[str, object] = {}

    def request() -> None:
        result["r"] = httpx.get(f"{harness.url}/slow/", timeout=10)

    t = threading.Thread(target=request)
    t.start()
    try:
        wait_for((base / "entered").exists)
        assert ctx.in_flight == 1
        assert harness.run(ctx.drain(0.05)) is False  # bounded
        stopping = threading.Thread(target=harness.run, args=(harness.server.stop(5.0),))
        stopping.start()
        wait_for(lambda: _refused(harness.url))  # no longer accepting
        (base / "gate").touch()
        stopping.join(10)
        t.join(10)
    finally:
        (base / "gate").touch()
        t.join(10)
    assert result["r"].text == "finished"
    assert harness.run(ctx.drain(1.0)) is True and ctx.in_flight == 0


def _refused(url: str) -> bool:
    try:
        httpx.get(url + "/slow/", timeout=0.5)
    except httpx.TransportError:
        return True
    return False


def test_stop_is_idempotent_and_port_zero_is_real(harness: Harness) -> None:
    port = harness.server.port
    assert isinstance(port, int) and port > 0
    harness.run(harness.server.stop(1.0))
    harness.run(harness.server.stop(1.0))
    with pytest.raises(httpx.TransportError):
        httpx.get(harness.url, timeout=1)


def test_server_installs_no_signal_handlers() -> None:
    import asyncio
    import signal

    from deployer.web.router import Router
    from deployer.web.server import Server

    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    async def main() -> None:
        before = {s: signal.getsignal(s) for s in signals}  # asyncio.run's own SIGINT included
        server = Server(Router(), "127.0.0.1", 0)
        await server.start()
        try:
            async with httpx.AsyncClient() as c:
                assert (await c.get(f"http://127.0.0.1:{server.port}/")).status_code == 404
            assert {s: signal.getsignal(s) for s in signals} == before
        finally:
            await server.stop(1.0)
        assert {s: signal.getsignal(s) for s in signals} == before

    asyncio.run(main())
