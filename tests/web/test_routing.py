"""Routing over HTTP: longest context path on a segment boundary, virtual hosts, 404, redirects."""

from __future__ import annotations

from pathlib import Path

import httpx

from deployer.web.context import Redirect
from deployer.web.router import Route, Router, RouteTable
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
    assert client.get("/shop").text == "shop /shop|"
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
