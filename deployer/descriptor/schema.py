"""The Configure grammar (schemas/configure.xsd), compiled once, with messages a person can act on.

lxml's XSD messages name the schema's machinery ("complex type 4", "Expected is one of ( Set, Get
)..."); they are rewritten here into "what is wrong, what is allowed". iter_problems(), validate()
and is_valid() share one implementation.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from lxml import etree

from deployer.descriptor.locator import Locator
from deployer.errors import DescriptorError, DescriptorErrors

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "configure.xsd"

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Configure": ("class", "id"),
    "Set": ("name", "type", "class", "property", "id"),
    "Get": ("name", "class", "id"),
    "Put": ("name", "type"),
    "Call": ("name", "class", "id", "arg"),
    "New": ("class", "id", "arg"),
    "Arg": ("type", "name"),
    "Ref": ("refid", "id"),
    "Array": ("type", "id", "item"),
    "Map": ("id",),
    "Entry": (),
    "Item": ("type", "id"),
    "Property": ("name", "default", "deprecated", "id"),
    "SystemProperty": ("name", "default", "deprecated", "id"),
    "Env": ("name", "default", "deprecated", "id"),
}
ELEMENTS = (*ATTRIBUTES, "Id", "Name", "Class", "Type", "Default", "Deprecated")


_LOCAL = threading.local()


@cache
def _schema_document() -> etree._ElementTree:
    return etree.parse(str(SCHEMA_PATH))


def compiled() -> etree.XMLSchema:
    """Compiled once per thread and kept: compiling costs more than validating a descriptor, and
    a validator keeps its error log on itself, so threads (the deploy watcher, a CLI) must not
    share one."""
    schema = getattr(_LOCAL, "schema", None)
    if schema is None:
        schema = _LOCAL.schema = etree.XMLSchema(_schema_document())
    return schema


_ATTR_NOT_ALLOWED = re.compile(
    r"Element '([^']+)', attribute '([^']+)': The attribute .* not allowed"
)
_ATTR_MISSING = re.compile(r"Element '([^']+)': The attribute '([^']+)' is required but missing")
_NOT_EXPECTED = re.compile(
    r"Element '([^']+)': This element is not expected\.(?: Expected is (.*))?"
)
_MISSING_CHILD = re.compile(r"Element '([^']+)': Missing child element\(s\)\. Expected is (.*)\.")
_TEXT = re.compile(r"Element '([^']+)': Character content other than whitespace is not allowed")
_NO_DECL = re.compile(r"Element '([^']+)': No matching global declaration")
_EMPTY_ATTR = re.compile(r"Element '([^']+)', attribute '([^']+)': \[facet 'minLength'\]")


def _expected(text: str) -> str:
    names = re.findall(r"[A-Za-z]+", text.replace("one of", ""))
    return ", ".join(f"<{n}>" for n in dict.fromkeys(names) if n != "Expected")


def _nearest(name: str, choices: tuple[str, ...] | list[str]) -> str:
    near = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not near:
        near = [c for c in choices if c.lower() == name.lower()]
    return f" (did you mean {near[0]!r}?)" if near else ""


_ORDER = {"Arg": "<Arg>s come first, before any statement",
          "Id": "<Id>, <Name>, <Class> (or <Type>) come first, in that order",
          "Name": "<Id>, <Name>, <Class> come first, in that order",
          "Class": "<Id>, <Name>, <Class> come first, in that order",
          "Type": "<Id> then <Type> come before the <Item>s",
          "Default": "<Id>, <Name>, <Deprecated>, <Default> come first, in that order",
          "Deprecated": "<Id>, <Name>, <Deprecated>, <Default> come first, in that order"}


def humanize(message: str, parent: str | None = None) -> str:
    """Rewrite one libxml2 XSD message; unknown shapes pass through unchanged."""
    message = message.strip()
    where = f" inside <{parent}>" if parent else ""
    if m := _ATTR_NOT_ALLOWED.match(message):
        element, attr = m.groups()
        allowed = ATTRIBUTES.get(element, ())
        listed = ", ".join(allowed) if allowed else "none"
        return (f"<{element}> has no attribute '{attr}'{_nearest(attr, allowed)}; "
                f"allowed: {listed}")
    if m := _ATTR_MISSING.match(message):
        return f"<{m.group(1)}> needs a {m.group(2)}= attribute"
    if m := _EMPTY_ATTR.match(message):
        return f"<{m.group(1)}> attribute {m.group(2)}= must not be empty"
    if m := _NOT_EXPECTED.match(message):
        element, expected = m.groups()
        if element not in ELEMENTS:
            return f"unknown element <{element}>{_nearest(element, ELEMENTS)}"
        if expected:
            return f"<{element}> is not allowed here{where}; expected {_expected(expected)}"
        order = _ORDER.get(element)
        if order and parent in ("Configure", "New", "Call", "Array", "Map", "Property",
                                "SystemProperty", "Env"):
            return f"<{element}> is out of order{where}: {order}"
        return f"<{element}> is not allowed here{where}"
    if m := _MISSING_CHILD.match(message):
        if m.group(1) == "Entry":
            return "<Entry> needs exactly two <Item>s: the key, then the value"
        return f"<{m.group(1)}> is incomplete: it needs {_expected(m.group(2))}"
    if m := _TEXT.match(message):
        return f"text is not allowed directly inside <{m.group(1)}> (only elements)"
    if m := _NO_DECL.match(message):
        return (f"the root element is <{m.group(1)}>; a descriptor's root must be <Configure> "
                "(this is not a Jetty context descriptor)")
    return message


def iter_problems(tree: etree._ElementTree, locate: Locator) -> Iterator[DescriptorError]:
    """Every schema problem of a parsed file, located at the element's start tag."""
    schema = compiled()
    if schema.validate(tree):
        return
    for entry in schema.error_log:
        element = None
        if entry.path:
            try:
                found = tree.xpath(entry.path)
            except etree.XPathError:
                found = []
            if found and isinstance(found[0], etree._Element):
                element = found[0]
        location = locate(element) if element is not None else locate.at_line(entry.line)
        parent = element.getparent() if element is not None else None
        parent_tag = parent.tag if parent is not None and isinstance(parent.tag, str) else None
        yield DescriptorError(location, humanize(entry.message, parent_tag))


def validate(tree: etree._ElementTree, locate: Locator) -> None:
    problems = list(iter_problems(tree, locate))
    if problems:
        raise DescriptorErrors(problems)


def is_valid(tree: etree._ElementTree) -> bool:
    return bool(compiled().validate(tree))
