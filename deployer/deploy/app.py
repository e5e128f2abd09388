"""The App record: one descriptor file and what became of it.

The manager keeps one App per descriptor path. ``context`` is the version that serves (it survives a
failed redeploy); ``state`` and ``error`` say what the last attempt did, so an operator can see why
an edit did not take effect while the old version goes on answering.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.deploy.watch import Dependencies
from deployer.lifecycle import State


class AppState(enum.Enum):
    DEPLOYED = "deployed"  # the last attempt succeeded; context serves it
    FAILED = "failed"  # the last attempt failed; context (if any) is the older version
    REFUSED = "refused"  # conflicts with another descriptor; retried when that one goes away
    UNDEPLOYED = "undeployed"  # gone, or undeployed by an operator until its file changes
    STOPPED = "stopped"  # stopped by an operator until started again (file changes wait)


_WORKER_COUNTS = ("starts", "deaths", "restarts")


def _pool_counts(context: Any) -> Counter[str]:
    """A context's worker pool's starts, deaths and restarts (none for static files)."""
    pool = getattr(context, "pool", None)
    return Counter({k: getattr(pool, k) for k in _WORKER_COUNTS} if pool is not None else {})


@dataclass(frozen=True)
class Claims:
    """What a deployed version holds alone: routes (context path, host) and a session store."""

    routes: frozenset[tuple[str, str]] = frozenset()
    store: Path | None = None


@dataclass
class App:
    path: Path
    state: AppState = AppState.UNDEPLOYED
    version: int = 0  # successful deploys of this file
    context: Any = None  # the serving WebContext
    sessions: Any = None  # its SessionManager, handed to the next version
    spec: Any = None  # the serving version's ContextSpec
    claims: Claims = field(default_factory=Claims)
    dependencies: Dependencies = field(default_factory=Dependencies)  # what redeploys it
    error: str | None = None  # the last failure: file:line:col message, or a traceback
    conflicts_with: Path | None = None
    held: AppState | None = None  # STOPPED or UNDEPLOYED by an operator (the manager's actions)
    deployed_at: float | None = None  # time.time() of the serving version's swap
    retired_workers: Counter[str] = field(default_factory=Counter)  # starts/deaths/restarts

    def retire_workers(self, context: Any) -> None:
        """Keep the worker counts of a version that leaves, so the totals never go back."""
        self.retired_workers.update(_pool_counts(context))

    def worker_counts(self) -> dict[str, int]:
        now = _pool_counts(self.context)
        return {k: self.retired_workers[k] + now[k] for k in _WORKER_COUNTS}

    @property
    def answers(self) -> bool:
        """Its context serves requests now (not 503, not stopped)."""
        context = self.context
        if context is None or context.state is not State.STARTED:
            return False
        pool = context.pool
        return context.spec is None or (pool is not None and pool.state == "serving")

    @property
    def context_path(self) -> str:
        return self.spec.context_path if self.spec is not None else "?"

    def status(self) -> dict[str, Any]:
        """A plain dict for logs and tests: what is deployed and why not."""
        return {
            "path": str(self.path),
            "state": self.state.value,
            "version": self.version,
            "context_path": self.spec.context_path if self.spec is not None else None,
            "error": self.error,
        }
