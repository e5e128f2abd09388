"""`deployer run` as a real process under faults a newcomer or an attacker causes (issue 12)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from deployer.sessions.store import DB_NAME
from tests.integration.harness import DeployerProcess, descriptor, write_counter_app
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def run_deployer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deployer", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_a_taken_port_fails_before_any_app_is_imported(tmp_path: Path) -> None:
    app = write_counter_app(tmp_path / "apps" / "app")
    (app / "wsgi.py").write_text("import pathlib\npathlib.Path('imported').touch()\n"
                                 + (app / "wsgi.py").read_text())
    (tmp_path / "contexts").mkdir()
    (tmp_path / "contexts" / "app.xml").write_text(descriptor("/app", "../apps/app"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_deployer("run", str(tmp_path / "contexts"), "--port", str(port))
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert not (app / "imported").exists(), "the app was imported before the port was checked"
    assert "Traceback" not in done.stderr


def test_the_shipped_counter_keeps_its_counts_across_kill_9(tmp_path: Path) -> None:
    """Without a savePeriod nothing was saved before a graceful stop (issue 12, item 16)."""
    shutil.copytree(ROOT / "contexts", tmp_path / "contexts")
    shutil.copytree(ROOT / "samples", tmp_path / "samples",
                    ignore=shutil.ignore_patterns("__pycache__"))
    store = tmp_path / "sessions" / "counter"
    with DeployerProcess(tmp_path / "contexts") as run, httpx.Client(base_url=run.url) as client:
        counts = [client.get("/counter/").text for _ in range(3)]
        assert counts == ["count=1\n", "count=2\n", "count=3\n"]
        sid = client.cookies["JSESSIONID"].split(".")[0]
        wait_for(lambda: _stored_count(store, sid) == 3, timeout=30, what="the periodic save")
        run.send(signal.SIGKILL)
        run.wait_exit()
    with DeployerProcess(tmp_path / "contexts") as run, \
            httpx.Client(base_url=run.url, cookies={"JSESSIONID": sid}) as client:
        assert client.get("/counter/").text == "count=4\n"


def _stored_count(store: Path, sid: str) -> int | None:
    if not (store / DB_NAME).exists():
        return None
    with contextlib.closing(sqlite3.connect(f"{(store / DB_NAME).as_uri()}?mode=ro",
                                            uri=True)) as c:
        row = c.execute("SELECT attributes FROM sessions WHERE id = ?", (sid,)).fetchone()
    return json.loads(row[0]).get("count") if row else None


def test_a_second_run_on_the_same_store_is_refused_naming_the_store_and_pid(
        tmp_path: Path) -> None:
    write_counter_app(tmp_path / "apps" / "counter")
    (tmp_path / "contexts").mkdir()
    (tmp_path / "contexts" / "c.xml").write_text(
        descriptor("/c", "../apps/counter", store="../sessions/c"))
    store = (tmp_path / "sessions" / "c").resolve()
    with DeployerProcess(tmp_path / "contexts") as first, \
            DeployerProcess(tmp_path / "contexts") as second:
        assert first.proc is not None
        second.wait_line(rf"session store {store} is in use by another process "
                         rf"\(pid {first.proc.pid}\)")
        assert httpx.get(f"{second.url}/c/").status_code in (404, 503)
        with httpx.Client(base_url=first.url) as client:
            assert [client.get("/c/").text.split()[-1] for _ in range(2)] == ["1", "2"]


def test_a_store_that_fails_at_start_is_retried_by_itself_once_fixed(tmp_path: Path) -> None:
    """It stayed FAILED after the store was fixed, until some file was touched (item 7)."""
    write_counter_app(tmp_path / "apps" / "counter")
    (tmp_path / "contexts").mkdir()
    (tmp_path / "contexts" / "c.xml").write_text(
        descriptor("/c", "../apps/counter", store="../sessions/c"))
    broken = tmp_path / "sessions" / "c" / DB_NAME
    broken.mkdir(parents=True)  # cannot be opened (EISDIR), whoever runs the test
    with DeployerProcess(tmp_path / "contexts") as run:
        run.wait_line(r"FAILED .*c\.xml.*unable to open database file; trying again in 1 s")
        run.wait_line(r"FAILED .*c\.xml.*trying again in 2 s")  # backing off
        assert httpx.get(f"{run.url}/c/").status_code in (404, 503)
        mark = run.mark()
        broken.rmdir()
        run.wait_line(r"deployed .*c\.xml", after=mark, timeout=30)
        assert httpx.get(f"{run.url}/c/").text.split()[-1] == "1"


def test_a_huge_descriptor_dropped_into_a_live_directory_is_refused_others_serve(
        tmp_path: Path) -> None:
    write_counter_app(tmp_path / "apps" / "counter")
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    (contexts / "good.xml").write_text(descriptor("/good", "../apps/counter"))
    attrs = " ".join(f'a{i}=""' for i in range(390_000))
    huge = ('<?xml version="1.0"?>\n<Configure class="org.eclipse.jetty.webapp.WebAppContext">\n'
            f'  <Set name="contextPath" {attrs}>/huge</Set>\n</Configure>\n')
    with DeployerProcess(contexts) as run, httpx.Client(base_url=run.url) as client:
        assert client.get("/good/").status_code == 200
        (tmp_path / "huge.tmp").write_text(huge)
        (tmp_path / "huge.tmp").rename(contexts / "huge.xml")
        run.wait_line(rf"FAILED {contexts / 'huge.xml'}.*huge\.xml:3:\d+: more than 10,016 '=' "
                      r"by here: more than 10,000 attributes", timeout=30)
        assert [client.get("/good/").status_code for _ in range(3)] == [200] * 3
        assert client.get("/huge/").status_code == 404


SLOW_WSGI = """\
import os, time


