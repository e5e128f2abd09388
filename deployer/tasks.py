"""Stopping asyncio tasks without losing a cancellation.

Two idioms lose one on Python 3.11, and a stop that loses one hangs:

- ``asyncio.wait_for`` returns its awaitable's result when that completes just as the waiting
  task is cancelled, and drops the cancel. A loop that waits so (``while True: wait_for(event)``)
  then runs on after ``task.cancel()``, and whoever awaits it waits for ever. ``asyncio.timeout``
  keeps the cancel; ruff's banned-api rule keeps ``wait_for`` out of deployer's own side.
- ``task.cancel()`` then ``with suppress(CancelledError): await task`` also swallows a cancel of
  the *caller* (a shutdown deadline), which then never takes effect.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has ended. Its own CancelledError is what was asked
    for and is dropped; a cancel of the caller *while it waits* is raised (one delivered before,
    to a caller now cleaning up in a ``finally``, still counts in ``cancelling()`` and is not).
    Any other error of the task is raised."""
    current = asyncio.current_task()
    before = current.cancelling() if current is not None else 0
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > before:
            raise
