"""What a context's sessions did, for the manager page and /metrics: counts and store timings.

Plain numbers kept by the session manager (this layer knows nothing of Prometheus); the manager
listener reads them when it is asked. One SessionStats follows a context's sessions across
redeploys (``take_over`` hands it on), so its counts never go back.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

# seconds; a store write of a few sessions is ~1 ms, a restore of 100,000 a few seconds
BOUNDS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                             2.5, 5.0, 10.0)


class Timings:
    """A fixed-bucket histogram of durations (counts per bucket, their sum)."""

    def __init__(self, bounds: tuple[float, ...] = BOUNDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.total = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
            self.total += seconds

    def cumulative(self) -> tuple[list[tuple[str, int]], float]:
        """([(le, count at or below)...] ending with "+Inf", sum), as Prometheus wants them."""
        with self._lock:
            counts, total = list(self.counts), self.total
        out, running = [], 0
        for bound, n in zip((*map(str, self.bounds), "+Inf"), counts, strict=True):
            running += n
            out.append((bound, running))
        return out, total


@dataclass
class SessionStats:
    created: int = 0
    expired: int = 0  # invalidated by the scavenger or on access after maxInactiveInterval
    saved: int = 0  # sessions written to the store
    save_seconds: Timings = field(default_factory=Timings)
    load_seconds: Timings = field(default_factory=Timings)
