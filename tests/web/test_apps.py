"""Webapps in worker processes: what a war holds, how it is imported, and how loading fails.

Every app here runs in a real worker process, as under `deployer run`.
"""

from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

import httpx
import pytest

from deployer.errors import AppLoadError
from deployer.lifecycle import State
from deployer.web.apps import AppEntry, find_app
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


def test_what_a_war_holds(tmp_path: Path) -> None:
    assert find_app(write(tmp_path / "w", {"wsgi.py": ""})) == AppEntry("wsgi:application", "wsgi")
    assert find_app(write(tmp_path / "a", {"asgi.py": ""})) == AppEntry("asgi:application", "asgi")
    assert find_app(write(tmp_path / "s", {"index.html": ""})) == AppEntry(None)
    assert find_app(tmp_path / "s", "pkg.mod:make()").entry == "pkg.mod:make()"
    with pytest.raises(AppLoadError, match="module:attr"):
        find_app(tmp_path / "s", "nocolon")


def test_two_webapps_with_the_same_module_names(harness: Harness, client: httpx.Client,
                                                tmp_path: Path) -> None:
    one = write(tmp_path / "one", {"wsgi.py": ECHO, "models.py": "NAME = 'one'\n"})
    two = write(tmp_path / "two", {"wsgi.py": ECHO, "models.py": "NAME = 'two'\n"})
    harness.context(one, "/one")
    harness.context(two, "/two")
    assert client.get("/one/x").text == "one /one|/x"
    assert client.get("/two/y/z").text == "two /two|/y/z"


def test_the_war_is_importable_every_way_python_allows(harness: Harness, client: httpx.Client,
                                                       tmp_path: Path) -> None:
    """Django's failure on the old in-process importer: importlib at request time."""
    app = '''
    import importlib, os, pkgutil, sys

    def application(environ, start_response):
        urls = importlib.import_module("site_pkg.urls")
        found = sorted(m.name for m in pkgutil.iter_modules(["site_pkg"]))
        body = "|".join([urls.ROUTE, ",".join(found), os.getcwd(), sys.path[0]])
        start_response("200 OK", [])
        return [body.encode()]
    '''
    base = write(tmp_path / "proj", {"wsgi.py": app, "site_pkg/__init__.py": "",
                                     "site_pkg/urls.py": "ROUTE = 'admin/'\n"})
    harness.context(base, "/p")
    route, modules, cwd, first = client.get("/p/").text.split("|")
    assert route == "admin/" and modules == "urls"
    assert cwd == str(base.resolve()) and first == str(base.resolve())


def test_explicit_application_factory_and_asgi_detection(harness: Harness,
                                                         client: httpx.Client,
                                                         tmp_path: Path) -> None:
    base = write(tmp_path / "app", {
        "pkg/__init__.py": "",
        "pkg/web.py": '''
            class App:
                async def __call__(self, scope, receive, send):
                    await send({"type": "http.response.start", "status": 200, "headers": []})
                    await send({"type": "http.response.body", "body": scope["root_path"].encode()})
            holder = type("H", (), {"app": App()})

            def create_app():
                def wsgi(environ, start_response):
                    start_response("200 OK", [])
                    return [b"made"]
                return wsgi
        ''',
    })
    asgi = harness.context(base, "/x", application="pkg.web:holder.app")
    wsgi = harness.context(base, "/f", application="pkg.web:create_app()")
    assert asgi.kind == "asgi" and wsgi.kind == "wsgi"
    assert client.get("/x/anything").text == "/x"
    assert client.get("/f/").text == "made"


