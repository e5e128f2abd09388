"""Evaluation with XmlConfiguration's semantics (JETTY.md 1.5-1.9): every element and attribute."""
# ruff: noqa: E501  (XML fixtures read best on one line)

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.descriptor.registry import JAVA_ONLY_PREFIXES, REGISTRY, java_only_kind
from deployer.descriptor.specs import ServerSpec
from tests.descriptor.helpers import WEBAPP, ctx, load, problems

SM = "org.eclipse.jetty.server.session.HashSessionManager"
SH = "org.eclipse.jetty.server.session.SessionHandler"


def test_set_normalises_the_first_letter(tmp_path: Path) -> None:
    c = ctx(tmp_path, '<Set name="ContextPath">/a</Set><Set name="DisplayName">Shop</Set>')
    assert c.context_path == "/a" and c.display_name == "Shop"


def test_whitespace_and_mixed_text(tmp_path: Path) -> None:
    c = ctx(tmp_path, """
      <Set name="war">
        <Property name="base"/>/webapps/<Property name="app" default="shop"/>
      </Set>
      <Set name="resourceBase"><Property name="missing"/>/static</Set>
      <Set name="displayName" type="String">  padded  </Set>
      <Set name="contextPath">
         /trimmed
      </Set>
      <Call name="setInitParameter"><Arg>empty</Arg><Arg type="String"></Arg></Call>
      <Call name="setAttribute"><Arg>nothing</Arg><Arg/></Call>
    """, properties={"base": "/srv"})
    assert c.war == "/srv/webapps/shop"
    assert c.resource_base == "null/static"  # a missing Property concatenates as "null"
    assert c.display_name == "  padded  "
    assert c.context_path == "/trimmed"
    assert c.init_params["empty"] == "" and "nothing" not in c.attributes  # null removes


def test_property_lookup_order(tmp_path: Path) -> None:
    c = ctx(tmp_path, """
      <Call name="setInitParameter"><Arg>a</Arg><Arg><Property name="x" deprecated="old1, old2" default="d"/></Arg></Call>
      <Call name="setInitParameter"><Arg>b</Arg><Arg><Property><Name>y</Name><Deprecated>z</Deprecated><Default>dd<Env name="E"/></Default></Property></Arg></Call>
      <Call name="setInitParameter"><Arg>c</Arg><Arg><Property name="none" default=""/></Arg></Call>
      <Call name="setInitParameter"><Arg>d</Arg><Arg><SystemProperty name="sp" default="nope"/></Arg></Call>
      <Call name="setInitParameter"><Arg>e</Arg><Arg><Env name="HOME_X"><Default><SystemProperty name="q" default="deep"/></Default></Env></Arg></Call>
      <Call name="setInitParameter"><Arg>f</Arg><Arg><Property name="t">text body</Property></Arg></Call>
      <Call name="setInitParameter"><Arg>g</Arg><Arg><Property name="jetty.home"/>|<Property name="jetty.webapps"/></Arg></Call>
    """, properties={"old2": "from-old2"}, system_properties={"sp": "S", "jetty.home": "/h"},
            environ={"E": "-env"})
    assert c.init_params == {"a": "from-old2", "b": "dd-env", "c": "", "d": "S", "e": "deep",
                             "f": "text body", "g": f"/h|{tmp_path.resolve()}"}


def test_ids_refs_and_legacy_ref_id(tmp_path: Path) -> None:
    d = load(tmp_path, """
      <Configure-placeholder/>
    """.replace("<Configure-placeholder/>", """
      <New id="path" class="java.lang.String"><Arg>/from-id</Arg></New>
      <Set name="contextPath"><Ref refid="path"/></Set>
      <Ref id="me"><Set name="displayName">via legacy Ref id</Set></Ref>
      <Array id="hosts" type="String" item="a.example,b.example"/>
      <Set name="virtualHosts"><Ref refid="hosts"/></Set>
      <Property id="p" name="jetty.base"/>
    """), cls="org.eclipse.jetty.webapp.WebAppContext\" id=\"me")
    c = d.context
    assert c.context_path == "/from-id" and c.display_name == "via legacy Ref id"
    assert c.virtual_hosts == ["a.example", "b.example"]
    assert d.ids["me"] is c and d.ids["p"] == str(tmp_path.resolve().parent)


