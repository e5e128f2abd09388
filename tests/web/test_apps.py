"""Loading webapps: detection, archives, isolation, reload and failures (over HTTP)."""

from __future__ import annotations

import sys
import textwrap
import zipfile
from pathlib import Path

import httpx
import pytest

from deployer.errors import AppLoadError
from deployer.lifecycle import State
from deployer.web.apps import load_app
from tests.web.conftest import Harness

ECHO = '''
from models import NAME

def application(environ, start_response):
    body = f"{NAME} {environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''


def write(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return base


def test_two_webapps_with_the_same_module_names(harness: Harness, client: httpx.Client,
                                                tmp_path: Path) -> None:
    one = write(tmp_path / "one", {"wsgi.py": ECHO, "models.py": "NAME = 'one'\n"})
    two = write(tmp_path / "two", {"wsgi.py": ECHO, "models.py": "NAME = 'two'\n"})
    harness.context(one, "/one")
    harness.context(two, "/two")
    assert client.get("/one/x").text == "one /one|/x"
    assert client.get("/two/y/z").text == "two /two|/y/z"
    assert "models" not in sys.modules or "one" not in repr(sys.modules.get("models"))


def test_lazy_imports_at_request_time_stay_isolated(harness: Harness, client: httpx.Client,
                                                    tmp_path: Path) -> None:
    app = '''
    def application(environ, start_response):
        import helper
        import pkg.more
        from pkg.sub import VALUE
        start_response("200 OK", [])
        return [f"{helper.NAME}:{VALUE}{pkg.more.X}".encode()]
    '''
    for name in ("a", "b"):
        write(tmp_path / name, {"wsgi.py": app, "helper.py": f"NAME = '{name}'\n",
                                "pkg/__init__.py": "", "pkg/sub.py": f"VALUE = '{name}!'\n",
                                "pkg/more.py": f"X = '{name}'\n"})
        harness.context(tmp_path / name, f"/{name}")
    for _ in range(2):
        assert client.get("/a/").text == "a:a!a"
        assert client.get("/b/").text == "b:b!b"


def test_reload_runs_new_code_even_within_the_same_second(tmp_path: Path) -> None:
    base = write(tmp_path / "app", {"wsgi.py": "application = lambda e, s: [b'AAAA']\n"})
    first = load_app(base, None, "app")
    (base / "wsgi.py").write_text("application = lambda e, s: [b'BBBB']\n")  # same size
    second = load_app(base, None, "app")
    try:
        assert first.raw(None, None) == [b"AAAA"]
        assert second.raw(None, None) == [b"BBBB"]
        assert not (base / "__pycache__").exists()
    finally:
        first.unload()
        second.unload()


def test_explicit_application_and_asgi_detection(harness: Harness, client: httpx.Client,
                                                 tmp_path: Path) -> None:
    base = write(tmp_path / "app", {
        "pkg/__init__.py": "",
        "pkg/web.py": '''
            class App:
                async def __call__(self, scope, receive, send):
                    await send({"type": "http.response.start", "status": 200, "headers": []})
                    await send({"type": "http.response.body", "body": scope["root_path"].encode()})
            holder = type("H", (), {"app": App()})
        ''',
    })
    ctx = harness.context(base, "/x", application="pkg.web:holder.app")
    assert ctx.loaded is not None and ctx.loaded.kind == "asgi"
    assert client.get("/x/anything").text == "/x"


def test_archive_with_code_and_static_files(harness: Harness, client: httpx.Client,
                                            tmp_path: Path) -> None:
    pyz = tmp_path / "app.pyz"
    with zipfile.ZipFile(pyz, "w") as zf:
        zf.writestr("wsgi.py", ECHO)
        zf.writestr("models.py", "NAME = 'zipped'\n")
    site = tmp_path / "site.war"
    with zipfile.ZipFile(site, "w") as zf:
        zf.writestr("index.html", "<p>war</p>")
        zf.writestr("WEB-INF/web.xml", "<secret/>")
    harness.context(pyz, "/code")
    harness.context(site, "/site")
    assert client.get("/code/a").text == "zipped /code|/a"
    r = client.get("/site/")
    assert r.status_code == 200 and r.text == "<p>war</p>"
    assert r.headers["content-type"].startswith("text/html")
    assert client.get("/site/WEB-INF/web.xml").status_code == 404
    assert client.get("/site").status_code == 302


def test_failed_import_answers_503_and_keeps_the_traceback(harness: Harness,
                                                           client: httpx.Client,
                                                           tmp_path: Path) -> None:
    base = write(tmp_path / "bad", {"wsgi.py": "import models\n", "models.py": "1/0\n"})
    ctx = harness.context(base, "/bad")
    assert ctx.state is State.FAILED
    assert isinstance(ctx.error, AppLoadError)
    assert "ZeroDivisionError" in ctx.error.traceback_text
    assert "models.py" in ctx.error.traceback_text
    assert client.get("/bad/").status_code == 503


def test_load_errors_are_app_load_errors(tmp_path: Path) -> None:
    write(tmp_path / "w", {"wsgi.py": "x = 1\n"})
    with pytest.raises(AppLoadError, match="application"):
        load_app(tmp_path / "w", None, "w")
    with pytest.raises(AppLoadError, match="neither"):
        load_app(tmp_path / "missing", None, "m")
    with pytest.raises(AppLoadError, match="module:attr"):
        load_app(tmp_path / "w", "nocolon", "w")


def test_asgi_lifespan_runs_and_failing_lifespan_fails_the_context(
        harness: Harness, client: httpx.Client, tmp_path: Path) -> None:
    ok = write(tmp_path / "ok", {"asgi.py": '''
        EVENTS = []
        async def application(scope, receive, send):
            if scope["type"] == "lifespan":
                while True:
                    msg = await receive()
                    EVENTS.append(msg["type"])
                    if msg["type"] == "lifespan.startup":
                        scope["state"]["db"] = "ready"
                        await send({"type": "lifespan.startup.complete"})
                    else:
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            body = (scope["state"]["db"] + " " + ",".join(EVENTS)).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
    '''})
    bad = write(tmp_path / "bad", {"asgi.py": '''
        async def application(scope, receive, send):
            if scope["type"] == "lifespan":
                await receive()
                raise RuntimeError("no database")
    '''})
    plain = write(tmp_path / "plain", {"asgi.py": '''
        async def application(scope, receive, send):
            assert scope["type"] == "http"
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
    '''})
    good = harness.context(ok, "/ok")
    failed = harness.context(bad, "/bad")
    harness.context(plain, "/plain")
    assert client.get("/ok/").text == "ready lifespan.startup"
    assert failed.state is State.FAILED and "no database" in failed.error.traceback_text
    assert client.get("/bad/").status_code == 503
    assert client.get("/plain/").status_code == 204
    events = good.loaded.modules["asgi"].EVENTS
    harness.run(good.astop())
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_replaced_archive_is_read_afresh(tmp_path: Path) -> None:
    pyz = tmp_path / "app.pyz"
    apps = []
    for text in ("AAAA", "BBBB"):
        pyz.unlink(missing_ok=True)
        with zipfile.ZipFile(pyz, "w") as zf:
            zf.writestr("wsgi.py", "from models import T\napplication = lambda e, s: [T]\n")
            zf.writestr("models.py", f"T = b'{text}'\n")
        apps.append(load_app(pyz, None, "z"))
    try:
        assert [a.raw(None, None) for a in apps] == [[b"AAAA"], [b"BBBB"]]
    finally:
        for a in apps:
            a.unload()


def test_asset_directories_do_not_shadow_the_standard_library(tmp_path: Path) -> None:
    base = write(tmp_path / "app", {
        "email/logo.txt": "not a package",
        "wsgi.py": "import email.utils\n"
                   "application = lambda e, s: [email.utils.__name__.encode()]\n",
    })
    app = load_app(base, None, "app")
    try:
        assert app.raw(None, None) == [b"email.utils"]
    finally:
        app.unload()
