"""A real server on 127.0.0.1:0 in a background event loop, driven from sync tests with httpx."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployer.web.apps import load_app
from deployer.web.context import ContextInfo, Redirect, WebContext
from deployer.web.router import Route, Router
from deployer.web.server import Server, loop_factory

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


class Harness:
    """One event loop thread running one Server over one Router."""

    def __init__(self) -> None:
        self.loop = loop_factory()()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop")
        self.thread.start()
        self.router = Router()
        self.server = Server(self.router, "127.0.0.1", 0)
        self.run(self.server.start())
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.contexts: list[WebContext] = []

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def context(self, base: Path | None, context_path: str = "/", hosts: list[str] | None = None,
                sessions: Any = None, tracking: Any = None, application: str | None = None,
                redirect: Redirect | None = None, **kw: Any) -> WebContext:
        """Build, start (on the loop, lifespan included) and route a context."""
        factory = None
        if base is not None:
            def factory():
                return load_app(base, application, context_path, threads=4)
        ctx = WebContext(ContextInfo(context_path, **kw), hosts or [], factory, sessions,
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
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


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
