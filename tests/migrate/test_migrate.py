"""Behaviour of `deployer migrate` on small files written here: what is kept, changed, dropped,
what is no context, and the command's output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from deployer.cli import main
from deployer.descriptor.loader import load_descriptor, validate_file
from deployer.migrate.api import migrate, migrate_file
from deployer.migrate.report import Action, Status, render_text

DT94 = ('<?xml version="1.0"?>\n<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" '
        '"http://www.eclipse.org/jetty/configure_9_3.dtd">\n')
WEBAPP = '<Configure class="org.eclipse.jetty.webapp.WebAppContext">'
EE10 = '<Configure class="org.eclipse.jetty.ee10.webapp.WebAppContext">'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def findings(result, action: Action) -> list[str]:
    return [f.message for f in result.findings if f.action is action]


def test_not_well_formed_is_reported_and_the_others_go_on(tmp_path, capsys):
    bad = write(tmp_path / "a-bad.xml", "<Configure class='x'><Set name='war'>/x</Configure>")
    good = write(tmp_path / "b-good.xml", DT94 + WEBAPP + """
  <Set name="contextPath">/good</Set><Set name="war">.</Set>
</Configure>""")
    out = tmp_path / "out"
    rc = main(["migrate", str(bad), str(good), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 1
    assert f"{bad}: failed: not well-formed XML" in text
    assert "(line 1)" in text
    assert (out / "b-good.xml").is_file() and not (out / "a-bad.xml").exists()


def test_roots_that_are_no_context(tmp_path, capsys):
    files = {
        "server.xml": "org.eclipse.jetty.server.Server",
        "connector.xml": "org.eclipse.jetty.server.ServerConnector",
        "realm.xml": "org.eclipse.jetty.security.HashLoginService",
        "other.xml": "com.example.Thing",
    }
    for name, cls in files.items():
        write(tmp_path / name, DT94 + f'<Configure class="{cls}"><Set name="x">1</Set></Configure>')
    results = {Path(r.source).name: r for r in migrate([tmp_path], tmp_path / "out")}
    assert all(r.status is Status.NOT_A_CONTEXT for r in results.values())
    assert "server configuration" in results["server.xml"].message
    assert "connector" in results["connector.xml"].message
    assert "realm" in results["realm.xml"].message
    assert "no context class" in results["other.xml"].message
    assert not (tmp_path / "out").exists()
    assert main(["migrate", str(tmp_path / "server.xml"), "--dry-run"]) == 0
    assert "not a context" in capsys.readouterr().out


def test_jetty6_context_becomes_canonical_and_keeps_comments(tmp_path):
    src = write(tmp_path / "old.xml", """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Mort Bay Consulting//DTD Configure//EN" "http://jetty.mortbay.org/configure.dtd">
<Configure class="org.mortbay.jetty.webapp.WebAppContext">
  <!-- where it lives -->
  <Set name="contextPath">/old</Set>
  <Set name="war"><SystemProperty name="jetty.home" default="."/>/webapps/old</Set>
  <Set name="parentLoaderPriority">true</Set>
  <Call name="setVirtualHosts"><Arg><Array type="String"><Item>a.example</Item></Array></Arg></Call>
  <Get name="sessionHandler"><Get name="sessionManager">
    <Set name="usingCookies" type="boolean">false</Set>
  </Get></Get>
