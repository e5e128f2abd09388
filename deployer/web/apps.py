"""What a webapp directory or archive holds: Python code to run in workers, or a static site.

Nothing is imported here (the app runs in worker processes of its own): the files say it.
``wsgi.py`` with ``application`` is a WSGI app, ``asgi.py`` an ASGI app, an explicit
``application`` (``package.module:attr``, or ``attr()`` for a factory) is inspected by the worker
once imported; anything else is served as static files.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import AppLoadError
from deployer.worker.loader import ENTRY, ENTRY_FORM

ARCHIVE_SUFFIXES = (".pyz", ".zip", ".war")


def is_archive(base: Path) -> bool:
    return base.is_file() and base.suffix.lower() in ARCHIVE_SUFFIXES


@dataclass(frozen=True)
class AppEntry:
    """``entry`` is "module:attr" for a Python app, None for a static site."""

    entry: str | None
    kind: str | None = None  # "wsgi" / "asgi" when the file name says so

    @property
    def is_python(self) -> bool:
        return self.entry is not None


def _has(base: Path, name: str) -> bool:
    if is_archive(base):
        try:
            with zipfile.ZipFile(base) as zf:
                return name in zf.namelist()
        except (OSError, zipfile.BadZipFile) as exc:
            raise AppLoadError(f"{base}: not a readable archive: {exc}") from exc
    return (base / name).is_file()


def find_app(base: Path, application: str | None = None) -> AppEntry:
    """What to run from ``base``; AppLoadError when ``application`` is malformed."""
    if application:
        if not ENTRY.fullmatch(application):
            raise AppLoadError(f"application {application!r} must be {ENTRY_FORM}")
        return AppEntry(application)
    for module in ("wsgi", "asgi"):
        if _has(base, f"{module}.py"):
            return AppEntry(f"{module}:application", module)
    return AppEntry(None)
