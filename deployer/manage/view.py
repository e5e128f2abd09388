"""What the page, the JSON API and `deployer status` show: one plain dict per context.

Read on the event loop from the live objects (the App records, their contexts, pools and session
managers), so a snapshot is consistent with the route table of that moment.
"""

from __future__ import annotations

import time
from typing import Any

from deployer.deploy.app import App, AppState
from deployer.deploy.manager import DeploymentManager
from deployer.manage.metrics import Metrics


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (VmRSS of /proc/PID/status), None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def workers(app: App) -> list[dict[str, Any]]:
    pool = getattr(app.context, "pool", None)
    if pool is None:
        return []
    now = time.monotonic()
    return [{"pid": p.pid, "rss": rss_bytes(p.pid), "uptime": round(now - p.started_at, 1),
             "requests": p.requests} for p in list(pool.workers)]


def context_row(app: App, metrics: Metrics | None) -> dict[str, Any]:
    spec, context = app.spec, app.context
    requests, errors = metrics.counts(app) if metrics is not None else (None, None)
    sessions = app.sessions.sessions if app.sessions is not None and context is not None else None
    return {
        "id": app.path.name,
        "descriptor": str(app.path),
        "context_path": spec.context_path if spec is not None else None,
        "virtual_hosts": list(spec.virtual_hosts) if spec is not None else [],
        "kind": context.kind if context is not None else None,
        "state": app.state.value,
        "answers": app.answers,
        "version": app.version,
        "deployed_at": app.deployed_at,
        "error": app.error,
        "sessions": sessions,
        "requests": requests,
        "errors": errors,
        "workers": workers(app),
    }


def contexts(manager: DeploymentManager, metrics: Metrics | None) -> list[dict[str, Any]]:
    return [context_row(app, metrics) for _, app in sorted(manager.apps.items())]


def find(manager: DeploymentManager, ident: str) -> App | None:
    """The App a row's ``id`` (its descriptor's file name) names."""
    for path, app in manager.apps.items():
        if path.name == ident:
            return app
    return None


def unready(manager: DeploymentManager) -> list[str]:
    """Contexts that should answer and do not (an operator's stop or undeploy is not a fault)."""
    return [f"{app.path.name}: {app.state.value}" for _, app in sorted(manager.apps.items())
            if app.held is None and not (app.state is AppState.DEPLOYED and app.answers)]


def summary(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(contexts that answer, descriptors) of ``contexts``' rows: "N of M contexts deployed",
    counted on the same snapshot the rows show."""
    return sum(1 for row in rows if row["answers"]), len(rows)
