"""What moving webapps into worker processes costs and buys, against baselines run in the same run.

    .venv/bin/pip install -e '.[bench]' && apt-get install wrk     # all it needs (from a clone)
    .venv/bin/python bench/bench_workers.py [--duration 5] [--quick] [--only SECTION]

Sections (``--only throughput|cpu|redeploy|memory``):

throughput  req/s of the session counters (samples/counter, WSGI; samples/asgi-hello, ASGI) through
            ``deployer run`` with 1 worker (WSGI with threads=1 and the default 4), against the bare
            apps under ``gunicorn -w 1 -k sync`` (floor 1.0x) and ``uvicorn --workers 1`` with
            httptools, uvloop, no access log (floor 0.5x), and against the in-process path of
            commit 0c4c5b9 (a ``git worktree`` of it, run with the same interpreter and
            PYTHONPATH=worktree), so the process boundary's cost is a figure. One JSESSIONID is
            obtained first and sent with every request, so each request through deployer reads
            and writes one existing session; the bare servers get a look-alike cookie, so every
            server parses the same request. Also req per CPU-second of the server's whole process
            tree (front + workers, gunicorn's master + worker), the steadier figure on a shared box.
cpu         a WSGI app burning ~2 ms of pure Python per request (calibrated here at start),
            1 worker vs 2 workers (threads=1): does a second process use the second core?
redeploy    descriptor write (temp file + rename) -> the new version's first answer, p50/p99 over
            ``--edits`` edits: the session counter (bench_deploy.py's, which echoes the version
            init-param) under this tree and under 0c4c5b9, and a Flask app in a ``virtualenv`` of
            its own (tests/support/venvs.py's cached one); Jetty 9.4's 1.6 s for comparison.
memory      VmRSS of the front and of its workers (its child processes) after 0 and after
            ``--redeploys`` (200) redeploys of the Flask app.

CPU placement (the same for every case of a section, printed with it). throughput: wrk is pinned
to CPU 1 and every server process (front, workers, gunicorn's master and worker) to CPU 0, unless
``--placement unpinned``. On two cores a load generator needs one: left to the scheduler, a
two-process server (front + worker) would take cycles from wrk's core that a one-process baseline
cannot, and the figure would measure the scheduler and a starved wrk. One core each measures what
the process boundary costs per core, the figure that matters when a host runs N workers on N cores.
cpu: nothing pinned, since the second worker needs the second core (wrk at < 1,000 req/s needs a
few % of one). redeploy and memory are latencies and sizes: nothing pinned.

wrk: ``-t1 -c32`` (``--connections``), ``--duration`` s after a 1 s warm-up, every case in
interleaved rounds (``--rounds``, best kept); deployer runs with ``--scan-interval 0`` there (no
watcher: both versions alike), with its defaults for redeploy and memory. Figures, never
asserts: floors print as meets/MISSES.
Every process started here runs in a session of its own and is stopped (SIGTERM, then SIGKILL of
its group and of the workers it was seen with) on exit, failure or Ctrl-C; the worktree is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from bench_deploy import WSGI as VERSIONED_COUNTER
from bench_deploy import pct, save, until
from wrk import children as _children
from wrk import cpu_of as _cpu
from wrk import run_wrk

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
IN_PROCESS_COMMIT = "0c4c5b9"
JETTY_REDEPLOY_S = 1.6  # Jetty 9.4 here, 1 s scan (issue 5, bench_deploy.py)
SECTIONS = ("throughput", "cpu", "redeploy", "memory")
SERVER_CPU, WRK_CPU = 0, 1

DESCRIPTOR = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/</Set>
  <Set name="war">{war}</Set>{extra}
  <Call name="setInitParameter"><Arg>version</Arg><Arg>{version}</Arg></Call>
</Configure>
"""

