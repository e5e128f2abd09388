"""Lenient but hardened XML reading for migration.

Migrate must read what ``run`` would refuse (old DOCTYPEs, unknown classes, odd attributes) yet
never fetch a DTD, expand an entity or build a huge tree: lxml with the network, DTD loading and
entity resolution off. Comments stay in the tree so they can be carried over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

MAX_BYTES = 8 * 1024 * 1024  # a Jetty descriptor or pom is kilobytes; refuse anything absurd


@dataclass
class Source:
    path: Path
    tree: etree._ElementTree
    doctype: str | None
    doctype_line: int = 1

    @property
    def root(self) -> etree._Element:
        return self.tree.getroot()


class ReadError(Exception):
    """The file cannot be read as XML; ``line`` is where the parser gave up (0 if unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=False,
                           remove_pis=False, strip_cdata=True)


def read(path: Path) -> Source:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ReadError(f"file is {size} bytes; a Jetty configuration is far smaller")
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise ReadError("file is empty")
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise ReadError(f"not well-formed XML: {exc.msg}", line) from exc
    doctype = tree.docinfo.doctype or None
    at = data.find(b"<!DOCTYPE")
    line = data.count(b"\n", 0, at) + 1 if at >= 0 else 1
    return Source(path=path, tree=tree, doctype=doctype, doctype_line=line)


def parse_text(text: str) -> etree._Element:
    """Re-read migrated output (to map validator lines back to elements)."""
    return etree.fromstring(text.encode("utf-8"), _parser())


def local(tag: object) -> str:
    """An element's local name ('' for comments and PIs)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]
