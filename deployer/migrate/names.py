"""Jetty class names across versions, seen from migrate's side.

The descriptor registry says what ``run`` accepts; migrate needs more: which *legacy* names mean
the same thing in 9.3, which roots are no context at all (servers, connectors, realms) and why a
Java-only class cannot come along. The registry is asked first (``canonical_root``).
"""

from __future__ import annotations

import re

WEBAPP = "org.eclipse.jetty.webapp.WebAppContext"
CONTEXT = "org.eclipse.jetty.server.handler.ContextHandler"
SERVLET_CONTEXT = "org.eclipse.jetty.servlet.ServletContextHandler"
MOVED = "org.eclipse.jetty.server.handler.MovedContextHandler"
RESOURCE_HANDLER = "org.eclipse.jetty.server.handler.ResourceHandler"
SESSION_HANDLER = "org.eclipse.jetty.server.session.SessionHandler"
HASH_MANAGER = "org.eclipse.jetty.server.session.HashSessionManager"
EE = r"(?:\.ee\d+)?"  # Jetty 12: org.eclipse.jetty.ee8/ee9/ee10/ee11.*

_ROOTS: list[tuple[str, str]] = [
    (r"org\.mortbay\.jetty\.webapp\.WebAppContext", WEBAPP),
    (rf"org\.eclipse\.jetty{EE}\.webapp\.WebAppContext", WEBAPP),
    (rf"org\.eclipse\.jetty{EE}\.maven\.plugin\.(?:Jetty|Maven)WebAppContext", WEBAPP),
    (r"org\.mortbay\.jetty\.plugin\.Jetty6?PluginWebAppContext", WEBAPP),
    (r"org\.akhikhl\.gretty\.JettyWebAppContext", WEBAPP),
    (r"org\.mortbay\.jetty\.handler\.ContextHandler", CONTEXT),
    (r"org\.eclipse\.jetty\.server\.handler\.ContextHandler", CONTEXT),
    (r"org\.eclipse\.jetty\.ee\d+\.nested\.ContextHandler", CONTEXT),
    (r"org\.mortbay\.jetty\.servlet\.Context", SERVLET_CONTEXT),
    (rf"org\.eclipse\.jetty{EE}\.servlet\.ServletContextHandler", SERVLET_CONTEXT),
    (r"org\.mortbay\.jetty\.handler\.MovedContextHandler", MOVED),
    (r"org\.eclipse\.jetty\.server\.handler\.MovedContextHandler", MOVED),
]

#: What a non-context root is, so the message can say it (checked in order).
_NOT_CONTEXT: list[tuple[str, str]] = [
    (r"\.Server$", "a server configuration (jetty.xml): deployer is the server; use `deployer run "
     "--host/--port` and put one descriptor per context in the contexts directory"),
    (r"Connector$|ConnectionFactory$|HttpConfiguration$|\.ajp\.",
     "a connector fragment: deployer listens with `deployer run --host/--port`"),
    (r"(Realm|LoginService)$", "a security realm: deployer has no authentication layer; protect "
     "the app in Python or in a front proxy"),
    (r"SessionIdManager$|SessionDataStoreFactory$|SessionCacheFactory$",
     "server-wide session configuration: put storeDirectory etc. on each context's "
     "HashSessionManager instead"),
    (r"ThreadPool$|Scheduler$|ByteBufferPool$", "server infrastructure"),
]

_SESSION_MANAGERS = re.compile(
    r"^(org\.mortbay\.jetty\.servlet|org\.eclipse\.jetty\.server\.session|"
    r"org\.eclipse\.jetty\.servlet)\.HashSessionManager$")
_SESSION_HANDLERS = re.compile(
    r"^(org\.mortbay\.jetty\.servlet|org\.eclipse\.jetty(?:\.ee\d+)?(?:\.nested)?\.server\.session|"
    r"org\.eclipse\.jetty\.session|org\.eclipse\.jetty\.servlet|"
    r"org\.eclipse\.jetty\.ee\d+\.(?:nested|servlet))\.SessionHandler$")

