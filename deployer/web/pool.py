"""The worker processes of one context version: start, dispatch, replace, recycle, stop.

Dispatch picks an idle channel in turn (so load spreads over the processes), else the least busy
one with room; when none has room the request waits its turn. A worker that dies is replaced at
once; one that dies within QUICK seconds of its start is replaced after a growing delay, and
CRASH_LOOP such deaths in a row make the pool FAILED with the last output of the last one (the
context then answers 503 until its files change). Recycling after ``max_requests`` (staggered per
worker, so they do not all go at once) starts the replacement first and retires the old worker only
once the new one is ready, so no request waits for a boot (gunicorn #2422).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable

from deployer.errors import AppLoadError
from deployer.web.channel import Channel, Stream
from deployer.web.process import WorkerProcess, WorkerSpec, describe_exit

log = logging.getLogger("deployer.web")

QUICK = 10.0  # a death this soon after the start counts towards a crash loop
CRASH_LOOP = 5  # quick deaths in a row that fail the pool
MAX_BACKOFF = 10.0
RETIRE_WAIT = 60.0  # at most this long for a retiring worker's requests before it is stopped
STOP_GRACE = 5.0  # between STOP and SIGTERM when a pool stops after its drain


class PoolUnavailable(Exception):
    """No worker will take the request: the pool failed or stopped."""


class WorkerPool:
    """``await start()`` (all workers ready, or AppLoadError), ``open(head)`` per request,
    ``await stop()``. ``on_failed`` hears of a crash loop."""

    def __init__(self, spec: WorkerSpec,
                 on_failed: Callable[[AppLoadError], None] | None = None) -> None:
        self.spec = spec
        self.on_failed = on_failed
        self.workers: list[WorkerProcess] = []  # ready and serving
        self.kind: str | None = None
        self.state = "stopped"  # starting, serving, failed, stopping, stopped
        self.error: AppLoadError | None = None
        self.starts = self.deaths = self.restarts = 0
        self._channels: list[Channel] = []
        self._owner: dict[Channel, WorkerProcess] = {}
        self._waiters: collections.deque[tuple[asyncio.Future[Stream], Callable[[], bytes]]] = \
            collections.deque()
        self._next = 0
        self._quick = 0
        self._indexes = iter(range(1 << 62))
        self._tasks: set[asyncio.Task[None]] = set()
        self._retiring: set[WorkerProcess] = set()
        self._drained: dict[WorkerProcess, asyncio.Future[None]] = {}  # retiring, awaited idle
        self._procs: set[WorkerProcess] = set()  # every process not yet reaped

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.state = "starting"
        procs = [self._new_process() for _ in range(self.spec.workers)]
        results = await asyncio.gather(*(p.start() for p in procs), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await asyncio.gather(*(p.stop(0) for p in procs), return_exceptions=True)
            self.state = "failed"
            first = next((f for f in failures if isinstance(f, AppLoadError)), failures[0])
            if isinstance(first, AppLoadError):
                self.error = first
                raise first
            raise AppLoadError(f"{self.spec.name}: cannot start workers: {first!r}") from first
        for proc in procs:
            self._add(proc)
        self.kind = procs[0].kind
        self.state = "serving"

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop every worker (STOP, then signals); requests still waiting get 503."""
        if self.state == "stopped":
            return
        self.state = "stopping"
        self._fail_waiters()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()  # a worker cancelled while starting kills itself
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.workers, self._channels = [], []
        procs = list(self._procs)
        await asyncio.gather(*(p.stop(grace) for p in procs), return_exceptions=True)
        self.state = "stopped"

    def _new_process(self) -> WorkerProcess:
        self.starts += 1
        proc = WorkerProcess(self.spec, next(self._indexes), self._exited, self._free)
        self._procs.add(proc)
        return proc

    def _add(self, proc: WorkerProcess) -> None:
        self.workers.append(proc)
        for channel in proc.channels:
            self._owner[channel] = proc
        self._rebuild()
        self._dispatch()

    def _rebuild(self) -> None:
        self._channels = [c for p in self.workers for c in p.channels if not c.retired]

    # -- requests --------------------------------------------------------------------------------
    def _pick(self) -> Channel | None:
        channels = self._channels
        n = len(channels)
        best: Channel | None = None
        start = self._next
        for i in range(n):
            channel = channels[(start + i) % n]
            if not channel.usable:
                continue
            if channel.in_flight == 0:
                self._next = (start + i + 1) % n
                return channel
            if best is None or channel.in_flight < best.in_flight:
                best = channel
        return best

    def open(self, head: Callable[[], bytes]) -> Stream | None:
        """A stream on a channel with room, at once, or None. ``head`` makes the REQUEST
        payload once a channel takes it."""
        if self._waiters:  # first come, first served
            return None
        channel = self._pick()
        return channel.open(head) if channel is not None else None

    async def open_wait(self, head: Callable[[], bytes]) -> Stream:
        """A stream, waiting for room; PoolUnavailable when the pool fails or stops meanwhile."""
        stream = self.open(head)
        if stream is not None:
            return stream
        if self.state not in ("serving", "starting"):
            raise PoolUnavailable(self.state)
        waiter: asyncio.Future[Stream] = asyncio.get_running_loop().create_future()
        entry = (waiter, head)
        self._waiters.append(entry)
        try:
            return await waiter
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                waiter.result().close()
            raise

    def _dispatch(self) -> None:
        waiters = self._waiters
        while waiters:
            channel = self._pick()
            if channel is None:
                return
            waiter, head = waiters.popleft()
            if not waiter.done():
                waiter.set_result(channel.open(head))

    def _fail_waiters(self) -> None:
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter, _ in waiters:
            if not waiter.done():
                waiter.set_exception(PoolUnavailable(self.state))

    def _free(self, channel: Channel) -> None:
        """A stream ended: count it, recycle its worker when due, hand the room on."""
        proc = self._owner.get(channel)
        if proc is not None:
            proc.requests += 1
            limit = self.spec.max_requests
            if limit and proc.requests >= self._limit(proc):
                self._retire(proc, f"served {proc.requests} requests (maxRequests)")
            drained = self._drained.get(proc)
            if drained is not None and not drained.done() and _idle(proc):
                drained.set_result(None)
        self._dispatch()

    def _limit(self, proc: WorkerProcess) -> int:
        """maxRequests with a fixed stagger per worker, so they are not all replaced at once."""
        limit = self.spec.max_requests
        stagger = max(1, limit // max(2, 2 * self.spec.workers))
        return limit + (proc.index % max(1, self.spec.workers)) * stagger

    def timed_out(self, stream: Stream) -> None:
        """A request passed requestTimeout. Its thread or task cannot be stopped from here, so
        its worker takes no new request and is replaced; it stops once its other requests are
        done (its stuck one holds up its STOP, so SIGTERM ends it)."""
        proc = self._owner.get(stream.channel)
        if proc is not None:
            self._retire(proc, f"a request passed requestTimeout "
                               f"({self.spec.request_timeout:g} s)", now=True)

    # -- replacing workers -----------------------------------------------------------------------
    def _retire(self, proc: WorkerProcess, why: str, now: bool = False) -> None:
        """Replace ``proc``: it serves on until its replacement is READY (so no request waits for
        a boot), unless ``now``; then it takes no new request and stops once idle."""
        if proc not in self.workers or proc in self._retiring:
            return
        log.info("%s: replacing worker pid %d: %s", self.spec.name, proc.pid, why)
        self._retiring.add(proc)
        if now:
            self._out_of_rotation(proc)
        self._spawn_task(self._replace(proc))

    def _out_of_rotation(self, proc: WorkerProcess) -> None:
        if proc in self.workers:
            self.workers.remove(proc)
        for channel in proc.channels:
            channel.retired = True
        self._rebuild()

    async def _replacement(self) -> WorkerProcess | None:
        """A new worker, READY and counted as a restart; None when it failed (logged and
        counted towards a crash loop) or the pool stopped serving meanwhile."""
        proc = self._new_process()
        try:
            await proc.start()
        except AppLoadError as exc:
            log.error("%s: a replacement worker failed to start: %s\n%s", self.spec.name, exc,
                      exc.traceback_text)
            self._count_quick_death(proc, exc)
            return None
        if self.state != "serving":
            await proc.stop(0)
            return None
        self.restarts += 1
        return proc

    async def _replace(self, old: WorkerProcess) -> None:
        new = await self._replacement()
        if new is not None:
            self._add(new)
        elif old in self.workers:  # it serves on; the next request tries again
            self._retiring.discard(old)
            return
        elif self.state == "serving":  # it left the rotation already: keep trying to replace it
            self._spawn_task(self._respawn(self._backoff()))
        self._out_of_rotation(old)
        if old.alive and not _idle(old):
            drained = self._drained[old] = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(RETIRE_WAIT):
                    await drained
            except TimeoutError:
                log.warning("%s: worker pid %d still busy after %g s; stopping it",
                            self.spec.name, old.pid, RETIRE_WAIT)
            finally:
                self._drained.pop(old, None)
        await old.stop(STOP_GRACE)

    def _spawn_task(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _exited(self, proc: WorkerProcess) -> None:
        """Every worker's end comes here, once."""
        self._procs.discard(proc)
        for channel in proc.channels:
            self._owner.pop(channel, None)
        drained = self._drained.get(proc)
        if drained is not None and not drained.done():
            drained.set_result(None)
        if proc in self._retiring:  # its replacement is on its way
            self._retiring.discard(proc)
            self._out_of_rotation(proc)
            return
        if proc not in self.workers:
            return  # stopped, or never ready: nothing to replace
        self._out_of_rotation(proc)
        if proc.stopping or self.state != "serving":
            return
        self.deaths += 1
        lost = sum(c.stranded for c in proc.channels)
        lifetime = time.monotonic() - proc.started_at
        log.error("%s: worker pid %d %s after %.1f s; %d request(s) in flight answered 502%s",
                  self.spec.name, proc.pid, describe_exit(proc.returncode), lifetime, lost,
                  f" ({proc.broken_reason})" if proc.broken_reason else "")
        if lifetime < QUICK:
            self._count_quick_death(proc, None)
            if self.state != "serving":
                return
            delay = self._backoff()
        else:
            self._quick = 0
            delay = 0.0
        self._spawn_task(self._respawn(delay))

    def _backoff(self) -> float:
        """0.1 s after the first quick death, doubling, at most MAX_BACKOFF."""
        return min(MAX_BACKOFF, 0.1 * 2 ** max(0, self._quick - 1))

    def _count_quick_death(self, proc: WorkerProcess, error: AppLoadError | None) -> None:
        self._quick += 1
        if self._quick < CRASH_LOOP or self.state != "serving":
            return
        tail = error.traceback_text if error is not None else proc.last_output()
        self._fail(AppLoadError(
            f"{self.spec.name}: {self._quick} workers in a row died within {QUICK:g} s of "
            f"starting (the last {describe_exit(proc.returncode)}); answering 503 until its "
            "files change", tail or (str(error) if error else "")))

    async def _respawn(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self.state != "serving":
            return
        proc = await self._replacement()
        if proc is None:
            if self.state == "serving":
                self._spawn_task(self._respawn(self._backoff()))
            return
        log.info("%s: worker pid %d replaced the one that died", self.spec.name, proc.pid)
        self._add(proc)

    def _fail(self, error: AppLoadError) -> None:
        self.state = "failed"
        self.error = error
        log.error("%s\n%s", error, error.traceback_text)
        self._fail_waiters()
        procs = {*self.workers, *self._retiring}
        self.workers, self._channels = [], []
        for proc in procs:
            self._spawn_task(proc.stop(0))
        if self.on_failed is not None:
            self.on_failed(error)


def _idle(proc: WorkerProcess) -> bool:
    return not any(c.in_flight for c in proc.channels)