FLASK_APP = """\
from flask import Flask, request

app = Flask(__name__)


@app.get("/")
def index():
    version = request.environ["deployer.context"].init_params.get("version", "-")
    session = request.environ["deployer.session"]
    session["n"] = session.get("n", 0) + 1
    return f"{version} {session['n']}", 200, {"Content-Type": "text/plain"}


application = app
"""

BURN = """\
def burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x
"""

CPU_APP = BURN + """
N = {n}


def application(environ, start_response):
    body = b"%d\\n" % burn(N)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


# -- processes -------------------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    """VmRSS from /proc/PID/status, in MB (0 when gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _started(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): with the pid, its identity. None when
    it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


class Server:
    """A server under test: a session of its own, output to a log file, stopped for sure.

    Workers (children of the front) get sessions of their own, so ``stop`` remembers every child
    it has seen and kills the survivors after the front is gone (they exit on their own within a
    second when the front dies; this is the backstop)."""

    running: list[Server] = []

    def __init__(self, name: str, cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path,
                 cpu: int | None) -> None:
        self.name, self.log = name, log

        def pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=pin)
        self.pid = self.proc.pid
        self.seen: dict[int, int | None] = {}  # every child seen: pid -> start time
        self.contexts: Path | None = None  # deployer's contexts directory
        Server.running.append(self)

    def children(self) -> list[int]:
        kids = _children(self.pid)
        for kid in kids:
            self.seen.setdefault(kid, _started(kid))
        return kids

    def tree(self) -> list[int]:
        return [self.pid, *self.children()]

    def tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def fail(self, why: str) -> SystemExit:
        return SystemExit(f"{self.name}: {why}\n--- its last output:\n{self.tail()}")

    def wait_log(self, pattern: str, timeout: float) -> re.Match[str]:
        rx, deadline = re.compile(pattern), time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError):
                if m := rx.search(self.log.read_text(errors="replace")):
                    return m
            if self.proc.poll() is not None:
                raise self.fail(f"exited with {self.proc.returncode} before {pattern!r}")
            if time.monotonic() > deadline:
                raise self.fail(f"no {pattern!r} within {timeout:g} s")
            time.sleep(0.02)

    def wait_http(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise self.fail(f"does not answer on port {port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL of its group and of every worker seen. Idempotent."""
        if self in Server.running:
            Server.running.remove(self)
        if self.proc.poll() is None:
            self.children()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait()
        def left() -> list[int]:  # the same processes, not others that got their pids since
            return [pid for pid, t in self.seen.items() if t is not None and _started(pid) == t]

        deadline = time.monotonic() + 3
        while left() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # a worker leads its own group
        self.seen.clear()

    @classmethod
    def stop_all(cls) -> None:
        for server in list(cls.running):
            server.stop()


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Setup:
    tmp: Path
    worktree: Path | None  # 0c4c5b9 checked out, None when it could not be
    placement: str  # "split" or "unpinned", for the throughput section
    serial: int = 0

    def log(self, name: str) -> Path:
        self.serial += 1
        return self.tmp / f"{self.serial:03d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.log"

    def env(self, pythonpath: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if pythonpath is not None:
            env["PYTHONPATH"] = str(pythonpath)
        return env

    def deployer(self, name: str, war: Path, *args: str, in_process: bool = False,
                 extra: str = "", cpu: int | None = None) -> tuple[Server, int]:
        """``deployer run`` on a directory holding one descriptor for ``war`` at ``/``; the
        in-process one runs from the 0c4c5b9 worktree (cwd and PYTHONPATH, which then win over
        the editable install's finder) with the same interpreter."""
        contexts = self.tmp / f"contexts-{self.serial + 1:03d}"
        contexts.mkdir()
        (contexts / "app.xml").write_text(DESCRIPTOR.format(war=war, extra=extra, version=0))
        if in_process:
            assert self.worktree is not None
            cwd, env = self.worktree, self.env(self.worktree)
        else:
            cwd, env = ROOT, self.env()
        cmd = [sys.executable, "-m", "deployer", "run", str(contexts), "--port", "0", *args]
        server = Server(name, cmd, cwd=cwd, env=env, log=self.log(name), cpu=cpu)
        server.contexts = contexts
        try:
            port = int(server.wait_log(r"listening on http://[\d.]+:(\d+)", 120).group(1))
            server.wait_http(port)
            kids = server.children()
            if in_process and kids:
                raise server.fail(f"0c4c5b9 is not in-process: children {kids}")
            if not in_process and not kids:
                raise server.fail("no worker process: is this the in-process deployer?")
        except BaseException:
            server.stop()
            raise
        return server, port


# -- the in-process baseline ---------------------------------------------------------------------
@contextlib.contextmanager
def worktree(tmp: Path) -> Iterator[Path | None]:
    """A ``git worktree`` of 0c4c5b9 for the life of the run, removed (and pruned) after."""
    path = tmp / "inprocess-0c4c5b9"
    add = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path),
                          IN_PROCESS_COMMIT], capture_output=True, text=True)
    if add.returncode != 0:
        print(f"(in-process baseline skipped: git worktree add {IN_PROCESS_COMMIT} failed: "
              f"{add.stderr.strip()})")
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                       capture_output=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)


