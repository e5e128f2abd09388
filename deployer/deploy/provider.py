"""Scanning contexts/: watchdog wakes us, a rescan is the truth, a settle rule debounces.

Jetty's Scanner (JETTY.md §2.4) acts only on a file whose (mtime, size) was the same on two
scans one interval apart, so an edit takes one to two seconds to land. Here inotify (or
polling) only *wakes* the scanner: it looks at once and again a short settle time later, and a
path whose signature is the same on both looks is delivered. The periodic rescan still runs, so
a missed event costs at most one interval. Events carry no meaning beyond "look now": a burst
of them (temp file written, renamed over, bytecode cache touched) is one rescan, and comparing
each path's signature with what was last delivered coalesces them per path.

A descriptor's signature also holds those of its webapp's dependencies (watch.py: its code, its
packages, its archive, never its data), so an edit of the app's code redeploys its context. They
are not re-read on every scan, which cost a core's worth on big trees: an event under a webapp
that concerns one of its sources marks that source, a descriptor still settling re-reads its
own, and each source is re-verified every VERIFY_SCANS scans (30 s by default), later still if
reading it is slow, so that verifying costs at most VERIFY_BUDGET of a core. That net is for what
inotify loses (a queue overflow, a sub-directory past the watch limit): rare, and logged by
watchdog. A source without a watch (``--poll``, a missing directory, a watch refused) is read
on every scan, as there is nothing else to tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch
from watchdog.observers.polling import PollingObserver

from deployer.deploy.patterns import is_ignored_name
from deployer.deploy.watch import Dependencies, Source
from deployer.tasks import cancel_and_wait

log = logging.getLogger("deployer.deploy")

VERIFY_SCANS = 30  # a source with a live watch is re-read at least every this many scans...
VERIFY_BUDGET = 0.01  # ...or less often, so that re-reading it costs at most 1 % of a core
_QUIET_EVENTS = {"opened", "closed_no_write"}
# what a webapp's watch asks inotify for: writes and `touch` (attrib), not reads (open, close
# without write), which would wake the observer thread for every static file served
_SOURCE_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileDeletedEvent, FileMovedEvent,
    FileClosedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]
_NO_DEPENDENCIES = Dependencies()
H = TypeVar("H", bound=FileSystemEventHandler)


class _Overflows(logging.Filter):
    """An inotify queue overflow (events were lost) reaches no event handler: watchdog logs it
    and rebuilds its own watches. This filter on watchdog's logger turns it into a full rescan of
    every running provider (what SIGHUP does), and lets one such line a minute through (12,000
    directories logged it 33 times in 10 s)."""

    QUIET = 60.0

    def __init__(self) -> None:
        super().__init__()
        self.providers: weakref.WeakSet[Provider] = weakref.WeakSet()
        self.last = -self.QUIET

    def filter(self, record: logging.LogRecord) -> bool:
        if "overflow" not in record.getMessage():
            return True
        for provider in list(self.providers):
            provider.wake()
        now = time.monotonic()
        if now - self.last < self.QUIET:
            return False
        self.last = now
        record.msg = f"{record.msg} (a full rescan follows; logged at most once a minute)"
        return True


_overflows = _Overflows()
for _name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
    logging.getLogger(_name).addFilter(_overflows)


def is_descriptor_name(name: str) -> bool:
    """Jetty's WebAppProvider filter, for descriptors only: visible *.xml, no editor leftovers."""
    return not is_ignored_name(name) and name.lower().endswith(".xml")


# File mtimes come from the kernel's coarse clock, up to a whole tick behind time.time_ns()
# (5 ms at HZ=200: a fixed 5 ms slack lost a change once in a loaded CI run). Read that clock
# itself where it exists (Linux's CLOCK_REALTIME_COARSE): a file written after it was read
# never has an older mtime. Elsewhere, a slack under the settle time.
_CLOCK_REALTIME_COARSE = 5  # <linux/time.h>; Python's time module does not name it
_FILE_CLOCK_SLACK_NS = 5_000_000


def file_clock_ns() -> int:
    """Now, on the clock file mtimes are stamped with (never ahead of a later mtime)."""
    if sys.platform == "linux":
        return time.clock_gettime_ns(_CLOCK_REALTIME_COARSE)
    return time.time_ns() - _FILE_CLOCK_SLACK_NS


@dataclass(frozen=True)
class Change:
    """One delivered event: kind is "add", "change" or "remove"."""

    kind: str
    path: Path


Handler = Callable[[list[Change]], Awaitable[None]]
DependenciesOf = Callable[[Path], Dependencies]


