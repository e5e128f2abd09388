"""Hot deployment with a real `deployer run`: add, change, remove, rename, bad edits, sessions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import (
    DeployerProcess,
    descriptor,
    poll,
    save_atomically,
    write_counter_app,
)

REDEPLOYED = r"redeployed .*{name}"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "contexts").mkdir()
    write_counter_app(tmp_path / "apps" / "counter")
    return tmp_path


@pytest.fixture
def run(tree: Path):
    with DeployerProcess(tree / "contexts", "--scan-interval", "1") as proc:
        yield proc


def body(client: httpx.Client, path: str) -> str:
    response = client.get(path)
    return f"{response.status_code} {response.text}"


def wait_body(client: httpx.Client, path: str, prefix: str, timeout: float = 10) -> str:
    return poll(lambda: body(client, path), lambda b: b.startswith(prefix), timeout=timeout,
                what=f"{path} to answer {prefix!r}")


def test_add_change_remove_rename(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    with httpx.Client(base_url=run.url) as client:
        assert client.get("/app/").status_code == 404
        save_atomically(contexts / "app.xml", descriptor("/app", "../apps/counter", version="1"))
        wait_body(client, "/app/", "200 1 c1 1")
        save_atomically(contexts / "app.xml", descriptor("/app", "../apps/counter", version="2"))
        wait_body(client, "/app/", "200 2 c1 3")  # one 404-free poll may count in between
        os.rename(contexts / "app.xml", contexts / "renamed.xml")
        run.wait_line(r"deployed .*renamed\.xml")
        run.wait_line(r"undeployed .*app\.xml")
        assert body(client, "/app/").startswith("200 2 c1")
        (contexts / "renamed.xml").unlink()
        wait_body(client, "/app/", "404")
        run.wait_line(r"undeployed .*renamed\.xml \(/app\) in [\d.]+ ms")


def test_temp_file_rename_save_redeploys_exactly_once(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    (contexts / "app.xml").write_text(descriptor("/app", "../apps/counter", version="1"))
    with httpx.Client(base_url=run.url) as client:
        wait_body(client, "/app/", "200 1")
        mark = run.mark()
        save_atomically(contexts / "app.xml", descriptor("/app", "../apps/counter", version="2"))
        wait_body(client, "/app/", "200 2")
        # a later, unrelated deploy proves the scanner has looked again since
        (contexts / "zz.xml").write_text(descriptor("/zz", "../apps/counter"))
        run.wait_line(r"deployed .*zz\.xml", after=mark)
        run.send(signal.SIGHUP)  # a forced rescan finds nothing more to do
        wait_body(client, "/zz/", "200")
        lines = run.lines[mark:]
        assert sum("redeployed" in line and "app.xml" in line for line in lines) == 1, lines


def test_chunked_copy_deploys_the_complete_file_once(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    text = descriptor("/app", "../apps/counter", version="7")
    text = text.replace("</Configure>", "<!-- " + "padding " * 2000 + "-->\n</Configure>")
    data = text.encode()
    with open(contexts / "app.xml", "wb") as fh, httpx.Client(base_url=run.url) as client:
        for i in range(0, len(data), 1024):
            fh.write(data[i:i + 1024])
            fh.flush()
        fh.close()
        wait_body(client, "/app/", "200 7")
    assert run.count(r"FAILED") == 0, run.log()
    assert run.count(r"deployed .*app\.xml") == 1


def test_broken_edit_keeps_old_version_then_fix_deploys(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    (contexts / "app.xml").write_text(descriptor("/app", "../apps/counter", version="1"))
    with httpx.Client(base_url=run.url) as client:
        wait_body(client, "/app/", "200 1")
        broken = descriptor("/app", "../apps/counter", version="2").replace(
            "</Configure>", "<Set name=\"nosuchproperty\">x</Set>\n</Configure>")
        mark = run.mark()
        save_atomically(contexts / "app.xml", broken)
        run.wait_line(rf"FAILED {contexts / 'app.xml'}.*v1 still serving.*app\.xml:\d+", after=mark)
        assert body(client, "/app/").startswith("200 1 c1")
        # a broken app (import error) is no better: still the old version
        bad_app = tree / "apps" / "bad"
        write_counter_app(bad_app)
        (bad_app / "wsgi.py").write_text("raise RuntimeError('boom at import')\n")
        mark = run.mark()
        save_atomically(contexts / "app.xml", descriptor("/app", "../apps/bad", version="3"))
        run.wait_line(r"boom at import", after=mark)
        assert body(client, "/app/").startswith("200 1 c1")
        save_atomically(contexts / "app.xml", descriptor("/app", "../apps/counter", version="4"))
        wait_body(client, "/app/", "200 4 c1")


def test_session_counter_goes_on_across_20_redeploys(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    (contexts / "app.xml").write_text(descriptor("/app", "../apps/counter", version="0"))
    with httpx.Client(base_url=run.url) as client:
        wait_body(client, "/app/", "200 0 c1 1")
        expected = 2
        for version in range(1, 21):
            save_atomically(contexts / "app.xml",
                            descriptor("/app", "../apps/counter", version=str(version)))
            while True:
                text = body(client, "/app/")
                assert text.endswith(f" {expected}"), (text, expected)
                expected += 1
                if text.startswith(f"200 {version} "):
                    break
        # the log reader is a thread of this process: the 20th line may trail the answer
        assert poll(lambda: run.count(r"redeployed .*app\.xml"), lambda n: n >= 20,
                    what="the 20th redeploy logged") == 20


def test_change_to_the_apps_own_code_is_picked_up(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    (contexts / "app.xml").write_text(descriptor("/app", "../apps/counter"))
    with httpx.Client(base_url=run.url) as client:
        wait_body(client, "/app/", "200 1 c1 1")
        save_atomically(tree / "apps" / "counter" / "wsgi.py",
                        (tree / "apps" / "counter" / "wsgi.py").read_text().replace("c1", "c2"))
        text = wait_body(client, "/app/", "200 1 c2")
        assert int(text.split()[-1]) >= 3  # the session went on


def test_conflicts_are_refused_naming_both_files(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    write_counter_app(tree / "apps" / "other", code="o1")
    (contexts / "a.xml").write_text(descriptor("/app", "../apps/counter", store="../s/a"))
    with httpx.Client(base_url=run.url) as client:
        wait_body(client, "/app/", "200 1 c1")
        mark = run.mark()
        (contexts / "b.xml").write_text(descriptor("/app", "../apps/other"))
        line = run.wait_line(r"FAILED .*b\.xml.*", after=mark).group(0)
        assert str(contexts / "a.xml") in line and "/app" in line
        (contexts / "c.xml").write_text(descriptor("/c", "../apps/other", store="../s/a"))
        line = run.wait_line(r"FAILED .*c\.xml.*", after=mark).group(0)
        assert str(contexts / "a.xml") in line and "storeDirectory" in line
        assert body(client, "/app/").startswith("200 1 c1")
        assert client.get("/c/").status_code == 404
        # once a.xml goes away, the refused b.xml gets its turn
        (contexts / "a.xml").unlink()
        wait_body(client, "/app/", "200 1 o1")
        # a different virtual host is no conflict
        (contexts / "d.xml").write_text(descriptor("/app", "../apps/counter", hosts=["d.test"]))
        run.wait_line(r"deployed .*d\.xml", after=mark)
        wait_body(client, "/app/", "200 1 o1")
        assert client.get("/app/", headers={"Host": "d.test"}).text.startswith("1 c1")


def test_scan_interval_zero_deploys_once(tree: Path) -> None:
    contexts = tree / "contexts"
    (contexts / "a.xml").write_text(descriptor("/a", "../apps/counter"))
    with DeployerProcess(contexts, "--scan-interval", "0") as run, \
            httpx.Client(base_url=run.url) as client:
        assert body(client, "/a/").startswith("200")
        (contexts / "b.xml").write_text(descriptor("/b", "../apps/counter"))
        save_atomically(contexts / "a.xml", descriptor("/a", "../apps/counter", version="9"))
        write_counter_app(tree / "apps" / "counter", code="c5")
        # nothing watches: answers stay the same for well over a settle time and a scan
        for _ in range(20):
            assert client.get("/b/").status_code == 404
            assert body(client, "/a/").startswith("200 1 c1")
        assert run.count(r"deployer: deployed ") == 1
        mark = run.mark()
        run.send(signal.SIGHUP)  # but SIGHUP forces a rescan
        run.wait_line(r"deployed .*b\.xml", after=mark)
        wait_body(client, "/a/", "200 9 c5")


def test_an_unusable_store_fails_before_sessions_are_handed_over(
    tree: Path, run: DeployerProcess
) -> None:
    contexts = tree / "contexts"
    (tree / "not-a-dir").write_text("a file where the store should be")
    (contexts / "app.xml").write_text(descriptor("/app", "../apps/counter", store="../s/app"))
    with httpx.Client(base_url=run.url) as client:
        wait_body(client, "/app/", "200 1 c1 1")
        mark = run.mark()
        save_atomically(contexts / "app.xml",
                        descriptor("/app", "../apps/counter", version="2", store="../not-a-dir"))
        run.wait_line(r"FAILED .*app\.xml.*v1 still serving.*not-a-dir", after=mark)
        assert body(client, "/app/") == "200 1 c1 2"
        save_atomically(contexts / "app.xml",
                        descriptor("/app", "../apps/counter", version="3", store="../s/app"))
        wait_body(client, "/app/", "200 3 c1")
    assert run.stop() == 0
    assert any((tree / "s" / "app").iterdir())


def test_removal_saves_the_sessions_of_a_store(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    (contexts / "app.xml").write_text(descriptor("/app", "../apps/counter", store="../s/app"))
    with httpx.Client(base_url=run.url) as client:
        wait_body(client, "/app/", "200 1 c1 1")
        assert body(client, "/app/") == "200 1 c1 2"
        session_id = client.cookies["JSESSIONID"]
        (contexts / "app.xml").unlink()
        run.wait_line(r"undeployed .*app\.xml")
        assert client.get("/app/").status_code == 404
    shown = subprocess.run(
        [sys.executable, "-m", "deployer", "sessions", "show", str(tree / "s" / "app"),
         session_id], capture_output=True, text=True, check=True,
    )
    assert json.loads(shown.stdout)["attributes"] == {"count": 2}


def test_a_broken_app_answers_503_until_its_code_is_fixed(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    app = tree / "apps" / "counter"
    good = (app / "wsgi.py").read_text()
    (app / "wsgi.py").write_text("import nosuchmodule_xyz\n")
    mark = run.mark()
    (contexts / "app.xml").write_text(descriptor("/app", "../apps/counter"))
    with httpx.Client(base_url=run.url) as client:
        run.wait_line(r"FAILED .*app\.xml \(/app\).*503", after=mark)
        assert client.get("/app/").status_code == 503
        assert "nosuchmodule_xyz" in run.log()  # the traceback is in the log
        save_atomically(app / "wsgi.py", good)
        wait_body(client, "/app/", "200 1 c1 1")


def test_a_slow_request_finishes_on_the_old_version(tree: Path, run: DeployerProcess) -> None:
    contexts = tree / "contexts"
    slow = tree / "apps" / "slow"
    slow.mkdir(parents=True)
    entered = tree / "entered"
    (slow / "wsgi.py").write_text(
        "import pathlib\nimport time\n\n\ndef application(environ, start_response):\n"
        "    version = environ['deployer.context'].init_params['version']\n"
        "    if environ.get('QUERY_STRING') == 'slow':\n"
        f"        pathlib.Path({str(entered)!r}).touch()\n"
        "        time.sleep(0.6)\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [version.encode()]\n"
    )
    (contexts / "slow.xml").write_text(descriptor("/slow", "../apps/slow", version="1"))
    result: dict[str, object] = {}

    def call() -> None:
        try:
            result["r"] = httpx.get(f"{run.url}/slow/?slow", timeout=10)
        except httpx.HTTPError as exc:  # reported by the assert below
            result["r"] = exc

    with httpx.Client(base_url=run.url) as client:
        wait_body(client, "/slow/", "200 1")
        thread = threading.Thread(target=call)
        thread.start()
        try:
            poll(entered.exists, bool, what="the slow request to reach the app")
            save_atomically(contexts / "slow.xml",
                            descriptor("/slow", "../apps/slow", version="2"))
            wait_body(client, "/slow/", "200 2")
        finally:
            thread.join(15)
    response = result["r"]
    assert isinstance(response, httpx.Response), response
    assert (response.status_code, response.text) == (200, "1")
