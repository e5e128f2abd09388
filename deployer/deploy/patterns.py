"""Glob patterns over a webapp's files: which paths count, and which directories a walk skips.

``reloadIncludes`` / ``reloadExcludes`` are globs relative to the war, ``/``-separated and
case-sensitive: ``*``, ``?`` and ``[...]`` stay within one directory; a ``**`` segment is any
number of directories (``templates/**/*.html`` holds ``templates/a.html``); ``*.html`` is the top
level only; a trailing ``/`` means ``/**``. Written here because ``fnmatch`` crosses ``/`` and
has no ``**``, and ``glob.translate`` arrives only with Python 3.13.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

CODE_PATTERNS = ("**/*.py", "**/*.pyc", "**/*.so", "**/*.pyd", "**/*.pth")
WAR_PATTERNS = (*CODE_PATTERNS, "lib/**")
IGNORED_SUFFIXES = (".swp", ".swo", ".swx", "~", ".tmp", ".temp", ".bak", ".orig", ".part", ".rej")
NEVER_ENTERED = frozenset({"__pycache__", "node_modules", "site-packages", "dist-packages", "cvs",
                           "cvsroot"})


def is_ignored_name(name: str) -> bool:
    """Hidden files and editor leftovers (``.#x``, ``#x#``, ``x~``, ``x.swp``, ...) never count."""
    return name.startswith((".", "#")) or name.lower().endswith(IGNORED_SUFFIXES)


def is_never_entered(name: str) -> bool:
    return name.startswith(".") or name.lower() in NEVER_ENTERED


def _segment(segment: str) -> str:
    """One path segment of a glob as a regex: ``*``, ``?`` and ``[...]`` never cross a ``/``."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + (1 if i < n and segment[i] in "!^" else 0)
            j = segment.find("]", j + 1)  # a "]" right after "[" or "[!" is a member
            if j < 0:
                out.append(r"\[")
                continue
            members = segment[i:j].replace("\\", "\\\\")
            if members[:1] in ("!", "^"):
                members = "^" + members[1:]
            out.append(f"(?!/)[{members}]")
            i = j + 1
        else:
            out.append(re.escape(c))
    return "".join(out)


def _parts(pattern: str) -> list[str]:
    """A glob's segments: relative, ``/``-separated, a trailing ``/`` meaning ``/**``."""
    pattern = pattern.strip().replace("\\", "/").lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    return [p for p in pattern.split("/") if p and p != "."]


def glob_regex(pattern: str) -> str:
    """A glob relative to a root as a regex over ``/``-separated relative paths."""
    parts = _parts(pattern)
    out: list[str] = []
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        if part == "**":
            out.append("(?:[^/]+/)*[^/]+" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment(part) + ("" if last else "/"))
    return "".join(out)


def _alternation(regexes: Iterable[str]) -> re.Pattern[str] | None:
    regexes = [r for r in regexes if r]
    if not regexes:
        return None
    return re.compile("(?:" + "|".join(f"(?:{r})" for r in regexes) + r")\Z")


@dataclass(frozen=True)
class Patterns:
    """Included unless excluded; ``prunes`` says which directories a walk need not enter.

    A walk tests every file of the tree, so includes of the form ``**/*.ext`` (the defaults) are
    tested as a suffix of the name, ``**/name`` on the name alone, and only the rest on the
    whole path: a regex with a leading ``**`` backtracks over every directory of the path."""

    includes: tuple[str, ...]
    excludes: tuple[str, ...] = ()
    _suffixes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _names: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _paths: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _path_dirs: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _exclude: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _prune: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        suffixes: list[str] = []
        names: list[str] = []
        paths: list[str] = []
        dirs: list[str] = []  # the literal leading directories of each path pattern
        for pattern in self.includes:
            parts = _parts(pattern)
            if len(parts) == 2 and parts[0] == "**" and parts[1] != "**":
                name = parts[1]
                if name.startswith("*") and not any(c in name[1:] for c in "*?["):
                    suffixes.append(name[1:])
                else:
                    names.append(_segment(name))
            else:
                paths.append(glob_regex(pattern))
                literal: list[str] = []
                for part in parts[:-1]:
                    if any(c in part for c in "*?["):
                        break
                    literal.append(part + "/")
                dirs.append("".join(literal))
        object.__setattr__(self, "_suffixes", tuple(suffixes))
        object.__setattr__(self, "_path_dirs", tuple(dirs))
        object.__setattr__(self, "_names", _alternation(names))
        object.__setattr__(self, "_paths", _alternation(paths))
        object.__setattr__(self, "_exclude", _alternation(glob_regex(p) for p in self.excludes))
        # an exclude "X/**" holds everything below X: the walk need not enter X at all
        excludes = [p.strip() for p in self.excludes]
        whole = [p.rstrip("/").removesuffix("/**") for p in excludes if p.endswith(("/**", "/"))]
        whole = [p for p in whole if p.strip("/") not in ("", "**")]
        object.__setattr__(self, "_prune", _alternation(glob_regex(p) for p in whole))

    def included(self, rel: str, name: str | None = None) -> bool:
        """``name`` is the last segment of ``rel``, when the caller has it at hand."""
        if name is None:
            name = rel.rpartition("/")[2]
        return (name.endswith(self._suffixes)
                or (self._names is not None and self._names.match(name) is not None)
                or (self._paths is not None and self._paths.match(rel) is not None))

    def paths_in(self, rel_dir: str) -> bool:
        """Whether a whole-path include may match a file of ``rel_dir`` ("" or "a/b/")."""
        return self._paths is not None and any(
            rel_dir.startswith(d) or d.startswith(rel_dir) for d in self._path_dirs)

    def matches(self, rel: str, name: str | None = None) -> bool:
        return self.included(rel, name) and not self.excluded(rel)

    def excluded(self, rel: str) -> bool:
        return self._exclude is not None and self._exclude.match(rel) is not None

    def prunes(self, rel_dir: str) -> bool:
        return self._prune is not None and self._prune.match(rel_dir) is not None
