"""The idle cost of watching a big webapp, and what an edit of its code takes to land.

    .venv/bin/python bench/bench_watch.py [--files 50000] [--idle 30] [--edits 5]
                                         [--poll-idle 10] [--reference-idle 10]
                                         [--node-modules DIRS]

Makes a war of FILES static files (100 a directory) plus a few .py files, serves it with
`deployer run --scan-interval 1`, and prints:

- the baseline, measured here in the same run: one walk of the war as the rescan did it every
  second before issue #8 (os.walk, a stat of every file, capped at 5000 files), its uncapped
  version, and one read of the war's CodeTree (what a verify costs now: readdir, and a stat of
  the files that count only);
- the front process's CPU at idle over IDLE seconds, from /proc/PID/stat (the default, 30 s,
  holds one re-verification of the tree);
- the latency from a .py edit (temp file + rename, as editors save) to the new version
  answering, EDITS times;
- the same idle figure under --poll, where the tree is read on every scan (POLL_IDLE seconds;
  0 skips it), and for a war of the .py files alone, the floor any `deployer run` pays
  (REFERENCE_IDLE seconds; 0 skips it).

Issue #8 measured 13.7 % of a core at idle for a 50,000-file war before the change.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_deploy
import httpx
from bench_deploy import save
from wrk import cpu_seconds

from deployer.deploy.watch import CodeTree

WSGI = """\
import os

VERSION = "{version}"


def application(environ, start_response):
    body = f"{{VERSION}} {{os.getpid()}}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""

WEBAPP = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/app</Set>
  <Set name="war"><Property name="jetty.webapps" default="."/>/../war</Set>
