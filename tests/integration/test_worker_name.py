"""`deployer run --worker-name`: the server-wide HashSessionIdManager's workerName."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.harness import DeployerProcess, descriptor, write_counter_app


def test_node_id_in_session_id_carries_the_worker_name(tmp_path: Path) -> None:
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    write_counter_app(tmp_path / "apps" / "counter")
    text = descriptor("/counter", "../apps/counter", store="../sessions/counter").replace(
        '<Set name="lazyLoad">false</Set>',
        '<Set name="lazyLoad">false</Set><Set name="nodeIdInSessionId">true</Set>',
    )
    (contexts / "counter.xml").write_text(text)
    with DeployerProcess(contexts, "--worker-name", "node7") as run, \
            httpx.Client(base_url=run.url) as client:
        assert client.get("/counter/").text.endswith(" 1")
        cookie = client.cookies["JSESSIONID"]
        assert cookie.endswith(".node7"), cookie
        assert client.get("/counter/").text.endswith(" 2")


def test_worker_name_with_a_dot_is_refused(tmp_path: Path) -> None:
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "deployer", "run", str(contexts), "--port", "0",
         "--worker-name", "a.b"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 1
    assert "workerName 'a.b'" in done.stderr
    assert "Traceback" not in done.stderr
