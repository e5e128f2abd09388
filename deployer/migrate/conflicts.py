"""Clashes between migrated descriptors that each validate alone.

deployer refuses a second context on the same contextPath and virtual hosts, and a second context
on the same storeDirectory (JETTY.md §3.1: 9.3 session files carry no context). Jetty 9.4 shares one
storeDir between contexts freely, and jetty-web.xml fragments all default to "/", so a batch of
migrated files can clash; the summary of each file says with which.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from pathlib import Path

from deployer.migrate.report import FileResult, Status

_DEPLOYABLE = (Status.AS_IS, Status.WITH_CHANGES, Status.INCOMPLETE)


def _spec(result: FileResult):
    from deployer.descriptor.loader import load_descriptor

    if result.output:
        return load_descriptor(result.output).context
    with tempfile.TemporaryDirectory(prefix="deployer-migrate-") as tmp:
        path = Path(tmp) / f"{result.name}.xml"
        path.write_text(result.text or "", encoding="utf-8")
        return load_descriptor(path).context


def check(results: list[FileResult], out_dir: Path | None) -> None:
    """Append a note to the summary of every file that clashes with another."""
    routes: dict[tuple, list[FileResult]] = defaultdict(list)
    stores: dict[str, list[FileResult]] = defaultdict(list)
    base = (out_dir or Path.cwd()).resolve()
    for r in results:
        if r.status not in _DEPLOYABLE or r.text is None:
            continue
        try:
            spec = _spec(r)
        except Exception:  # noqa: BLE001 - a clash check must never lose the report
            continue
        routes[(spec.context_path, tuple(sorted(spec.virtual_hosts)))].append(r)
        handler = spec.session_handler
        store = handler.session_manager.store_directory if handler else None
        if store:
            stores[os.path.normpath(base / os.path.expanduser(store))].append(r)
    for (path, hosts), group in routes.items():
        where = f"contextPath {path}" + (f" on {', '.join(hosts)}" if hosts else "")
        _note(group, where)
    for store, group in stores.items():
        _note(group, f"storeDirectory {store}")


def _note(group: list[FileResult], what: str) -> None:
    """Mark each file of a clash; the report lists the group once (report.render_text)."""
    if len(group) < 2:
        return
    for r in group:
        r.clashes.append(what)
