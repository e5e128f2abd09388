"""The provider against real files and real watchdog events: sorted initial scan, filters, the
settle rule, watching contexts/ and what of a webapp redeploys it, rescan and verify."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from deployer.deploy.provider import VERIFY_SCANS, Change, Provider, is_descriptor_name
from deployer.deploy.watch import Dependencies, site_packages
from tests.integration.harness import save_atomically


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[Change]] = []
        self.changed = asyncio.Event()

    async def __call__(self, batch: list[Change]) -> None:
        self.batches.append(batch)
        self.changed.set()

    @property
    def events(self) -> list[tuple[str, str]]:
        return [(c.kind, c.path.name) for b in self.batches for c in b]

    async def wait_for(self, predicate, timeout: float = 30.0) -> None:
        """A deadline for the event, not a figure: a busy machine may take seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; events so far: {self.events}"
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


@pytest.mark.parametrize(
    "name,ok",
    [("a.xml", True), ("A.XML", True), (".a.xml", False), ("a.xml~", False), ("a.xml.swp", False),
     (".#a.xml", False), ("a.xml.bak", False), ("a.tmp", False), ("a.properties", False),
     ("#a.xml#", False)],
)
def test_filter(name: str, ok: bool) -> None:
    assert is_descriptor_name(name) is ok


def test_initial_scan_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ["b.xml", "a.xml", "c.xml", ".hidden.xml", "x.xml~", "y.xml.swp", "z.tmp"]:
        (tmp_path / name).write_text("<x/>")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.xml").write_text("<x/>")
    (tmp_path / "foo.d").mkdir()
    (tmp_path / "foo.d" / "e.xml").write_text("<x/>")
    rec = Recorder()

    async def main() -> None:
        provider = Provider(tmp_path, rec, scan_interval=0)
        await provider.start()
        await provider.stop()

    asyncio.run(main())
    assert rec.events == [("add", "a.xml"), ("add", "b.xml"), ("add", "c.xml")]
    assert len(rec.batches) == 1


def test_watch_add_change_remove_rename(tmp_path: Path) -> None:
    rec = Recorder()

    async def main() -> None:
        async with started(Provider(tmp_path, rec, scan_interval=5)):
            (tmp_path / "a.xml").write_text("<one/>")
            await rec.wait_for(lambda ev: ("add", "a.xml") in ev)
            # temp file + rename: exactly one change
            tmp = tmp_path / ".a.xml.tmp"
            tmp.write_text("<two/>")
            os.replace(tmp, tmp_path / "a.xml")
            await rec.wait_for(lambda ev: ("change", "a.xml") in ev)
            os.rename(tmp_path / "a.xml", tmp_path / "b.xml")
            await rec.wait_for(lambda ev: ("add", "b.xml") in ev and ("remove", "a.xml") in ev)
            (tmp_path / "b.xml").unlink()
            await rec.wait_for(lambda ev: ("remove", "b.xml") in ev)

    asyncio.run(main())
    assert rec.events == [("add", "a.xml"), ("change", "a.xml"), ("remove", "a.xml"),
                          ("add", "b.xml"), ("remove", "b.xml")]


def test_chunked_write_gives_one_complete_add(tmp_path: Path) -> None:
    rec = Recorder()
    seen: list[bytes] = []

    async def handler(batch: list[Change]) -> None:
        for c in batch:
            if c.kind != "remove":
                seen.append(c.path.read_bytes())
        await rec(batch)

    async def main() -> None:
        async with started(Provider(tmp_path, handler, scan_interval=5, settle=0.05)):
            with open(tmp_path / "big.xml", "wb") as fh:
                for _ in range(10):
                    fh.write(b"x" * 4096)
                    fh.flush()
                    await asyncio.sleep(0.005)  # a slow writer, well under the settle time
            await rec.wait_for(lambda ev: ("add", "big.xml") in ev)
            (tmp_path / "zz.xml").write_text("<y/>")  # a later event proves nothing else came
            await rec.wait_for(lambda ev: ("add", "zz.xml") in ev)

    asyncio.run(main())
    assert rec.events == [("add", "big.xml"), ("add", "zz.xml")]
    assert seen[0] == b"x" * 40960


