"""Evaluation of a validated Configure tree into specs, with XmlConfiguration's semantics.

A table of handlers over the closed vocabulary (JETTY.md 1.5-1.9). Where Jetty silently gives
null or false (a failed conversion, an unknown id), deployer reports a located error instead: the
strict run of DESIGN.md. A failing statement is reported and skipped, and evaluation goes on, so
one run shows every problem of the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lxml import etree

from deployer.descriptor.convert import ConversionError, convert_type, describe, java_str
from deployer.descriptor.locator import Locator
from deployer.descriptor.registry import REGISTRY, ClassInfo, java_only_kind
from deployer.descriptor.specs import ContextSpec, ServerSpec
from deployer.descriptor.statements import MIGRATE, NOT_STATEMENTS, Statements, _Fail
from deployer.descriptor.values import Values
from deployer.errors import DescriptorError

SERVER_CONFIG = ("this configures the Server (a jetty.xml), not a context: deployer runs the "
                 "server itself; `deployer migrate` extracts what applies")


class Interpreter(Statements, Values):
    """Evaluates one file. ``ids`` starts with the Server, as WebAppProvider's id map does."""

    def __init__(self, locate: Locator, properties: Mapping[str, str],
                 system_properties: Mapping[str, str], environ: Mapping[str, str],
                 server: ServerSpec) -> None:
        self.locate = locate
        self.sources = {"Property": properties, "SystemProperty": system_properties,
                        "Env": environ}
        self.server = server
        self.ids: dict[str, Any] = {"Server": server}
        self.problems: list[DescriptorError] = []
        self.warnings: list[DescriptorError] = []  # what Jetty accepts and deployer ignores
        self._failed_ids: set[str] = set()
        self._id_elements: dict[str, etree._Element] = {}  # where each id of this file is given
        self._shared = {id(server), id(server.session_id_manager)}
        self._handlers: dict[str, Callable[[Any, etree._Element], Any]] = {
            "Set": self._set, "Get": self._get, "Put": self._put, "Call": self._call,
            "New": self._new, "Ref": self._ref, "Array": self._array, "Map": self._map,
            "Property": self._lookup, "SystemProperty": self._lookup, "Env": self._lookup,
        }

    # -- errors ---------------------------------------------------------------------------
    def fail(self, element: etree._Element, message: str) -> _Fail:
        return _Fail(DescriptorError(self.locate(element), message))

    def warn(self, element: etree._Element, message: str) -> None:
        self.warnings.append(DescriptorError(self.locate(element), message))

    def _class(self, name: str, element: etree._Element) -> ClassInfo:
        info = REGISTRY.lookup(name)
        if info is not None:
            return info
        kind = java_only_kind(name)
        if kind is not None:
            raise self.fail(element, f"{name} is Java-only ({kind}): deployer cannot run it; "
                                     f"{MIGRATE}")
        near = REGISTRY.nearest(name)
        hint = f"; nearest known: {', '.join(near)}" if near else ""
        raise self.fail(element, f"unknown class {name!r}: deployer provides only its registered "
                                 f"Jetty classes{hint}")

    def _info(self, obj: Any, element: etree._Element) -> ClassInfo:
        info = REGISTRY.info_for(obj)
        if info is None:
            what = f"<{element.tag} name={element.get('name')!r}>"
            raise self.fail(element, f"{what} needs an object deployer knows, but the current "
                                     f"object is {describe(obj)}")
        return info

    # -- the root ---------------------------------------------------------------------------
    def run(self, root: etree._Element) -> ContextSpec | None:
        try:
            name = root.get("class")
            if root.get("id") == "Server":  # Jetty would configure the existing Server
                raise self.fail(root, SERVER_CONFIG)
            if name is None:
                raise self.fail(root, "<Configure> needs class= naming the context to build, "
                                      "e.g. org.eclipse.jetty.webapp.WebAppContext")
            info = self._class(name, root)
            if info.simple == "Server":
                raise self.fail(root, SERVER_CONFIG)
            if not info.is_context:
                contexts = sorted({i.simple for n in REGISTRY.names()
                                   if (i := REGISTRY.lookup(n)) and i.is_context})
                raise self.fail(root, f"a descriptor configures a context, and {info.simple} is "
                                      f"not one; use one of {', '.join(contexts)}")
            args = [c for c in root if c.tag == "Arg"]
            obj = self._construct(info, self._arg_values(None, args), root)
        except _Fail as failed:
            if failed.error is not None:
                self.problems.append(failed.error)
            return None
        if root.get("id"):
            self._register(root, obj)
        self._statements(obj, root)
        for key, value in list(obj.init_params.items()):
            obj.init_params[key] = java_str(value)
        return obj

    def run_server(self, root: etree._Element) -> ServerSpec | None:
        """A server descriptor (``deployer run --config``): its statements act on the Server,
        which only here may be changed (session beans: addBean, sessionIdManager)."""
        name = root.get("class")
        info = REGISTRY.lookup(name) if name else None
        if info is None or info.simple != "Server":
            self.problems.append(DescriptorError(self.locate(root), (
                "a server descriptor is <Configure id=\"Server\" "
                "class=\"org.eclipse.jetty.server.Server\">, not a context")))
            return None
        self._shared = set()
        self._statements(self.server, root)
        return self.server

    def _statements(self, obj: Any, parent: etree._Element) -> None:
        for element in parent:
            tag = element.tag
            if not isinstance(tag, str) or tag in NOT_STATEMENTS:
                continue
            try:
                self._dispatch(obj, element)
            except _Fail as failed:
                if failed.error is not None:
                    self.problems.append(failed.error)
                self._failed_ids.update(e.get("id") for e in element.iter() if e.get("id"))

    def _dispatch(self, obj: Any, element: etree._Element) -> Any:
        handler = self._handlers.get(element.tag)
        if handler is None:
            raise self.fail(element, f"<{element.tag}> is not allowed here")
        return handler(obj, element)  # nesting is bounded by the parser (parser.MAX_DEPTH)

    def _register(self, element: etree._Element, value: Any, id_: str | None = None) -> None:
        id_ = id_ if id_ is not None else element.get("id")
        if id_:
            first = self._id_elements.setdefault(id_, element)
            if first is not element:  # Jetty's DTD declares id an ID: unique in a file
                raise self.fail(element, f"id {id_!r} is already given at line "
                                         f"{self.locate(first).line}; ids are unique in a file")
            self.ids[id_] = value

    def _then(self, value: Any, element: etree._Element, what: str) -> Any:
        """Children after the header act on ``value`` (Get, Call, New, Ref, old Property)."""
        if any(isinstance(c.tag, str) and c.tag not in NOT_STATEMENTS for c in element):
            if value is None:
                raise self.fail(element, f"{what} gives nothing (null), so the statements "
                                         "inside it have nothing to act on")
            self._statements(value, element)
        return value

    # -- values (JETTY.md 1.6) ---------------------------------------------------------------
    def value(self, obj: Any, element: etree._Element, type_: str | None) -> Any:
        if not len(element):  # text only, the common case
            text = element.text
            if not text:
                return "" if type_ == "String" else None
            if type_ is None:
                return text.strip() or None
            if type_ != "String" and not text.strip():
                return None
            try:
                return convert_type(text, type_)
            except ConversionError as exc:
                raise self.fail(element, f"<{element.tag} type={type_!r}> {exc}") from None
        items: list[Any] = []
        text = element.text or ""
        for child in element:
            if isinstance(child.tag, str):
                if text:
                    items.append(text)
                text = ""
                items.append(child)
            text += child.tail or ""
        if text:
            items.append(text)
        if not items:
            return "" if type_ == "String" else None
        if type_ != "String":
            while items and isinstance(items[0], str) and not items[0].strip():
                items.pop(0)
            while items and isinstance(items[-1], str) and not items[-1].strip():
                items.pop()
            if not items:
                return None
        if len(items) == 1:
            result = items[0] if isinstance(items[0], str) else self._dispatch(obj, items[0])
        else:
            result = "".join(
                item if isinstance(item, str) else java_str(self._dispatch(obj, item))
                for item in items)
        if type_ is None:
            return result.strip() if isinstance(result, str) else result
        if result is None:
            return "" if type_ == "String" else None  # JETTY.md §10: a missing Property as ""
        try:
            return convert_type(result, type_)
        except ConversionError as exc:
            raise self.fail(element, f"<{element.tag} type={type_!r}> {exc}") from None

    def _header(self, element: etree._Element, attr: str, child_tag: str) -> str | None:
        """An attribute or its element form (Id/Name/Class/Type), never both (JETTY.md 1.7)."""
        child = next((c for c in element if c.tag == child_tag), None)
        found = element.get(attr)
        if child is None:
            return found
        if found is not None:
            raise self.fail(element, f"<{element.tag}> gives {attr} twice: as {attr}= and as "
                                     f"<{child_tag}>; keep one")
        value = self.value(None, child, None)
        if value is not None and not isinstance(value, str):
            raise self.fail(child, f"<{child_tag}> must give a text, got {describe(value)}")
        return value
