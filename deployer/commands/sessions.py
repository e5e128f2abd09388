"""`deployer sessions list|show|purge STORE_DIR`: inspect a session store (FORMAT.md).

Reading never changes the store (unreadable entries are reported, not moved); only purge writes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from deployer.errors import SessionError, UsageError
from deployer.sessions.ids import SessionIdManager
from deployer.sessions.store import Record, SessionStore


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _expired(rec: Record, now: float) -> bool:
    return rec[4] > 0 and rec[2] + rec[4] < now


def _summary(rec: Record, now: float) -> dict[str, Any]:
    return {
        "id": rec[0], "created": _when(rec[1]), "accessed": _when(rec[2]),
        "last_accessed": _when(rec[3]), "max_inactive_interval": rec[4],
        "attribute_count": len(rec[5]), "expired": _expired(rec, now),
    }


def _report_bad(store: SessionStore) -> None:
    for row, why in store.last_bad:
        print(f"deployer: unreadable entry {str(row[0])[:40]!r}: {why}", file=sys.stderr)
    quarantined = store.quarantined()
    if quarantined:
        print(f"deployer: {len(quarantined)} entries set aside in table 'quarantine' of "
              f"{store.path}", file=sys.stderr)


def _list(store: SessionStore, fmt: str) -> int:
    now = time.time()
    records = sorted(store.load_all(), key=lambda r: (-r[2], r[0]))  # latest first, then by id
    rows = [_summary(r, now) for r in records]
    if fmt == "json":
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'ID':<26} {'CREATED':<20} {'LAST ACCESSED':<20} {'MAX INACTIVE':>12} "
              f"{'ATTRS':>5}  EXPIRED")
        for r in rows:
            mi = f"{r['max_inactive_interval']}s" if r["max_inactive_interval"] > 0 else "never"
            print(f"{r['id']:<26} {r['created']:<20} {r['accessed']:<20} {mi:>12} "
                  f"{r['attribute_count']:>5}  {'yes' if r['expired'] else 'no'}")
        print(f"{len(rows)} sessions, {sum(r['expired'] for r in rows)} expired")
    _report_bad(store)
    return 0


def _show(store: SessionStore, session_id: str) -> int:
    if not SessionIdManager.is_valid(session_id):
        raise SessionError(
            f"{session_id[:80]!r} is not a valid session id "
            "(16-128 characters from A-Z a-z 0-9 _ -, optionally .worker)"
        )
    rec = store.get(SessionIdManager.cluster_id(session_id))
    if rec is None and store.last_bad:
        raise SessionError(f"session {session_id} is unreadable: {store.last_bad[0][1]}")
    if rec is None:
        raise SessionError(f"no session {session_id} in {store.directory}")
    out = _summary(rec, time.time())
    del out["attribute_count"]
    out["attributes"] = rec[5]
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def _purge(store: SessionStore, everything: bool) -> int:
    removed = store.purge(everything=everything)
    left = store.count()
    what = "sessions" if everything else "expired sessions"
    print(f"purged {removed} {what} from {store.directory}; {left} left")
    return 0


def execute(args: argparse.Namespace) -> int:
    store = SessionStore(args.store, create=False)
    try:
        store.open()  # a missing store is "no store" for every action, before any output
        if args.action == "list":
            return _list(store, args.format)
        if args.action == "show":
            return _show(store, args.session_id)
        if args.action == "purge":
            return _purge(store, args.all)
        raise UsageError(f"unknown sessions action {args.action!r}")
    finally:
        store.close()
