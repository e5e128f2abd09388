"""LifeCycle: idempotent start/stop, FAILED with its error, cleaned up once."""

from __future__ import annotations

import pytest

from deployer.lifecycle import LifeCycle, State


class Recorder(LifeCycle):
    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        super().__init__()
        self.name, self.log, self.fail = name, log, fail

    def do_start(self) -> None:
        self.log.append(f"start {self.name}")
        if self.fail:
            raise RuntimeError(f"{self.name} broke")

    def do_stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_start_and_stop_are_idempotent() -> None:
    log: list[str] = []
    r = Recorder("a", log)
    r.start()
    r.start()
    assert r.state is State.STARTED and r.is_running
    r.stop()
    r.stop()
    assert r.state is State.STOPPED
    assert log == ["start a", "stop a"]


def test_failed_start_keeps_error_and_cleans_up_once() -> None:
    log: list[str] = []
    r = Recorder("a", log, fail=True)
    with pytest.raises(RuntimeError, match="a broke"):
        r.start()
    assert r.state is State.FAILED
    assert isinstance(r.error, RuntimeError)
    r.stop()
    assert r.state is State.STOPPED
    assert log == ["start a", "stop a"]

