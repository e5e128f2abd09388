"""Values and their conversions: ``type=`` names (JETTY.md 1.6 step 7) and property kinds.

Jetty swallows a failed conversion (``type="int"`` with ``abc`` gives null, ``yes`` is false);
deployer is strict and raises ConversionError with a message saying what was expected and found.
Type names are case-sensitive as in Jetty, except String's simple name.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from deployer.descriptor.specs import Spec


class ConversionError(ValueError):
    """A value does not fit; the message reads after "<Class>.<property> " or on its own."""


_INT_RANGES = {
    "byte": (-(2**7), 2**7 - 1), "short": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1),
}
_WRAPPERS = {"boolean": "Boolean", "byte": "Byte", "char": "Character", "double": "Double",
             "float": "Float", "int": "Integer", "long": "Long", "short": "Short"}
PRIMITIVES: dict[str, str] = {}
for _prim, _wrap in _WRAPPERS.items():
    for _name in (_prim, _wrap, f"java.lang.{_wrap}", f"java.lang.{_wrap}.TYPE"):
        PRIMITIVES[_name] = _prim
COLLECTIONS = {"ArrayList", "ArrayQueue", "HashSet", "Queue", "List", "Set", "Collection"}
COLLECTIONS |= {f"java.util.{c}" for c in COLLECTIONS}
URL_TYPES = {"URL", "url", "java.net.URL"}
INET_TYPES = {"InetAddress", "java.net.InetAddress"}
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*")
KNOWN_TYPES = sorted({"String", "java.lang.String", *PRIMITIVES, *COLLECTIONS, *URL_TYPES,
                      *INET_TYPES})


def is_string_type(name: str) -> bool:
    return name == "java.lang.String" or name.lower() == "string"


def is_known_type(name: str) -> bool:
    return is_string_type(name) or name in PRIMITIVES or name in COLLECTIONS or \
        name in URL_TYPES or name in INET_TYPES


def unknown_type(name: str) -> ConversionError:
    near = difflib.get_close_matches(name, KNOWN_TYPES, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(n) for n in near)}?)" if near else ""
    return ConversionError(f"unknown type {name!r}{hint}; known: String, boolean, int, long, "
                           "double, float, short, byte, char, their java.lang wrappers, URL, "
                           "InetAddress, List, Set, ArrayList, HashSet, Collection")


def java_str(value: Any) -> str:
    """String concatenation as Java does it: null -> "null", booleans in lower case."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{java_str(k)}={java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Spec):
        return type(value).__name__.removesuffix("Spec")
    return str(value)


def describe(value: Any) -> str:
    """How a value appears in a message: its text quoted, or what it is."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return f"the boolean {java_str(value)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a map"
    return f"a {java_str(value)}"


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConversionError(f"expects a boolean (true or false), got {describe(value)}")


def to_int(value: Any, prim: str = "int") -> int:
    low, high = _INT_RANGES.get(prim, _INT_RANGES["long"])
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        digits = value.strip().lstrip("+-").lstrip("0")
        if len(digits) > 19:  # beyond any Java integer; int() refuses 4,300+ digits anyway
            raise ConversionError(f"expects an integer ({prim}) from {low} to {high}, got a "
                                  f"{len(digits)}-digit number")
        number = int(value)
    else:
        raise ConversionError(f"expects an integer ({prim}), got {describe(value)}")
    if not low <= number <= high:
        raise ConversionError(f"expects an integer ({prim}) from {low} to {high}, got {number}")
    return number


def to_float(value: Any, prim: str = "double") -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConversionError(f"expects a number ({prim}), got {describe(value)}")


def convert_type(value: Any, type_name: str) -> Any:
    """Apply ``type=`` to an evaluated value (JETTY.md 1.6 step 7), strictly."""
    if value is None:
        return None
    if is_string_type(type_name):
        return java_str(value)
    prim = PRIMITIVES.get(type_name)
    if prim is not None:
        if prim == "boolean":
            return to_bool(value)
        if prim in _INT_RANGES:
            return to_int(value, prim)
        if prim in ("double", "float"):
            return to_float(value, prim)
        text = java_str(value)
        if not text:
            raise ConversionError("expects a character (char), got an empty string")
        return text[0]
    if type_name in URL_TYPES:
        text = java_str(value).strip()
        if not _URL.fullmatch(text):
            raise ConversionError(f"expects a URL (scheme:...), got {describe(value)}")
        return text
    if type_name in INET_TYPES:
        return java_str(value).strip()  # never resolved: no network while reading descriptors
    if type_name in COLLECTIONS:
        if not isinstance(value, list):
            raise ConversionError(f"type {type_name!r} converts an <Array>, got {describe(value)}")
        if type_name.endswith(("Set", "HashSet")):
            return list(dict.fromkeys(value))
        return list(value)
    raise unknown_type(type_name)


def to_kind(value: Any, kind: str) -> Any:
    """Check/convert a Set value for a property kind (strings convert, like Jetty's step 5)."""
    if kind in ("string", "path"):
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return java_str(value)
        raise ConversionError(f"expects a string, got {describe(value)}")
    if kind == "bool":
        return to_bool(value)
    if kind == "int":
        return to_int(value)
    if kind == "strings":
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            return [java_str(v) for v in value]
        raise ConversionError("expects a list of strings (an <Array type=\"String\"> with "
                              f"<Item>s), got {describe(value)}")
    if kind in ("map", "attrs"):
        if isinstance(value, dict):
            if kind == "map":
                return {java_str(k): java_str(v) for k, v in value.items()}
            return {java_str(k): v for k, v in value.items()}
        raise ConversionError(f"expects a map (a <Map> of <Entry>s), got {describe(value)}")
    if kind == "any":
        return value
    raise AssertionError(kind)


def csv_split(text: str) -> list[str]:
    """Jetty's StringUtil.csvSplit for ``arg=`` and ``item=`` lists: items trimmed, a double-quoted
    item may hold commas (``\\"`` and ``\\\\`` escape inside quotes); ``"x,y",z`` is two items."""
    items: list[str] = []
    i, n = 0, len(text)
    if not text.strip():
        return items
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            i += 1
            buf = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            i += 1  # the closing quote
            item = "".join(buf)
            comma = text.find(",", i)
            end = n if comma < 0 else comma
        else:
            comma = text.find(",", i)
            end = n if comma < 0 else comma
            item = text[i:end].strip()
        items.append(item)
        if comma < 0:
            return items
        i = end + 1