# -- section 1: throughput -----------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # wsgi / asgi
    server: str  # deployer / inprocess / gunicorn / uvicorn
    threads: int = 0
    # "*": the front keeps the server core and its workers run on wrk's core (which wrk, a C
    # program near 10 % of a core at these rates, leaves mostly idle): the process model's own
    # placement, a front and its workers on cores of their own
    workers_beside_wrk: bool = False


CASES = [
    Case("deployer wsgi w1 t1", "wsgi", "deployer", 1),
    Case("deployer wsgi w1 t4", "wsgi", "deployer", 4),
    Case("deployer wsgi w1 t4 *", "wsgi", "deployer", 4, workers_beside_wrk=True),
    Case("in-process wsgi", "wsgi", "inprocess"),
    Case("gunicorn -w1 sync", "wsgi", "gunicorn"),
    Case("deployer asgi w1", "asgi", "deployer"),
    Case("deployer asgi w1 *", "asgi", "deployer", workers_beside_wrk=True),
    Case("in-process asgi", "asgi", "inprocess"),
    Case("uvicorn --workers 1", "asgi", "uvicorn"),
]


def start_case(case: Case, setup: Setup) -> tuple[Server, int]:
    cpu = SERVER_CPU if setup.placement == "split" else None
    app = SAMPLES / ("counter" if case.kind == "wsgi" else "asgi-hello")
    quiet = ["--scan-interval", "0"]
    if case.server == "deployer":
        server, port = setup.deployer(case.name, app, *quiet, "--workers", "1",
                                      "--threads", str(case.threads or 4), cpu=cpu)
        if case.workers_beside_wrk and cpu is not None:
            for kid in server.children():  # every thread: a WSGI worker's started at its boot
                for tid in os.listdir(f"/proc/{kid}/task"):
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(int(tid), {WRK_CPU})
        return server, port
    if case.server == "inprocess":
        return setup.deployer(case.name, app, *quiet, in_process=True, cpu=cpu)
    port = _free_port()
    if case.server == "gunicorn":
        cmd = [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "sync", "--chdir", str(app),
               "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:application"]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "asgi:application", "--app-dir", str(app),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--http",
               "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    server = Server(case.name, cmd, cwd=app, env=setup.env(), log=setup.log(case.name), cpu=cpu)
    try:
        server.wait_http(port)
    except BaseException:
        server.stop()
        raise
    return server, port


def count(port: int, cookie: str) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=5) as r:
        return int(r.read().decode().rsplit("count=", 1)[1])