def _registry():  # pragma: no cover - depends on the descriptor layer being present
    try:
        from deployer.descriptor import registry
    except ImportError:
        return None
    return getattr(registry, "REGISTRY", None)


def canonical_root(name: str) -> str | None:
    """The 9.3 context class a (possibly legacy) root class name stands for, else None.

    The descriptor registry is asked first (its context classes are what ``run`` accepts); migrate's
    own table adds names ``run`` refuses but that mean a WebAppContext (maven plugin, Gretty).
    """
    reg = _registry()
    info = reg.lookup(name) if reg is not None else None
    if info is not None and info.is_context:
        return info.canonical
    for pattern, canon in _ROOTS:
        if re.fullmatch(pattern, name):
            return canon
    if re.fullmatch(r"(?:[\w$]+\.)+[\w$]*WebAppContext", name):
        return WEBAPP  # a subclass (VmRuntimeWebAppContext, ...): its own Java code is not kept
    return None


def is_subclass_root(name: str) -> bool:
    """A root class taken as WebAppContext only by its name (a subclass with Java of its own)."""
    reg = _registry()
    known = reg is not None and reg.lookup(name) is not None
    return not known and canonical_root(name) == WEBAPP and \
        not any(re.fullmatch(p, name) for p, _ in _ROOTS)


def not_context_reason(name: str) -> str:
    for pattern, why in _NOT_CONTEXT:
        if re.search(pattern, name):
            return why
    return "no context class deployer knows (a WebAppContext, ContextHandler, " \
           "ServletContextHandler or MovedContextHandler is expected)"


def _registered_as(name: str, canonical: str) -> bool:
    reg = _registry()
    return reg is not None and reg.canonical_name(name) == canonical


def is_session_handler(name: str) -> bool:
    return _registered_as(name, SESSION_HANDLER) or bool(_SESSION_HANDLERS.match(name))


def is_hash_manager(name: str) -> bool:
    return _registered_as(name, HASH_MANAGER) or bool(_SESSION_MANAGERS.match(name))


def java_only_kind(name: str) -> str | None:
    """What the registry says a Java-only class is (a data source, JNDI, ...), if it knows."""
    try:
        from deployer.descriptor.registry import java_only_kind as kind
    except ImportError:  # pragma: no cover
        return None
    return kind(name)


def jetty_generation(root_class: str, doctype: str | None) -> str:
    """A label for the report: which Jetty the file was written for (best effort)."""
    if root_class.startswith("org.mortbay."):
        return "Jetty 6"
    if re.match(r"org\.eclipse\.jetty\.ee\d+\.", root_class):
        return "Jetty 12"
    dt = doctype or ""
    for marker, label in (("configure_10_0", "Jetty 10/11"), ("configure_9_3", "Jetty 9.3/9.4"),
                          ("configure_9_4", "Jetty 9.4"), ("configure_9_0", "Jetty 9.0-9.2")):
        if marker in dt:
            return label
    if "Mort Bay" in dt and root_class.startswith("org.eclipse."):
        return "Jetty 7-9 (Mort Bay DOCTYPE)"
    if "configure.dtd" in dt:
        return "Jetty 7/8"
    return "Jetty (version unknown)"


def _registry_module():
    try:
        from deployer.descriptor import registry
    except ImportError:  # pragma: no cover
        return None
    return registry


def java_only_property(name: str) -> str | None:
    """A reason when the registry lists ``name`` as a context setting only Java uses."""
    reg = _registry_module()
    listed = getattr(reg, "JAVA_ONLY_PROPERTIES", frozenset())
    if name[:1].upper() + name[1:] in listed:
        return "a setting only the Java side of Jetty uses; a Python webapp has no use for it"
    return None


def java_only_method(name: str) -> str | None:
    reg = _registry_module()
    if name in getattr(reg, "JAVA_ONLY_METHODS", frozenset()):
        return "a method only the Java side of Jetty has; a Python webapp has no use for it"
    return None
