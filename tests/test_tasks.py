"""cancel_and_wait: the task's own cancel is dropped, the caller's is not."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from deployer.tasks import cancel_and_wait


async def forever() -> None:
    await asyncio.Event().wait()


def test_the_tasks_cancel_is_dropped() -> None:
    async def main() -> asyncio.Task[None]:
        task = asyncio.create_task(forever())
        await asyncio.sleep(0)
        await cancel_and_wait(task)
        return task

    assert asyncio.run(main()).cancelled()


def test_the_callers_cancel_is_raised() -> None:
    """A stop cut short by its own deadline: the deadline must take effect, not vanish."""
    async def slow_to_end() -> None:
        try:
            await forever()
        finally:
            await forever()  # a cleanup on cancel that outlasts the caller's deadline

    async def main() -> None:
        task = asyncio.create_task(slow_to_end())
        await asyncio.sleep(0)
        async with asyncio.timeout(0.05):
            await cancel_and_wait(task)

    with pytest.raises(TimeoutError):
        asyncio.run(main())


def test_a_cleanup_after_the_callers_own_cancel_runs_to_the_end() -> None:
    """A serve() whose task was cancelled stops its parts in ``finally``: the cancel it already
    had must not cut that cleanup short after the first part."""
    done: list[str] = []

    async def serve() -> None:
        part = asyncio.create_task(forever())
        try:
            await forever()
        finally:
            await cancel_and_wait(part)
            done.append("the rest of the cleanup")

    async def main() -> None:
        task = asyncio.create_task(serve())
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert done == ["the rest of the cleanup"]


def test_another_error_of_the_task_is_raised() -> None:
    async def fails_on_cancel() -> None:
        try:
            await forever()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    async def main() -> None:
        task = asyncio.create_task(fails_on_cancel())
        await asyncio.sleep(0)
        await cancel_and_wait(task)

    with pytest.raises(RuntimeError, match="cleanup failed"):
        asyncio.run(main())
