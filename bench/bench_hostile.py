"""The worst latency a well-behaved client sees while each attack of issue 12 runs.

    .venv/bin/python bench/bench_hostile.py [--duration 10] [--only slowloris]

A real `deployer run` on port 0 serves a static site at / and the WSGI session counter at
/counter/ (one worker, a store). The well-behaved client, a process of its own, sends a request
every 10 ms on one keep-alive connection, the static page and the counter with its cookie in
turn, and records each latency. It runs with no attack first (the baseline, in the same run),
then during each attack, each attack from processes of its own:

- huge headers: 4 connections at a time, each streaming a 64 MB header;
- slowloris: 200 connections that send a byte of their head every 0.5 s (the default header
  timeout is 10 s: run with --duration above it to see them closed);
- session flood: wrk, 4 connections of cookie-less requests to /counter/, each making a session;
- huge descriptor: a 4 MiB descriptor of 390,000 attributes written into contexts/ every second.

Prints p50 / p99 / max of the client's latencies, what the attack got, and the front's RSS.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from wrk import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"listening on http://[^:]+:(\d+)")
HUGE_ATTRS = 390_000

COUNTER = """<?xml version="1.0"?>
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/counter</Set>
  <Set name="war"><Property name="jetty.webapps" default="."/>/../samples/counter</Set>
  <Get name="sessionHandler"><Get name="sessionManager">
    <Set name="storeDirectory"><Property name="jetty.webapps" default="."/>/../sessions</Set>
    <Set name="savePeriod">2</Set>{max_active}
  </Get></Get>
</Configure>
"""

STATIC = """<?xml version="1.0"?>
<Configure class="org.eclipse.jetty.server.handler.ContextHandler">
  <Set name="contextPath">/</Set>
  <Set name="resourceBase"><Property name="jetty.webapps" default="."/>/../site</Set>
</Configure>
"""


class Front:
    """`deployer run DIR --port 0` with its log read on a thread."""

    def __init__(self, contexts: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deployer", "run", str(contexts), "--port", "0"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self.port = 0
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line.rstrip())
                m = LISTENING.search(line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(120):
            raise SystemExit("deployer did not start:\n" + "\n".join(self.lines))

    def rss_mb(self) -> float:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


# -- the well-behaved client ----------------------------------------------------------------------
def _client(port: int, seconds: float, out: Connection) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/counter/")
    first = conn.getresponse()
    first.read()
    cookie = first.getheader("set-cookie", "").split(";")[0]
    latencies, failures = [], 0
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        path, headers = ("/", {}) if i % 2 else ("/counter/", {"Cookie": cookie})
        i += 1
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures += 1
        except (OSError, http.client.HTTPException):
            failures += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - started)
        time.sleep(0.01)
    out.send((latencies, failures))


def start_client(port: int, seconds: float) -> tuple[multiprocessing.Process, Connection]:
    """Start the client; ``collect`` its results when the phase is over."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_client, args=(port, seconds, sender), daemon=True)
    proc.start()
    return proc, receiver


def collect(proc: multiprocessing.Process, receiver: Connection) -> tuple[list[float], int]:
    latencies, failures = receiver.recv()
    proc.join(30)
    return latencies, failures


# -- attacks: each runs until ``stop`` is set and returns what it got ---------------------------
def huge_headers(port: int, stop: threading.Event) -> str:
    accepted: list[int] = []
    chunk = b"a" * 65536

    def one() -> None:
        while not stop.is_set():
            sent = 0
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
                    while sent < 64 * 1024 * 1024 and not stop.is_set():
                        s.sendall(chunk)
                        sent += len(chunk)
            except OSError:
                pass
            accepted.append(sent)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(30)
    return (f"{len(accepted)} connections; the most header bytes one got into the socket "
            f"buffers before the server hung up: {max(accepted, default=0):,}")


def slowloris(port: int, stop: threading.Event) -> str:
    socks = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    closed: set[int] = set()
    while not stop.wait(0.5):
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.sendall(b"X")
            except OSError:
                closed.add(i)
    for s in socks:
        s.close()
    return f"{200 - len(closed)} of 200 connections still open at the end"


