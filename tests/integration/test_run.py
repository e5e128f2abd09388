"""`deployer run` as a real process: restarts with a store, signals, the shipped contexts."""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import (
    DeployerProcess,
    descriptor,
    poll,
    write_counter_app,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "contexts").mkdir()
    write_counter_app(tmp_path / "apps" / "counter")
    return tmp_path


def counter(client: httpx.Client, path: str) -> int:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return int(response.text.split()[-1])


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_counter_survives_restart(tree: Path, lazy: bool, signum: int) -> None:
    (tree / "contexts" / "counter.xml").write_text(
        descriptor("/counter", "../apps/counter", store="../sessions/counter", lazy=lazy)
    )
    with DeployerProcess(tree / "contexts") as run, httpx.Client(base_url=run.url) as client:
        assert [counter(client, "/counter/") for _ in range(3)] == [1, 2, 3]
        cookies = dict(client.cookies)
        run.send(signum)
        assert run.wait_exit() == 0
    assert "JSESSIONID" in cookies
    assert any((tree / "sessions" / "counter").iterdir()), "nothing saved on stop"
    with DeployerProcess(tree / "contexts") as run, \
            httpx.Client(base_url=run.url, cookies=cookies) as client:
        assert counter(client, "/counter/") == 4


def test_two_webapps_with_their_own_stores(tree: Path) -> None:
    write_counter_app(tree / "apps" / "other", code="o1")
    contexts = tree / "contexts"
    (contexts / "a.xml").write_text(descriptor("/a", "../apps/counter", store="../sessions/a"))
    (contexts / "b.xml").write_text(descriptor("/b", "../apps/other", store="../sessions/b"))
    with DeployerProcess(contexts) as run, httpx.Client(base_url=run.url) as client:
        assert [counter(client, "/a/") for _ in range(2)] == [1, 2]
        assert [counter(client, "/b/") for _ in range(5)] == [1, 2, 3, 4, 5]
        cookies = list(client.cookies.jar)
    assert {c.path for c in cookies} == {"/a", "/b"}
    assert len(list((tree / "sessions" / "a").iterdir())) >= 1
    assert len(list((tree / "sessions" / "b").iterdir())) >= 1
    with DeployerProcess(contexts) as run, httpx.Client(base_url=run.url) as client:
        for c in cookies:
            client.cookies.jar.set_cookie(c)
        assert counter(client, "/a/") == 3
        assert counter(client, "/b/") == 6


def test_sigterm_lets_a_request_in_flight_finish(tree: Path) -> None:
    """A request in flight when SIGTERM arrives still gets its answer; then exit 0."""
    slow = tree / "apps" / "slow"
    slow.mkdir(parents=True)
    entered = tree / "entered"
    (slow / "wsgi.py").write_text(
        "import pathlib\nimport time\n\n\ndef application(environ, start_response):\n"
        f"    pathlib.Path({str(entered)!r}).touch()\n"
        "    time.sleep(0.5)\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'done']\n"
    )
    (tree / "contexts" / "slow.xml").write_text(descriptor("/slow", "../apps/slow"))
    run = DeployerProcess(tree / "contexts", "--drain-timeout", "5").start()
    result: dict[str, object] = {}

    def call() -> None:
        try:
            result["r"] = httpx.get(f"{run.url}/slow/", timeout=10)
        except httpx.HTTPError as exc:  # reported by the assert below
            result["r"] = exc

    thread = threading.Thread(target=call)
    try:
        thread.start()
        poll(entered.exists, bool, what="the request to reach the app")
        run.send(signal.SIGTERM)
        thread.join(15)
        assert run.wait_exit() == 0
    finally:
        thread.join(15)
        run.stop()
    response = result["r"]
    assert isinstance(response, httpx.Response), response
    assert response.text == "done"
    assert "stopped" in run.log()


def test_broken_descriptor_is_reported_and_skipped(tree: Path) -> None:
    contexts = tree / "contexts"
    (contexts / "good.xml").write_text(descriptor("/good", "../apps/counter"))
    (contexts / "bad.xml").write_text(
        descriptor("/bad", "../apps/counter").replace("<Set name=\"contextPath\">",
                                                       "<Set name=\"contextPth\">")
    )
    (contexts / "nowar.xml").write_text(descriptor("/nowar", "../apps/missing"))
    with DeployerProcess(contexts) as run, httpx.Client(base_url=run.url) as client:
        assert client.get("/good/").status_code == 200
        assert client.get("/bad/").status_code == 404
        assert client.get("/nowar/").status_code == 404
        log = run.log()
    assert f"{contexts / 'bad.xml'}:" in log  # file:line:col
    assert "contextPth" in log
    assert f"{contexts / 'nowar.xml'}:5:3: war" in log  # the line where war was set
    assert "1 of 3 contexts deployed" in log


