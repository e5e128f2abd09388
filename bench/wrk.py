"""wrk, the load generator every throughput benchmark here runs in a process of its own, and the
CPU time of the processes it loads (from /proc)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (those gone count nothing)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += cpu_seconds(pid)
    return total


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (of any of its threads)."""
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += [int(k) for k in Path(f"/proc/{pid}/task/{task}/children").read_text()
                         .split()]
    return kids


def run_wrk(port: int, duration: float, connections: int, script: Path | None,
            cpu: int | None) -> tuple[float, int, int]:
    """(req/s, non-2xx/3xx answers, requests) of one wrk run on GET / (``cpu``: pinned there)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", f"http://127.0.0.1:{port}/"]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if errors and "timeout 0" not in errors.group(0):
        print(f"    wrk: {errors.group(0)}")
    return rps, int(bad.group(1)) if bad else 0, total
