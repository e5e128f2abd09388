"""The closed vocabulary of classes a descriptor can make, read and call.

Each entry maps Jetty class names (9.3's org.eclipse.jetty.*, Jetty 6's org.mortbay.*, Jetty 12's
ee8/ee9/ee10 and core names) to a spec class with typed properties. Jetty finds a setter by
reflection; deployer looks the capitalised name up here, so an unknown name is an error with the
nearest known ones instead of a NoSuchMethodException at run time.

The migrate helper reads this module: ``REGISTRY.canonical_name(name)`` tells whether a Jetty
class is registered (and its 9.3 name), ``JAVA_ONLY_PREFIXES`` / ``java_only_kind(name)`` what
deployer can never run, and ``JAVA_ONLY_PROPERTIES`` the context settings that only mean
something to Java.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployer.descriptor.specs import Spec

# What a Java-only class is, by name prefix (the most specific prefix wins).
JAVA_ONLY_PREFIXES: dict[str, str] = {
    "org.eclipse.jetty.plus.jndi.": "JNDI",
    "org.eclipse.jetty.jndi.": "JNDI",
    "org.mortbay.jetty.plus.naming.": "JNDI",
    "org.mortbay.naming.": "JNDI",
    "javax.naming.": "JNDI",
    "org.eclipse.jetty.plus.jaas.": "a JAAS login service (realm)",
    "org.eclipse.jetty.jaas.": "a JAAS login service (realm)",
    "org.eclipse.jetty.security.": "security: realms and login services",
    "org.eclipse.jetty.ee8.security.": "security: realms and login services",
    "org.eclipse.jetty.ee9.security.": "security: realms and login services",
    "org.eclipse.jetty.ee10.security.": "security: realms and login services",
    "org.mortbay.jetty.security.": "security: realms and login services",
    "javax.sql.": "a data source",
    "org.apache.commons.dbcp": "a data source",
    "org.apache.tomcat.jdbc.": "a data source",
    "com.mchange.v2.c3p0.": "a data source",
    "com.zaxxer.hikari.": "a data source",
    "org.postgresql.": "a data source",
    "com.mysql.": "a data source",
    "org.h2.": "a data source",
    "org.hsqldb.": "a data source",
    "oracle.jdbc.": "a data source",
    "java.lang.ClassLoader": "a class loader",
    "java.net.URLClassLoader": "a class loader",
    "org.eclipse.jetty.webapp.WebAppClassLoader": "a class loader",
    "org.mortbay.jetty.webapp.WebAppClassLoader": "a class loader",
    "org.eclipse.jetty.servlet.": "servlets, filters and their holders",
    "org.eclipse.jetty.ee8.servlet.": "servlets, filters and their holders",
    "org.eclipse.jetty.ee9.servlet.": "servlets, filters and their holders",
    "org.eclipse.jetty.ee10.servlet.": "servlets, filters and their holders",
    "org.mortbay.jetty.servlet.": "servlets, filters and their holders",
    "javax.servlet.": "servlets, filters and their holders",
    "jakarta.servlet.": "servlets, filters and their holders",
    "org.eclipse.jetty.server.ServerConnector": "a connector",
    "org.eclipse.jetty.server.nio.": "a connector",
    "org.eclipse.jetty.server.bio.": "a connector",
    "org.eclipse.jetty.server.ssl.": "a connector",
    "org.eclipse.jetty.server.HttpConfiguration": "connector configuration",
    "org.eclipse.jetty.server.HttpConnectionFactory": "a connector",
    "org.eclipse.jetty.server.SslConnectionFactory": "a connector",
    "org.eclipse.jetty.util.ssl.": "TLS configuration",
    "org.mortbay.jetty.nio.": "a connector",
    "org.mortbay.jetty.bio.": "a connector",
    "org.mortbay.jetty.ajp.": "a connector",
    "org.mortbay.http.": "a connector",
    "org.eclipse.jetty.util.thread.": "a thread pool",
    "org.mortbay.thread.": "a thread pool",
    "org.eclipse.jetty.jmx.": "JMX",
    "java.lang.management.": "JMX",
    "org.eclipse.jetty.server.session.JDBC": "a JDBC session store",
    "org.eclipse.jetty.deploy.": "Jetty's own deployer (deployer replaces it)",
    "org.mortbay.jetty.deployer.": "Jetty's own deployer (deployer replaces it)",
}

# Settings of a context that configure the JVM side only (class loading, web.xml, JSP, security).
JAVA_ONLY_PROPERTIES: frozenset[str] = frozenset({
    "ExtractWAR", "CopyWebDir", "CopyWebInf", "DefaultsDescriptor", "OverrideDescriptor",
    "Descriptor", "ParentLoaderPriority", "ConfigurationClasses", "Configurations", "ClassLoader",
    "ExtraClasspath", "SystemClasses", "ServerClasses", "TempDirectory", "PersistTempDirectory",
    "ThrowUnavailableOnStartupException", "LogUrlOnStart", "ConfigurationDiscovered",
    "SecurityHandler", "ServletHandler", "ErrorHandler", "UserRealm", "UserRealms",
    "LoginService", "MaxFormContentSize", "MaxFormKeys", "AllowDuplicateFragmentNames",
    "Servlets", "ServletMappings", "Filters", "FilterMappings", "EventListeners",
    "ProtectedTargets",
    "AliasChecks", "ClassPath", "Logger", "Server", "Handlers", "GzipHandler",
    "SessionDataStore", "SessionStore", "SessionCache", "DenyUncoveredHttpMethods",
})
# The Java-only settings that only tune the JVM (unpacking, class loading, temp dirs, logging):
# `run` warns and goes on, as nothing a request sees depends on them. The others (web.xml,
# security, servlets, handlers, form limits) change behaviour and stay errors.
JVM_TUNING_PROPERTIES: frozenset[str] = frozenset({
    "ExtractWAR", "CopyWebDir", "CopyWebInf", "DefaultsDescriptor", "ParentLoaderPriority",
    "ConfigurationClasses", "Configurations", "ExtraClasspath", "SystemClasses", "ServerClasses",
    "TempDirectory", "PersistTempDirectory", "ThrowUnavailableOnStartupException",
    "LogUrlOnStart", "ConfigurationDiscovered", "AllowDuplicateFragmentNames", "ClassPath",
    "Logger",
})
JAVA_ONLY_METHODS: frozenset[str] = frozenset({
    "addServlet", "addFilter", "addEventListener", "addBean", "setErrorHandler",
    "prependServerClass", "addServerClass", "addSystemClass", "prependSystemClass",
    "addAliasCheck", "addOverrideDescriptor", "addConfiguration", "addLifeCycleListener",
    "setSecurityHandler", "setClassLoader", "addServletContainerInitializer", "insertHandler",
})
JVM_TUNING_METHODS: frozenset[str] = frozenset({
    "prependServerClass", "addServerClass", "addSystemClass", "prependSystemClass",
    "addConfiguration",
})


def java_only_kind(name: str) -> str | None:
    """What kind of Java-only class ``name`` is, or None when it is not one."""
    best = ""
    for prefix in JAVA_ONLY_PREFIXES:
        if name.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return JAVA_ONLY_PREFIXES[best] if best else None


@dataclass(frozen=True)
class Prop:
    """One settable/readable property: the spec field and the kind of value it takes.

    Kinds: "string", "path", "bool", "int", "strings" (list of str), "map" (str -> str),
    "attrs" (str -> any), or the simple name of a registered class whose instances it holds.
    """

    field: str
    kind: str
    convert: Callable[[Any], Any] | None = None  # after type checking (e.g. "none" -> None)
    apply: Callable[[Any, Any], None] | None = None  # instead of setattr (e.g. merge a handler)
    target: str | None = None  # the field lives on this attribute's object (a handler's manager)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # as Prop.kind, plus "any"


@dataclass(frozen=True)
class Method:
    """A callable method: parameters are checked, never converted (Jetty converts no Call args)."""

    params: tuple[Param, ...]
    run: Callable[..., Any]


@dataclass
class ClassInfo:
    simple: str                      # "WebAppContext": how messages name it
    canonical: str                   # its Jetty 9.3 org.eclipse.jetty name
    make: Callable[..., Any] | None  # builds the spec; None: cannot be made with New
    spec: type | None = None
    props: dict[str, Prop] = field(default_factory=dict)        # key: capitalised Jetty name
    getters: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    methods: dict[str, list[Method]] = field(default_factory=dict)
    constructors: list[tuple[Param, ...]] = field(default_factory=lambda: [()])
    is_context: bool = False
    read_only_hint: str = ""         # why its properties cannot be set (the Server)
    named_args: bool = True          # Jetty matches <Arg name=...> to its constructors' @Name

    def property_names(self) -> list[str]:
        """Jetty spelling (lower camel) of every settable property, for suggestions."""
        return sorted(k[0].lower() + k[1:] for k in self.props)

    def method_names(self) -> list[str]:
        names = set(self.methods)
        for key in self.props:
            names.update(("get" + key, "set" + key))
        names.update("get" + k for k in self.getters)
        return sorted(names)


class Registry:
    """Jetty class name -> ClassInfo, plus the reverse lookup from a spec object to its class."""

    def __init__(self) -> None:
        self._by_name: dict[str, ClassInfo] = {}
        self._by_spec: dict[type, ClassInfo] = {}

    def add(self, info: ClassInfo, *aliases: str) -> ClassInfo:
        for name in (info.canonical, *aliases):
            self._by_name[name] = info
        if info.spec is not None and not info.is_context:
            self._by_spec.setdefault(info.spec, info)
        return info

    def lookup(self, name: str) -> ClassInfo | None:
        return self._by_name.get(name.strip())

    def canonical_name(self, name: str) -> str | None:
        """The 9.3 org.eclipse.jetty name of a registered class (any of its names), else None."""
        info = self.lookup(name)
        return info.canonical if info else None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def info_for(self, obj: Any) -> ClassInfo | None:
        if isinstance(obj, Spec):
            jetty_class = getattr(obj, "jetty_class", None)
            if jetty_class:
                return self._by_name.get(jetty_class)
        return self._by_spec.get(type(obj))

    def nearest(self, name: str, n: int = 3) -> list[str]:
        """Registered names closest to ``name``: by full name, then by the simple name."""
        canonical = {i.canonical for i in self._by_name.values()}
        near = difflib.get_close_matches(name, canonical, n=n, cutoff=0.75)
        if not near:
            simple = name.rpartition(".")[2]
            by_simple = {k.rpartition(".")[2]: k for k in canonical}
            near = [by_simple[s] for s in difflib.get_close_matches(simple, by_simple, n=n)]
        return near


REGISTRY = Registry()


def _register() -> None:
    from deployer.descriptor.classes import register_all

    register_all(REGISTRY)


_register()
