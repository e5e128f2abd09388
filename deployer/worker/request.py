"""A request head from the wire as the app expects it: a WSGI environ or an ASGI scope.

The head is the front's ASGI scope in JSON: bytes as latin-1 strings (each byte one code point,
so nothing is lost), keys kept short because one is sent per request:

    t: "http" | "websocket"   m: method   p: path (decoded)   rp: raw path   q: query string
    r: root path (the context path)   h: [[name, value], ...] lower-case names   v: "1.1"
    c: [client host, port]   s: [server host, port]   sc: scheme   b: 1 when a body follows
    ss: the session snapshot, null when there is none yet, absent when the context has no
        sessions   sp: websocket subprotocols
"""

from __future__ import annotations

import sys
from typing import Any

from deployer.worker.config import WorkerConfig


def _bytes_headers(head: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in head["h"]]


def asgi_scope(head: dict[str, Any], config: WorkerConfig, session: Any,
               state: dict[str, Any]) -> dict[str, Any]:
    client, server = head.get("c"), head.get("s")
    scope: dict[str, Any] = {
        "type": head["t"],
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": head.get("v", "1.1"),
        "scheme": head.get("sc", "http"),
        "path": head["p"],
        "raw_path": head.get("rp", head["p"]).encode("latin-1"),
        "query_string": head.get("q", "").encode("latin-1"),
        "root_path": head.get("r", ""),
        "headers": _bytes_headers(head),
        "client": tuple(client) if client else None,
        "server": tuple(server) if server else None,
        "deployer.context": config.context,
    }
    if session is not None:
        scope["deployer.session"] = session
    if head["t"] == "http":
        scope["method"] = head["m"]
    else:
        scope["subprotocols"] = head.get("sp") or []
    if state:
        scope["state"] = dict(state)
    return scope


def wsgi_environ(head: dict[str, Any], config: WorkerConfig, session: Any,
                 body: Any, threads: int) -> dict[str, Any]:
    """PEP 3333: SCRIPT_NAME is the context path, PATH_INFO the rest, as latin-1 strings.
    A header whose name has an underscore is left out: its CGI name would be ambiguous."""
    root = head.get("r", "")
    path = head["p"]
    if root and path.startswith(root):
        path = path[len(root):]
    server = head.get("s") or ["localhost", 80]
    client = head.get("c") or ["", 0]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": head["m"],
        "SCRIPT_NAME": root.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": head.get("q", ""),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": "HTTP/" + head.get("v", "1.1"),
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": head.get("sc", "http"),
        "wsgi.input": body,
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": threads > 1,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "deployer.context": config.context,
    }
    if session is not None:
        environ["deployer.session"] = session
    for name, value in head["h"]:
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