</Configure>
""")
    result = migrate_file(src)
    assert result.status is Status.WITH_CHANGES
    assert "<!-- where it lives -->" in result.text
    assert 'configure_9_3.dtd' in result.text
    active = etree.fromstring(result.text.encode(), etree.XMLParser(remove_comments=True))
    assert "org.mortbay" not in etree.tostring(active, encoding="unicode")
    dropped = [f for f in result.findings if f.action is Action.DROPPED]
    assert [(f.line, "parentLoaderPriority" in f.message) for f in dropped] == [(7, True)]
    assert "(source line 7)" in result.text and '<Set name="parentLoaderPriority">' in result.text
    out = write(tmp_path / "new.xml", result.text)
    spec = load_descriptor(out, system_properties={"jetty.home": "/j"}).context
    assert (spec.context_path, spec.war, spec.virtual_hosts) == ("/old", "/j/webapps/old",
                                                                 ["a.example"])
    assert spec.session_handler.session_manager.using_cookies is False


def test_jetty94_sessions_map_to_hash_session_manager(tmp_path):
    src = write(tmp_path / "s94.xml", DT94 + EE10 + """
  <Set name="contextPath">/s</Set>
  <Set name="war">.</Set>
  <Get id="sh" name="sessionHandler">
    <Set name="maxInactiveInterval">600</Set>
    <Set name="sessionCache">
      <New class="org.eclipse.jetty.session.DefaultSessionCache">
        <Arg><Ref refid="sh"/></Arg>
        <Set name="evictionPolicy">0</Set>
        <Set name="sessionDataStore">
          <New class="org.eclipse.jetty.session.FileSessionDataStore">
            <Set name="storeDir" property="jetty.session.file.storeDir"/>
            <Set name="deleteUnrestorableFiles">true</Set>
            <Set name="savePeriodSec">15</Set>
          </New>
        </Set>
      </New>
    </Set>
  </Get>
</Configure>
""")
    result = migrate_file(src)
    assert result.status is Status.WITH_CHANGES, result.summary()
    changed = " | ".join(findings(result, Action.CHANGED))
    assert "savePeriodSec -> savePeriod 15: meaning differs" in changed
    assert "lazyLoad=true added" in changed
    assert "evictionPolicy 0" in " ".join(findings(result, Action.DROPPED))
    out = write(tmp_path / "out.xml", result.text)
    assert validate_file(out) == []
    mgr = load_descriptor(out, properties={"jetty.session.file.storeDir": "/st"}).context \
        .session_handler.session_manager
    assert (mgr.store_directory, mgr.lazy_load, mgr.save_period, mgr.max_inactive_interval,
            mgr.delete_unrestorable_sessions) == ("/st", True, 15, 600, True)
    default = load_descriptor(out).context.session_handler.session_manager
    assert default.store_directory == "./sessions"  # the session-store-file module's default


def test_eviction_with_save_is_idle_save_period(tmp_path):
    src = write(tmp_path / "e.xml", DT94 + WEBAPP + """
  <Set name="war">.</Set>
  <Call id="sh" name="getSessionHandler">
    <Set name="sessionCache">
      <New class="org.eclipse.jetty.server.session.DefaultSessionCache">
        <Arg><Ref refid="sh"/></Arg>
        <Set name="evictionPolicy">120</Set>
        <Set name="saveOnInactiveEviction">true</Set>
        <Set name="sessionDataStore">
          <New class="org.eclipse.jetty.server.session.JDBCSessionDataStore"/>
        </Set>
      </New>
    </Set>
  </Call>
</Configure>
""")
    result = migrate_file(src)
    out = write(tmp_path / "out.xml", result.text)
    mgr = load_descriptor(out).context.session_handler.session_manager
    assert mgr.idle_save_period == 120 and mgr.store_directory is None
    assert any("JDBCSessionDataStore" in m for m in findings(result, Action.DROPPED))
    assert "no contextPath" in " ".join(findings(result, Action.CHANGED))


def test_webinf_fragment_gets_its_webapp_as_war(tmp_path):
    app = tmp_path / "shop"
    write(app / "index.html", "hi")
    src = write(app / "WEB-INF" / "jetty-web.xml", DT94 + WEBAPP + """
  <Set name="contextPath">/shop</Set>
  <New class="org.eclipse.jetty.plus.jndi.EnvEntry"><Arg>k</Arg><Arg>v</Arg></New>
