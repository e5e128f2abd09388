"""Array, Map and the lookups (Property, SystemProperty, Env), as a mixin of the Interpreter.

Array component types follow JETTY.md 1.7 (a null item of a primitive array becomes 0); a lookup
tries the name, then its deprecated names, then its default (attribute, <Default>, or an old-style
text body), as XmlConfiguration 9.3 does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from deployer.descriptor.convert import (
    PRIMITIVES,
    ConversionError,
    convert_type,
    csv_split,
    describe,
    is_known_type,
)
from deployer.descriptor.registry import REGISTRY, ClassInfo

if TYPE_CHECKING:
    from deployer.descriptor.interpret import Interpreter

    _Base = Interpreter
else:
    _Base = object

_PRIMITIVE_NULL: dict[str, Any] = {"boolean": False, "char": "\0", "double": 0.0, "float": 0.0}


class Values(_Base):
    """Array, Item, Map/Entry, Property, SystemProperty, Env."""

    # -- Array, Map -----------------------------------------------------------------------
    def _array(self, obj: Any, element: etree._Element) -> list[Any]:
        id_ = self._header(element, "id", "Id")
        type_ = self._header(element, "type", "Type")
        items = [c for c in element if c.tag == "Item"]
        attr = element.get("item")
        if attr is not None and items:
            raise self.fail(element, "<Array> gives items both as item= and as <Item>; keep one")
        if attr is not None:
            values: list[Any] = csv_split(attr)
        else:
            values = [self._item(obj, i) for i in items]
        if type_ and type_ not in ("Object", "java.lang.Object"):
            values = [self._component(v, type_, element) for v in values]
        self._register(element, values, id_)
        return values

    def _component(self, value: Any, type_: str, element: etree._Element) -> Any:
        if is_known_type(type_):
            prim = PRIMITIVES.get(type_)
            if value is None and prim is not None and prim == type_:
                return _PRIMITIVE_NULL.get(prim, 0)
            if prim is not None and isinstance(value, str):
                raise self.fail(element, f"<Array type={type_!r}> cannot hold the text "
                                         f"{value!r}: Jetty stores items as they are, and an "
                                         f"untyped item is a String; write <Item type=\"{prim}\">")
            try:
                return convert_type(value, type_)
            except ConversionError as exc:
                raise self.fail(element, f"<Array type={type_!r}> item {exc}") from None
        info = self._class(type_, element)
        if value is not None and self.registry_info(value) is not info:
            raise self.fail(element, f"<Array type={type_!r}> holds {info.simple}s, got "
                                     f"{describe(value)}")
        return value

    def _item(self, obj: Any, item: etree._Element) -> Any:
        value = self.value(obj, item, item.get("type"))
        self._register(item, value)
        return value

    def _map(self, obj: Any, element: etree._Element) -> dict[Any, Any]:
        id_ = self._header(element, "id", "Id")
        result: dict[Any, Any] = {}
        for entry in element:
            if entry.tag == "Entry":
                key, value = (self._item(obj, i) for i in entry if i.tag == "Item")
                result[key] = value
        self._register(element, result, id_)
        return result

    # -- Property, SystemProperty, Env ----------------------------------------------------
    def _lookup(self, obj: Any, element: etree._Element) -> Any:
        tag = element.tag
        id_ = self._header(element, "id", "Id")
        name = self._header(element, "name", "Name")
        if not name:
            raise self.fail(element, f"<{tag}> needs a name (name= or <Name>)")
        source = self.sources[tag]
        value = source.get(name)
        if value is None:
            deprecated = [d.strip() for d in (element.get("deprecated") or "").split(",")]
            deprecated += [self.value(obj, d, None) for d in element if d.tag == "Deprecated"]
            value = next((source[d] for d in deprecated if d and d in source), None)
        if value is None:
            default = next((d for d in element if d.tag == "Default"), None)
            if element.get("default") is not None:
                if default is not None:
                    raise self.fail(element, f"<{tag}> gives default twice: as default= and as "
                                             "<Default>; keep one")
                value = element.get("default")
            elif default is not None:
                value = self.value(obj, default, None)
            elif element.text and element.text.strip():
                value = element.text.strip()  # an old-style text body: the default
        self._register(element, value, id_)
        return self._then(value, element, f"<{tag} name={name!r}>")

    def registry_info(self, value: Any) -> ClassInfo | None:
        return REGISTRY.info_for(value)

