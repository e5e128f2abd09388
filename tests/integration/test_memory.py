"""The front's memory stays flat across 200 redeploys of a Flask app (it once grew from 72 MB to
480 MB over 59, keeping every old version's modules), and no old worker is left behind."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import DeployerProcess, poll, save_atomically
from tests.support.venvs import framework_venv

APP = """\
from flask import Flask, session
from deployer.worker.flask import DeployerSessionInterface

app = Flask(__name__)
app.session_interface = DeployerSessionInterface()


@app.get("/")
def count():
    session["n"] = session.get("n", 0) + 1
    return f"{session['n']}"
"""

DESCRIPTOR = """\
<?xml version="1.0"?>
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/flask</Set>
  <Set name="war">../app</Set>
  <Set name="application">app:app</Set>
  <Set name="virtualenv">{venv}</Set>
  <Call name="setInitParameter"><Arg>version</Arg><Arg>{version}</Arg></Call>
</Configure>
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


@pytest.mark.slow
def test_the_front_stays_flat_across_200_redeploys_of_a_flask_app(tmp_path: Path) -> None:
    venv = framework_venv()
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text(textwrap.dedent(APP))
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    desc = contexts / "flask.xml"
    desc.write_text(DESCRIPTOR.format(venv=venv, version=0))
    with DeployerProcess(contexts, "--scan-interval", "0.2") as proc, \
            httpx.Client(base_url=proc.url, timeout=10) as client:
        assert proc.proc is not None
        pid = proc.proc.pid
        assert client.get("/flask/").text == "1"
        sizes: dict[int, int] = {}
        for version in range(1, 201):
            mark = proc.mark()
            save_atomically(desc, DESCRIPTOR.format(venv=venv, version=version))
            proc.wait_line(rf"redeployed .*flask\.xml .* v{version + 1} ", after=mark,
                           timeout=30)
            assert client.get("/flask/").text == str(version + 1)  # the session goes on
            if version in (20, 200):
                poll(lambda: len(children(pid)), lambda n: n == 1, timeout=20,
                     what="the old worker to stop")
                sizes[version] = rss_kib(pid)
        grown = sizes[200] - sizes[20]
        print(f"front RSS after 20 redeploys {sizes[20] / 1024:.1f} MB, "
              f"after 200 {sizes[200] / 1024:.1f} MB (+{grown / 1024:.1f} MB)")
        assert grown < 8 * 1024, f"the front grew by {grown / 1024:.1f} MB over 180 redeploys"
        assert len(children(pid)) == 1 and os.path.exists(f"/proc/{pid}")
