"""The classes deployer provides, in the registry's terms (registered by registry.py on import).

Property tables follow Jetty 9.3's setters (JETTY.md 3.2 for the session manager); a SessionHandler
also takes the manager's settings directly, as 9.4's SessionHandler does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.descriptor.registry import ClassInfo, Method, Param, Prop, Registry
from deployer.descriptor.sessionspecs import SessionCacheSpec, SessionDataStoreSpec
from deployer.descriptor.specs import (
    ContextSpec,
    ServerSpec,
    SessionHandlerSpec,
    SessionIdManagerSpec,
    SessionManagerSpec,
    Spec,
)
from deployer.worker.loader import ENTRY, ENTRY_FORM


@dataclass
class ResourceHandlerSpec(Spec):
    """A ResourceHandler before it is set as a context's handler (its settings then move there)."""

    resource_base: str | None = None
    directories_listed: bool | None = None
    welcome_files: list[str] | None = None


@dataclass
class CookieConfigSpec(Spec):
    """What getSessionCookieConfig() returns: a view that writes into its session manager."""

    manager: SessionManagerSpec = field(default_factory=SessionManagerSpec)


def _context_path(value: str | None) -> str:
    """ContextHandler.setContextPath: "/x/*" and "/x/" lose the suffix; a path starts with "/"."""
    if value is None:
        raise ValueError("a context path is required, got nothing (null)")
    if value.endswith("/*"):
        value = value[:-2] or "/"
    elif len(value) > 1 and value.endswith("/"):
        value = value.rstrip("/") or "/"
    if not value.startswith("/"):
        raise ValueError(f"a context path starts with '/', got {value!r}")
    return value


def _worker_name(value: str | None) -> str | None:
    if value is not None and "." in value:
        raise ValueError(f"a worker name must not contain '.', got {value!r}")
    return value


def _bounded(low: int, high: int, unit: str = "") -> Any:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}{unit}, got {value}")
        return value

    return check


def _application(value: str | None) -> str | None:
    if value is not None and not ENTRY.fullmatch(value.strip()):
        raise ValueError(f"must be {ENTRY_FORM}, got {value!r}")
    return value.strip() if value is not None else None


def _environment(value: dict[str, str]) -> dict[str, str]:
    for name, val in value.items():
        if not name or "=" in name or "\0" in name or "\0" in val:
            raise ValueError(f"{name!r} is not a usable environment variable (no '=', no NUL)")
    return value


def _set_environment(ctx: ContextSpec, name: str, value: str) -> None:
    ctx.environment.update(_environment({name: value}))


# deployer's own settings of a Python webapp's worker processes (README "Workers")
WORKER_PROPS: dict[str, Prop] = {
    "Workers": Prop("workers", "int", convert=_bounded(1, 256)),
    "Threads": Prop("threads", "int", convert=_bounded(1, 1024)),
    "Virtualenv": Prop("virtualenv", "path"),
    "Environment": Prop("environment", "map", convert=_environment),
    "PythonPath": Prop("python_path", "strings"),
    "MaxRequests": Prop("max_requests", "int", convert=_bounded(0, 1 << 31)),
    "StartTimeout": Prop("start_timeout", "int", convert=_bounded(1, 86400, " seconds")),
    "RequestTimeout": Prop("request_timeout", "int", convert=_bounded(0, 86400, " seconds")),
    "ReloadIncludes": Prop("reload_includes", "strings"),
    "ReloadExcludes": Prop("reload_excludes", "strings"),
}


def _path_parameter(value: str | None) -> str | None:
    return None if value in (None, "none") else value


_SAME_SITE = {"none": "None", "lax": "Lax", "strict": "Strict"}


def _same_site(value: str | None) -> str | None:
    """Jetty 10-12's HttpCookie.SameSite (NONE, LAX, STRICT), in any case; null unsets it."""
    if value is None:
        return None
    found = _SAME_SITE.get(value.strip().lower())
    if found is None:
        raise ValueError(f"SameSite is one of None, Lax, Strict, got {value!r}")
    return found


def _merge_handler(ctx: ContextSpec, handler: ResourceHandlerSpec) -> None:
    if handler.resource_base is not None:
        ctx.resource_base = handler.resource_base
    if handler.directories_listed is not None:
        ctx.directories_listed = handler.directories_listed
    if handler.welcome_files is not None:
        ctx.welcome_files = list(handler.welcome_files)


