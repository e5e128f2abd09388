"""Real frameworks under a real `deployer run`: Django's admin, Flask blueprints, FastAPI, lib/.

Each webapp runs in a virtualenv of its own with Flask, Django and FastAPI installed from PyPI
(tests/support/venvs.py, built once per machine), named by the descriptor's ``virtualenv`` as a
user would; deployer's own venv has none of them. Slow: run with --run-slow.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.integration.harness import DeployerProcess, poll, save_atomically
from tests.support.venvs import framework_venv, install_lib

pytestmark = pytest.mark.slow

FRAMEWORKS = Path(__file__).resolve().parent / "frameworks"
REDEPLOYED = r"redeployed .*{name}\.xml"


@pytest.fixture(scope="module")
def venv() -> Path:
    return framework_venv()


def webapp_xml(context_path: str, war: Path, *, venv: Path | None = None,
               application: str | None = None, store: Path | None = None) -> str:
    """A WebAppContext descriptor with the settings these tests use (absolute paths)."""
    settings = [f'<Set name="contextPath">{context_path}</Set>', f'<Set name="war">{war}</Set>']
    if venv is not None:
        settings.append(f'<Set name="virtualenv">{venv}</Set>')
    if application is not None:
        settings.append(f'<Set name="application">{application}</Set>')
    if store is not None:  # else the in-memory sessions every WebAppContext has
        settings.append(
            '<Get name="sessionHandler"><Set name="sessionManager">'
            '<New class="org.eclipse.jetty.server.session.HashSessionManager">'
            f'<Set name="storeDirectory">{store}</Set></New></Set></Get>')
    body = "\n  ".join(settings)
    return ('<?xml version="1.0"?>\n'
            '<Configure class="org.eclipse.jetty.webapp.WebAppContext">\n'
            f"  {body}\n</Configure>\n")


@contextlib.contextmanager
def serving(contexts: Path, *args: str) -> Iterator[DeployerProcess]:
    """A DeployerProcess whose log is printed when the test fails (pytest shows it then)."""
    run = DeployerProcess(contexts, *args)
    try:
        with run:
            yield run
    except BaseException:
        print(f"deployer's log:\n{run.log()}")
        raise


def session_cookies(response: httpx.Response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]


def jsessionid(client: httpx.Client) -> str | None:
    return client.cookies.get("JSESSIONID")


def assert_no_app_session_cookie(response: httpx.Response) -> None:
    """The app set no session cookie of its own: every Set-Cookie is JSESSIONID (or csrftoken)."""
    names = {c.split("=", 1)[0].strip() for c in session_cookies(response)}
    assert names <= {"JSESSIONID", "csrftoken", "messages"}, session_cookies(response)


# -- Django --------------------------------------------------------------------------------------

DJANGO_VIEWS = '''\
from django.http import HttpResponse


def visit(request):
    """Counts in the session; ?expiry=N sets the session's expiry (maxInactiveInterval)."""
    request.session["visits"] = request.session.get("visits", 0) + 1
    if "expiry" in request.GET:
        request.session.set_expiry(int(request.GET["expiry"]))
    return HttpResponse(f"{request.session.session_key} {request.session['visits']} "
                        f"{request.session.get_expiry_age()} {request.user.username or '-'}")
'''

DJANGO_URLS = '''\
from django.contrib import admin
from django.urls import path

from mysite import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("visit/", views.visit),
]
'''

DJANGO_URLS_ADDED = '''
from django.http import HttpResponse


def hello(request):
    return HttpResponse(f"hello {request.user.username}")


