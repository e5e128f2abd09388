"""Hardened parsing of descriptor files with lxml.

A descriptor comes from a directory anyone with write access can drop files into, so the parser
must never reach outside the file: no network, no external entities, no external DTD, no entity
expansion, bounded size. Jetty's own DOCTYPEs (JETTY.md 1.1-1.2) are recognised by public id or by
the file name at the end of the system id, exactly as XmlConfiguration redirects them, and are
never fetched: the grammar is our own XSD (schema.py), applied after parsing.
"""

from __future__ import annotations

import re
import stat
import threading
from pathlib import Path

from lxml import etree

from deployer.descriptor.locator import Locator
from deployer.errors import DescriptorError, DescriptorErrors, Location

MAX_BYTES = 4 * 1024 * 1024
"""Descriptors are a few KB; anything over 4 MiB is refused before a byte is parsed."""

MAX_ELEMENTS = 5_000
MAX_ATTRIBUTES = 32  # on one element; Jetty's elements take at most five
MAX_ALL_ATTRIBUTES = 10_000
MAX_DEPTH = 64
MAX_TEXT = 64 * 1024  # characters of one text (or tail) between two tags
"""A 4 MiB descriptor with ~400,000 attributes took 12-51 s and 0.8-1 GB to validate (one error
per attribute), and its parse alone left the front 280 MB bigger. So the bytes are counted before
the parse (each element needs a '<', each attribute a '='), and the tree's shape is checked right
after it, before the schema sees it. Real descriptors have tens of elements."""

JETTY_PUBLIC_IDS = frozenset(
    {"-//Jetty//Configure//EN", "-//Mort Bay Consulting//DTD Configure//EN"}
)
_VERSIONED_PUBLIC_ID = re.compile(r"-//Mort Bay Consulting//DTD Configure [0-9.]+//EN")
_DTD_FILE = re.compile(r"configure(?:_\d+_\d+)?\.dtd")
_DOCTYPE = re.compile(rb"<!DOCTYPE")
_SUBSET_ENTITY = re.compile(rb"<!DOCTYPE[^>\[]*\[[^\]]*<!ENTITY")


class _NoFetch(etree.Resolver):
    """Answers every request for an external resource with nothing; libxml2 never opens it."""

    def resolve(self, system_url, public_id, context):  # type: ignore[override]
        return self.resolve_string("", context)


def _make_parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        collect_ids=False,
    )
    parser.resolvers.add(_NoFetch())
    return parser


_LOCAL = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread: lxml parsers must not be shared between threads."""
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = _make_parser()
    return parser


def is_jetty_doctype(public_id: str | None, system_url: str | None) -> bool:
    """Jetty's redirection (JETTY.md 1.2): a standard public id, else the system id's file name."""
    if public_id is not None:
        public_id = " ".join(public_id.split())  # ids split over lines
    if public_id is not None and (
        public_id in JETTY_PUBLIC_IDS or _VERSIONED_PUBLIC_ID.fullmatch(public_id)
    ):
        return True
    if system_url:
        return bool(_DTD_FILE.fullmatch(system_url.strip().rsplit("/", 1)[-1]))
    return False


def _doctype_location(path: str, data: bytes) -> Location:
    match = _DOCTYPE.search(data)
    if match is None:
        return Location(path, 1, 1)
    start = match.start()
    line = data.count(b"\n", 0, start) + 1
    return Location(path, line, start - (data.rfind(b"\n", 0, start) + 1) + 1)


def read_bounded(path: str | Path) -> bytes:
    """Read at most MAX_BYTES; a larger (or unreadable) file is a located error, never read."""
    name = str(path)
    try:
        info = Path(path).stat()
        if not stat.S_ISREG(info.st_mode):
            raise DescriptorErrors([DescriptorError(
                Location(name), "not a regular file (a descriptor is a plain .xml file)")])
        size = info.st_size
        if size > MAX_BYTES:
            raise _too_big(name, size)
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        problem = DescriptorError(Location(name), f"cannot read file: {reason}")
        raise DescriptorErrors([problem]) from None
    if len(data) > MAX_BYTES:
        raise _too_big(name, len(data))
    return data


def _too_big(name: str, size: int) -> DescriptorErrors:
    return DescriptorErrors([DescriptorError(
        Location(name),
        f"file is {size:,} bytes; descriptors are limited to {MAX_BYTES:,} bytes "
        f"({MAX_BYTES // (1024 * 1024)} MiB) and it was not parsed",
    )])


def parse_bytes(data: bytes, path: str = "<string>") -> tuple[etree._ElementTree, Locator]:
    """Parse descriptor bytes; returns the tree and a Locator giving line:column of elements."""
    if len(data) > MAX_BYTES:
        raise _too_big(path, len(data))
    if _SUBSET_ENTITY.search(data):  # refused before libxml2 sees the declarations
        raise _entities_refused(path, data, "declares entities")
    _check_counts(data, path)
    try:
        parser = _parser()
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise DescriptorErrors(_syntax_problems(path, exc, parser.error_log)) from None
    if root is None:
        raise DescriptorErrors([DescriptorError(Location(path, 1, 1), "the file has no element")])
    tree = root.getroottree()
    _check_doctype(tree, path, data)
    locate = Locator(path, data, tree)
    _check_shape(root, locate)
    return tree, locate


def parse(path: str | Path) -> etree._ElementTree:
    """The contract's entry point: a hardened parse of one file (raises DescriptorErrors)."""
    return parse_file(path)[0]


