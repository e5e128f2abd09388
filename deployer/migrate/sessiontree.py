"""Walking the session statements of a Jetty descriptor (any generation) into a SessionPlan.

A 9.3 SessionManager, a 9.4+ SessionHandler with its SessionCache and SessionDataStore, and the
servlet SessionCookieConfig are read setting by setting; sessions94 says what each becomes.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from deployer.migrate import names
from deployer.migrate.reader import local
from deployer.migrate.report import Action
from deployer.migrate.sessions94 import (
    COOKIE_CONFIG,
    COOKIE_DROPS,
    DROPPED_NOTES,
    MANAGER_SETTINGS,
    RENAMES,
    SessionPlan,
    literal,
    lower_first,
    renamed_set,
)
from deployer.migrate.values import value_hint


def _new_of(elem: etree._Element) -> tuple[etree._Element | None, str]:
    """The <New> inside a Set/Arg value and its class."""
    for child in elem:
        if local(child.tag) == "New":
            return child, child.get("class") or ""
    return None, ""


def _statements(elem: etree._Element,
                plan: SessionPlan) -> Iterator[tuple[etree._Element, str, str]]:
    """elem's child elements with their tag and setter-style name; comments go into the plan."""
    for child in elem:
        if isinstance(child, etree._Comment):
            plan.add_comment(child)
        elif isinstance(child.tag, str):
            yield child, local(child.tag), lower_first(child.get("name") or "")


def walk_handler(elem: etree._Element, plan: SessionPlan) -> None:
    """Children of a SessionHandler (Get sessionHandler, New SessionHandler, getSessionHandler)."""
    for child, tag, name in _statements(elem, plan):
        line = child.sourceline
        if tag == "Arg":
            new, cls = _new_of(child)
            if new is not None:
                walk_manager(new, cls, plan)
            continue
        if tag == "Set" and name == "sessionManager":
            new, cls = _new_of(child)
            if new is None:
                plan.note(line, Action.DROPPED, "sessionManager set from a reference: "
                          "deployer uses its HashSessionManager")
            else:
                walk_manager(new, cls, plan)
        elif tag == "Get" and name == "sessionManager":
            walk_manager(child, names.HASH_MANAGER, plan)
        elif tag == "Set" and name == "sessionCache":
            new, cls = _new_of(child)
            walk_cache(new if new is not None else child, cls, plan)
        elif tag == "Get" and name == "sessionCache":
            walk_cache(child, "DefaultSessionCache", plan)
        elif (tag, name) in (("Get", "sessionCookieConfig"), ("Call", "getSessionCookieConfig")):
            walk_cookie_config(child, plan)
        elif tag == "Set":
            setting(child, name, plan)
        elif tag == "Call" and name.startswith("set") and len(child) == 1 \
                and local(child[0].tag) == "Arg":
            setting(child[0], lower_first(name[3:]), plan, line)
        else:
            plan.note(line, Action.DROPPED, f"<{tag} name=\"{name}\"> on the session handler has "
                      "no HashSessionManager equivalent")


def setting(src: etree._Element, name: str, plan: SessionPlan, line: int | None = None) -> None:
    line = line or src.sourceline or 0
    if name in MANAGER_SETTINGS:
        plan.put(name, renamed_set(src, name), line, Action.KEPT,
                 f"session setting {name}{value_hint(src)}")
    elif name in RENAMES:
        new, why = RENAMES[name]
        plan.put(new, renamed_set(src, new), line, Action.CHANGED,
                 f"{name} -> {new}{value_hint(src)}: {why}")
    elif name in ("evictionPolicy",):
        plan.eviction = (src, line)
    elif name in ("saveOnInactiveEviction", "saveOnInactiveEvict"):
        plan.save_on_evict = literal(src) or ""
        plan.note(line, Action.CHANGED, f"{name} folded into idleSavePeriod (see evictionPolicy)")
    elif name in DROPPED_NOTES:
        plan.note(line, Action.DROPPED, f"session setting {name}: {DROPPED_NOTES[name]}")
    else:
        plan.note(line, Action.DROPPED, f"session setting {name}: HashSessionManager has no such "
                  "property")