urlpatterns.append(path("hello/", hello))
'''


def run_checked(args: list[str], **kwargs: Any) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"


def django_project(venv: Path, directory: Path) -> Path:
    """``django-admin startproject mysite``, migrated, with a superuser, on deployer's sessions."""
    python = str(venv / "bin" / "python")
    directory.mkdir(parents=True)
    run_checked([python, "-m", "django", "startproject", "mysite", str(directory)])
    settings = directory / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nSESSION_ENGINE = "deployer.worker.django"\n')
    (directory / "mysite" / "views.py").write_text(DJANGO_VIEWS)
    (directory / "mysite" / "urls.py").write_text(DJANGO_URLS)
    env = dict(os.environ, DJANGO_SUPERUSER_PASSWORD="s3cret-Pa55")
    for args in (["migrate", "--noinput"],
                 ["createsuperuser", "--noinput", "--username", "admin",
                  "--email", "admin@example.com"]):
        run_checked([python, "manage.py", *args], cwd=directory, env=env)
    return directory


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def test_django_admin_login_sessions_and_an_edit_to_urls(venv: Path, tmp_path: Path) -> None:
    project = django_project(venv, tmp_path / "apps" / "mysite")
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    (contexts / "site.xml").write_text(webapp_xml(
        "/site", project, venv=venv, application="mysite.wsgi:application"))
    with serving(contexts, "--scan-interval", "1") as run, \
            httpx.Client(base_url=run.url, timeout=20) as client:
        run.wait_line(r"deployed .*site\.xml")
        # a session before login, as Django sees it: its key is deployer's JSESSIONID
        r = client.get("/site/visit/")
        assert r.status_code == 200, r.text
        before = jsessionid(client)
        assert before and r.text == f"{before} 1 1800 -"
        assert_no_app_session_cookie(r)

        r = client.get("/site/admin/")
        assert r.status_code == 302
        assert r.headers["location"] == "/site/admin/login/?next=/site/admin/"
        r = client.get("/site/admin/login/", params={"next": "/site/admin/"})
        assert r.status_code == 200
        r = client.post("/site/admin/login/", params={"next": "/site/admin/"}, data={
            "csrfmiddlewaretoken": csrf_token(r.text), "username": "admin",
            "password": "s3cret-Pa55", "next": "/site/admin/"})
        assert (r.status_code, r.headers.get("location")) == (302, "/site/admin/"), r.text
        assert_no_app_session_cookie(r)
        after = jsessionid(client)
        assert after and after != before  # login() cycled the key through deployer

        r = client.get("/site/admin/")
        assert r.status_code == 200 and "Site administration" in r.text, r.text
        assert re.search(r"Welcome,\s*<strong>admin</strong>", r.text)
        r = client.get("/site/visit/", params={"expiry": "600"})
        assert r.text == f"{after} 2 600 admin"  # the data went along with the new id
        assert client.get("/site/visit/").text == f"{after} 3 600 admin"  # the front kept 600

        # the old session is gone: a client holding its id is not logged in, and starts anew
        with httpx.Client(base_url=run.url, cookies={"JSESSIONID": before}) as stale:
            assert stale.get("/site/admin/").status_code == 302
            key, visits = stale.get("/site/visit/").text.split()[:2]
            assert visits == "1" and key != before

        mark = run.mark()
        save_atomically(project / "mysite" / "urls.py", DJANGO_URLS + DJANGO_URLS_ADDED)
        run.wait_line(REDEPLOYED.format(name="site"), after=mark, timeout=30)
        r = poll(lambda: client.get("/site/hello/"), lambda r: r.status_code == 200,
                 timeout=30, what="the view added to urls.py")
        assert r.text == "hello admin"  # still logged in: the session outlived the redeploy

        r = client.post("/site/admin/logout/",
                        headers={"X-CSRFToken": client.cookies["csrftoken"]})
        assert r.status_code == 200, r.text  # flush(): deployer's session ends
        assert client.get("/site/admin/").status_code == 302


# -- Flask ---------------------------------------------------------------------------------------

def test_flask_blueprints_under_a_context_path_and_sessions_that_outlive_restarts(
        venv: Path, tmp_path: Path) -> None:
    app = tmp_path / "apps" / "shop"
    shutil.copytree(FRAMEWORKS / "flask_shop", app)
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    (contexts / "shop.xml").write_text(webapp_xml(
        "/shop", app, venv=venv, store=tmp_path / "sessions" / "shop"))
    client = httpx.Client(timeout=20)
    try:
        with serving(contexts, "--scan-interval", "1") as run:
            client.base_url = httpx.URL(run.url)
            r = client.get("/shop/cart/")
            assert (r.status_code, r.headers["location"]) == (302, "/shop/login/")
            assert_no_app_session_cookie(r)
            assert "cookie" in r.headers.get("vary", "").lower()
            first = jsessionid(client)
            assert first  # flash() wrote to the session: the front set its cookie
            assert client.get("/shop/login/").text == "login: please log in"
            assert client.get("/shop/login/").text == "login: "  # flashed once

            r = client.post("/shop/login/", data={"user": "ann"})
            assert (r.status_code, r.headers["location"]) == (302, "/shop/cart/")
            assert jsessionid(client) not in (None, first)  # session.clear() on login
            assert client.get("/shop/cart/").text == "v1 ann 1 /shop/cart/"
            assert client.post("/shop/cart/add/apple").text == "ok"
            assert client.post("/shop/cart/add/pear").text == "ok"
            assert client.get("/shop/cart/items").text == "apple,pear tuple pear"
            assert client.get("/shop/cart/flags").text == (
                "new=False modified=False then modified=True permanent=True")
            r = client.post("/shop/cart/kinds")
            assert r.text.startswith("session attribute 'bad' is not JSON-serialisable (set)")
            assert client.get("/shop/cart/kinds").text == (
                "bytes:bytes markup:Markup pair:tuple uuid:UUID when:datetime")

            mark = run.mark()
            version = app / "shop" / "version.py"
            save_atomically(version, version.read_text().replace("v1", "v2"))
            run.wait_line(REDEPLOYED.format(name="shop"), after=mark, timeout=30)
            r = poll(lambda: client.get("/shop/cart/"), lambda r: r.text.startswith("v2"),
                     timeout=30, what="the edited shop")
            assert r.text == "v2 ann 2 /shop/cart/"
            run.send(signal.SIGTERM)
            assert run.wait_exit() == 0
        with serving(contexts, "--scan-interval", "1") as run:
            client.base_url = httpx.URL(run.url)
            assert client.get("/shop/cart/").text == "v2 ann 3 /shop/cart/"
            assert client.get("/shop/cart/items").text == "apple,pear tuple pear"
    finally:
        client.close()


# -- FastAPI -------------------------------------------------------------------------------------

def test_fastapi_streaming_websocket_and_lifespan(venv: Path, tmp_path: Path) -> None:
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    (contexts / "api.xml").write_text(webapp_xml("/api", FRAMEWORKS / "fastapi_app", venv=venv))
    with serving(contexts, "--scan-interval", "0") as run, \
            httpx.Client(base_url=run.url, timeout=20) as client:
        assert client.get("/api/state").json() == {"greeting": "set at startup",
                                                   "phase": "started"}
        with client.stream("GET", "/api/stream") as r:
            assert r.status_code == 200
            chunks = r.iter_raw()
            # the second chunk is not made until /release: the first has to arrive on its own
            assert next(chunks) == b"first\n"
            released: list[int] = []
            t = threading.Thread(target=lambda: released.append(
                httpx.post(f"{run.url}/api/release", timeout=20).status_code))
            t.start()
            assert b"".join(chunks) == b"second\n"
            t.join(20)
            assert released == [200]
        ws_url = run.url.replace("http://", "ws://") + "/api/ws"
        with connect(ws_url, open_timeout=20) as ws:
            for text in ("hello", "again"):
                ws.send(text)
                assert ws.recv(timeout=20) == f"echo: {text}"


# -- lib/ and two versions of one package ----------------------------------------------------------

VERSION_APP = textwrap.dedent('''\
    import sys

    import six
    from stock import NAME


    def application(environ, start_response):
        body = f"{NAME} six {six.__version__} from {six.__file__} on {sys.executable}".encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    ''')


def versioned_app(directory: Path, six: str, name: str) -> Path:
    """A webapp with ``six==six`` installed in its lib/ and a package of its own there."""
    directory.mkdir(parents=True)
    (directory / "wsgi.py").write_text(VERSION_APP)
    install_lib(directory, [f"six=={six}"])
    (directory / "lib" / "stock").mkdir()
    (directory / "lib" / "stock" / "__init__.py").write_text(f"NAME = {name!r}\n")
    return directory


def test_two_contexts_two_versions_of_one_package_from_their_own_lib(
        venv: Path, tmp_path: Path) -> None:
    old = versioned_app(tmp_path / "apps" / "old", "1.16.0", "old-stock")
    new = versioned_app(tmp_path / "apps" / "new", "1.17.0", "new-stock")
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    (contexts / "old.xml").write_text(webapp_xml("/old", old, venv=venv))
    (contexts / "new.xml").write_text(webapp_xml("/new", new))  # deployer's own interpreter
    with serving(contexts, "--scan-interval", "0") as run, \
            httpx.Client(base_url=run.url, timeout=20) as client:
        r_old, r_new = client.get("/old/"), client.get("/new/")
        assert r_old.text.startswith(f"old-stock six 1.16.0 from {old / 'lib' / 'six.py'} on "
                                     f"{venv / 'bin' / 'python'}"), r_old.text
        assert r_new.text.startswith(f"new-stock six 1.17.0 from {new / 'lib' / 'six.py'} on "
                                     ), r_new.text
        assert str(venv) not in r_new.text
