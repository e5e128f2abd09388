"""The provider against real files: sorted initial scan, filters, settle rule, watching, rescan."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from deployer.deploy.provider import Change, Provider, is_descriptor_name


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

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
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
        provider = Provider(tmp_path, rec, scan_interval=5)
        await provider.start()
        try:
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
        finally:
            await provider.stop()

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
        provider = Provider(tmp_path, handler, scan_interval=5, settle=0.05)
        await provider.start()
        try:
            with open(tmp_path / "big.xml", "wb") as fh:
                for _ in range(10):
                    fh.write(b"x" * 4096)
                    fh.flush()
                    await asyncio.sleep(0.005)  # a slow writer, well under the settle time
            await rec.wait_for(lambda ev: ("add", "big.xml") in ev)
            (tmp_path / "zz.xml").write_text("<y/>")  # a later event proves nothing else came
            await rec.wait_for(lambda ev: ("add", "zz.xml") in ev)
        finally:
            await provider.stop()

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


@pytest.mark.parametrize("poll", [False, True])
def test_dependency_change_redeploys(tmp_path: Path, poll: bool) -> None:
    app, contexts = webapp_and_descriptor(tmp_path)
    rec = Recorder()

    async def main() -> None:
        provider = Provider(contexts, rec, dependencies=lambda _p: [app], scan_interval=5,
                            poll=poll)
        await provider.start()
        try:
            (app / "__pycache__").mkdir()
            (app / "__pycache__" / "wsgi.cpython-311.pyc").write_bytes(b"junk")
            (app / "wsgi.py").write_text("v = 22\n")
            await rec.wait_for(lambda ev: ("change", "a.xml") in ev)
        finally:
            await provider.stop()

    asyncio.run(main())
    assert rec.events == [("add", "a.xml"), ("change", "a.xml")]


def test_an_edit_that_lands_during_the_build_is_redeployed(tmp_path: Path) -> None:
    """The webapp's baseline is read after the build: an edit made meanwhile must not hide in it."""
    app, contexts = webapp_and_descriptor(tmp_path)
    rec = Recorder()

    async def building(batch: list[Change]) -> None:
        if len(rec.batches) == 0:  # the first build reads v = 1; the fix lands as it finishes
            (app / "wsgi.py").write_text("v = 2  # fixed\n")
        await rec(batch)

    async def main() -> None:
        provider = Provider(contexts, building, dependencies=lambda _p: [app], scan_interval=0.2)
        await provider.start()
        try:
            await rec.wait_for(lambda ev: ("change", "a.xml") in ev)
        finally:
            await provider.stop()

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


def test_interval_zero_scans_once_but_wakes_on_demand(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<x/>")
    rec = Recorder()

    async def main() -> None:
        provider = Provider(tmp_path, rec, scan_interval=0)
        await provider.start()
        try:
            assert provider._observer is None
            (tmp_path / "b.xml").write_text("<x/>")
            scans = provider.scans
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:  # nothing is watching: no scan happens by itself
                await asyncio.sleep(0.05)
            assert provider.scans == scans and rec.events == [("add", "a.xml")]
            provider.wake()  # what SIGHUP does
            await rec.wait_for(lambda ev: ("add", "b.xml") in ev)
        finally:
            await provider.stop()

    asyncio.run(main())


def test_an_empty_file_waits_for_its_content(tmp_path: Path) -> None:
    rec = Recorder()

    async def main() -> None:
        provider = Provider(tmp_path, rec, scan_interval=5)
        await provider.start()
        try:
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
        finally:
            await provider.stop()

    asyncio.run(main())
    assert rec.events == [("add", "a.xml")]