def test_shipped_contexts_serve_the_samples(tmp_path: Path) -> None:
    if not (ROOT / "samples" / "counter").is_dir():
        pytest.skip("samples not there yet")
    shutil.copytree(ROOT / "contexts", tmp_path / "contexts")
    shutil.copytree(ROOT / "samples", tmp_path / "samples",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with DeployerProcess(tmp_path / "contexts") as run, httpx.Client(base_url=run.url) as client:
        assert client.get("/counter/").status_code == 200
        assert client.get("/hello/").status_code == 200
        assert client.get("/").status_code == 200
        assert "3 of 3 contexts deployed" in run.log()
    assert any((tmp_path / "sessions" / "counter").iterdir())


def test_property_and_system_property_reach_the_descriptor(tree: Path) -> None:
    text = descriptor("/ignored", "../apps/counter")
    text = text.replace(
        '<Set name="contextPath">/ignored</Set>',
        '<Set name="contextPath"><Property name="ctx" default="/default"/></Set>',
    ).replace("<Arg>1</Arg>", '<Arg><SystemProperty name="app.version" default="0"/></Arg>')
    (tree / "contexts" / "p.xml").write_text(text)
    with DeployerProcess(tree / "contexts", "--property", "ctx=/fromcli",
                         "-D", "app.version=42") as run, \
            httpx.Client(base_url=run.url) as client:
        assert client.get("/fromcli/").text == "42 c1 1"
        assert client.get("/default/").status_code == 404


def test_jetty_base_is_the_parent_of_the_contexts_directory(tmp_path: Path) -> None:
    """Issue 11 item 11: a Jetty base's webapps/x.xml writing <Property name="jetty.base"/>/site
    finds base/site, not webapps/site; --property jetty.base=... overrides."""
    base = tmp_path / "jetty-base"
    write_counter_app(base / "site")
    write_counter_app(tmp_path / "elsewhere" / "site", "c2")
    (base / "webapps").mkdir()
    (base / "webapps" / "x.xml").write_text(descriptor("/x", "../site").replace(
        '<Property name="jetty.webapps" default="."/>/../site',
        '<Property name="jetty.base"/>/site'))
    with DeployerProcess(base / "webapps") as run, httpx.Client(base_url=run.url) as client:
        assert client.get("/x/").text == "1 c1 1"
        assert f"jetty.base is {base.resolve()}" in run.log()
    with DeployerProcess(base / "webapps", "--property", f"jetty.base={tmp_path / 'elsewhere'}"
                         ) as run, httpx.Client(base_url=run.url) as client:
        assert client.get("/x/").text == "1 c2 1"


def test_a_config_file_sees_the_jetty_base_the_contexts_see(tmp_path: Path) -> None:
    """`run --config` evaluated its server files before jetty.base got its default (the parent
    of the contexts directory), so a server file outside the base read the parent of its own
    directory instead: its <Property name="jetty.base"/>/sessions store landed elsewhere."""
    base = tmp_path / "jetty-base"
    write_counter_app(base / "site")
    (base / "webapps").mkdir()
    (base / "webapps" / "x.xml").write_text(descriptor("/x", "../site"))
    config = tmp_path / "conf" / "sessions.xml"
    config.parent.mkdir()
    config.write_text("""<?xml version="1.0"?>
<Configure id="Server" class="org.eclipse.jetty.server.Server">
  <Call name="addBean"><Arg>
    <New class="org.eclipse.jetty.server.session.FileSessionDataStoreFactory">
      <Set name="storeDir"><Property name="jetty.base"/>/sessions</Set>
    </New>
  </Arg></Call>
</Configure>
""")
    with DeployerProcess(base / "webapps", "--config", str(config), "--scan-interval", "0"
                         ) as run, httpx.Client(base_url=run.url) as client:
        assert [counter(client, "/x/") for _ in range(2)] == [1, 2]
        run.send(signal.SIGTERM)
        assert run.wait_exit() == 0
    assert any((base / "sessions").iterdir()), "the store is not under the contexts' jetty.base"
    assert not (tmp_path / "sessions").exists()


def test_a_config_files_warnings_are_logged(tmp_path: Path) -> None:
    """`run --config` logs a server file's warnings as it logs a context's (they were dropped)."""
    write_counter_app(tmp_path / "site")
    (tmp_path / "contexts").mkdir()
    (tmp_path / "contexts" / "x.xml").write_text(descriptor("/x", "../site"))
    config = tmp_path / "server.xml"
    config.write_text("""<?xml version="1.0"?>
<Configure id="Server" class="org.eclipse.jetty.server.Server">
  <Ref refid="databaseAdaptor"/>
</Configure>
""")
    with DeployerProcess(tmp_path / "contexts", "--config", str(config), "--scan-interval", "0"
                         ) as run:
        run.wait_line(f"WARNING.*{config}:3:3: no object has id 'databaseAdaptor' at this point")


def test_connector_name_and_proxy_headers_options(tree: Path) -> None:
    """`run --connector-name` is what @name virtual hosts match (JETTY.md §10 "virtualHosts entry
    @name naming no connector": 404, and a warning); `--proxy-headers` makes a session cookie
    Secure behind a TLS proxy on 127.0.0.1."""
    contexts = tree / "contexts"
    (contexts / "admin.xml").write_text(descriptor("/admin", "../apps/counter", hosts=["@admin"]))
    (contexts / "other.xml").write_text(descriptor("/other", "../apps/counter", hosts=["@other"]))
    with DeployerProcess(contexts, "--connector-name", "admin", "--proxy-headers") as run, \
            httpx.Client(base_url=run.url) as client:
        r = client.get("/admin/", headers={"x-forwarded-proto": "https"})
        assert r.text == "1 c1 1" and "; Secure" in r.headers["set-cookie"]
        assert client.get("/other/").status_code == 404
        assert "virtualHosts @other name only connectors" in run.log()
    (contexts / "plain.xml").write_text(descriptor("/plain", "../apps/counter"))
    with DeployerProcess(contexts) as run, httpx.Client(base_url=run.url) as client:
        assert client.get("/admin/").status_code == 404  # the listener is unnamed, as Jetty's
        r = client.get("/plain/", headers={"x-forwarded-proto": "https"})
        assert r.text == "1 c1 1" and "Secure" not in r.headers["set-cookie"]  # not believed