class _Wake(FileSystemEventHandler):
    """The contexts directory: any event is a reason to look."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _QUIET_EVENTS:
            self._wake()


class _Route(FileSystemEventHandler):
    """A webapp directory: marks the sources an event concerns (in the observer's thread, so
    the writes of an app's data never reach the event loop). A directory made or moved right
    under it may change where its sources are watched (CodeTree.watch_roots)."""

    def __init__(self, mark: Callable[[tuple[Source, ...]], None], directory: Path,
                 restructure: Callable[[], None]) -> None:
        self._mark = mark
        self._directory = str(directory)
        self._restructure = restructure
        self.sources: tuple[Source, ...] = ()  # replaced whole, read without a lock

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory and event.event_type == "modified":
            return  # a file in it changed: that file's own event says whether it matters
        if event.is_directory and event.event_type in ("created", "moved") and any(
                os.path.dirname(os.fsdecode(p)) == self._directory
                for p in (event.src_path, event.dest_path) if p):
            self._restructure()
        gone = event.event_type in ("deleted", "moved")
        paths = [os.fsdecode(p) for p in (event.src_path, event.dest_path) if p]
        hit = tuple(s for s in self.sources
                    if any(s.relevant(p, event.is_directory, gone) for p in paths))
        if hit:
            self._mark(hit)


@dataclass
class _Watched(Generic[H]):
    watch: ObservedWatch
    handler: H  # what the observer calls for this watch's events
    identity: tuple[int, int]  # the directory's (inode, device): a new directory needs a new watch


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_dev) if stat.S_ISDIR(st.st_mode) else None


class Provider:
    """Delivers batches of add/change/remove for the descriptors of one directory, sorted."""

    def __init__(
        self,
        directory: Path,
        handler: Handler,
        *,
        dependencies: DependenciesOf | None = None,
        scan_interval: float = 1.0,
        poll: bool = False,
        settle: float = 0.01,
    ) -> None:
        if scan_interval < 0:
            raise ValueError("scan_interval must be >= 0")
        self.directory = Path(directory).resolve()
        self._handler = handler
        self._dependencies = dependencies or (lambda _p: _NO_DEPENDENCIES)
        self.scan_interval = scan_interval
        self.poll = poll
        self.settle = settle
        self._delivered: dict[Path, tuple[Any, Any]] = {}
        self._deps: dict[Path, Dependencies] = {}
        self._last_look: dict[Path, tuple[Any, Any] | None] = {}
        # each name of the last listing -> its path, None when not a descriptor
        self._names: dict[str, Path | None] = {}
        self._latest: dict[Source, Any] = {}  # each source's signature when last read
        self._due: dict[Source, float] = {}  # when each is verified again (monotonic)
        self._marked: set[Source] = set()  # events say these may have changed
        self._unwatched: frozenset[Source] = frozenset()  # no watch: read on every scan
        self._verify_all = False
        self._wake_event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: Any = None
        self._watches: dict[tuple[Path, bool], _Watched[_Route]] = {}
        self._task: asyncio.Task[None] | None = None
        self._contexts_watch: _Watched[_Wake] | None = None  # contexts/ itself
        self._watches_stale = False  # a new directory may change where sources are watched
        self._contexts_identity: tuple[int, int] | None = None  # as the last look found it
        self.scans = 0
        self.wakes = 0  # events on contexts/ (its watch is alive)
        self.reads = 0  # source signatures read from the disk: what watching costs
        self.marks = 0  # events under a webapp that concerned one of its sources
        self.replans = 0  # watches re-planned for a directory made or moved under a webapp

    # -- public ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Deploy what is there (two looks a settle time apart); then watch if scan_interval > 0."""
        if not self.directory.is_dir():
            raise FileNotFoundError(f"contexts directory not found: {self.directory}")
        self._loop = asyncio.get_running_loop()
        if self.scan_interval > 0:
            _overflows.providers.add(self)
            self._start_observer()
        while await self._scan_once():
            await asyncio.sleep(self.settle)
        # with interval 0 nothing watches, but wake() (SIGHUP) still forces a rescan
        self._task = asyncio.create_task(self._run(), name="deployer-provider")

    def wake(self) -> None:
        """Thread-safe: rescan now, re-reading every webapp's sources (SIGHUP)."""
        self._call(self._wake_all)

    async def stop(self) -> None:
        _overflows.providers.discard(self)
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._observer is not None:
            observer, self._observer = self._observer, None
            observer.stop()
            await asyncio.to_thread(observer.join, 5)
            self._watches.clear()

    # -- wake-ups (any thread) -------------------------------------------------------------------
    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback, *args)

    def _restructure(self) -> None:
        """Any thread: a directory appeared under a watched one; re-plan the watches."""
        self._watches_stale = True
        self._poke()

    def _poke(self) -> None:
        self.wakes += 1
        self._call(self._wake_event.set)

    def _mark(self, sources: tuple[Source, ...]) -> None:
        self._call(self._on_event, sources)

    def _on_event(self, sources: tuple[Source, ...]) -> None:
        self.marks += 1
        self._on_marked(sources)

    def _on_marked(self, sources: tuple[Source, ...]) -> None:
        self._marked.update(sources)
        self._wake_event.set()

    def _wake_all(self) -> None:
        self._verify_all = True
        self._wake_event.set()

    # -- the loop ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.scan_interval or None):
                    await self._wake_event.wait()
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
        current = await asyncio.to_thread(self._look, self._to_read())
        self.scans += 1
        self._rewatch_contexts()
        if self._watches_stale:
            self._watches_stale = False
            rewatched = await asyncio.to_thread(self._refresh_watches)
            self.replans += 1
            if rewatched:  # read them again at once: see _refresh_watches
                self._marked |= rewatched
                self._wake_event.set()
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
                else:
                    changes.append(Change("add" if old is None else "change", path))
                    self._delivered[path] = cur
            else:
                self._last_look[path] = cur
                unstable = True
        if changes:
            built_from = file_clock_ns()
            # shielded: stopping the provider must not abandon a half-done deploy; the
            # manager's own stop() waits for it and then stops what it built
            await asyncio.shield(self._handler(changes))
            again = await asyncio.to_thread(self._after_delivery, changes, built_from)
            if again:
                self._on_marked(again)
        return unstable

    def _to_read(self) -> set[Source]:
        """On the loop: the sources this look reads from the disk; takes the events' marks."""
        fresh = self._marked | self._unwatched
        self._marked = set()
        for path in self._last_look:  # still settling: each look must see its files again
            fresh.update(self._deps.get(path, _NO_DEPENDENCIES).sources)
        if self._verify_all:
            self._verify_all = False
            fresh.update(self._due)
        else:
            now = time.monotonic()
            fresh.update(s for s, due in self._due.items() if due <= now)
        return fresh

    def _look(self, fresh: set[Source]) -> dict[Path, tuple[Any, Any]]:
        found: dict[Path, tuple[Any, Any]] = {}
        read: dict[Source, Any] = {}
        self._contexts_identity = _identity(self.directory)
        try:
            entries = list(os.scandir(self.directory))
        except OSError as exc:
            if self._contexts_identity is not None:
                log.warning("cannot list %s: %s", self.directory, exc.strerror or exc)
            return dict(self._delivered)  # gone (or unreadable): what was deployed keeps serving
        known = self._names
        names: dict[str, Path | None] = {}
        self._names = names  # this listing's names only: temp files' names do not pile up
        for entry in entries:
            path = known.get(entry.name, False)
            if path is False:
                path = self.directory / entry.name if is_descriptor_name(entry.name) else None
            names[entry.name] = path
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
            sources = self._deps.get(path, _NO_DEPENDENCIES).sources
            found[path] = (sig, tuple(self._read(s, fresh, read) for s in sources))
        return found

    def _read(self, source: Source, fresh: set[Source], read: dict[Source, Any]) -> Any:
        """A source's signature: read from the disk when fresh (once per look), else the last."""
        if source not in read:
            if source in fresh or source not in self._latest:
                started = time.perf_counter()
                self._latest[source] = source.signature()
                took = time.perf_counter() - started
                self._due[source] = time.monotonic() + max(VERIFY_SCANS * self.scan_interval,
                                                           took / VERIFY_BUDGET)
                self.reads += 1
            read[source] = self._latest[source]
        return read[source]

    def _after_delivery(self, changes: list[Change], built_from: int) -> set[Source]:
        """What each deployed descriptor now depends on, watched, and read as the baseline for
        change. Watched first, so an edit from then on is an event. A source modified since the
        build began may not be in what was built: its baseline is one no look can match, and it
        is returned to be read again at once, so the next looks redeploy."""
        for change in changes:
            if change.kind == "remove":
                self._deps.pop(change.path, None)
            elif change.path in self._delivered:
                self._deps[change.path] = self._dependencies(change.path)
        self._refresh_watches()
        again: set[Source] = set()
        read: dict[Source, Any] = {}
        for change in changes:
            deps = self._deps.get(change.path)
            if change.kind == "remove" or deps is None:
                continue
            fresh = set(deps.sources)
            now = tuple(self._read(s, fresh, read) for s in deps.sources)
            pairs = zip(deps.sources, now, strict=True)
            if any(source.modified_since(sig, built_from) for source, sig in pairs):
                now = ("modified during the build",)
                again.update(deps.sources)
            self._delivered[change.path] = (self._delivered[change.path][0], now)
        return again

    # -- watching ----------------------------------------------------------------------------------
    def _start_observer(self) -> None:
        self._observer = PollingObserver(timeout=0.05) if self.poll else Observer(timeout=0.05)
        self._observer.daemon = True
        self._contexts_identity = _identity(self.directory)
        self._watch_contexts()
        self._observer.start()

    def _watch_contexts(self) -> None:
        identity = self._contexts_identity
        if identity is None or self._observer is None:
            return
        wake = _Wake(self._poke)
        try:
            watch = self._observer.schedule(wake, str(self.directory), recursive=False)
        except OSError as exc:
            log.warning("cannot watch %s: %s; rescanning every %g s", self.directory, exc,
                        self.scan_interval)
            return
        self._contexts_watch = _Watched(watch, wake, identity)

    def _rewatch_contexts(self) -> None:
        """contexts/ deleted (its inotify watch dies with it) or replaced by a new directory:
        the contexts keep serving meanwhile, and the new directory is watched from the first
        scan that sees it, so hot deployment is event-driven again, not once per rescan."""
        watched = self._contexts_watch
        identity = self._contexts_identity
        if self._observer is None or (watched is not None and watched.identity == identity):
            return
        if watched is not None:
            self._contexts_watch = None
            with contextlib.suppress(Exception):
                self._observer.unschedule(watched.watch)
            if identity is None:
                log.warning("contexts directory %s is gone: what is deployed keeps serving "
                            "until it comes back", self.directory)
        if identity is not None:
            self._watch_contexts()
            if watched is not None or self._contexts_watch is not None:
                log.info("watching %s again", self.directory)

    def _refresh_watches(self) -> set[Source]:
        """Watch each source's directory (a war recursively, an archive's or site-packages'
        alone) with inotify; under --poll none is watched, as polling a tree is what a scan does
        more cheaply (it stats only the files that count). Returns the sources whose watch was
        replaced: an edit between the old watch's end and the new one's start reaches neither
        (a __pycache__ made at a war's top turns its one recursive watch into several), so the
        caller reads them again."""
        live = {s for deps in self._deps.values() for s in deps.sources}
        for gone in set(self._latest) - live:
            del self._latest[gone]
            self._due.pop(gone, None)
        wanted: dict[tuple[Path, bool], list[Source]] = {}
        for source in sorted(live, key=repr):
            for key in source.watch_roots():
                wanted.setdefault(key, []).append(source)
        was_watched: set[Source] = set()
        for key in set(self._watches) - set(wanted):
            was_watched.update(self._watches[key].handler.sources)
            self._unschedule(key)
        unwatched: set[Source] = set()
        rewatched: set[Source] = set()
        for key, sources in wanted.items():
            watched = self._watches.get(key)
            identity = _identity(key[0])
            if watched is not None and watched.identity != identity:
                was_watched.update(watched.handler.sources)
                self._unschedule(key)  # deleted, or replaced by a new directory of that name
                watched = None
            if watched is None and identity is not None:
                watched = self._schedule(key, identity)
                if watched is not None:
                    rewatched.update(s for s in sources if s in was_watched)
            if watched is None:
                unwatched.update(sources)
            else:
                watched.handler.sources = tuple(sources)
        self._unwatched = frozenset(unwatched)
        return rewatched

    def _schedule(self, key: tuple[Path, bool],
                  identity: tuple[int, int]) -> _Watched[_Route] | None:
        if self._observer is None or self.poll:
            return None
        directory, recursive = key
        route = _Route(self._mark, directory, self._restructure)
        try:
            watch = self._observer.schedule(route, str(directory), recursive=recursive,
                                            event_filter=_SOURCE_EVENTS)
        except OSError as exc:  # e.g. the inotify watch limit: it is read on every scan instead
            log.warning("cannot watch %s: %s", directory, exc)
            return None
        self._watches[key] = _Watched(watch, route, identity)
        return self._watches[key]

    def _unschedule(self, key: tuple[Path, bool]) -> None:
        watched = self._watches.pop(key, None)
        if watched is not None and self._observer is not None:
            with contextlib.suppress(Exception):
                self._observer.unschedule(watched.watch)
