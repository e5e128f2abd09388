"""What a context-level statement of a Jetty descriptor becomes: kept, renamed or dropped (and why).

The reasons are written for the person migrating: what the thing was for in Java, and what to do
with deployer instead.
"""

from __future__ import annotations

import re

#: context properties deployer honours (ContextSpec), by their Jetty setter name.
KEEP = {
    "contextPath", "war", "resourceBase", "virtualHosts", "initParams", "displayName",
    "welcomeFiles", "application", "newContextURL", "permanent", "discardPathInfo",
    "discardQuery", "expires",
}
#: what deployer's ResourceHandler takes (its settings end up on the context).
RESOURCE_KEEP = {"resourceBase", "directoriesListed", "welcomeFiles"}
RESOURCE_RENAME = {"baseResourceAsString": "resourceBase", "baseResource": "resourceBase",
                   "dirAllowed": "directoriesListed"}
#: Jetty 10/12 names for the same property.
RENAME = {"baseResourceAsString": "resourceBase", "baseResource": "resourceBase",
          "contextPathEncoded": "contextPath"}

_UNPACK = ("deployer reads the webapp in place (a directory or a .war/.zip/.pyz archive); there is "
           "no unpacking or temp directory")
_WEBXML = ("web.xml descriptors configure Java servlets and filters; deployer does not read them "
           "(give settings to the Python app as init parameters)")
_CLASSES = ("Java class loading; a Python app's imports are isolated per deploy by deployer: put "
            "its dependencies in the environment deployer runs in")
_SECURITY = ("authentication and authorisation (realms, LoginService, constraints) are Java; "
             "deployer has no security layer: protect the app in Python (middleware) or in a "
             "front proxy")
_JNDI = ("JNDI (EnvEntry, Resource, Transaction, data sources) is a Java naming service; give the "
         "value to the Python app as an init parameter (<Call name=\"setInitParameter\">) or an "
         "environment variable, and open data sources in the app")
_SERVLET = ("Java servlets, filters and listeners have no Python entry point: deployer serves the "
            "webapp's static files, or point `application` (package.module:attr) at a Python app")

DROP_SET: dict[str, str] = {
    **dict.fromkeys(["extractWAR", "extractWars", "copyWebDir", "copyWebInf", "tempDirectory",
                     "persistTempDirectory", "tempDir"], _UNPACK),
    **dict.fromkeys(["defaultsDescriptor", "overrideDescriptor", "descriptor",
                     "overrideDescriptors"], _WEBXML),
    **dict.fromkeys(["parentLoaderPriority", "classLoader", "extraClasspath", "systemClasses",
                     "serverClasses", "configurationClasses", "configurations",
                     "configurationDiscovered", "parentLoaderHasPriority"], _CLASSES),
    **dict.fromkeys(["securityHandler", "userRealm", "loginService", "realmName",
                     "constraintMappings", "authenticator"], _SECURITY),
    **dict.fromkeys(["maxFormContentSize", "maxFormKeys"],
                    "request form size limits are the Python app's business"),
    "throwUnavailableOnStartupException": "deployer always reports a failed start: the context "
                                          "answers 503 and the error is logged with its traceback",
    "logUrlOnStart": "deployer logs every deploy with its context path",
    "connectorNames": "deployer has one listener (`deployer run --host/--port`)",
    "protectedTargets": "deployer never serves WEB-INF/ and META-INF/",
    "errorHandler": "a Java error handler; error pages are the Python app's business",
    "cacheControl": "a Java ResourceHandler header; set Cache-Control in a Python app if needed",
    "allowNullPathInfo": "deployer routes /ctx to the context like Jetty's default",
    "compactPath": "not supported by deployer",
    "aliases": "Java resource alias checking; deployer never follows paths out of the webapp",
    "gzipHandler": "compression is left to a front proxy",
    "servletHandler": _SERVLET,
    "handler": "a Java handler",
    "sessionIdManager": "deployer has one session id manager per server, shared by all contexts",
}

_CALL_REASONS: list[tuple[str, str]] = [
    (r"Security|Realm|LoginService|Authenticator|Constraint", _SECURITY),
    (r"^add(Servlet|Filter|EventListener|Listener|ServletWithMapping|FilterWithMapping)", _SERVLET),
    (r"^(prepend|add)(Server|System)Class", _CLASSES),
    (r"^addAliasCheck|^setAliasChecks", "Java resource alias checking; deployer never follows "
     "paths out of the webapp"),
    (r"^setErrorHandler|^addErrorPage", "a Java error handler; error pages are the Python app's "
     "business"),
    (r"^(add|set)(Bean|Handler|LifeCycle)|^insertHandler", "a Java handler or bean"),
    (r"^(addOverrideDescriptor|setDefaultsDescriptor)", _WEBXML),
    (r"^start$|^stop$", "lifecycle calls: deployer starts and stops contexts itself"),
]

JNDI_CLASS = re.compile(r"\.(plus|jndi|naming)\.|\.(EnvEntry|Resource|Transaction|Link)$")
JAVA_ATTRIBUTE = re.compile(r"^org\.(eclipse|mortbay)\.jetty\.")


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def call_reason(name: str, args_text: str = "", java_only: str | None = None) -> str:
    if "DefaultServlet" in args_text:
        return ("Jetty's DefaultServlet serves the webapp's static files: deployer does that "
                "itself for a context without a Python app")
    for pattern, why in _CALL_REASONS:
        if re.search(pattern, name):
            return why
    return java_only or "a Java method call; deployer has no equivalent"


_SECURITY_CLASS = re.compile(r"Realm|LoginService|Security|Constraint|Authenticator")


def is_security_class(cls: str) -> bool:
    """A class that protects the app: a realm, login service, security handler, constraint."""
    return _SECURITY_CLASS.search(cls) is not None


def new_reason(cls: str) -> str:
    from deployer.migrate.names import java_only_kind

    kind = java_only_kind(cls)
    if is_security_class(cls):
        return _SECURITY  # before JNDI: jetty-plus's DataSourceLoginService is a realm
    if JNDI_CLASS.search(cls) or kind == "JNDI":
        return _JNDI
    if re.search(r"Servlet|Filter|Listener", cls):
        return _SERVLET
    if kind:
        return f"Java-only ({kind}); deployer cannot build it"
    return f"a Java object ({cls}); deployer cannot build it"


SECURITY = _SECURITY


def drops_authentication(action: str, advice: str) -> bool:
    """A dropped statement that protected the app (a realm, security handler, constraint): every
    such drop is given the security advice (DROP_SET, call_reason, new_reason, the pom's realms)."""
    return action == "dropped" and advice == _SECURITY


SERVLET = _SERVLET
WAR_NOTE = ("a .war of Java servlets has no Python entry point: deployer serves its static "
            "files (never WEB-INF/ or META-INF/); to run Python, point `application` "
            "(package.module:attr) at a Python app or deploy a directory with wsgi.py/asgi.py")
