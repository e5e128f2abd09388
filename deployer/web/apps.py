"""Load a webapp (WSGI, ASGI or static) from a directory or a .pyz/.zip/.war archive.

Every load imports the app afresh and keeps its modules out of ``sys.modules``: two webapps may
both have a ``models.py`` and a reload runs the edited code. The webapp's own modules are compiled
straight from source (no ``__pycache__`` read or written, so an edit within the same second is
never hidden by a stale .pyc) and see a private ``__import__`` that resolves the webapp's names
against its own module table, so imports done later at request time stay isolated too.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
import threading
import traceback
import zipfile
import zipimport
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from deployer.errors import AppLoadError

ARCHIVE_SUFFIXES = (".pyz", ".zip", ".war")
DEFAULT_WELCOME = ("index.html", "index.htm")
_LOCK = threading.RLock()  # imports touch process-wide state (sys.modules, sys.meta_path)
_real_import = builtins.__import__


def is_archive(base: Path) -> bool:
    return base.is_file() and base.suffix.lower() in ARCHIVE_SUFFIXES


def top_level_names(base: Path) -> frozenset[str]:
    """The importable top-level names a webapp provides (they shadow everything else for it).

    Modules and regular packages always count; a plain directory (a namespace package at best,
    often just ``static/`` or ``email/`` assets) only when no module elsewhere has its name.
    """
    suffixes = tuple(importlib.machinery.all_suffixes())
    names: set[str] = set()
    if is_archive(base):
        with zipfile.ZipFile(base) as zf:
            listing = zf.namelist()
        packages = {n.split("/")[0] for n in listing if n.count("/") == 1
                    and n.endswith("/__init__.py")}
        entries = [n.split("/")[0] + ("/" if "/" in n else "") for n in listing]
    else:
        packages = {p.name for p in base.iterdir() if (p / "__init__.py").is_file()}
        entries = [p.name + ("/" if p.is_dir() else "") for p in base.iterdir()]
    for entry in entries:
        if entry.endswith("/"):
            stem = entry[:-1]
            if stem not in packages and (stem in sys.stdlib_module_names or stem in sys.modules):
                continue
        elif entry.endswith(suffixes):
            stem = entry.split(".")[0]
        else:
            continue
        if stem.isidentifier():
            names.add(stem)
    return frozenset(names)


class _FreshLoader(importlib.machinery.SourceFileLoader):
    """Compile from source every time: bytecode caches can be stale within one mtime second."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


class _AppLoader:
    """Wraps a real loader so the module executes with the webapp's own ``__import__``."""

    def __init__(self, inner: Any, space: _Namespace) -> None:
        self.inner = inner
        self.space = space

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        get_code = getattr(self.inner, "get_code", None)
        if get_code is None:  # extension modules
            self.inner.exec_module(module)
            return
        module.__dict__["__builtins__"] = self.space.builtins
        exec(get_code(module.__name__), module.__dict__)  # noqa: S102 - this is an importer

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, get_data, is_package, ...
        return getattr(self.inner, name)


class _Namespace:
    """One load's private module table, finder and ``__import__``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = str(base)
        self.names = top_level_names(base)
        self.modules: dict[str, ModuleType] = {}
        self.builtins = dict(builtins.__dict__, __import__=self.import_)

    def owns(self, name: str) -> bool:
        return name.partition(".")[0] in self.names

    # importlib.abc.MetaPathFinder
    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: Any = None):
        if not self.owns(fullname):
            return None
        search = list(path) if path else [self.root]
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        if type(loader) is importlib.machinery.SourceFileLoader:
            loader = _FreshLoader(loader.name, loader.path)
        spec.loader = _AppLoader(loader, self)
        return spec

    def invalidate_caches(self) -> None:
        pass

    def import_(self, name: str, globals: Any = None, locals: Any = None,
                fromlist: Sequence[str] = (), level: int = 0) -> ModuleType:
        """``__import__`` for the webapp's modules: its own names come from its own table."""
        if level == 0 and not self.owns(name):
            return _real_import(name, globals, locals, fromlist, level)
        if level == 0:
            mod = self.modules.get(name)  # "import a.b" needs a.b loaded, then returns a
            if mod is not None:
                if not fromlist:
                    return self.modules[name.partition(".")[0]]
                if all(f == "*" or hasattr(mod, f) for f in fromlist):
                    return mod
        with self.active():
            return _real_import(name, globals, locals, fromlist, level)

    def active(self) -> _Active:
        return _Active(self)


