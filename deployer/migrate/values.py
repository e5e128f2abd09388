"""Helpers over Jetty XML values and statements: what a value is built from, how it reads.

A value that calls Java (New, Call, Get, an unknown Ref) cannot come along; one built from text,
Property/SystemProperty/Env, Array and Map can, unchanged.
"""

from __future__ import annotations

from lxml import etree

from deployer.migrate.reader import local

VALUE_OK = {"Arg", "Property", "SystemProperty", "Env", "Array", "Item", "Map", "Entry",
            "Default", "Name", "Deprecated", "Id", "Type"}


def value_problem(elem: etree._Element, strings: dict[str, str]) -> str | None:
    """Why a value cannot come along (Java code in it), resolving <Ref> to known strings."""
    for node in elem.iter():
        if isinstance(node, etree._Entity):
            return (f"it uses the XML entity {node.text}, which deployer never expands; write "
                    "its value out")
        if node is elem or not isinstance(node.tag, str):
            continue
        tag = local(node.tag)
        if tag == "Ref" and (node.get("refid") or node.get("id")) in strings:
            continue
        if tag not in VALUE_OK:
            what = node.get("class") or node.get("name") or node.get("refid") or node.get("id")
            return f"its value is computed by Java code (<{tag} {what}>)"
    return None

def inline_refs(elem: etree._Element, strings: dict[str, str]) -> None:
    for node in list(elem.iter("Ref")):
        key = node.get("refid") or node.get("id")
        if key in strings:
            parent = node.getparent()
            text = strings[key] + (node.tail or "")
            prev = node.getprevious()
            if prev is not None:
                prev.tail = (prev.tail or "") + text
            else:
                parent.text = (parent.text or "") + text
            parent.remove(node)

def indent_of(elem: etree._Element) -> str:
    """The whitespace an element stands indented by in its source."""
    prev = elem.getprevious()
    ws = prev.tail if prev is not None else (elem.getparent().text
                                             if elem.getparent() is not None else "")
    ws = ws or ""
    return ws.rsplit("\n", 1)[-1] if "\n" in ws and not ws.strip() else "  "

def describe(elem: etree._Element) -> str:
    tag = local(elem.tag)
    bits = [f"{k}=\"{v}\"" for k, v in elem.attrib.items() if k in ("name", "class", "id")]
    return f"<{tag}{' ' if bits else ''}{' '.join(bits)}>"

def value_hint(elem: etree._Element) -> str:
    text = " ".join(etree.tostring(elem, encoding="unicode", method="text",
                                   with_tail=False).split())
    props = [p.get("name") for p in elem.iter("Property", "SystemProperty", "Env")]
    hint = f" {text}" if text and len(text) < 60 else ""
    if props:
        hint += f" (with {', '.join(str(p) for p in props)})"
    return hint
