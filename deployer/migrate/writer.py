"""Serialising migrated descriptors in canonical Jetty 9.3 form, and naming output files.

Dropped parts stay visible as XML comments, so their text must be made comment-safe ("--" is not
allowed inside a comment). Elements migrate creates are indented; copied ones keep the author's
whitespace because whitespace inside a value can matter (``type="String"``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" '
          '"http://www.eclipse.org/jetty/configure_9_3.dtd">\n')

_CONTAINERS = {"Configure", "New", "Get", "Call", "Ref"}


def comment_safe(text: str) -> str:
    while "--" in text:
        text = text.replace("--", "- -")
    if text.endswith("-"):
        text += " "
    return text


def comment(text: str) -> etree._Comment:
    return etree.Comment(comment_safe(text))


def xml_of(elem: etree._Element) -> str:
    """The source text of an element, without its tail and without namespace clutter."""
    text = etree.tostring(elem, encoding="unicode", with_tail=False)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)


def dropped_comment(elem: etree._Element, line: int | None, why: str,
                    indent: str) -> etree._Comment:
    where = f" (source line {line})" if line else ""
    body = xml_of(elem)
    return comment(f" deployer migrate dropped{where}: {why}\n{indent}{body}\n{indent}")


def indent_created(elem: etree._Element, level: int, unit: str = "  ") -> None:
    """Indent a subtree migrate built; value elements (Set, Arg, ...) keep their content as is."""
    if elem.tag not in _CONTAINERS or len(elem) == 0:
        return
    if elem.text and elem.text.strip():
        return
    inner = "\n" + unit * (level + 1)
    elem.text = inner
    for child in elem:
        child.tail = inner
        if isinstance(child.tag, str):
            indent_created(child, level + 1, unit)
            if child.tag in ("Set", "Put", "Arg") and len(child) == 1 \
                    and not (child.text or "").strip():
                indent_created(child[0], level + 2, unit)
                if len(child[0]):
                    child.text = "\n" + unit * (level + 2)
                    child[0].tail = inner
    elem[-1].tail = "\n" + unit * level


def outer_comments(root: etree._Element) -> tuple[list, list]:
    """Copies of the comments before and after the source's root element, in document order
    (what ``serialize`` writes around the migrated root)."""
    before = [copy.deepcopy(n) for n in root.itersiblings(preceding=True)
              if isinstance(n, etree._Comment)][::-1]
    after = [copy.deepcopy(n) for n in root.itersiblings() if isinstance(n, etree._Comment)]
    return before, after


def serialize(root: etree._Element, before: Iterable[etree._Element],
              after: Iterable[etree._Element]) -> str:
    parts = [HEADER]
    for node in before:
        parts.append(etree.tostring(node, encoding="unicode", with_tail=False) + "\n")
    parts.append(etree.tostring(root, encoding="unicode", with_tail=False) + "\n")
    for node in after:
        parts.append(etree.tostring(node, encoding="unicode", with_tail=False) + "\n")
    return "".join(parts)


def output_name(source: Path, preferred: str | None = None) -> str:
    """Base name of the output: WEB-INF fragments are named after their webapp."""
    if preferred:
        return preferred
    if source.parent.name == "WEB-INF" and source.parent.parent.name:
        return source.parent.parent.name
    return source.stem


def unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name}-{n}"
        n += 1
    taken.add(candidate)
    return candidate
