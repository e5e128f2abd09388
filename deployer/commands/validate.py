"""`deployer validate PATH...`: schema + evaluation as a dry run; nothing is started.

Exit 0 when every descriptor is valid, 1 when any is not, 2 for bad usage (a path that does not
exist). Besides the language, it checks what `run` would refuse: errors for what is wrong in the
file itself (nothing to serve), warnings for what depends on this machine (a war, virtualenv or
application module that is not here) and for what `run` ignores (JVM-only settings); warnings
leave the exit code alone unless ``--strict``. Text output is one ``path:line:col: message`` line
per problem (``warning:`` before a warning's message) and a summary; ``--format json`` prints one
JSON document with an entry per file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from deployer.deploy.build import check, missing_application
from deployer.descriptor.loader import check_file, load_configs
from deployer.descriptor.specs import ServerSpec
from deployer.errors import DescriptorError, DescriptorErrors, Location, UsageError

Found = tuple[Path, list[DescriptorError], list[DescriptorError]]  # file, errors, warnings


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


def servers(args: argparse.Namespace) -> tuple[ServerSpec | None, list[Found]]:
    """``--config``'s server descriptors, evaluated together as ``run --config`` does: what they
    give the contexts (None when any has a problem), and each file's problems."""
    paths = [Path(p) for p in args.config]
    named = {str(p) for p in paths}  # a problem of no listed file goes with the first

    def of(i: int, found: list[DescriptorError]) -> list[DescriptorError]:
        return [p for p in found if p.location.file == str(paths[i])
                or i == 0 and p.location.file not in named]

    try:
        spec = load_configs(paths, dict(args.properties), dict(args.system_properties))
    except DescriptorErrors as exc:
        return None, [(path, of(i, exc.problems), []) for i, path in enumerate(paths)]
    warnings = spec.warnings if spec is not None else []
    return spec, [(path, [], of(i, warnings)) for i, path in enumerate(paths)]


def _check(path: Path, args: argparse.Namespace, server: ServerSpec | None = None) -> Found:
    try:
        errors, descriptor = check_file(
            path, properties=dict(args.properties), system_properties=dict(args.system_properties),
            server=server)
        if descriptor is None:
            return path, errors, []
        warnings = list(descriptor.warnings)
        checked = check(descriptor.context, path)
        errors.extend(checked.errors)
        warnings.extend(checked.machine)
        if checked.resolved is not None:
            missing = missing_application(descriptor.context, checked.resolved, path)
            warnings.extend([missing] if missing else [])
        return path, errors, warnings
    except Exception as exc:  # never a traceback for any input; a bug still names the file
        return path, [DescriptorError(Location(str(path)), f"internal error "
                                      f"({type(exc).__name__}: {exc}); please report it")], []


def execute(args: argparse.Namespace) -> int:
    server, results = servers(args)
    configs = {path.resolve() for path, _, _ in results}
    files = [f for f in collect(list(args.paths)) if f.resolve() not in configs]
    results += [_check(path, args, server) for path in files]
    strict = args.strict
    invalid = sum(1 for _, errors, warnings in results if errors or strict and warnings)
    try:
        _report(results, invalid, args.format)
    except BrokenPipeError:  # `deployer validate ... | head`: the reader left, the verdict stands
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 1 if invalid else 0


def _json(p: DescriptorError) -> dict[str, object]:
    return {"file": p.location.file, "line": p.location.line, "column": p.location.column,
            "message": p.message}


def _report(results: list[Found], invalid: int, fmt: str) -> None:
    if fmt == "json":
        json.dump({
            "ok": invalid == 0,
            "files": [{
                "file": str(path),
                "ok": not errors,
                "problems": [_json(p) for p in errors],
                "warnings": [_json(w) for w in warnings],
            } for path, errors, warnings in results],
        }, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        lines = sorted([(p.location, str(p)) for _, errors, _ in results for p in errors]
                       + [(w.location, f"{w.location}: warning: {w.message}")
                          for _, _, warnings in results for w in warnings])
        for _, line in lines:
            print(line)
        total = sum(len(e) for _, e, _ in results)
        warned = sum(len(w) for _, _, w in results)
        print(f"{len(results)} descriptor(s) checked: {len(results) - invalid} valid, {invalid} "
              f"invalid, {total} problem(s), {warned} warning(s)")