def application(environ, start_response):
    session = environ["deployer.session"]
    session["n"] = session.get("n", 0) + 1
    open(os.path.join("entered", str(os.getpid()) + "-" + str(time.monotonic_ns())), "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists("gate") and time.monotonic() < deadline:
        time.sleep(0.01)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"finished"]
"""


def test_requests_cut_by_the_drain_get_503_and_nothing_runs_after_the_sessions_stop(
        tmp_path: Path) -> None:
    """A drain overrun gave 500s with CancelledError tracebacks, and queued requests ran after
    their session manager had stopped (issue 12, item 14). One request is in the app (one
    thread), four wait for it in the front; SIGTERM with a drain timeout shorter than the app."""
    app = tmp_path / "apps" / "slow"
    (app / "entered").mkdir(parents=True)
    (app / "wsgi.py").write_text(SLOW_WSGI)
    (tmp_path / "contexts").mkdir()
    (tmp_path / "contexts" / "s.xml").write_text(
        descriptor("/s", "../apps/slow", store="../sessions/s").replace(
            "</Configure>", '  <Set name="threads">1</Set>\n</Configure>'))
    with DeployerProcess(tmp_path / "contexts", "--drain-timeout", "0.5") as run:
        clients = [socket.create_connection(("127.0.0.1", run.port), timeout=30)
                   for _ in range(5)]
        try:
            for c in clients:
                c.sendall(b"GET /s/ HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_for(lambda: any((app / "entered").iterdir()), what="a request in the app")
            ports = {c.getsockname()[1] for c in clients}
            wait_for(lambda: _all_read(run.port, ports), what="the front to read all 5")
            run.send(signal.SIGTERM)
            answers = [_read_until_closed(c) for c in clients]
        finally:
            for c in clients:
                c.close()
        assert run.wait_exit(30) == 0
        log = run.log()
    heads = [a.split(b"\r\n\r\n")[0].lower() for a in answers]
    assert [h.split(b" ")[1] if h else b"" for h in heads] == [b"503"] * 5, answers
    assert all(b"connection: close" in h for h in heads), heads
    assert "Traceback" not in log and "CancelledError" not in log, log
    assert "is not running" not in log, log
    assert len(list((app / "entered").iterdir())) == 1, "a queued request ran after the cut"


def _all_read(port: int, client_ports: set[int]) -> bool:
    """The front has read every byte the clients sent (the rx_queue of its sockets is 0)."""
    read = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if local == port and remote in client_ports and int(fields[4].split(":")[1], 16) == 0:
            read.add(remote)
    return read == client_ports


def _read_until_closed(s: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_an_inotify_overflow_gives_a_full_rescan_and_one_timestamped_line(
        tmp_path: Path) -> None:
    """A real overflow: the server is stopped (SIGSTOP) while 20,000 files appear in contexts/,
    more than the kernel's 16,384 queued events; the descriptor written last has its event
    lost, and with a scan interval of an hour only the rescan the overflow asks for deploys it
    (issue 12, item 13). watchdog's line comes through deployer's log, once."""
    write_counter_app(tmp_path / "apps" / "counter")
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    with DeployerProcess(contexts, "--scan-interval", "3600") as run:
        run.send(signal.SIGSTOP)
        try:
            for i in range(20_000):
                (contexts / f"noise{i}.txt").touch()
            (contexts / "c.xml").write_text(descriptor("/c", "../apps/counter"))
        finally:
            run.send(signal.SIGCONT)
        run.wait_line(r"deployed .*c\.xml", timeout=60)
        assert httpx.get(f"{run.url}/c/").status_code == 200
        overflow = [line for line in run.lines if "queue overflowed" in line]
    assert len(overflow) == 1, overflow
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ WARNING deployer: Inotify queue "
                    r"overflowed.*a full rescan follows", overflow[0]), overflow
