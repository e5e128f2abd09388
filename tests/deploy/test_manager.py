"""The deployment manager in-process with the real loader, sessions and router (no HTTP here;
tests/integration drives the real server)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from deployer.deploy.app import AppState
from deployer.deploy.manager import DeploymentManager
from deployer.deploy.provider import Change, Provider
from deployer.web.router import Router

HEAD = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
"""


def write(path: Path, body: str) -> Path:
    path.write_text(HEAD + body + "</Configure>\n")
    return path


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "wsgi.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [])\n    return [b'ok']\n"
    )
    return app


async def apply(manager: DeploymentManager, *changes: tuple[str, Path]) -> None:
    await manager.apply([Change(kind, path) for kind, path in changes])


def scenario(manager: DeploymentManager, body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body``, then stop the manager, in one event loop: the workers' loop."""
    async def main() -> None:
        try:
            await body()
        finally:
            await manager.stop()

    asyncio.run(main())


def served(router: Router, path: str) -> object:
    entry = router.table.match("localhost", path)
    return None if entry is None else entry.target


def test_server_id_manager_is_shared_and_refs_work(tmp_path: Path, app_dir: Path) -> None:
    router = Router()
    manager = DeploymentManager(router)
    a = write(tmp_path / "a.xml", """
  <Set name="contextPath">/a</Set><Set name="war">app</Set>
  <Ref refid="Server"><Call id="idMgr" name="getSessionIdManager"/></Ref>
  <Get name="sessionHandler"><Get name="sessionManager">
    <Set name="sessionIdManager"><Ref refid="idMgr"/></Set>
  </Get></Get>
""")
    b = write(tmp_path / "b.xml", '<Set name="contextPath">/b</Set><Set name="war">app</Set>\n')

    async def body() -> None:
        await apply(manager, ("add", a), ("add", b))
        assert [s["state"] for s in manager.status()] == ["deployed", "deployed"]
        ids = {manager.apps[p].sessions.id_manager for p in (a, b)}
        assert ids == {manager.id_manager}
        assert served(router, "/a/x") is manager.apps[a].context

    scenario(manager, body)
    assert served(router, "/a/x") is None


def test_failed_redeploy_keeps_the_old_version_and_its_error(tmp_path: Path,
                                                             app_dir: Path) -> None:
    router = Router()
    manager = DeploymentManager(router)
    a = write(tmp_path / "a.xml", '<Set name="contextPath">/a</Set><Set name="war">app</Set>\n')

    async def body() -> None:
        await apply(manager, ("add", a))
        first = manager.apps[a].context
        write(tmp_path / "a.xml", '<Set name="contextPath">/a</Set><Set name="war">gone</Set>\n')
        await apply(manager, ("change", a))
        app = manager.apps[a]
        assert app.state is AppState.FAILED and app.version == 1
        assert app.error is not None and f"{a}:4:" in app.error and "does not exist" in app.error
        assert served(router, "/a/") is first
        await apply(manager, ("remove", a))
        assert served(router, "/a/") is None and a not in manager.apps

    scenario(manager, body)


def test_conflicts_in_one_batch_refuse_the_later_file(tmp_path: Path, app_dir: Path) -> None:
    router = Router()
    manager = DeploymentManager(router)
    a = write(tmp_path / "a.xml", '<Set name="contextPath">/x</Set><Set name="war">app</Set>\n')
    b = write(tmp_path / "b.xml", '<Set name="contextPath">/x/</Set><Set name="war">app</Set>\n')

    async def body() -> None:
        await apply(manager, ("add", a), ("add", b))
        refused = manager.apps[b]
        assert refused.state is AppState.REFUSED
        assert str(a) in refused.error and str(b) in refused.error
        # the message itself, not a tuple's repr: ('...refused', PosixPath('...'))
        assert refused.error == f"{b}: context path /x is already deployed by {a}; refused"
        assert served(router, "/x/") is manager.apps[a].context
        await apply(manager, ("remove", a))  # the refused one gets its turn
        assert manager.apps[b].state is AppState.DEPLOYED
        assert served(router, "/x/") is manager.apps[b].context

    scenario(manager, body)


def test_a_thousand_descriptors_in_one_directory(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    static = ('<?xml version="1.0"?>\n<Configure class="org.eclipse.jetty.server.handler.'
              'ContextHandler">\n  <Set name="contextPath">/c{i}</Set>\n'
              '  <Set name="resourceBase">../site</Set>\n</Configure>\n')
    for i in range(1000):
        (contexts / f"c{i:04d}.xml").write_text(static.format(i=i))
    router = Router()
    manager = DeploymentManager(router)
    counted: list[object] = []

    async def main() -> None:
        provider = Provider(contexts, manager.apply, dependencies=manager.dependencies,
                            scan_interval=0)
        try:
            await provider.start()
            counted.append(sum(a.state is AppState.DEPLOYED for a in manager.apps.values()))
            counted.append(served(router, "/c999/") is manager.apps[contexts / "c0999.xml"]
                           .context)
        finally:
            await provider.stop()
            await manager.stop()

    asyncio.run(main())
    assert counted == [1000, True]


def test_a_context_no_connector_can_reach_is_warned_about(tmp_path: Path, app_dir: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """JETTY.md §10 "virtualHosts entry @name naming no connector": unreachable, so say so."""
    router = Router(connector="main")
    manager = DeploymentManager(router)
    hosts = ('<Set name="virtualHosts"><Array type="String"><Item>@{}</Item></Array></Set>'
             '<Set name="war">app</Set>\n')
    a = write(tmp_path / "a.xml", '<Set name="contextPath">/a</Set>' + hosts.format("other"))
    b = write(tmp_path / "b.xml", '<Set name="contextPath">/b</Set>' + hosts.format("main"))

    async def body() -> None:
        with caplog.at_level("WARNING", logger="deployer"):
            await apply(manager, ("add", a), ("add", b))
        warned = [r.getMessage() for r in caplog.records if "never be reached" in r.getMessage()]
        assert len(warned) == 1 and f"{a}:4:" in warned[0] and "@other" in warned[0]
        assert served(router, "/a/") is None
        assert served(router, "/b/") is manager.apps[b].context

    scenario(manager, body)


def test_conflicts_count_hosts_as_the_listener_admits_them(tmp_path: Path, app_dir: Path) -> None:
    """A ``host@connector`` entry claims that host on that connector, and an entry only for
    another connector claims nothing: the claims follow router.admitted_hosts."""
    router = Router(connector="main")
    manager = DeploymentManager(router)
    hosts = '<Set name="virtualHosts"><Array type="String"><Item>{}</Item></Array></Set>'
    war = '<Set name="war">app</Set>\n'
    a = write(tmp_path / "a.xml", '<Set name="contextPath">/x</Set>' + hosts.format("www.x") + war)
    b = write(tmp_path / "b.xml",
              '<Set name="contextPath">/x</Set>' + hosts.format("www.x@main") + war)
    c = write(tmp_path / "c.xml", '<Set name="contextPath">/y</Set>' + hosts.format("@other") + war)
    d = write(tmp_path / "d.xml", '<Set name="contextPath">/y</Set>' + war)

    async def body() -> None:
        await apply(manager, ("add", a), ("add", b), ("add", c), ("add", d))
        assert manager.apps[b].state is AppState.REFUSED  # www.x on this listener: a's
        assert manager.apps[d].state is AppState.DEPLOYED  # c reaches no one: /y is d's
        assert served(router, "/y/") is manager.apps[d].context

    scenario(manager, body)
