"""Session store figures: save, eager restore, lazy first get, disk, memory per session.

Compares deployer's store (one SQLite database in WAL mode) with the obvious alternative, a JSON
file per session written with an atomic rename (the baseline of the ratios), and quotes Jetty 9.4's
FileSessionDataStore figures measured on this machine (issue 3: 410 MB, ~2 s for 100,000).

    .venv/bin/python bench/bench_sessions.py              # 10,000 and 100,000 sessions
    .venv/bin/python bench/bench_sessions.py --counts 10000 --no-baseline
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager

TARGETS = {"save_s": 1.0, "restore_s": 1.0, "lazy_ms": 100.0, "disk_mb": 100.0, "mem_b": 1024}


def disk_bytes(directory: Path) -> tuple[int, int]:
    """(allocated bytes, apparent bytes) of every file under directory."""
    alloc = size = 0
    for p in directory.rglob("*"):
        if p.is_file():
            st = p.stat()
            alloc += st.st_blocks * 512
            size += st.st_size
    return alloc, size


def small_attributes(i: int) -> dict:
    return {"count": i, "user": f"user{i}"}


def bench_sqlite(n: int, root: Path) -> dict[str, float]:
    store = root / f"sqlite-{n}"
    ids = SessionIdManager()
    m = SessionManager(SessionConfig(store_directory=store), ids, "bench")
    m.start()
    for i in range(n):
        s = m.create()
        s.update(small_attributes(i))
        m.complete(s)
        if i == 0:
            other_id = s.id
    some_id = s.id
    gc.collect()
    t = time.perf_counter()
    m.stop()  # save on stop: one transaction, then the WAL checkpointed on close
    save = time.perf_counter() - t
    alloc, size = disk_bytes(store)

    eager = SessionManager(SessionConfig(store_directory=store), SessionIdManager(), "eager")
    t = time.perf_counter()
    eager.start()
    restore = time.perf_counter() - t
    assert eager.sessions == n
    eager.stop()

    lazy = SessionManager(SessionConfig(store_directory=store, lazy_load=True),
                          SessionIdManager(), "lazy")
    t = time.perf_counter()
    lazy.start()
    got = lazy.get(some_id)
    first = time.perf_counter() - t
    assert got is not None and got["count"] == n - 1
    t = time.perf_counter()
    assert lazy.get(other_id) is not None  # while the rest loads in the background
    second = time.perf_counter() - t
    lazy.stop()
    return {"save_s": save, "restore_s": restore, "lazy_ms": first * 1000,
            "second_ms": second * 1000, "disk_mb": alloc / 1e6, "apparent_mb": size / 1e6}


def bench_files(n: int, root: Path) -> dict[str, float]:
    """Baseline: one JSON file per session, temp file + os.replace (crash-safe, no fsync)."""
    store = root / f"files-{n}"
    store.mkdir(mode=0o700)
    now = time.time()
    records = {
        SessionIdManager().new_id(): (now, now, now, 1800, small_attributes(i)) for i in range(n)
    }
    some_id = next(iter(records))
    t = time.perf_counter()
    for sid, rec in records.items():
        tmp = store / f".{sid}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(rec, f)
        os.replace(tmp, store / sid)
    save = time.perf_counter() - t
    alloc, size = disk_bytes(store)
    t = time.perf_counter()
    loaded = {}
    for name in os.listdir(store):
        with open(store / name) as f:
            loaded[name] = json.load(f)
    restore = time.perf_counter() - t
    assert len(loaded) == n
    t = time.perf_counter()
    with open(store / some_id) as f:
        json.load(f)
    first = time.perf_counter() - t
    return {"save_s": save, "restore_s": restore, "lazy_ms": first * 1000,
            "disk_mb": alloc / 1e6, "apparent_mb": size / 1e6}


def memory_per_session(n: int, attributes: bool) -> float:
    m = SessionManager(SessionConfig(), SessionIdManager(), "mem")
    m.start()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        s = m.create()
        if attributes:
            s.update(small_attributes(i))
        m.complete(s)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    m.stop()
    return used / n


def attribute_bytes(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [small_attributes(i) for i in range(n)]
    used = tracemalloc.get_traced_memory()[0] - before - (len(kept) * 8 + 56)
    tracemalloc.stop()
    return used / n


def row(label: str, r: dict[str, float]) -> str:
    return (f"  {label:<22} save {r['save_s']:7.3f} s   eager restore {r['restore_s']:7.3f} s   "
            f"first get (lazy) {r['lazy_ms']:7.2f} ms   disk {r['disk_mb']:7.1f} MB "
            f"({r['apparent_mb']:.1f} MB apparent)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="where stores go (default: tmp)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-sessions-", dir=args.dir))
    try:
        results = {}
        for n in args.counts:
            print(f"{n:,} small sessions {small_attributes(n - 1)}:")
            ours = bench_sqlite(n, root)
            results[n] = ours
            print(row("sqlite (deployer)", ours))
            print(f"  {'':<22} next get of another id during the background load: "
                  f"{ours['second_ms']:.2f} ms")
            if not args.no_baseline:
                base = bench_files(n, root)
                print(row("file per session", base))
                print("  ratio file/sqlite      " + "   ".join(
                    f"{k.split('_')[0]} {base[k] / ours[k]:5.1f}x"
                    for k in ("save_s", "restore_s", "disk_mb")))
            if n == 100_000:
                print(f"  Jetty 9.4 FileSessionDataStore (issue 3): ~2 s restart, 410 MB -> "
                      f"deployer {2 / ours['restore_s']:.1f}x faster, "
                      f"{410 / ours['disk_mb']:.0f}x smaller")
            shutil.rmtree(root / f"sqlite-{n}", ignore_errors=True)
            shutil.rmtree(root / f"files-{n}", ignore_errors=True)
        if len(results) > 1:
            lo, hi = min(results), max(results)
            print(f"first get with lazyLoad, {hi:,} vs {lo:,} sessions: "
                  f"{results[hi]['lazy_ms'] / results[lo]['lazy_ms']:.2f}x "
                  "(flat: it reads one row, whatever the count)")
        bare = memory_per_session(20_000, attributes=False)
        full = memory_per_session(20_000, attributes=True)
        attrs = attribute_bytes(20_000)
        print(f"memory per session (tracemalloc, 20,000): {bare:.0f} B with no attributes, "
              f"{full:.0f} B with {small_attributes(1)} (the attributes alone: {attrs:.0f} B), "
              f"so {full - attrs:.0f} B beyond its attributes")
        last = results[max(results)]
        print(f"targets at {max(results):,}: save {last['save_s']:.2f}/<{TARGETS['save_s']} s, "
              f"restore {last['restore_s']:.2f}/<{TARGETS['restore_s']} s, "
              f"lazy first get {last['lazy_ms']:.1f}/<{TARGETS['lazy_ms']:.0f} ms, "
              f"disk {last['disk_mb']:.1f}/<{TARGETS['disk_mb']:.0f} MB, "
              f"memory {full - attrs:.0f}/<{TARGETS['mem_b']} B")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
