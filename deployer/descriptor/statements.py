"""The statements of the Configure language (JETTY.md 1.7), as a mixin of the Interpreter.

Set converts strings to the property's kind (Jetty's setter lookup, step 5); Call and New arguments
are checked but never converted, as in Jetty, with a hint to add ``type=`` when that is the fix.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from lxml import etree

from deployer.descriptor.classes import MANAGER_PROPS, CookieConfigSpec, ResourceHandlerSpec
from deployer.descriptor.convert import (
    ConversionError,
    convert_type,
    csv_split,
    describe,
    to_kind,
)
from deployer.descriptor.registry import (
    JAVA_ONLY_METHODS,
    JAVA_ONLY_PROPERTIES,
    JVM_TUNING_METHODS,
    JVM_TUNING_PROPERTIES,
    REGISTRY,
    ClassInfo,
    Method,
    Param,
)
from deployer.descriptor.sessionspecs import BEAN_KINDS as SESSION_STORE_BEANS
from deployer.descriptor.specs import (
    ServerSpec,
    SessionHandlerSpec,
    SessionIdManagerSpec,
    SessionManagerSpec,
    Spec,
)
from deployer.errors import DescriptorError

if TYPE_CHECKING:
    from deployer.descriptor.interpret import Interpreter

    _Base = Interpreter
else:
    _Base = object

BEAN_KINDS: dict[str, type] = {
    "SessionHandler": SessionHandlerSpec, "SessionManager": SessionManagerSpec,
    "SessionIdManager": SessionIdManagerSpec, "ResourceHandler": ResourceHandlerSpec,
    "Server": ServerSpec, "SessionCookieConfig": CookieConfigSpec, **SESSION_STORE_BEANS,
}
# Plain Java value classes a descriptor may build with <New> (i2p's base-context.xml does).
VALUE_CLASSES: dict[str, str] = {
    "java.lang.String": "String", "java.lang.Integer": "int", "java.lang.Long": "long",
    "java.lang.Boolean": "boolean", "java.lang.Double": "double", "java.lang.Float": "float",
    "java.lang.Short": "short", "java.lang.Byte": "byte",
}
MAP_CLASSES = frozenset({"java.util.HashMap", "java.util.Properties", "java.util.Hashtable",
                         "java.util.TreeMap", "java.util.LinkedHashMap"})
NOT_STATEMENTS = frozenset({"Arg", "Id", "Name", "Class", "Type", "Default", "Deprecated"})
MIGRATE = "`deployer migrate` drops it and reports what it dropped"


class _Fail(Exception):
    """Abandons the current statement; ``error`` None means a consequence already reported."""

    def __init__(self, error: DescriptorError | None) -> None:
        super().__init__(str(error))
        self.error = error


def _nearest(name: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not near:
        near = [c for c in choices if c.lower() == name.lower()]
    return f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""


_LONG_TYPES = frozenset({"long", "Long", "java.lang.Long", "java.lang.Long.TYPE"})


def _long_for_int(kind: str, element: Any) -> bool:
    """An int parameter given an Arg or Set that declares a Java long: no match, as in Java."""
    return kind == "int" and element is not None and element.get("type") in _LONG_TYPES


def _cap(name: str) -> str:
    return name[:1].upper() + name[1:]


def _signature(params: tuple[Param, ...]) -> str:
    return "(" + ", ".join(f"{p.name}: {p.kind}" for p in params) + ")"


class Statements(_Base):
    """Set, Get, Put, Call, New, Ref, Array, Map, Property/SystemProperty/Env."""

    # -- Set ------------------------------------------------------------------------------
    def _set(self, obj: Any, element: etree._Element) -> None:
        name = element.get("name") or ""
        if element.get("class"):
            raise self.fail(element, f"<Set class=...> sets a static Java field; deployer has no "
                                     f"Java classes ({MIGRATE})")
        if self._jvm_tuning(obj, _cap(name), f"set{_cap(name)}", element):
            return
        type_ = element.get("type")
        prop_name = element.get("property")
        if prop_name is not None:  # 9.4+: applies only when the property is defined
            if prop_name not in self.sources["Property"]:
                self.target_property(obj, name, element)  # a wrong name is still an error
                return
            value: Any = self.sources["Property"][prop_name]
            if type_ is not None:
                try:
                    value = convert_type(value, type_)
                except ConversionError as exc:
                    raise self.fail(element, f"<Set type={type_!r}> {exc}") from None
        else:
            value = self.value(obj, element, type_)
        self.assign(obj, name, value, element)
        self._register(element, value)

    def _jvm_tuning(self, obj: Any, key: str, method: str, element: etree._Element) -> bool:
        """A Java-only setting that only tunes the JVM: warned about and skipped, arguments
        unevaluated (they may build Java objects); True when it was one."""
        info = REGISTRY.info_for(obj)
        if info is None or not info.is_context or key in info.props or method in info.methods:
            return False
        if key not in JVM_TUNING_PROPERTIES and method not in JVM_TUNING_METHODS:
            return False
        shown = method if element.tag == "Call" else key[:1].lower() + key[1:]
        self.warn(element, f"{info.simple}.{shown} only tunes the JVM; deployer ignores it")
        return True

    def target_property(self, obj: Any, name: str, element: etree._Element) -> tuple[ClassInfo,
                                                                                      Any]:
        """The class and settable property ``name`` of obj, or the located reason there is none."""
        info = self._info(obj, element)
        key = _cap(name)
        prop = info.props.get(key)
        if id(obj) in self._shared:
            raise self.fail(element, info.read_only_hint or
                            f"{info.simple}.{name} is shared by every context and cannot be set "
                            "from one descriptor")
        if prop is None:
            if key in JAVA_ONLY_PROPERTIES:
                raise self.fail(element, f"{info.simple}.{name} is a Java-only setting deployer "
                                         f"cannot honour; {MIGRATE}")
            hint = _nearest(name, info.property_names())
            if key in info.getters:
                raise self.fail(element, f"{info.simple}.{name} can only be read, as in Jetty "
                                         f"(no setter): <Get name=\"{name}\"> and change it there")
            if info.is_context and key in MANAGER_PROPS:
                hint = ("; it is a session manager setting: put it inside "
                        "<Get name=\"sessionHandler\"><Get name=\"sessionManager\">...</Get></Get>")
            raise self.fail(element, f"{info.simple} has no property {name!r}{hint}")
        return info, prop

    def assign(self, obj: Any, name: str, value: Any, element: etree._Element) -> None:
        info, prop = self.target_property(obj, name, element)
        what = f"{info.simple}.{name}"
        if _long_for_int(prop.kind, element):
            raise self.fail(element, f"{what} takes an int, and type=\"{element.get('type')}\" "
                                     "makes a long: Jetty finds no such setter; drop the type or "
                                     "write type=\"int\"")
        bean = BEAN_KINDS.get(prop.kind)
        if bean is not None:
            if not isinstance(value, bean):
                raise self.fail(element, f"{what} expects a {prop.kind}, got {describe(value)}")
        else:
            try:
                value = to_kind(value, prop.kind)
            except ConversionError as exc:
                raise self.fail(element, f"{what} {exc}") from None
        if prop.convert is not None:
            try:
                value = prop.convert(value)
            except ValueError as exc:
                raise self.fail(element, f"{what}: {exc}") from None
        dest = getattr(obj, prop.target) if prop.target else obj
        if prop.apply is not None:
            prop.apply(dest, value)
        else:
            setattr(dest, prop.field, value)
        if isinstance(dest, Spec):
            dest.locations[prop.field] = self.locate(element)

    # -- Get ------------------------------------------------------------------------------
    def _get(self, obj: Any, element: etree._Element) -> Any:
        name = element.get("name") or ""
        if element.get("class"):
            info = self._class(element.get("class") or "", element)
            raise self.fail(element, f"{info.simple} has no static field or getter {name!r}")
        value = self.read(self._info(obj, element), obj, name, element)
        self._register(element, value)
        return self._then(value, element, f"<Get name={name!r}>")

    def read(self, info: ClassInfo, obj: Any, name: str, element: etree._Element) -> Any:
        key = _cap(name)
        getter = info.getters.get(key)
        if getter is not None:
            return getter(obj)
        prop = info.props.get(key)
        if prop is not None and prop.apply is None:
            return getattr(getattr(obj, prop.target) if prop.target else obj, prop.field)
        if key in JAVA_ONLY_PROPERTIES:
            raise self.fail(element, f"{info.simple}.{name} is Java-only; deployer cannot "
                                     f"honour it; {MIGRATE}")
        readable = sorted({k[0].lower() + k[1:] for k in (*info.getters, *info.props)})
        raise self.fail(element, f"{info.simple} has no property {name!r} to get"
                                 f"{_nearest(name, readable)}")

    # -- Put ------------------------------------------------------------------------------
    def _put(self, obj: Any, element: etree._Element) -> None:
        if not isinstance(obj, dict):
            raise self.fail(element, f"<Put> needs a Map to put into; the current object is "
                                     f"{describe(obj)}")
        obj[element.get("name") or ""] = self.value(obj, element, element.get("type"))

    # -- Call -----------------------------------------------------------------------------
    def _call(self, obj: Any, element: etree._Element) -> Any:
        id_ = self._header(element, "id", "Id")
        name = self._header(element, "name", "Name")
        cls = self._header(element, "class", "Class")
        if not name:
            raise self.fail(element, "<Call> needs the method's name (name= or <Name>)")
        if not cls and self._jvm_tuning(obj, name[3:] if name.startswith("set") else "", name,
                                        element):
            return None
        args = self._args(obj, element)
        if any(n for n, _, _ in args):
            raise self.fail(element, "named <Arg name=...> only applies to constructors (<New>)")
        if cls:
            info = self._class(cls, element)
            raise self.fail(element, f"{info.simple} has no static method {name!r}")
        info = self._info(obj, element)
        result = self.invoke(info, obj, name, [v for _, v, _ in args], element,
                             [a for _, _, a in args])
        self._register(element, result, id_)
        return self._then(result, element, f"<Call name={name!r}>")

    def invoke(self, info: ClassInfo, obj: Any, name: str, args: list[Any],
               element: etree._Element, arg_elements: list[Any] | None = None) -> Any:
        methods = list(info.methods.get(name, ()))
        key = name[3:]
        if name.startswith("set") and key in info.props:
            prop = info.props[key]
            methods.append(Method((Param(key[0].lower() + key[1:], prop.kind),),
                                  lambda o, v: self.assign(o, key, v, element)))
        if name.startswith("get") and (key in info.getters or key in info.props):
            methods.append(Method((), lambda o: self.read(info, o, key, element)))
        if not methods:
            if name in JAVA_ONLY_METHODS or key in JAVA_ONLY_PROPERTIES:
                raise self.fail(element, f"{info.simple}.{name} is Java-only; deployer cannot "
                                         f"honour it; {MIGRATE}")
            raise self.fail(element, f"{info.simple} has no method {name!r}"
                                     f"{_nearest(name, info.method_names())}")
        if id(obj) in self._shared and not name.startswith("get"):
            raise self.fail(element, info.read_only_hint or f"{info.simple}.{name} changes an "
                                     "object shared by every context")
        sources = arg_elements or [None] * len(args)
        for method in methods:
            if len(method.params) == len(args) and self._all_fit(method.params, args, sources):
                try:
                    return method.run(obj, *args)
                except ValueError as exc:  # a value the method refuses: located, not a crash
                    raise self.fail(element, f"{info.simple}.{name}: {exc}") from None
        raise self._mismatch(f"{info.simple}.{name}", [m.params for m in methods], args, element)

    def _mismatch(self, what: str, signatures: list[tuple[Param, ...]], args: list[Any],
                  element: etree._Element) -> Exception:
        given = ", ".join(describe(a) for a in args) or "no arguments"
        known = "; ".join(_signature(s) for s in signatures)
        hint = ""
        if any(isinstance(a, str) for a in args) and any(
                p.kind in ("int", "bool") for s in signatures for p in s):
            hint = (" (arguments are not converted, as in Jetty: give the <Arg> a type, e.g. "
                    "type=\"int\" or type=\"boolean\")")
        return self.fail(element, f"{what} takes {known}; got {given}{hint}")

    def _all_fit(self, params: tuple[Param, ...], values: list[Any], sources: list[Any]) -> bool:
        """Arguments fit parameters as Java overloads do: a declared long fits no int."""
        return all(self._fits(p.kind, v) and not _long_for_int(p.kind, s)
                   for p, v, s in zip(params, values, sources, strict=True))

    def _fits(self, kind: str, value: Any) -> bool:
        if kind == "any":
            return True
        if kind in ("string", "path"):
            return value is None or isinstance(value, str)
        if kind == "bool":
            return isinstance(value, bool)
        if kind == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        if kind == "strings":
            return isinstance(value, list)
        if kind in ("map", "attrs"):
            return isinstance(value, dict)
        bean = BEAN_KINDS.get(kind)
        return bean is not None and isinstance(value, bean)

    def _args(self, obj: Any, element: etree._Element) -> list[tuple[str | None, Any, Any]]:
        arg_elements = [c for c in element if c.tag == "Arg"]
        attr = element.get("arg")
        if attr is not None:
            if arg_elements:
                raise self.fail(element, f"<{element.tag}> gives arguments both as arg= and as "
                                         "<Arg> children; keep one")
            return [(None, part, element) for part in csv_split(attr)]
        return self._arg_values(obj, arg_elements)

    def _arg_values(self, obj: Any,
                    args: list[etree._Element]) -> list[tuple[str | None, Any, Any]]:
        return [(a.get("name"), self.value(obj, a, a.get("type")), a) for a in args]

    # -- New ------------------------------------------------------------------------------
    def _new(self, obj: Any, element: etree._Element) -> Any:
        id_ = self._header(element, "id", "Id")
        cls = self._header(element, "class", "Class")
        if any(c.tag == "Name" for c in element):
            raise self.fail(element, "<New> takes no <Name> (Jetty ignores it); remove it")
        if not cls:
            raise self.fail(element, "<New> needs class= (or a <Class> child)")
        args = self._args(obj, element)
        if cls in VALUE_CLASSES or cls in MAP_CLASSES:
            if cls in MAP_CLASSES and not args:
                value: Any = {}
            elif cls in VALUE_CLASSES and len(args) == 1:
                try:
                    value = convert_type(args[0][1], VALUE_CLASSES[cls])
                except ConversionError as exc:
                    raise self.fail(element, f"new {cls}: {exc}") from None
            else:
                raise self.fail(element, f"{cls} is built here from "
                                         f"{'no arguments' if cls in MAP_CLASSES else 'one <Arg>'}")
        else:
            info = self._class(cls, element)
            if info.make is None:
                raise self.fail(element, info.read_only_hint or
                                f"{info.simple} cannot be made with <New>")
            value = self._construct(info, args, element)
        self._register(element, value, id_)
        return self._then(value, element, f"<New class={cls!r}>")

    def _construct(self, info: ClassInfo, args: list[tuple[str | None, Any, Any]],
                   element: etree._Element) -> Any:
        named = any(n for n, _, _ in args)
        if named and not info.named_args:
            raise self.fail(element, f"new {info.simple} takes no named <Arg name=...> (Jetty "
                                     "finds no such constructor): give the arguments in order")
        for params in info.constructors:
            if len(params) != len(args):
                continue
            if named:
                by_name = {n: (v, a) for n, v, a in args}
                if set(by_name) != {p.name for p in params}:
                    continue
                values = [by_name[p.name][0] for p in params]
                sources = [by_name[p.name][1] for p in params]
            else:
                values = [v for _, v, _ in args]
                sources = [a for _, _, a in args]
            if self._all_fit(params, values, sources):
                try:
                    return info.make(*values, location=self.locate(element))  # type: ignore[misc]
                except ValueError as exc:
                    raise self.fail(element, f"new {info.simple}: {exc}") from None
        raise self._mismatch(f"new {info.simple}", info.constructors, [v for _, v, _ in args],
                             element)

    # -- Ref ------------------------------------------------------------------------------
    def _ref(self, obj: Any, element: etree._Element) -> Any:
        ref = element.get("refid") or element.get("id")
        if not ref:
            raise self.fail(element, "<Ref> needs refid= naming an object made earlier")
        if ref not in self.ids:
            if ref in self._failed_ids:
                raise _Fail(None)
            known = sorted(self.ids)
            message = (f"no object has id {ref!r} at this point{_nearest(ref, known)} "
                       f"(known ids: {', '.join(known)})")
            if not any(isinstance(c.tag, str) and c.tag not in NOT_STATEMENTS for c in element):
                self.warn(element, message + "; it gives null, as in Jetty")
                return None  # JETTY.md §10: an empty <Ref> to an unknown id is null
            raise self.fail(element, message)
        return self._then(self.ids[ref], element, f"<Ref refid={ref!r}>")
