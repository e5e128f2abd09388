"""Workers under a real `deployer run`: a failing new version logs its traceback once and leaves
the old one serving; workers that keep dying make the context FAILED until its files change;
a dead worker's request in flight gets a 502 that the log explains; `--workers` sets the default.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx

from tests.integration.harness import (
    DeployerProcess,
    one_app,
    poll,
    save_atomically,
)

GOOD = """\
import os, time

def application(environ, start_response):
    if environ["PATH_INFO"] == "/hold":
        open("entered.tmp", "w").write(str(os.getpid()))
        os.replace("entered.tmp", "entered")
        time.sleep(30)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"good {os.getpid()}".encode()]
"""
BROKEN = "import no_such_module_anywhere\n"
DYING = """\
import os, threading
threading.Timer(0.05, os._exit, (7,)).start()

def application(environ, start_response):
    start_response("200 OK", [])
    return [b"dying"]
"""


def setup(tmp_path: Path, source: str) -> tuple[Path, Path]:
    return one_app(tmp_path, source)


def test_a_broken_edit_logs_its_traceback_once_and_the_old_version_serves(
        tmp_path: Path) -> None:
    contexts, app = setup(tmp_path, GOOD)
    with DeployerProcess(contexts) as proc, httpx.Client(base_url=proc.url) as client:
        assert client.get("/w/").text.startswith("good")
        mark = proc.mark()
        save_atomically(app / "wsgi.py", BROKEN)
        proc.wait_line(r"FAILED .*w\.xml .*v1 still serving", after=mark)
        assert client.get("/w/").text.startswith("good")
        assert proc.count("ModuleNotFoundError: No module named 'no_such_module_anywhere'") == 1
        mark = proc.mark()
        save_atomically(app / "wsgi.py", GOOD.replace("good", "fixed"))
        proc.wait_line(r"redeployed .*w\.xml .*v2", after=mark)
        assert client.get("/w/").text.startswith("fixed")


def test_workers_that_keep_dying_fail_the_context_until_its_files_change(
        tmp_path: Path) -> None:
    contexts, app = setup(tmp_path, DYING)
    with DeployerProcess(contexts) as proc, httpx.Client(base_url=proc.url) as client:
        proc.wait_line(r"workers in a row died within .* status 7", timeout=30)
        assert client.get("/w/").status_code == 503
        mark = proc.mark()
        save_atomically(app / "wsgi.py", GOOD)
        proc.wait_line(r"redeployed .*w\.xml", after=mark)
        assert client.get("/w/").text.startswith("good")


def test_a_dead_workers_request_gets_502_and_the_log_says_why(tmp_path: Path) -> None:
    contexts, app = setup(tmp_path, GOOD)
    with DeployerProcess(contexts, "--workers", "2") as proc, \
            httpx.Client(base_url=proc.url, timeout=20) as client:
        assert proc.proc is not None
        workers = Path(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children").read_text()
        assert len(workers.split()) == 2  # --workers sets the default
        result: dict[str, int] = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "status", client.get("/w/hold").status_code))
        t.start()
        poll(lambda: (app / "entered").exists(), bool, what="the request in the app")
        victim = int((app / "entered").read_text())
        os.kill(victim, signal.SIGKILL)
        t.join(20)
        assert result["status"] == 502
        proc.wait_line(rf"worker pid {victim} was killed by SIGKILL .* 1 request\(s\) in "
                       r"flight answered 502")
        assert client.get("/w/").text.startswith("good")