def walk_manager(elem: etree._Element, cls: str, plan: SessionPlan) -> None:
    line = elem.sourceline
    short = cls.rsplit(".", 1)[-1]
    if names.is_hash_manager(cls):
        if cls != names.HASH_MANAGER:
            plan.note(line, Action.CHANGED, f"{cls} -> {names.HASH_MANAGER}")
    elif short == "FileSessionManager":
        plan.file_store = True
        plan.note(line, Action.CHANGED, f"{cls} (9.4 pre-release file sessions) -> "
                  "HashSessionManager with storeDirectory")
    elif short in ("RedisSessionManager", "JDBCSessionManager"):
        store = "Redis" if short.startswith("Redis") else "JDBC (PostgreSQL)"
        plan.note(line, Action.CHANGED, f"{cls} -> HashSessionManager without storeDirectory: "
                  f"with the server descriptor `deployer migrate` makes of the server file "
                  f"(`deployer run --config`), its sessions live in that {store} store again, "
                  "shared by every node")
    else:
        plan.note(line, Action.CHANGED, f"{cls} -> HashSessionManager: its sessions lived outside "
                  "the process; deployer keeps them in memory (add storeDirectory to persist "
                  "them across restarts; one process holds them, there is no cluster sharing)")
    for child, tag, name in _statements(elem, plan):
        if tag == "Set":
            setting(child, name, plan)
        elif tag == "Get" and name == "sessionDataStore":
            walk_store(child, "FileSessionDataStore", plan)
        elif tag == "Get" and name == "sessionStore":
            walk_cache(child, "SessionStore", plan)
        elif (tag, name) in (("Get", "sessionCookieConfig"), ("Call", "getSessionCookieConfig")):
            walk_cookie_config(child, plan)
        elif tag == "Arg":
            plan.note(child.sourceline, Action.DROPPED, f"constructor argument of {short}: "
                      "HashSessionManager takes none")
        else:
            plan.note(child.sourceline, Action.DROPPED, f"<{tag} name=\"{name}\"> on {short} "
                      "has no HashSessionManager equivalent")


def walk_cookie_config(elem: etree._Element, plan: SessionPlan) -> None:
    """``<Get name="sessionCookieConfig">``: the cookie settings HashSessionManager has itself."""
    for child, tag, name in _statements(elem, plan):
        line = child.sourceline or 0
        if tag == "Set" and name in COOKIE_CONFIG:
            target = COOKIE_CONFIG[name]
            plan.put(target, renamed_set(child, target), line, Action.CHANGED,
                     f"sessionCookieConfig {name} -> HashSessionManager {target}")
        elif tag == "Set" and name in COOKIE_DROPS:
            plan.note(line, Action.DROPPED, f"sessionCookieConfig {name}: {COOKIE_DROPS[name]}")
        else:
            plan.note(line, Action.DROPPED, f"<{tag} name=\"{name}\"> on the "
                      "session cookie config has no HashSessionManager equivalent")


def walk_cache(elem: etree._Element, cls: str, plan: SessionPlan) -> None:
    short = cls.rsplit(".", 1)[-1]
    if short == "NullSessionCache":
        plan.note(elem.sourceline, Action.CHANGED, "NullSessionCache (no cache, every request "
                  "reads the store) -> HashSessionManager keeps sessions in memory")
    elif short != "SessionStore":
        plan.note(elem.sourceline, Action.CHANGED, f"{short} (9.4 session cache) -> its settings "
                  "move onto HashSessionManager")
    for child, tag, name in _statements(elem, plan):
        if tag == "Arg":
            continue  # the SessionHandler reference the cache is built with
        if tag == "Set" and name == "sessionDataStore":
            new, scls = _new_of(child)
            walk_store(new if new is not None else child, scls, plan)
        elif tag == "Get" and name == "sessionDataStore":
            walk_store(child, "FileSessionDataStore", plan)
        elif tag == "Set":
            setting(child, name, plan)
        else:
            plan.note(child.sourceline, Action.DROPPED, f"<{tag} name=\"{name}\"> on the session "
                      "cache has no HashSessionManager equivalent")


def walk_store(elem: etree._Element, cls: str, plan: SessionPlan) -> None:
    short = cls.rsplit(".", 1)[-1]
    if short not in ("FileSessionDataStore", "SessionDataStore"):
        plan.note(elem.sourceline, Action.DROPPED, f"{cls or 'session data store'}: sessions were "
                  "stored outside the process (database, cache cluster); deployer keeps them in "
                  "memory, or in files with storeDirectory")
        return
    plan.file_store = True
    plan.note(elem.sourceline, Action.CHANGED, "FileSessionDataStore -> HashSessionManager "
              "storeDirectory (9.4 file names carry expiry, context and vhost; 9.3 files are "
              "per context directory: existing 9.4 session files are not read)")
    for child, tag, name in _statements(elem, plan):
        if tag == "Set":
            setting(child, name, plan)
        else:
            plan.note(child.sourceline, Action.DROPPED, f"<{tag}> on the data store "
                      "has no HashSessionManager equivalent")
