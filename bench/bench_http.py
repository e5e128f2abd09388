"""Requests/s of the sample apps under deployer's stack against waitress and plain uvicorn.

Every server runs in its own subprocess (same host, same pinning), wrk runs in another process,
on loopback, for a bounded time. Cases:

  deployer-wsgi-sessions  samples/counter under Server + Router + WebContext + SessionManager
  deployer-asgi-sessions  samples/asgi-hello likewise
  deployer-wsgi           samples/counter under deployer, no session manager
  deployer-asgi           samples/asgi-hello under deployer, no session manager
  waitress-wsgi           samples/counter (bare: no session) under waitress
  uvicorn-asgi            samples/asgi-hello (bare) under plain uvicorn (httptools, uvloop)
  a2wsgi-wsgi             samples/counter (bare) under uvicorn + a2wsgi, the bridge we did not pick

Session cases send one of 64 pre-created session cookies per request (a wrk Lua script cycles
through them), so every request reads and writes a real session; the other cases get the same
script with look-alike cookies, so every server parses the same requests. Besides req/s the script
prints requests per CPU-second of the server process, which is the steadier figure when other work
shares the machine. Targets (issue 3): the WSGI session
counter >= 1.0x waitress bare; the ASGI session counter >= 0.8x plain uvicorn bare.

    python bench/bench_http.py --duration 5 --connections 32 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CASES = ["deployer-wsgi-sessions", "deployer-asgi-sessions", "deployer-wsgi", "deployer-asgi",
         "waitress-wsgi", "uvicorn-asgi", "a2wsgi-wsgi"]
SESSIONS = 64


# -- the servers (run in a subprocess: python bench_http.py --serve CASE) ------------------------
def _ready(port: int) -> None:
    print(f"READY {port}", flush=True)


def serve_deployer(case: str) -> None:
    sys.path.insert(0, str(ROOT))
    from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager
    from deployer.web.apps import load_app
    from deployer.web.context import ContextInfo, WebContext
    from deployer.web.router import Route, Router
    from deployer.web.server import Server, loop_factory
    from deployer.web.tracking import SessionTracking

    base = SAMPLES / ("counter" if "wsgi" in case else "asgi-hello")
    sessions = tracking = None
    if case.endswith("sessions"):
        sessions = SessionManager(SessionConfig(), SessionIdManager(), "bench")
        tracking = SessionTracking()
    ctx = WebContext(ContextInfo("/"), [], lambda: load_app(base, None, "bench"), sessions,
                     tracking, name="bench")

    async def main() -> None:
        await ctx.astart()
        server = Server(Router([Route("/", (), ctx)]), "127.0.0.1", 0)
        await server.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        _ready(server.port or 0)
        await stop.wait()
        await server.stop(1.0)
        await ctx.astop()

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_bare(case: str) -> None:
    import logging

    logging.disable(logging.WARNING)  # waitress logs every queue depth > 0
    if case == "waitress-wsgi" or case == "a2wsgi-wsgi":
        sys.path.insert(0, str(SAMPLES / "counter"))
        from wsgi import application  # type: ignore[import-not-found]
    else:
        sys.path.insert(0, str(SAMPLES / "asgi-hello"))
        from asgi import application  # type: ignore[import-not-found,no-redef]
    port = _free_port()
    if case == "waitress-wsgi":
        import waitress

        _ready(port)
        waitress.serve(application, host="127.0.0.1", port=port, _quiet=True)
        return
    import uvicorn

    app = application
    if case == "a2wsgi-wsgi":
        from a2wsgi import WSGIMiddleware

        app = WSGIMiddleware(application)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http="httptools", loop="uvloop",
                            lifespan="off", access_log=False, log_level="error")
    server = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    _ready(port)  # uvicorn binds within milliseconds; the driver polls until it answers
    server.run()


# -- the driver ----------------------------------------------------------------------------------
def start_server(case: str, cpu: int | None) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, __file__, "--serve", case]
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env, preexec_fn=pin)  # noqa: PLW1509
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.match(r"READY (\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"{case}: server did not start ({line!r})")
    port = int(m.group(1))
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


def session_script(port: int, tmp: Path, sessions: bool) -> Path:
    """A wrk Lua script cycling through session cookies: freshly created ones (checked to count)
    for the session cases, look-alikes for the others, so every case gets the same requests."""
    cookies = []
    for i in range(SESSIONS):
        if not sessions:
            cookies.append(f"JSESSIONID=notasession{i:014d}")
            continue
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            cookies.append(r.headers["set-cookie"].split(";")[0])
    if sessions:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Cookie": cookies[0]})
        body = urllib.request.urlopen(req).read().decode()
        assert body.strip().endswith("count=2"), f"session counter does not count: {body!r}"
    lua = tmp / f"cookies-{port}.lua"
    items = ",".join(f'"{c}"' for c in cookies)
    lua.write_text(
        f"local cookies = {{{items}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #cookies + 1\n"
        '  return wrk.format("GET", "/", {["Cookie"] = cookies[i]})\nend\n')
    return lua


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(port: int, duration: float, connections: int, script: Path | None,
            cpu: int | None) -> tuple[float, int, int]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", f"http://127.0.0.1:{port}/"]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if errors and "timeout 0" not in errors.group(0):
        print(f"    wrk: {errors.group(0)}")
    return rps, int(bad.group(1)) if bad else 0, total


def bench(cases: list[str], duration: float, connections: int, pin: bool,
          rounds: int) -> dict[str, tuple[float, float]]:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    server_cpu, wrk_cpu = (0, 1) if pin and (os.cpu_count() or 1) >= 2 else (None, None)
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in [c for _ in range(rounds) for c in cases]:  # interleaved rounds
            proc, port = start_server(case, server_cpu)
            try:
                script = session_script(port, Path(tmp), case.endswith("sessions"))
                run_wrk(port, 1, connections, script, wrk_cpu)  # warm-up
                cpu0 = cpu_seconds(proc.pid)
                rps, bad, total = run_wrk(port, duration, connections, script, wrk_cpu)
                used = cpu_seconds(proc.pid) - cpu0
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            per_cpu = total / used if used > 0 else float("nan")
            best = results.get(case, (0.0, 0.0))
            results[case] = (max(best[0], rps), max(best[1], per_cpu))
            note = f"  ({bad} non-2xx)" if bad else ""
            print(f"  {case:24s} {rps:10.0f} req/s {per_cpu:10.0f} req/CPU-s  "
                  f"(server CPU {used / duration:4.0%}){note}", flush=True)
    return results


def report(r: dict[str, tuple[float, float]]) -> None:
    def ratio(a: str, b: str, target: float) -> None:
        if a in r and b in r and r[b][0]:
            x, y = r[a][0] / r[b][0], r[a][1] / r[b][1]
            verdict = "meets" if x >= target else "MISSES"
            print(f"  {a} / {b} = {x:.2f}x req/s, {y:.2f}x req/CPU-s  "
                  f"(target >= {target:.1f}x: {verdict})")

    print("ratios (req/CPU-s is the steadier figure on a shared machine):")
    ratio("deployer-wsgi-sessions", "waitress-wsgi", 1.0)
    ratio("deployer-asgi-sessions", "uvicorn-asgi", 0.8)
    ratio("deployer-wsgi", "waitress-wsgi", 1.0)
    ratio("deployer-asgi", "uvicorn-asgi", 0.8)
    ratio("deployer-wsgi", "a2wsgi-wsgi", 1.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--serve", choices=CASES, help=argparse.SUPPRESS)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per case (default 5)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated subset")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds; best is kept")
    p.add_argument("--no-pin", action="store_true", help="do not pin server/wrk to CPUs 0/1")
    args = p.parse_args()
    if args.serve:
        (serve_deployer if args.serve.startswith("deployer") else serve_bare)(args.serve)
        return
    cases = [c for c in args.cases.split(",") if c]
    print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s, loopback, "
          f"{'pinned server=cpu0 wrk=cpu1' if not args.no_pin else 'unpinned'}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    results = bench(cases, args.duration, args.connections, not args.no_pin, args.rounds)
    print(f"best of {args.rounds} rounds:")
    for case, (rps, per_cpu) in results.items():
        print(f"  {case:24s} {rps:10.0f} req/s {per_cpu:10.0f} req/CPU-s")
    report(results)


if __name__ == "__main__":
    main()
