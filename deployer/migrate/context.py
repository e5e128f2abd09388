"""Migrating one Jetty context descriptor (a ``<Configure>`` of any Jetty generation).

Walks the root's statements once, in order: each is kept (class names made canonical), renamed, or
replaced by a comment holding its text and the reason, and reported. Session statements are
gathered into one HashSessionManager block placed where the first of them stood.
"""

from __future__ import annotations

import copy

from lxml import etree

from deployer.migrate import names, rules, sessions94, sessiontree, values, writer
from deployer.migrate.reader import Source, local
from deployer.migrate.report import Action, FileResult, Status

_SESSION_GETTERS = {("Get", "sessionHandler"), ("Call", "getSessionHandler"),
                    ("Set", "sessionHandler")}


class NotAContext(Exception):
    """The file is Jetty XML but configures no context (a server, a connector, a realm...)."""


class ContextMigration:
    def __init__(self, src: Source, result: FileResult) -> None:
        self.src = src
        self.result = result
        self.strings: dict[str, str] = {}
        self.plan = sessions94.SessionPlan()
        self.session_anchor: etree._Element | None = None
        self.session_sources: list[etree._Element] = []
        self.seen: dict[str, int] = {}
        self.serves_files = False  # a ResourceHandler or a DefaultServlet: Jetty served files
        self.handler_dropped = ""  # the Java handler that was dropped, if any

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> tuple[etree._Element, list, list]:
        root = self.src.root
        if local(root.tag) != "Configure":
            raise NotAContext(f"root element <{local(root.tag)}> is no <Configure>: not a Jetty "
                              "context descriptor")
        cls = root.get("class") or ""
        if not cls and self._is_webapp_fragment():
            self.result.add(root.sourceline, Action.CHANGED, f"<Configure> without class in "
                            f"{self.src.path.name}: Jetty applies it to the webapp's "
                            "WebAppContext, so it is one here")
            cls = names.WEBAPP
        if not cls:
            raise NotAContext("<Configure> names no class: nothing to deploy")
        canon = names.canonical_root(cls)
        if canon is None:
            raise NotAContext(f"root class {cls} is {names.not_context_reason(cls)}"
                              + self._inline_contexts_hint())
        self.canon = canon
        self.result.root_line = root.sourceline or 0
        out = etree.Element("Configure", {"class": canon})
        if root.get("id"):
            out.set("id", root.get("id"))
        gen = names.jetty_generation(cls, self.src.doctype)
        if names.is_subclass_root(cls):
            self.result.add(root.sourceline, Action.CHANGED, f"root class {cls} -> {canon}: a "
                            "WebAppContext subclass; what its Java code adds is not carried over")
        elif cls != canon:
            self.result.add(root.sourceline, Action.CHANGED, f"root class {cls} ({gen}) -> {canon}")
        else:
            self.result.add(root.sourceline, Action.KEPT, f"root class {cls} ({gen})")
        if "configure_9_3.dtd" not in (self.src.doctype or "") or \
                "-//Jetty//Configure//EN" not in (self.src.doctype or ""):
            what = "DOCTYPE" if self.src.doctype else "no DOCTYPE"
            self.result.add(self.src.doctype_line, Action.CHANGED,
                            f"{what} -> Jetty 9.3 (configure_9_3.dtd)")
        self._collect_strings(root)
        out.text = root.text
        for child in root:
            nodes = self._statement(child)
            for i, node in enumerate(nodes):
                node.tail = child.tail if i == len(nodes) - 1 else "\n" + values.indent_of(child)
                out.append(node)
        self._place_sessions(out)
        self._serve_only_what_jetty_served(out)
        self._check_essentials(out)
        before, after = writer.outer_comments(root)
        note = writer.comment(f" Migrated by `deployer migrate` from {self.src.path.name} "
                              f"({gen}); the report lists what was kept, changed and dropped. ")
        return out, [note, *before], after

    def _is_webapp_fragment(self) -> bool:
        """jetty-web.xml (and its older names) configures the webapp it sits in."""
        path = self.src.path
        return path.name in ("jetty-web.xml", "web-jetty.xml", "jetty6-web.xml",
                             "jetty7-web.xml", "jetty8-web.xml", "jetty9-web.xml") \
            or path.parent.name == "WEB-INF"

    def _inline_contexts_hint(self) -> str:
        found = [n for n in self.src.root.iter("New")
                 if names.canonical_root(n.get("class") or "")]
        if not found:
            return ""
        lines = ", ".join(str(n.sourceline) for n in found)
        return (f"; it builds {len(found)} context(s) inline (line {lines}): move each into a "
                "descriptor of its own (<Configure class=\"...WebAppContext\">) and migrate that")

    def _collect_strings(self, root: etree._Element) -> None:
        for new in root.iter("New"):
            if new.get("class") in ("java.lang.String", "String") and new.get("id"):
                args = [a for a in new if local(a.tag) == "Arg"]
                if len(args) == 1 and not len(args[0]):
                    self.strings[new.get("id")] = (args[0].text or "").strip()

    # -- statements ----------------------------------------------------------------------------
    def _drop(self, elem: etree._Element, why: str, what: str | None = None) -> list:
        line = elem.sourceline
        what = what or values.describe(elem)
        self.result.add(line, Action.DROPPED, what, advice=why)
        return [writer.dropped_comment(elem, line, why, values.indent_of(elem))]

    def _statement(self, elem: etree._Element) -> list:
        if isinstance(elem, etree._Comment):
            return [copy.deepcopy(elem)]
        if isinstance(elem, etree._Entity):
            self.result.add(elem.sourceline, Action.DROPPED, f"XML entity {elem.text}: deployer "
                            "never expands entities")
            return []
        if not isinstance(elem.tag, str):
            return []
        tag, name = local(elem.tag), rules.lower_first(elem.get("name") or "")
        if (tag, name) in _SESSION_GETTERS:
            return self._session(elem)
        if tag == "Set":
            return self._set(elem, name)
        if tag == "Call":
            return self._call(elem, name)
        if tag == "New":
            cls = elem.get("class") or ""
            if cls in ("java.lang.String", "String") and elem.get("id") in self.strings:
                self.result.add(elem.sourceline, Action.CHANGED,
                                f"string id {elem.get('id')!r} inlined where it is referenced")
                return []
            return self._drop(elem, rules.new_reason(cls))
        if tag == "Get" and name == "securityHandler":
            return self._drop(elem, rules.SECURITY)
        if tag == "Ref":
            return self._drop(elem, "the Server and other objects outside the context belong to "
                              "deployer itself; configure them with `deployer run` options")
        if tag == "Arg":
            return self._root_arg(elem)
        return self._drop(elem, "deployer has no equivalent")

    def _root_arg(self, elem: etree._Element) -> list:
        """Constructor arguments of the root: (contextPath) or (war, contextPath), as in Jetty."""
        args = [a for a in self.src.root if isinstance(a.tag, str) and local(a.tag) == "Arg"]
        names_by_count = {1: ["contextPath"], 2: ["war", "contextPath"]}.get(len(args))
        if names_by_count is None or elem.get("name"):
            return self._drop(elem, "constructor arguments of the context: only (contextPath) "
                              "and (war, contextPath) have a deployer equivalent")
        prop = names_by_count[args.index(elem)]
        as_set = etree.Element("Set", name=prop)
        as_set.text = elem.text
        for c in elem:
            as_set.append(copy.deepcopy(c))
        if elem.sourceline:
            as_set.sourceline = elem.sourceline
        self.result.add(elem.sourceline, Action.CHANGED,
                        f"constructor <Arg> -> <Set name=\"{prop}\">")
        return self._set(as_set, prop)

    def _set(self, elem: etree._Element, name: str) -> list:
        if elem.get("class"):
            return self._drop(elem, "a static Java field or setter")
        if name == "handler":
            return self._handler(elem)
        if name == "initParams":
            return self._init_params(elem)
        target = rules.RENAME.get(name, name)
        if target not in rules.KEEP:
            return self._drop(elem, rules.DROP_SET.get(name) or names.java_only_property(name)
                              or f"deployer's context has no property {name!r}")
        return self._keep_set(elem, name, target)

    def _keep_set(self, elem: etree._Element, name: str, target: str) -> list:
        problem = values.value_problem(elem, self.strings)
        if problem:
            return self._drop(elem, problem + "; write the value out or use a <Property>")
        out = sessions94.renamed_set(elem, target)
        values.inline_refs(out, self.strings)
        if target in self.seen:
            self.result.add(elem.sourceline, Action.KEPT,
                            f"{target} set again (line {self.seen[target]} too); the last wins")
        self.seen[target] = elem.sourceline or 0
        if target != name:
            self.result.add(elem.sourceline, Action.CHANGED, f"{name} -> {target}")
        elif elem.get("property"):
            self.result.add(elem.sourceline, Action.CHANGED, f"{name} property= -> <Property>")
        else:
            self.result.add(elem.sourceline, Action.KEPT, f"{name}{values.value_hint(elem)}")
        if target == "war" and ".war" in etree.tostring(elem, encoding="unicode", with_tail=False):
            self.result.add(elem.sourceline, Action.KEPT, rules.WAR_NOTE)
        return [out]

    def _call(self, elem: etree._Element, name: str) -> list:
        if elem.get("class"):
            return self._drop(elem, "a static Java call")
        args = [c for c in elem if isinstance(c.tag, str)]
        if name == "setInitParameter" and len(args) == 2 and \
                all(local(a.tag) == "Arg" for a in args):
            return self._keep_call(elem, "init parameter")
        if name == "addVirtualHosts" and len(args) == 1 and local(args[0].tag) == "Arg":
            return self._keep_call(elem, "virtual hosts")
        if name == "setAttribute" and len(args) == 2 and all(local(a.tag) == "Arg" for a in args):
            key = (args[0].text or "").strip()
            if rules.JAVA_ATTRIBUTE.match(key):
                return self._drop(elem, "a Jetty/Java attribute (jar scanning, class loading); "
                                  "meaningless for a Python app", f"attribute {key}")
            return self._keep_call(elem, "context attribute")
        if name.startswith("set") and len(args) == 1 and local(args[0].tag) == "Arg":
            prop = rules.lower_first(name[3:])
            as_set = etree.Element("Set", name=prop)
            as_set.text = args[0].text
            for c in args[0]:
                as_set.append(copy.deepcopy(c))
            if elem.sourceline:
                as_set.sourceline = elem.sourceline
            if rules.RENAME.get(prop, prop) in rules.KEEP:
                self.result.add(elem.sourceline, Action.CHANGED,
                                f"<Call name=\"{name}\"> -> <Set name=\"{prop}\">")
                return self._set(as_set, prop)
        text = etree.tostring(elem, encoding="unicode", method="text", with_tail=False)
        built = [c.get("class") or "" for c in elem.iter() if isinstance(c.tag, str)]
        if name == "addServlet" and "DefaultServlet" in text + " ".join(built):
            self.serves_files = True  # Jetty's file server (or a subclass): deployer's own does
        if any(rules.is_security_class(cls) for cls in built):  # addBean(a LoginService), ...
            return self._drop(elem, rules.SECURITY)
        return self._drop(elem, rules.call_reason(name, text, names.java_only_method(name)))

    def _init_params(self, elem: etree._Element) -> list:
        """Jetty 6's setInitParams(Map) (Jetty 7+ has no setter): one setInitParameter per
        entry, whatever each item holds."""
        maps = [c for c in elem if isinstance(c.tag, str)]
        if len(maps) != 1 or local(maps[0].tag) != "Map" or maps[0].get("id"):
            return self._drop(elem, "initParams takes a <Map> of <Entry>s; write each as "
                              "<Call name=\"setInitParameter\"><Arg>name</Arg><Arg>value</Arg>"
                              "</Call>")
        calls: list = []
        for entry in (e for e in maps[0] if isinstance(e.tag, str) and local(e.tag) == "Entry"):
            call = etree.Element("Call", name="setInitParameter")
            for item in (i for i in entry if isinstance(i.tag, str) and local(i.tag) == "Item"):
                arg = etree.SubElement(call, "Arg")
                arg.text = item.text
                for c in item:
                    arg.append(copy.deepcopy(c))
            call.sourceline = entry.sourceline
            calls.extend(self._keep_call(call, "init parameter"))
        self.result.add(elem.sourceline, Action.CHANGED, "<Set name=\"initParams\"> (Jetty 6) -> "
                        f"{len(calls)} <Call name=\"setInitParameter\">")
        return calls

    def _keep_call(self, elem: etree._Element, what: str) -> list:
        problem = values.value_problem(elem, self.strings)
        if problem:
            return self._drop(elem, problem)
        out = copy.deepcopy(elem)
        values.inline_refs(out, self.strings)
        key = (elem[0].text or "").strip() if len(elem) else ""
        self.result.add(elem.sourceline, Action.KEPT, f"{what} {key}")
        return [out]

    def _handler(self, elem: etree._Element) -> list:
        """A ResourceHandler is how Jetty serves static files; deployer has the same (9.3 name)."""
        new = next((c for c in elem if local(c.tag) == "New"), None)
        cls = new.get("class", "") if new is not None else ""
        if not cls.endswith(".ResourceHandler") or self.canon == names.WEBAPP:
            if rules.is_security_class(cls):
                why = rules.SECURITY
            elif "Servlet" in cls:
                why = rules.SERVLET
            else:
                why = f"a Java handler ({cls or 'reference'})"
            self.handler_dropped = cls or "a reference"
            return self._drop(elem, why)
        self.serves_files = True
        out = etree.Element("Set", name="handler")
        out.text = elem.text
        res = etree.SubElement(out, "New", {"class": names.RESOURCE_HANDLER})
        res.tail = new.tail
        res.text = new.text
        if cls != names.RESOURCE_HANDLER:
            self.result.add(new.sourceline, Action.CHANGED, f"{cls} -> {names.RESOURCE_HANDLER}")
        else:
            self.result.add(new.sourceline, Action.KEPT, f"{cls} serves the static files")
        for child in new:
            if isinstance(child, etree._Comment):
                res.append(copy.deepcopy(child))
                continue
            if not isinstance(child.tag, str):
                continue
            nm = rules.lower_first(child.get("name") or "")
            target = rules.RESOURCE_RENAME.get(nm, nm)
            if local(child.tag) == "Set" and target in rules.RESOURCE_KEEP:
                nodes = self._keep_set(child, nm, target)
            else:
                nodes = self._drop(child, rules.DROP_SET.get(nm, "a ResourceHandler setting "
                                                             "deployer lacks"))
            for node in nodes:
                node.tail = child.tail
                res.append(node)
        return [out]

    # -- sessions ------------------------------------------------------------------------------
    def _session(self, elem: etree._Element) -> list:
        line = elem.sourceline
        if local(elem.tag) == "Set":
            new = next((c for c in elem if local(c.tag) == "New"), None)
            if new is None or not names.is_session_handler(new.get("class") or ""):
                cls = new.get("class") if new is not None else "a reference"
                self.plan.note(line, Action.CHANGED, f"session handler {cls} -> "
                               f"{names.SESSION_HANDLER}")
            elif new.get("class") != names.SESSION_HANDLER:
                self.plan.note(line, Action.CHANGED, f"{new.get('class')} -> "
                               f"{names.SESSION_HANDLER}")
            if new is not None:
                sessiontree.walk_handler(new, self.plan)
        else:
            sessiontree.walk_handler(elem, self.plan)
        marker = etree.Comment("session-anchor")
        self.session_sources.append(elem)
        if self.session_anchor is None:
            self.session_anchor = marker
            return [marker]
        return []

    def _place_sessions(self, out: etree._Element) -> None:
        """Put the HashSessionManager block where the first session statement stood; when the
        mapping changed or dropped anything, the source's own statements follow as a comment."""
        anchor = self.session_anchor
        if anchor is None:
            return
        self.plan.finish()
        for line, action, msg in self.plan.findings:
            self.result.add(line, action, msg)
        nodes: list = []
        block = self.plan.build()
        unit = values.indent_of(self.session_sources[0])
        if block is not None:
            writer.indent_created(block, 1, unit)
            nodes.append(block)
        if any(action is not Action.KEPT for _, action, _ in self.plan.findings):
            lines = ", ".join(str(e.sourceline) for e in self.session_sources)
            body = ("\n" + unit).join(writer.xml_of(e) for e in self.session_sources)
            why = ("the session configuration as the source wrote it; "
                   + ("the HashSessionManager above is what it maps to"
                      if block is not None else "deployer's default HashSessionManager "
                      "(sessions in memory) replaces it")
                   + ", the report says setting by setting")
            nodes.append(writer.comment(f" deployer migrate rewrote (source line {lines}): "
                                        f"{why}\n{unit}{body}\n{unit}"))
        for i, node in enumerate(nodes):
            node.tail = anchor.tail if i == len(nodes) - 1 else "\n" + unit
            anchor.addprevious(node)
        out.remove(anchor)

    # -- what a deployable descriptor needs -----------------------------------------------------
    def _serve_only_what_jetty_served(self, out: etree._Element) -> None:
        """Jetty serves no files from a ContextHandler or ServletContextHandler without a
        ResourceHandler (nor a DefaultServlet, which is Java): deployer would serve its
        resourceBase as static files, CGI scripts' source included. Such a resourceBase is
        dropped and the context reported incomplete: it serves nothing until told what."""
        if self.canon not in (names.CONTEXT, names.SERVLET_CONTEXT) or self.serves_files:
            return
        bases = [e for e in out if isinstance(e.tag, str) and e.tag == "Set"
                 and e.get("name") == "resourceBase"]
        if not bases:
            return
        handler = f" (its handler, {self.handler_dropped}, was dropped)" \
            if self.handler_dropped else ""
        why = (f"Jetty serves no files from this context without a ResourceHandler{handler}; "
               "deployer would serve everything under it as static files, so it is left out")
        for elem in bases:
            line = elem.sourceline or 0
            self.result.add(line, Action.DROPPED, f"<Set name=\"resourceBase\">: {why}")
            note = writer.dropped_comment(elem, line, why, values.indent_of(elem))
            note.tail = elem.tail
            out.replace(elem, note)
        self.seen.pop("resourceBase", None)
        self.result.incomplete = (
            f"nothing is served: the original served no files{handler}; to serve static "
            "files add a ResourceHandler (<Set name=\"handler\">), for a Python app a war "
            "with wsgi.py/asgi.py or <Set name=\"application\">")

    def _check_essentials(self, out: etree._Element) -> None:
        if self.canon == names.MOVED:
            return
        if "contextPath" not in self.seen:
            self.result.add(self.src.root.sourceline, Action.CHANGED,
                            "no contextPath (a jetty-web.xml/jetty-env.xml fragment?): "
                            "deployer serves it at \"/\"; add <Set name=\"contextPath\">")
        if "war" in self.seen or "resourceBase" in self.seen or self.result.incomplete:
            return
        webinf = self.src.path.resolve().parent
        if webinf.name == "WEB-INF":
            s = etree.Element("Set", name="war")
            s.text = str(webinf.parent)
            s.tail = "\n"
            out.insert(0, s)
            self.result.add(self.src.root.sourceline, Action.CHANGED,
                            f"war set to {webinf.parent}, the webapp this WEB-INF fragment is in")
            return
        self.result.add(self.src.root.sourceline, Action.CHANGED,
                        "no war or resourceBase (a jetty-web.xml/jetty-env.xml fragment lives in "
                        "the webapp's WEB-INF/): the context has no files; add <Set name=\"war\"> "
                        "pointing at the webapp directory or archive")
        self.result.incomplete = ("no war or resourceBase: add <Set name=\"war\"> to the "
                                  "migrated descriptor (a WEB-INF fragment names no webapp)")
        c = writer.comment(" deployer migrate: the source names no webapp; add "
                           "<Set name=\"war\">path/to/webapp</Set> ")
        first = next((e for e in self.src.root if isinstance(e.tag, str)), None)
        c.tail = "\n" + (values.indent_of(first) if first is not None else "  ")
        out.insert(0, c)








def migrate_configure(src: Source, result: FileResult) -> tuple | None:
    """Convert; on a non-context root set the result's status and message and return None."""
    try:
        return ContextMigration(src, result).run()
    except NotAContext as exc:
        result.status = Status.NOT_A_CONTEXT
        result.message = str(exc)
        return None