</Configure>""")
    other = write(tmp_path / "loose" / "jetty-env.xml", DT94 +
                  '<Configure class="org.eclipse.jetty.webapp.WebAppContext"/>')
    results = migrate([src, other], tmp_path / "out")
    assert results[0].status is Status.WITH_CHANGES and results[0].name == "shop"
    assert load_descriptor(results[0].output).context.war == str(app)
    assert "JNDI" in " ".join(findings(results[0], Action.DROPPED))
    assert results[1].status is Status.INCOMPLETE
    assert "add <Set name=\"war\">" in results[1].message
    assert validate_file(results[1].output) == []


def test_same_base_names_get_unique_outputs(tmp_path):
    body = DT94 + '<Configure class="org.eclipse.jetty.webapp.WebAppContext"><Set name="war">.' \
                  '</Set><Set name="contextPath">/{}</Set></Configure>'
    a = write(tmp_path / "a" / "context.xml", body.format("a"))
    b = write(tmp_path / "b" / "context.xml", body.format("b"))
    results = migrate([a, b], tmp_path / "out")
    assert [Path(r.output).name for r in results] == ["context.xml", "context-2.xml"]


def test_maven_plugin_section(tmp_path):
    pom = write(tmp_path / "proj" / "pom.xml", """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <artifactId>legacy</artifactId>
  <build><directory>${basedir}/build</directory><plugins><plugin>
    <groupId>org.mortbay.jetty</groupId><artifactId>maven-jetty-plugin</artifactId>
    <configuration>
      <webAppConfig>
        <sessionHandler implementation="org.mortbay.jetty.servlet.SessionHandler">
          <sessionManager implementation="org.mortbay.jetty.servlet.HashSessionManager">
            <storeDirectory>${project.build.directory}/sessions</storeDirectory>
            <savePeriod>${save.period}</savePeriod>
          </sessionManager>
        </sessionHandler>
        <virtualHosts><virtualHost>legacy.example</virtualHost></virtualHosts>
        <extraClasspath>lib/x.jar</extraClasspath>
      </webAppConfig>
    </configuration>
  </plugin></plugins></build>
</project>""")
    out = tmp_path / "out"
    result = migrate([pom], out)[0]
    assert result.status is Status.WITH_CHANGES and Path(result.output).name == "legacy.xml"
    spec = load_descriptor(result.output, properties={"save.period": "7"}).context
    assert spec.context_path == "/legacy"  # maven-jetty-plugin's default: /artifactId
    assert spec.virtual_hosts == ["legacy.example"]
    assert Path(out, spec.war).resolve() == (tmp_path / "proj" / "src/main/webapp").resolve()
    mgr = spec.session_handler.session_manager
    assert Path(out, mgr.store_directory).resolve() == (tmp_path / "proj/build/sessions").resolve()
    assert mgr.save_period == 7
    assert any("${save.period} is not defined" in m for m in findings(result, Action.CHANGED))
    assert any("extraClasspath" in m for m in findings(result, Action.DROPPED))
    plain = write(tmp_path / "plain" / "pom.xml", "<project><artifactId>p</artifactId></project>")
    assert migrate_file(plain).status is Status.NOT_A_CONTEXT


def test_json_report_and_dry_run(tmp_path, capsys):
    src = write(tmp_path / "c.xml", DT94 + WEBAPP + """
  <Set name="contextPath">/c</Set><Set name="war">.</Set><Set name="extractWAR">false</Set>
</Configure>""")
    out = tmp_path / "out"
    assert main(["migrate", str(src), "--out", str(out), "--dry-run", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not out.exists()
    (entry,) = report["files"]
    assert entry["status"] == "deployable with changes" and entry["output"] is None
    assert {"file": str(src), "line": 4, "action": "dropped"}.items() <= \
        [f for f in entry["findings"] if f["action"] == "dropped"][0].items()
    assert report["totals"]["deployable with changes"] == 1


def test_entities_are_never_expanded(tmp_path):
    src = write(tmp_path / "e.xml", """<?xml version="1.0"?>