def cookie_script(port: int, tmp: Path, session: bool) -> tuple[Path, str]:
    """A wrk script sending one cookie: a real session's (created and checked to count) where
    the server is deployer, a look-alike of the same length for a bare server."""
    if session:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            cookie = r.headers["set-cookie"].split(";")[0]
        if count(port, cookie) != 2:
            raise SystemExit(f"the session counter does not count on port {port}")
    else:
        cookie = "JSESSIONID=" + "b" * 24
    lua = tmp / f"cookie-{port}.lua"
    lua.write_text(f'wrk.headers["Cookie"] = "{cookie}"\n')
    return lua, cookie


@dataclass
class Figure:
    rps: float = 0.0
    per_cpu: float = 0.0
    cores: float = 0.0  # server CPU-seconds per second in the best round
    bad: int = 0
    counted: int = -1  # how far the session's count rose during the run (-1: no session)
    total: int = 0  # requests wrk completed


def measure(server: Server, port: int, setup: Setup, session: bool, duration: float,
            connections: int, wrk_cpu: int | None) -> Figure:
    lua, cookie = cookie_script(port, setup.tmp, session)
    run_wrk(port, 1, connections, lua, wrk_cpu)  # warm-up
    pids = server.tree()
    before = count(port, cookie) if session else 0
    cpu0 = _cpu(pids)
    rps, bad, total = run_wrk(port, duration, connections, lua, wrk_cpu)
    used = _cpu(pids) - cpu0
    counted = count(port, cookie) - before - 1 if session else -1
    return Figure(rps, total / used if used > 0 else float("nan"), used / duration, bad,
                  counted, total)


def best(figures: dict[str, Figure], name: str, new: Figure) -> None:
    old = figures.get(name)
    if old is None or new.rps > old.rps:
        figures[name] = new
    if old is not None:
        figures[name].per_cpu = max(old.per_cpu, new.per_cpu)


def throughput(setup: Setup, args: argparse.Namespace) -> None:
    split = setup.placement == "split"
    print(f"\n== throughput: wrk -t1 -c{args.connections} -d{args.duration:g}s (after a 1 s "
          f"warm-up), GET / with one session cookie, best of {args.rounds} interleaved rounds")
    print("   placement: " + (f"wrk on CPU {WRK_CPU} (taskset); every server process (front, "
                              f"workers, gunicorn master + worker) on CPU {SERVER_CPU}" if split
                              else "nothing pinned"))
    cases = [c for c in CASES if c.server != "inprocess" or setup.worktree is not None]
    figures: dict[str, Figure] = {}
    for r in range(args.rounds):
        for case in cases:
            try:
                server, port = start_case(case, setup)
            except SystemExit as exc:
                print(f"   {case.name}: could not start ({exc})")
                continue
            with running(server):
                fig = measure(server, port, setup, case.server in ("deployer", "inprocess"),
                              args.duration, args.connections, WRK_CPU if split else None)
            print(f"   round {r + 1}  {case.name:<22} {fig.rps:8.0f} req/s "
                  f"{fig.per_cpu:8.0f} req/CPU-s  server {fig.cores:4.2f} CPUs"
                  + (f"  ({fig.bad} non-2xx)" if fig.bad else "")
                  + (f"  session count +{fig.counted} for {fig.total} requests"
                     if 0 <= fig.counted < fig.total else ""), flush=True)
            best(figures, case.name, fig)
    base = {"wsgi": ("gunicorn -w1 sync", "in-process wsgi", 1.0),
            "asgi": ("uvicorn --workers 1", "in-process asgi", 0.5)}
    print(f"   {'case':<22} {'req/s':>8} {'req/CPU-s':>10} {'CPUs':>5}   {'vs bare (floor)':<27}"
          f"   vs in-process")
    for case in cases:
        fig = figures.get(case.name)
        if fig is None:
            continue
        bare, inproc, floor = base[case.kind]
        line = f"   {case.name:<22} {fig.rps:8.0f} {fig.per_cpu:10.0f} {fig.cores:5.2f}"
        if case.server == "deployer":
            line += "   " + _ratio(fig, figures.get(bare), floor)
            line += "   " + _ratio(fig, figures.get(inproc), None)
        elif case.server == "inprocess":
            line += "   " + _ratio(fig, figures.get(bare), None)
        print(line.rstrip())
    if split:
        print(f"   *: the front on CPU {SERVER_CPU}, its worker moved to CPU {WRK_CPU} beside wrk "
              "(the other deployer rows: the worker shares the front's core)")
    print("   ratios: req/s (req/CPU-s); 'vs bare' is gunicorn for WSGI, uvicorn for ASGI (the "
          "in-process rows' too); 'session count +N for M' (a round's line): requests in flight "
          "together on the one session overwrote each other's count")


