"""From specs to running objects: ContextSpec -> WebContext (with its WorkerSpec or static files),
SessionManagerSpec -> SessionConfig.

Relative ``war``, ``resourceBase``, ``storeDirectory`` and ``virtualenv`` values resolve against the
directory of the descriptor that wrote them, not the process's working directory (Jetty resolves a
relative storeDirectory against the JVM's cwd, JETTY.md §3.2): a contexts/ directory then means the
same thing whoever starts the server from wherever.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.deploy.sessionstores import DEFAULT_MAX_INACTIVE, cached_manager
from deployer.deploy.watch import site_packages
from deployer.descriptor.specs import ContextSpec, ServerSpec, SessionManagerSpec
from deployer.errors import AppLoadError, DescriptorError, DescriptorErrors, Location
from deployer.sessions.cache import CachedSessionManager
from deployer.sessions.manager import (
    SessionConfig,
    SessionIdManager,
    SessionManager,
    SessionScheduler,
)
from deployer.web.apps import find_app
from deployer.web.context import ContextInfo, Redirect, WebContext
from deployer.web.process import WorkerSpec
from deployer.web.static import StaticFiles
from deployer.web.tracking import SessionTracking
from deployer.worker import wire

INIT_COOKIE = "org.eclipse.jetty.servlet.SessionCookie"
INIT_PATH_PARAMETER = "org.eclipse.jetty.servlet.SessionIdPathParameterName"
INIT_DOMAIN = "org.eclipse.jetty.servlet.SessionDomain"
INIT_PATH = "org.eclipse.jetty.servlet.SessionPath"
INIT_MAX_AGE = "org.eclipse.jetty.servlet.MaxAge"
INIT_DIR_ALLOWED = "org.eclipse.jetty.servlet.Default.dirAllowed"  # DefaultServlet's listing


def resolve_path(value: str, base_dir: Path) -> Path:
    """A path value (file: URL and ~ accepted), relative to the descriptor's directory."""
    if value.startswith("file://"):
        value = value[len("file://"):]
    elif value.startswith("file:"):
        value = value[len("file:"):]
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = base_dir / path
    return Path(os.path.abspath(path)).resolve()


def _where(spec: Any, *names: str) -> Location | None:
    for name in names:
        if name in spec.locations:
            return spec.locations[name]
    return spec.location


@dataclass(frozen=True)
class WorkerDefaults:
    """What `deployer run` sets for every context that does not say: workers and threads."""

    workers: int = 1
    threads: int = 4


@dataclass(frozen=True)
class Resolved:
    """A context spec's paths made absolute; what conflicts are checked against."""

    base: Path | None
    store: Path | None
    manager: SessionManagerSpec | None
    virtualenv: Path | None = None
    python_path: tuple[Path, ...] = ()


@dataclass
class Checked:
    """What ``check`` found: errors in the file itself, and what depends on this machine (a war
    or virtualenv that is not here); ``resolved`` when there were neither."""

    errors: list[DescriptorError]
    machine: list[DescriptorError]
    resolved: Resolved | None = None


def check(spec: ContextSpec, descriptor: Path) -> Checked:
    """Resolve paths and check that the webapp exists, naming the line where it was set."""
    base_dir = descriptor.parent
    errors: list[DescriptorError] = []
    machine: list[DescriptorError] = []
    base: Path | None = None
    if spec.kind != "moved":
        if spec.base:
            base = resolve_path(spec.base, base_dir)
            if not base.exists():
                prop = "war" if spec.war else "resourceBase"
                where = _where(spec, "war" if spec.war else "resource_base") or Location.of(
                    descriptor)
                machine.append(DescriptorError(
                    where, f"{prop} {base} does not exist (resolved against {base_dir})"))
        elif spec.application:
            base = base_dir
        else:
            errors.append(DescriptorError(spec.location or Location.of(descriptor),
                                          "no war or resourceBase set: nothing to serve"))
    manager = session_manager_spec(spec)
    store = None
    if manager is not None and manager.store_directory:
        store = resolve_path(manager.store_directory, base_dir)
    venv = None
    if spec.virtualenv:
        venv = resolve_path(spec.virtualenv, base_dir)
        if not os.access(venv / "bin" / "python", os.X_OK):
            where = _where(spec, "virtualenv") or Location.of(descriptor)
            machine.append(DescriptorError(
                where, f"virtualenv {venv} has no bin/python (resolved against {base_dir}; "
                       f"make one with: python3 -m venv {venv})"))
    paths = tuple(resolve_path(p, base_dir) for p in spec.python_path)
    if errors or machine:
        return Checked(errors, machine)
    return Checked([], [], Resolved(base, store, manager, venv, paths))


