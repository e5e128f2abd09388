"""Routing over HTTP: longest context path on a segment boundary, virtual hosts, 404, redirects."""

from __future__ import annotations

import http.client
from pathlib import Path

import httpx

from deployer.web.context import Redirect
from deployer.web.router import Route, Router, RouteTable, reachable
from tests.web.conftest import Harness

APP = '''
def application(environ, start_response):
    start_response("200 OK", [])
    return [f"{NAME} {environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()]
'''


def app(tmp_path: Path, name: str) -> Path:
    base = tmp_path / name
    base.mkdir()
    (base / "wsgi.py").write_text(f"NAME = {name!r}\n" + APP)
    return base


def test_longest_prefix_on_segment_boundaries(harness: Harness, client: httpx.Client,
                                              tmp_path: Path) -> None:
    assert client.get("/anything").status_code == 404  # nothing routed yet
    harness.context(app(tmp_path, "shop"), "/shop")
    harness.context(app(tmp_path, "cart"), "/shop/cart/")
    assert client.get("/shopping").status_code == 404
    harness.context(app(tmp_path, "root"), "/")
    r = client.get("/shop?q=1")  # JETTY.md §10 "/ctx without trailing slash": 302 to /ctx/
    assert r.status_code == 302
    assert r.headers["location"] == f"http://127.0.0.1:{harness.server.port}/shop/?q=1"
    assert client.get("/shop/").text == "shop /shop|/"
    assert client.get("/shop/x").text == "shop /shop|/x"
    assert client.get("/shop/cart/1").text == "cart /shop/cart|/1"
    assert client.get("/shop/cartx").text == "shop /shop|/cartx"
    assert client.get("/shopping").text == "root |/shopping"
    assert client.get("/").text == "root |/"


def test_virtual_hosts(harness: Harness, client: httpx.Client, tmp_path: Path) -> None:
    harness.context(app(tmp_path, "any"), "/")
    harness.context(app(tmp_path, "exact"), "/", hosts=["www.example.com"])
    harness.context(app(tmp_path, "wild"), "/", hosts=["*.example.org"])

    def host(h: str) -> str:
        return client.get("/p", headers={"host": h}).text.split()[0]

    assert host("www.example.com") == "exact"
    assert host("WWW.Example.COM:8080") == "exact"
    assert host("a.example.org") == "wild"
    assert host("a.b.example.org") == "any"  # "*." covers one label, as in Jetty
    assert host("example.org") == "any"
    assert host("other") == "any"


def test_swap_is_whole_table(tmp_path: Path) -> None:
    router = Router([Route("/a", (), "A")])
    old = router.swap(RouteTable([Route("/b", (), "B")]))
    assert [r.target for r in old.routes] == ["A"]
    assert router.table.match("h", "/b/x").target == "B"
    assert router.table.match("h", "/a") is None


def test_moved_context_redirects(harness: Harness, client: httpx.Client) -> None:
    harness.context(None, "/old", redirect=Redirect("/new"))
    harness.context(None, "/gone", redirect=Redirect("/n", permanent=True, discard_path_info=True,
                                                     discard_query=True))
    r = client.get("/old/a/b?x=1")
    assert r.status_code == 302
    assert r.headers["location"] == f"http://127.0.0.1:{harness.server.port}/new/a/b?x=1"
    r = client.get("/gone/a?x=1")
    assert r.status_code == 301
    assert r.headers["location"] == f"http://127.0.0.1:{harness.server.port}/n"


def test_every_context_kind_redirects_to_the_slash(harness: Harness, client: httpx.Client,
                                                  tmp_path: Path) -> None:
    """JETTY.md §10 "/ctx without trailing slash, any context kind": 302 to /ctx/ (absolute)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")
    harness.context(site, "/static")
    harness.context(app(tmp_path, "py"), "/py")
    harness.context(None, "/moved", redirect=Redirect("/py"))
    for ctx in ("/static", "/py"):
        r = client.get(ctx)
        assert r.status_code == 302, ctx
        assert r.headers["location"] == f"http://127.0.0.1:{harness.server.port}{ctx}/"
        assert client.get(r.headers["location"]).status_code == 200
    r = client.get("/moved")  # a MovedContextHandler allows a null path info: it answers itself
    assert r.headers["location"] == f"http://127.0.0.1:{harness.server.port}/py"


def _raw_get(harness: Harness, path: str, host: str = "127.0.0.1") -> tuple[int, str]:
    """GET with the path sent as written (httpx resolves dot segments itself, Jetty's clients
    need not)."""
    conn = http.client.HTTPConnection("127.0.0.1", harness.server.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def test_host_trailing_dot_and_dot_segments_are_normalised(harness: Harness, client: httpx.Client,
                                                           tmp_path: Path) -> None:
    """JETTY.md §10 "virtualHosts Example.COM." and "dot segments /a/b/../x.txt"."""
    harness.context(app(tmp_path, "ex"), "/a", hosts=["Example.COM."])
    harness.context(app(tmp_path, "other"), "/x")
    for host in ("example.com", "EXAMPLE.com.", "example.com.:8080"):
        assert _raw_get(harness, "/a/", host) == (200, "ex /a|/"), host
    assert _raw_get(harness, "/a/", "example.org")[0] == 404
    assert _raw_get(harness, "/a/b/../x.txt", "example.com") == (200, "ex /a|/x.txt")
    assert _raw_get(harness, "/a/../x/./y/", "example.com") == (200, "other /x|/y/")
    assert _raw_get(harness, "/x/./", "example.com") == (200, "other /x|/")
    assert _raw_get(harness, "/a/../../etc/passwd")[0] == 400


def test_connector_virtual_hosts(tmp_path: Path) -> None:
    """JETTY.md §10 "virtualHosts entry @name naming no connector": unreachable (404)."""
    routes = [Route("/admin", ("@admin",), "A"), Route("/both", ("www.x@admin", "y"), "B"),
              Route("/", (), "R")]
    plain = RouteTable(routes)  # an unnamed connector
    assert plain.match("h", "/admin/").target == "R"
    assert plain.match("www.x", "/both/").target == "R"
    assert plain.match("y", "/both/").target == "B"
    admin = RouteTable(routes, "admin")
    assert admin.match("h", "/admin/").target == "A"
    assert admin.match("www.x", "/both/").target == "B"
    assert admin.match("z", "/both/").target == "R"
    assert not reachable(["@other"], None) and not reachable(["@other"], "main")
    assert reachable(["@Main"], "main") and reachable(["h", "@other"], None) and reachable([], None)
    assert not reachable(["@"], None) and RouteTable([Route("/e", ("@",), "E")]).match("h", "/e/") \
        is None  # an empty connector name names no connector, not the unnamed one


def test_a_named_listener_serves_its_connector_contexts(tmp_path: Path) -> None:
    harness = Harness(connector="admin")
    try:
        harness.context(app(tmp_path, "adm"), "/adm", hosts=["@admin"])
        harness.context(app(tmp_path, "oth"), "/oth", hosts=["@other"])
        with httpx.Client(base_url=harness.url) as c:
            assert c.get("/adm/").text == "adm /adm|/"
            assert c.get("/oth/").status_code == 404
    finally:
        harness.close()