def _ratio(a: Figure, b: Figure | None, floor: float | None) -> str:
    if b is None or not b.rps:
        return f"{'-':<27}"
    text = f"{a.rps / b.rps:4.2f}x ({a.per_cpu / b.per_cpu:4.2f}x)"
    if floor is not None:
        text += f" {'meets' if a.rps / b.rps >= floor else 'MISSES'} {floor:.1f}x"
    return f"{text:<27}"


# -- section 2: a CPU-bound app --------------------------------------------------------------------
def calibrate(target: float = 0.002) -> tuple[int, float]:
    """Iterations of BURN's loop that take ``target`` seconds in this interpreter, here, now."""
    scope: dict[str, Callable[[int], int]] = {}
    exec(BURN, scope)
    burn = scope["burn"]

    def took(n: int) -> float:
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            burn(n)
            times.append(time.perf_counter() - t0)
        return min(times)

    n = 10_000
    while (t := took(n)) < 0.02:
        n *= 2
    for _ in range(2):  # the loop's speed per iteration drifts a little with n
        n = round(n * target / t)
        t = took(n)
    return n, t


def cpu_bound(setup: Setup, args: argparse.Namespace) -> None:
    n, took = calibrate()
    war = setup.tmp / "cpu-app"
    war.mkdir(exist_ok=True)
    (war / "wsgi.py").write_text(CPU_APP.format(n=n))
    print(f"\n== CPU-bound WSGI app: {took * 1000:.2f} ms of pure Python per request ({n} "
          f"iterations, calibrated here), threads=1; wrk -t1 -c{args.connections} "
          f"-d{args.duration:g}s, best of {args.rounds}")
    print("   placement: nothing pinned (the second worker needs the second core)")
    figures: dict[str, Figure] = {}
    for r in range(args.rounds):
        for workers in (1, 2):
            name = f"deployer w{workers} t1"
            server, port = setup.deployer(name, war, "--scan-interval", "0", "--workers",
                                          str(workers), "--threads", "1")
            with running(server):
                fig = measure(server, port, setup, False, args.duration, args.connections, None)
            print(f"   round {r + 1}  {name:<16} {fig.rps:8.0f} req/s  server {fig.cores:4.2f} "
                  f"CPUs" + (f"  ({fig.bad} non-2xx)" if fig.bad else ""), flush=True)
            best(figures, name, fig)
    one, two = figures["deployer w1 t1"], figures["deployer w2 t1"]
    print(f"   {'workers':<8} {'req/s':>8} {'server CPUs':>12}")
    for w, fig in ((1, one), (2, two)):
        print(f"   {w:<8} {fig.rps:8.0f} {fig.cores:12.2f}")
    ratio = two.rps / one.rps if one.rps else float("nan")
    print(f"   2 workers / 1 worker = {ratio:.2f}x  (expected >= 1.7x: "
          f"{'meets' if ratio >= 1.7 else 'MISSES'})")


# -- section 3: descriptor write -> new version answers -----------------------------------------
def apps(setup: Setup) -> tuple[Path, Path]:
    counter = setup.tmp / "counter-app"
    counter.mkdir(exist_ok=True)
    (counter / "wsgi.py").write_text(VERSIONED_COUNTER)
    flask = setup.tmp / "flask-app"
    flask.mkdir(exist_ok=True)
    (flask / "wsgi.py").write_text(FLASK_APP)
    return counter, flask


