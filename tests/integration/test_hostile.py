"""`deployer run` as a real process under faults a newcomer or an attacker causes (issue 12)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.harness import descriptor, write_counter_app


def run_deployer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deployer", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_a_taken_port_fails_before_any_app_is_imported(tmp_path: Path) -> None:
    app = write_counter_app(tmp_path / "apps" / "app")
    (app / "wsgi.py").write_text("import pathlib\npathlib.Path('imported').touch()\n"
                                 + (app / "wsgi.py").read_text())
    (tmp_path / "contexts").mkdir()
    (tmp_path / "contexts" / "app.xml").write_text(descriptor("/app", "../apps/app"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_deployer("run", str(tmp_path / "contexts"), "--port", str(port))
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert not (app / "imported").exists(), "the app was imported before the port was checked"
    assert "Traceback" not in done.stderr
