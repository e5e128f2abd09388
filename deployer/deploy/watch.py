"""What of a webapp redeploys it, and the signature that says it changed.

Only what can change the running code counts (DESIGN.md): a worker imports the app once, so an
edit of its code takes effect only in a new pool, while data the app writes under its own
directory (a SQLite file, uploads, logs) must never restart it. A webapp's dependencies are
*sources*, each with the directory an observer watches, a test for which event paths matter, and
a signature read from the disk:

- ``CodeTree``: the war directory, filtered by glob patterns relative to it. The defaults are the
  files Python imports code from (``*.py`` sources, ``*.pyc`` sourceless modules outside
  ``__pycache__``, ``*.so``/``*.pyd`` extension modules, ``*.pth`` path files that ``site``
  honours in ``lib/`` and pythonPath) and everything under ``lib/``, where packages installed with
  ``pip install --target`` keep their data too. ``reloadIncludes`` adds patterns,
  ``reloadExcludes`` removes them (excludes win). Only matching files are stat'ed; hidden and
  VCS directories, ``__pycache__``, ``node_modules`` and ``site-packages`` are never entered.
- ``Entry``: a .pyz/.zip/.war archive, a pythonPath file, a virtualenv's ``pyvenv.cfg``; and a
  war, pythonPath or virtualenv directory itself (replaced or moved away, its own watch is blind).
- ``Packages``: the install metadata at the top of a virtualenv's site-packages. pip writes a
  wheel's ``*.dist-info`` after the package's files, so the new entry means the code is in place;
  an uninstall removes it; a reinstall gives it a new inode.

The patterns themselves are patterns.py's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from deployer.deploy.patterns import (
    CODE_PATTERNS,
    WAR_PATTERNS,
    Patterns,
    is_ignored_name,
    is_never_entered,
)

PACKAGE_METADATA = (".dist-info", ".egg-info", ".egg-link", ".pth")

class Source(Protocol):
    """One thing a webapp depends on: where to watch, which events matter, its signature."""

    def watch_roots(self) -> tuple[tuple[Path, bool], ...]:
        """The (directory, recursive) watches it needs (a war may need several)."""
        ...

    def relevant(self, path: str, is_directory: bool, gone: bool) -> bool: ...

    def signature(self) -> Any: ...

    def modified_since(self, signature: Any, since_ns: int) -> bool: ...


def _is_virtualenv(directory: str) -> bool:
    """A virtualenv at a war's top: its packages are not the app's code (a ``virtualenv``
    setting watches the top of its site-packages instead)."""
    return os.path.exists(os.path.join(directory, "pyvenv.cfg"))


@dataclass(frozen=True)
class CodeTree:
    """A directory's files that match its patterns: (path, mtime, size, inode) each, sorted."""

    root: Path
    patterns: Patterns = Patterns(WAR_PATTERNS)

    def _relative(self, path: str) -> str | None:
        root = str(self.root)
        if path == root:
            return ""
        if not path.startswith(root + os.sep):
            return None
        return path[len(root) + 1:].replace(os.sep, "/")

    def relevant(self, path: str, is_directory: bool, gone: bool) -> bool:
        """A matching file; a directory that may have held one and left without telling."""
        rel = self._relative(path)
        if rel is None:
            return False
        if rel == "":
            return gone
        *parents, name = rel.split("/")
        if any(is_never_entered(p) for p in parents):
            return False
        if is_directory:
            if is_never_entered(name) or self.patterns.prunes(rel) or self.patterns.excluded(rel):
                return False
            return gone or self.patterns.matches(rel)
        return not is_ignored_name(name) and self.patterns.matches(rel)

    def signature(self) -> tuple[tuple[str, int, int, int], ...] | None:
        """Walks the tree (readdir only) and stats just the matching files; symlinked
        directories are not followed, as inotify does not follow them either. The test of
        each name is inlined: this loop runs once per file of the tree."""
        if not self.root.is_dir():
            return None
        patterns = self.patterns
        suffixes, names, paths = patterns._suffixes, patterns._names, patterns._paths
        found: list[tuple[str, int, int, int]] = []
        stack = [("", str(self.root))]
        while stack:
            rel, full = stack.pop()
            try:
                entries = os.scandir(full)
            except OSError:
                continue
            check_paths = paths is not None and patterns.paths_in(rel)
            with entries:
                for entry in entries:
                    name = entry.name
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    if is_dir:
                        path = rel + name
                        if not self._skips(name, path, entry.path, top=not rel):
                            stack.append((path + "/", entry.path))
                        continue
                    if not (name.endswith(suffixes)
                            or (names is not None and names.match(name) is not None)
                            or (check_paths and paths.match(rel + name) is not None)):
                        continue
                    path = rel + name
                    if is_ignored_name(name) or patterns.excluded(path):
                        continue
                    try:
                        st = entry.stat()
                    except OSError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        found.append((path, st.st_mtime_ns, st.st_size, st.st_ino))
        found.sort()
        return tuple(found)

    def _skips(self, name: str, rel: str, full: str, *, top: bool) -> bool:
        """A directory neither read nor watched: a tree that is never code (node_modules, a
        hidden one), one the patterns prune, or a virtualenv at the war's top."""
        return is_never_entered(name) or self.patterns.prunes(rel) or (top and _is_virtualenv(full))

    def modified_since(self, signature: Any, since_ns: int) -> bool:
        return bool(signature) and any(mtime >= since_ns for _, mtime, _, _ in signature)

    def watch_roots(self) -> tuple[tuple[Path, bool], ...]:
        """Where inotify watches it: the whole tree, unless its top holds a tree that is never
        read (node_modules, a hidden directory, a virtualenv), where a recursive watch would
        still add one watch per directory (3,000 of node_modules were 3,037 watches, and their
        writes woke the observer). Then the root alone, and each other top directory whole."""
        try:
            with os.scandir(self.root) as entries:
                dirs = sorted((e.name, e.path) for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            return ((self.root, True),)
        kept = [path for name, path in dirs if not self._skips(name, name, path, top=True)]
        if len(kept) == len(dirs):
            return ((self.root, True),)
        return ((self.root, False), *((Path(path), True) for path in kept))


@dataclass(frozen=True)
class Entry:
    """One file or directory by itself, watched through its parent: a file's (mtime, size,
    inode, device), a directory's (inode, device). For a directory this is what its own watch
    cannot see: ``mv app app.old && mv app.new app`` moves the watch away with the old one."""

    path: Path

    def watch_roots(self) -> tuple[tuple[Path, bool], ...]:
        return ((self.path.parent, False),)

    def relevant(self, path: str, is_directory: bool, gone: bool) -> bool:
        return path == str(self.path) or (gone and path == str(self.path.parent))

    def signature(self) -> tuple[int, ...] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        if stat.S_ISREG(st.st_mode):
            return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        if stat.S_ISDIR(st.st_mode):
            return (st.st_ino, st.st_dev)  # its contents are another source's business
        return None

    def modified_since(self, signature: Any, since_ns: int) -> bool:
        return signature is not None and len(signature) == 4 and signature[0] >= since_ns


@dataclass(frozen=True)
class Listing:
    """Install metadata by (name, inode). ``newest``, the directory's mtime (bumped by every
    entry added, removed or renamed), takes no part in equality: it only tells whether the
    listing changed while a build ran."""

    entries: tuple[tuple[str, int], ...]
    newest: int = field(default=0, compare=False)


def _is_metadata(name: str) -> bool:
    # "~name": pip's stash of what it is uninstalling, not an installed distribution
    return not name.startswith((".", "~")) and name.lower().endswith(PACKAGE_METADATA)


@dataclass(frozen=True)
class Packages:
    """The top of a virtualenv's site-packages: what pip installed, not the packages' files."""

    site_packages: Path

    def watch_roots(self) -> tuple[tuple[Path, bool], ...]:
        return ((self.site_packages, False),)

    def relevant(self, path: str, is_directory: bool, gone: bool) -> bool:
        parent, _, name = path.rpartition(os.sep)
        if parent != str(self.site_packages):
            return gone and path == str(self.site_packages)
        return _is_metadata(name)

    def signature(self) -> Listing | None:
        entries: list[tuple[str, int]] = []
        try:
            newest = self.site_packages.stat().st_mtime_ns
            with os.scandir(self.site_packages) as it:
                for entry in it:
                    if not _is_metadata(entry.name):
                        continue
                    try:
                        entries.append((entry.name, entry.inode()))
                    except OSError:
                        continue
        except OSError:
            return None
        entries.sort()
        return Listing(tuple(entries), newest)

    def modified_since(self, signature: Any, since_ns: int) -> bool:
        return signature is not None and signature.newest >= since_ns


def site_packages(virtualenv: Path) -> list[Path]:
    """A virtualenv's ``lib/python*/site-packages`` (``lib64`` is a link to ``lib``)."""
    return sorted({p.resolve() for p in virtualenv.glob("lib/python*/site-packages")
                   if p.is_dir()})


@dataclass(frozen=True)
class Dependencies:
    """Everything a deployed webapp watches; empty for a moved context or a failed first build."""

    sources: tuple[Source, ...] = ()

    @classmethod
    def of_webapp(
        cls,
        base: Path | None,
        *,
        includes: Sequence[str] = (),
        excludes: Sequence[str] = (),
        virtualenv: Path | None = None,
        python_path: Sequence[Path] = (),
    ) -> Dependencies:
        """The war (directory with patterns, or archive), its virtualenv, its pythonPath."""
        sources: list[Source] = []
        if base is not None:
            sources.append(Entry(base))
            if base.is_dir():
                sources.append(CodeTree(base, Patterns((*WAR_PATTERNS, *includes),
                                                       tuple(excludes))))
        if virtualenv is not None:
            sources += [Entry(virtualenv), Entry(virtualenv / "pyvenv.cfg")]
            sources.extend(Packages(p) for p in site_packages(virtualenv))
        for path in python_path:
            sources.append(Entry(path))
            if not path.is_file():  # a directory, or one still to come: code, not a lib/
                sources.append(CodeTree(path, Patterns(CODE_PATTERNS)))
        return cls(tuple(dict.fromkeys(sources)))

    def __bool__(self) -> bool:
        return bool(self.sources)
