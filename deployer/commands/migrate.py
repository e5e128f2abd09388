"""`deployer migrate SRC... [--out DIR] [--dry-run] [--format text|json]`.

Exit 0 when every input gave a deployable descriptor or was recognised as no context; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from deployer.errors import UsageError
from deployer.migrate.api import migrate
from deployer.migrate.report import render_json, render_text


class Progress:
    """``migrating: 120 of 4000 files (path)`` on stderr every ``every`` seconds of a long run;
    a run shorter than that prints none (the report on stdout is unchanged)."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.due = time.monotonic() + every

    def __call__(self, done: int, total: int, path: Path) -> None:
        now = time.monotonic()
        if now >= self.due:
            print(f"migrating: {done} of {total} files ({path})", file=sys.stderr, flush=True)
            self.due = now + self.every


def execute(args: argparse.Namespace) -> int:
    missing = [s for s in args.sources if not Path(s).exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a directory")
    results = migrate(args.sources, out, write=not args.dry_run, progress=Progress())
    if not results:
        raise UsageError("no .xml files found in " + ", ".join(args.sources))
    render = render_json if args.format == "json" else render_text
    sys.stdout.write(render(results))
    if out is None and not args.dry_run:
        print("(no --out DIR given: nothing written; the report above is all)", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1
