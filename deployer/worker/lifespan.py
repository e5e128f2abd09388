"""ASGI lifespan for the worker's app, tolerant of apps that do not speak it.

An app that raises before it has even asked for the startup event does not support lifespan (as
in uvicorn's "auto" mode) and is served anyway; one that fails after receiving it, or sends
``lifespan.startup.failed``, fails the worker's start, and the front keeps the old version.
"""

from __future__ import annotations

import asyncio
from typing import Any

from deployer.worker.log import current_traceback, log

SHUTDOWN_TIMEOUT = 10.0


class LifespanError(Exception):
    def __init__(self, message: str, traceback_text: str = "") -> None:
        super().__init__(message)
        self.traceback_text = traceback_text


class Lifespan:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue | None = None
        self._startup: asyncio.Future | None = None
        self._shutdown: asyncio.Future | None = None
        self._task: asyncio.Task | None = None
        self._received = 0

    async def startup(self) -> None:
        """Run the startup; raise LifespanError when the app says it failed."""
        loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        self._startup, self._shutdown = loop.create_future(), loop.create_future()
        self._inbox.put_nowait({"type": "lifespan.startup"})
        self._task = loop.create_task(self._main())
        await self._startup

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            tb = current_traceback()
            startup = self._startup
            if startup is not None and not startup.done():
                if self._received == 0:  # never asked: lifespan is not supported
                    startup.set_result(None)
                else:
                    startup.set_exception(LifespanError(
                        f"lifespan startup raised {exc!r}", tb))
            else:
                log(f"ASGI lifespan failed: {exc!r}\n{tb.rstrip()}")
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            for fut in (self._startup, self._shutdown):
                if fut is not None and not fut.done():
                    fut.set_result(None)

    async def _receive(self) -> dict[str, Any]:
        assert self._inbox is not None
        self._received += 1
        return await self._inbox.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            _resolve(self._startup)
        elif kind == "lifespan.startup.failed":
            if self._startup is not None and not self._startup.done():
                self._startup.set_exception(
                    LifespanError(f"lifespan startup failed: {message.get('message', '')}"))
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if kind.endswith("failed"):
                log(f"ASGI lifespan shutdown failed: {message.get('message', '')}")
            _resolve(self._shutdown)

    async def shutdown(self) -> None:
        task = self._task
        if task is None or task.done() or self._inbox is None:
            return
        self._inbox.put_nowait({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(asyncio.shield(self._shutdown), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            log("ASGI lifespan shutdown timed out")
            task.cancel()


def _resolve(fut: asyncio.Future | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)