def _session_handler(ctx: ContextSpec) -> SessionHandlerSpec:
    """getSessionHandler(): made on first use with a default HashSessionManager, as Jetty does."""
    if ctx.session_handler is None:
        ctx.session_handler = SessionHandlerSpec(location=ctx.location)
    return ctx.session_handler


def _add_bean(server: ServerSpec, bean: Any) -> None:
    """Server.addBean: the session beans a server descriptor adds (anything else is refused)."""
    if not isinstance(bean, (SessionDataStoreSpec, SessionCacheSpec, SessionIdManagerSpec)):
        raise ValueError("deployer's Server takes session beans only: a SessionDataStoreFactory, "
                         "a SessionCacheFactory or a SessionIdManager")
    server.beans.append(bean)


def _m(*params: tuple[str, str]) -> tuple[Param, ...]:
    return tuple(Param(n, k) for n, k in params)


MANAGER_PROPS: dict[str, Prop] = {
    "StoreDirectory": Prop("store_directory", "path"),
    "LazyLoad": Prop("lazy_load", "bool"),
    "SavePeriod": Prop("save_period", "int"),
    "ScavengePeriod": Prop("scavenge_period", "int"),
    "IdleSavePeriod": Prop("idle_save_period", "int"),
    "DeleteUnrestorableSessions": Prop("delete_unrestorable_sessions", "bool"),
    "MaxInactiveInterval": Prop("max_inactive_interval", "int"),
    "SessionCookie": Prop("session_cookie", "string"),
    "SessionIdPathParameterName": Prop("session_id_path_parameter_name", "string",
                                       convert=_path_parameter),
    "HttpOnly": Prop("http_only", "bool"),
    "SecureRequestOnly": Prop("secure_request_only", "bool"),
    "UsingCookies": Prop("using_cookies", "bool"),
    "NodeIdInSessionId": Prop("node_id_in_session_id", "bool"),
    "CheckingRemoteSessionIdEncoding": Prop("check_remote_session_id_encoding", "bool"),
    "RefreshCookieAge": Prop("refresh_cookie_age", "int"),
    "SessionDomain": Prop("session_domain", "string"),
    "SessionPath": Prop("session_path", "string"),
    "MaxCookieAge": Prop("max_cookie_age", "int"),
    "SameSite": Prop("same_site", "string", convert=_same_site),
    "SessionIdManager": Prop("session_id_manager", "SessionIdManager"),
    "MaxActiveSessions": Prop("max_active_sessions", "int", convert=_bounded(1, 100_000_000)),
}

COOKIE_FIELDS = {"Name": ("session_cookie", "string"), "Domain": ("session_domain", "string"),
                 "Path": ("session_path", "string"), "MaxAge": ("max_cookie_age", "int"),
                 "HttpOnly": ("http_only", "bool"), "Secure": ("secure_cookie", "bool"),
                 "Comment": ("cookie_comment", "string")}


_COOKIE_ATTRIBUTES = {"samesite": ("same_site", _same_site), "comment": ("cookie_comment", str)}


def _cookie_attribute(config: CookieConfigSpec, name: str, value: str | None) -> None:
    """Servlet 6 (Jetty 12 ee10) SessionCookieConfig.setAttribute: the cookie attributes deployer
    sends; ``SameSite`` is the one only this form (or the session handler's) can set."""
    key = (name or "").strip().lower()
    manager = config.manager
    if key in ("secure", "httponly"):
        flag = (value or "").strip().lower()
        if flag not in ("true", "false", ""):
            raise ValueError(f"cookie attribute {name} is true or false, got {value!r}")
        setattr(manager, "secure_cookie" if key == "secure" else "http_only", flag != "false")
    elif key in _COOKIE_ATTRIBUTES:
        target, convert = _COOKIE_ATTRIBUTES[key]
        setattr(manager, target, convert(value) if value is not None else None)
    else:
        raise ValueError(f"deployer sets no cookie attribute {name!r} (SameSite, Secure, "
                         "HttpOnly and Comment; name, domain, path and maxAge have setters)")


def _cookie_config(manager: SessionManagerSpec) -> CookieConfigSpec:
    return CookieConfigSpec(location=manager.location, manager=manager)