def in_flask_venv() -> str:
    """The descriptor setting (``extra``) that runs a webapp in the framework tests' venv (Flask,
    Django, FastAPI): tests.support.venvs, built once and cached on disk (the first time takes a
    minute)."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.support.venvs import framework_venv
    finally:
        sys.path.remove(str(ROOT))
    return f'\n  <Set name="virtualenv">{framework_venv()}</Set>'


def edit(server: Server, war: Path, extra: str, version: int, client: httpx.Client,
         bad: list[int]) -> float:
    """Seconds from the descriptor's atomic write to the first answer of ``version``."""
    assert server.contexts is not None
    target = server.contexts / "app.xml"
    t0 = time.perf_counter()
    save(target, DESCRIPTOR.format(war=war, extra=extra, version=version))
    return until(client, "/", lambda r: r.text.startswith(f"{version} "), timeout=60,
                 bad=bad) - t0


def redeploy_latency(setup: Setup, name: str, war: Path, edits: int, *, extra: str = "",
                     in_process: bool = False) -> tuple[list[float], list[int]]:
    server, port = setup.deployer(name, war, extra=extra, in_process=in_process)
    times: list[float] = []
    bad: list[int] = []
    with running(server), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        until(client, "/", lambda r: r.text.startswith("0 "), timeout=60)
        for i in range(1, edits + 1):
            times.append(edit(server, war, extra, i, client, bad))
    return times, bad


def redeploy(setup: Setup, args: argparse.Namespace) -> None:
    counter, flask = apps(setup)
    print(f"\n== descriptor write -> new version answers, {args.edits} edits each (temp file + "
          "rename; polled every 1 ms); defaults of `deployer run` (inotify, 1 s rescan, "
          "1 worker, 4 threads); nothing pinned")
    in_venv = in_flask_venv()
    runs: list[tuple[str, Path, str, bool]] = [("counter, workers (this tree)", counter, "", False)]
    if setup.worktree is not None:
        runs.append(("counter, in-process (0c4c5b9)", counter, "", True))
    runs.append(("Flask in its virtualenv, workers", flask, in_venv, False))
    rows = []
    for name, war, extra, in_process in runs:
        times, bad = redeploy_latency(setup, name, war, args.edits, extra=extra,
                                      in_process=in_process)
        ms = [t * 1000 for t in times]
        rows.append((name, ms, bad))
        print(f"   {name:<34} done", flush=True)
    inproc = next((pct(ms, 50) for name, ms, _ in rows if "in-process" in name), None)
    print(f"   {'case':<34} {'n':>3} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  {'non-200':<8}"
          f"p50 vs Jetty, vs in-process")
    for name, ms, bad in rows:
        vs = f"{pct(ms, 50) / (JETTY_REDEPLOY_S * 1000):.2f}x"
        if inproc:
            vs += f", {pct(ms, 50) / inproc:.1f}x"
        print(f"   {name:<34} {len(ms):3d} {pct(ms, 50):8.1f} {pct(ms, 99):8.1f} {max(ms):8.1f}"
              f"  {str(len(bad)) + (str(sorted(set(bad))) if bad else ''):<8}{vs}")
    print(f"   {'Jetty 9.4 (1 s scan, issue 5)':<34} {'':>3} {JETTY_REDEPLOY_S * 1000:8.0f}")


# -- section 4: memory across redeploys ----------------------------------------------------------
def settle(server: Server, workers: int, timeout: float = 30.0) -> list[int]:
    """The front's children once the old pools are gone (``workers`` of them left)."""
    deadline = time.monotonic() + timeout
    while len(kids := server.children()) > workers and time.monotonic() < deadline:
        time.sleep(0.05)
    return kids