def resolve(spec: ContextSpec, descriptor: Path) -> Resolved:
    """``check``, raising what it found: `run` refuses both kinds."""
    checked = check(spec, descriptor)
    if checked.resolved is None:
        raise DescriptorErrors(checked.errors + checked.machine)
    return checked.resolved


def missing_application(spec: ContextSpec, resolved: Resolved,
                        descriptor: Path) -> DescriptorError | None:
    """An ``application`` whose module is found neither under the war, its ``lib/`` and
    pythonPath, nor (without a virtualenv) in deployer's own interpreter: the workers would fail
    to import it. None when it is found, or cannot be told without starting the app."""
    if not spec.application or resolved.base is None or not resolved.base.is_dir():
        return None
    module = spec.application.partition(":")[0]
    rel = Path(*module.split("."))
    roots = [resolved.base, resolved.base / "lib", *resolved.python_path]
    for root in roots:
        if (root / rel.with_suffix(".py")).is_file() or (root / rel / "__init__.py").is_file() \
                or (root / rel).is_dir():
            return None
    if resolved.virtualenv is None:
        if importlib.util.find_spec(module.split(".")[0]) is not None:
            return None
    elif any(next(sp.glob(f"{rel.parts[0]}*"), None) for sp in site_packages(resolved.virtualenv)):
        return None
    where = _where(spec, "application") or Location.of(descriptor)
    searched = ", ".join(str(r) for r in roots)
    return DescriptorError(where, f"application module {module!r} is not found under "
                                  f"{searched}{' or the virtualenv' if resolved.virtualenv else ''}"
                                  ": its workers would fail to start")


def session_manager_spec(spec: ContextSpec) -> SessionManagerSpec | None:
    """A WebAppContext always has sessions (Jetty's SESSIONS option); a ContextHandler if set."""
    if spec.session_handler is not None:
        return spec.session_handler.session_manager
    if spec.kind == "webapp":
        return SessionManagerSpec()
    return None


def session_config(manager: SessionManagerSpec, store: Path | None) -> SessionConfig:
    return SessionConfig(
        store_directory=store,
        lazy_load=manager.lazy_load,
        save_period=manager.save_period,
        scavenge_period=manager.scavenge_period,
        idle_save_period=manager.idle_save_period,
        delete_unrestorable=manager.delete_unrestorable_sessions,
        max_inactive_interval=(
            DEFAULT_MAX_INACTIVE if manager.max_inactive_interval is None
            else manager.max_inactive_interval
        ),
        node_id_in_session_id=manager.node_id_in_session_id,
        max_active_sessions=manager.max_active_sessions,
    )


def session_tracking(spec: ContextSpec, manager: SessionManagerSpec) -> SessionTracking:
    """Cookie settings; context init-params override the manager as AbstractSessionManager.doStart
    does: cookie name and path parameter always, domain/path only if unset, MaxAge only if -1."""
    init = spec.init_params
    cookie = init.get(INIT_COOKIE, manager.session_cookie)
    parameter = init.get(INIT_PATH_PARAMETER, manager.session_id_path_parameter_name)
    if parameter is not None and parameter.strip().lower() in ("", "none"):
        parameter = None
    domain = manager.session_domain or init.get(INIT_DOMAIN)
    path = manager.session_path or init.get(INIT_PATH)
    max_age = manager.max_cookie_age
    if max_age == -1 and INIT_MAX_AGE in init:
        try:
            max_age = int(init[INIT_MAX_AGE].strip())
        except ValueError:
            where = _where(spec, "init_params") or spec.location
            raise DescriptorErrors([DescriptorError(
                where or Location("?"),
                f"init-param {INIT_MAX_AGE} must be an integer, found {init[INIT_MAX_AGE]!r}",
            )]) from None
    comment = manager.cookie_comment or ""
    return SessionTracking(
        cookie_name=cookie,
        path_parameter=parameter,
        http_only=manager.http_only or "__HTTP_ONLY__" in comment,
        secure_request_only=manager.secure_request_only,
        using_cookies=manager.using_cookies,
        domain=domain,
        path=path,
        max_age=max_age,
        refresh_cookie_age=manager.refresh_cookie_age,
        secure=manager.secure_cookie,
        same_site=manager.same_site or _same_site_comment(comment),
    )