def webapp_and_descriptor(tmp_path: Path) -> tuple[Path, Path]:
    """A webapp directory and a contexts/ directory whose a.xml depends on it."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "wsgi.py").write_text("v = 1\n")
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    (contexts / "a.xml").write_text("<x/>")
    return app, contexts


Body = Callable[[Provider, Recorder], Awaitable[None]]


@contextlib.asynccontextmanager
async def started(provider: Provider) -> AsyncIterator[Provider]:
    """The provider started (its first scan delivered), stopped however the block ends."""
    await provider.start()
    try:
        yield provider
    finally:
        await provider.stop()


def watching(contexts: Path, deps: Dependencies, body: Body, *, scan_interval: float = 5,
             poll: bool = False) -> Recorder:
    """Run a provider whose every descriptor depends on ``deps`` around ``body``."""
    rec = Recorder()

    async def main() -> None:
        provider = Provider(contexts, rec, dependencies=lambda _p: deps,
                            scan_interval=scan_interval, poll=poll)
        async with started(provider):
            await body(provider, rec)

    asyncio.run(main())
    return rec


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """A deadline for the condition, not a figure (5 s timed out on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def probe(provider: Provider, app: Path, marks: int) -> None:
    """Everything written under ``app`` since ``marks`` concerned nothing. Proof: an event that
    does concern it (a touch of wsgi.py that changes no signature), queued after theirs by the
    same observer, is the only one that arrives."""
    st = (app / "wsgi.py").stat()
    os.utime(app / "wsgi.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    await until(lambda: provider.marks > marks, "the probe's event")
    assert provider.marks == marks + 1


def write_app_data(app: Path) -> None:
    """What a running app writes under its own directory: a database, an upload, a log."""
    with contextlib.closing(sqlite3.connect(app / "db.sqlite3")) as db, db:
        db.execute("create table if not exists hits (at real)")
        db.execute("insert into hits values (?)", (time.time(),))
    (app / "uploads" / "2024").mkdir(parents=True, exist_ok=True)
    (app / "uploads" / "2024" / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (app / "logs").mkdir(exist_ok=True)
    with open(app / "logs" / "app.log", "a") as log:
        log.write("GET / 200\n")


def test_data_the_app_writes_does_not_redeploy(tmp_path: Path) -> None:
    app, contexts = webapp_and_descriptor(tmp_path)

    async def body(provider: Provider, rec: Recorder) -> None:
        marks, reads = provider.marks, provider.reads
        for _ in range(3):
            write_app_data(app)
        await probe(provider, app, marks)
        # the probe's mark is taken in the observer's thread; its look follows on the loop
        await until(lambda: provider.reads > reads, "the probe's look")
        assert provider.reads == reads + 1  # the probe's look only
        save_atomically(app / "wsgi.py", "v = 2\n")
        await rec.wait_for(lambda ev: ("change", "a.xml") in ev)

    rec = watching(contexts, Dependencies.of_webapp(app), body)
    assert rec.events == [("add", "a.xml"), ("change", "a.xml")]


def test_data_the_app_writes_does_not_redeploy_when_polling(tmp_path: Path) -> None:
    app, contexts = webapp_and_descriptor(tmp_path)

    async def body(provider: Provider, rec: Recorder) -> None:
        write_app_data(app)
        reads = provider.reads
        await until(lambda: provider.reads >= reads + 5, "five looks at the tree")
        assert rec.events == [("add", "a.xml")]
        save_atomically(app / "wsgi.py", "v = 2\n")
        await rec.wait_for(lambda ev: ("change", "a.xml") in ev)

    rec = watching(contexts, Dependencies.of_webapp(app), body, scan_interval=0.05, poll=True)
    assert rec.events == [("add", "a.xml"), ("change", "a.xml")]


def test_an_edit_of_the_code_redeploys_once(tmp_path: Path) -> None:
    app, contexts = webapp_and_descriptor(tmp_path)

    async def body(provider: Provider, rec: Recorder) -> None:
        (app / "__pycache__").mkdir()
        (app / "__pycache__" / "wsgi.cpython-311.pyc").write_bytes(b"junk")
        save_atomically(app / "wsgi.py", "v = 22\n")
        await rec.wait_for(lambda ev: ("change", "a.xml") in ev)
        provider.wake()  # a forced look at everything finds nothing more...
        (contexts / "zz.xml").write_text("<y/>")  # ...before this later event is delivered
        await rec.wait_for(lambda ev: ("add", "zz.xml") in ev)

    rec = watching(contexts, Dependencies.of_webapp(app), body)
    assert rec.events == [("add", "a.xml"), ("change", "a.xml"), ("add", "zz.xml")]


@pytest.mark.parametrize("rel,includes,excludes,redeploys", [
    ("pkg/views.py", [], [], True),
    ("native.cpython-311-x86_64-linux-gnu.so", [], [], True),
    ("lib/dep/table.json", [], [], True),
    ("templates/site/page.html", ["templates/**/*.html"], [], True),
    ("templates/site/page.html", [], [], False),
    ("static/app.js", [], [], False),
    ("scripts/tool.py", [], ["scripts/**"], False),
    ("pkg/settings_local.py", [], ["**/*_local.py"], False),
])
def test_what_redeploys(tmp_path: Path, rel: str, includes: list[str], excludes: list[str],
                        redeploys: bool) -> None:
    app, contexts = webapp_and_descriptor(tmp_path)

    async def body(provider: Provider, rec: Recorder) -> None:
        marks, replans = provider.marks, provider.replans
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text("x = 1\n")
        if redeploys:
            await rec.wait_for(lambda ev: ("change", "a.xml") in ev)
        else:
            # the new top directory re-plans the watches (an excluded one turns the war's one
            # recursive watch into others): a probe before that could fall between the old
            # watch's end and the new one's start, where the provider re-reads but counts no mark
            await until(lambda: provider.replans > replans, "the new directory's watch plan")
            await probe(provider, app, marks)

    deps = Dependencies.of_webapp(app, includes=includes, excludes=excludes)
    rec = watching(contexts, deps, body)
    assert rec.events == [("add", "a.xml")] + [("change", "a.xml")] * redeploys


def test_a_package_moved_into_lib_redeploys(tmp_path: Path) -> None:
    """What ``pip install --target`` does: build in a temporary directory, then move it in."""
    app, contexts = webapp_and_descriptor(tmp_path)
    (app / "lib").mkdir()
    staging = tmp_path / "staging" / "newpkg"
    staging.mkdir(parents=True)
    (staging / "__init__.py").write_text("")
    (staging / "schema.json").write_text("{}")

    async def body(provider: Provider, rec: Recorder) -> None:
        os.rename(staging, app / "lib" / "newpkg")
        await rec.wait_for(lambda ev: ("change", "a.xml") in ev)

    rec = watching(contexts, Dependencies.of_webapp(app), body)
    assert rec.events == [("add", "a.xml"), ("change", "a.xml")]


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    path = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


def test_a_change_of_the_virtualenvs_packages_redeploys(tmp_path: Path, venv: Path) -> None:
    app, contexts = webapp_and_descriptor(tmp_path)
    [site] = site_packages(venv)

    async def body(provider: Provider, rec: Recorder) -> None:
        marks = provider.marks
        (site / "tiny").mkdir()  # a package's files: not yet an install
        (site / "tiny" / "__init__.py").write_text("")
        await probe(provider, app, marks)
        (site / "tiny-1.0.dist-info").mkdir()
        (site / "tiny-1.0.dist-info" / "METADATA").write_text("Name: tiny\nVersion: 1.0\n")
        await rec.wait_for(lambda ev: ev.count(("change", "a.xml")) == 1)
        shutil.rmtree(site / "tiny-1.0.dist-info")
        await rec.wait_for(lambda ev: ev.count(("change", "a.xml")) == 2)
        cfg = venv / "pyvenv.cfg"
        save_atomically(cfg, cfg.read_text() + "# upgraded\n")
        await rec.wait_for(lambda ev: ev.count(("change", "a.xml")) == 3)

    rec = watching(contexts, Dependencies.of_webapp(app, virtualenv=venv), body)
    assert rec.events == [("add", "a.xml")] + [("change", "a.xml")] * 3


def tiny_wheel(directory: Path) -> Path:
    """A pure-Python wheel, written by hand: nothing to build, nothing to download."""
    wheel = directory / "tiny-1.0-py3-none-any.whl"
    files = {
        "tiny/__init__.py": "VERSION = '1.0'\n",
        "tiny-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\n",
        "tiny-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                                    "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in [*files, "tiny-1.0.dist-info/RECORD"])
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in {**files, "tiny-1.0.dist-info/RECORD": record}.items():
            zf.writestr(name, text)
    return wheel


def test_pip_install_and_uninstall_redeploy(tmp_path: Path, venv: Path) -> None:
    app, contexts = webapp_and_descriptor(tmp_path)
    wheel = tiny_wheel(tmp_path)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
           "--disable-pip-version-check", "-q"]

    async def body(provider: Provider, rec: Recorder) -> None:
        install = [*pip, "install", "--no-index", "--no-deps", str(wheel)]
        await asyncio.to_thread(subprocess.run, install, check=True)
        await rec.wait_for(lambda ev: ev.count(("change", "a.xml")) == 1)
        await asyncio.to_thread(subprocess.run, [*pip, "uninstall", "-y", "tiny"], check=True)
        await rec.wait_for(lambda ev: ev.count(("change", "a.xml")) == 2)

    rec = watching(contexts, Dependencies.of_webapp(app, virtualenv=venv), body)
    assert rec.events == [("add", "a.xml"), ("change", "a.xml"), ("change", "a.xml")]


def test_idle_scans_leave_the_tree_alone_until_the_verify(tmp_path: Path) -> None:
    """No event, no read: the periodic scan only looks at contexts/, and re-verifies a watched
    tree every VERIFY_SCANS scans, which also catches an edit no event reported."""
    app, contexts = webapp_and_descriptor(tmp_path)

    async def body(provider: Provider, rec: Recorder) -> None:
        reads, scans = provider.reads, provider.scans
        await until(lambda: provider.scans >= scans + VERIFY_SCANS // 2, "idle scans")
        assert provider.reads == reads
        provider._observer.stop()  # no events from here on: only the verify can see the edit
        save_atomically(app / "wsgi.py", "v = 3\n")
        await rec.wait_for(lambda ev: ("change", "a.xml") in ev,
                           timeout=VERIFY_SCANS * provider.scan_interval + 5)
        assert provider.scans >= scans + VERIFY_SCANS

    rec = watching(contexts, Dependencies.of_webapp(app), body, scan_interval=0.05)
    assert rec.events == [("add", "a.xml"), ("change", "a.xml")]


@pytest.mark.parametrize("how", ["swap", "rmtree"])
def test_a_war_replaced_is_watched_again(tmp_path: Path, how: str) -> None:
    """``mv app.new app`` or ``rm -rf app`` then a new one: the old watch went with the old
    directory; the new one is watched in its turn."""
    app, contexts = webapp_and_descriptor(tmp_path)
    staging = tmp_path / "staging"
    shutil.copytree(app, staging)
    (staging / "wsgi.py").write_text("v = 'new'\n")
    seen: list[str | None] = []
    rec = Recorder()

    async def handler(batch: list[Change]) -> None:
        seen.append((app / "wsgi.py").read_text() if (app / "wsgi.py").exists() else None)
        await rec(batch)

    async def main() -> None:
        provider = Provider(contexts, handler, dependencies=lambda _p: Dependencies.of_webapp(app),
                            scan_interval=5)
        async with started(provider):
            if how == "swap":
                os.rename(app, tmp_path / "app.old")
            else:
                shutil.rmtree(app)
            os.rename(staging, app)
            await until(lambda: seen[-1:] == ["v = 'new'\n"], "the new directory deployed")
            identity = (app.stat().st_ino, app.stat().st_dev)
            assert provider._watches[(app, True)].identity == identity
            marks = provider.marks
            save_atomically(app / "wsgi.py", "v = 'edited'\n")
            await until(lambda: seen[-1:] == ["v = 'edited'\n"], "the edit deployed")
            assert provider.marks > marks  # an event of the new watch, not a verify

    asyncio.run(main())
    assert {kind for kind, _ in rec.events[1:]} == {"change"}


def test_an_edit_that_lands_during_the_build_is_redeployed(tmp_path: Path) -> None:
    """The webapp's baseline is read after the build: an edit made meanwhile must not hide in it."""
    app, contexts = webapp_and_descriptor(tmp_path)
    rec = Recorder()

    async def building(batch: list[Change]) -> None:
        if len(rec.batches) == 0:  # the first build reads v = 1; the fix lands as it finishes
            (app / "wsgi.py").write_text("v = 2  # fixed\n")
        await rec(batch)

    async def main() -> None:
        provider = Provider(contexts, building, dependencies=lambda _p: Dependencies.of_webapp(app),
                            scan_interval=0.2)
        async with started(provider):
            await rec.wait_for(lambda ev: ("change", "a.xml") in ev)

    asyncio.run(main())
    assert rec.events == [("add", "a.xml"), ("change", "a.xml")]


def test_rescan_catches_what_events_miss(tmp_path: Path) -> None:
    """With a short interval and no observer wake-up needed: the periodic rescan is the truth."""
    rec = Recorder()

    async def main() -> None:
        provider = Provider(tmp_path, rec, scan_interval=0.1, poll=True)
        await provider.start()
        provider._observer.stop()  # no events at all from here on
        try:
            (tmp_path / "late.xml").write_text("<x/>")
            await rec.wait_for(lambda ev: ("add", "late.xml") in ev)
        finally:
            await provider.stop()

    asyncio.run(main())


def test_a_stop_as_the_scanner_wakes_ends_it(tmp_path: Path) -> None:
    """Python 3.11's ``wait_for`` returns an event that is set as its waiter is cancelled and
    drops the cancel: the scanner ran on and stop() waited for it for ever (a CI run hung so)."""
    rec = Recorder()

    async def main() -> None:
        for ticks in range(8):  # the cancel lands at each step of the wake-up in turn
            provider = Provider(tmp_path, rec, scan_interval=5, poll=True)
            await provider.start()
            provider.wake()
            for _ in range(ticks):
                await asyncio.sleep(0)
            deadline = asyncio.timeout(30)
            async with deadline:
                await provider.stop()
            assert not deadline.expired(), f"stop() {ticks} loop steps after a wake hung"

    asyncio.run(main())


def test_interval_zero_scans_once_but_wakes_on_demand(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<x/>")
    rec = Recorder()

    async def main() -> None:
        async with started(Provider(tmp_path, rec, scan_interval=0)) as provider:
            assert provider._observer is None
            (tmp_path / "b.xml").write_text("<x/>")
            scans = provider.scans
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:  # nothing is watching: no scan happens by itself
                await asyncio.sleep(0.05)
            assert provider.scans == scans and rec.events == [("add", "a.xml")]
            provider.wake()  # what SIGHUP does
            await rec.wait_for(lambda ev: ("add", "b.xml") in ev)

    asyncio.run(main())


def test_an_empty_file_waits_for_its_content(tmp_path: Path) -> None:
    rec = Recorder()

    async def main() -> None:
        async with started(Provider(tmp_path, rec, scan_interval=5)) as provider:
            fh = open(tmp_path / "a.xml", "wb")  # noqa: SIM115 - held open across awaits
            try:
                for _ in range(3):  # created and left empty for several settle times
                    await provider._scan_once()
                    await asyncio.sleep(provider.settle)
                assert rec.events == []
                fh.write(b"<x/>")
            finally:
                fh.close()
            await rec.wait_for(lambda ev: ("add", "a.xml") in ev)

    asyncio.run(main())
    assert rec.events == [("add", "a.xml")]


def test_contexts_deleted_and_recreated_is_watched_again(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Its inotify watch died with the old directory: only the rescan saw changes (issue 12,
    item 12). Deployed contexts stay while it is gone; the new one gives events again."""
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    (contexts / "a.xml").write_text("<x/>")

    async def body(provider: Provider, rec: Recorder) -> None:
        await rec.wait_for(lambda ev: ("add", "a.xml") in ev)
        shutil.rmtree(contexts)
        await until(lambda: "is gone" in caplog.text, "the loss noticed")
        assert ("remove", "a.xml") not in rec.events  # it keeps serving
        contexts.mkdir()
        await until(lambda: "watching" in caplog.text, "the new directory watched")
        wakes = provider.wakes
        (contexts / "a.xml").write_text("<x/>")
        await until(lambda: provider.wakes > wakes, "an event: inotify is alive again")
        await rec.wait_for(lambda ev: ("change", "a.xml") in ev)

    watching(contexts, Dependencies(), body, scan_interval=0.2)


def test_node_modules_and_a_virtualenv_in_a_war_are_not_watched(tmp_path: Path) -> None:
    """A recursive watch of the war added one inotify watch per directory of its node_modules
    (3,000 directories: 3,037 watches) and woke the observer for its writes (issue 12, item
    13). The war's top is watched alone, its other top directories whole; a new one too."""
    app, contexts = webapp_and_descriptor(tmp_path)
    for i in range(50):
        (app / "node_modules" / f"m{i}" / "lib").mkdir(parents=True)
    (app / "venv" / "lib" / "site-packages").mkdir(parents=True)
    (app / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (app / "pkg").mkdir()
    (app / "pkg" / "views.py").write_text("x = 1\n")

    async def body(provider: Provider, rec: Recorder) -> None:
        assert set(provider._watches) >= {(app, False), (app / "pkg", True)}
        assert not [d for d, _ in provider._watches if d.name in ("node_modules", "venv")]
        marks = provider.marks
        (app / "node_modules" / "m1" / "lib" / "index.py").write_text("x")
        (app / "venv" / "lib" / "tool.py").write_text("x")
        await probe(provider, app, marks)  # neither was seen
        provider.wake()  # and a full verify does not read them either...
        (contexts / "zz.xml").write_text("<y/>")  # ...before this later event is delivered
        await rec.wait_for(lambda ev: ("add", "zz.xml") in ev)
        assert ("change", "a.xml") not in rec.events
        save_atomically(app / "pkg" / "views.py", "x = 2\n")
        await rec.wait_for(lambda ev: ("change", "a.xml") in ev)
        (app / "newpkg").mkdir()
        await until(lambda: (app / "newpkg", True) in provider._watches, "the new one watched")
        save_atomically(app / "newpkg" / "models.py", "y = 1\n")
        await rec.wait_for(lambda ev: ev.count(("change", "a.xml")) == 2)  # by its event
        assert rec.events.count(("change", "zz.xml")) == 2  # it depends on the war too

    watching(contexts, Dependencies.of_webapp(app), body, scan_interval=3600)


def test_the_file_clock_is_never_ahead_of_a_later_files_mtime(tmp_path: Path) -> None:
    """A build's baseline time against mtimes stamped by the kernel's coarse clock: a file written
    after ``file_clock_ns()`` was read must count as modified since (time.time_ns() minus a 5 ms
    slack lost a change in CI: the coarse clock lags a whole tick)."""
    from deployer.deploy.provider import file_clock_ns

    late = []
    for n in range(2000):
        before = file_clock_ns()
        path = tmp_path / f"f{n}"
        path.write_bytes(b"")
        mtime = path.stat().st_mtime_ns
        if mtime < before:
            late.append(before - mtime)
    assert late == []
