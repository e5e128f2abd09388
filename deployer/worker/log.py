"""The worker's own messages: report lines on stderr, which the front reads, tags and logs.

Not the ``logging`` module: the app configures that as it likes (Django replaces its handlers),
and a worker's failure report must get out whatever the app did to it.
"""

from __future__ import annotations

import os
import sys

from deployer.worker.wire import record_line

EXIT_INTERNAL = 70  # EX_SOFTWARE: the worker's own code failed


def current_traceback() -> str:
    """The exception being handled, formatted (traceback is imported only when one happens)."""
    import traceback

    return traceback.format_exc().rstrip()


def fatal(what: str) -> None:
    """The worker's own code failed (not the app's): say so and exit, so that the front sees a
    dead worker (502 for its requests, a replacement) instead of a request that never ends."""
    log(f"deployer worker: internal error {what}\n{current_traceback()}")
    os._exit(EXIT_INTERNAL)


def log(message: str) -> None:
    """A report for the front's log: one record, at ERROR, its traceback with it."""
    try:
        sys.stderr.write(record_line(message) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed by the app: nothing better to do
        pass
