"""The WSGI bridge's worker threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class WorkerPool:
    """A fixed set of daemon threads fed by a SimpleQueue: started on first use, joined on close
    (and started again if used after that, so a stopped context can be started again)."""

    def __init__(self, threads: int = 16, name: str = "wsgi") -> None:
        self.size = max(1, threads)
        self.name = name
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        if not self._threads:
            self._start()
        self._queue.put(job)

    def _start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for i in range(self.size):
                t = threading.Thread(target=self._run, name=f"{self.name}-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def _run(self) -> None:
        get = self._queue.get
        while (job := get()) is not None:
            job()

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for t in threads:
            t.join(timeout)
