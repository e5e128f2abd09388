"""What the front tells a worker when it starts it (the CONFIG frame), and the context view.

Sent over the control socket rather than on the command line or in the environment: the
environment is the app's own (it may hold secrets and is shown by ``ps e``), and the command line
is what ``ps`` shows of every worker.
"""

from __future__ import annotations

from typing import Any


class ContextInfo:
    """``environ["deployer.context"]`` / ``scope["deployer.context"]``: the webapp's context."""

    __slots__ = ("context_path", "init_params", "attributes", "display_name")

    def __init__(self, context_path: str = "/", init_params: dict[str, str] | None = None,
                 attributes: dict[str, Any] | None = None,
                 display_name: str | None = None) -> None:
        self.context_path = context_path
        self.init_params = dict(init_params or {})
        self.attributes = dict(attributes or {})
        self.display_name = display_name

    def __repr__(self) -> str:
        return f"<ContextInfo {self.context_path}>"


class WorkerConfig:
    """The parsed CONFIG frame; every field is checked so a bad frame fails at boot."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.name: str = str(raw["name"])  # for log lines: the context's name
        self.base: str = str(raw["base"])  # the war: a directory or an archive
        self.entry: str | None = raw.get("entry")  # "module:attr", or None to look for
        self.kind: str | None = raw.get("kind")  # "wsgi" | "asgi", or None to tell by the app
        self.paths: list[str] = [str(p) for p in raw.get("paths", [])]  # pythonPath entries
        self.channels: list[int] = [int(fd) for fd in raw["channels"]]  # data channel fds
        self.worker_name: str | None = raw.get("worker_name")  # sessions' node id suffix
        self.max_inactive: int = int(raw.get("max_inactive", 1800))
        ctx = raw.get("context") or {}
        self.context = ContextInfo(ctx.get("context_path", "/"), ctx.get("init_params"),
                                   ctx.get("attributes"), ctx.get("display_name"))
