"""`deployer validate PATH...`: schema + evaluation as a dry run; nothing is started.

Exit 0 when every descriptor is valid, 1 when any is not, 2 for bad usage (a path that does not
exist). Text output is one ``path:line:col: message`` line per problem and
a summary; ``--format json`` prints one JSON document with an entry per file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from deployer.descriptor.loader import validate_file
from deployer.errors import DescriptorError, Location, UsageError


def collect(paths: list[str]) -> list[Path]:
    """Files as given; a directory contributes its *.xml files, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix == ".xml" and p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    return files


def _check(path: Path, args: argparse.Namespace) -> list[DescriptorError]:
    try:
        return validate_file(
            path, properties=dict(args.properties), system_properties=dict(args.system_properties)
        )
    except Exception as exc:  # never a traceback for any input; a bug still names the file
        return [DescriptorError(Location(str(path)), f"internal error ({type(exc).__name__}: "
                                                     f"{exc}); please report it")]


def execute(args: argparse.Namespace) -> int:
    files = collect(list(args.paths))
    results = [(path, _check(path, args)) for path in files]
    invalid = sum(1 for _, problems in results if problems)
    try:
        _report(results, invalid, args.format)
    except BrokenPipeError:  # `deployer validate ... | head`: the reader left, the verdict stands
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 1 if invalid else 0


def _report(results: list[tuple[Path, list[DescriptorError]]], invalid: int, fmt: str) -> None:
    files = [path for path, _ in results]
    if fmt == "json":
        json.dump({
            "ok": invalid == 0,
            "files": [{
                "file": str(path),
                "ok": not problems,
                "problems": [{"file": p.location.file, "line": p.location.line,
                              "column": p.location.column, "message": p.message}
                             for p in problems],
            } for path, problems in results],
        }, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for _, problems in results:
            for problem in problems:
                print(problem)
        total = sum(len(p) for _, p in results)
        print(f"{len(files)} descriptor(s) checked: {len(files) - invalid} valid, {invalid} "
              f"invalid, {total} problem(s)")
