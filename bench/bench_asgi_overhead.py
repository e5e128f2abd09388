"""Our own per-request cost on the ASGI path, without HTTP: direct calls, µs per request.

Calls samples/asgi-hello in a loop on one event loop (uvloop when installed) three ways:

  bare        the app itself (what plain uvicorn would call)
  context     Router + WebContext, no session manager
  sessions    Router + WebContext + SessionManager, cycling through 64 live session cookies

Each request gets a fresh scope shaped like uvicorn's (httptools), so the figures differ only by
what deployer adds; "overhead" is the difference to bare. Best of ``--repeat`` runs.

    .venv/bin/python bench/bench_asgi_overhead.py --requests 50000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager  # noqa: E402
from deployer.web.apps import load_app  # noqa: E402
from deployer.web.context import ContextInfo, WebContext  # noqa: E402
from deployer.web.router import Route, Router  # noqa: E402
from deployer.web.server import loop_factory  # noqa: E402
from deployer.web.tracking import SessionTracking  # noqa: E402

BASE = ROOT / "samples" / "asgi-hello"
SESSIONS = 64
_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _REQUEST


class _Sink:
    """The send callable: keeps the last response start, so a run can be checked."""

    def __init__(self) -> None:
        self.start: dict[str, Any] | None = None
        self.body = b""

    async def __call__(self, msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            self.start = msg
        else:
            self.body = msg.get("body", b"")


def scope_template(cookie: str | None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8080")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode("latin-1")))
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "server": ("127.0.0.1", 8080),
            "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET", "root_path": "",
            "path": "/", "raw_path": b"/", "query_string": b"", "headers": headers}


async def run(app: Any, templates: list[dict[str, Any]], n: int) -> float:
    """Seconds for n requests (fresh scope each, as uvicorn makes one per request)."""
    sink = _Sink()
    k = len(templates)
    t0 = time.perf_counter()
    for i in range(n):
        await app(dict(templates[i % k]), _receive, sink)
    return time.perf_counter() - t0


def make_context(with_sessions: bool) -> WebContext:
    sessions = SessionManager(SessionConfig(), SessionIdManager(), "bench") if with_sessions \
        else None
    return WebContext(ContextInfo("/"), [], lambda: load_app(BASE, None, "bench"), sessions,
                      SessionTracking() if with_sessions else None, name="bench")


async def session_cookies(router: Router) -> list[str]:
    cookies = []
    for _ in range(SESSIONS):
        sink = _Sink()
        await router(scope_template(None), _receive, sink)
        assert sink.start is not None
        value = dict(sink.start["headers"])[b"set-cookie"].decode("latin-1")
        cookies.append(value.split(";")[0])
    return cookies


async def main_async(n: int, repeat: int) -> None:
    bare_app = load_app(BASE, None, "bare").asgi
    plain = make_context(False)
    with_sessions = make_context(True)
    await plain.astart()
    await with_sessions.astart()
    try:
        plain_router = Router([Route("/", (), plain)])
        session_router = Router([Route("/", (), with_sessions)])
        cookies = await session_cookies(session_router)
        look_alikes = [scope_template(f"JSESSIONID=notasession{i:014d}") for i in range(SESSIONS)]
        cases = {
            "bare": (bare_app, look_alikes),
            "context": (plain_router, look_alikes),
            "sessions": (session_router, [scope_template(c) for c in cookies]),
        }
        sink = _Sink()
        await session_router(cases["sessions"][1][0], _receive, sink)
        assert sink.body.startswith(b"hello count="), sink.body
        best = {name: float("inf") for name in cases}
        for _ in range(repeat):  # interleaved, best kept
            for name, (app, templates) in cases.items():
                await run(app, templates, n // 10)  # warm-up
                best[name] = min(best[name], await run(app, templates, n))
        bare = best["bare"] / n * 1e6
        for name, secs in best.items():
            us = secs / n * 1e6
            print(f"  {name:9s} {us:7.2f} µs/request  overhead {us - bare:6.2f} µs")
    finally:
        await plain.astop()
        await with_sessions.astop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=50_000, help="requests per run")
    p.add_argument("--repeat", type=int, default=5, help="runs per case; best is kept")
    args = p.parse_args()
    print(f"{args.requests} direct ASGI calls per run, best of {args.repeat}")
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main_async(args.requests, args.repeat))


if __name__ == "__main__":
    main()