class _Active:
    """Puts a namespace's modules into sys.modules for the length of an import, then takes them
    back out (restoring whatever the rest of the process had under the same names)."""

    def __init__(self, space: _Namespace) -> None:
        self.space = space
        self.stash: dict[str, ModuleType] = {}

    def __enter__(self) -> None:
        _LOCK.acquire()
        space = self.space
        self.stash = {k: sys.modules.pop(k) for k in list(sys.modules) if space.owns(k)}
        sys.modules.update(space.modules)
        sys.meta_path.insert(0, space)  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        space = self.space
        try:
            sys.meta_path.remove(space)  # type: ignore[arg-type]
            for k in [k for k in sys.modules if space.owns(k)]:
                space.modules[k] = sys.modules.pop(k)
            sys.modules.update(self.stash)
        finally:
            _LOCK.release()


@dataclass
class LoadedApp:
    """A loaded webapp: ``asgi`` is what the context calls (WSGI apps already bridged)."""

    kind: str  # "wsgi" | "asgi" | "static"
    asgi: Callable[..., Any]
    base: Path
    name: str = ""
    raw: Any = None  # the app object as found (the WSGI callable for "wsgi")
    modules: dict[str, ModuleType] = field(default_factory=dict)

    def unload(self) -> None:
        """Drop the webapp's modules and stop the bridge's threads."""
        close = getattr(self.asgi, "close", None)
        if callable(close):
            close()
        self.modules.clear()


def _forget_caches(base: Path) -> None:
    root = str(base)
    for key in [k for k in sys.path_importer_cache if k == root or k.startswith(root + "/")]:
        del sys.path_importer_cache[key]
    for key in [k for k in zipimport._zip_directory_cache if k == root]:  # type: ignore[attr-defined]
        del zipimport._zip_directory_cache[key]  # type: ignore[attr-defined]
    importlib.invalidate_caches()


def _is_asgi(obj: Any) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - instances with an async __call__
    return inspect.iscoroutinefunction(call)


def _entry(base: Path, application: str | None) -> tuple[str, str, str | None]:
    """(module, attribute, kind or None when it must be inspected)."""
    if application:
        module, sep, attr = application.partition(":")
        if not sep or not module or not attr:
            raise AppLoadError(f"application {application!r} must be 'package.module:attr'")
        return module, attr, None
    for module, kind in (("wsgi", "wsgi"), ("asgi", "asgi")):
        if is_archive(base):
            with zipfile.ZipFile(base) as zf:
                present = f"{module}.py" in zf.namelist()
        else:
            present = (base / f"{module}.py").is_file()
        if present:
            return module, "application", kind
    return "", "", "static"


def load_app(base: Path, application: str | None = None, name: str = "", *,
             welcome_files: Sequence[str] = DEFAULT_WELCOME, threads: int = 16) -> LoadedApp:
    """Import the webapp at ``base`` afresh; raise AppLoadError (with the traceback) on failure."""
    from deployer.web.static import StaticFiles
    from deployer.web.wsgi import WsgiBridge

    base = Path(base).resolve()
    if not (base.is_dir() or is_archive(base)):
        raise AppLoadError(f"{name or base}: webapp base {base} is neither a directory nor a "
                           f".pyz/.zip/.war archive")
    module, attr, kind = _entry(base, application)
    if kind == "static":
        return LoadedApp("static", StaticFiles(base, welcome_files), base, name)
    space = _Namespace(base)
    try:
        with _LOCK:
            _forget_caches(base)
            with space.active():
                mod = importlib.import_module(module)
        obj: Any = mod
        for part in attr.split("."):
            obj = getattr(obj, part)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit at import time is a load failure too
        what = f"{module}:{attr}" if attr else module
        raise AppLoadError(f"{name or base}: cannot load {what} from {base}: {exc!r}",
                           traceback.format_exc()) from exc
    if not callable(obj):
        raise AppLoadError(f"{name or base}: {module}:{attr} is not callable")
    if kind is None:
        kind = "asgi" if _is_asgi(obj) else "wsgi"
    asgi = WsgiBridge(obj, threads=threads) if kind == "wsgi" else obj
    return LoadedApp(kind, asgi, base, name, obj, space.modules)
