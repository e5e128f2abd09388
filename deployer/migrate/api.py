"""The migration pipeline: read, dispatch (context descriptor or pom), convert, validate, write.

The converted descriptor is checked with the same ``validate_file`` that ``deployer validate`` runs.
Whatever it still refuses is not left in: the statement is turned into a comment and reported, and
the check repeats, so a file either comes out deployable or is reported as failed with the reasons.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lxml import etree

from deployer.migrate import conflicts, context, maven, rules, server, serverstore, values, writer
from deployer.migrate.reader import ReadError, local, parse_text, read
from deployer.migrate.report import NO_AUTHENTICATION, Action, FileResult, Status
from deployer.migrate.standins import stand_ins

_STATEMENTS = {"Set", "Put", "Call", "Get", "New", "Ref", "Array", "Map", "Property"}
_SCOPES = {"Configure", "New", "Get", "Call", "Ref"}
MAX_REPAIRS = 40
#: a file a directory run does not take but names like a Jetty XML (jetty.xml.production,
#: webapp.xml.bak, context.xml~): listed as skipped; README, .war and .jar files are not
_JETTY_NAME = re.compile(r"\.xml\b", re.IGNORECASE)  # "\b" also matches at the end


def iter_sources(sources: Iterable[str | Path]) -> Iterator[tuple[Path, bool]]:
    """(file, taken): files as given are taken; directories give their files recursively
    (hidden ones left out), of which only *.xml are taken: the others are listed as skipped,
    so a `jetty.xml.production` beside them is not passed over in silence."""
    for src in sources:
        path = Path(src)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for f in sorted(filenames):
                    if not f.startswith("."):
                        yield Path(dirpath) / f, f.endswith(".xml")
        else:
            yield path, True


def _mentions_file_store(path: Path) -> bool:
    """A cheap look before serverstore.find parses the file."""
    try:
        with path.open("rb") as f:
            return b"FileSessionDataStoreFactory" in f.read(serverstore.MAX_LOOK)
    except OSError:
        return False


def _validator():
    try:
        from deployer.descriptor.loader import validate_file
    except ImportError:  # pragma: no cover - the descriptor layer ships with deployer
        return None
    return validate_file


def _statement_of(elem: etree._Element, root: etree._Element) -> etree._Element | None:
    while elem is not None and elem is not root:
        parent = elem.getparent()
        if parent is None:
            return None
        if isinstance(elem.tag, str) and elem.tag in _STATEMENTS and parent.tag in _SCOPES:
            return elem
        elem = parent
    return None


class _Problem:
    """A validator failure that names no line (it crashed)."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.location = None


def _validate(text: str, name: str, out: etree._Element) -> list | None:
    validate_file = _validator()
    if validate_file is None:
        return None
    with tempfile.TemporaryDirectory(prefix="deployer-migrate-") as tmp:
        path = Path(tmp) / f"{name}.xml"
        path.write_text(text, encoding="utf-8")
        return list(validate_file(path, **stand_ins(out)))


def _repair(result: FileResult, out: etree._Element, text: str, problems: list) -> bool:
    """Comment out the statement the first fixable problem points at; False when none is."""
    parsed = parse_text(text)
    mem, par = list(out.iter()), list(parsed.iter())
    if len(mem) != len(par):  # pragma: no cover - serialisation keeps every node
        return False
    for problem in problems:
        line = getattr(getattr(problem, "location", None), "line", 0)
        if line <= 0:
            continue
        index = None
        for i, node in enumerate(par):
            if isinstance(node.tag, str) and node.sourceline and node.sourceline <= line:
                index = i
        if index is None:
            continue
        stmt = _statement_of(mem[index], out)
        if stmt is None:
            continue
        src_line = stmt.sourceline or 0
        why = f"deployer validate refuses it ({problem.message})"
        result.add(src_line, Action.DROPPED, values.describe(stmt), advice=why)
        note = writer.dropped_comment(stmt, src_line, why, "    ")
        note.tail = stmt.tail
        stmt.getparent().replace(stmt, note)
        return True
    return False