<!DOCTYPE Configure [<!ENTITY x "EXPANDED"><!ENTITY ext SYSTEM "file:///etc/passwd">]>
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/e</Set><Set name="war">.</Set>
  <Set name="displayName">&x;&ext;</Set>
</Configure>""")
    result = migrate_file(src)
    assert result.text is not None
    assert "EXPANDED" not in result.text and "root:" not in result.text


def test_jetty12_forms_constructor_args_and_cookie_config(tmp_path):
    root = '<Configure class="org.eclipse.jetty.ee10.servlet.ServletContextHandler">'
    src = write(tmp_path / "j12.xml", DT94 + root + """
  <Arg>/j12</Arg>
  <Set name="baseResourceAsString">static</Set>
  <Call name="addVirtualHosts">
    <Arg><Array type="String"><Item>j12.example</Item></Array></Arg></Call>
  <Get name="sessionHandler">
    <Get name="sessionCookieConfig">
      <Set name="name">J12SESSION</Set>
      <Set name="httpOnly">true</Set>
      <Set name="secure">true</Set>
    </Get>
  </Get>
</Configure>""")
    result = migrate_file(src)
    out = write(tmp_path / "out.xml", result.text)
    spec = load_descriptor(out).context
    assert (spec.context_path, spec.resource_base, spec.virtual_hosts) == (
        "/j12", None, ["j12.example"])  # no ResourceHandler/DefaultServlet: Jetty serves nothing
    assert result.status is Status.INCOMPLETE
    mgr = spec.session_handler.session_manager
    assert (mgr.session_cookie, mgr.http_only) == ("J12SESSION", True)
    assert any("secure" in m for m in findings(result, Action.DROPPED))
    assert "deployer migrate rewrote (source line 8)" in result.text


def test_maven_resource_collection_serves_the_first_directory(tmp_path):
    pom = write(tmp_path / "p" / "pom.xml", """<project>
  <artifactId>rc</artifactId>
  <build><plugins><plugin>
    <groupId>org.eclipse.jetty</groupId><artifactId>jetty-maven-plugin</artifactId>
    <configuration><webApp>
      <contextPath>/rc</contextPath>
      <baseResource implementation="org.eclipse.jetty.util.resource.ResourceCollection">
        <resourcesAsCSV>src/main/webapp,${project.build.directory}/generated</resourcesAsCSV>
      </baseResource>
      <jettyEnvXml>src/main/jetty/jetty-env.xml</jettyEnvXml>
    </webApp></configuration>
  </plugin></plugins></build>
</project>""")
    result = migrate_file(pom)
    spec = load_descriptor(write(tmp_path / "rc.xml", result.text)).context
    assert spec.resource_base == str(tmp_path / "p" / "src/main/webapp") and spec.war is None
    assert any("are not served" in m for m in findings(result, Action.CHANGED))
    assert any("jetty-env.xml" in m for m in findings(result, Action.DROPPED))


def test_clashing_routes_and_stores_are_named_in_the_summary(tmp_path):
    body = DT94 + WEBAPP + """<Set name="contextPath">/same</Set><Set name="war">.</Set>
  <Get name="sessionHandler"><Set name="sessionManager">
    <New class="org.eclipse.jetty.server.session.HashSessionManager">
      <Set name="storeDirectory">{}</Set>
    </New></Set></Get></Configure>"""
    a = write(tmp_path / "a.xml", body.format("/srv/sessions"))
    b = write(tmp_path / "b.xml", body.format("/srv/sessions/"))
    ra, rb = migrate([a, b], tmp_path / "out")
    assert ra.clashes == rb.clashes == ["contextPath /same", "storeDirectory /srv/sessions"]
    text = render_text([ra, rb])
    assert "contextPath /same is also used by another file (see the end)" in ra.summary()
    assert "contextPath /same is used by 2 files: deployer refuses all but the first" in text
    assert f"\n    {a}\n    {b}\n" in text
    assert "storeDirectory /srv/sessions is used by 2 files" in text


def test_jetty6_init_params_map_becomes_set_init_parameter_calls(tmp_path):
    """Jetty 7+ has no setInitParams, so `run` refuses <Set name="initParams"> (issue 11 item 10);
    migrate turns Jetty 6's Map into one setInitParameter per entry."""
    src = write(tmp_path / "j6.xml", DT94 + """
<Configure class="org.mortbay.jetty.webapp.WebAppContext">
  <Set name="contextPath">/f</Set><Set name="war">.</Set>
  <Set name="initParams"><Map>
    <Entry><Item>a.home</Item><Item><SystemProperty name="jetty.home" default="."/>/a</Item></Entry>
    <Entry><Item>b</Item><Item>2</Item></Entry>
  </Map></Set>
</Configure>""")
    result = migrate_file(src)
    out = write(tmp_path / "out.xml", result.text)
    assert validate_file(out) == []
    assert load_descriptor(out).context.init_params == {"a.home": "./a", "b": "2"}
    assert any("2 <Call name=\"setInitParameter\">" in m for m in findings(result, Action.CHANGED))


