"""A Jetty 9.4+ server-wide file session store (the `session-store-file` module's XML).

Jetty 9.4 configures one FileSessionDataStoreFactory on the Server: every context stores its
sessions in the same ``storeDir`` (file names carry the context). deployer keeps sessions per
context (HashSessionManager, one storeDirectory each, JETTY.md §4.5), so the settings belong on each
context's session manager. The file itself is reported as no context, saying so; when it is
migrated together with the contexts of its Jetty base (one run; the descriptors in the base's
``webapps/``), each WebAppContext that has no storeDirectory of its own gets ``storeDir/<its name>``
with the factory's other settings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from deployer.migrate.reader import ReadError, local, read
from deployer.migrate.report import Action, FileResult
from deployer.migrate.sessions94 import RENAMES

_FACTORY = ("FileSessionDataStoreFactory",)
MAX_LOOK = 1024 * 1024  # how much of a file api.py reads to see whether it names the factory
_DEFAULT_DIR_PROPERTY = "jetty.session.file.storeDir"
#: factory settings HashSessionManager has, by their 9.4 names (sessions94's renames)
_CARRIED = {name: RENAMES[name][0] for name in ("deleteUnrestorableFiles",)}


@dataclass
class ServerStore:
    """What a server-wide file store says, ready to be written into each context."""

    source: str
    line: int
    store_dir: etree._Element | None = None  # the <Set name="storeDir"> of the source
    settings: dict[str, etree._Element] = field(default_factory=dict)  # 9.3 name -> Set

    def applies_to(self, descriptor: Path) -> bool:
        """Whether ``descriptor`` is a context of this store's Jetty base: it sits in a
        ``webapps/`` directory whose parent also holds the store's file."""
        webapps = descriptor.resolve().parent
        return webapps.name == "webapps" and webapps.parent in Path(self.source).resolve().parents

    def describe(self) -> str:
        carried = ", ".join(["storeDirectory (storeDir/<context>)", "lazyLoad true",
                             *self.settings])
        return (f"a server-wide file session store (line {self.line}): deployer keeps sessions "
                f"per context, so these settings belong on each context's HashSessionManager "
                f"({carried}); migrated in one run with its Jetty base's webapps/, it is written "
                "into each WebAppContext there that has no storeDirectory of its own")


def find(path: object) -> ServerStore | None:
    """The file store a Server configuration sets up, or None (also for unreadable files)."""
    try:
        src = read(path)  # type: ignore[arg-type]
    except ReadError:
        return None
    root = src.root
    if local(root.tag) != "Configure" or not (root.get("class") or "").endswith(".Server"):
        return None
    factory = next((n for n in root.iter() if local(n.tag) == "New"
                    and (n.get("class") or "").rsplit(".", 1)[-1] in _FACTORY), None)
    if factory is None:
        return None
    store = ServerStore(str(src.path), factory.sourceline or 0)
    for child in factory:
        if not isinstance(child.tag, str) or local(child.tag) != "Set":
            continue
        name = child.get("name") or ""
        if name == "storeDir":
            store.store_dir = child
        elif name in _CARRIED:
            store.settings[_CARRIED[name]] = child
    return store


def _store_directory(store: ServerStore, context_name: str) -> etree._Element:
    """``<Set name="storeDirectory">`` = the factory's storeDir (its property kept, defaulting as
    Jetty's module does to ${jetty.base}/sessions) + "/" + the context's name."""
    out = etree.Element("Set", name="storeDirectory")
    src = store.store_dir
    prop = src.get("property") if src is not None else _DEFAULT_DIR_PROPERTY
    if src is not None and not prop:
        out.text = (src.text or "").strip()
        for c in src:
            out.append(copy.deepcopy(c))  # with its tail: the path text after a lookup
        last = out[-1] if len(out) else None
        if last is not None:
            last.tail = (last.tail or "").rstrip() + f"/{context_name}"
        else:
            out.text = (out.text or "") + f"/{context_name}"
        return out
    lookup = etree.SubElement(out, "Property", name=prop or _DEFAULT_DIR_PROPERTY)
    default = etree.SubElement(lookup, "Default")
    etree.SubElement(default, "Property", name="jetty.base").tail = "/sessions"
    lookup.tail = f"/{context_name}"
    return out


def apply(store: ServerStore, out: etree._Element, result: FileResult) -> None:
    """Give a migrated WebAppContext without a storeDirectory the server-wide store's settings."""
    if (out.get("class") or "").rsplit(".", 1)[-1] != "WebAppContext":
        return
    if any(e.get("name") == "storeDirectory" for e in out.iter("Set")):
        return
    name = result.name or "context"
    handler = etree.SubElement(out, "Get", name="sessionHandler")
    manager = etree.SubElement(handler, "Get", name="sessionManager")
    sets = [_store_directory(store, name)]
    lazy = etree.Element("Set", name="lazyLoad")
    lazy.text = "true"
    sets.append(lazy)
    for target, src in store.settings.items():
        s = etree.Element("Set", name=target)
        if src.get("property"):
            etree.SubElement(s, "Property", name=src.get("property"), default="false")
        else:
            s.text = src.text
        sets.append(s)
    manager.text = "\n      "
    for i, s in enumerate(sets):
        s.tail = "\n      " if i < len(sets) - 1 else "\n    "
        manager.append(s)
    handler.text, manager.tail, handler.tail = "\n    ", "\n  ", "\n"
    if len(out) > 1:
        prev = out[-2]
        prev.tail = (prev.tail or "").rstrip(" ") or "\n"
        if not prev.tail.endswith("  "):
            prev.tail = prev.tail.rstrip("\n") + "\n  "
    result.add(result.root_line, Action.CHANGED,
               f"sessions stored in the server-wide store's directory, under {name}/ (lazyLoad, "
               f"as 9.4 reads a session when it is asked for), from {store.source}")