def test_array_item_types_and_map(tmp_path: Path) -> None:
    d = load(tmp_path, """
      <Set name="virtualHosts"><Array type="java.lang.String"><Item>x.example</Item><Item type="String"> y </Item></Array></Set>
      <Get name="initParams"><Put name="k" type="int">5</Put><Put name="b" type="boolean">TRUE</Put></Get>
      <Map id="m"><Entry><Item>k</Item><Item type="int">5</Item></Entry><Entry><Item>b</Item><Item type="boolean">TRUE</Item></Entry></Map>
      <Set name="welcomeFiles"><Array><Type>String</Type><Item>a.html</Item></Array></Set>
      <Call name="setAttribute"><Arg>ints</Arg><Arg><Array type="int"><Item type="int">1</Item><Item/></Array></Arg></Call>
      <Call name="setAttribute"><Arg>list</Arg><Arg type="List"><Array item="a,b"/></Arg></Call>
      <Call name="setAttribute"><Arg>set</Arg><Arg type="HashSet"><Array item="a,a"/></Arg></Call>
      <Call name="setAttribute"><Arg>obj</Arg><Arg><Array type="Object"><Item><Map/></Item></Array></Arg></Call>
    """)
    c = d.context
    assert c.virtual_hosts == ["x.example", " y "]
    assert c.init_params == {"k": "5", "b": "true"} and d.ids["m"] == {"k": 5, "b": True}
    assert c.welcome_files == ["a.html"]
    assert c.attributes == {"ints": [1, 0], "list": ["a", "b"], "set": ["a"], "obj": [{}]}


@pytest.mark.parametrize(("type_", "text", "expected"), [
    ("int", "42", 42), ("java.lang.Integer", "-7", -7), ("long", "9000000000", 9000000000),
    ("Long", "1", 1), ("short", "3", 3), ("byte", "-128", -128), ("double", "1.5", 1.5),
    ("float", "2", 2.0), ("java.lang.Double.TYPE", "3.0", 3.0), ("boolean", "True", True),
    ("java.lang.Boolean", "false", False), ("char", "xyz", "x"), ("Character", "q", "q"),
    ("String", "s", "s"), ("string", "s", "s"), ("java.lang.String", "s", "s"),
    ("URL", "http://example.com/a", "http://example.com/a"), ("java.net.URL", "file:/x", "file:/x"),
    ("InetAddress", "127.0.0.1", "127.0.0.1"),
])
def test_type_conversions(tmp_path: Path, type_: str, text: str, expected: object) -> None:
    d = load(tmp_path, f'<Call name="setAttribute"><Arg>v</Arg><Arg type="{type_}">{text}</Arg></Call>')
    value = d.context.attributes["v"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("type_", "text", "message"), [
    ("int", "abc", "expects an integer (int), got 'abc'"),
    ("byte", "300", "from -128 to 127"),
    ("boolean", "yes", "expects a boolean (true or false), got 'yes'"),
    ("double", "x", "expects a number (double)"),
    ("URL", "not a url", "expects a URL"),
    ("integer", "1", "unknown type 'integer'"),
    ("Int", "1", "unknown type 'Int'"),
    ("List", "a", "converts an <Array>"),
    ("int", "9" * 5000, "expects an integer (int) from -2147483648 to 2147483647, got a "
                        "5000-digit number"),
    ("long", "-" + "1" * 25, "got a 25-digit number"),
])
def test_bad_conversions_are_located_errors(tmp_path: Path, type_: str, text: str,
                                            message: str) -> None:
    found = problems(tmp_path, f'<Call name="setAttribute"><Arg>v</Arg><Arg type="{type_}">{text}</Arg></Call>')
    assert len(found) == 1 and found[0].startswith("4:") and message in found[0], found


def test_max_active_sessions_is_bounded(tmp_path: Path) -> None:
    found = problems(tmp_path, '<Get name="sessionHandler"><Get name="sessionManager">'
                               '<Set name="maxActiveSessions">0</Set></Get></Get>')
    assert len(found) == 1 and "maxActiveSessions: must be from 1 to 100000000, got 0" in found[0]
    default = ctx(tmp_path, '<Get name="sessionHandler"><Get name="sessionManager">'
                            '<Set name="lazyLoad">true</Set></Get></Get>').session_handler
    assert default is not None and default.session_manager.max_active_sessions == 100_000