def test_a_context_path_from_the_environment_is_kept(tmp_path):
    """Issue 11 item 14: <Env name="CONTEXT_PATH"/> (or a Property) as the contextPath stays."""
    for lookup in ('<Env name="CONTEXT_PATH"/>', '<Property name="ctx.path"/>'):
        src = write(tmp_path / "env.xml", DT94 + WEBAPP + f"""
  <Set name="contextPath">{lookup}</Set><Set name="war">.</Set>
  <Set name="maxFormKeys"><Env name="NOT_SET_HERE"/></Set>
</Configure>""")
        result = migrate_file(src)
        assert result.status is Status.WITH_CHANGES, result.summary()
        assert f'<Set name="contextPath">{lookup}</Set>' in result.text
        assert not any("contextPath" in m for m in findings(result, Action.DROPPED))
    out = write(tmp_path / "out.xml", result.text)
    assert load_descriptor(out, properties={"ctx.path": "/from-env"}).context.context_path \
        == "/from-env"


def test_a_context_jetty_served_no_files_from_serves_none(tmp_path):
    """Issue 11 item 15: a Jetty 12 core ContextHandler whose handler is a CGI/FastCGI handler (or a
    ServletContextHandler with a CGI servlet) served no files; migrated, it must not serve the
    scripts' source either: the resourceBase is dropped and the result is incomplete (exit 1)."""
    cases = {
        "fcgi.xml": """<Configure class="org.eclipse.jetty.server.handler.ContextHandler">
  <Set name="contextPath">/php</Set>
  <Set name="baseResourceAsString">/var/www/php</Set>
  <Set name="handler"><New class="org.eclipse.jetty.fcgi.proxy.FastCGIProxyHandler">
    <Arg>(.+\\.php)</Arg><Arg>http://localhost:9000</Arg></New></Set>
</Configure>""",
        "cgi.xml": """<Configure class="org.eclipse.jetty.ee10.servlet.ServletContextHandler">
  <Set name="contextPath">/cgi-bin</Set>
  <Set name="resourceBase">/usr/lib/cgi-bin</Set>
  <Call name="addServlet"><Arg>org.eclipse.jetty.ee10.cgi.CGI</Arg><Arg>/*</Arg></Call>
</Configure>""",
    }
    for name, body in cases.items():
        result = migrate_file(write(tmp_path / name, DT94 + body))
        assert result.status is Status.INCOMPLETE and not result.ok, result.summary()
        assert "nothing is served" in result.message
        out = write(tmp_path / "out" / name, result.text)
        assert load_descriptor(out).context.resource_base is None
        assert any("without a ResourceHandler" in m for m in findings(result, Action.DROPPED))
    served = migrate_file(write(tmp_path / "default.xml", DT94 + """
<Configure class="org.eclipse.jetty.ee8.servlet.ServletContextHandler">
  <Set name="contextPath">/</Set><Set name="baseResourceAsString">/srv/www</Set>
  <Call name="addServlet"><Arg>net.example.MyDefaultServlet</Arg><Arg>/</Arg></Call>
</Configure>"""))
    assert "/srv/www" in served.text and served.status is Status.WITH_CHANGES


