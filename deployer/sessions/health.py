"""A store outage in the log: one line when it starts, a reminder now and then, one when it ends.

With the disk full or the store directory read-only, every retry of the periodic save logged an
ERROR with its traceback (24 lines each, 19 lines a second). The sessions stay in memory meanwhile,
so what a person needs is what failed, where and why, once, and then that it works again.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("deployer.sessions")

REMINDER_EVERY = 300.0  # seconds between "still failing" lines


class StoreHealth:
    """One manager's store: ``failed()`` after each failed store operation, ``ok()`` after each
    one that worked. Thread-safe; ``ok()`` costs one attribute read while all is well."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0  # failed attempts in the current outage
        self._since = 0.0
        self._reminded = 0.0
        self._lock = threading.Lock()

    def failed(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self.failures += 1
            if self.failures == 1:
                self._since = self._reminded = now
                log.error("sessions %s: %s failed: %s; sessions stay in memory, retrying "
                          "(logged again when it works)", self.name, what, exc)
            elif now - self._reminded >= REMINDER_EVERY:
                self._reminded = now
                log.error("sessions %s: the store still fails: %d failed attempts in %.0f s, "
                          "last %s: %s", self.name, self.failures, now - self._since, what, exc)

    def ok(self) -> None:
        if not self.failures:
            return
        with self._lock:
            failures, self.failures = self.failures, 0
            if failures:
                log.warning("sessions %s: the store works again after %d failed attempts in "
                            "%.0f s", self.name, failures, time.monotonic() - self._since)
