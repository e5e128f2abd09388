"""A request head from the wire as the app expects it: a WSGI environ or an ASGI scope.

The head is the front's ASGI scope as a JSON list (wire.HEAD_FIELDS gives the order), bytes as
latin-1 text (each byte one code point, so nothing is lost), then the header lines.
"""

from __future__ import annotations

import sys
from typing import Any

from deployer.worker import wire
from deployer.worker.config import WorkerConfig


class Head:
    """One request's head, by name."""

    __slots__ = (*wire.HEAD_FIELDS, "lines")

    def __init__(self, fields: list[Any], lines: bytes) -> None:
        (self.kind, self.method, self.path, self.raw_path, self.query, self.root, self.scheme,
         self.version, self.client, self.server, self.body, self.session,
         self.subprotocols) = fields  # wire.HEAD_FIELDS; parse_head checked the length
        self.lines = lines

    @property
    def where(self) -> str:
        """For log lines: the method (or WEBSOCKET) and the path."""
        return f"{self.method or 'WEBSOCKET'} {self.path}"


def parse_head(payload: bytes) -> Head:
    """A REQUEST payload: the JSON head and the header lines."""
    meta, lines = wire.split_request(payload)
    fields = wire.loads(meta)
    if not isinstance(fields, list) or len(fields) != len(wire.HEAD_FIELDS):
        raise wire.ProtocolError("a REQUEST head that is not a list of its fields")
    return Head(fields, lines)


def asgi_scope(head: Head, config: WorkerConfig, session: Any,
               state: dict[str, Any]) -> dict[str, Any]:
    client, server = head.client, head.server
    raw = head.raw_path
    scope: dict[str, Any] = {
        "type": head.kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": head.version,
        "scheme": head.scheme,
        "path": head.path,
        "raw_path": raw.encode("latin-1") if raw is not None else head.path.encode(),
        "query_string": head.query.encode("latin-1"),
        "root_path": head.root,
        "headers": wire.trusted_header_lines(head.lines),
        "client": tuple(client) if client else None,
        "server": tuple(server) if server else None,
        "deployer.context": config.context,
    }
    if session is not None:
        scope["deployer.session"] = session
    if head.kind == "http":
        scope["method"] = head.method
    else:
        scope["subprotocols"] = head.subprotocols or []
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
    environ["QUERY_STRING"] = head.query
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