def test_classless_jetty_web_xml_and_webapp_subclasses_are_webapps(tmp_path):
    """Issue 11 item 16: a <Configure> with no class in jetty-web.xml applies to the webapp's
    WebAppContext; VmRuntimeWebAppContext and other WebAppContext subclasses are WebAppContexts."""
    app = tmp_path / "shop"
    write(app / "index.html", "hi")
    frag = write(app / "WEB-INF" / "jetty-web.xml", DT94 + """<Configure>
  <Set name="contextPath">/shop</Set>
  <Call name="setInitParameter"><Arg>k</Arg><Arg>v</Arg></Call>
</Configure>""")
    vm = write(tmp_path / "vm.xml", DT94 + """
<Configure class="com.google.apphosting.vmruntime.jetty9.VmRuntimeWebAppContext">
  <Set name="contextPath">/vm</Set><Set name="war">.</Set>
</Configure>""")
    loose = write(tmp_path / "other.xml", DT94 + "<Configure><Set name='x'>1</Set></Configure>")
    results = {Path(r.source).name: r for r in migrate([frag, vm, loose], tmp_path / "out")}
    shop = results["jetty-web.xml"]
    assert shop.status is Status.WITH_CHANGES, shop.summary()
    spec = load_descriptor(shop.output).context
    assert (spec.kind, spec.context_path, spec.war, spec.init_params) == (
        "webapp", "/shop", str(app), {"k": "v"})
    assert any("applies it to the webapp's WebAppContext" in m
               for m in findings(shop, Action.CHANGED))
    assert any("init parameter k" in m for m in findings(shop, Action.KEPT))
    assert results["vm.xml"].ok and load_descriptor(results["vm.xml"].output).context.kind \
        == "webapp"
    assert any("WebAppContext subclass" in m for m in findings(results["vm.xml"], Action.CHANGED))
    assert results["other.xml"].status is Status.NOT_A_CONTEXT


def test_dropped_authentication_is_incomplete_and_loud(tmp_path, capsys):
    """Issue 11 item 17: a migrated context whose realm/security handler was dropped is open to
    anyone: "incomplete: no authentication", exit 1, and a warning in the report."""
    src = write(tmp_path / "secure.xml", DT94 + WEBAPP + """
  <Set name="contextPath">/admin</Set><Set name="war">.</Set>
  <Get name="securityHandler">
    <Set name="loginService">
      <New class="org.eclipse.jetty.security.HashLoginService">
        <Set name="name">Admin</Set><Set name="config">etc/realm.properties</Set>
      </New>
    </Set>
  </Get>
</Configure>""")
    plain = write(tmp_path / "plain.xml", DT94 + WEBAPP + """
  <Set name="contextPath">/open</Set><Set name="war">.</Set><Set name="extractWAR">false</Set>
</Configure>""")
    assert main(["migrate", str(src), str(plain), "--dry-run"]) == 1
    text = capsys.readouterr().out.replace("\n    ", " ")  # wrapped lines joined
    assert f"{src}: incomplete (3 kept, 0 changed, 1 dropped): no authentication: " in text
    assert f"{plain}: deployable with changes" in text
    assert "WARNING: 1 context(s) lost their authentication" in text
    assert f"deploying: {src}\n" in text
    assert main(["migrate", str(plain), "--dry-run"]) == 0