def finish(result: FileResult, converted: tuple, validate: Callable[..., list | None] = _validate
           ) -> None:
    out, before, after = converted
    for _ in range(MAX_REPAIRS):
        text = writer.serialize(out, before, after)
        try:
            problems = validate(text, result.name or "migrated", out)
        except Exception as exc:  # noqa: BLE001 - a validator crash must not lose the report
            problems = [_Problem(f"deployer validate crashed: {type(exc).__name__}: {exc}")]
        if problems is None:
            result.text = text
            result.status = _status(result)
            result.message = "not validated: deployer.descriptor.loader is not available"
            return
        if not problems:
            result.text = text
            result.status = _status(result)
            return
        if not _repair(result, out, text, problems):
            result.status = Status.FAILED
            result.message = "the migrated descriptor is still refused: " + "; ".join(
                p.message for p in problems[:3])
            return
    result.status = Status.FAILED
    result.message = "too many statements refused by deployer validate"


def _status(result: FileResult) -> Status:
    lost = [f.line for f in result.findings
            if rules.drops_authentication(f.action.value, f.advice)]
    if lost:
        lines = ", ".join(str(n) for n in sorted(set(lost)))
        why = (f"{NO_AUTHENTICATION}: the source protects the app (line {lines}) and deployer "
               "has no security layer, so as migrated it is open to anyone; protect it (a front "
               "proxy or middleware in the app) before deploying")
        result.message = why + (f"; {result.incomplete}" if result.incomplete else "")
        return Status.INCOMPLETE
    if result.incomplete:
        result.message = result.incomplete
        return Status.INCOMPLETE
    if any(f.action is not Action.KEPT for f in result.findings):
        return Status.WITH_CHANGES
    return Status.AS_IS


def migrate_file(path: Path, out_dir: Path | None = None, taken: set[str] | None = None,
                 store: serverstore.ServerStore | None = None) -> FileResult:
    """Migrate one file; never raises for bad input (the result says what went wrong).
    ``store``: a server-wide file session store migrated in the same run (serverstore.py)."""
    result = FileResult(source=str(path))
    try:
        src = read(path)
    except ReadError as exc:
        result.status = Status.FAILED
        result.message = str(exc) + (f" (line {exc.line})" if exc.line else "")
        return result
    root_tag = local(src.root.tag)
    if server.session_server(src):
        result.server = True
        result.name = writer.unique(writer.output_name(path, None), taken if taken is not None
                                    else set())
        finish(result, server.migrate_server(src, result), server.validate_server)
        return result
    if root_tag == "project":
        converted, preferred = maven.migrate_pom(src, result, out_dir)
    else:
        converted, preferred = context.migrate_configure(src, result), None
    if converted is None:
        if result.status is Status.FAILED and not result.message:
            result.message = "nothing to migrate"
        elif store is not None and store.source == str(path):
            result.message = store.describe()
        return result
    result.name = writer.unique(writer.output_name(path, preferred), taken if taken is not None
                                else set())
    if store is not None and root_tag != "project" and store.applies_to(path):
        serverstore.apply(store, converted[0], result)
    finish(result, converted)
    return result


def migrate(sources: Iterable[str | Path], out_dir: Path | None = None,
            write: bool = True,
            progress: Callable[[int, int, Path], None] | None = None) -> list[FileResult]:
    """Migrate every source; with ``out_dir`` and ``write`` the descriptors are written there.
    ``progress(done, total, path)`` is called before each file (a long tree's progress line)."""
    taken: set[str] = set()
    results = []
    skip = out_dir.resolve() if out_dir is not None else None
    found = list(iter_sources(sources))
    stores = [s for p, wanted in found if wanted and _mentions_file_store(p)
              and (s := serverstore.find(p)) is not None]
    store = stores[0] if len(stores) == 1 else None  # two would contradict: use neither
    for done, (path, wanted) in enumerate(found):
        if progress is not None:
            progress(done, len(found), path)
        if skip is not None and skip in path.resolve().parents:
            continue  # our own output from an earlier run, inside a source directory
        if not wanted:
            if _JETTY_NAME.search(path.name):
                results.append(FileResult(
                    source=str(path), status=Status.SKIPPED,
                    message="not a .xml file; name it on the command line to migrate it"))
            continue
        result = migrate_file(path, out_dir, taken, store)
        result.findings.sort(key=lambda f: f.line)
        if write and out_dir is not None and result.text is not None \
                and result.status is not Status.FAILED:
            where = out_dir / "server" if result.server else out_dir  # never a context
            where.mkdir(parents=True, exist_ok=True)
            target = where / f"{result.name}.xml"
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(result.text, encoding="utf-8")
            os.replace(tmp, target)
            result.output = str(target)
            if result.server:
                result.message = (f"a server descriptor: deployer run {out_dir} --config "
                                  f"{target}")
        results.append(result)
    conflicts.check(results, out_dir)
    return results
