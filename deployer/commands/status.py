"""`deployer status [--manager URL]`: the manager's table of contexts, in a terminal.

Reads ``/api/contexts`` of a running deployer's manager listener (no token needed to read) and
prints one line per context, then each context's last error. Exit 0 when every context answers,
1 when one does not or the manager cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from deployer.errors import DeployerError

COLUMNS = ("DESCRIPTOR", "CONTEXT", "KIND", "STATE", "VERSION", "DEPLOYED", "SESSIONS",
           "REQUESTS", "ERRORS", "WORKERS")


def fetch(url: str) -> dict[str, Any]:
    target = url.rstrip("/") + "/api/contexts"
    try:
        with urllib.request.urlopen(target, timeout=10) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DeployerError(f"cannot read {target}: {exc}") from None


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def table(data: dict[str, Any]) -> str:
    rows = [COLUMNS]
    for c in data["contexts"]:
        workers = " ".join(
            f"{w['pid']}({(w['rss'] or 0) / 1048576:.0f}MB,{w['requests']}req)"
            for w in c["workers"]) or "-"
        deployed = (time.strftime("%H:%M:%S", time.localtime(c["deployed_at"]))
                    if c["deployed_at"] else "-")
        path = _cell(c["context_path"]) + (
            f" ({','.join(c['virtual_hosts'])})" if c["virtual_hosts"] else "")
        state = c["state"] + ("" if c["answers"] else "!")
        rows.append((c["id"], path, _cell(c["kind"]), state, str(c["version"]), deployed,
                     _cell(c["sessions"]), _cell(c["requests"]), _cell(c["errors"]), workers))
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)) + "  " + r[-1]
             for r in rows]
    lines.append(f"{data['answering']} of {data['total']} contexts deployed"
                 + (" (! = not answering)" if data["answering"] < data["total"] else ""))
    for c in data["contexts"]:
        if c["error"]:
            lines.append(f"\n{c['id']}: {c['error']}")
    return "\n".join(lines)


def execute(args: argparse.Namespace) -> int:
    data = fetch(args.manager)
    if args.format == "json":
        json.dump(data, sys.stdout, indent=1)
        print()
    else:
        print(table(data))
    return 0 if data["answering"] == data["total"] else 1
