"""Hot-deploy latency of `deployer run`, measured from outside like a user would see it.

    .venv/bin/python bench/bench_deploy.py [--edits 60] [--adds 20] [--quick]

For watching (inotify) and --poll: the time from a descriptor's write (temp file + rename, as
editors save) to the new version answering (p50/p90/p99), from a new descriptor to its first
answer, and from a removal to 404. Then the time to deploy 100 and 1,000 descriptors at start.
Jetty 9.4 on this machine (issue 5): 1.6 s p50 for each with its 1 s scan, ~12 ms of 404s during
every redeploy, 2.5 s for 500 static contexts; uWSGI's emperor 1.6 s per edit.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

WSGI = """\
def application(environ, start_response):
    version = environ["deployer.context"].init_params.get("version", "-")
    session = environ["deployer.session"]
    session["n"] = session.get("n", 0) + 1
    body = f"{version} {session['n']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""

WEBAPP = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">{path}</Set>
  <Set name="war"><Property name="jetty.webapps" default="."/>/../app</Set>
  <Call name="setInitParameter"><Arg>version</Arg><Arg>{version}</Arg></Call>
</Configure>
"""

STATIC = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure class="org.eclipse.jetty.server.handler.ContextHandler">
  <Set name="contextPath">{path}</Set>
  <Set name="resourceBase"><Property name="jetty.webapps" default="."/>/../site</Set>
</Configure>
"""


ENV = dict(os.environ)


class Deployer:
    def __init__(self, contexts: Path, *args: str) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deployer", "run", str(contexts), "--port", "0", *args],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.wait(r"listening on http://[^:]+:(\d+)", 120).group(1))
        self.ready = time.perf_counter() - self.started

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip())
                self.cond.notify_all()

    def wait(self, pattern: str, timeout: float) -> re.Match[str]:
        rx, deadline = re.compile(pattern), time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if m := rx.search(line):
                        return m
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"no {pattern!r}:\n" + "\n".join(self.lines[-30:]))
                self.cond.wait(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def save(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def until(client: httpx.Client, path: str, ok, timeout: float = 10.0,
          bad: list[int] | None = None) -> float:
    """Poll (every 1 ms) until ok(response); returns the time it held, perf_counter clock.
    Responses other than 200 on the way are appended to ``bad`` when given."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            r = client.get(path)
            if ok(r):
                return time.perf_counter()
            if bad is not None and r.status_code != 200:
                bad.append(r.status_code)
        except httpx.TransportError:
            if bad is not None:
                bad.append(0)
        if time.perf_counter() > deadline:
            raise SystemExit(f"timeout waiting on {path}")
        time.sleep(0.001)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def fmt(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"  {name:<28} n={len(ms):3d}  p50 {pct(ms, 50):7.1f} ms  p90 {pct(ms, 90):7.1f} ms"
            f"  p99 {pct(ms, 99):7.1f} ms  max {max(ms):7.1f} ms")


def hot(root: Path, edits: int, adds: int, poll: bool) -> dict[str, list[float]]:
    contexts = root / ("contexts-poll" if poll else "contexts-watch")
    contexts.mkdir()
    target = contexts / "app.xml"
    target.write_text(WEBAPP.format(path="/app", version=0))
    run = Deployer(contexts, *(["--poll"] if poll else []))
    out: dict[str, list[float]] = {"redeploy": [], "add": [], "remove": []}
    bad: list[int] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{run.port}") as client:
            until(client, "/app/", lambda r: r.status_code == 200)
            for i in range(1, edits + 1):
                t0 = time.perf_counter()
                save(target, WEBAPP.format(path="/app", version=i))
                t1 = until(client, "/app/", lambda r, i=i: r.text.startswith(f"{i} "),
                           bad=bad)
                out["redeploy"].append(t1 - t0)
            for i in range(adds):
                new = contexts / f"new{i}.xml"
                t0 = time.perf_counter()
                save(new, WEBAPP.format(path=f"/new{i}", version=i))
                out["add"].append(until(client, f"/new{i}/", lambda r: r.status_code == 200) - t0)
                t0 = time.perf_counter()
                new.unlink()
                out["remove"].append(until(client, f"/new{i}/", lambda r: r.status_code == 404)
                                     - t0)
    finally:
        run.stop()
    out["bad"] = bad  # type: ignore[assignment]
    return out


def startup(root: Path, count: int) -> tuple[float, float]:
    contexts = root / f"contexts-{count}"
    contexts.mkdir()
    for i in range(count):
        (contexts / f"c{i:04d}.xml").write_text(STATIC.format(path=f"/c{i}"))
    run = Deployer(contexts, "--scan-interval", "0")
    try:
        m = run.wait(r"(\d+) of (\d+) contexts deployed .* in ([\d.]+) ms", 10)
        assert int(m.group(1)) == count, m.group(0)
        with httpx.Client(base_url=f"http://127.0.0.1:{run.port}") as client:
            assert client.get(f"/c{count - 1}/").status_code == 200
        return float(m.group(3)) / 1000, run.ready
    finally:
        run.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=60)
    parser.add_argument("--adds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="10 edits, 5 adds, 100 at start")
    args = parser.parse_args()
    if args.quick:
        args.edits, args.adds = 10, 5
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "app").mkdir()
        (root / "app" / "wsgi.py").write_text(WSGI)
        (root / "site").mkdir()
        (root / "site" / "index.html").write_text("<h1>hi</h1>\n")
        print(f"deployer hot deploy, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        for poll in (False, True):
            out = hot(root, args.edits, args.adds, poll)
            print("with --poll (PollingObserver):" if poll else "watching (inotify):")
            print(fmt("write -> new version", out["redeploy"]))
            print(fmt("new file -> first answer", out["add"]))
            print(fmt("removal -> 404", out["remove"]))
            print(f"  answers other than 200 while redeploying: {len(out['bad'])} "
                  f"{sorted(set(out['bad'])) or ''}")
        print("deploying at start (static contexts, --scan-interval 0):")
        for count in (100,) if args.quick else (100, 1000):
            deploy, ready = startup(root, count)
            print(f"  {count:5d} descriptors: deployed in {deploy * 1000:7.1f} ms "
                  f"(process start to listening: {ready:.2f} s)")
        print("Jetty 9.4 here (1 s scan): 1.6 s p50 per edit/add/remove, ~12 ms of 404s per "
              "redeploy, 2.5 s for 500 static contexts; uWSGI emperor: 1.6 s per edit.")


if __name__ == "__main__":
    main()