</Configure>
"""


_OLD_SKIPPED_DIRS = {"__pycache__", ".git", ".hg", ".svn", "cvs", "cvsroot"}


def old_tree_signature(path: Path) -> tuple[Any, ...]:
    """The directory branch of the provider's tree_signature before issue #8: what every scan
    did for every webapp."""
    entries: list[tuple[str, int, int]] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d.lower() not in _OLD_SKIPPED_DIRS)
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")) or name.startswith(".#"):
                continue
            full = os.path.join(root, name)
            try:
                fst = os.stat(full)
            except OSError:
                continue
            entries.append((os.path.relpath(full, path), fst.st_mtime_ns, fst.st_size))
            if len(entries) >= 5000:  # MAX_TREE_FILES: a huge tree: watch its first files only
                return tuple(entries)
    return tuple(entries)


def full_tree_signature(path: Path) -> int:
    """The same walk without the cap (which hid every edit past the 5000th file)."""
    count = 0
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            os.stat(full)
            os.path.relpath(full, path)
            count += 1
    return count


def cpu_cost(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Median CPU seconds (this process) of one call."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return statistics.median(times)


def make_war(war: Path, files: int, node_modules: int = 0) -> None:
    (war / "pkg").mkdir(parents=True)
    for i in range(node_modules):  # a JavaScript build's tree inside the war (issue 12, item 13)
        directory = war / "node_modules" / f"p{i // 100:03d}" / f"m{i % 100:02d}"
        directory.mkdir(parents=True)
        (directory / "index.js").write_text("")
    (war / "wsgi.py").write_text(WSGI.format(version=0))
    (war / "pkg" / "__init__.py").write_text("")
    (war / "pkg" / "views.py").write_text("def index():\n    return 'hi'\n")
    for i in range(files):
        directory = war / "static" / f"d{i // 100:04d}"
        if i % 100 == 0:
            directory.mkdir(parents=True)
        os.close(os.open(directory / f"f{i % 100:02d}.css", os.O_CREAT | os.O_WRONLY, 0o644))


class Deployer(bench_deploy.Deployer):
    """`deployer run` on a contexts directory, its stderr collected, its idle CPU measured."""

    def idle_cpu(self, seconds: float) -> float:
        """Percent of one core used over ``seconds`` of doing nothing."""
        before, started = cpu_seconds(self.proc.pid), time.monotonic()
        time.sleep(seconds)  # the measurement window itself
        return 100 * (cpu_seconds(self.proc.pid) - before) / (time.monotonic() - started)


def answer(client: httpx.Client, prefix: str, timeout: float = 30.0) -> float:
    """Poll (every 2 ms) until /app/ answers with ``prefix``; the perf_counter time it did."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            r = client.get("/app/")
            if r.status_code == 200 and r.text.startswith(prefix):
                return time.perf_counter()
        except httpx.TransportError:
            pass
        if time.perf_counter() > deadline:
            raise SystemExit(f"/app/ never answered {prefix!r}")
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measured")
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--node-modules", type=int, default=0, metavar="DIRS",
                        help="also DIRS directories under node_modules/ of the war")
    parser.add_argument("--poll-idle", type=float, default=10.0,
                        help="seconds of idle measured under --poll (0: skip)")
    parser.add_argument("--reference-idle", type=float, default=10.0,
                        help="seconds of idle measured with a war of 3 .py files (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        war = root / "war"
        started = time.perf_counter()
        make_war(war, args.files, args.node_modules)
        contexts = root / "contexts"
        contexts.mkdir()
        (contexts / "app.xml").write_text(WEBAPP)
        print(f"deployer watch cost, {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
              f"war of {args.files} static files + 3 .py + {args.node_modules} directories "
              "under node_modules "
              f"(made in {time.perf_counter() - started:.1f} s)")

        old = cpu_cost(lambda: old_tree_signature(war))
        full = cpu_cost(lambda: full_tree_signature(war), repeat=3)
        tree = CodeTree(war)
        new = cpu_cost(tree.signature)
        print("baseline, one walk of the war (CPU of this process):")
        rows = [("before #8, on every scan (first 5000 files)", old, 1.0),
                ("the same walk, uncapped", full, 1.0),
                ("a CodeTree read: now a verify, every 30 s", new, 30.0)]
        for label, cost, every in rows:
            print(f"  {label:<44} {cost * 1000:7.1f} ms -> {cost * 100 / every:6.2f} % of a core"
                  f" once every {every:.0f} s")

        run = Deployer(contexts, "--scan-interval", "1")
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{run.port}") as client:
                answer(client, "0 ")
                idle = run.idle_cpu(args.idle)
                print(f"deployer run, watching (inotify): {idle:.2f} % of a core at idle over "
                      f"{args.idle:.0f} s (front process)")
                print(f"  the old rescan's walk alone cost {old * 100 / max(idle, 0.01):.0f}x "
                      "that whole figure")
                latencies = []
                for i in range(1, args.edits + 1):
                    t0 = time.perf_counter()
                    save(war / "wsgi.py", WSGI.format(version=i))
                    latencies.append(answer(client, f"{i} ") - t0)
                ms = sorted(x * 1000 for x in latencies)
                print(f"  .py edit -> new version answering: median {statistics.median(ms):.0f}"
                      f" ms, min {ms[0]:.0f}, max {ms[-1]:.0f} (n={len(ms)})")
                redeploys = sum("redeployed" in line for line in run.lines)
                print(f"  redeploys logged: {redeploys} for {args.edits} edits")
        finally:
            run.stop()

        if args.poll_idle > 0:
            idle = idle_of(contexts, args.poll_idle, "--poll")
            print(f"deployer run --poll: {idle:.2f} % of a core at idle over "
                  f"{args.poll_idle:.0f} s (the tree is read on every scan)")
        if args.reference_idle > 0:
            for directory in sorted((war / "static").iterdir()):
                os.rename(directory, root / directory.name)  # out of the war, quickly
            idle = idle_of(contexts, args.reference_idle)
            print(f"reference, the same war without its static files: {idle:.2f} % of a core "
                  f"at idle over {args.reference_idle:.0f} s")


def idle_of(contexts: Path, seconds: float, *args: str) -> float:
    """Percent of a core `deployer run` uses over ``seconds`` once its app answers."""
    run = Deployer(contexts, "--scan-interval", "1", *args)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{run.port}") as client:
            answer(client, "")
            return run.idle_cpu(seconds)
    finally:
        run.stop()


if __name__ == "__main__":
    main()
