"""Explicit lifecycles: STOPPED -> STARTING -> STARTED -> STOPPING -> STOPPED, or FAILED.

Start and stop are idempotent so that wiring code can always call stop() in a finally block;
a failed start cleans up after itself and leaves the state FAILED with its error.
"""

from __future__ import annotations

import enum
import threading


class State(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    STARTED = "STARTED"
    STOPPING = "STOPPING"
    FAILED = "FAILED"


class LifeCycle:
    """Subclasses implement do_start/do_stop; start/stop handle state and idempotence."""

    def __init__(self) -> None:
        self._state = State.STOPPED
        self._lock = threading.RLock()
        self.error: BaseException | None = None

    @property
    def state(self) -> State:
        return self._state

    @property
    def is_running(self) -> bool:
        return self._state is State.STARTED

    def start(self) -> None:
        with self._lock:
            if self._state is State.STARTED:
                return
            self._state = State.STARTING
            try:
                self.do_start()
            except BaseException as exc:
                self._state = State.FAILED
                self.error = exc
                try:
                    self.do_stop()
                finally:
                    raise
            self.error = None
            self._state = State.STARTED

    def stop(self) -> None:
        with self._lock:
            if self._state in (State.STOPPED, State.STOPPING):
                return
            failed = self._state is State.FAILED  # its start already cleaned up
            self._state = State.STOPPING
            try:
                if not failed:
                    self.do_stop()
            finally:
                self._state = State.STOPPED

    def do_start(self) -> None:  # pragma: no cover - default is a no-op
        pass

    def do_stop(self) -> None:  # pragma: no cover - default is a no-op
        pass