def test_a_5000_digit_int_property_is_a_typed_error_not_an_internal_one(tmp_path: Path) -> None:
    """int() refuses 4,300+ digits with a ValueError that became an "internal error"."""
    found = problems(tmp_path, '<Get name="sessionHandler"><Get name="sessionManager">'
                               f'<Set name="savePeriod">{"7" * 5000}</Set></Get></Get>')
    assert found == ["4:55: HashSessionManager.savePeriod expects an integer (int) from "
                     "-2147483648 to 2147483647, got a 5000-digit number"], found


@pytest.mark.parametrize(("prop", "text", "field", "expected"), [
    ("storeDirectory", "/var/s", "store_directory", "/var/s"),
    ("lazyLoad", "TRUE", "lazy_load", True), ("savePeriod", "10", "save_period", 10),
    ("scavengePeriod", "5", "scavenge_period", 5), ("idleSavePeriod", "7", "idle_save_period", 7),
    ("deleteUnrestorableSessions", "true", "delete_unrestorable_sessions", True),
    ("maxInactiveInterval", "-1", "max_inactive_interval", -1),
    ("sessionCookie", "SID", "session_cookie", "SID"),
    ("sessionIdPathParameterName", "none", "session_id_path_parameter_name", None),
    ("httpOnly", "true", "http_only", True), ("secureRequestOnly", "false", "secure_request_only", False),
    ("usingCookies", "false", "using_cookies", False),
    ("nodeIdInSessionId", "true", "node_id_in_session_id", True),
    ("checkingRemoteSessionIdEncoding", "true", "check_remote_session_id_encoding", True),
    ("refreshCookieAge", "60", "refresh_cookie_age", 60),
    ("maxActiveSessions", "500", "max_active_sessions", 500),
    ("sessionDomain", "example.com", "session_domain", "example.com"),
    ("sessionPath", "/p", "session_path", "/p"), ("maxCookieAge", "100", "max_cookie_age", 100),
])
def test_every_session_manager_property(tmp_path: Path, prop: str, text: str, field: str,
                                        expected: object) -> None:
    c = ctx(tmp_path, f'<Get name="sessionHandler"><Get name="sessionManager">'
                      f'<Set name="{prop}">{text}</Set></Get></Get>')
    assert getattr(c.session_handler.session_manager, field) == expected
    # 9.4 style: the SessionHandler takes the manager's settings directly
    c = ctx(tmp_path, f'<Get name="sessionHandler"><Set name="{prop}">{text}</Set></Get>')
    assert getattr(c.session_handler.session_manager, field) == expected
    assert str(c.session_handler.session_manager.locations[field]).endswith(":4:28")


def test_cookie_config_and_calls(tmp_path: Path) -> None:
    c = ctx(tmp_path, """
      <Get name="sessionHandler">
        <Get name="sessionCookieConfig"><Set name="name">SHOP</Set><Set name="httpOnly">true</Set></Get>
        <Call name="getSessionManager"><Call name="setMaxInactiveInterval"><Arg type="int">90</Arg></Call></Call>
      </Get>
      <Call name="addVirtualHosts"><Arg><Array type="String"><Item>a.example</Item></Array></Arg></Call>
      <Call name="setContextPath"><Arg>/called</Arg></Call>
      <Get name="initParams"><Put name="k">v</Put><Put name="n" type="int">3</Put></Get>
      <Call id="old" name="getInitParameter"><Arg>k</Arg></Call>
    """)
    manager = c.session_handler.session_manager
    assert manager.session_cookie == "SHOP" and manager.http_only is True
    assert manager.max_inactive_interval == 90
    assert c.virtual_hosts == ["a.example"] and c.context_path == "/called"
    assert c.init_params == {"k": "v", "n": "3"}


