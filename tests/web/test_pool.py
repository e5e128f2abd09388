"""Worker processes failing in every way a process can: killed, garbling the wire, dying right
after start, stuck, slow to boot; and recycled after maxRequests without a gap.

Real processes killed with real signals; the front must keep serving through all of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from deployer.errors import AppLoadError
from deployer.lifecycle import State
from deployer.web.context import ContextInfo, WebContext
from tests.support.waiting import wait_for
from tests.web.conftest import Harness, worker_spec

GATED = '''
import os, time

def application(environ, start_response):
    name = environ["PATH_INFO"].strip("/")
    if name.startswith("hold"):
        open(f"entered-{name}-{os.getpid()}", "w").close()
        deadline = time.monotonic() + 20
        while not os.path.exists("gate") and time.monotonic() < deadline:
            time.sleep(0.005)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


def app_dir(tmp_path: Path, source: str, name: str = "app") -> Path:
    base = tmp_path / name
    base.mkdir()
    (base / "wsgi.py").write_text(textwrap.dedent(source))
    return base


def pids(ctx: WebContext) -> set[int]:
    assert ctx.pool is not None
    return {p.pid for p in ctx.pool.workers}


def test_sigkill_under_load_fails_only_that_workers_requests(harness: Harness,
                                                             tmp_path: Path) -> None:
    base = app_dir(tmp_path, GATED)
    ctx = harness.context(base, "/k", workers=2, threads=3)
    results: dict[str, int] = {}

    def get(name: str) -> None:
        results[name] = httpx.get(f"{harness.url}/k/{name}", timeout=20).status_code

    threads = [threading.Thread(target=get, args=(f"hold{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    entered = wait_for(lambda: (lambda e: e if len(e) == 6 else None)(
        [p.name.split("-") for p in base.glob("entered-*")]), what="6 requests in the app")
    by_pid: dict[int, list[str]] = {}
    for _, name, pid in entered:
        by_pid.setdefault(int(pid), []).append(name)
    assert len(by_pid) == 2, f"requests did not spread over both workers: {by_pid}"
    victim = sorted(by_pid)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: all(results.get(n) == 502 for n in by_pid[victim]),
             what="502 for the killed worker's requests")
    (base / "gate").touch()
    for t in threads:
        t.join(20)
    for pid, names in by_pid.items():
        assert {results[n] for n in names} == ({502} if pid == victim else {200})
    replacement = wait_for(lambda: (pids(ctx) - {victim}) if len(pids(ctx)) == 2 else None,
                           what="a replacement worker")
    assert victim not in replacement
    assert httpx.get(f"{harness.url}/k/x", timeout=5).status_code == 200
    assert ctx.pool is not None and ctx.pool.deaths == 1 and ctx.pool.state == "serving"


GARBAGE = '''
import os, stat

def application(environ, start_response):
    kind = environ["PATH_INFO"].strip("/")
    if kind in ("garbage", "huge", "half"):
        data = {"garbage": b"\\xff" * 64,
                "huge": b"\\x7f\\xff\\xff\\xff\\x0b\\x00\\x00\\x00\\x01",
                "half": b"\\x00\\x00\\x01\\x00\\x0b\\x00\\x00\\x00\\x01abc"}[kind]
        for fd in range(3, 64):  # every socket this process holds: the wire too
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.write(fd, data)
            except OSError:
                pass
        if kind == "half":
            os._exit(0)
    start_response("200 OK", [])
    return [b"fine"]
'''


@pytest.mark.parametrize("kind", ["garbage", "huge", "half"])
def test_a_worker_that_garbles_the_wire_is_killed_and_replaced(harness: Harness,
                                                                tmp_path: Path,
                                                                kind: str) -> None:
    base = app_dir(tmp_path, GARBAGE)
    ctx = harness.context(base, "/g", threads=1)
    first = pids(ctx)
    r = httpx.get(f"{harness.url}/g/{kind}", timeout=10)
    assert r.status_code == 502
    wait_for(lambda: pids(ctx) and pids(ctx) != first, what="a replacement worker")
    assert httpx.get(f"{harness.url}/g/ok", timeout=10).text == "fine"
    assert ctx.pool is not None and ctx.pool.state == "serving"


def test_workers_that_keep_dying_after_start_fail_the_context(harness: Harness,
                                                               tmp_path: Path) -> None:
    base = app_dir(tmp_path, '''
        import os, sys, threading
        print("about to fail: no database", file=sys.stderr, flush=True)
        threading.Timer(0.05, os._exit, (3,)).start()
        def application(environ, start_response):
            start_response("200 OK", [])
            return [b"alive"]
    ''')
    failures: list[AppLoadError] = []
    ctx = harness.context(base, "/dying")
    ctx.on_failed = lambda _ctx, error: failures.append(error)
    wait_for(lambda: failures, timeout=30, what="the pool to give up")
    assert ctx.pool is not None and ctx.pool.state == "failed"
    assert "died within" in str(failures[0]) and "status 3" in str(failures[0])
    assert "no database" in failures[0].traceback_text
    assert httpx.get(f"{harness.url}/dying/", timeout=5).status_code == 503


def test_max_requests_recycles_without_a_failed_request(harness: Harness,
                                                         tmp_path: Path) -> None:
    base = app_dir(tmp_path, GATED)
    spec = worker_spec(base, "wsgi:application", "wsgi", "/r", threads=1, max_requests=5)
    ctx = WebContext(ContextInfo("/r"), [], spec, name="/r")
    harness.run(ctx.astart())
    harness.add(ctx, "/r")
    seen: list[str] = []
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        while len(set(seen)) < 3 and time.monotonic() < deadline:
            r = client.get("/r/x")
            assert r.status_code == 200  # the old worker serves until its replacement is READY
            seen.append(r.text)
    runs = [pid for i, pid in enumerate(seen) if i == 0 or seen[i - 1] != pid]
    assert len(runs) == len(set(runs)) >= 3, runs  # each worker served its turn, then went
    assert seen.count(runs[0]) >= 5 and seen.count(runs[1]) >= 5
    assert ctx.pool is not None and ctx.pool.restarts >= 2 and ctx.pool.deaths == 0
    wait_for(lambda: len(ctx.pool.workers) == 1 and not ctx.pool._retiring,  # type: ignore[union-attr]
             what="the retired workers to stop")


def test_start_timeout_and_request_timeout(harness: Harness, tmp_path: Path) -> None:
    slow_boot = app_dir(tmp_path, "import time\ntime.sleep(30)\n", "boot")
    spec = worker_spec(slow_boot, "wsgi:application", "wsgi", "/b", start_timeout=1.0)
    ctx = WebContext(ContextInfo("/b"), [], spec, name="/b")
    started = time.monotonic()
    with pytest.raises(AppLoadError, match="not ready within 1 s"):
        harness.run(ctx.astart())
    assert time.monotonic() - started < 10 and ctx.state is State.FAILED

    stuck = app_dir(tmp_path, GATED, "stuck")
    spec = worker_spec(stuck, "wsgi:application", "wsgi", "/t", threads=2, request_timeout=1.0)
    ctx = WebContext(ContextInfo("/t"), [], spec, name="/t")
    harness.run(ctx.astart())
    harness.add(ctx, "/t")
    first = pids(ctx)
    started = time.monotonic()
    r = httpx.get(f"{harness.url}/t/hold", timeout=10)
    assert r.status_code == 504 and time.monotonic() - started < 5
    wait_for(lambda: pids(ctx) and not pids(ctx) & first, what="the stuck worker replaced")
    assert httpx.get(f"{harness.url}/t/x", timeout=5).status_code == 200


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_a_virtualenv_of_another_python_runs_the_worker(harness: Harness, tmp_path: Path,
                                                         version: str) -> None:
    """The worker side is standard library only and Python 3.9+: any interpreter will do."""
    base_python = Path(f"/root/.pyenv/versions/{version}")
    found = sorted(base_python.parent.glob(f"{version}.*/bin/python{version}"))
    if not found:
        pytest.skip(f"no Python {version} on this machine")
    venv = tmp_path / "venv"
    subprocess.run([str(found[-1]), "-m", "venv", "--without-pip", str(venv)], check=True)
    base = app_dir(tmp_path, '''
        import sys
        def application(environ, start_response):
            session = environ["deployer.session"]
            session["n"] = session.get("n", 0) + 1
            start_response("200 OK", [])
            return [f"{sys.version_info[0]}.{sys.version_info[1]} {session['n']}".encode()]
    ''')
    from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
    from deployer.web.tracking import SessionTracking

    sessions = SessionManager(SessionConfig(), SessionIdManager(), "py")
    harness.context(base, "/py", sessions=sessions, tracking=SessionTracking(),
                    python=str(venv / "bin" / "python"))
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        assert client.get("/py/").text == f"{version} 1"
        assert client.get("/py/").text == f"{version} 2"


def test_workers_exit_when_the_front_is_killed(tmp_path: Path) -> None:
    """Nothing outlives a SIGKILLed deployer: its workers see their control socket close."""
    from tests.integration.harness import DeployerProcess, descriptor, write_counter_app

    contexts = tmp_path / "contexts"
    contexts.mkdir()
    write_counter_app(tmp_path / "webapps" / "c")
    (contexts / "c.xml").write_text(descriptor("/c", "../webapps/c"))
    proc = DeployerProcess(contexts).start()
    try:
        assert httpx.get(f"{proc.url}/c/", timeout=5).status_code == 200
        assert proc.proc is not None
        children = [int(p) for p in Path(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children")
                    .read_text().split()]
        assert children
        proc.proc.kill()
        proc.wait_exit()
        wait_for(lambda: not any(alive(pid) for pid in children), timeout=10,
                 what="the workers to exit")
    finally:
        proc.stop()


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"