def session_flood(port: int, stop: threading.Event, seconds: float) -> str:
    if not shutil.which("wrk"):
        return "wrk not installed: skipped"
    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{max(1, int(seconds))}s",
                          f"http://127.0.0.1:{port}/counter/"], capture_output=True, text=True)
    total = re.search(r"(\d+) requests in", out.stdout)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    return (f"{total.group(1) if total else '?'} cookie-less requests, "
            f"{bad.group(1) if bad else 0} answered 503")


def huge_descriptor(contexts: Path, stop: threading.Event) -> str:
    attrs = " ".join(f'a{i}=""' for i in range(HUGE_ATTRS))
    n = size = 0
    while not stop.is_set():
        n += 1
        tmp = contexts.parent / "huge.tmp"
        size = tmp.write_text('<?xml version="1.0"?>\n<Configure class="org.eclipse.jetty.webapp.'
                       f'WebAppContext">\n  <Set name="contextPath" {attrs} v{n}="">/huge</Set>\n'
                       "</Configure>\n")
        tmp.rename(contexts / "huge.xml")
        stop.wait(1.0)
    (contexts / "huge.xml").unlink()
    return f"{n} writes of a {size / 2**20:.1f} MiB descriptor of {HUGE_ATTRS:,} attributes"


def run_phase(front: Front, name: str, attack: Callable[[threading.Event], str] | None,
              seconds: float) -> None:
    """The client for ``seconds``, with the attack running beside it; one line of figures."""
    cpu = cpu_seconds(front.proc.pid)
    proc, receiver = start_client(front.port, seconds)
    stop = threading.Event()
    result: list[str] = []
    attacker = None
    if attack is not None:
        attacker = threading.Thread(target=lambda: result.append(attack(stop)))
        attacker.start()
    latencies, failures = collect(proc, receiver)
    stop.set()
    if attacker is not None:
        attacker.join(120)
    cpu = (cpu_seconds(front.proc.pid) - cpu) / seconds * 100
    got = (result[0] if result else "?") if attack is not None else ""
    print(f"{name:<16} {len(latencies):>8} {failures:>6} {_pct(latencies, 0.5):>8.1f} "
          f"{_pct(latencies, 0.99):>8.1f} {max(latencies) * 1000:>8.1f} {cpu:>8.0f}% "
          f"{front.rss_mb():>8.1f} MB  {got}", flush=True)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=12.0, help="seconds per attack")
    ap.add_argument("--only", choices=["huge-headers", "slowloris", "session-flood",
                                       "huge-descriptor"], action="append")
    ap.add_argument("--max-active-sessions", type=int, metavar="N",
                    help="the counter's maxActiveSessions (default: deployer's, 100,000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        shutil.copytree(ROOT / "samples", base / "samples",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (base / "site").mkdir()
        (base / "site" / "index.html").write_text("<p>hello</p>\n")
        contexts = base / "contexts"
        contexts.mkdir()
        bound = args.max_active_sessions
        (contexts / "counter.xml").write_text(COUNTER.format(max_active="" if bound is None else
            f'\n    <Set name="maxActiveSessions">{bound}</Set>'))
        (contexts / "static.xml").write_text(STATIC)
        front = Front(contexts)
        seconds = args.duration
        attacks: dict[str, Callable[[threading.Event], str]] = {
            "huge-headers": lambda stop: huge_headers(front.port, stop),
            "slowloris": lambda stop: slowloris(front.port, stop),
            "session-flood": lambda stop: session_flood(front.port, stop, seconds),
            "huge-descriptor": lambda stop: huge_descriptor(contexts, stop),
        }
        chosen = args.only or list(attacks)
        print(f"deployer run on port {front.port}; {seconds:g} s per phase; the client sends a "
              "request every 10 ms\n")
        print(f"{'phase':<16} {'requests':>8} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'front CPU':>9} {'front RSS':>10}  what the attack got")
        try:
            run_phase(front, "baseline", None, seconds)
            for name in chosen:
                run_phase(front, name, attacks[name], seconds)
        finally:
            front.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
