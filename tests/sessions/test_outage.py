"""A store that fails while running (issue 12, item 7): one line when it starts, one when it ends,
the sessions kept in memory meanwhile and saved after. The fault is real: a child process whose
file size limit (RLIMIT_FSIZE) is 0, so every write to the store fails with EFBIG, as on a full
disk, whoever runs the test (root ignores a read-only directory, not a file size limit)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from deployer.sessions.store import DB_NAME

CHILD = textwrap.dedent("""
    import logging, resource, signal, sys, time
    from deployer.sessions.manager import SessionConfig, SessionIdManager, SessionManager

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    m = SessionManager(SessionConfig(store_directory=sys.argv[1], save_period=0.02),
                       SessionIdManager(), "full")
    m.start()
    s = m.create()
    s["n"] = 0
    m.save()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    n = 0
    deadline = time.monotonic() + 60
    while m.health.failures < 20 and time.monotonic() < deadline:
        n += 1
        s["n"] = n  # every periodic save has something to write
        time.sleep(0.01)
    failed = m.health.failures
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    while m.health.failures and time.monotonic() < deadline:
        time.sleep(0.01)
    m.stop()
    print(json.dumps({"id": s.id, "n": n, "failed": failed}))
""").replace("import logging,", "import json, logging,")


def test_a_failing_store_is_logged_once_per_outage_and_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, "-c", CHILD, str(store)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["failed"] >= 20, done.stderr
    lines = done.stderr.splitlines()
    started = [line for line in lines if "the periodic save failed" in line]
    assert len(started) == 1, done.stderr
    assert str(store) in started[0] and started[0].startswith("ERROR sessions full:")
    ended = [line for line in lines if "the store works again after" in line]
    assert len(ended) == 1, done.stderr
    assert int(ended[0].split("after ")[1].split()[0]) >= 20
    assert "Traceback" not in done.stderr
    with sqlite3.connect(store / DB_NAME) as c:  # kept in memory, saved once it worked again
        attrs = c.execute("SELECT attributes FROM sessions WHERE id = ?",
                          (result["id"],)).fetchone()[0]
    c.close()
    assert json.loads(attrs) == {"n": result["n"]}