@pytest.mark.parametrize("protection", [
    """<Set name="handler">
    <New class="org.eclipse.jetty.security.ConstraintSecurityHandler">
      <Set name="realmName">Admin</Set>
    </New>
  </Set>""",
    """<Call name="addBean">
    <Arg><New class="org.eclipse.jetty.security.HashLoginService">
      <Set name="name">Admin</Set><Set name="config">etc/realm.properties</Set>
    </New></Arg>
  </Call>""",
])
def test_security_set_as_the_handler_or_a_bean_is_lost_authentication(tmp_path, capsys,
                                                                       protection):
    src = write(tmp_path / "h.xml", DT94 + WEBAPP + f"""
  <Set name="contextPath">/admin</Set><Set name="war">.</Set>
  {protection}
</Configure>""")
    assert main(["migrate", str(src), "--dry-run"]) == 1
    text = capsys.readouterr().out.replace("\n    ", " ")
    line = next(n for n, t in enumerate(src.read_text().splitlines(), 1) if "<Set name=\"h" in t
                or "<Call" in t)
    assert f"no authentication: the source protects the app (line {line})" in text


def test_a_jndi_realm_is_named_among_the_lost_authentication(tmp_path, capsys):
    """jetty-plus's DataSourceLoginService is a realm, though its package is JNDI's: the report
    names its line with the security handler's."""
    src = write(tmp_path / "ds.xml", DT94 + WEBAPP + """
  <Set name="contextPath">/admin</Set><Set name="war">.</Set>
  <New id="users" class="org.eclipse.jetty.plus.security.DataSourceLoginService">
    <Set name="name">Admin</Set><Set name="jndiName">jdbc/users</Set>
  </New>
  <Get name="securityHandler"><Set name="loginService"><Ref refid="users"/></Set></Get>
</Configure>""")
    assert main(["migrate", str(src), "--dry-run"]) == 1
    text = capsys.readouterr().out.replace("\n    ", " ")
    new_line = next(n for n, line in enumerate(src.read_text().splitlines(), 1) if "<New" in line)
    get_line = next(n for n, line in enumerate(src.read_text().splitlines(), 1) if "<Get" in line)
    assert f"the source protects the app (line {new_line}, {get_line})" in text


def test_the_text_report_groups_advice_and_keeps_lines_short(tmp_path, capsys):
    """Issue 11 item 17: repeated advice once per run, every line under 120 characters, and the
    files a folder run does not take listed."""
    long_dir = tmp_path / "a-rather-long-directory-name"
    for i in range(6):
        write(long_dir / f"ctx{i}.xml", DT94 + WEBAPP + f"""
  <Set name="contextPath">/c{i}</Set><Set name="war">.</Set>
  <Set name="extractWAR">false</Set><Set name="parentLoaderPriority">true</Set>
  <New class="org.eclipse.jetty.plus.jndi.EnvEntry"><Arg>k</Arg><Arg>v</Arg></New>
</Configure>""")
    write(long_dir / "jetty.xml.production", "<Configure/>")
    write(long_dir / "README.md", "notes")
    main(["migrate", str(long_dir), "--dry-run"])
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) < 120
    text = text.replace("\n    ", " ")  # wrapped lines joined
    jndi = "JNDI (EnvEntry, Resource, Transaction, data sources) is a Java naming service"
    assert text.count(jndi) == 1  # once, as a numbered note
    assert text.count('dropped: <New class="org.eclipse.jetty.plus.jndi.EnvEntry"> [') == 6
    assert f"{long_dir / 'jetty.xml.production'}: skipped: not a .xml file" in text
    assert "README.md" not in text
    assert "1 skipped" in text


