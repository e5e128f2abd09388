"""SessionScheduler: many managers on one small pool, wake-ups, slow jobs, stop and join."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
from deployer.sessions.scheduler import SessionScheduler
from tests.support.waiting import wait_for

from .conftest import session_threads


class Gated(SessionManager):
    """A real manager whose background run waits at a gate: a slow job, seen from outside."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.finished = threading.Event()
        self.runs = 0
        self.active = 0
        self.most_active = 0
        self._count = threading.Lock()

    def run_background(self) -> float:
        with self._count:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        self.entered.set()
        try:
            assert self.gate.wait(10), "the test never opened the gate"
            return super().run_background()
        finally:
            with self._count:
                self.active -= 1
                self.runs += 1
            self.finished.set()


@pytest.fixture
def scheduler() -> Iterator[SessionScheduler]:
    s = SessionScheduler()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def on(scheduler: SessionScheduler, ids: SessionIdManager
       ) -> Iterator[Callable[..., SessionManager]]:
    """on(name, cls=SessionManager, **config): a started manager on the shared scheduler."""
    made: list[SessionManager] = []

    def make(name: str, cls: type[SessionManager] = SessionManager, **config: object
             ) -> SessionManager:
        m = cls(SessionConfig(**config), ids, name, scheduler)
        made.append(m)
        m.start()
        return m

    yield make
    for m in made:
        if isinstance(m, Gated):
            m.gate.set()
        m.stop()


def test_two_threads_scavenge_two_hundred_managers(scheduler, on) -> None:
    threads_before = threading.active_count()
    managers = [on(f"m{i}", max_inactive_interval=1, scavenge_period=1) for i in range(200)]
    sessions = []
    for m in managers:
        s = m.create()
        m.complete(s)
        sessions.append(s)
    assert threading.active_count() <= threads_before, "no thread per manager"
    assert sorted(t.name for t in session_threads()) == [
        "sessions-scheduler-1", "sessions-scheduler-2"]
    wait_for(lambda: not any(s.is_valid for s in sessions), timeout=10,
             what="every manager's scavenger to expire its session")
    assert sum(m.sessions for m in managers) == 0
    assert scheduler.jobs == 200


def test_a_wake_runs_at_once_not_at_the_next_scavenge(on, tmp_path) -> None:
    m = on("store", store_directory=tmp_path / "store", scavenge_period=60)
    s = m.create()
    s["a"] = 1
    m.complete(s)
    assert m.save() == 1 and m.store.count() == 1
    started = time.monotonic()
    s.invalidate()  # wakes the manager: the store deletion runs in the background
    wait_for(lambda: m.store.count() == 0, timeout=5, what="the woken deletion")
    assert time.monotonic() - started < 5  # the next scavenge is 60 s away


def test_a_slow_job_does_not_hold_up_the_others(scheduler, on) -> None:
    slow = on("slow", Gated, scavenge_period=60)
    scheduler.wake(slow)
    wait_for(slow.entered.is_set, what="the slow job to start")
    managers = [on(f"m{i}", max_inactive_interval=1, scavenge_period=1) for i in range(20)]
    sessions = []
    for m in managers:
        s = m.create()
        m.complete(s)
        sessions.append(s)
    wait_for(lambda: not any(s.is_valid for s in sessions), timeout=10,
             what="the other thread to scavenge the others")
    assert scheduler.running(slow) and slow.runs == 0
    slow.gate.set()
    wait_for(slow.finished.is_set, what="the slow job to finish")


def test_wakes_coalesce_and_a_manager_never_runs_twice_at_once(scheduler, on) -> None:
    m = on("busy", Gated, scavenge_period=60)
    scheduler.wake(m)
    wait_for(m.entered.is_set, what="the first run")
    wakers = [threading.Thread(target=lambda: [scheduler.wake(m) for _ in range(50)])
              for _ in range(4)]
    for t in wakers:
        t.start()
    for t in wakers:
        t.join()
    m.gate.set()
    wait_for(lambda: m.runs == 2 and not scheduler.running(m), what="one run more, not 200")
    assert m.most_active == 1
    scheduler.wake(m)
    wait_for(lambda: m.runs == 3, what="a later wake to run again")


def test_stopping_a_manager_mid_job_waits_for_the_job(scheduler, on) -> None:
    m = on("stopping", Gated, scavenge_period=60)
    scheduler.wake(m)
    wait_for(m.entered.is_set, what="the job to start")
    seen: list[bool] = []
    stopper = threading.Thread(target=lambda: (m.stop(), seen.append(m.finished.is_set())))
    stopper.start()
    stopper.join(0.3)
    assert stopper.is_alive(), "stop() returned while the job still ran"
    m.gate.set()
    stopper.join(10)
    assert not stopper.is_alive() and seen == [True]
    assert not scheduler.running(m) and scheduler.jobs == 0
    scheduler.wake(m)  # unregistered: ignored
    assert m.runs == 1


def test_a_failing_job_is_logged_and_rescheduled(ids, caplog) -> None:
    class Failing(SessionManager):
        calls = 0

        def run_background(self) -> float:
            Failing.calls += 1
            if Failing.calls == 1:
                raise RuntimeError("boom")
            return time.monotonic() + 60

    scheduler = SessionScheduler(threads=1, retry_delay=0.05)
    scheduler.start()
    m = Failing(SessionConfig(), ids, "failing", scheduler)
    try:
        m.start()
        with caplog.at_level(logging.ERROR, logger="deployer.sessions"):
            scheduler.wake(m)
            wait_for(lambda: Failing.calls == 2, what="the retry after the failure")
        assert "failing: background work failed" in caplog.text and "boom" in caplog.text
    finally:
        m.stop()
        scheduler.stop()


def test_stop_joins_the_threads_and_a_restart_resumes(ids) -> None:
    scheduler = SessionScheduler(threads=3, name="sessions-pool")
    scheduler.start()
    names = {"sessions-pool-1", "sessions-pool-2", "sessions-pool-3"}
    assert names <= {t.name for t in threading.enumerate()}
    m = SessionManager(SessionConfig(max_inactive_interval=1, scavenge_period=1), ids, "m",
                       scheduler)
    m.start()
    scheduler.stop()
    assert not names & {t.name for t in threading.enumerate()}
    scheduler.stop()  # idempotent
    s = m.create()  # registered managers keep working without the background
    m.complete(s)
    scheduler.start()  # ...and the scavenger resumes with the pool
    try:
        wait_for(lambda: not s.is_valid, timeout=6, what="the restarted pool's scavenge")
    finally:
        m.stop()
        scheduler.stop()
    assert not names & {t.name for t in threading.enumerate()}


def test_a_manager_without_a_scheduler_runs_its_own_thread(ids) -> None:
    m = SessionManager(SessionConfig(), ids, "alone")
    m.start()
    assert [t.name for t in session_threads()] == ["sessions-alone"]
    m.stop()
    assert not session_threads()
