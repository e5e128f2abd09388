"""A real server on 127.0.0.1:0 in a background event loop, driven from sync tests with httpx.
Python webapps run in real worker processes, as under `deployer run`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployer.web.apps import find_app
from deployer.web.context import ContextInfo, Redirect, WebContext
from deployer.web.direct import DirectPath
from deployer.web.observe import AccessLog, Observer
from deployer.web.process import WorkerSpec
from deployer.web.router import Route, Router
from deployer.web.server import Server, loop_factory
from deployer.web.static import StaticFiles

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


class Harness:
    """One event loop thread running one Server over one Router."""

    def __init__(self, *, connector: str | None = None, direct: bool = True,
                 access_log: Path | None = None, **server: Any) -> None:
        """``direct``: with the direct path, as ``deployer run`` serves (web/direct.py);
        ``access_log``: a file the server's access log goes to."""
        self.loop = loop_factory()()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop")
        self.thread.start()
        self.router = Router(connector=connector)
        self.access_log: AccessLog | None = None
        front: Any = self.router
        observer = None
        if access_log is not None:
            self.access_log = AccessLog(str(access_log))
            self.access_log.open()
            front = observer = Observer(self.router, None, self.access_log)
        self.direct = DirectPath(self.router, observer) if direct else None
        self.server = Server(front, "127.0.0.1", 0, direct=self.direct, **server)
        self.run(self.server.start())
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.contexts: list[WebContext] = []

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def context(self, base: Path | None, context_path: str = "/", hosts: list[str] | None = None,
                sessions: Any = None, tracking: Any = None, application: str | None = None,
                redirect: Redirect | None = None, workers: int = 1, threads: int = 2,
                python: str = sys.executable, request_timeout: float = 0.0,
                **kw: Any) -> WebContext:
        """Build, start (workers READY, lifespan included) and route a context."""
        app: WorkerSpec | StaticFiles | None = None
        if base is not None:
            found = find_app(base, application)
            if found.is_python:
                app = worker_spec(base, found.entry or "", found.kind, context_path,
                                  workers=workers, threads=threads, python=python,
                                  request_timeout=request_timeout,
                                  worker_name=getattr(getattr(sessions, "id_manager", None),
                                                      "worker_name", None))
            else:
                app = StaticFiles(base, kw.get("welcome_files", ("index.html", "index.htm")))
        ctx = WebContext(ContextInfo(context_path, **kw), hosts or [], app, sessions,
                         tracking, redirect=redirect, name=context_path)
        with contextlib.suppress(Exception):  # a FAILED context is routed too: it answers 503
            self.run(ctx.astart())
        self.add(ctx, context_path, hosts)
        return ctx

    def add(self, ctx: WebContext, context_path: str, hosts: list[str] | None = None) -> None:
        self.contexts.append(ctx)
        routes = [*self.router.table.routes, Route(context_path, tuple(hosts or ()), ctx)]
        self.router.swap(routes)

    def close(self) -> None:
        try:
            self.run(self.server.stop(2.0))
            for ctx in self.contexts:
                self.run(ctx.astop())
        finally:
            if self.access_log is not None:
                self.access_log.close()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def worker_spec(base: Path, entry: str, kind: str | None, context_path: str = "/",
                **kw: Any) -> WorkerSpec:
    """A WorkerSpec as deploy/build.py makes one, for a context built without a descriptor."""
    return WorkerSpec(name=context_path, base=base, entry=entry, kind=kind,
                      python=kw.pop("python", sys.executable), env=dict(os.environ),
                      context={"context_path": context_path}, **kw)


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def client(harness: Harness) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=harness.url, timeout=10) as c:
        yield c
