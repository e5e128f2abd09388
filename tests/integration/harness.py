"""A real `deployer run` subprocess on port 0, its log lines, and helpers to wait on them.

Everything waits on a condition with a deadline (a log line, a response), never on a bare sleep.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

LISTENING = re.compile(r"listening on http://[^:]+:(\d+)")


class DeployerProcess:
    """`python -m deployer run DIR --port 0 ...`, with its stderr collected line by line."""

    def __init__(self, contexts: Path, *args: str, cwd: Path | None = None) -> None:
        self.contexts = contexts
        self.args = ["run", str(contexts), "--port", "0", "--log-level", "debug", *args]
        self.cwd = cwd
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.port = 0

    def start(self, timeout: float = 20.0) -> DeployerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deployer", *self.args], cwd=self.cwd, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_line(LISTENING, timeout=timeout).group(1))
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def count(self, pattern: str | re.Pattern[str]) -> int:
        rx = re.compile(pattern)
        with self._cond:
            return sum(1 for line in self.lines if rx.search(line))

    def wait_line(self, pattern: str | re.Pattern[str], *, after: int = 0,
                  timeout: float = 10.0) -> re.Match[str]:
        """The first line at index >= after matching pattern; fails with the log on timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                exited = self.proc is not None and self.proc.poll() is not None
                if left <= 0 or (exited and not self._reader_alive()):
                    raise AssertionError(
                        f"no line matching {rx.pattern!r} in:\n{self.log_unlocked()}"
                    )
                self._cond.wait(min(left, 0.2))

    def _reader_alive(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def log_unlocked(self) -> str:
        return "\n".join(self.lines)

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def send(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return rc

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        return self.proc.returncode

    def __enter__(self) -> DeployerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def poll(fn: Callable[[], Any], predicate: Callable[[Any], bool], *, timeout: float = 10.0,
         every: float = 0.02, what: str = "condition") -> Any:
    """Call fn until predicate(result) holds; returns that result."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
            if predicate(last):
                return last
        except httpx.TransportError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
        time.sleep(every)


COUNTER_WSGI = """\
CODE = {code!r}


def application(environ, start_response):
    session = environ["deployer.session"]
    context = environ["deployer.context"]
    count = session.get("count", 0) + 1
    session["count"] = count
    body = f"{{context.init_params.get('version', '-')}} {{CODE}} {{count}}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def write_counter_app(directory: Path, code: str = "c1") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "wsgi.py").write_text(COUNTER_WSGI.format(code=code))
    return directory


def descriptor(context_path: str, war: str, *, version: str = "1", store: str | None = None,
               lazy: bool = False, hosts: list[str] | None = None) -> str:
    """A Jetty 9.3 WebAppContext descriptor; war and store are relative to the descriptor."""
    sessions = ""
    if store is not None:
        sessions = f"""
  <Get name="sessionHandler">
    <Set name="sessionManager">
      <New class="org.eclipse.jetty.server.session.HashSessionManager">
        <Set name="storeDirectory">{store}</Set>
        <Set name="lazyLoad">{"true" if lazy else "false"}</Set>
      </New>
    </Set>
  </Get>"""
    vhosts = ""
    if hosts:
        items = "".join(f"<Item>{h}</Item>" for h in hosts)
        vhosts = f'\n  <Set name="virtualHosts"><Array type="String">{items}</Array></Set>'
    return textwrap.dedent(f"""\
<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">{context_path}</Set>
  <Set name="war"><Property name="jetty.webapps" default="."/>/{war}</Set>
  <Call name="setInitParameter"><Arg>version</Arg><Arg>{version}</Arg></Call>{vhosts}{sessions}
</Configure>
""")


def one_app(tmp_path: Path, source: str, name: str = "w") -> tuple[Path, Path]:
    """contexts/NAME.xml serving apps/NAME/wsgi.py (``source``) at /NAME: (contexts, app dir)."""
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    app = tmp_path / "apps" / name
    app.mkdir(parents=True)
    (app / "wsgi.py").write_text(source)
    (contexts / f"{name}.xml").write_text(descriptor(f"/{name}", f"../apps/{name}"))
    return contexts, app


def save_atomically(path: Path, text: str) -> None:
    """What editors do: write a temp file beside it, then rename over."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
