"""Sessions in a shared store: what they cost per request, against Flask-Session, in one run.

    .venv/bin/pip install -e '.[bench]' && apt-get install wrk    # plus PostgreSQL and Redis
    .venv/bin/python bench/bench_cluster_sessions.py [--duration 5] [--sizes 10000,100000]

Sections (``--only http|stores``):

http    req/s and latency p50/p99 (wrk --latency) of a session counter (each request reads
        "count", writes count + 1) through ``deployer run --workers 1 --threads 4`` with its
        sessions in memory (HashSessionManager: the baseline the added latency is measured from)
        and write-through to each SessionDataStore: SQLite (FileSessionDataStoreFactory),
        PostgreSQL (JDBCSessionDataStoreFactory) and Redis (our RedisSessionDataStoreFactory),
        every one with NullSessionCacheFactory + flushOnResponseCommit (each request loads the
        session and stores it before its response). Against the same counter in Flask with
        Flask-Session's Redis backend under ``gunicorn -w 1 -k gthread --threads 4`` (floor:
        deployer with Redis at least 2x). wrk -t1 -c32 pinned to CPU 1, servers unpinned (the
        database servers are the machine's own); 64 sessions made first, the wrk script sends
        them round-robin, so every request reads and writes an existing session.
stores  session loads and stores per second of each store at 10,000 and 100,000 sessions
        (``--sizes``): N stores (32 at a time, on one event loop), then N loads of random ids.

Every PostgreSQL schema and Redis key prefix used is fresh and dropped at the end. Figures,
never asserts; taken on a shared machine, so compare the rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
import redis  # noqa: E402
from bench_workers import Server, _free_port  # noqa: E402

from deployer.sessions.datastore import SessionData, SessionDataStore  # noqa: E402
from deployer.sessions.ids import SessionIdManager  # noqa: E402
from deployer.sessions.postgres import PostgresDataStore, TableSchema  # noqa: E402
from deployer.sessions.redisstore import RedisDataStore  # noqa: E402
from deployer.sessions.sqlitedata import SqliteDataStore  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/test"
PG_JDBC = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres"
REDIS = "redis://127.0.0.1:6379/0"
WRK_CPU = 1
SESSIONS = 64

COUNTER = """\
def application(environ, start_response):
    session = environ["deployer.session"]
    session["count"] = session.get("count", 0) + 1
    body = str(session["count"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""

FLASK = """\
import redis
from flask import Flask, session
from flask_session import Session

app = Flask(__name__)
app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url({url!r}),
                  SESSION_KEY_PREFIX={prefix!r}, SESSION_PERMANENT=False)
Session(app)


@app.route("/")
def index():
    session["count"] = session.get("count", 0) + 1
    return str(session["count"])
"""

CONTEXT = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/</Set>
  <Set name="war"><Property name="jetty.webapps" default="."/>/counter</Set>
</Configure>
"""

SERVER = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure id="Server" class="org.eclipse.jetty.server.Server">
{store}
  <Call name="addBean"><Arg>
    <New class="org.eclipse.jetty.server.session.NullSessionCacheFactory">
      <Set name="saveOnCreate">true</Set>
      <Set name="flushOnResponseCommit">true</Set>
    </New>
  </Arg></Call>
</Configure>
"""

STORES = {
    "sqlite": """  <Call name="addBean"><Arg>
    <New class="org.eclipse.jetty.server.session.FileSessionDataStoreFactory">
      <Set name="storeDir">{dir}</Set>
    </New>
  </Arg></Call>""",
    "postgres": f"""  <Call name="addBean"><Arg>
    <New class="org.eclipse.jetty.server.session.JDBCSessionDataStoreFactory">
      <Set name="databaseAdaptor">
        <New class="org.eclipse.jetty.server.session.DatabaseAdaptor">
          <Call name="setDriverInfo"><Arg>org.postgresql.Driver</Arg>
            <Arg>{PG_JDBC}</Arg></Call>
        </New>
      </Set>
      <Set name="sessionTableSchema">
        <New class="org.eclipse.jetty.server.session.JDBCSessionDataStore$SessionTableSchema">
          <Set name="schemaName">{{schema}}</Set>
        </New>
      </Set>
    </New>
  </Arg></Call>""",
    "redis": f"""  <Call name="addBean"><Arg>
    <New class="deployer.session.RedisSessionDataStoreFactory">
      <Set name="uri">{REDIS}</Set>
      <Set name="keyPrefix">{{prefix}}</Set>
    </New>
  </Arg></Call>""",
}


class Names:
    """The fresh schema and key prefixes of this run, dropped at the end."""

    def __init__(self) -> None:
        tag = secrets.token_hex(4)
        self.schema = f"bench_{tag}"
        self.prefix = f"bench_{tag}:"
        self.flask_prefix = f"bench_flask_{tag}:"

    def drop(self) -> None:
        with contextlib.suppress(psycopg.Error), psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        client = redis.Redis.from_url(REDIS)
        try:
            for prefix in (self.prefix, self.flask_prefix):
                keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
                for i in range(0, len(keys), 1000):
                    client.delete(*keys[i:i + 1000])
        finally:
            client.close()


# -- http ------------------------------------------------------------------------------------
def start_deployer(tmp: Path, store: str | None, names: Names) -> tuple[Server, int]:
    contexts = tmp / f"contexts-{store or 'memory'}"
    (contexts / "counter").mkdir(parents=True)
    (contexts / "counter" / "wsgi.py").write_text(COUNTER)
    (contexts / "counter.xml").write_text(CONTEXT)
    port = _free_port()
    cmd = [sys.executable, "-m", "deployer", "run", str(contexts), "--port", str(port),
           "--workers", "1", "--threads", "4", "--scan-interval", "0", "--log-level", "warning"]
    if store is not None:
        config = tmp / f"server-{store}.xml"
        config.write_text(SERVER.format(store=STORES[store].format(
            dir=tmp / "sqlite-sessions", schema=names.schema, prefix=names.prefix)))
        cmd += ["--config", str(config)]
    server = Server(f"deployer ({store or 'memory'})", cmd, cwd=tmp, env=dict(os.environ),
                    log=tmp / f"deployer-{store or 'memory'}.log", cpu=None)
    server.wait_http(port)
    return server, port


def start_flask(tmp: Path, names: Names) -> tuple[Server, int]:
    app = tmp / "flaskapp"
    app.mkdir(exist_ok=True)
    (app / "app.py").write_text(FLASK.format(url=REDIS, prefix=names.flask_prefix))
    port = _free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    cmd = [str(gunicorn), "-w", "1", "-k", "gthread", "--threads", "4", "-b",
           f"127.0.0.1:{port}", "--chdir", str(app), "app:app"]
    server = Server("gunicorn + Flask-Session (redis)", cmd, cwd=app, env=dict(os.environ),
                    log=tmp / "gunicorn.log", cpu=None)
    server.wait_http(port)
    return server, port


def cookie_script(port: int, tmp: Path, name: str) -> Path:
    """A wrk script sending the cookies of SESSIONS sessions made first, round-robin."""
    cookies = []
    for _ in range(SESSIONS):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            header = r.headers.get("Set-Cookie")
            if not header:
                raise SystemExit(f"{name}: no Set-Cookie from the counter")
            cookies.append(header.split(";")[0])
    lua = "cookies = {" + ", ".join(f'"{c}"' for c in cookies) + "}\n" + textwrap.dedent("""\
        i = 0
        request = function()
          i = i % #cookies + 1
          return wrk.format("GET", "/", {["Cookie"] = cookies[i]})
        end
    """)
    path = tmp / f"{name}.lua"
    path.write_text(lua)
    return path


def wrk(port: int, script: Path, duration: float) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p99 ms, non-2xx) of one wrk --latency run."""
    cmd = ["wrk", "-t1", "-c32", f"-d{duration:g}s", "--latency", "-s", str(script),
           f"http://127.0.0.1:{port}/"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(WRK_CPU), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return rps, pct("50"), pct("99"), int(bad.group(1)) if bad else 0


def http(args: argparse.Namespace, tmp: Path, names: Names) -> None:
    print(f"http: session counter, wrk -t1 -c32 -d{args.duration:g}s --latency on CPU "
          f"{WRK_CPU}, {SESSIONS} sessions round-robin; deployer --workers 1 --threads 4, "
          "gunicorn -w 1 -k gthread --threads 4")
    cases: list[tuple[str, Callable[[], tuple[Server, int]]]] = [
        ("deployer, memory (HashSessionManager)", lambda: start_deployer(tmp, None, names)),
        ("deployer, SQLite write-through", lambda: start_deployer(tmp, "sqlite", names)),
        ("deployer, PostgreSQL write-through", lambda: start_deployer(tmp, "postgres", names)),
        ("deployer, Redis write-through", lambda: start_deployer(tmp, "redis", names)),
        ("gunicorn + Flask-Session Redis", lambda: start_flask(tmp, names)),
    ]
    results: dict[str, tuple[float, float, float, int]] = {}
    for name, start in cases:
        server, port = start()
        try:
            script = cookie_script(port, tmp, re.sub(r"\W+", "_", name))
            wrk(port, script, 1.0)  # warm-up
            best = None
            for _ in range(args.rounds):
                got = wrk(port, script, args.duration)
                if best is None or got[0] > best[0]:
                    best = got
            results[name] = best  # type: ignore[assignment]
        finally:
            server.stop()
    base = results["deployer, memory (HashSessionManager)"]
    flask = results["gunicorn + Flask-Session Redis"]
    print(f"  {'case':40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'+p50':>7} {'+p99':>7} "
          f"{'non-2xx':>7}")
    for name, (rps, p50, p99, bad) in results.items():
        added = "" if name == "gunicorn + Flask-Session Redis" else \
            f"{p50 - base[1]:+7.2f} {p99 - base[2]:+7.2f}"
        print(f"  {name:40} {rps:8.0f} {p50:8.2f} {p99:8.2f} {added:>15} {bad:7d}")
    ratio = results["deployer, Redis write-through"][0] / flask[0]
    verdict = "meets" if ratio >= 2 else "MISSES"
    print(f"  deployer (Redis) / gunicorn + Flask-Session (Redis): {ratio:.2f}x "
          f"(floor 2x: {verdict})")
    for name in ("deployer, SQLite write-through", "deployer, PostgreSQL write-through"):
        print(f"  {name} / gunicorn + Flask-Session: {results[name][0] / flask[0]:.2f}x")


# -- stores ----------------------------------------------------------------------------------
def make_store(kind: str, tmp: Path, names: Names) -> SessionDataStore:
    if kind == "sqlite":
        return SqliteDataStore(tmp / f"bench-store-{secrets.token_hex(3)}", "_bench")
    if kind == "postgres":
        return PostgresDataStore(PG, "_bench", schema=TableSchema(schema_name=names.schema),
                                 pool_size=8)
    return RedisDataStore(REDIS, "_bench", prefix=names.prefix, max_connections=32)


async def store_figures(kind: str, size: int, tmp: Path, names: Names) -> tuple[float, float]:
    store = make_store(kind, tmp, names)
    await store.start()
    ids = SessionIdManager()
    try:
        now = time.time()
        sessions = [SessionData(ids.new_id(), now, now, now, 3600,
                                {"count": i, "user": f"user{i}", "cart": [1, 2, 3]})
                    for i in range(size)]
        limit = asyncio.Semaphore(32)

        async def one(call: Callable[[], object]) -> None:
            async with limit:
                await call()  # type: ignore[misc]

        started = time.perf_counter()
        await asyncio.gather(*(one(lambda s=s: store.store(s)) for s in sessions))
        stores = size / (time.perf_counter() - started)
        picks = [random.choice(sessions).id for _ in range(size)]
        started = time.perf_counter()
        await asyncio.gather(*(one(lambda i=i: store.load(i)) for i in picks))
        loads = size / (time.perf_counter() - started)
        return stores, loads
    finally:
        await store.stop()


def stores(args: argparse.Namespace, tmp: Path, names: Names) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    print("stores: SessionDataStore.store / .load per second (32 in flight, one event loop; "
          "loads of random ids among those stored; every store starts empty)")
    print(f"  {'store':10} {'sessions':>9} {'stores/s':>10} {'loads/s':>10}")
    for kind in ("sqlite", "postgres", "redis"):
        for size in sizes:
            names_for = Names() if kind != "sqlite" else names  # a fresh table/prefix per size
            try:
                s, ld = asyncio.run(store_figures(kind, size, tmp, names_for))
            finally:
                if names_for is not names:
                    names_for.drop()
            print(f"  {kind:10} {size:9d} {s:10.0f} {ld:10.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--only", choices=["http", "stores"])
    args = parser.parse_args()
    if shutil.which("wrk") is None and args.only != "stores":
        raise SystemExit("wrk is needed: apt-get install wrk")
    names = Names()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start "
          "(a shared machine: compare rows of one run)")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        try:
            if args.only in (None, "http"):
                http(args, Path(tmp), names)
            if args.only in (None, "stores"):
                stores(args, Path(tmp), names)
        finally:
            Server.stop_all()
            names.drop()


if __name__ == "__main__":
    main()