def test_new_with_positional_and_named_args(tmp_path: Path) -> None:
    c = ctx(tmp_path, f"""
      <Set name="sessionHandler">
        <New class="{SH}"><Arg name="manager"><New class="{SM}"><Set name="savePeriod">3</Set></New></Arg></New>
      </Set>
      <Call name="setAttribute"><Arg>ctx</Arg><Arg><New class="org.eclipse.jetty.webapp.WebAppContext"><Arg>/w</Arg><Arg>/p/</Arg></New></Arg></Call>
      <Call name="setAttribute"><Arg>props</Arg><Arg><New class="java.util.Properties"><Put name="a">b</Put></New></Arg></Call>
    """)
    assert c.session_handler.session_manager.save_period == 3
    assert (c.attributes["ctx"].war, c.attributes["ctx"].context_path) == ("/w", "/p")
    assert c.attributes["props"] == {"a": "b"}


def test_call_and_new_element_forms(tmp_path: Path) -> None:
    d = load(tmp_path, f"""
      <Call><Id>c</Id><Name>setInitParameter</Name><Arg>a</Arg><Arg>b</Arg></Call>
      <Call name="setInitParameter" arg="x,y"/>
      <New><Id>n</Id><Class>{SM}</Class></New>
    """)
    assert d.context.init_params == {"a": "b", "x": "y"}
    assert type(d.ids["n"]).__name__ == "SessionManagerSpec"


def test_set_property_attribute_applies_only_when_defined(tmp_path: Path) -> None:
    body = '<Set name="displayName" property="shop.name">ignored</Set>'
    assert ctx(tmp_path, body).display_name is None
    assert ctx(tmp_path, body, properties={"shop.name": "Shop"}).display_name == "Shop"


def test_context_classes_and_jetty_names(tmp_path: Path) -> None:
    for cls, kind in [("org.mortbay.jetty.webapp.WebAppContext", "webapp"),
                      ("org.eclipse.jetty.ee10.webapp.WebAppContext", "webapp"),
                      ("org.eclipse.jetty.servlet.ServletContextHandler", "context"),
                      ("org.eclipse.jetty.ee8.servlet.ServletContextHandler", "context"),
                      ("org.mortbay.jetty.handler.ContextHandler", "context")]:
        assert ctx(tmp_path, "", cls=cls).kind == kind
    c = ctx(tmp_path, """<Set name="contextPath">/s</Set><Set name="handler">
      <New class="org.eclipse.jetty.server.handler.ResourceHandler">
        <Set name="resourceBase">/www</Set><Set name="directoriesListed">true</Set>
        <Set name="welcomeFiles"><Array type="String"><Item>home.html</Item></Array></Set>
      </New></Set>""", cls="org.eclipse.jetty.server.handler.ContextHandler")
    assert (c.resource_base, c.directories_listed, c.welcome_files) == ("/www", True, ["home.html"])
    c = ctx(tmp_path, """<Set name="contextPath">/old</Set><Set name="newContextURL">/new</Set>
      <Set name="permanent">true</Set><Set name="discardPathInfo">true</Set>
      <Set name="discardQuery">true</Set><Set name="expires">-1</Set>""",
            cls="org.eclipse.jetty.server.handler.MovedContextHandler")
    assert (c.kind, c.new_context_path, c.permanent, c.discard_path_info, c.discard_query,
            c.expires) == ("moved", "/new", True, True, True, "-1")


def test_registry_api_for_migrate() -> None:
    assert REGISTRY.canonical_name("org.mortbay.jetty.servlet.HashSessionManager") == \
        "org.eclipse.jetty.server.session.HashSessionManager"
    assert REGISTRY.canonical_name("org.eclipse.jetty.ee9.webapp.WebAppContext") == \
        "org.eclipse.jetty.webapp.WebAppContext"
    assert REGISTRY.canonical_name("org.eclipse.jetty.plus.jndi.EnvEntry") is None
    assert java_only_kind("org.eclipse.jetty.plus.jndi.EnvEntry") == "JNDI"
    assert java_only_kind("org.eclipse.jetty.servlet.ServletHolder")
    assert "org.mortbay.jetty.plus.naming." in JAVA_ONLY_PREFIXES


def test_server_reference_is_shared_and_read_only(tmp_path: Path) -> None:
    server = ServerSpec()
    d = load(tmp_path, '<Ref refid="Server"><Get id="ids" name="sessionIdManager"/></Ref>',
             server=server)
    assert d.ids["ids"] is server.session_id_manager
    found = problems(tmp_path, '<Ref refid="Server"><Set name="sessionIdManager">x</Set></Ref>')
    assert "deployer's own" in found[0]


