"""Scanning contexts/: watchdog wakes us, a rescan is the truth, a settle rule debounces.

Jetty's Scanner (JETTY.md §2.4) acts only on a file whose (mtime, size) was the same on two
scans one interval apart, so an edit takes one to two seconds to land. Here inotify (or
polling) only *wakes* the scanner: it looks at once and again a short settle time later, and a
path whose signature is the same on both looks is delivered. The periodic rescan still runs, so
a missed event costs at most one interval. Events carry no meaning beyond "look now": a burst
of them (temp file written, renamed over, bytecode cache touched) is one rescan, and comparing
each path's signature with what was last delivered coalesces them per path. A descriptor's
signature includes the files of the webapp it points at, so editing the app's own code
redeploys its context too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

log = logging.getLogger("deployer.deploy")

IGNORED_SUFFIXES = (".swp", ".swo", ".swx", "~", ".tmp", ".temp", ".bak", ".orig", ".part", ".rej")
_QUIET_EVENTS = {"opened", "closed_no_write"}
MAX_TREE_FILES = 5000
_SKIPPED_DIRS = {"__pycache__", ".git", ".hg", ".svn", "cvs", "cvsroot"}


def is_descriptor_name(name: str) -> bool:
    """Jetty's WebAppProvider filter, for descriptors only: visible *.xml, no editor leftovers."""
    lower = name.lower()
    if lower.startswith((".", "#")) or lower.endswith(IGNORED_SUFFIXES):
        return False
    return lower.endswith(".xml")


def file_signature(path: Path) -> tuple[int, ...] | None:
    """Unchanged means same mtime, size, inode and device (a rename-over changes the inode)."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)


def tree_signature(path: Path) -> tuple[Any, ...] | None:
    """A webapp directory's signature: every file's (name, mtime, size); bytecode caches skipped."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return file_signature(path)
    entries: list[tuple[str, int, int]] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d.lower() not in _SKIPPED_DIRS)
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")) or name.startswith(".#"):
                continue
            full = os.path.join(root, name)
            try:
                fst = os.stat(full)
            except OSError:
                continue
            entries.append((os.path.relpath(full, path), fst.st_mtime_ns, fst.st_size))
            if len(entries) >= MAX_TREE_FILES:  # a huge tree: watch its first files only
                return tuple(entries)
    return tuple(entries)


# file mtimes come from the kernel's coarse clock, up to a tick behind time.time_ns(); well
# under the settle time, so a file written before a build settled is never taken as newer
_FILE_CLOCK_SLACK_NS = 5_000_000


def _modified_since(tree: tuple[Any, ...] | None, since_ns: int) -> bool:
    """Whether a tree_signature holds a file modified at or after since_ns."""
    if not tree:
        return False
    if isinstance(tree[0], tuple):  # a directory: (name, mtime_ns, size) per file
        return any(mtime >= since_ns for _, mtime, _ in tree)
    return tree[0] >= since_ns  # an archive: file_signature, mtime first


@dataclass(frozen=True)
class Change:
    """One delivered event: kind is "add", "change" or "remove"."""

    kind: str
    path: Path


Handler = Callable[[list[Change]], Awaitable[None]]
Dependencies = Callable[[Path], Iterable[Path]]


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _QUIET_EVENTS:
            self._wake()