def _set_attribute(ctx: ContextSpec, name: str, value: Any) -> None:
    """ContextHandler.setAttribute: a null value removes the attribute (JETTY.md §10)."""
    if value is None:
        ctx.attributes.pop(name, None)
    else:
        ctx.attributes[name] = value


def _context(simple: str, canonical: str, kind: str, *, war: bool, sessions: bool,
             handler: bool) -> ClassInfo:
    def make(*args: Any, location: Any = None) -> ContextSpec:
        ctx = ContextSpec(kind=kind, jetty_class=canonical, location=location)
        if len(args) == 2:  # (webApp/resourceBase, contextPath)
            ctx.war, ctx.context_path = args[0], _context_path(args[1])
        elif len(args) == 1:
            ctx.context_path = _context_path(args[0])
        return ctx

    props = {
        "ContextPath": Prop("context_path", "string", convert=_context_path),
        "VirtualHosts": Prop("virtual_hosts", "strings"),
        "DisplayName": Prop("display_name", "string"),
    }
    methods: dict[str, list[Method]] = {
        "addVirtualHosts": [Method(_m(("virtualHosts", "strings")),
                                   lambda c, v: c.virtual_hosts.extend(v))],
    }
    getters: dict[str, Any] = {"InitParams": lambda c: c.init_params} if kind != "moved" else {}
    constructors: list[tuple[Param, ...]] = [()]
    if kind == "moved":
        props.update({
            "NewContextURL": Prop("new_context_path", "string"),
            "Permanent": Prop("permanent", "bool"),
            "DiscardPathInfo": Prop("discard_path_info", "bool"),
            "DiscardQuery": Prop("discard_query", "bool"),
            "Expires": Prop("expires", "string"),
        })
    else:
        props.update({
            "ResourceBase": Prop("resource_base", "path"),
            "BaseResourceAsString": Prop("resource_base", "path"),
            "WelcomeFiles": Prop("welcome_files", "strings"),
            "Application": Prop("application", "string", convert=_application),
        })
        props.update(WORKER_PROPS)
        methods.update({
            "setInitParameter": [Method(_m(("name", "string"), ("value", "string")),
                                        lambda c, k, v: c.init_params.__setitem__(k, v))],
            "getInitParameter": [Method(_m(("name", "string")),
                                        lambda c, k: c.init_params.get(k))],
            "setAttribute": [Method(_m(("name", "string"), ("value", "any")), _set_attribute)],
            "getAttribute": [Method(_m(("name", "string")), lambda c, k: c.attributes.get(k))],
            "removeAttribute": [Method(_m(("name", "string")),
                                       lambda c, k: c.attributes.pop(k, None))],
            "setEnvironmentVariable": [Method(_m(("name", "string"), ("value", "string")),
                                              _set_environment)],
        })
        if not war and not sessions:  # ContextHandler(String contextPath); WebAppContext and
            constructors.append(_m(("contextPath", "string")))  # ServletContextHandler: none
    if war:
        props["War"] = Prop("war", "path")
        constructors.append(_m(("webApp", "path"), ("contextPath", "string")))
    if sessions:
        props["SessionHandler"] = Prop("session_handler", "SessionHandler")
        getters["SessionHandler"] = _session_handler
    if handler:
        props["Handler"] = Prop("resource_base", "ResourceHandler", apply=_merge_handler)
    return ClassInfo(simple, canonical, make, ContextSpec, props, getters, methods,
                     constructors, is_context=True, named_args=not war)