def test_all_problems_of_a_file_at_once_sorted(tmp_path: Path) -> None:
    found = problems(tmp_path, """
      <Set name="lazyLoad">true</Set>
      <New id="a" class="org.eclipse.jetty.plus.jndi.EnvEntry"/>
      <Set name="displayName"><Ref refid="a"/></Set>
      <Set name="contextPath">nope</Set>
    """)
    assert [f.split(":")[0] for f in found] == ["5", "6", "8"]  # the Ref to a failed id is quiet


def test_locations_are_recorded(tmp_path: Path) -> None:
    c = ctx(tmp_path, '\n  <Set name="war">/w</Set>')
    assert str(c.locations["war"]).endswith("ctx.xml:5:3")


@pytest.mark.parametrize(("body", "expected"), [
    ('<Set name="storeDirectory"> <Property name="jetty.base"/>/sessions </Set>', "/srv/base/sessions"),
    ('<Set name="storeDirectory"><Property name="x"/>/sessions</Set>', "null/sessions"),
    ('<Set name="storeDirectory"><Property name="x"/></Set>', None),
    ('<Set name="storeDirectory"><Property name="sessions.dir"><Default><Env name="SESSIONS_DIR" default="/var/lib/app/sessions"/></Default></Property></Set>', "/var/lib/app/sessions"),
    ('<Set name="storeDirectory"><!-- a comment --> <![CDATA[/c]]>da<!-- -->ta </Set>', "/cdata"),
])
def test_jetty_md_value_examples(tmp_path: Path, body: str, expected: str | None) -> None:
    c = ctx(tmp_path, f'<Get name="sessionHandler"><Get name="sessionManager">{body}</Get></Get>',
            properties={"jetty.base": "/srv/base"})
    assert c.session_handler.session_manager.store_directory == expected


def test_remaining_attributes(tmp_path: Path) -> None:
    d = load(tmp_path, f"""
      <Set id="cp" name="contextPath">/ids</Set>
      <Set name="virtualHosts"><Array><Item id="first">a.example</Item></Array></Set>
      <Call name="setAttribute"><Arg>w</Arg><Arg><New class="{WEBAPP}" arg="/w,/p"/></Arg></Call>
    """)
    assert d.ids["cp"] == "/ids" and d.ids["first"] == "a.example"
    assert (d.context.attributes["w"].war, d.context.attributes["w"].context_path) == ("/w", "/p")
    found = problems(tmp_path, """
      <Get class="org.eclipse.jetty.server.Server" name="version"/>
      <Call class="org.eclipse.jetty.webapp.WebAppContext" name="getCurrentContext"/>
      <Call name="setInitParameter" arg="only-one"/>
      <Get class="org.eclipse.jetty.util.log.Log" name="log"/>
    """)
    assert "Server has no static field or getter 'version'" in found[0]
    assert "WebAppContext has no static method 'getCurrentContext'" in found[1]
    assert "WebAppContext.setInitParameter takes (name: string, value: string)" in found[2]
    assert "unknown class 'org.eclipse.jetty.util.log.Log'" in found[3]


def test_jvm_tuning_settings_are_warnings_not_errors(tmp_path: Path) -> None:
    """Issue 11 item 12: a setting that only tunes the JVM is skipped with a located warning;
    what changes behaviour (web.xml, security, servlets) stays an error."""
    d = load(tmp_path, """<Set name="contextPath">/a</Set>
      <Set name="extractWAR">false</Set>
      <Set name="defaultsDescriptor"><Property name="jetty.home"/>/etc/webdefault.xml</Set>
      <Set name="parentLoaderPriority">true</Set>
      <Set name="tempDirectory"><New class="java.io.File"><Arg>/tmp/x</Arg></New></Set>
      <Call name="setExtraClasspath"><Arg>lib/a.jar</Arg></Call>
      <Call name="addServerClass"><Arg>-org.x.</Arg></Call>""")
    assert d.context.context_path == "/a"
    got = [(w.location.line, w.message) for w in d.warnings]
    assert [line for line, _ in got] == [5, 6, 7, 8, 9, 10]
    assert got[0][1] == "WebAppContext.extractWAR only tunes the JVM; deployer ignores it"
    assert "setExtraClasspath" in got[4][1] and "addServerClass" in got[5][1]
    for body in ('<Set name="descriptor">web.xml</Set>',
                 '<Call name="addServlet"><Arg>x.S</Arg><Arg>/</Arg></Call>',
                 '<Set name="maxFormContentSize" type="int">10</Set>'):
        assert problems(tmp_path, body), body