def parse_file(path: str | Path) -> tuple[etree._ElementTree, Locator]:
    return parse_bytes(read_bounded(path), str(path))


def _syntax_problems(path: str, exc: etree.XMLSyntaxError,
                     log: etree._ListErrorLog) -> list[DescriptorError]:
    problems = []
    for entry in log:
        if entry.level_name in ("ERROR", "FATAL"):
            message = entry.message.strip()
            problems.append(DescriptorError(
                Location(path, entry.line, entry.column), f"not well-formed XML: {message}"
            ))
    if not problems:
        line, column = exc.position if exc.position else (0, 0)
        problems.append(
            DescriptorError(Location(path, line, column), f"not well-formed XML: {exc}")
        )
    return problems[:1] + [p for p in problems[1:] if p.location != problems[0].location][:4]


def _check_counts(data: bytes, path: str) -> None:
    """Upper bounds from the bytes alone, so a file of a million tags or attributes is never
    parsed: an element opens and closes with '<' (twice, or once when empty), an attribute has
    one '='. Text rarely holds many; a file that does is refused with the place it went over."""
    for mark, limit, what in (
            (b"<", 2 * MAX_ELEMENTS + 16, f"{MAX_ELEMENTS:,} elements"),
            (b"=", MAX_ALL_ATTRIBUTES + 16, f"{MAX_ALL_ATTRIBUTES:,} attributes")):
        if data.count(mark) <= limit:
            continue
        at = -1
        for _ in range(limit + 1):
            at = data.find(mark, at + 1)
        line = data.count(b"\n", 0, at) + 1
        column = at - data.rfind(b"\n", 0, at)
        raise DescriptorErrors([DescriptorError(
            Location(path, line, column),
            f"more than {limit:,} '{mark.decode()}' by here: more than {what}, where a "
            "descriptor has tens; not parsed")])


def _check_shape(root: etree._Element, locate: Locator) -> None:
    """Elements, attributes, depth and text within bounds; the first excess is the error."""
    depth = count = attributes = 0
    for event, el in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        count += 1
        attributes += len(el.attrib)
        name = f"<{el.tag}>" if isinstance(el.tag, str) else "a comment"
        problem = None
        if count > MAX_ELEMENTS:
            problem = f"more than {MAX_ELEMENTS:,} elements; a descriptor has tens"
        elif depth > MAX_DEPTH:
            problem = f"elements nested more than {MAX_DEPTH} deep"
        elif len(el.attrib) > MAX_ATTRIBUTES:
            problem = f"{name} has {len(el.attrib):,} attributes; at most {MAX_ATTRIBUTES} are read"
        elif attributes > MAX_ALL_ATTRIBUTES:
            problem = f"more than {MAX_ALL_ATTRIBUTES:,} attributes in all"
        elif max(len(el.text or ""), len(el.tail or "")) > MAX_TEXT:
            problem = f"a text of more than {MAX_TEXT:,} characters in or after {name}"
        if problem is not None:
            raise DescriptorErrors([DescriptorError(locate(el), problem + "; not evaluated")])


def _check_doctype(tree: etree._ElementTree, path: str, data: bytes) -> None:
    info = tree.docinfo
    subset = info.internalDTD
    if subset is not None:
        entities = [e.name for e in subset.iterentities()]
        if entities or any(True for _ in subset.iterelements()):
            what = "declares markup"
            if entities:
                what = f"declares entities ({', '.join(entities[:3])})"
            raise _entities_refused(path, data, what)
    public_id, system_url = info.public_id, info.system_url
    if (public_id or system_url) and not is_jetty_doctype(public_id, system_url):
        raise DescriptorErrors([DescriptorError(
            _doctype_location(path, data),
            f"unknown DOCTYPE (public id {public_id!r}, system id {system_url!r}): deployer never "
            "fetches DTDs; use <!DOCTYPE Configure PUBLIC \"-//Jetty//Configure//EN\" "
            "\"http://www.eclipse.org/jetty/configure_9_3.dtd\"> or no DOCTYPE",
        )])


def _entities_refused(path: str, data: bytes, what: str) -> DescriptorErrors:
    return DescriptorErrors([DescriptorError(
        _doctype_location(path, data),
        f"the DOCTYPE's internal subset {what}; entity declarations are refused "
        "(they can read files or expand without bound), nothing was expanded or read",
    )])
