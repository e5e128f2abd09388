"""The requests a worker is serving, counted so that STOP can wait until there are none.

Shared by both kinds of worker: a WSGI worker counts from its channel threads, an ASGI worker from
its event loop, and the thread that reads the control socket waits, without polling.
"""

from __future__ import annotations

import threading


class InFlight:
    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()  # taken directly on the request path: a C call
        self._cond = threading.Condition(self._lock)

    def enter(self) -> None:
        with self._lock:
            self._count += 1

    def leave(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0:
                self._cond.notify_all()

    def wait_idle(self) -> None:
        with self._cond:
            while self._count:
                self._cond.wait()
