"""A real `deployer run` with its manager listener on port 0, over contexts in a temp dir."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import DeployerProcess, descriptor, write_counter_app

TOKEN = "test-token-0123456789"
MANAGER = re.compile(r"manager on (http://127\.0\.0\.1:\d+)/")


class Managed:
    """The process, its front's URL, its manager's URL, and the contexts directory."""

    def __init__(self, proc: DeployerProcess, contexts: Path) -> None:
        self.proc = proc
        self.contexts = contexts
        self.url = proc.url
        self.manager = proc.wait_line(MANAGER, timeout=20).group(1)

    def api(self) -> dict:
        r = httpx.get(f"{self.manager}/api/contexts", timeout=10)
        r.raise_for_status()
        return r.json()

    def row(self, ident: str) -> dict:
        return next(c for c in self.api()["contexts"] if c["id"] == ident)

    def action(self, ident: str, action: str, token: str | None = TOKEN, **kw) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token is not None:
            headers["X-Deployer-Token"] = token
        return httpx.post(f"{self.manager}/api/contexts/{ident}/{action}", headers=headers,
                          timeout=30, **kw)


def start_managed(tmp_path: Path, *args: str) -> Iterator[Managed]:
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    write_counter_app(tmp_path / "apps" / "counter")
    (contexts / "counter.xml").write_text(descriptor("/counter", "../apps/counter",
                                                      store="../sessions/counter"))
    static = tmp_path / "apps" / "site"
    static.mkdir(parents=True)
    (static / "index.html").write_text("<h1>site</h1>")
    (contexts / "site.xml").write_text(descriptor("/site", "../apps/site"))
    proc = DeployerProcess(contexts, "--manager", "127.0.0.1:0", *args, cwd=tmp_path)
    with proc:
        yield Managed(proc, contexts)


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[Managed]:
    yield from start_managed(tmp_path, "--manager-token", TOKEN)
