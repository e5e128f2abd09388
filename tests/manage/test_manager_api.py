"""The manager listener over real HTTP: the API, the token, cross-site requests, health."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.harness import descriptor, poll, save_atomically
from tests.manage.conftest import TOKEN, Managed, start_managed


def test_the_api_lists_every_context_with_its_workers(managed: Managed) -> None:
    client = httpx.Client(base_url=managed.url)
    assert client.get("/counter/").status_code == 200
    data = managed.api()
    assert (data["answering"], data["total"]) == (2, 2)
    counter = managed.row("counter.xml")
    assert counter["context_path"] == "/counter" and counter["kind"] == "wsgi"
    assert counter["state"] == "deployed" and counter["version"] == 1
    assert counter["descriptor"] == str(managed.contexts / "counter.xml")
    assert counter["sessions"] == 1 and counter["requests"] == 1 and counter["errors"] == 0
    [worker] = counter["workers"]
    assert worker["pid"] > 0 and worker["requests"] == 1
    assert worker["rss"] > 1_000_000  # VmRSS of a live Python process
    assert managed.row("site.xml")["kind"] == "static"


def test_actions_without_the_token_are_refused_and_change_nothing(managed: Managed) -> None:
    before = managed.row("counter.xml")
    for action in ("redeploy", "stop", "start", "undeploy"):
        assert managed.action("counter.xml", action, token=None).status_code == 401
        assert managed.action("counter.xml", action, token="wrong").status_code == 403
        bearer = {"Authorization": "Bearer wrong"}
        assert managed.action("counter.xml", action, token=None,
                              headers=bearer).status_code == 403
    r = httpx.get(f"{managed.manager}/api/contexts/counter.xml/sessions")
    assert r.status_code == 401  # session ids are credentials
    after = managed.row("counter.xml")
    assert (after["state"], after["version"], after["workers"][0]["pid"]) == (
        before["state"], before["version"], before["workers"][0]["pid"])
    assert httpx.get(f"{managed.url}/counter/").status_code == 200


def test_a_cross_site_form_post_is_refused_even_with_the_token(managed: Managed) -> None:
    form = {"token": TOKEN}
    evil = {"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
    r = managed.action("counter.xml", "stop", token=None, headers=dict(evil), data=form)
    assert r.status_code in (401, 403)
    r = managed.action("counter.xml", "stop", headers=dict(evil), data=form)
    assert r.status_code == 403 and "cross-site" in r.json()["error"]
    r = managed.action("counter.xml", "stop", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    rebinding = {"Host": "attacker.example:80"}
    assert httpx.get(f"{managed.manager}/api/contexts", headers=rebinding).status_code == 403
    assert managed.row("counter.xml")["state"] == "deployed"


def _hold_then_edit(managed: Managed, client: httpx.Client, action: str, state: str,
                    version: str) -> None:
    """Stop or undeploy counter.xml (it answers 404), then edit its descriptor."""
    r = managed.action("counter.xml", action)
    assert r.json()["context"]["state"] == state
    assert client.get("/counter/").status_code == 404
    save_atomically(managed.contexts / "counter.xml",
                    descriptor("/counter", "../apps/counter", version=version,
                               store="../sessions/counter"))


def test_redeploy_stop_start_undeploy(managed: Managed) -> None:
    client = httpx.Client(base_url=managed.url, timeout=10)
    assert client.get("/counter/").text.endswith(" 1")
    r = managed.action("counter.xml", "redeploy")
    assert r.status_code == 200 and r.json()["context"]["version"] == 2
    assert client.get("/counter/").text.endswith(" 2")  # the session went on

    _hold_then_edit(managed, client, "stop", "stopped", version="7")
    managed.proc.wait_line(r"counter.xml changed; stopped until started")
    assert managed.row("counter.xml")["state"] == "stopped"  # a stopped context waits for start
    r = managed.action("counter.xml", "start")
    assert r.json()["context"]["state"] == "deployed"
    assert client.get("/counter/").text.startswith("7 ")

    _hold_then_edit(managed, client, "undeploy", "undeployed", version="8")
    poll(lambda: client.get("/counter/"), lambda r: r.text.startswith("8 "),
         what="an undeployed context to come back when its descriptor changes")
    assert managed.row("counter.xml")["state"] == "deployed"


def test_sessions_are_listed_and_one_is_invalidated(managed: Managed) -> None:
    a, b = httpx.Client(base_url=managed.url), httpx.Client(base_url=managed.url)
    a.get("/counter/"), b.get("/counter/"), b.get("/counter/")
    headers = {"X-Deployer-Token": TOKEN}
    listing = httpx.get(f"{managed.manager}/api/contexts/counter.xml/sessions",
                        headers=headers).json()["sessions"]
    ids = {s["id"] for s in listing}
    a_id = a.cookies["JSESSIONID"]
    assert a_id in ids and b.cookies["JSESSIONID"] in ids and len(ids) == 2
    assert all(s["attributes"] == ["count"] for s in listing)
    r = httpx.post(f"{managed.manager}/api/contexts/counter.xml/sessions/{a_id}/invalidate",
                   headers=headers)
    assert r.status_code == 200
    assert a.get("/counter/").text.endswith(" 1")  # a new session
    assert b.get("/counter/").text.endswith(" 3")
    assert managed.row("counter.xml")["sessions"] == 2


def test_readyz_is_unready_while_a_context_is_failed(managed: Managed) -> None:
    assert httpx.get(f"{managed.manager}/healthz").text == "ok\n"
    assert httpx.get(f"{managed.manager}/readyz").status_code == 200
    broken = managed.contexts / "broken.xml"
    save_atomically(broken, descriptor("/broken", "../apps/counter").replace(
        "</Configure>", "<Set name=\"nosuch\">1</Set></Configure>"))
    r = poll(lambda: httpx.get(f"{managed.manager}/readyz"), lambda r: r.status_code == 503,
             what="/readyz to turn unready")
    assert "broken.xml: failed" in r.text
    save_atomically(broken, descriptor("/broken", "../apps/counter"))
    poll(lambda: httpx.get(f"{managed.manager}/readyz"), lambda r: r.status_code == 200,
         what="/readyz to be ready again")
    # an operator's stop is not a fault
    managed.action("broken.xml", "stop")
    assert httpx.get(f"{managed.manager}/readyz").status_code == 200


def test_status_prints_the_table(managed: Managed) -> None:
    httpx.get(f"{managed.url}/counter/")
    out = subprocess.run([sys.executable, "-m", "deployer", "status", "--manager",
                          managed.manager], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["DESCRIPTOR", "CONTEXT", "KIND", "STATE"]
    counter = next(line for line in lines if line.startswith("counter.xml"))
    assert counter.split()[1:5] == ["/counter", "wsgi", "deployed", "1"]
    assert lines[-1] == "2 of 2 contexts deployed"
    managed.action("site.xml", "stop")
    out = subprocess.run([sys.executable, "-m", "deployer", "status", "--manager",
                          managed.manager], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "1 of 2 contexts deployed" in out.stdout


def test_status_without_a_manager_says_so(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "deployer", "status", "--manager",
                          "http://127.0.0.1:9"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "cannot read http://127.0.0.1:9/api/contexts" in out.stderr


def test_a_generated_token_is_written_0600(tmp_path: Path) -> None:
    for managed in start_managed(tmp_path):
        token_file = tmp_path / "manager.token"
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        assert managed.action("site.xml", "redeploy", token="x").status_code == 403
        assert managed.action("site.xml", "redeploy", token=token).status_code == 200


def test_a_bad_manager_address_is_a_usage_error(tmp_path: Path) -> None:
    from deployer.cli import main

    for bad in ("nohost:port", "127.0.0.1:70000", ""):
        assert main(["run", str(tmp_path), "--manager", bad]) == 2


def test_the_page_allows_only_its_own_script(managed: Managed) -> None:
    r = httpx.get(f"{managed.manager}/")
    policy = r.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([\w-]+)'", policy).group(1)
    assert r.text.count("<script") == 1 and f'<script nonce="{nonce}">' in r.text
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert r.headers["x-frame-options"] == "DENY"
