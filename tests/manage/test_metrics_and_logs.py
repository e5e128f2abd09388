"""/metrics, the access log, the JSON log and the error pages, on a real `deployer run`."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import DeployerProcess, descriptor, one_app, poll
from tests.manage.conftest import Managed

APP = '''
import os

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/die":
        os._exit(3)
    body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [body]
'''


def samples(managed: Managed) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{managed.manager}/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_and_move_as_requests_are_served(managed: Managed) -> None:
    before = samples(managed)
    client = httpx.Client(base_url=managed.url)
    for _ in range(3):
        assert client.get("/counter/").status_code == 200
    assert client.get("/site/missing").status_code == 404
    assert client.get("/nowhere").status_code == 404
    after = samples(managed)
    assert value(after, "deployer_requests_total", context="/counter", status="2xx") == \
        value(before, "deployer_requests_total", context="/counter", status="2xx") + 3
    assert value(after, "deployer_requests_total", context="/site", status="4xx") == 1
    assert value(after, "deployer_requests_total", context="-", status="4xx") == 1
    assert value(after, "deployer_request_duration_seconds_count", context="/counter") == 3
    assert value(after, "deployer_request_duration_seconds_bucket", context="/counter",
                 le="+Inf") == 3
    assert value(after, "deployer_deploy_events_total", kind="deploy") == 2
    assert value(after, "deployer_sessions_active", context="/counter") == 1
    assert value(after, "deployer_sessions_created_total", context="/counter") == 1
    assert value(after, "deployer_worker_starts_total", context="/counter") == 1

    assert managed.action("counter.xml", "redeploy").status_code == 200
    moved = samples(managed)
    assert value(moved, "deployer_deploy_events_total", kind="redeploy") == 1
    assert value(moved, "deployer_redeploy_duration_seconds_count", kind="redeploy") == 1
    assert value(moved, "deployer_worker_starts_total", context="/counter") == 2  # never back
    assert value(moved, "deployer_sessions_created_total", context="/counter") == 1
    assert managed.action("counter.xml", "stop").status_code == 200  # saves to the store
    stopped = samples(managed)
    assert value(stopped, "deployer_sessions_saved_total", context="/counter") == 1
    assert value(stopped, "deployer_session_store_save_seconds_count", context="/counter") >= 1
    assert value(stopped, "deployer_deploy_events_total", kind="undeploy") == 1


def _app_contexts(tmp_path: Path) -> Path:
    return one_app(tmp_path, APP, "app")[0]


NCSA = re.compile(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                  r'"(?P<request>[^"]*)" (?P<status>\d{3}|-) (?P<size>\d+|-) '
                  r'"(?P<referer>[^"]*)" "(?P<agent>(?:[^"\\]|\\.)*)"$')


def test_the_access_log_has_one_line_per_request_failed_ones_too(tmp_path: Path) -> None:
    contexts = _app_contexts(tmp_path)
    log = tmp_path / "access.log"
    with DeployerProcess(contexts, "--access-log", str(log)) as proc:
        client = httpx.Client(base_url=proc.url)
        asks = [("/app/ok?x=1", 200, 2), ("/app/boom", 500, None), ("/nowhere", 404, None)]
        for path, status, _ in asks:
            assert client.get(path, headers={"Referer": "http://r.example/",
                                             "User-Agent": 'ua "quoted"'}).status_code == status
        assert client.get("/app/die").status_code == 502  # the worker died mid-request
        asks.append(("/app/die", 502, None))
        lines = poll(lambda: log.read_text().splitlines(), lambda ls: len(ls) >= 4,
                     what="4 access log lines")
    assert len(lines) == 4
    for line, (path, status, size) in zip(lines, asks, strict=True):
        m = NCSA.match(line)
        assert m, line
        assert m["request"] == f"GET {path} HTTP/1.1" and m["status"] == str(status)
        if size is not None:
            assert m["size"] == str(size)
        if path != "/app/die":
            assert m["referer"] == "http://r.example/" and m["agent"] == 'ua \\"quoted\\"'


def test_no_access_log_by_default(tmp_path: Path) -> None:
    contexts = _app_contexts(tmp_path)
    with DeployerProcess(contexts, cwd=tmp_path) as proc:
        httpx.get(f"{proc.url}/app/ok")
    assert not [p for p in tmp_path.rglob("*.log")]


def test_json_log_lines_and_n_of_m_counts_only_what_answers(tmp_path: Path) -> None:
    contexts = _app_contexts(tmp_path)
    broken = tmp_path / "apps" / "broken"
    broken.mkdir()
    (broken / "wsgi.py").write_text("import no_such_module_here\n")
    (contexts / "broken.xml").write_text(descriptor("/broken", "../apps/broken"))
    with DeployerProcess(contexts, "--log-format", "json") as proc:
        assert httpx.get(f"{proc.url}/broken/").status_code == 503
        httpx.get(f"{proc.url}/app/boom")
        proc.wait_line(r"the WSGI app failed")
        text = proc.log()
    entries = [json.loads(line) for line in text.splitlines()]  # every line is one object
    messages = [e["message"] for e in entries]
    assert any(m.startswith("1 of 2 contexts deployed") for m in messages), messages
    assert "routes: /app -> app, /broken -> broken" in messages  # debug (as the harness runs)
    failed = [e for e in entries if e["level"] == "error" and "broken.xml" in e["message"]]
    assert len(failed) == 1 and "ModuleNotFoundError" in failed[0]["message"]
    assert sum("no_such_module_here" in m for m in messages) == 1  # its traceback once
    [boom] = [e for e in entries if re.match(r"app\[\d+\]: app: GET /app/boom: the WSGI app "
                                            r"failed\nTraceback ", e["message"])]
    assert boom["level"] == "error" and "RuntimeError: boom" in boom["message"]  # one record


def _replaced(client: httpx.Client) -> None:
    poll(lambda: client.get("/app/ok").status_code, lambda s: s == 200,
         what="a replacement worker")


def test_error_pages_are_short_html_or_text_with_cache_control(tmp_path: Path) -> None:
    contexts = _app_contexts(tmp_path)
    (tmp_path / "apps" / "broken").mkdir()
    (tmp_path / "apps" / "broken" / "wsgi.py").write_text("raise SystemExit(1)\n")
    (contexts / "broken.xml").write_text(descriptor("/broken", "../apps/broken"))
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    seen: list[tuple[str, int]] = []  # (first path segment, status) of every answer
    hooks = {"response": [lambda r: seen.append((r.url.path.split("/")[1], r.status_code))]}
    with DeployerProcess(contexts, "--manager", "127.0.0.1:0", "--manager-token", "t") as proc:
        client = httpx.Client(base_url=proc.url, event_hooks=hooks)
        for path, status in (("/nowhere", 404), ("/app/boom", 500), ("/app/die", 502),
                             ("/broken/", 503)):
            text = client.get(path)
            assert text.status_code == status
            assert text.headers["cache-control"] == "must-revalidate,no-cache,no-store"
            assert text.headers["content-type"].startswith("text/plain")
            assert text.text == f"{status} {text.reason_phrase}\n"
            if status == 502:
                _replaced(client)
            page = client.get(path, headers=browser)
            if status == 502:
                _replaced(client)
            assert page.status_code == status
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert page.headers["cache-control"] == "must-revalidate,no-cache,no-store"
            html = page.text
            assert f"<h1>{status} " in html and len(html) < 1000
            assert str(tmp_path) not in html and "Traceback" not in html
            if path != "/nowhere":
                assert "Context path: /" + path.split("/")[1] in html
        manager = Managed(proc, contexts)  # the page's requests / errors (5xx) per context
        for name in ("app", "broken"):
            row = manager.row(f"{name}.xml")
            answers = [status for where, status in seen if where == name]
            assert row["requests"] == len(answers)
            assert row["errors"] == sum(status >= 500 for status in answers) >= 2
        broken = manager.row("broken.xml")
        assert broken["state"] == "failed" and "SystemExit: 1" in broken["error"]


def test_worker_deaths_and_restarts_are_counted(managed: Managed) -> None:
    [worker] = managed.row("counter.xml")["workers"]
    os.kill(worker["pid"], signal.SIGKILL)
    poll(lambda: managed.row("counter.xml")["workers"],
         lambda ws: len(ws) == 1 and ws[0]["pid"] != worker["pid"], what="a replacement")
    found = samples(managed)
    assert value(found, "deployer_worker_deaths_total", context="/counter") == 1
    assert value(found, "deployer_worker_restarts_total", context="/counter") == 1
    assert value(found, "deployer_worker_starts_total", context="/counter") == 2
