"""A worker process from boot to exit.

The front starts ``<python> .../deployer/worker <control fd>`` with the channel sockets inherited.
Boot: read CONFIG, make the war importable, import the app (and run an ASGI app's lifespan
startup), then say READY, or FAILED with the traceback and exit 4. Serve until STOP (finish what is
in flight, run the lifespan shutdown, exit 0) or until the front is gone (end of file on the
control socket, or a new parent process: exit at once, nothing else can be done for it).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import socket
import sys
import threading
from typing import Any

from deployer.worker import wire
from deployer.worker.channel import Channel, Closed
from deployer.worker.config import WorkerConfig
from deployer.worker.inflight import InFlight
from deployer.worker.loader import load_app, prepare_path
from deployer.worker.log import current_traceback

EXIT_OK, EXIT_BOOT, EXIT_LOAD = 0, 3, 4
PARENT_CHECK = 1.0  # seconds between looks at getppid(), the backstop to end of file


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(EXIT_OK)


def _ready(control: Channel, kind: str, channels: int) -> None:
    control.send(wire.json_frame(wire.READY, 0, {
        "pid": os.getpid(), "kind": kind, "channels": channels,
        "python": ".".join(map(str, sys.version_info[:3])), "executable": sys.executable}))


def _failed(control: Channel, message: str, tb: str) -> int:
    with contextlib.suppress(OSError):
        control.send(wire.json_frame(wire.FAILED, 0, {"error": message, "traceback": tb}))
    return EXIT_LOAD


def _wait_for_stop(control: Channel, parent: int, in_flight: InFlight) -> None:
    """Block until STOP (then until no request is in flight) or until the front is gone."""
    while True:
        try:
            frame = control.read(PARENT_CHECK)
        except (Closed, OSError, wire.ProtocolError):
            return
        if frame is None:
            if os.getppid() != parent:
                return
            continue
        if frame[0] == wire.STOP:
            in_flight.wait_idle()
            return


def serve_wsgi(config: WorkerConfig, app: Any, control: Channel,
               socks: list[socket.socket]) -> int:
    from deployer.worker.wsgi import WsgiServer  # a WSGI worker never imports asyncio

    server = WsgiServer(config, app, [Channel(s) for s in socks])
    server.start()
    _ready(control, "wsgi", len(socks))
    _wait_for_stop(control, os.getppid(), server.in_flight)
    return EXIT_OK


def serve_asgi(config: WorkerConfig, app: Any, control: Channel,
               socks: list[socket.socket]) -> int:
    import asyncio

    from deployer.worker.asgi import AsgiServer
    from deployer.worker.lifespan import Lifespan, LifespanError

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    eager = getattr(asyncio, "eager_task_factory", None)  # 3.12+: no scheduling hop per request
    if eager is not None:
        loop.set_task_factory(eager)
    lifespan = Lifespan(app)
    try:
        loop.run_until_complete(lifespan.startup())
    except LifespanError as exc:
        return _failed(control, f"{config.name}: {exc}", exc.traceback_text)
    server = AsgiServer(config, app, loop)
    server.state = lifespan.state
    for extra in socks[1:]:  # one multiplexed channel is all an event loop needs
        extra.close()
    loop.run_until_complete(server.open(socks[0]))
    _ready(control, "asgi", 1)
    parent = os.getppid()
    stopped = loop.create_future()

    def watch() -> None:  # the control socket, read as a WSGI worker reads it, on a thread
        _wait_for_stop(control, parent, server.in_flight)
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(stopped.set_result, None)

    threading.Thread(target=watch, name="deployer-control", daemon=True).start()
    loop.run_until_complete(stopped)
    loop.run_until_complete(lifespan.shutdown())
    return EXIT_OK


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        sys.stderr.write("usage: <python> deployer/worker <control fd> (started by deployer)\n")
        return EXIT_BOOT
    control = Channel(socket.socket(fileno=int(argv[1])))
    try:
        frame = control.read(30.0)
        if frame is None or frame[0] != wire.CONFIG:
            raise wire.ProtocolError("no CONFIG frame")
        raw: dict[str, Any] = wire.loads(frame[2])
        config = WorkerConfig(raw)
    except (Closed, OSError, wire.ProtocolError, KeyError, TypeError, ValueError) as exc:
        sys.stderr.write(f"deployer worker: bad start: {exc!r}\n")
        return EXIT_BOOT
    for fd in (control.sock.fileno(), *config.channels):
        os.set_inheritable(fd, False)  # the app's own children must not hold our sockets
    faulthandler.enable()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the front decides when a worker stops
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        prepare_path(config.base, config.paths)
        app, kind = load_app(config.entry or "", config.kind)
    except BaseException as exc:  # SystemExit or KeyboardInterrupt while importing too
        return _failed(control, f"{config.name}: cannot load {config.entry} from "
                                f"{config.base}: {exc!r}", current_traceback())
    socks = [socket.socket(fileno=fd) for fd in config.channels]
    if kind == "wsgi":
        return serve_wsgi(config, app, control, socks)
    return serve_asgi(config, app, control, socks)
