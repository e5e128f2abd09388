"""SessionConfig (HashSessionManager's properties) and the NEEDS_STORE answer of try_get."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class _NeedsStore:
    def __repr__(self) -> str:
        return "NEEDS_STORE"


NEEDS_STORE = _NeedsStore()
"""try_get's answer when only a (blocking) store read can tell: call get() off the event loop."""


@dataclass(frozen=True)
class SessionConfig:
    """HashSessionManager's properties, Jetty 9.3 names in snake case, seconds throughout."""

    store_directory: Path | None = None
    lazy_load: bool = False
    save_period: float = 0
    scavenge_period: float = 30
    idle_save_period: float = 0
    delete_unrestorable: bool = False
    max_inactive_interval: int = 1800
    node_id_in_session_id: bool = False
    allow_pickle: bool = False
    max_active_sessions: int = 100_000  # in memory; Tomcat's maxActiveSessions (manager.py)

    def __post_init__(self) -> None:
        if self.store_directory is not None:
            object.__setattr__(self, "store_directory", Path(self.store_directory))
        for name in ("save_period", "idle_save_period"):  # Jetty: negative means off
            object.__setattr__(self, name, max(0, getattr(self, name)))
        object.__setattr__(self, "max_inactive_interval", int(self.max_inactive_interval))
        if self.max_active_sessions < 1:
            raise ValueError(f"max_active_sessions must be >= 1, got {self.max_active_sessions}")

    @property
    def scavenge_interval(self) -> float:
        """Jetty's clamp: 0 -> 60, within 1..60, lowered to max_inactive/10 for short timeouts."""
        period = self.scavenge_period if self.scavenge_period > 0 else 60
        period = min(60.0, max(1.0, period))
        mi = self.max_inactive_interval
        if 0 < mi < period:
            period = max(1.0, float((mi + 9) // 10))
        return period
