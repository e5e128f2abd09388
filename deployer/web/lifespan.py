"""ASGI lifespan for one app, tolerant of apps that do not speak it.

An app that raises before it has even asked for the startup event does not support lifespan (as in
uvicorn's "auto" mode) and is served anyway; one that fails after receiving it, or sends
``lifespan.startup.failed``, makes its context FAILED.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any

from deployer.errors import AppLoadError

log = logging.getLogger("deployer.web")
SHUTDOWN_TIMEOUT = 10.0


class Lifespan:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.started = False
        self.supported = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._startup: asyncio.Future | None = None
        self._shutdown: asyncio.Future | None = None
        self._task: asyncio.Task | None = None
        self._received = 0

    async def startup(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        self._startup, self._shutdown = loop.create_future(), loop.create_future()
        self._inbox.put_nowait({"type": "lifespan.startup"})
        self._task = asyncio.ensure_future(self._main())
        await self._startup
        self.started = True

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            _resolve(self._startup, None)
            raise
        except BaseException as exc:
            tb = traceback.format_exc()
            if self._startup is not None and not self._startup.done():
                if self._received == 0:
                    log.debug("ASGI lifespan unsupported by %r: %r", self.app, exc)
                    self._startup.set_result(None)
                else:
                    self._startup.set_exception(
                        AppLoadError(f"lifespan startup raised {exc!r}", tb))
            else:
                log.error("ASGI lifespan failed: %r\n%s", exc, tb)
        finally:
            for fut in (self._startup, self._shutdown):
                if fut is not None and not fut.done():
                    fut.set_result(None)

    async def _receive(self) -> dict[str, Any]:
        assert self._inbox is not None
        self._received += 1
        return await self._inbox.get()

    async def _send(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        self.supported = True
        if kind == "lifespan.startup.complete":
            _resolve(self._startup, None)
        elif kind == "lifespan.startup.failed":
            if self._startup is not None and not self._startup.done():
                self._startup.set_exception(
                    AppLoadError(f"lifespan startup failed: {msg.get('message', '')}"))
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if kind.endswith("failed"):
                log.error("ASGI lifespan shutdown failed: %s", msg.get("message", ""))
            _resolve(self._shutdown, None)

    async def shutdown(self) -> None:
        task = self._task
        if task is None or task.done() or self._inbox is None:
            return
        self._inbox.put_nowait({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(asyncio.shield(self._shutdown), SHUTDOWN_TIMEOUT)  # type: ignore[arg-type]
        except TimeoutError:
            log.error("ASGI lifespan shutdown timed out")
            task.cancel()

    def shutdown_from_any_thread(self) -> None:
        """From a sync stop(): wait when called off the loop, schedule when called on it."""
        loop = self._loop
        if loop is None or self._task is None or self._task.done() or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(self.shutdown())
        elif loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self.shutdown(), loop)
            try:
                fut.result(SHUTDOWN_TIMEOUT + 1)
            except Exception as exc:  # a stop must go on
                log.error("ASGI lifespan shutdown: %r", exc)


def _resolve(fut: asyncio.Future | None, value: Any) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)
