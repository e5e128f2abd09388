"""Data a webapp writes under its own directory never redeploys it; an edit of its code does."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.harness import DeployerProcess, descriptor, poll, save_atomically

DATA_APP = '''\
import contextlib
import os
import pathlib
import sqlite3

HERE = pathlib.Path(__file__).resolve().parent
VERSION = "{version}"


def application(environ, start_response):
    # the app's own data beside its code, as a Flask or Django app keeps its SQLite file
    with contextlib.closing(sqlite3.connect(HERE / "db.sqlite3")) as db, db:
        db.execute("create table if not exists hits (path text)")
        db.execute("insert into hits values (?)", (environ["PATH_INFO"],))
        count = db.execute("select count(*) from hits").fetchone()[0]
    (HERE / "logs").mkdir(exist_ok=True)
    with open(HERE / "logs" / "access.log", "a") as log:
        log.write(environ["PATH_INFO"] + "\\n")
    body = f"{{VERSION}} {{os.getpid()}} {{count}}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def test_an_app_writing_sqlite_in_its_war_is_not_redeployed(tmp_path: Path) -> None:
    app = tmp_path / "apps" / "data"
    app.mkdir(parents=True)
    (app / "wsgi.py").write_text(DATA_APP.format(version="v1"))
    contexts = tmp_path / "contexts"
    contexts.mkdir()
    (contexts / "data.xml").write_text(descriptor("/data", "../apps/data"))
    with DeployerProcess(contexts, "--scan-interval", "1") as run, \
            httpx.Client(base_url=run.url) as client:
        answers = []
        for _ in range(20):
            response = client.get("/data/")
            assert response.status_code == 200, response.text
            answers.append(response.text.split())
        assert [count for _, _, count in answers] == [str(i) for i in range(1, 21)]
        assert len({pid for _, pid, _ in answers}) == 1  # one worker served them all
        assert (app / "db.sqlite3").is_file() and (app / "logs" / "access.log").is_file()
        # a later deploy proves the scanner has looked since the last write
        (contexts / "zz.xml").write_text(descriptor("/zz", "../apps/data"))
        run.wait_line(r"deployed .*zz\.xml")
        assert run.count(r"redeployed") == 0, run.log()
        save_atomically(app / "wsgi.py", DATA_APP.format(version="v2"))
        text = poll(lambda: client.get("/data/").text, lambda t: t.startswith("v2 "),
                    what="the edit to be redeployed")
        assert text.split()[1] != answers[0][1]  # a fresh worker
        assert run.count(r"redeployed .*data\.xml") == 1, run.log()