class Provider:
    """Delivers batches of add/change/remove for the descriptors of one directory, sorted."""

    def __init__(
        self,
        directory: Path,
        handler: Handler,
        *,
        dependencies: Dependencies | None = None,
        scan_interval: float = 1.0,
        poll: bool = False,
        settle: float = 0.01,
    ) -> None:
        if scan_interval < 0:
            raise ValueError("scan_interval must be >= 0")
        self.directory = Path(directory).resolve()
        self._handler = handler
        self._dependencies = dependencies or (lambda _p: ())
        self.scan_interval = scan_interval
        self.poll = poll
        self.settle = settle
        self._delivered: dict[Path, tuple[Any, Any]] = {}
        self._deps: dict[Path, tuple[Path, ...]] = {}
        self._last_look: dict[Path, tuple[Any, Any] | None] = {}
        self._names: dict[str, Path | None] = {}  # file name -> path, None when not a descriptor
        self._wake_event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: Any = None
        self._watches: dict[Path, Any] = {}
        self._watch_dirs: dict[Path, Path] = {}  # a dependency -> the directory watched for it
        self._task: asyncio.Task[None] | None = None
        self.scans = 0

    # -- public ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Deploy what is there (two looks a settle time apart); then watch if scan_interval > 0."""
        if not self.directory.is_dir():
            raise FileNotFoundError(f"contexts directory not found: {self.directory}")
        self._loop = asyncio.get_running_loop()
        if self.scan_interval > 0:
            self._start_observer()
        while await self._scan_once():
            await asyncio.sleep(self.settle)
        # with interval 0 nothing watches, but wake() (SIGHUP) still forces a rescan
        self._task = asyncio.create_task(self._run(), name="deployer-provider")

    def wake(self) -> None:
        """Thread-safe: scan now (watchdog events, SIGHUP)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._wake_event.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._observer is not None:
            observer, self._observer = self._observer, None
            observer.stop()
            await asyncio.to_thread(observer.join, 5)

    # -- the loop ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), self.scan_interval or None)
            while True:
                try:
                    unstable = await self._scan_once()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the scanner must outlive any one bad scan
                    log.exception("scan of %s failed", self.directory)
                    unstable = False
                if not unstable:
                    break
                await asyncio.sleep(self.settle)

    async def _scan_once(self) -> bool:
        """One look; delivers what is stable. Returns True when something is still settling."""
        self._wake_event.clear()
        current = await asyncio.to_thread(self._look)
        self.scans += 1
        changes: list[Change] = []
        unstable = False
        delivered = self._delivered
        differ = [p for p, sig in current.items() if delivered.get(p) != sig]
        differ += [p for p in delivered if p not in current]
        pending = set(differ)
        for path in [p for p in self._last_look if p not in pending]:
            del self._last_look[path]  # changed, then changed back before it settled
        for path in sorted(differ):
            cur = current.get(path)
            old = delivered.get(path)
            if path in self._last_look and self._last_look[path] == cur:
                del self._last_look[path]
                if cur is None:
                    changes.append(Change("remove", path))
                    del self._delivered[path]
                    self._deps.pop(path, None)
                else:
                    changes.append(Change("add" if old is None else "change", path))
                    self._delivered[path] = cur
            else:
                self._last_look[path] = cur
                unstable = True
        if changes:
            built_from = time.time_ns() - _FILE_CLOCK_SLACK_NS
            # shielded: stopping the provider must not abandon a half-done deploy; the
            # manager's own stop() waits for it and then stops what it built
            await asyncio.shield(self._handler(changes))
            touched = [c.path for c in changes if c.kind != "remove"]
            if touched:
                await asyncio.to_thread(self._record_dependencies, touched, built_from)
            self._refresh_watches()
        return unstable

    def _look(self) -> dict[Path, tuple[Any, Any]]:
        found: dict[Path, tuple[Any, Any]] = {}
        trees: dict[Path, Any] = {}
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            log.warning("cannot list %s", self.directory)
            return dict(self._delivered)
        names = self._names
        for entry in entries:
            path = names.get(entry.name, False)
            if path is False:
                path = names[entry.name] = (
                    self.directory / entry.name if is_descriptor_name(entry.name) else None
                )
            if path is None:
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if st.st_size == 0:  # created but not yet written (cp, editors): wait for content
                if path in self._delivered:
                    found[path] = self._delivered[path]
                continue
            sig = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
            deps = self._deps.get(path, ())
            found[path] = (sig, tuple(self._tree(d, trees) for d in deps) if deps else ())
        return found

    @staticmethod
    def _tree(path: Path, cache: dict[Path, Any]) -> Any:
        if path not in cache:
            cache[path] = tree_signature(path)
        return cache[path]

    def _record_dependencies(self, paths: list[Path], built_from: int) -> None:
        """The webapp trees each deployed descriptor now depends on, as the baseline for change.

        They are read after the build; a file modified since the build began may not be in what
        was built, so such a tree gets a baseline no look can match: the next scan redeploys.
        """
        trees: dict[Path, Any] = {}
        for path in paths:
            if path not in self._delivered:
                continue
            deps = tuple(self._dependencies(path))
            self._deps[path] = deps
            sig, _ = self._delivered[path]
            now = tuple(self._tree(d, trees) for d in deps)
            if any(_modified_since(tree, built_from) for tree in now):
                now = ("modified during the build",)
            self._delivered[path] = (sig, now)

    # -- watching ----------------------------------------------------------------------------------
    def _start_observer(self) -> None:
        self._observer = PollingObserver(timeout=0.05) if self.poll else Observer(timeout=0.05)
        self._observer.daemon = True
        self._watches[self.directory] = self._observer.schedule(
            _Wake(self.wake), str(self.directory), recursive=False
        )
        self._observer.start()

    def _refresh_watches(self) -> None:
        """Watch each webapp directory (recursively) or archive's parent a descriptor points at."""
        if self._observer is None:
            return
        wanted = {self.directory}
        for dep in {dep for deps in self._deps.values() for dep in deps}:
            target = self._watch_dirs.get(dep)
            if target is None:
                target = self._watch_dirs[dep] = dep if dep.is_dir() else dep.parent
            wanted.add(target)
        for gone in set(self._watches) - wanted:
            with contextlib.suppress(Exception):
                self._observer.unschedule(self._watches.pop(gone))
        for new in sorted(wanted - set(self._watches)):
            if not new.is_dir():
                continue
            try:
                self._watches[new] = self._observer.schedule(
                    _Wake(self.wake), str(new), recursive=new != self.directory
                )
            except OSError as exc:  # e.g. inotify watch limit: the rescan still covers it
                log.warning("cannot watch %s: %s", new, exc)
