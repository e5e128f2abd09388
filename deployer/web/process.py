"""One worker process, from spawn to reaping.

Spawned, never forked from the threaded front (PROCESSES.md §2): ``<python> deployer/worker FD``
by absolute path, an explicit working directory and environment, stdin on /dev/null, stdout and
stderr into a pipe the front reads (each line logged with the context and pid, the last ones kept
for the report of a crash), a process group of its own (stopping kills the app's own children
too), and only its sockets inherited. Ready means the READY frame arrived within the start-up
timeout; its exit is noticed through a pidfd, so nothing polls and no thread waits.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.errors import AppLoadError
from deployer.web.channel import Channel
from deployer.worker import wire

log = logging.getLogger("deployer.web")
app_log = logging.getLogger("deployer.app")

WORKER_DIR = str(Path(__file__).resolve().parents[1] / "worker")
OUTPUT_LINES = 60  # kept per worker for the report of its death
MAX_LINE = 16 * 1024
TERM_GRACE = 3.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True)
class WorkerSpec:
    """Everything needed to start the workers of one context version."""

    name: str  # the context, in log lines
    base: Path  # the war (directory or archive)
    entry: str  # "module:attr"
    kind: str | None = None  # "wsgi" / "asgi" when known from the file name, else inspected
    python: str = ""  # the interpreter: a virtualenv's bin/python, else deployer's own
    env: dict[str, str] = field(default_factory=dict)  # the whole environment of the worker
    paths: tuple[str, ...] = ()  # pythonPath entries, before site-packages
    workers: int = 1
    threads: int = 1  # WSGI requests at once per worker
    concurrency: int = 1000  # ASGI requests at once per worker
    start_timeout: float = 60.0
    max_requests: int = 0  # recycle a worker after this many requests (0: never)
    request_timeout: float = 0.0  # answer 504 and replace the worker after this (0: never)
    context: dict[str, Any] = field(default_factory=dict)  # what the app sees as its context
    worker_name: str | None = None  # the server's session workerName
    max_inactive: int = 1800  # a new session's maxInactiveInterval


def describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class _Output(asyncio.Protocol):
    """The worker's stdout and stderr: each line logged, the last ones kept."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.partial = b""

    def data_received(self, data: bytes) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > MAX_LINE:
            lines.append(self.partial)
            self.partial = b""
        for raw in lines:
            self.worker.output_line(raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r"))

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.partial:
            self.worker.output_line(self.partial.decode("utf-8", "replace"))
            self.partial = b""


class _Control(asyncio.Protocol):
    """The control socket: READY or FAILED once, then only its end of file matters."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.reader = wire.FrameReader(limit=1024 * 1024)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
            for kind, _sid, payload in frames:
                self.worker.control_frame(kind, wire.loads(payload) if payload else None)
        except (wire.ProtocolError, TypeError, KeyError, ValueError) as exc:
            self.worker.broken(f"bad control frame: {exc}")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        self.worker.control_lost()


class WorkerProcess:
    """``await start()`` returns once READY (or raises AppLoadError); ``on_exit`` is called once
    when the process has exited and been reaped, whatever the cause."""

    def __init__(self, spec: WorkerSpec, index: int,
                 on_exit: Callable[[WorkerProcess], None],
                 on_free: Callable[[Channel], None]) -> None:
        self.spec = spec
        self.index = index
        self.on_exit = on_exit
        self.on_free = on_free
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.kind: str | None = None
        self.channels: list[Channel] = []
        self.started_at = time.monotonic()
        self.requests = 0
        self.returncode: int | None = None
        self.stopping = False
        self.broken_reason: str | None = None
        self.output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._exited = asyncio.Event()
        self._control: _Control | None = None
        self._socks: list[socket.socket] = []
        self._pidfd = -1

    @property
    def alive(self) -> bool:
        return self.returncode is None and self.proc is not None

    # -- start -----------------------------------------------------------------------------------
    async def start(self) -> None:
        spec = self.spec
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        control, control_child = socket.socketpair()
        pairs = [socket.socketpair() for _ in range(max(1, spec.threads))]
        children = [child for _, child in pairs]
        child_fds = [child.fileno() for child in children]
        self._socks = [front for front, _ in pairs]
        cwd = spec.base if spec.base.is_dir() else spec.base.parent
        try:
            self.proc = subprocess.Popen(
                [spec.python, WORKER_DIR, str(control_child.fileno())],
                pass_fds=[control_child.fileno(), *child_fds],
                cwd=cwd, env=spec.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            control.close()
            for sock in self._socks:
                sock.close()
            raise AppLoadError(f"{spec.name}: cannot start {spec.python}: {exc}") from exc
        finally:
            control_child.close()
            for child in children:
                child.close()
        self.pid = self.proc.pid
        self.started_at = time.monotonic()
        self._watch_exit(loop)
        assert self.proc.stdout is not None
        await loop.connect_read_pipe(lambda: _Output(self), self.proc.stdout)
        _, self._control = await loop.connect_accepted_socket(lambda: _Control(self), control)
        self._control.transport.write(wire.json_frame(wire.CONFIG, 0, {  # type: ignore[union-attr]
            "name": spec.name, "base": str(spec.base), "entry": spec.entry, "kind": spec.kind,
            "paths": list(spec.paths), "channels": child_fds,
            "worker_name": spec.worker_name, "max_inactive": spec.max_inactive,
            "context": spec.context,
        }))
        try:
            async with asyncio.timeout(spec.start_timeout):
                ready = await asyncio.shield(self._ready)
        except TimeoutError:
            self.kill()
            raise AppLoadError(
                f"{spec.name}: worker pid {self.pid} was not ready within "
                f"{spec.start_timeout:g} s (startTimeout)", self.last_output()) from None
        except BaseException:
            self.kill()
            raise
        await self._open_channels(loop, ready)
        self.kind = ready.get("kind")

    async def _open_channels(self, loop: asyncio.AbstractEventLoop,
                             ready: dict[str, Any]) -> None:
        """A WSGI worker serves one request per channel (a thread each); an ASGI worker
        multiplexes its one channel."""
        socks, self._socks = self._socks, []
        used = ready.get("channels")
        if not isinstance(used, int) or not 1 <= used <= len(socks):
            for sock in socks:
                sock.close()
            self.broken(f"READY names {used!r} channels of {len(socks)}")
            raise AppLoadError(f"{self.spec.name}: worker pid {self.pid} broke the protocol")
        capacity = self.spec.concurrency if ready.get("kind") == "asgi" else 1
        for sock in socks[used:]:
            sock.close()
        for sock in socks[:used]:
            _, channel = await loop.connect_accepted_socket(
                lambda: Channel(capacity, self.broken, self.on_free), sock)
            self.channels.append(channel)

    def control_frame(self, kind: int, payload: Any) -> None:
        ready = self._ready
        if kind == wire.READY and isinstance(payload, dict):
            if ready is not None and not ready.done():
                ready.set_result(payload)
        elif kind == wire.FAILED and isinstance(payload, dict):
            if ready is not None and not ready.done():
                ready.set_exception(AppLoadError(str(payload.get("error", "failed to start")),
                                                 str(payload.get("traceback", ""))))
        else:
            self.broken(f"unexpected control frame {kind}")

    def control_lost(self) -> None:
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_exception(AppLoadError(
                f"{self.spec.name}: worker pid {self.pid} ended before it was ready",
                self.last_output()))

    # -- output and exit -------------------------------------------------------------------------
    def output_line(self, line: str) -> None:
        report = wire.split_record(line)
        if report is None:  # the app's own output
            self.output.append(line)
            app_log.info("%s[%d]: %s", self.spec.name, self.pid, line)
        else:  # the worker's report of a failure: one record, its traceback in it
            self.output.extend(report.split("\n"))
            app_log.error("%s[%d]: %s", self.spec.name, self.pid, report)

    def last_output(self) -> str:
        return "\n".join(self.output)

    def _watch_exit(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = -1
            loop.call_later(0.05, self._poll_exit)
            return
        loop.add_reader(self._pidfd, self._reap)

    def _poll_exit(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            asyncio.get_running_loop().call_later(0.05, self._poll_exit)
        else:
            self._reap()

    def _reap(self) -> None:
        if self._pidfd >= 0:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        assert self.proc is not None
        self.returncode = self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # what the app left behind in its group
        self._retire_channels()
        if self._control is not None and self._control.transport is not None:
            self._control.transport.close()
        for sock in self._socks:
            sock.close()
        self._socks = []
        self.control_lost()
        self._exited.set()
        self.on_exit(self)

    # -- stop ------------------------------------------------------------------------------------
    def broken(self, why: str) -> None:
        """It broke the wire's rules: it cannot be trusted with another request."""
        if self.broken_reason is None:
            self.broken_reason = why
            log.error("%s: worker pid %d broke the protocol (%s); killing it",
                      self.spec.name, self.pid, why)
        self.kill()

    def _retire_channels(self) -> None:
        for channel in self.channels:
            channel.retired = True

    def kill(self) -> None:
        self._retire_channels()
        if self.alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    async def stop(self, grace: float) -> None:
        """STOP, then SIGTERM after ``grace`` seconds, then SIGKILL; returns once reaped."""
        self.stopping = True
        self._retire_channels()
        if not self.alive:
            return
        control = self._control
        if control is not None and control.transport is not None:
            control.transport.write(wire.frame(wire.STOP, 0))
        for sig, wait in ((None, grace), (signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, 5.0)):
            if sig is not None and self.alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._exited.wait()
            if not self.alive:
                break
        for channel in self.channels:
            channel.close()

