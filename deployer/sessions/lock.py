"""An OS lock on a store directory, held while a session manager of this process owns it.

Two ``deployer run`` processes on one ``storeDirectory`` saved into it in turn, silently, each
overwriting the other's sessions. ``flock`` on ``sessions.lock`` makes the second one fail at
start, naming the store and the pid of the process that holds it; the kernel drops the lock when
the holder dies (even by ``kill -9``), so a stale lock file is never a problem.

Within one process, a redeploy starts the new version's manager on the same store before the old
one stops: the lock is per directory and counted, so both share it. (flock conflicts between two
open files of one process, so each directory is opened once.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from deployer.errors import SessionError

LOCK_NAME = "sessions.lock"

_held: dict[Path, tuple[int, int]] = {}  # resolved directory -> (fd, holders)
_guard = threading.Lock()


def acquire(directory: Path) -> None:
    """Take (or share, within this process) the lock of a store directory; SessionError when
    another process holds it."""
    key = directory.resolve()
    with _guard:
        if key in _held:
            fd, holders = _held[key]
            _held[key] = (fd, holders + 1)
            return
        path = key / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SessionError(f"cannot lock session store {key}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_pid(fd)
            os.close(fd)
            raise SessionError(
                f"session store {key} is in use by another process (pid {other}): two servers "
                "must not share a storeDirectory") from None
        except OSError as exc:
            os.close(fd)
            raise SessionError(f"cannot lock session store {key}: {exc}") from exc
        with contextlib.suppress(OSError):  # who holds it, for the message of the next one
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = (fd, 1)


def release(directory: Path) -> None:
    """Give back one hold; the last closes the file, which drops the lock."""
    key = directory.resolve()
    with _guard:
        if key not in _held:
            return
        fd, holders = _held[key]
        if holders > 1:
            _held[key] = (fd, holders - 1)
            return
        del _held[key]
        os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
