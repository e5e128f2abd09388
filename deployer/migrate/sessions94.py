"""Session configuration of every Jetty generation, brought onto one 9.3 HashSessionManager.

Jetty 6-9.3 configure a SessionManager; 9.4+ split it into SessionHandler settings, a SessionCache
and a SessionDataStore (JETTY.md §4). deployer implements the 9.3 model, so 9.4 settings are mapped
as JETTY.md §4.5 tables them, and every place where the meaning shifts gets a note in the report.
This module holds the mapping and the plan it fills; sessiontree.py walks the XML into it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from lxml import etree

from deployer.migrate import names
from deployer.migrate.report import Action

#: HashSessionManager (9.3) properties; 9.4 SessionHandler kept most of these names (§4.1).
MANAGER_SETTINGS = {
    "storeDirectory", "lazyLoad", "savePeriod", "scavengePeriod", "idleSavePeriod",
    "deleteUnrestorableSessions", "maxInactiveInterval", "sessionCookie",
    "sessionIdPathParameterName", "httpOnly", "secureRequestOnly", "usingCookies",
    "nodeIdInSessionId", "checkingRemoteSessionIdEncoding", "refreshCookieAge", "sessionDomain",
    "sessionPath", "maxCookieAge",
}

#: 9.4 names -> (9.3 name, note for the report).
RENAMES: dict[str, tuple[str, str]] = {
    "storeDir": ("storeDirectory", "9.4 FileSessionDataStore storeDir is 9.3's storeDirectory; "
                 "9.4 may share one directory between contexts, 9.3 needs one per context"),
    "deleteUnrestorableFiles": ("deleteUnrestorableSessions", "same meaning"),
    "removeUnloadableSessions": ("deleteUnrestorableSessions", "the 9.4 cache setting; on "
                                 "HashSessionManager it deletes files that fail to restore"),
    "savePeriodSec": ("savePeriod", "meaning differs: in 9.4 savePeriodSec throttles writes of "
                      "sessions whose attributes did not change (0 = write at every request "
                      "exit); 9.3's savePeriod is a periodic dump of the sessions accessed since "
                      "the last save (0 = off, sessions are written when idle and at shutdown)"),
    "idlePassivationTimeoutSec": ("idleSavePeriod", "passivating an idle session is 9.3's "
                                  "idleSavePeriod"),
}

DROPPED_NOTES = {
    "gracePeriodSec": "9.4's grace period for expiry across nodes; deployer is one node",
    "saveOnCreate": "no 9.3 equivalent: new sessions are written when idle, at a periodic save "
                    "(savePeriod) or at shutdown",
    "flushOnResponseCommit": "no 9.3 equivalent: use savePeriod for periodic writes",
    "invalidateOnShutdown": "deployer saves sessions at shutdown when storeDirectory is set and "
                            "invalidates them when it is not",
    "expiryTimeoutSec": "expiry follows maxInactiveInterval",
    "sessionIdManager": "deployer has one session id manager per server, shared by all contexts",
    "scavengeIntervalSec": "the 9.4 HouseKeeper is server-wide; HashSessionManager scavenges "
                           "every scavengePeriod (default 30 s)",
    "scavengeInterval": "the scavenge interval is scavengePeriod on HashSessionManager",
    "sessionTrackingModes": "deployer tracks sessions with a cookie and the ;jsessionid path "
                            "parameter (usingCookies / sessionIdPathParameterName)",
    "saveInterval": "a Redis manager setting; use savePeriod for periodic writes",
}

#: SessionCookieConfig (servlet 3) setters -> HashSessionManager properties (JETTY.md §3.2).
COOKIE_CONFIG = {"name": "sessionCookie", "domain": "sessionDomain", "path": "sessionPath",
                 "maxAge": "maxCookieAge", "httpOnly": "httpOnly"}
_BY_HAND = ("`run` honours it on the session handler's <Get name=\"sessionCookieConfig\">, but "
            "migrate does not carry it over: add it there by hand")
COOKIE_DROPS = {
    "secure": "an always-Secure cookie (secureRequestOnly, the default, marks it Secure on HTTPS "
              f"requests; see `run --proxy-headers`); {_BY_HAND}",
    "comment": "cookie comments are not sent; Jetty 9.4's __SAME_SITE_*__ / __HTTP_ONLY__ markers "
               f"in it are: {_BY_HAND}",
}

#: Jetty 10+ `Set property=` defaults of the distribution's session modules (§4.4).
PROPERTY_DEFAULTS = {
    "jetty.session.file.storeDir": "./sessions",
    "jetty.session.file.deleteUnrestorableFiles": "false",
    "jetty.session.savePeriod.seconds": "0",
    "jetty.session.evictionPolicy": "-1",
    "jetty.session.saveOnInactiveEvict": "false",
    "jetty.session.removeUnloadableSessions": "false",
}


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def literal(elem: etree._Element) -> str | None:
    """The text of a value element when it is plain text, else None."""
    if len([c for c in elem if isinstance(c.tag, str)]):
        return None
    return (elem.text or "").strip()


@dataclass
class Setting:
    name: str
    value: etree._Element  # a <Set name=...> ready for the manager
    line: int


@dataclass
class SessionPlan:
    """What the session config of one context becomes, plus the report lines on the way."""

    settings: dict[str, Setting] = field(default_factory=dict)
    findings: list[tuple[int, Action, str]] = field(default_factory=list)
    comments: list[tuple[int, etree._Element]] = field(default_factory=list)
    file_store: bool = False
    eviction: tuple[etree._Element, int] | None = None
    save_on_evict: str | None = None

    def add_comment(self, comment: etree._Element) -> None:
        self.comments.append((comment.sourceline or 0, copy.deepcopy(comment)))

    def note(self, line: int | None, action: Action, msg: str) -> None:
        self.findings.append((line or 0, action, msg))

    def put(self, name: str, value: etree._Element, line: int, action: Action, msg: str) -> None:
        if name in self.settings:
            self.note(line, Action.DROPPED, f"{name} already set on line "
                      f"{self.settings[name].line}; Jetty would apply both, the first is kept")
            return
        self.settings[name] = Setting(name, value, line)
        self.note(line, action, msg)

    def put_set(self, src: etree._Element, name: str, action: Action, msg: str) -> None:
        self.put(name, renamed_set(src, name), src.sourceline or 0, action, msg)

    # -- building ---------------------------------------------------------------------------
    def finish(self) -> None:
        if self.eviction is not None:
            self._map_eviction(*self.eviction)
        if self.file_store and "lazyLoad" not in self.settings:
            store = self.settings.get("storeDirectory")
            line = store.line if store else max((s.line for s in self.settings.values()),
                                                default=0)
            value = text_set("lazyLoad", "true")
            if line:
                value.sourceline = line
            self.put("lazyLoad", value, line, Action.CHANGED,
                     "lazyLoad=true added: 9.4 loads a session from its store on demand, per id; "
                     "9.3 lazyLoad loads the stored sessions at the first request instead of at "
                     "start")

    def _map_eviction(self, src: etree._Element, line: int) -> None:
        value = literal(src)
        saves = (self.save_on_evict or "").lower() == "true"
        if value is not None and re.fullmatch(r"-?\d+", value) and int(value) < 0:
            self.note(line, Action.KEPT, f"evictionPolicy {value} (never evict) is what "
                      "HashSessionManager does without idleSavePeriod")
            return
        if value is not None and re.fullmatch(r"-?\d+", value) and int(value) == 0:
            self.note(line, Action.DROPPED, "evictionPolicy 0 (evict when the last request "
                      "leaves) has no 9.3 equivalent: sessions stay in memory; idleSavePeriod N "
                      "writes them out after N idle seconds")
            return
        n = value if value is not None else "N"
        why = (f"evictionPolicy {n} with saveOnInactiveEviction=true is 9.3's idleSavePeriod {n}"
               if saves else f"evictionPolicy {n} without saveOnInactiveEviction evicts without "
               f"saving in 9.4; idleSavePeriod {n} saves the session to storeDirectory, then drops "
               "it from memory")
        self.put_set(src, "idleSavePeriod", Action.CHANGED, why)

    def build(self) -> etree._Element | None:
        if not self.settings and not self.comments:
            return None
        get = etree.Element("Get", name="sessionHandler")
        set_ = etree.SubElement(get, "Set", name="sessionManager")
        new = etree.SubElement(set_, "New", {"class": names.HASH_MANAGER})
        items = [(line, i, c) for i, (line, c) in enumerate(self.comments)]
        items += [(s.line, len(items) + i, s.value) for i, s in enumerate(self.settings.values())]
        for _, _, node in sorted(items, key=lambda t: (t[0], t[1])):
            new.append(node)
        return get


def renamed_set(src: etree._Element, name: str) -> etree._Element:
    """A copy of ``<Set>`` (or a Call's Arg) under a new name; ``property=`` made explicit."""
    out = etree.Element("Set", name=name)
    if src.sourceline:
        out.sourceline = src.sourceline
    if src.get("type"):
        out.set("type", src.get("type"))
    prop = src.get("property")
    if prop and not len(src) and not (src.text or "").strip():
        p = etree.SubElement(out, "Property", name=prop)
        if prop in PROPERTY_DEFAULTS:
            p.set("default", PROPERTY_DEFAULTS[prop])
        return out
    out.text = src.text
    for child in src:
        out.append(copy.deepcopy(child))
    return out


def text_set(name: str, value: str) -> etree._Element:
    out = etree.Element("Set", name=name)
    out.text = value
    return out
