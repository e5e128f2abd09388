"""Shared fixtures: the real Jetty corpus (when ../shared is beside the repository)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stores import pg_schema, redis_prefix  # noqa: F401 - shared fixtures

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "jetty-corpus"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true",
                     help="also run the tests marked slow (real frameworks in a virtualenv of "
                          "their own, hundreds of redeploys); CI runs them")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def corpus_files() -> list[Path]:
    """Every XML file of the shared Jetty corpus, or [] when the folder is absent."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.suffix == ".xml")


@pytest.fixture
def corpus() -> list[Path]:
    files = corpus_files()
    if not files:
        pytest.skip("../shared/jetty-corpus is not beside the repository")
    return files


def child_processes() -> set[tuple[int, str]]:
    """(pid, command) of this process's live children, from /proc."""
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.add((int(entry), cmd))
    return found


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Worker processes are reaped by whoever started them: a test that leaves one running (a
    webapp's worker, a deployer) fails, naming it."""
    before = child_processes()
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = child_processes() - before
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"processes left running: {sorted(leaked)}"


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """DESIGN.md: threads and tasks have an idempotent stop and are joined; a test that leaves
    one running fails, naming it. Threads get a short grace period to finish their own exit."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"threads left running: {sorted(t.name for t in leaked)}"
