"""The App record: one descriptor file and what became of it.

The manager keeps one App per descriptor path. ``context`` is the version that serves (it survives a
failed redeploy); ``state`` and ``error`` say what the last attempt did, so an operator can see why
an edit did not take effect while the old version goes on answering.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.deploy.watch import Dependencies


class AppState(enum.Enum):
    DEPLOYED = "deployed"  # the last attempt succeeded; context serves it
    FAILED = "failed"  # the last attempt failed; context (if any) is the older version
    REFUSED = "refused"  # conflicts with another descriptor; retried when that one goes away
    UNDEPLOYED = "undeployed"


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
