"""One small thread pool for every SessionManager's background work (Jetty's HouseKeeper).

A thread per manager meant 1,000 threads for 1,000 webapps; here a fixed pool (default 2) serves
them all. Each registered manager has one pending timed run in a heap (its next scavenge or
save, whichever is first) and at most one pending wake-up in the immediate queue: wakes coalesce,
and a wake that arrives while the manager runs makes it run once more afterwards. A manager never
runs on two threads at once, so its own locks (see manager.py) keep their meaning; the scheduler
never holds its lock while a job runs, and a job never waits for the scheduler's lock, so no
manager lock is ever taken inside it.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from typing import Protocol

from deployer.lifecycle import LifeCycle

__all__ = ["SessionScheduler"]

log = logging.getLogger("deployer.sessions")


class Job(Protocol):
    """What the scheduler runs: a SessionManager."""

    name: str

    def run_background(self) -> float:
        """Do whatever is due; return when (time.monotonic) to run again."""
        ...


class _Entry:
    __slots__ = ("job", "registered", "running", "queued", "woken", "token", "due", "thread")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.registered = True
        self.running = False
        self.queued = False  # waiting in the immediate queue
        self.woken = False  # woken while running: run again right after
        self.token = 0  # the heap item carrying this token is the live one
        self.due: float | None = None  # the live heap item's time; None: no live item
        self.thread: threading.Thread | None = None


class SessionScheduler(LifeCycle):
    """A fixed pool of named daemon threads running registered managers' background work."""

    def __init__(self, threads: int = 2, name: str = "sessions-scheduler",
                 retry_delay: float = 1.0) -> None:
        super().__init__()
        if threads < 1:
            raise ValueError("a scheduler needs at least one thread")
        self.size = threads
        self.name = name
        self.retry_delay = retry_delay  # after a job raised
        self._cond = threading.Condition(threading.Lock())
        self._entries: dict[Job, _Entry] = {}
        self._heap: list[tuple[float, int, int, _Entry]] = []  # (due, seq, token, entry)
        self._ready: deque[_Entry] = deque()
        self._seq = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def do_start(self) -> None:
        with self._cond:
            self._stopping = False
        for i in range(self.size):
            name = self.name if self.size == 1 else f"{self.name}-{i + 1}"
            t = threading.Thread(target=self._work, name=name, daemon=True)
            self._threads.append(t)
            t.start()

    def do_stop(self) -> None:
        """Jobs in progress finish; registrations stay, for a restart."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        threads, self._threads = self._threads, []
        for t in threads:
            if t is not threading.current_thread():
                t.join()

    # -- registration -------------------------------------------------------------------------
    def register(self, job: Job, due: float) -> None:
        """Run job at ``due`` (time.monotonic), then whenever its run says."""
        with self._cond:
            if job in self._entries:
                raise ValueError(f"{job.name} is already registered")
            entry = self._entries[job] = _Entry(job)
            self._push(entry, due)

    def unregister(self, job: Job) -> None:
        """No more runs of job; returns once a run in progress (on another thread) finished."""
        with self._cond:
            entry = self._entries.pop(job, None)
            if entry is None:
                return
            entry.registered = False
            while entry.running and entry.thread is not threading.current_thread():
                self._cond.wait()

    def wake(self, job: Job) -> None:
        """Run job soon; coalesces with a run already pending. Never blocks on a job."""
        with self._cond:
            entry = self._entries.get(job)
            if entry is None:
                return
            if entry.running:
                entry.woken = True
            elif not entry.queued:
                entry.queued = True
                self._ready.append(entry)
                self._cond.notify()

    def running(self, job: Job) -> bool:
        """Whether a run of job is in progress now."""
        with self._cond:
            entry = self._entries.get(job)
            return entry is not None and entry.running

    @property
    def jobs(self) -> int:
        return len(self._entries)

    # -- the pool -----------------------------------------------------------------------------
    def _push(self, entry: _Entry, due: float) -> None:
        if entry.due == due:
            return  # a wake-up run that changed nothing: the timed item stays live
        entry.token += 1
        entry.due = due
        self._seq += 1
        item = (due, self._seq, entry.token, entry)
        heapq.heappush(self._heap, item)
        if self._heap[0] is item:
            self._cond.notify()  # a sleeping thread may be waiting for a later one

    def _next(self) -> _Entry | None:
        """The next entry to run, marked running; None once stopping. Holds the lock."""
        while not self._stopping:
            while self._ready:
                entry = self._ready.popleft()
                if entry.queued and entry.registered:
                    return self._claim(entry, timed=False)
            while self._heap:
                due, _, token, entry = self._heap[0]
                if not entry.registered or token != entry.token:
                    heapq.heappop(self._heap)  # superseded
                    continue
                if entry.running:  # woken earlier and still at it: once more right after
                    heapq.heappop(self._heap)
                    entry.token, entry.due, entry.woken = entry.token + 1, None, True
                    continue
                delay = due - time.monotonic()
                if delay <= 0:
                    heapq.heappop(self._heap)
                    return self._claim(entry, timed=True)
                self._cond.wait(delay)
                break
            else:
                self._cond.wait()
        return None

    @staticmethod
    def _claim(entry: _Entry, *, timed: bool) -> _Entry:
        entry.running, entry.queued, entry.woken = True, False, False
        if timed:
            entry.token, entry.due = entry.token + 1, None  # its timed item is consumed
        entry.thread = threading.current_thread()
        return entry

    def _work(self) -> None:
        while True:
            with self._cond:
                entry = self._next()
            if entry is None:
                return
            try:
                due = entry.job.run_background()
            except Exception:
                log.exception("sessions %s: background work failed; will retry", entry.job.name)
                due = time.monotonic() + self.retry_delay
            with self._cond:
                entry.running, entry.thread = False, None
                if entry.registered:
                    self._push(entry, due)
                    if entry.woken:
                        entry.woken, entry.queued = False, True
                        self._ready.append(entry)
                self._cond.notify_all()  # unregister() may be waiting for this run