def test_lib_comes_before_site_packages_and_is_importable(harness: Harness,
                                                           client: httpx.Client,
                                                           tmp_path: Path) -> None:
    """lib/ is Jetty's WEB-INF/lib: a package there shadows the interpreter's own copy."""
    app = '''
    import sys, httpx, tinylib

    def application(environ, start_response):
        start_response("200 OK", [])
        return [f"{httpx.__version__} {tinylib.WHO} {httpx.__file__}".encode()]
    '''
    base = write(tmp_path / "war", {
        "wsgi.py": app, "lib/tinylib.py": "WHO = 'lib'\n",
        "lib/httpx/__init__.py": "__version__ = 'from-lib'\n",
    })
    harness.context(base, "/w")
    version, who, where = client.get("/w/").text.split(" ", 2)
    assert (version, who) == ("from-lib", "lib")
    assert where.startswith(str((base / "lib").resolve()))


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
    missing = write(tmp_path / "missing", {"wsgi.py": "x = 1\n"})
    ctx = harness.context(base, "/bad")
    assert ctx.state is State.FAILED
    assert isinstance(ctx.error, AppLoadError)
    assert "ZeroDivisionError" in ctx.error.traceback_text
    assert "models.py" in ctx.error.traceback_text
    assert client.get("/bad/").status_code == 503
    nothing = harness.context(missing, "/m")
    assert nothing.state is State.FAILED and "has no attribute 'application'" in str(nothing.error)


def test_an_exit_while_importing_is_a_load_failure(harness: Harness, tmp_path: Path) -> None:
    base = write(tmp_path / "quits", {"wsgi.py": "import sys\nsys.exit(3)\n"})
    ctx = harness.context(base, "/q")
    assert ctx.state is State.FAILED and "SystemExit" in str(ctx.error)


def test_asgi_lifespan_runs_and_failing_lifespan_fails_the_context(
        harness: Harness, client: httpx.Client, tmp_path: Path) -> None:
    done = tmp_path / "shutdown.txt"
    ok = write(tmp_path / "ok", {"asgi.py": f'''
        EVENTS = []
        async def application(scope, receive, send):
            if scope["type"] == "lifespan":
                while True:
                    msg = await receive()
                    EVENTS.append(msg["type"])
                    if msg["type"] == "lifespan.startup":
                        scope["state"]["db"] = "ready"
                        await send({{"type": "lifespan.startup.complete"}})
                    else:
                        open({str(done)!r}, "w").write(",".join(EVENTS))
                        await send({{"type": "lifespan.shutdown.complete"}})
                        return
            body = (scope["state"]["db"] + " " + ",".join(EVENTS)).encode()
            await send({{"type": "http.response.start", "status": 200, "headers": []}})
            await send({{"type": "http.response.body", "body": body}})
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
    harness.run(good.astop())
    assert done.read_text() == "lifespan.startup,lifespan.shutdown"


def test_a_new_pool_runs_code_edited_within_the_same_second(harness: Harness,
                                                            client: httpx.Client,
                                                            tmp_path: Path) -> None:
    """A .pyc records mtime in whole seconds and the size: the war's own code skips it."""
    base = write(tmp_path / "app", {
        "wsgi.py": "from models import T\napplication = lambda e, s: (s('200 OK', []), [T])[1]\n",
        "models.py": "T = b'AAAA'\n",
    })
    harness.context(base, "/one")
    assert client.get("/one/").text == "AAAA"
    (base / "models.py").write_text("T = b'BBBB'\n")  # same size, same second
    harness.context(base, "/two")
    assert client.get("/two/").text == "BBBB"
    assert not (base / "__pycache__").exists()


def test_asset_directories_do_not_shadow_the_standard_library(harness: Harness,
                                                              client: httpx.Client,
                                                              tmp_path: Path) -> None:
    base = write(tmp_path / "app", {
        "email/logo.txt": "not a package",
        "wsgi.py": "import email.utils\n"
                   "application = lambda e, s: (s('200 OK', []), "
                   "[email.utils.__name__.encode()])[1]\n",
    })
    harness.context(base, "/e")
    assert client.get("/e/").text == "email.utils"


def test_the_worker_sees_only_its_own_deployer(harness: Harness, client: httpx.Client,
                                               tmp_path: Path) -> None:
    """deployer.worker is importable (the adapters live there); the front's packages are not."""
    base = write(tmp_path / "app", {"wsgi.py": '''
        import importlib

        def application(environ, start_response):
            import deployer.worker
            try:
                importlib.import_module("deployer.web")
                front = "visible"
            except ImportError:
                front = "hidden"
            start_response("200 OK", [])
            return [f"{deployer.worker.current_session() is not None} {front}".encode()]
    '''})
    harness.context(base, "/d")
    assert client.get("/d/").text == "False hidden"
