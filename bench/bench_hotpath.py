"""The Python each side of the process boundary runs per request, against uvicorn's, in one run.

    .venv/bin/python bench/bench_hotpath.py [--rounds 100] [--batch 320]

bench_workers.py measures what a client sees through real sockets, where the system calls, the
scheduler and a shared machine's neighbours move the figures from run to run. This one measures
only the interpreter's share, in-process, with no socket and no other process: each variant is
fed the same ASGI session-counter request, ``--batch`` at a time over 32 connections (as wrk
-c32 keeps them), the answer written to a transport that keeps it; the best of ``--rounds``
rounds, the variants interleaved round by round, so a slow moment of the machine slows them all.

- ``uvicorn``: uvicorn's httptools protocol (uvloop) with samples/asgi-hello, the bare app
  (bench_workers.py's baseline);
- ``front, direct``: deployer's front protocol with the direct path (web/direct.py), a session
  read and written per request; the worker's frames (START, BODY_LAST, END) are made beforehand
  and fed back at once, so nothing of a worker's is counted;
- ``front, ASGI``: the same without the direct path (uvicorn's ASGI cycle, the router's
  coroutines), the front before the direct path;
- ``worker``: an ASGI worker's channel (the stdlib event loop, as in a worker) running
  samples/asgi-hello: REQUEST frames in, frames out.

front + worker against uvicorn is how much more interpreter work one request costs across the
process boundary. The rest of a request's cost, system calls and the kernel's TCP (uvicorn: a
read and two writes per request; the front: a read and one write, its worker's reads and writes
batched per loop turn), is in bench_workers.py's figures, which hold both.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
import uvloop  # noqa: E402
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager  # noqa: E402
from deployer.web.channel import Channel as FrontChannel  # noqa: E402
from deployer.web.context import ContextInfo, WebContext  # noqa: E402
from deployer.web.direct import DirectPath  # noqa: E402
from deployer.web.protocol import (  # noqa: E402
    BoundedHttpProtocol,
    ClientConnections,
    Deadlines,
    HttpLimits,
)
from deployer.web.router import Route, Router  # noqa: E402
from deployer.web.tracking import SessionBinder, SessionTracking  # noqa: E402
from deployer.worker import wire  # noqa: E402
from deployer.worker.asgi import AsgiServer  # noqa: E402
from deployer.worker.asgi import Channel as WorkerChannel  # noqa: E402
from deployer.worker.config import WorkerConfig  # noqa: E402

CONNECTIONS = 32
BODY = b"hello count=7\n"
ANSWER_LINES = b"content-type: text/plain; charset=utf-8\r\ncontent-length: 14\r\n"


def load_app() -> Any:
    spec = importlib.util.spec_from_file_location("asgi_hello", ROOT / "samples/asgi-hello/asgi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.application


class Sink:
    """A transport that keeps what is written (the last write, for a look) and never blocks."""

    def __init__(self, protocol: Any = None) -> None:
        self.protocol = protocol
        self.last = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.last = data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, key: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 40000)}.get(key,
                                                                                       default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


class InstantPool:
    """A WorkerPool's face to a context, whose worker answers every request at once: the frames
    of the answers are made when asked for, outside the timed part."""

    state = "serving"
    kind = "asgi"

    class spec:
        request_timeout = 0.0

    def __init__(self) -> None:
        self.channel = FrontChannel(1 << 30, lambda why: None, lambda channel: None)
        self.channel.connection_made(Sink())
        self.open_ids: list[int] = []

    def open(self, head: Callable[[], bytes]) -> Any:
        stream = self.channel.open(head)
        self.open_ids.append(stream.sid)
        return stream

    async def open_wait(self, head: Callable[[], bytes]) -> Any:
        return self.open(head)

    def answers(self) -> bytes:
        out = []
        for sid in self.open_ids:
            out.append(wire.start_frame(sid, 200, {"set": {"count": 7}}, ANSWER_LINES))
            out.append(wire.frame(wire.BODY_LAST, sid, BODY))
            out.append(wire.frame(wire.END, sid))
        self.open_ids.clear()
        return b"".join(out)


def sessions_and_cookie() -> tuple[SessionManager, bytes]:
    sessions = SessionManager(SessionConfig(), SessionIdManager(), "bench")
    sessions.start()
    session = sessions.create()
    sessions.complete(session)
    return sessions, b"JSESSIONID=" + session.id.encode()


def request(cookie: bytes) -> bytes:
    return b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nCookie: " + cookie + b"\r\n\r\n"


async def uvicorn_side(batch: int) -> Callable[[], Any]:
    loop = asyncio.get_running_loop()
    config = uvicorn.Config(load_app(), http="httptools", loop="none", lifespan="off",
                            log_config=None, access_log=False)
    config.load()
    state = ServerState()
    conns = []
    for _ in range(CONNECTIONS):
        p = HttpToolsProtocol(config=config, server_state=state, app_state={}, _loop=loop)
        p.connection_made(Sink(p))  # type: ignore[arg-type]
        conns.append(p)
    data = request(b"JSESSIONID=" + b"b" * 43)

    async def one_batch() -> None:
        for _ in range(batch // CONNECTIONS):
            for p in conns:
                p.data_received(data)
            while state.tasks:
                await asyncio.sleep(0)
    return one_batch


async def front_side(batch: int, direct: bool) -> Callable[[], Any]:
    loop = asyncio.get_running_loop()
    sessions, cookie = sessions_and_cookie()
    router = Router()
    context = WebContext(ContextInfo("/"), [], None, sessions, SessionTracking(), name="/")
    context.start()
    context._binder = SessionBinder(sessions, SessionTracking(), "/")
    pool = InstantPool()
    context.pool = pool  # type: ignore[assignment]
    context.spec = object()  # type: ignore[assignment]
    router.swap([Route("/", (), context)])
    path = DirectPath(router) if direct else None
    config = uvicorn.Config(router, http="httptools", loop="none", lifespan="off",
                            log_config=None, access_log=False)
    config.load()
    state = ServerState()
    clients, deadlines = ClientConnections(1 << 20), Deadlines(1.0)
    conns = []
    for _ in range(CONNECTIONS):
        p = BoundedHttpProtocol(config=config, server_state=state, app_state={}, _loop=loop,
                                limits=HttpLimits(), clients=clients, deadlines=deadlines,
                                direct=path)
        p.connection_made(Sink(p))  # type: ignore[arg-type]
        conns.append(p)
    data = request(cookie)

    async def one_batch() -> None:
        for _ in range(batch // CONNECTIONS):
            for p in conns:
                p.data_received(data)
            if not direct:
                while len(pool.open_ids) < CONNECTIONS:
                    await asyncio.sleep(0)
            pool.channel.data_received(pool.answers())
            while state.tasks or pool.channel.streams:
                await asyncio.sleep(0)
    return one_batch


async def worker_side(batch: int) -> Callable[[], Any]:
    loop = asyncio.get_running_loop()
    config = WorkerConfig({"name": "bench", "base": str(ROOT), "channels": [],
                           "context": {"context_path": "/"}})
    server = AsgiServer(config, load_app(), loop)
    channel = WorkerChannel(server)
    channel.connection_made(Sink())
    snapshot = (b'["abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",null,1700000000000,'
                b'1700000000000,1700000000000,1800,false,{"count":6}]')
    fields = [b"http", b"GET", b"/", b"", b"", b"http", b"1.1", b"127.0.0.1", b"40000",
              b"127.0.0.1", b"8080", b"0", snapshot, b""]
    payload = wire.request_payload(fields, [(b"host", b"127.0.0.1:8080"),
                                            (b"cookie", b"JSESSIONID=abc")])
    next_id = [1]

    def frames() -> bytes:
        first = next_id[0]
        next_id[0] += CONNECTIONS
        return b"".join(wire.frame(wire.REQUEST, first + k, payload) for k in range(CONNECTIONS))

    async def one_batch() -> None:
        batches = [frames() for _ in range(batch // CONNECTIONS)]
        for data in batches:
            channel.data_received(data)
            while channel.streams:
                await asyncio.sleep(0)
    return one_batch


def timed(run: Callable[[Callable[[], Any]], Any], make: Any, batch: int) -> float:
    """µs per request of one round."""
    async def go() -> float:
        one_batch = await make
        await one_batch()  # warm-up
        began = time.perf_counter()
        await one_batch()
        return (time.perf_counter() - began) / batch * 1e6
    return run(go())  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--rounds", type=int, default=100, help="rounds per variant, best kept (100)")
    p.add_argument("--batch", type=int, default=320, help="requests per round (320)")
    args = p.parse_args()
    batch = max(CONNECTIONS, args.batch // CONNECTIONS * CONNECTIONS)
    variants: dict[str, Callable[[], float]] = {
        "uvicorn": lambda: timed(uvloop.run, uvicorn_side(batch), batch),
        "front, direct": lambda: timed(uvloop.run, front_side(batch, True), batch),
        "front, ASGI": lambda: timed(uvloop.run, front_side(batch, False), batch),
        "worker": lambda: timed(asyncio.run, worker_side(batch), batch),
    }
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(args.rounds):
        for name, measure in variants.items():
            best[name] = min(best[name], measure())
    print(f"hot path, in-process: µs of Python per request, best of {args.rounds} rounds of "
          f"{batch} requests over {CONNECTIONS} connections, variants interleaved; "
          f"Python {sys.version.split()[0]}")
    base = best["uvicorn"]
    for name, us in best.items():
        print(f"   {name:<16} {us:7.1f} us   {us / base:5.2f}x uvicorn")
    both = best["front, direct"] + best["worker"]
    print(f"   {'front + worker':<16} {both:7.1f} us   {both / base:5.2f}x uvicorn: the "
          "interpreter's work per request across the process boundary (system calls: "
          "bench_workers.py)")


if __name__ == "__main__":
    main()
