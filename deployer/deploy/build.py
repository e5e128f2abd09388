"""From specs to running objects: ContextSpec -> WebContext, SessionManagerSpec -> SessionConfig.

Relative ``war``, ``resourceBase`` and ``storeDirectory`` values resolve against the directory of
the descriptor that wrote them, not the process's working directory (Jetty resolves a relative
storeDirectory against the JVM's cwd, JETTY.md §3.2): a contexts/ directory then means the same
thing whoever starts the server from wherever.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.descriptor.specs import ContextSpec, SessionManagerSpec
from deployer.errors import AppLoadError, DescriptorError, DescriptorErrors, Location
from deployer.sessions.manager import (
    SessionConfig,
    SessionIdManager,
    SessionManager,
    SessionScheduler,
)
from deployer.web.apps import LoadedApp, load_app
from deployer.web.context import ContextInfo, WebContext
from deployer.web.tracking import SessionTracking

INIT_COOKIE = "org.eclipse.jetty.servlet.SessionCookie"
INIT_PATH_PARAMETER = "org.eclipse.jetty.servlet.SessionIdPathParameterName"
INIT_DOMAIN = "org.eclipse.jetty.servlet.SessionDomain"
INIT_PATH = "org.eclipse.jetty.servlet.SessionPath"
INIT_MAX_AGE = "org.eclipse.jetty.servlet.MaxAge"
DEFAULT_MAX_INACTIVE = 1800  # webdefault.xml's 30 minutes


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
class Resolved:
    """A context spec's paths made absolute; what conflicts are checked against."""

    base: Path | None
    store: Path | None
    manager: SessionManagerSpec | None


def resolve(spec: ContextSpec, descriptor: Path) -> Resolved:
    """Resolve paths and check that the webapp exists, naming the line where it was set."""
    base_dir = descriptor.parent
    base: Path | None = None
    if spec.kind != "moved":
        if spec.base:
            base = resolve_path(spec.base, base_dir)
            if not base.exists():
                prop = "war" if spec.war else "resourceBase"
                where = _where(spec, "war" if spec.war else "resource_base") or Location.of(
                    descriptor)
                raise DescriptorErrors([DescriptorError(
                    where, f"{prop} {base} does not exist (resolved against {base_dir})"
                )])
        elif spec.application:
            base = base_dir
        else:
            where = spec.location or Location.of(descriptor)
            raise DescriptorErrors([DescriptorError(
                where, "no war or resourceBase set: nothing to serve"
            )])
    manager = session_manager_spec(spec)
    store = None
    if manager is not None and manager.store_directory:
        store = resolve_path(manager.store_directory, base_dir)
    return Resolved(base, store, manager)


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
    return SessionTracking(
        cookie_name=cookie,
        path_parameter=parameter,
        http_only=manager.http_only,
        secure_request_only=manager.secure_request_only,
        using_cookies=manager.using_cookies,
        domain=domain,
        path=path,
        max_age=max_age,
        refresh_cookie_age=manager.refresh_cookie_age,
    )


def preload(spec: ContextSpec, resolved: Resolved, name: str) -> LoadedApp | AppLoadError | None:
    """Import the webapp now, so a broken app is known before any session is handed over."""
    if resolved.base is None:
        return None
    try:
        return load_app(resolved.base, spec.application, name,
                        welcome_files=list(spec.welcome_files))
    except AppLoadError as exc:
        return exc


def build_context(
    spec: ContextSpec,
    resolved: Resolved,
    loaded: LoadedApp | AppLoadError | None,
    id_manager: SessionIdManager,
    name: str,
    scheduler: SessionScheduler | None = None,
) -> tuple[WebContext, SessionManager | None]:
    """The WebContext for one spec (not started) and its session manager, so the caller can hand
    sessions over before start. A failed load makes a context that answers 503. ``scheduler`` is
    the server's one SessionScheduler (else each manager runs its own thread)."""

    def factory() -> LoadedApp:
        if isinstance(loaded, AppLoadError):
            raise loaded
        assert loaded is not None
        return loaded

    sessions = tracking = None
    if resolved.manager is not None:
        sessions = SessionManager(session_config(resolved.manager, resolved.store), id_manager,
                                  name, scheduler)
        tracking = session_tracking(spec, resolved.manager)
    info = ContextInfo(
        context_path=spec.context_path,
        init_params=dict(spec.init_params),
        attributes=dict(spec.attributes),
        display_name=spec.display_name,
        welcome_files=tuple(spec.welcome_files),
    )
    context = WebContext(
        info,
        list(spec.virtual_hosts),
        factory if loaded is not None else None,
        sessions,
        tracking,
        redirect=_redirect(spec),
        name=name,
    )
    return context, sessions


def _redirect(spec: ContextSpec) -> Any:
    if spec.kind != "moved":
        return None
    from deployer.web.context import Redirect  # only MovedContextHandler needs it

    return Redirect(
        new_context_path=spec.new_context_path or "/",
        permanent=spec.permanent,
        discard_path_info=spec.discard_path_info,
        discard_query=spec.discard_query,
    )
