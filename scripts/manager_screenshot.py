"""Regenerate docs/manager.png: the manager page over the shipped contexts/ and samples/.

Runs `deployer run contexts/` (front and manager on free ports, sessions in a temp directory so
the repository's own sessions/ is untouched), sends a few requests so the counts are not all
zero, and photographs the page with Playwright driving Debian's Chromium:

    .venv/bin/python scripts/manager_screenshot.py [--out docs/manager.png]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.browser import ARGS, CHROMIUM  # noqa: E402

MANAGER = re.compile(r"manager on (http://\S+)/ ")
FRONT = re.compile(r"ready: .* on (http://\S+)")


def wait_lines(proc: subprocess.Popen[str], *patterns: re.Pattern[str]) -> list[str]:
    found: dict[re.Pattern[str], str] = {}
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while len(found) < len(patterns):
        line = proc.stderr.readline()
        if not line or time.monotonic() > deadline:
            raise SystemExit("deployer did not start")
        for rx in patterns:
            m = rx.search(line)
            if m:
                found[rx] = m.group(1)
    return [found[rx] for rx in patterns]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "manager.png"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deployer-shot-"))
    try:
        # the shipped descriptors, their samples beside them as in the repository
        shutil.copytree(ROOT / "contexts", work / "contexts")
        shutil.copytree(ROOT / "samples", work / "samples", ignore=shutil.ignore_patterns("jetty"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "deployer", "run", "contexts", "--port", "0",
             "--manager", "127.0.0.1:0", "--manager-token", "screenshot"],
            cwd=work, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        try:
            front, manager = wait_lines(proc, FRONT, MANAGER)
            for client in (httpx.Client(), httpx.Client()):
                for path in ("/counter/", "/counter/", "/hello/", "/", "/missing"):
                    client.get(front + path)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 240})
                page.goto(manager + "/")
                page.screenshot(path=args.out, full_page=True)
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
