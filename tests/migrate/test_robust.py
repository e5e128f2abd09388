"""Whatever Jetty-ish XML comes in, migrate answers with a result and never a traceback; when it
says a descriptor is deployable, deployer validate agrees."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from deployer.descriptor.loader import validate_file
from deployer.migrate.api import migrate_file
from deployer.migrate.report import Status

TAGS = ["Set", "Get", "Call", "New", "Arg", "Ref", "Property", "SystemProperty", "Array", "Item",
        "Map", "Entry", "Put", "Env", "Default", "Foo"]
NAMES = ["contextPath", "war", "resourceBase", "virtualHosts", "sessionHandler", "sessionManager",
         "sessionCache", "sessionDataStore", "storeDir", "storeDirectory", "lazyLoad",
         "evictionPolicy", "savePeriodSec", "handler", "securityHandler", "setInitParameter",
         "getSessionHandler", "extractWAR", "jetty.base", "x"]
CLASSES = ["org.eclipse.jetty.webapp.WebAppContext", "org.mortbay.jetty.webapp.WebAppContext",
           "org.eclipse.jetty.server.session.HashSessionManager",
           "org.eclipse.jetty.server.session.SessionHandler",
           "org.eclipse.jetty.server.session.DefaultSessionCache",
           "org.eclipse.jetty.server.session.FileSessionDataStore",
           "org.eclipse.jetty.server.handler.ResourceHandler",
           "org.eclipse.jetty.plus.jndi.EnvEntry", "java.lang.String", "com.example.X"]
ROOTS = CLASSES[:2] + ["org.eclipse.jetty.server.handler.ContextHandler",
                       "org.eclipse.jetty.ee10.servlet.ServletContextHandler",
                       "org.eclipse.jetty.server.Server", ""]
TEXT = st.sampled_from(["", "/a", "true", "300", "-1", "seconds", " x ", "a--b", "<&>"])


@st.composite
def elements(draw, depth=0):
    tag = draw(st.sampled_from(TAGS))
    elem = etree.Element(tag)
    for attr, pool in (("name", NAMES), ("class", CLASSES), ("id", ["sh", "wac", "1x"]),
                       ("refid", ["sh", "Server"]), ("property", NAMES), ("default", ["0", "."])):
        if draw(st.booleans()) and draw(st.booleans()):
            elem.set(attr, draw(st.sampled_from(pool)))
    elem.text = draw(TEXT)
    if depth < 3:
        for child in draw(st.lists(elements(depth + 1), max_size=3)):
            child.tail = draw(TEXT)
            elem.append(child)
    if draw(st.booleans()) and draw(st.booleans()):
        elem.append(etree.Comment(" c "))
    return elem


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root_class=st.sampled_from(ROOTS), children=st.lists(elements(), max_size=5))
def test_any_configure_tree_gives_a_result(root_class, children):
    root = etree.Element("Configure")
    if root_class:
        root.set("class", root_class)
    for child in children:
        root.append(child)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.xml"
        src.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
        result = migrate_file(src)
        assert result.status in Status
        assert result.summary()
        if result.status in (Status.AS_IS, Status.WITH_CHANGES, Status.INCOMPLETE):
            out = Path(tmp) / "out.xml"
            out.write_text(result.text, encoding="utf-8")
            etree.parse(str(out))  # well-formed, comments and all
            props = {p.get("name"): "0" for p in etree.parse(str(out)).iter("Property")
                     if p.get("default") is None}
            assert validate_file(out, properties=props) == [], result.text


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_give_a_result(data):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "junk.xml"
        src.write_bytes(b"<Configure" + data)
        result = migrate_file(src)
        assert result.status in (Status.FAILED, Status.NOT_A_CONTEXT, Status.AS_IS,
                                 Status.WITH_CHANGES, Status.INCOMPLETE)