def register_all(reg: Registry) -> None:
    eclipse, mortbay = "org.eclipse.jetty", "org.mortbay.jetty"
    reg.add(_context("WebAppContext", f"{eclipse}.webapp.WebAppContext", "webapp",
                     war=True, sessions=True, handler=False),
            f"{mortbay}.webapp.WebAppContext", *(f"{eclipse}.{ee}.webapp.WebAppContext"
                                                 for ee in ("ee8", "ee9", "ee10")))
    reg.add(_context("ServletContextHandler", f"{eclipse}.servlet.ServletContextHandler",
                     "context", war=False, sessions=True, handler=True),
            f"{mortbay}.servlet.Context", *(f"{eclipse}.{ee}.servlet.ServletContextHandler"
                                            for ee in ("ee8", "ee9", "ee10")))
    reg.add(_context("ContextHandler", f"{eclipse}.server.handler.ContextHandler", "context",
                     war=False, sessions=False, handler=True),
            f"{mortbay}.handler.ContextHandler", f"{eclipse}.ee8.nested.ContextHandler",
            f"{eclipse}.ee9.nested.ContextHandler")
    reg.add(_context("MovedContextHandler", f"{eclipse}.server.handler.MovedContextHandler",
                     "moved", war=False, sessions=False, handler=False),
            f"{mortbay}.handler.MovedContextHandler")

    reg.add(ClassInfo(
        "ResourceHandler", f"{eclipse}.server.handler.ResourceHandler",
        lambda location=None: ResourceHandlerSpec(location=location), ResourceHandlerSpec,
        props={"ResourceBase": Prop("resource_base", "path"),
               "BaseResourceAsString": Prop("resource_base", "path"),
               "DirectoriesListed": Prop("directories_listed", "bool"),
               "DirAllowed": Prop("directories_listed", "bool"),
               "WelcomeFiles": Prop("welcome_files", "strings")}),
        f"{mortbay}.handler.ResourceHandler", f"{eclipse}.ee8.nested.ResourceHandler",
        f"{eclipse}.ee9.nested.ResourceHandler")

    manager = reg.add(ClassInfo(
        "HashSessionManager", f"{eclipse}.server.session.HashSessionManager",
        lambda location=None: SessionManagerSpec(location=location), SessionManagerSpec,
        props=dict(MANAGER_PROPS),
        getters={"SessionCookieConfig": _cookie_config}),
        f"{mortbay}.servlet.HashSessionManager", f"{eclipse}.servlet.HashSessionManager")

    handler_props = {"SessionManager": Prop("session_manager", "SessionManager"),
                     "SessionCache": Prop("session_cache", "SessionCache",
                                          target="session_manager")}
    for key, prop in manager.props.items():
        handler_props[key] = Prop(prop.field, prop.kind, convert=prop.convert,
                                  target="session_manager")

    def make_handler(mgr: SessionManagerSpec | None = None, location: Any = None) -> Any:
        handler = SessionHandlerSpec(location=location)
        if mgr is not None:
            handler.session_manager = mgr
        return handler

    reg.add(ClassInfo(
        "SessionHandler", f"{eclipse}.server.session.SessionHandler", make_handler,
        SessionHandlerSpec, props=handler_props,
        getters={"SessionCookieConfig": lambda h: _cookie_config(h.session_manager)},
        constructors=[(), _m(("manager", "SessionManager"))]),
        f"{mortbay}.servlet.SessionHandler", f"{eclipse}.servlet.SessionHandler",
        f"{eclipse}.ee8.nested.SessionHandler", f"{eclipse}.ee9.nested.SessionHandler",
        f"{eclipse}.ee10.servlet.SessionHandler")

    reg.add(ClassInfo(
        "SessionCookieConfig", "javax.servlet.SessionCookieConfig", None, CookieConfigSpec,
        props={k: Prop(f, kind, target="manager") for k, (f, kind)
               in COOKIE_FIELDS.items()},
        methods={"setAttribute": [Method(_m(("name", "string"), ("value", "string")),
                                         _cookie_attribute)]}))

    reg.add(ClassInfo(
        "HashSessionIdManager", f"{eclipse}.server.session.HashSessionIdManager",
        lambda server=None, location=None: SessionIdManagerSpec(location=location),
        SessionIdManagerSpec,
        props={"WorkerName": Prop("worker_name", "string", convert=_worker_name)},
        constructors=[(), _m(("server", "Server"))]),
        f"{mortbay}.servlet.HashSessionIdManager",
        f"{eclipse}.server.session.DefaultSessionIdManager",
        f"{eclipse}.session.DefaultSessionIdManager")

    reg.add(ClassInfo(
        "Server", f"{eclipse}.server.Server", None, ServerSpec,
        props={"SessionIdManager": Prop("session_id_manager", "SessionIdManager")},
        methods={"addBean": [Method(_m(("bean", "any")), _add_bean)]},
        read_only_hint="the Server is deployer's own, shared by every context: a descriptor may "
                       "read it (<Ref refid=\"Server\"><Call name=\"getSessionIdManager\"/></Ref>) "
                       "but not change it"),
        f"{mortbay}.Server")
    from deployer.descriptor.sessionstores import register_session_stores  # needs the above

    register_session_stores(reg)
