"""Make the war importable as ``python -m`` would, then import the app from it.

The war (a directory or a .pyz/.zip/.war archive) is ``sys.path[0]`` and, for a directory, the
working directory, so ``importlib.import_module``, ``pkgutil``, ``__import__`` and every
framework's own loader find the app's modules. ``lib/`` of the war (packages installed there with
``pip install --target``, as Java puts jars in WEB-INF/lib) and the descriptor's pythonPath go
right before site-packages, with their ``.pth`` files honoured.

The war's own modules are compiled from source, never from ``__pycache__``: a .pyc records its
source's mtime in whole seconds and its size, so an edit saved within the second that kept the
size (``c1`` -> ``c2``) would otherwise run the old code in the new version.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import re
import site
import sys
from collections.abc import Callable
from typing import Any

_INSTALLED = frozenset({"site-packages", "dist-packages"})
# What a descriptor's ``application`` names, checked by the descriptor, the front and here alike.
ENTRY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(\))?")
ENTRY_FORM = "'package.module:attr' (or 'package.module:factory()')"


class LoadError(Exception):
    """The app cannot be found or imported; the message says what was looked for where."""


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compile from source every time; write no bytecode beside the app's files."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


def _fresh_finder_hook(root: str) -> Callable[[str], Any]:
    """A path hook for the war's own directories; installed packages keep their bytecode."""
    prefix = root.rstrip(os.sep) + os.sep
    lib = prefix + "lib"
    loaders = [
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        (_FreshSourceLoader, importlib.machinery.SOURCE_SUFFIXES),
        (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
    ]

    def hook(path: str) -> Any:
        if path != root and not path.startswith(prefix):
            raise ImportError("not the war")  # the next hook takes it
        if path == lib or path.startswith(lib + os.sep) or _INSTALLED.intersection(
                path[len(prefix):].split(os.sep)):
            raise ImportError("installed packages")  # a venv or lib/ inside the war
        if not os.path.isdir(path):
            raise ImportError("not a directory")
        return importlib.machinery.FileFinder(path, *loaders)

    return hook


def _site_index() -> int:
    """Where site-packages starts on sys.path (its end when there is none)."""
    for i, entry in enumerate(sys.path):
        if entry.rstrip(os.sep).endswith(("site-packages", "dist-packages")):
            return i
    return len(sys.path)


def _archive_has_dir(archive: str, name: str) -> bool:
    import zipfile  # only for an archive: a worker's boot is on every redeploy's clock

    try:
        with zipfile.ZipFile(archive) as zf:
            return any(n.startswith(name + "/") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def prepare_path(base: str, extra: list[str]) -> list[str]:
    """Put the war first, ``lib/`` and ``extra`` before site-packages; return what was added."""
    is_dir = os.path.isdir(base)
    if is_dir:
        os.chdir(base)
        sys.path_hooks.insert(0, _fresh_finder_hook(base))
    else:
        os.chdir(os.path.dirname(base) or "/")
    sys.path.insert(0, base)
    libs: list[str] = []
    lib = os.path.join(base, "lib")
    if (is_dir and os.path.isdir(lib)) or (not is_dir and _archive_has_dir(base, "lib")):
        libs.append(lib)
    libs.extend(p for p in extra if p not in libs)
    added: list[str] = [base]
    for path in libs:
        before = set(sys.path)
        site.addsitedir(path)  # appends it and what its .pth files name
        new = [p for p in sys.path if p not in before]
        for p in new:
            sys.path.remove(p)
        index = _site_index()
        sys.path[index:index] = new
        added.extend(new)
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
    return added


def is_asgi(obj: Any) -> bool:
    import inspect  # only for an explicit application, whose kind the file name does not say

    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - an instance with an async __call__
    return inspect.iscoroutinefunction(call)


def load_app(entry: str, kind: str | None) -> tuple[Any, str]:
    """Import ``module:attr`` (``attr()`` calls a factory); return (app, "wsgi" | "asgi")."""
    if not ENTRY.fullmatch(entry):
        raise LoadError(f"application {entry!r} must be {ENTRY_FORM}")
    module_name, _, attr = entry.partition(":")
    factory = attr.endswith("()")
    if factory:
        attr = attr[:-2]
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LoadError(f"{module_name} ({getattr(module, '__file__', '?')}) has no "
                            f"attribute {attr!r}") from None
    if factory:
        obj = obj()
    if not callable(obj):
        raise LoadError(f"{entry} is {type(obj).__name__}, not a WSGI or ASGI callable")
    if kind not in ("wsgi", "asgi"):
        kind = "asgi" if is_asgi(obj) else "wsgi"
    return obj, kind
