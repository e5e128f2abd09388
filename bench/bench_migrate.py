"""How fast `deployer migrate` gets through the shared Jetty corpus (read, convert, validate).

    .venv/bin/python bench/bench_migrate.py [ROUNDS]

Prints files per second for a dry run (nothing written), best of ROUNDS (default 5).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from deployer.migrate.api import migrate

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "jetty-corpus"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    files = sorted(CORPUS.glob("*.xml"))
    if not files:
        sys.exit(f"no corpus at {CORPUS}")
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        results = migrate(files, None, write=False)
        best = min(best, time.perf_counter() - start)
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status.value] = by_status.get(r.status.value, 0) + 1
    print(f"{len(files)} files in {best * 1000:.1f} ms (best of {rounds}): "
          f"{len(files) / best:.0f} files/s, {best / len(files) * 1000:.2f} ms per file")
    print(", ".join(f"{n} {s}" for s, n in sorted(by_status.items())))


if __name__ == "__main__":
    main()