def test_jetty_null_and_empty_values(tmp_path: Path) -> None:
    """JETTY.md §10 rows "type=String over a missing Property", "empty <Ref refid=unknown/>",
    "setAttribute(name, null)"."""
    d = load(tmp_path, """
      <Set name="displayName" type="String"><Property name="missing"/></Set>
      <Call name="setInitParameter"><Arg>p</Arg><Arg type="String"><Property name="nope"/></Arg></Call>
      <Call name="setAttribute"><Arg>gone</Arg><Arg>x</Arg></Call>
      <Call name="setAttribute"><Arg>gone</Arg><Arg><Ref refid="unknown"/></Arg></Call>
      <Call name="setAttribute"><Arg>kept</Arg><Arg>y</Arg></Call>
    """)
    c = d.context
    assert c.display_name == "" and c.init_params["p"] == ""
    assert c.attributes == {"kept": "y"}
    assert [(w.location.line, "no object has id 'unknown'" in w.message) for w in d.warnings] \
        == [(8, True)]


def test_the_same_id_twice_is_an_error(tmp_path: Path) -> None:
    """Jetty's DTD declares id an ID: unique within a file."""
    found = problems(tmp_path, """
      <New id="x" class="java.lang.String"><Arg>a</Arg></New>
      <Get id="x" name="contextPath"/>
    """)
    assert found == ["6:7: id 'x' is already given at line 5; ids are unique in a file"]


def test_attribute_lists_are_trimmed_and_quoted_as_jetty_does(tmp_path: Path) -> None:
    """JETTY.md §10 "arg="k1, v1" / item='"x,y",z' attribute lists": trimmed, quotes group."""
    c = ctx(tmp_path, """
      <Call name="setInitParameter" arg="k1, v1"/>
      <Set name="virtualHosts"><Array type="String" item=' a.example , "x,y",z'/></Set>
    """)
    assert c.init_params == {"k1": "v1"}
    assert c.virtual_hosts == ["a.example", "x,y", "z"]


@pytest.mark.parametrize(("body", "message"), [
    (f'<Set name="sessionHandler"><New class="{SH}"><Arg><New class="{SM}">'
     '<Set name="maxInactiveInterval" type="long">60</Set></New></Arg></New></Set>',
     "HashSessionManager.maxInactiveInterval takes an int, and type=\"long\" makes a long"),
    ('<Get name="sessionHandler"><Get name="sessionManager"><Call name="setSavePeriod">'
     '<Arg type="java.lang.Long">5</Arg></Call></Get></Get>', "setSavePeriod takes"),
    (f'<Call name="setAttribute"><Arg>w</Arg><Arg><New class="{WEBAPP}"><Arg name="webApp">/w'
     '</Arg><Arg name="contextPath">/p</Arg></New></Arg></Call>',
     "new WebAppContext takes no named <Arg name=...>"),
    (f'<Call name="setAttribute"><Arg>w</Arg><Arg><New class="{WEBAPP}"><Arg>/p</Arg></New></Arg>'
     '</Call>', "new WebAppContext takes"),
    ('<Call name="setAttribute"><Arg>a</Arg><Arg><Array type="int"><Item>1</Item></Array></Arg>'
     '</Call>', "untyped item is a String; write <Item type=\"int\">"),
    ('<Set name="initParams"><Map><Entry><Item>k</Item><Item>v</Item></Entry></Map></Set>',
     "WebAppContext.initParams can only be read"),
    ('<Set name="wrongName" property="undefined.property">x</Set>',
     "WebAppContext has no property 'wrongName'"),
])
def test_refused_where_jetty_refuses(tmp_path: Path, body: str, message: str) -> None:
    """JETTY.md §10 "long value to an int setter, named constructor args on WebAppContext":
    an error, as in Jetty; and the other places issue 11 item 10 lists."""
    found = problems(tmp_path, body)
    assert len(found) == 1 and message in found[0], found