def memory(setup: Setup, args: argparse.Namespace) -> None:
    _, flask = apps(setup)
    print(f"\n== memory: VmRSS of the front and its worker(s) across {args.redeploys} redeploys "
          "of the Flask app (each: descriptor write, wait for the new version's answer, "
          "old pool drained)")
    extra = in_flask_venv()
    server, port = setup.deployer("memory", flask, extra=extra)
    rows: list[tuple[int, float, list[float]]] = []
    bad: list[int] = []
    marks = {0, args.redeploys, *range(50, args.redeploys, 50)}
    t0 = time.perf_counter()
    with running(server), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        until(client, "/", lambda r: r.text.startswith("0 "), timeout=60)
        for i in range(args.redeploys + 1):
            if i:
                edit(server, flask, extra, i, client, bad)
            if i in marks:
                kids = settle(server, 1)
                rows.append((i, rss_mb(server.pid), [rss_mb(k) for k in kids]))
            if i and (i % 25 == 0 or i == args.redeploys):
                print(f"   ... {i}/{args.redeploys} redeploys, {time.perf_counter() - t0:.0f} s",
                      flush=True)
    print(f"   {'redeploys':>9} {'front MB':>9} {'worker MB':>10} {'workers':>8}")
    for i, front, workers in rows:
        print(f"   {i:9d} {front:9.1f} {sum(workers):10.1f} {len(workers):8d}")
    if len(rows) > 1 and args.redeploys:
        grew = rows[-1][1] - rows[0][1]
        print(f"   front: {grew:+.1f} MB over {args.redeploys} redeploys "
              f"({grew * 1024 / args.redeploys:+.1f} kB per redeploy); answers other than 200 "
              f"while redeploying: {len(bad)}")
    print("   in-process path (DESIGN.md, 'Processes'): 59 redeploys of a small Flask app grew "
          "one process from 72 MB to 480 MB")


# -- main ------------------------------------------------------------------------------------------
def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _tree_state() -> str:
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "deployer"],
                           capture_output=True, text=True).stdout.split("\n")
    changed = [line[3:] for line in dirty if line.strip()]
    return rev + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=5.0, help="wrk seconds per case (5)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds, best kept (3)")
    p.add_argument("--edits", type=int, default=30, help="descriptor edits per redeploy case (30)")
    p.add_argument("--redeploys", type=int, default=200, help="redeploys for memory (200)")
    p.add_argument("--placement", choices=["split", "unpinned"], default="split",
                   help="throughput: server on CPU 0 and wrk on CPU 1 (default), or unpinned")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 s per case, 1 round, 5 edits, 10 redeploys")
    p.add_argument("--only", choices=SECTIONS, help="run one section")
    args = p.parse_args()
    if args.quick:
        args.duration, args.rounds, args.edits, args.redeploys = 1.0, 1, 5, 10
    sections = [args.only] if args.only else list(SECTIONS)
    if {"throughput", "cpu"} & set(sections) and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    if args.placement == "split" and (os.cpu_count() or 1) < 2:
        args.placement = "unpinned"
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    print(f"deployer workers bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"load average {_load()}; tree {_tree_state()}")
    if os.getloadavg()[0] > 1.0:
        print("note: the machine is busy (load average > 1 on 2 CPUs): figures will be low and "
              "noisy; the req/CPU-s column suffers least")
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not (ROOT / "deployer" / "worker" /
                                                           "__pycache__").is_dir():
        print("note: PYTHONDONTWRITEBYTECODE is set and deployer/worker has no __pycache__: every "
              "worker compiles deployer.worker's modules as it starts")
    started = time.perf_counter()
    stack = contextlib.ExitStack()
    try:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-workers-")))
        tree = stack.enter_context(worktree(tmp)) if {"throughput", "redeploy"} & set(
            sections) else None
        stack.callback(Server.stop_all)  # LIFO: servers, then the worktree, then the temp dir
        setup = Setup(tmp, tree, args.placement)
        for section in sections:
            {"throughput": throughput, "cpu": cpu_bound, "redeploy": redeploy,
             "memory": memory}[section](setup, args)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process started here", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()
    print(f"\ndone in {time.perf_counter() - started:.0f} s, load average {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
