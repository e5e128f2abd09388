"""The plain, inspectable result of evaluating a descriptor.

These are the objects a descriptor builds (the registry maps Jetty class names onto them). They hold
only data: later layers (deploy/) turn them into running contexts and session managers. Every spec
remembers where each property was set (``locations``) so that errors found later, such as a missing
war directory, can still name the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.errors import Location


@dataclass
class Spec:
    """Base: where the object was made and where each property was set."""

    location: Location | None = field(default=None, repr=False, compare=False)
    locations: dict[str, Location] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class SessionIdManagerSpec(Spec):
    """HashSessionIdManager: one per server, shared by every context."""

    worker_name: str | None = None


@dataclass
class SessionManagerSpec(Spec):
    """HashSessionManager with Jetty 9.3's properties and defaults (JETTY.md §3.2)."""

    store_directory: str | None = None
    lazy_load: bool = False
    save_period: int = 0
    scavenge_period: int = 30
    idle_save_period: int = 0
    delete_unrestorable_sessions: bool = False
    max_inactive_interval: int | None = None  # None: webdefault's 1800 s applies
    session_cookie: str = "JSESSIONID"
    session_id_path_parameter_name: str | None = "jsessionid"
    http_only: bool = False
    secure_request_only: bool = True
    using_cookies: bool = True
    node_id_in_session_id: bool = False
    check_remote_session_id_encoding: bool = False
    refresh_cookie_age: int = 0
    session_domain: str | None = None
    session_path: str | None = None
    max_cookie_age: int = -1
    secure_cookie: bool = False  # SessionCookieConfig.setSecure: Secure on every response
    same_site: str | None = None  # Jetty 10-12 setSameSite: None, Lax or Strict
    cookie_comment: str | None = None  # SessionCookieConfig.setComment (9.4's __SAME_SITE_*__)
    session_id_manager: SessionIdManagerSpec | None = None
    session_cache: Any = None  # 9.4's per-context SessionCache (descriptor/sessionstores.py)
    max_active_sessions: int = 100_000  # deployer's (Tomcat's name): sessions in memory


@dataclass
class SessionHandlerSpec(Spec):
    """SessionHandler: wraps one session manager (a HashSessionManager unless told otherwise)."""

    session_manager: SessionManagerSpec = field(default_factory=SessionManagerSpec)


@dataclass
class ContextSpec(Spec):
    """ContextHandler / WebAppContext / ServletContextHandler / ResourceHandler context.

    ``kind`` is "webapp" (WebAppContext), "context" (ContextHandler, ServletContextHandler),
    or "moved" (MovedContextHandler: a redirect, no app).
    """

    kind: str = "context"
    jetty_class: str = ""
    context_path: str = "/"
    war: str | None = None
    resource_base: str | None = None
    application: str | None = None  # "package.module:attr" overrides wsgi.py/asgi.py discovery
    virtual_hosts: list[str] = field(default_factory=list)
    init_params: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    welcome_files: list[str] = field(default_factory=lambda: ["index.html", "index.htm"])
    display_name: str | None = None
    directories_listed: bool = False
    session_handler: SessionHandlerSpec | None = None
    # the worker processes of a Python webapp (deployer's own settings; None: `run`'s default)
    workers: int | None = None
    threads: int | None = None  # WSGI requests at once per worker
    virtualenv: str | None = None  # run the app with that environment's interpreter
    environment: dict[str, str] = field(default_factory=dict)  # added to the worker's
    python_path: list[str] = field(default_factory=list)  # before site-packages
    max_requests: int = 0  # recycle a worker after this many requests (0: never)
    start_timeout: int = 60  # seconds for a worker to import the app and start
    request_timeout: int = 0  # seconds before a request gets 504 and its worker goes (0: never)
    reload_includes: list[str] = field(default_factory=list)  # more files that redeploy
    reload_excludes: list[str] = field(default_factory=list)  # files that never do
    # MovedContextHandler
    new_context_path: str | None = None
    permanent: bool = False
    discard_path_info: bool = False
    discard_query: bool = False
    expires: str | None = None  # MovedContextHandler's Expires header value

    @property
    def base(self) -> str | None:
        """The webapp's location: ``war`` wins over ``resourceBase`` as in WebAppContext."""
        return self.war or self.resource_base


@dataclass
class Descriptor:
    """What evaluating one descriptor file gives: the root context and every id it registered."""

    path: str
    context: ContextSpec
    ids: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    warnings: list[Any] = field(default_factory=list)  # DescriptorErrors that do not stop it


@dataclass
class ServerSpec(Spec):
    """The ``Server`` id every descriptor sees: one per deployer process, so the session id
    manager it hands out (``getSessionIdManager``) is shared by all contexts."""

    session_id_manager: SessionIdManagerSpec = field(default_factory=SessionIdManagerSpec)
    beans: list[Any] = field(default_factory=list)  # a server descriptor's addBean calls
    # what evaluating --config's files warned about (DescriptorErrors that do not stop them)
    warnings: list[Any] = field(default_factory=list, repr=False, compare=False)