def test_what_jetty_accepts_in_those_places(tmp_path: Path) -> None:
    c = ctx(tmp_path, """
      <Get name="initParams"><Put name="k">v</Put></Get>
      <Call name="setAttribute"><Arg>h</Arg><Arg><New class="org.eclipse.jetty.server.handler.ContextHandler"><Arg>/one</Arg></New></Arg></Call>
      <Call name="setAttribute"><Arg>a</Arg><Arg><Array type="String"><Item>1</Item></Array></Arg></Call>
      <Get name="sessionHandler"><Get name="sessionManager"><Set name="savePeriod" type="int">5</Set></Get></Get>
    """)
    assert c.init_params == {"k": "v"} and c.attributes["h"].context_path == "/one"
    assert c.attributes["a"] == ["1"] and c.session_handler.session_manager.save_period == 5


def test_system_properties_have_their_natural_values(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """JETTY.md §10 "<SystemProperty name="user.dir"/> / java.io.tmpdir / user.home" and
    "jetty.home.uri, jetty.base.uri, jetty.webapps.uri": the process's values, file: URIs."""
    import os
    import tempfile

    monkeypatch.chdir(tmp_path)
    d = load(tmp_path, """
      <Call name="setAttribute"><Arg>cwd</Arg><Arg><SystemProperty name="user.dir"/></Arg></Call>
      <Call name="setAttribute"><Arg>home</Arg><Arg><SystemProperty name="user.home"/></Arg></Call>
      <Call name="setAttribute"><Arg>tmp</Arg><Arg><SystemProperty name="java.io.tmpdir"/>/x</Arg></Call>
      <Call name="setAttribute"><Arg>over</Arg><Arg><SystemProperty name="user.home"/></Arg></Call>
      <Call name="setAttribute"><Arg>base</Arg><Arg><Property name="jetty.base.uri"/></Arg></Call>
      <Call name="setAttribute"><Arg>apps</Arg><Arg><Property name="jetty.webapps.uri"/></Arg></Call>
      <Call name="setAttribute"><Arg>home.uri</Arg><Arg><Property name="jetty.home.uri"/></Arg></Call>
      <Call name="setAttribute"><Arg>sys.base</Arg><Arg><SystemProperty name="jetty.base"/></Arg></Call>
    """)
    a = d.context.attributes
    assert a["cwd"] == os.getcwd() == str(tmp_path)
    assert a["home"] == os.path.expanduser("~") and a["tmp"] == tempfile.gettempdir() + "/x"
    real = tmp_path.resolve()
    assert a["base"] == real.parent.as_uri() and a["apps"] == real.as_uri()
    assert a["home.uri"] == real.as_uri()  # jetty.home "." resolved as paths are: the file's dir
    assert a["sys.base"] == str(real.parent)
    d = load(tmp_path, '<Call name="setAttribute"><Arg>h</Arg><Arg><SystemProperty '
                       'name="user.home"/></Arg></Call>', system_properties={"user.home": "/h"},
             properties={"jetty.base": "/srv"})
    assert d.context.attributes["h"] == "/h" and d.properties["jetty.base.uri"] == "file:///srv"


def test_a_value_a_method_refuses_is_a_located_error(tmp_path: Path) -> None:
    found = problems(tmp_path, f"""
      <Call name="setEnvironmentVariable"><Arg>a=b</Arg><Arg>x</Arg></Call>
      <Get name="sessionHandler"><Get name="sessionCookieConfig">
        <Call name="setAttribute"><Arg>SameSite</Arg><Arg>sometimes</Arg></Call>
        <Call name="setAttribute"><Arg>Partitioned</Arg><Arg>true</Arg></Call>
      </Get></Get>
      <Set name="sessionHandler"><New class="{SH}"><Set name="sameSite">loose</Set></New></Set>
    """)
    assert [f.split(": ", 1)[0] for f in found] == ["5:7", "7:9", "8:9", "10:95"]
    assert "'a=b' is not a usable environment variable" in found[0]
    assert "SameSite is one of None, Lax, Strict, got 'sometimes'" in found[1]
    assert "deployer sets no cookie attribute 'Partitioned'" in found[2]
    assert "SessionHandler.sameSite: SameSite is one of" in found[3]