def _same_site_comment(comment: str) -> str | None:
    """Jetty 9.4's way to ask for SameSite: ``__SAME_SITE_LAX__`` (etc.) in the cookie comment."""
    for value in ("None", "Lax", "Strict"):
        if f"__SAME_SITE_{value.upper()}__" in comment:
            return value
    return None


def worker_environment(spec: ContextSpec, venv: Path | None,
                       environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: deployer's, as a virtualenv's ``activate`` would change it,
    then the descriptor's own variables."""
    env = dict(environ)
    env.pop("PYTHONHOME", None)
    env["PYTHONUNBUFFERED"] = "1"  # the app's prints reach the log as they happen
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)])
    env.update(spec.environment)
    return env


def _jsonable(value: Any) -> Any:
    """A context attribute as a worker can receive it (anything else becomes its text): checked
    with the encoder the CONFIG frame is made with."""
    try:
        wire.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return str(value)
    return value


def webapp(spec: ContextSpec, resolved: Resolved, name: str, *, defaults: WorkerDefaults,
           environ: Mapping[str, str], worker_name: str | None,
           max_inactive: int) -> WorkerSpec | StaticFiles | None:
    """What serves the context: workers for Python code, files for a static site."""
    base = resolved.base
    if base is None:
        return None
    found = find_app(base, spec.application)
    if not found.is_python:
        allowed = spec.init_params.get(INIT_DIR_ALLOWED, "").strip().lower() == "true"
        return StaticFiles(base, list(spec.welcome_files),
                           list_directories=spec.directories_listed or allowed)
    python = str(resolved.virtualenv / "bin" / "python") if resolved.virtualenv else sys.executable
    return WorkerSpec(
        name=name, base=base, entry=found.entry or "", kind=found.kind, python=python,
        env=worker_environment(spec, resolved.virtualenv, environ),
        paths=tuple(str(p) for p in resolved.python_path),
        workers=spec.workers or defaults.workers, threads=spec.threads or defaults.threads,
        start_timeout=float(spec.start_timeout), max_requests=spec.max_requests,
        request_timeout=float(spec.request_timeout),
        context={"context_path": spec.context_path, "init_params": dict(spec.init_params),
                 "attributes": {k: _jsonable(v) for k, v in spec.attributes.items()},
                 "display_name": spec.display_name},
        worker_name=worker_name, max_inactive=max_inactive,
    )


def build_context(
    spec: ContextSpec,
    resolved: Resolved,
    id_manager: SessionIdManager,
    name: str,
    scheduler: SessionScheduler | None = None,
    *,
    defaults: WorkerDefaults | None = None,
    environ: Mapping[str, str] | None = None,
    on_failed: Callable[[WebContext, AppLoadError], None] | None = None,
    server: ServerSpec | None = None,
    properties: Mapping[str, str] | None = None,
) -> tuple[WebContext, SessionManager | CachedSessionManager | None]:
    """The WebContext for one spec (not started) and its session manager, so the caller can hand
    sessions over before start. ``scheduler`` is the server's one SessionScheduler (else each
    manager runs its own thread). ``server`` holds a server descriptor's session beans, which
``properties`` may complete. A malformed application raises AppLoadError."""
    sessions = tracking = None
    config = None
    if resolved.manager is not None:
        config = session_config(resolved.manager, resolved.store)
        sessions = cached_manager(spec, resolved.manager, server or ServerSpec(),
                                  properties or {}, id_manager, name) \
            or SessionManager(config, id_manager, name, scheduler)
        tracking = session_tracking(spec, resolved.manager)
    app = webapp(spec, resolved, name, defaults=defaults or WorkerDefaults(),
                 environ=os.environ if environ is None else environ,
                 worker_name=id_manager.worker_name,
                 max_inactive=config.max_inactive_interval if config else DEFAULT_MAX_INACTIVE)
    info = ContextInfo(
        context_path=spec.context_path,
        init_params=dict(spec.init_params),
        attributes=dict(spec.attributes),
        display_name=spec.display_name,
        welcome_files=tuple(spec.welcome_files),
    )
    context = WebContext(info, list(spec.virtual_hosts), app, sessions, tracking,
                         redirect=_redirect(spec), name=name, on_failed=on_failed)
    return context, sessions


def _redirect(spec: ContextSpec) -> Redirect | None:
    if spec.kind != "moved":
        return None
    return Redirect(
        new_context_path=spec.new_context_path or "/",
        permanent=spec.permanent,
        discard_path_info=spec.discard_path_info,
        discard_query=spec.discard_query,
    )
