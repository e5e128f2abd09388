"""The manager listener's ASGI app: page, JSON API, actions, /metrics, /healthz, /readyz.

Reading needs nothing (the listener is on loopback unless told otherwise); anything that changes a
context, or shows session ids, needs the token. Against other sites: an action is a POST carrying
the token in ``X-Deployer-Token`` (or ``Authorization: Bearer``), which a cross-site form or a
"simple" cross-origin fetch cannot send; a request whose ``Origin`` is not this listener, or that
the browser marks ``Sec-Fetch-Site: cross-site``, is refused before the token is looked at; and a
loopback listener answers only to loopback ``Host`` names, so DNS rebinding cannot reach it.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from deployer.deploy.manager import DeploymentManager
from deployer.manage import page, view
from deployer.manage.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("deployer.manage")

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _headers(scope: dict[str, Any]) -> dict[bytes, str]:
    return {k: v.decode("latin-1") for k, v in scope["headers"]}


class ManagerApp:
    def __init__(self, manager: DeploymentManager, metrics: Metrics, token: str, *,
                 loopback: bool = True) -> None:
        if not token:
            raise ValueError("the manager needs a token")
        self.manager = manager
        self.metrics = metrics
        self.token = token
        self.loopback = loopback
        self.started = time.time()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        headers = _headers(scope)
        nonce = secrets.token_urlsafe(16)
        try:
            self._check_host(headers)
            status, ctype, body, extra = await self._route(scope, headers, nonce)
        except Refused as exc:
            status, ctype, body, extra = exc.status, "application/json", _json(
                {"error": str(exc)}), []
        policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
                  "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
                  "base-uri 'none'")
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", ctype.encode()), (b"content-length", b"%d" % len(body)),
            (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"), (b"content-security-policy", policy.encode()),
            *extra]})
        await send({"type": "http.response.body", "body": body})

    # -- checks ----------------------------------------------------------------------------------
    def _check_host(self, headers: dict[bytes, str]) -> None:
        if not self.loopback:
            return
        host = headers.get(b"host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.lower() not in LOOPBACK_NAMES:
            raise Refused(403, f"Host {host!r} is not this loopback listener")

    def _check_action(self, headers: dict[bytes, str]) -> None:
        """Cross-site first (403 whatever the token), then the token (401 none, 403 wrong)."""
        origin = headers.get(b"origin")
        if origin is not None and origin != f"http://{headers.get(b'host', '')}":
            raise Refused(403, f"cross-site request from {origin} refused")
        if headers.get(b"sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Refused(403, "cross-site request refused")
        given = headers.get(b"x-deployer-token")
        if given is None:
            auth = headers.get(b"authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else None
        if not given:
            raise Refused(401, "this needs the manager token (X-Deployer-Token)")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise Refused(403, "wrong manager token")

    # -- routes ----------------------------------------------------------------------------------
    async def _route(self, scope: dict[str, Any], headers: dict[bytes, str], nonce: str,
                     ) -> tuple[int, str, bytes, list[tuple[bytes, bytes]]]:
        method, path = scope["method"], scope["path"]
        parts = [unquote(p) for p in path.strip("/").split("/")] if path != "/" else []
        if method == "POST":
            return await self._post(parts, headers)
        if method not in ("GET", "HEAD"):
            raise Refused(405, f"{method} is not allowed here")
        manager = self.manager
        if not parts:
            rows = view.contexts(manager, self.metrics)
            html = page.page(rows, *view.summary(rows), nonce)
            return 200, "text/html; charset=utf-8", html.encode(), []
        if parts == ["rows"]:
            rows = view.contexts(manager, self.metrics)
            answering, total = view.summary(rows)
            html = page.rows(rows)
            return 200, "text/html; charset=utf-8", html.encode(), [
                (b"x-summary", page.summary_line(answering, total).encode())]
        if parts == ["metrics"]:
            return 200, CONTENT_TYPE, self.metrics.render(), []
        if parts == ["healthz"]:
            return 200, "text/plain; charset=utf-8", b"ok\n", []
        if parts == ["readyz"]:
            waiting = view.unready(manager)
            if waiting:
                return 503, "text/plain; charset=utf-8", (
                    "not ready: " + "; ".join(waiting) + "\n").encode(), []
            return 200, "text/plain; charset=utf-8", b"ready\n", []
        if parts == ["api", "contexts"]:
            rows = view.contexts(manager, self.metrics)
            answering, total = view.summary(rows)
            return self._ok({"answering": answering, "total": total,
                             "uptime": round(time.time() - self.started, 1),
                             "contexts": rows})
        if len(parts) == 3 and parts[:2] == ["api", "contexts"]:
            return self._ok(view.context_row(self._app(parts[2]), self.metrics))
        if len(parts) == 4 and parts[:2] == ["api", "contexts"] and parts[3] == "sessions":
            self._check_action(headers)  # session ids are credentials
            app = self._app(parts[2])
            running = app.sessions is not None and app.context is not None
            listing = app.sessions.listing() if running else []
            return self._ok({"id": parts[2], "sessions": listing})
        raise Refused(404, f"no such page: {path}")

    async def _post(self, parts: list[str], headers: dict[bytes, str],
                    ) -> tuple[int, str, bytes, list[tuple[bytes, bytes]]]:
        self._check_action(headers)
        manager = self.manager
        if len(parts) == 4 and parts[:2] == ["api", "contexts"] and parts[3] in page.ACTIONS:
            app = self._app(parts[2])
            action = {"redeploy": manager.redeploy, "start": manager.start_context,
                      "stop": manager.stop_context, "undeploy": manager.undeploy_context,
                      }[parts[3]]
            log.info("manager: %s %s", parts[3], app.path)
            try:
                await action(app.path)
            except KeyError:  # its descriptor went away meanwhile
                raise Refused(404, f"{parts[2]} is no longer deployed") from None
            except Exception as exc:
                log.exception("manager: %s %s failed", parts[3], app.path)
                raise Refused(500, f"{parts[3]} failed: {exc}") from None
            return self._ok({"action": parts[3], "context": view.context_row(app, self.metrics)})
        if (len(parts) == 6 and parts[:2] == ["api", "contexts"] and parts[3] == "sessions"
                and parts[5] == "invalidate"):
            app = self._app(parts[2])
            if app.context is None or app.sessions is None:
                raise Refused(409, f"{parts[2]} is not running")
            if not app.sessions.invalidate_id(parts[4]):
                raise Refused(404, "no such session")
            log.info("manager: invalidated a session of %s", app.path)
            return self._ok({"invalidated": parts[4]})
        raise Refused(404, "no such action")

    def _app(self, ident: str) -> Any:
        app = view.find(self.manager, ident)
        if app is None:
            raise Refused(404, f"no context from a descriptor named {ident!r}")
        return app

    @staticmethod
    def _ok(value: Any) -> tuple[int, str, bytes, list[tuple[bytes, bytes]]]:
        return 200, "application/json", _json(value), []


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1).encode()


def write_token(path: Path, token: str) -> None:
    """The generated token, readable by its owner only (0600, created so: never a moment wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode() + b"\n")
    finally:
        os.close(fd)
