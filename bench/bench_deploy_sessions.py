"""Start-up deploy of N webapps WITH sessions, and the threads the process holds afterwards.

    .venv/bin/python bench/bench_deploy_sessions.py [--count 1000] [--store] [--runs 3]

bench_deploy.py's start-up figures use static ContextHandlers, which have no session manager;
every WebAppContext has one (Jetty's SESSIONS option), so this one deploys WebAppContexts (with
--store each also gets its own storeDirectory, restored at start). Their war is a static site: a
Python war would add a worker process per context (bench_workers.py measures those), and 1,000
interpreters would measure process start-up, not session managers. It runs `deployer run` like a
user, waits for "N of N contexts deployed ... in X ms", then reads the thread count from
/proc/PID/status and makes one request. Jetty uses one scheduler for every context's scavenger.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

WEBAPP = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">{path}</Set>
  <Set name="war">../app</Set>{sessions}
</Configure>
"""

STORE = """
  <Get name="sessionHandler"><Get name="sessionManager">
    <Set name="storeDirectory">../stores/{name}</Set>
  </Get></Get>"""

DEPLOYED = re.compile(r"(\d+) of (\d+) contexts deployed .* in ([\d.]+) ms")
LISTENING = re.compile(r"listening on http://[^:]+:(\d+)")


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise SystemExit("no Threads: line in /proc status")


def one_run(contexts: Path, count: int) -> tuple[float, int]:
    """(deploy seconds as logged, threads once listening)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployer", "run", str(contexts), "--port", "0",
         "--scan-interval", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    lines: list[str] = []
    cond = threading.Condition()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with cond:
                lines.append(line.rstrip())
                cond.notify_all()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def wait(rx: re.Pattern[str]) -> re.Match[str]:
        deadline = time.monotonic() + 120
        with cond:
            while True:
                for line in lines:
                    if m := rx.search(line):
                        return m
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"no {rx.pattern!r}:\n" + "\n".join(lines[-20:]))
                cond.wait(0.1)

    try:
        deployed = wait(DEPLOYED)
        assert int(deployed.group(1)) == count, deployed.group(0)
        port = int(wait(LISTENING).group(1))
        threads = threads_of(proc.pid)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            r = client.get(f"/c{count - 1}/")
            assert r.status_code == 200 and r.text == "1", (r.status_code, r.text)
        return float(deployed.group(3)) / 1000, threads
    finally:
        proc.terminate()
        proc.wait(60)
        reader.join(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--store", action="store_true", help="a storeDirectory per webapp")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "app").mkdir()
        (root / "app" / "index.html").write_text("1")
        contexts = root / "contexts"
        contexts.mkdir()
        for i in range(args.count):
            sessions = STORE.format(name=f"c{i:04d}") if args.store else ""
            (contexts / f"c{i:04d}.xml").write_text(
                WEBAPP.format(path=f"/c{i}", sessions=sessions))
        print(f"deployer start-up, {args.count} WebAppContexts with sessions"
              f"{' and a store each' if args.store else ''}, {os.cpu_count()} cores, "
              f"Python {sys.version.split()[0]}")
        times: list[float] = []
        for run in range(args.runs):
            took, threads = one_run(contexts, args.count)
            times.append(took)
            print(f"  run {run + 1}: deployed in {took * 1000:7.1f} ms, "
                  f"{threads} threads once listening")
        print(f"  median {statistics.median(times) * 1000:7.1f} ms (target < 2500 ms)")


if __name__ == "__main__":
    main()
