"""line:column of elements.

lxml gives an element's line (the line where its start tag ends) but no column, and errors should
point at the ``<`` of the start tag. The Locator scans the source once, lazily, for start tags
(skipping comments, CDATA, processing instructions and the DOCTYPE) and pairs the n-th start tag
with the n-th element in document order.
"""

from __future__ import annotations

import bisect
import re

from lxml import etree

from deployer.errors import Location

_TOKENS = re.compile(
    r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|<!DOCTYPE(?:[^\[>]|\[.*?\])*>|<([^\s/>!?][^\s/>]*)",
    re.S,
)


class Locator:
    """Location of each element of one parsed file."""

    def __init__(self, path: str, data: bytes, tree: etree._ElementTree) -> None:
        self.path = path
        self._data = data
        self._tree = tree
        self._columns: dict[etree._Element, tuple[int, int]] | None = None

    def __call__(self, element: etree._Element | None) -> Location:
        if element is None:
            return Location(self.path)
        if self._columns is None:
            self._columns = self._scan()
        found = self._columns.get(element)
        if found is not None:
            return Location(self.path, found[0], found[1])
        return Location(self.path, element.sourceline or 0, 0)

    def at_line(self, line: int) -> Location:
        return Location(self.path, line, 0)

    def _scan(self) -> dict[etree._Element, tuple[int, int]]:
        encoding = self._tree.docinfo.encoding or "utf-8"
        if encoding.lower().replace("-", "") == "utf8":
            encoding = "utf-8-sig"  # a BOM is no column
        try:
            text = self._data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            text = self._data.decode("utf-8", "replace")
        starts = [0]
        starts.extend(m.end() for m in re.finditer("\n", text))
        tags = [(m.group(1), m.start()) for m in _TOKENS.finditer(text) if m.group(1)]
        elements = list(self._tree.iter(etree.Element))
        result: dict[etree._Element, tuple[int, int]] = {}
        if len(tags) != len(elements):
            return result
        for element, (name, offset) in zip(elements, tags, strict=True):
            if name != element.tag and name.rpartition(":")[2] != etree.QName(element).localname:
                return result  # out of step: fall back to lines only
            line = bisect.bisect_right(starts, offset)
            result[element] = (line, offset - starts[line - 1] + 1)
        return result
