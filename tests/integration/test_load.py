"""A bounded loopback load test: 16 clients keep requesting while the descriptor is redeployed 50
times. Not one request may fail or get a 5xx, and every client's session counter must go up by one
on each request: the route swap and the session hand-over are invisible."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.integration.harness import (
    DeployerProcess,
    descriptor,
    save_atomically,
    write_counter_app,
)

from .test_hot_deploy import wait_body

CLIENTS = 16
REDEPLOYS = 50


def test_redeploys_under_load_drop_nothing(tmp_path: Path) -> None:
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    write_counter_app(tmp_path / "apps" / "counter")
    target = contexts / "app.xml"
    target.write_text(descriptor("/app", "../apps/counter", version="0", store="../sessions"))
    stop = threading.Event()
    problems: list[str] = []
    counts = [0] * CLIENTS

    with DeployerProcess(contexts, "--scan-interval", "1") as run:
        def client(i: int) -> None:
            last = 0
            with httpx.Client(base_url=run.url, timeout=10) as http:
                while not stop.is_set():
                    try:
                        response = http.get("/app/")
                    except httpx.HTTPError as exc:
                        problems.append(f"client {i}: {exc!r}")
                        return
                    if response.status_code != 200:
                        problems.append(f"client {i}: {response.status_code} {response.text}")
                        return
                    value = int(response.text.split()[-1])
                    if value != last + 1:
                        problems.append(f"client {i}: counter {last} -> {value}")
                        return
                    last = value
                    counts[i] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        with httpx.Client(base_url=run.url) as probe:
            wait_body(probe, "/app/", "200 0")
            for t in threads:
                t.start()
            try:
                for version in range(1, REDEPLOYS + 1):
                    save_atomically(target, descriptor("/app", "../apps/counter",
                                                       version=str(version), store="../sessions"))
                    wait_body(probe, "/app/", f"200 {version} ")
                    if problems:
                        break
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
        assert not problems, problems[:5]
        assert run.count(r"redeployed .*app\.xml") == REDEPLOYS
        assert min(counts) > REDEPLOYS // 5, counts  # every client kept going throughout
