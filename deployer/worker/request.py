"""A request head from the wire as the app expects it: a WSGI environ or an ASGI scope.

The head is the front's ASGI scope as NUL-separated bytes (wire.HEAD_FIELDS), then the header
lines; the decoded path is made here from the raw one, as uvicorn makes it.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import unquote

from deployer.worker import wire
from deployer.worker.config import WorkerConfig

# The scheme, version and addresses of a head, decoded, by their bytes: the same for every request
# of a client connection, so decoded once per connection (bounded: cleared when full).
_PEERS: dict[tuple[bytes, ...], tuple[Any, ...]] = {}


class Head:
    """One request's head, decoded."""

    __slots__ = ("kind", "method", "path", "raw_path", "query", "root", "scheme", "version",
                 "client", "server", "body", "session", "subprotocols", "lines")

    def __init__(self, fields: list[bytes], lines: bytes) -> None:
        (kind, method, raw_path, query, root, scheme, version, client_host, client_port,
         server_host, server_port, body, session, subprotocols) = fields  # wire.HEAD_FIELDS
        self.kind = kind.decode()
        self.method = method.decode()
        self.raw_path = raw_path
        path = raw_path.decode("latin-1")
        self.path = unquote(path) if "%" in path else path
        self.query = query
        self.root = root.decode()
        key = (scheme, version, client_host, client_port, server_host, server_port)
        peer = _PEERS.get(key)
        if peer is None:
            if len(_PEERS) >= 4096:
                _PEERS.clear()
            peer = _PEERS[key] = (
                scheme.decode(), version.decode(),
                (client_host.decode(), int(client_port)) if client_host else None,
                (server_host.decode(), int(server_port or 0)) if server_host else None)
        self.scheme, self.version, self.client, self.server = peer
        self.body = int(body)
        # False: the context has no sessions; None: none yet; else the snapshot list
        self.session: Any = False if session == b"-" else wire.loads(session) if session else None
        self.subprotocols = subprotocols.decode().split(",") if subprotocols else []
        self.lines = lines

    @property
    def where(self) -> str:
        """For log lines: the method (or WEBSOCKET) and the path."""
        return f"{self.method or 'WEBSOCKET'} {self.path}"


def parse_head(payload: bytes) -> Head:
    """A REQUEST payload: the head and the header lines."""
    fields, lines = wire.split_request(payload)
    try:
        return Head(fields, lines)
    except (ValueError, UnicodeDecodeError) as exc:
        raise wire.ProtocolError(f"a malformed REQUEST head: {exc}") from None


def asgi_scope(head: Head, config: WorkerConfig, session: Any,
               state: dict[str, Any]) -> dict[str, Any]:
    client, server = head.client, head.server
    scope: dict[str, Any] = {
        "type": head.kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": head.version,
        "scheme": head.scheme,
        "path": head.path,
        "raw_path": head.raw_path,
        "query_string": head.query,
        "root_path": head.root,
        "headers": wire.trusted_header_lines(head.lines),
        "client": client,
        "server": server,
        "deployer.context": config.context,
    }
    if session is not None:
        scope["deployer.session"] = session
    if head.kind == "http":
        scope["method"] = head.method
    else:
        scope["subprotocols"] = head.subprotocols
    if state:
        scope["state"] = dict(state)
    return scope


def wsgi_base(config: WorkerConfig, threads: int) -> dict[str, Any]:
    """The part of every environ that is the same for every request of a worker."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": threads > 1,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "deployer.context": config.context,
    }


def wsgi_environ(head: Head, base: dict[str, Any], session: Any, body: Any) -> dict[str, Any]:
    """PEP 3333: SCRIPT_NAME is the context path, PATH_INFO the rest, as latin-1 strings.
    A header whose name has an underscore is left out: its CGI name would be ambiguous."""
    root = head.root
    path = head.path
    if root and path.startswith(root):
        path = path[len(root):]
    server = head.server or ("localhost", 80)
    client = head.client or ("", 0)
    environ = base.copy()
    environ["REQUEST_METHOD"] = head.method
    environ["SCRIPT_NAME"] = root.encode("utf-8").decode("latin-1")
    environ["PATH_INFO"] = path.encode("utf-8").decode("latin-1")
    environ["QUERY_STRING"] = head.query.decode("latin-1")
    environ["SERVER_NAME"] = str(server[0])
    environ["SERVER_PORT"] = str(server[1] if server[1] is not None else 80)
    environ["SERVER_PROTOCOL"] = "HTTP/" + head.version
    environ["REMOTE_ADDR"] = client[0]
    environ["REMOTE_PORT"] = str(client[1])
    environ["wsgi.url_scheme"] = head.scheme
    environ["wsgi.input"] = body
    if session is not None:
        environ["deployer.session"] = session
    lines = head.lines.decode("latin-1").split("\r\n")
    lines.pop()
    for line in lines:
        name, _, value = line.partition(": ")
        if "_" in name:
            # X_Forwarded_For would otherwise pass for X-Forwarded-For (gunicorn drops them too)
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        old = environ.get(key)
        if old is not None:
            value = old + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    return environ
