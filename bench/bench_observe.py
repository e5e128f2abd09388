"""What the access log and the metrics cost: requests/s of the session counter, in one run.

    .venv/bin/python bench/bench_observe.py [--duration 5] [--rounds 3] [--connections 32]

Three ways of running the same `deployer run` on samples/counter (a WSGI app in one worker, one
existing session, its cookie on every request, GET /counter/):

- ``off``: no access log, no manager (the baseline);
- ``access log``: ``--access-log FILE`` (NCSA combined, a line a request to a file);
- ``metrics``: ``--manager 127.0.0.1:0`` (every request counted and timed for /metrics);

each started afresh per round, rounds interleaved (off, log, metrics, off, ...), best of the
rounds kept, so a machine that slows down for a while harms every case alike. wrk (``-t1``) is
pinned to the last core and deployer with its worker to the others. Printed: req/s per case and
its ratio to ``off`` of the same run, with the floors of issue 10 (metrics cost at most 5 %,
the access log at most 15 %), and the CPU time deployer and its worker spent per request (user +
system, from /proc; the lowest of the rounds) with its ratio, which another load on a shared
machine disturbs far less than req/s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

from wrk import children, cpu_of, run_wrk

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTOR = """<?xml version="1.0"?>
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/counter</Set>
  <Set name="war">{war}</Set>
  <Get name="sessionHandler"><Set name="sessionManager">
    <New class="org.eclipse.jetty.server.session.HashSessionManager">
      <Set name="storeDirectory">{store}</Set>
    </New>
  </Set></Get>
</Configure>
"""
CASES = {"off": [], "access log": ["--access-log", "{tmp}/access.log"],
         "metrics": ["--manager", "127.0.0.1:0", "--manager-token", "bench"]}
FLOORS = {"access log": 0.85, "metrics": 0.95}
READY = re.compile(r"ready: .* on http://127\.0\.0\.1:(\d+)")


def start(tmp: Path, extra: list[str], cpus: str | None) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "deployer", "run", str(tmp / "contexts"), "--port", "0",
           "--scan-interval", "0", *[a.format(tmp=tmp) for a in extra]]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    proc = subprocess.Popen(cmd, cwd=tmp, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stderr is not None
    for line in proc.stderr:
        m = READY.search(line)
        if m:
            # keep draining its log so it never blocks on a full pipe
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, int(m.group(1))
    raise SystemExit(f"deployer did not start: {proc.wait()}")


def session_script(port: int, tmp: Path) -> Path:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/counter/") as r:
        cookie = r.headers["set-cookie"].split(";")[0]
    lua = tmp / "cookie.lua"
    lua.write_text(f'wrk.headers["Cookie"] = "{cookie}"\nwrk.path = "/counter/"\n')
    return lua


def measure(tmp: Path, extra: list[str], args: argparse.Namespace, cpus: str | None,
            wrk_cpu: int | None) -> tuple[float, float]:
    """(req/s, CPU µs per request of deployer and its worker) of one fresh server."""
    proc, port = start(tmp, extra, cpus)
    try:
        lua = session_script(port, tmp)
        run_wrk(port, 1, args.connections, lua, wrk_cpu)  # warm-up
        pids = [proc.pid, *children(proc.pid)]
        before = cpu_of(pids)
        rps, bad, total = run_wrk(port, args.duration, args.connections, lua, wrk_cpu)
        cpu = cpu_of(pids) - before
        if bad:
            raise SystemExit(f"{bad} answers were not 2xx/3xx")
        return rps, cpu / total * 1e6
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    ncpu = os.cpu_count() or 1
    cpus = f"0-{ncpu - 2}" if ncpu > 1 and shutil.which("taskset") else None
    wrk_cpu = ncpu - 1 if cpus is not None else None
    tmp = Path(tempfile.mkdtemp(prefix="bench-observe-"))
    try:
        (tmp / "contexts").mkdir()
        (tmp / "contexts" / "counter.xml").write_text(DESCRIPTOR.format(
            war=ROOT / "samples" / "counter", store=tmp / "sessions"))
        print(f"== session counter, wrk -t1 -c{args.connections} -d{args.duration:g}s, best of "
              f"{args.rounds} interleaved rounds; deployer on cpus {cpus}, wrk on {wrk_cpu}")
        best = dict.fromkeys(CASES, 0.0)
        cheapest = dict.fromkeys(CASES, float("inf"))
        for n in range(args.rounds):
            for name, extra in CASES.items():
                rps, cpu = measure(tmp, extra, args, cpus, wrk_cpu)
                best[name] = max(best[name], rps)
                cheapest[name] = min(cheapest[name], cpu)
                print(f"  round {n + 1}: {name:<11} {rps:9,.0f} req/s  {cpu:6.1f} µs CPU a "
                      "request", flush=True)
        base, base_cpu = best["off"], cheapest["off"]
        print(f"\n{'case':<12} {'req/s':>9} {'ratio':>6}   {'CPU µs/req':>10} {'ratio':>6}"
              "   floor: req/s, CPU")
        for name, rps in best.items():
            floor = FLOORS.get(name)
            by_cpu = base_cpu / cheapest[name]
            verdict = "" if floor is None else (
                f"≥ {floor:.2f}: {'ok' if rps / base >= floor else 'OVER'}, "
                f"{'ok' if by_cpu >= floor else 'OVER'}")
            print(f"{name:<12} {rps:9,.0f} {rps / base:6.3f}   {cheapest[name]:10.1f} "
                  f"{by_cpu:6.3f}   {verdict}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
