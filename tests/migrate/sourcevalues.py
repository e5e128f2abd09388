"""Values read straight from a *source* Jetty file, independently of deployer.migrate.

A tiny XPath reading of the few things migration must carry exactly (contextPath, war /
resourceBase, virtual hosts, session settings), evaluated with Jetty's value rules (text and
Property/SystemProperty concatenated, then trimmed), so tests can compare them with what
load_descriptor makes of the migrated file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lxml import etree

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

SESSION_NAMES = {  # source setter name -> SessionManagerSpec field
    "storeDirectory": "store_directory", "storeDir": "store_directory",
    "lazyLoad": "lazy_load", "savePeriod": "save_period", "scavengePeriod": "scavenge_period",
    "idleSavePeriod": "idle_save_period", "maxInactiveInterval": "max_inactive_interval",
    "deleteUnrestorableSessions": "delete_unrestorable_sessions",
    "deleteUnrestorableFiles": "delete_unrestorable_sessions",
    "sessionCookie": "session_cookie", "httpOnly": "http_only", "usingCookies": "using_cookies",
    "secureRequestOnly": "secure_request_only", "refreshCookieAge": "refresh_cookie_age",
    "sessionDomain": "session_domain", "sessionPath": "session_path",
    "maxCookieAge": "max_cookie_age", "nodeIdInSessionId": "node_id_in_session_id",
}


def tree(path: Path) -> etree._Element:
    return etree.parse(str(path), PARSER).getroot()


def property_names(root: etree._Element) -> tuple[set[str], set[str]]:
    props = {p.get("name") for p in root.iter("Property") if p.get("name")}
    sysprops = {p.get("name") for p in root.iter("SystemProperty") if p.get("name")}
    return props, sysprops


def evaluate(elem: etree._Element, props: Mapping[str, str], sysprops: Mapping[str, str],
             strings: Mapping[str, str]) -> str:
    parts: list[str] = [elem.text or ""]
    for child in elem:
        if isinstance(child.tag, str):
            name = child.get("name") or child.get("refid") or child.get("id") or ""
            if child.tag == "Property":
                parts.append(props.get(name, child.get("default") or "null"))
            elif child.tag == "SystemProperty":
                parts.append(sysprops.get(name, child.get("default") or "null"))
            elif child.tag == "Ref":
                parts.append(strings.get(name, "null"))
        parts.append(child.tail or "")
    return "".join(parts).strip()


def _strings(root: etree._Element) -> dict[str, str]:
    out = {}
    for new in root.xpath("//New[@class='java.lang.String'][@id]"):
        args = new.xpath("Arg")
        if len(args) == 1:
            out[new.get("id")] = (args[0].text or "").strip()
    return out


def context_values(root: etree._Element, props: Mapping[str, str],
                   sysprops: Mapping[str, str]) -> dict[str, object]:
    """contextPath, base (war, else resourceBase) and virtual hosts as the source sets them."""
    strings = _strings(root)
    out: dict[str, object] = {}
    sets = root.xpath("Set | Set[@name='handler']/New/Set")
    for s in sets:
        name = s.get("name", "")
        key = name[:1].lower() + name[1:]
        if key == "contextPath":
            out["context_path"] = evaluate(s, props, sysprops, strings)
        elif key == "war":
            out["war"] = evaluate(s, props, sysprops, strings)
        elif key in ("resourceBase", "baseResourceAsString"):
            out["resource_base"] = evaluate(s, props, sysprops, strings)
        elif key == "virtualHosts":
            out["virtual_hosts"] = [evaluate(i, props, sysprops, strings)
                                    for i in s.xpath("Array/Item")]
    return out


def session_values(root: etree._Element, props: Mapping[str, str],
                   sysprops: Mapping[str, str]) -> list[tuple[str, str, int]]:
    """(spec field, value text, line) of every session setting under a session handler."""
    found = []
    for s in root.xpath("//Set"):
        name = s.get("name", "")
        inside = s.xpath("ancestor::*[contains(@name, 'ession') or contains(@class, 'ession')]")
        if name in SESSION_NAMES and inside:
            found.append((SESSION_NAMES[name], evaluate(s, props, sysprops, {}), s.sourceline))
    return found
