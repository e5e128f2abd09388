"""The jetty-maven-plugin / maven-jetty-plugin ``<webApp>`` (``<webAppConfig>``) of a pom.xml.

The plugin builds a WebAppContext from Plexus beans: each child element names a setter (JETTY.md
§5). That is read into the same statements a descriptor has. ``${...}`` expressions are expanded
from what the pom itself says (basedir, project.build.directory, <properties>); anything else
stays a ``<Property>`` so it can be given with ``deployer run --property`` (and is reported).
Paths the pom resolves are written relative to ``--out`` (deployer resolves a relative path against
the descriptor's directory), or absolute when there is no ``--out``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lxml import etree

from deployer.migrate import names, rules, sessions94, sessiontree, writer
from deployer.migrate.reader import Source, local
from deployer.migrate.report import Action, FileResult, Status

PLUGINS = re.compile(r"^(jetty-maven-plugin|maven-jetty-plugin|jetty-ee\d+-maven-plugin)$")
_EXPR = re.compile(r"\$\{([^}]+)\}")
_PATHS = {"war", "resourceBase", "storeDirectory"}

PLUGIN_DROPS = {
    "scanIntervalSeconds": "deployer watches its contexts directory (`deployer run "
                           "--scan-interval`)",
    "scanInterval": "deployer watches its contexts directory (`deployer run --scan-interval`)",
    "reload": "deployer redeploys when the descriptor changes",
    "stopPort": "stop deployer with SIGTERM or Ctrl-C",
    "stopKey": "stop deployer with SIGTERM or Ctrl-C",
    "systemProperties": "give <SystemProperty> values with `deployer run -D NAME=VALUE`",
    "systemPropertiesFile": "give <SystemProperty> values with `deployer run -D NAME=VALUE`",
    "userRealms": rules.SECURITY, "loginServices": rules.SECURITY,
    "connectors": "deployer listens with `deployer run --host/--port`",
    "httpConnector": "deployer listens with `deployer run --host/--port`",
    "jettyXml": "a server configuration: deployer is the server", "jettyConfig":
    "a server configuration: deployer is the server",
    "contextXml": "the plugin applied this Jetty XML to the webapp: migrate that file too "
                  "(`deployer migrate FILE`)",
    "webAppXml": "the plugin applied this Jetty XML to the webapp: migrate that file too",
    "requestLog": "deployer logs requests through its server", "skip": "no meaning for deployer",
    "classesDirectory": rules.DROP_SET["extraClasspath"],
    "testClassesDirectory": rules.DROP_SET["extraClasspath"],
    "useTestScope": rules.DROP_SET["extraClasspath"],
    "useTestClasspath": rules.DROP_SET["extraClasspath"],
    "scanTargets": "deployer watches the descriptor, not the sources",
    "scanTargetPatterns": "deployer watches the descriptor, not the sources",
    "contextHandlers": "extra Java context handlers: give each its own descriptor",
    "supportedPackagings": "no meaning for deployer", "dumpOnStart": "no meaning for deployer",
}


def _child(elem: etree._Element | None, name: str) -> etree._Element | None:
    if elem is None:
        return None
    return next((c for c in elem if local(c.tag) == name), None)


def _text(elem: etree._Element | None, name: str) -> str | None:
    c = _child(elem, name)
    return (c.text or "").strip() if c is not None else None


class Pom:
    """Expression context of one pom."""

    def __init__(self, src: Source, out_dir: Path | None) -> None:
        self.src = src
        self.root = src.root
        self.dir = src.path.resolve().parent
        self.out_dir = out_dir.resolve() if out_dir is not None else None
        parent = _child(self.root, "parent")
        props: dict[str, str] = {}
        for c in _child(self.root, "properties") if _child(self.root, "properties") is not None \
                else []:
            if isinstance(c.tag, str):
                props[local(c.tag)] = (c.text or "").strip()
        for key in ("artifactId", "groupId", "version", "name", "packaging"):
            value = _text(self.root, key) or _text(parent, key)
            if value is not None:
                props[f"project.{key}"] = value
                props.setdefault(f"pom.{key}", value)
        props["basedir"] = props["project.basedir"] = str(self.dir)
        build = _child(self.root, "build")
        build_dir = _text(build, "directory") or "${project.basedir}/target"
        props["project.build.directory"] = build_dir
        props.setdefault("project.build.outputDirectory", "${project.build.directory}/classes")
        props["project.build.finalName"] = _text(build, "finalName") or \
            "${project.artifactId}-${project.version}"
        self.props = props
        self.unresolved: set[str] = set()
        self.expanded: list[tuple[int, str]] = []  # (line, "name ${x}/y = /abs/y")

    def parts(self, text: str, depth: int = 0) -> list[str | tuple[str, str]]:
        """Text split into literal strings and ("Property"|"Env", name) for what the pom lacks."""
        out: list[str | tuple[str, str]] = []
        pos = 0
        for m in _EXPR.finditer(text):
            out.append(text[pos:m.start()])
            key = m.group(1).strip()
            if key in self.props and depth < 8:
                out.extend(self.parts(self.props[key], depth + 1))
            elif key.startswith("env."):
                out.append(("Env", key[4:]))
                self.unresolved.add(key)
            else:
                out.append(("Property", key))
                self.unresolved.add(key)
            pos = m.end()
        out.append(text[pos:])
        merged: list[str | tuple[str, str]] = []
        for p in out:
            if isinstance(p, str) and merged and isinstance(merged[-1], str):
                merged[-1] += p
            elif p != "":
                merged.append(p)
        return merged

    def set_elem(self, name: str, text: str, line: int | None) -> etree._Element:
        parts = self.parts(text.strip())
        if name in _PATHS and len(parts) == 1 and isinstance(parts[0], str):
            parts = [self.path_for_output(parts[0])]
        if "${" in text and all(isinstance(p, str) for p in parts):
            self.expanded.append((line or 0, f"{name} {text.strip()} = {''.join(parts)}"))
        out = etree.Element("Set", name=name)
        if line:
            out.sourceline = line
        last: etree._Element | None = None
        for p in parts:
            if isinstance(p, str):
                if last is None:
                    out.text = (out.text or "") + p
                else:
                    last.tail = (last.tail or "") + p
            else:
                last = etree.SubElement(out, p[0], name=p[1])
        return out

    def path_for_output(self, value: str) -> str:
        path = Path(value)
        if not path.is_absolute():
            path = self.dir / path
        if self.out_dir is None:
            return str(path)
        return os.path.relpath(path, self.out_dir)


def _plugins(root: etree._Element) -> list[etree._Element]:
    found = []
    for plugin in root.iter("{*}plugin", "plugin"):
        if PLUGINS.match(_text(plugin, "artifactId") or ""):
            found.append(plugin)
    return found


def migrate_pom(src: Source, result: FileResult, out_dir: Path | None):
    plugins = [p for p in _plugins(src.root) if _child(p, "configuration") is not None]
    if not plugins:
        result.status = Status.NOT_A_CONTEXT
        result.message = ("a pom.xml without a configured jetty-maven-plugin / maven-jetty-plugin: "
                          "no context to migrate")
        return None, None
    pom = Pom(src, out_dir)
    plugin = plugins[0]
    for other in plugins[1:]:
        result.add(other.sourceline, Action.DROPPED, "another jetty plugin section: only the first "
                   f"(line {plugin.sourceline}) is migrated")
    return PomMigration(pom, result).run(plugin), pom.props.get("project.artifactId")


class PomMigration:
    def __init__(self, pom: Pom, result: FileResult) -> None:
        self.pom = pom
        self.result = result
        self.out = etree.Element("Configure", {"class": names.WEBAPP})
        self.seen: set[str] = set()
        self.plan = sessions94.SessionPlan()
        self.has_sessions = False
        self.dropped: list[etree._Element] = []

    def add(self, elem: etree._Element) -> None:
        self.out.append(elem)

    def run(self, plugin: etree._Element):
        config = _child(plugin, "configuration")
        artifact = _text(plugin, "artifactId")
        group = _text(plugin, "groupId") or "org.mortbay.jetty"
        self.result.add(plugin.sourceline, Action.CHANGED,
                        f"{group}:{artifact} <configuration> -> a WebAppContext descriptor")
        webapp = _child(config, "webApp")
        if webapp is None:
            webapp = _child(config, "webAppConfig")
        for child in config:
            if not isinstance(child.tag, str) or child is webapp:
                continue
            self.plugin_setting(child)
        if webapp is not None:
            for child in webapp:
                if isinstance(child, etree._Comment):
                    self.add(writer.comment(child.text or ""))
                elif isinstance(child.tag, str):
                    self.webapp_setting(child)
        self.defaults(plugin, artifact or "")
        if self.has_sessions:
            self.plan.finish()
            for line, action, msg in self.plan.findings:
                self.result.add(line, action, msg)
            block = self.plan.build()
            if block is not None:
                self.add(block)
        for line, what in self.pom.expanded:
            self.result.add(line, Action.CHANGED, f"{what} (expanded from the pom)")
        for key in sorted(self.pom.unresolved):
            self.result.add(plugin.sourceline, Action.CHANGED,
                            f"${{{key}}} is not defined in the pom: kept as "
                            f"<Property name=\"{key}\"> (give it with `deployer run --property "
                            f"{key}=...`)")
        writer.indent_created(self.out, 0)
        for node in self.dropped:
            node.tail = "\n"
            self.out[-1].tail = "\n  "
            self.out.append(node)
        note = writer.comment(f" Migrated by `deployer migrate` from {self.pom.src.path.name} "
                              f"({group}:{artifact}); the report lists what was kept, changed "
                              "and dropped. ")
        return self.out, [note], []

    def drop(self, elem: etree._Element, why: str) -> None:
        """Report a pom setting deployer cannot honour and keep it visible as a comment."""
        self.result.add(elem.sourceline, Action.DROPPED, f"<{local(elem.tag)}>", advice=why)
        self.dropped.append(writer.dropped_comment(elem, elem.sourceline, why, "  "))

    def set(self, name: str, elem: etree._Element, action: Action, msg: str) -> None:
        if name in self.seen:
            self.result.add(elem.sourceline, Action.DROPPED,
                            f"{name} given twice: the first is kept")
            return
        self.seen.add(name)
        self.add(self.pom.set_elem(name, elem.text or "", elem.sourceline))
        self.result.add(elem.sourceline, action, msg)

    def plugin_setting(self, elem: etree._Element) -> None:
        name = local(elem.tag)
        if name == "contextPath":
            self.set("contextPath", elem, Action.KEPT, f"contextPath {(elem.text or '').strip()}")
        elif name == "webAppSourceDirectory":
            self.set("war", elem, Action.CHANGED, "webAppSourceDirectory -> war (the static "
                     "files jetty:run served)")
        elif name in ("war", "webApp"):
            self.set("war", elem, Action.KEPT, "war")
        else:
            why = PLUGIN_DROPS.get(name, "a plugin setting with no deployer equivalent")
            self.drop(elem, why)

    def webapp_setting(self, elem: etree._Element) -> None:
        name = local(elem.tag)
        target = rules.RENAME.get(name, name)
        if name == "sessionHandler":
            self.sessions(elem)
        elif name in ("baseResource", "resourceBase", "resourceBases") and len(elem):
            self.resource_collection(elem)
        elif name == "jettyEnvXml":
            self.drop(elem, "a jetty-env.xml (JNDI entries): migrate that file too "
                      "(`deployer migrate FILE`); its JNDI parts are Java-only")
        elif target in ("contextPath", "war", "resourceBase", "displayName"):
            self.set(target, elem, Action.KEPT if target == name else Action.CHANGED,
                     f"{name} {(elem.text or '').strip()}" if target == name
                     else f"{name} -> {target}")
        elif name == "virtualHosts":
            hosts = [c for c in elem if isinstance(c.tag, str)]
            s = etree.SubElement(self.out, "Set", name="virtualHosts")
            arr = etree.SubElement(s, "Array", type="String")
            for h in hosts:
                etree.SubElement(arr, "Item").text = (h.text or "").strip()
            self.result.add(elem.sourceline, Action.KEPT, f"virtualHosts ({len(hosts)})")
        elif name in ("initParameters", "initParams"):
            for entry in elem:
                if not isinstance(entry.tag, str):
                    continue
                call = etree.SubElement(self.out, "Call", name="setInitParameter")
                etree.SubElement(call, "Arg").text = local(entry.tag)
                call.append(self.pom.set_elem("x", entry.text or "", None))
                call[-1].tag = "Arg"
                del call[-1].attrib["name"]
                self.result.add(entry.sourceline, Action.KEPT, f"init parameter {local(entry.tag)}")
        else:
            why = rules.DROP_SET.get(name, "a WebAppContext setting deployer has no equivalent for")
            self.drop(elem, why)

    def resource_collection(self, elem: etree._Element) -> None:
        """A ResourceCollection overlays several directories; deployer serves one."""
        texts = [(c.text or "") for c in elem.iter() if c is not elem and isinstance(c.tag, str)]
        dirs = [d.strip() for t in texts for d in t.split(",") if d.strip()]
        if not dirs:
            self.drop(elem, "an empty resource collection")
            return
        first = etree.Element("resourceBase")
        first.text = dirs[0]
        if elem.sourceline:
            first.sourceline = elem.sourceline
        rest = f"; the others ({', '.join(dirs[1:])}) are not served: merge them into one " \
               "directory" if len(dirs) > 1 else ""
        self.set("resourceBase", first, Action.CHANGED,
                 f"{local(elem.tag)} resource collection -> resourceBase {dirs[0]}{rest}")

    def sessions(self, elem: etree._Element) -> None:
        self.has_sessions = True
        impl = elem.get("implementation") or ""
        if impl and not names.is_session_handler(impl):
            self.plan.note(elem.sourceline, Action.CHANGED, f"{impl} -> {names.SESSION_HANDLER}")
        for child in elem:
            if not isinstance(child.tag, str):
                continue
            name = local(child.tag)
            if name == "sessionManager":
                cls = child.get("implementation") or names.HASH_MANAGER
                fake = etree.Element("New", {"class": cls})
                fake.sourceline = child.sourceline
                for bean in child:
                    if isinstance(bean.tag, str):
                        fake.append(self.pom.set_elem(local(bean.tag), bean.text or "",
                                                      bean.sourceline))
                sessiontree.walk_manager(fake, cls, self.plan)
            else:
                sessiontree.setting(self.pom.set_elem(name, child.text or "", child.sourceline),
                                   name, self.plan)

    def defaults(self, plugin: etree._Element, artifact: str) -> None:
        line = plugin.sourceline
        if "contextPath" not in self.seen:
            path = f"/{self.pom.props.get('project.artifactId', '')}" \
                if artifact == "maven-jetty-plugin" else "/"
            self.out.insert(0, self.pom.set_elem("contextPath", path, line))
            self.seen.add("contextPath")
            self.result.add(line, Action.CHANGED, f"contextPath {path}: the plugin's default")
        if "war" not in self.seen and "resourceBase" not in self.seen:
            webapp = self.pom.dir / "src" / "main" / "webapp"
            self.out.insert(1, self.pom.set_elem("war", str(webapp), line))
            python = any((webapp / f).is_file() for f in ("wsgi.py", "asgi.py"))
            what = ("it holds a Python app (wsgi.py/asgi.py)" if python else
                    "a Java webapp: " + rules.WAR_NOTE.split(": ", 1)[1])
            self.result.add(line, Action.CHANGED, "war: the project's src/main/webapp (what "
                            f"jetty:run serves); {what}")
