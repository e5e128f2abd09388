"""Static sites over HTTP: validators, ranges, HEAD, welcome files, protected and escaping paths."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import SAMPLES, Harness


def raw_get(harness: Harness, target: str) -> int:
    """Send a request line exactly as written (clients normalise ``..`` away)."""
    with socket.create_connection(("127.0.0.1", harness.server.port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.fixture
def site(harness: Harness, tmp_path: Path) -> Path:
    base = tmp_path / "site"
    (base / "docs").mkdir(parents=True)
    (base / "WEB-INF").mkdir()
    (base / "index.html").write_text("<h1>home</h1>")
    (base / "docs" / "index.htm").write_text("docs")
    (base / "data.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB: streamed in chunks
    (base / "app.js").write_text("let a = 1;")
    (base / "WEB-INF" / "secret.txt").write_text("secret")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", base / "escape.txt")
    harness.context(base, "/s")
    return base


def test_welcome_files_redirects_and_types(site: Path, client: httpx.Client) -> None:
    r = client.get("/s/")
    assert r.status_code == 200 and r.text == "<h1>home</h1>"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    r = client.get("/s/docs?q=1")
    assert r.status_code == 302 and r.headers["location"] == "/s/docs/?q=1"
    assert client.get("/s/docs/").text == "docs"
    assert "javascript" in client.get("/s/app.js").headers["content-type"]
    assert client.get("/s/nothing").status_code == 404
    assert client.post("/s/").status_code == 405


def test_conditional_get(site: Path, client: httpx.Client) -> None:
    r = client.get("/s/index.html")
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert client.get("/s/index.html", headers={"if-none-match": etag}).status_code == 304
    assert client.get("/s/index.html", headers={"if-none-match": f'W/{etag}, "x"'}).status_code \
        == 304
    assert client.get("/s/index.html", headers={"if-none-match": '"other"'}).status_code == 200
    assert client.get("/s/index.html",
                      headers={"if-modified-since": modified}).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get("/s/index.html", headers={"if-modified-since": old}).status_code == 200


def test_ranges_and_head(site: Path, client: httpx.Client) -> None:
    full = (site / "data.bin").read_bytes()
    r = client.get("/s/data.bin")
    assert r.content == full and r.headers["accept-ranges"] == "bytes"
    r = client.get("/s/data.bin", headers={"range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == full[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(full)}"
    r = client.get("/s/data.bin", headers={"range": "bytes=-5"})
    assert r.status_code == 206 and r.content == full[-5:]
    r = client.get("/s/data.bin", headers={"range": "bytes=1000-"})
    assert r.status_code == 206 and r.content == full[1000:]
    r = client.get("/s/data.bin", headers={"range": f"bytes={len(full)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(full)}"
    r = client.get("/s/data.bin", headers={"range": "bytes=0-1", "if-range": '"stale"'})
    assert r.status_code == 200
    r = client.head("/s/data.bin")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(full))


@pytest.mark.parametrize("target", [
    "/s/WEB-INF/secret.txt", "/s/web-inf/secret.txt", "/s/Web-Inf/secret.txt",
    "/s/%57EB-INF/secret.txt", "/s/META-INF/x", "/s/../outside.txt", "/s/%2e%2e/outside.txt",
    "/s/docs/%2E%2E/%2e%2e/outside.txt", "/s/docs/..%2f..%2foutside.txt", "/s/escape.txt",
    "/s/%00index.html", "/s/..\\outside.txt", "/s//etc/passwd", "/s/docs/../../outside.txt",
])
def test_nothing_outside_the_base_or_protected_is_served(site: Path, harness: Harness,
                                                         target: str) -> None:
    assert raw_get(harness, target) in (400, 404)


def test_sample_static_site_hides_web_inf(harness: Harness, client: httpx.Client) -> None:
    harness.context(SAMPLES / "static-site", "/")
    assert "static site" in client.get("/").text
    assert client.get("/css/site.css").headers["content-type"].startswith("text/css")
    assert client.get("/WEB-INF/secret.txt").status_code == 404
    assert client.get("/META-INF/MANIFEST.MF").status_code == 404


def test_path_parameters_name_no_file(site: Path, harness: Harness, client: httpx.Client) -> None:
    assert client.get("/s/index.html;jsessionid=abc").text == "<h1>home</h1>"
    assert raw_get(harness, "/s/docs/..;x/..;y/outside.txt") == 404
    assert raw_get(harness, "/s/WEB-INF;x/secret.txt") == 404


def test_directory_listing_only_when_allowed(harness: Harness, client: httpx.Client,
                                             tmp_path: Path) -> None:
    """JETTY.md §10 "directory without welcome file": listed when dirAllowed/directoriesListed
    (deployer: off by default, so 403 unless the descriptor turns it on)."""
    from deployer.web.context import ContextInfo, WebContext
    from deployer.web.static import StaticFiles

    base = tmp_path / "files"
    (base / "sub dir").mkdir(parents=True)
    (base / "WEB-INF").mkdir()
    (base / "<img src=x onerror=alert(1)>.txt").write_text("x")
    (base / "a&b.txt").write_text("y")
    (base / ".hidden").write_text("z")
    harness.context(base, "/off")
    listed = WebContext(ContextInfo("/on"), [], StaticFiles(base, list_directories=True))
    harness.run(listed.astart())
    harness.add(listed, "/on")
    assert client.get("/off/").status_code == 403
    r = client.get("/on/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<img" not in r.text and "&lt;img src=x onerror=alert(1)&gt;.txt" in r.text
    assert 'href="sub%20dir/"' in r.text and "a&amp;b.txt" in r.text
    assert "WEB-INF" not in r.text and ".hidden" not in r.text
    assert 'href="../"' not in r.text  # the context's root has no parent to offer
    sub = client.get("/on/sub%20dir/")
    assert sub.status_code == 200 and 'href="../"' in sub.text
    assert client.head("/on/").headers["content-length"] == str(len(r.content))


def test_dir_allowed_settings_reach_the_static_files(tmp_path: Path) -> None:
    from deployer.deploy.build import WorkerDefaults, resolve, webapp
    from tests.descriptor.helpers import ctx

    (tmp_path / "www").mkdir()
    for body, listed in [
        ('<Set name="resourceBase">www</Set>', False),
        ('<Set name="resourceBase">www</Set><Call name="setInitParameter">'
         '<Arg>org.eclipse.jetty.servlet.Default.dirAllowed</Arg><Arg>true</Arg></Call>', True),
        ('<Set name="handler"><New class="org.eclipse.jetty.server.handler.ResourceHandler">'
         '<Set name="resourceBase">www</Set><Set name="directoriesListed">true</Set></New></Set>',
         True),
    ]:
        cls = "org.eclipse.jetty.server.handler.ContextHandler" if "handler" in body else None
        spec = ctx(tmp_path, '<Set name="contextPath">/x</Set>' + body,
                   **({"cls": cls} if cls else {}))
        files = webapp(spec, resolve(spec, tmp_path / "ctx.xml"), "x",
                       defaults=WorkerDefaults(), environ={}, worker_name=None, max_inactive=1)
        assert files.list_directories is listed, body