def test_a_server_wide_file_store_goes_onto_each_context_of_its_base(tmp_path):
    """Issue 11 item 16: the 9.4 session-store-file XML says its settings belong on each
    context's session manager, and migrating a Jetty base writes them there."""
    from tests.conftest import CORPUS

    store_xml = CORPUS / "70_jetty_jetty.project_session-store.xml"
    if not store_xml.is_file():
        pytest.skip("../shared/jetty-corpus is not beside the repository")
    base = tmp_path / "base"
    write(base / "etc" / "sessions-file.xml", store_xml.read_text(encoding="utf-8"))
    (base / "webapps" / "shop").mkdir(parents=True)
    write(base / "webapps" / "shop.xml", DT94 + WEBAPP + """
  <Set name="contextPath">/shop</Set>
  <Set name="war"><Property name="jetty.base"/>/webapps/shop</Set>
</Configure>""")
    write(base / "webapps" / "own.xml", DT94 + WEBAPP + """
  <Set name="contextPath">/own</Set><Set name="war">shop</Set>
  <Get name="sessionHandler"><Get name="sessionManager">
    <Set name="storeDirectory">/srv/own</Set></Get></Get>
</Configure>""")
    results = {Path(r.source).name: r for r in migrate([base], tmp_path / "out")}
    server = results["sessions-file.xml"]
    assert server.status is Status.NOT_A_CONTEXT
    assert "belong on each context's HashSessionManager" in server.message
    shop = results["shop.xml"]
    assert shop.status is Status.WITH_CHANGES, shop.summary()
    spec = load_descriptor(shop.output, properties={"jetty.base": str(base)}).context
    manager = spec.session_handler.session_manager
    assert manager.store_directory == f"{base}/sessions/shop" and manager.lazy_load
    assert manager.delete_unrestorable_sessions is False
    assert any("server-wide store" in m for m in findings(shop, Action.CHANGED))
    own = load_descriptor(results["own.xml"].output).context.session_handler.session_manager
    assert own.store_directory == "/srv/own"  # its own setting wins
    alone = migrate([base / "webapps" / "shop.xml"], tmp_path / "out2")[0]
    assert "storeDirectory" not in alone.text  # without the store file: nothing added
    flat = write(base / "etc" / "loose.xml", (base / "webapps" / "shop.xml").read_text())
    beside = migrate([base / "etc"], tmp_path / "out3")  # not in its base's webapps/: no store
    assert [r.status for r in beside] == [Status.AS_IS, Status.NOT_A_CONTEXT]
    assert "storeDirectory" not in beside[0].text and beside[0].source == str(flat)


def test_a_long_run_prints_progress_on_stderr_and_a_short_one_none(tmp_path, capsys):
    """Issue 10: progress lines on long work (migrating a tree). Every file of a tree is announced
    when the interval is 0; with the default 2 s a small tree prints none."""
    from deployer.commands.migrate import Progress

    for n in range(3):
        write(tmp_path / "tree" / f"c{n}.xml", DT94 + WEBAPP + f"""
  <Set name="contextPath">/c{n}</Set><Set name="war">.</Set>
</Configure>""")
    migrate([tmp_path / "tree"], None, write=False, progress=Progress(every=0))
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "migrating: 0 of 3 files", "migrating: 1 of 3 files", "migrating: 2 of 3 files"]
    assert lines[2].endswith("c2.xml)")
    assert main(["migrate", str(tmp_path / "tree"), "--dry-run"]) == 0
    assert "migrating:" not in capsys.readouterr().err


def test_a_server_wide_store_dir_keeps_the_text_between_its_lookups():
    """storeDir="<Property a/>/x/<Property b/>/y" became "<Property a/><Property b/>/shop": the
    copy of each lookup dropped the path text after it."""
    from deployer.migrate.serverstore import ServerStore, _store_directory

    src = etree.fromstring('<Set name="storeDir"><Property name="a"/>/x/'
                           '<Property name="b"/>/y</Set>')
    out = _store_directory(ServerStore(source="s.xml", line=1, store_dir=src), "shop")
    assert etree.tostring(out).decode() == (
        '<Set name="storeDirectory"><Property name="a"/>/x/<Property name="b"/>/y/shop</Set>')
