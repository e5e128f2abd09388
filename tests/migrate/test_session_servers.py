"""The corpus's JDBC and Redis session configurations migrate into server descriptors that run
against the real PostgreSQL and Redis (`deployer run --config`)."""

from __future__ import annotations

import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from deployer.descriptor.loader import load_server_config
from deployer.descriptor.sessionspecs import ClusterIdManagerSpec, SessionDataStoreSpec
from deployer.migrate.api import migrate
from deployer.migrate.report import Status
from tests.integration.harness import DeployerProcess
from tests.support.stores import PG_URL, REDIS_URL

PG_JDBC = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres"


def migrated(corpus: list[Path], number: str, out: Path) -> Path:
    source = next(p for p in corpus if p.name.startswith(f"{number}_"))
    (result,) = migrate([source], out)
    assert result.status in (Status.AS_IS, Status.WITH_CHANGES), result.message
    assert result.server and result.output is not None
    assert Path(result.output).parent == out / "server"  # never where contexts are scanned
    return Path(result.output)


@pytest.mark.parametrize("number,kind", [("61", "jdbc"), ("85", "redis"), ("86", "redis"),
                                         ("80", "redis")])
def test_store_factories_become_server_descriptors(corpus: list[Path], tmp_path: Path,
                                                   number: str, kind: str) -> None:
    path = migrated(corpus, number, tmp_path / "contexts")
    spec = load_server_config([path], environ={}, properties={
        "jetty.session.jdbc.driverUrl": PG_JDBC})
    (store,) = [b for b in spec.beans if isinstance(b, SessionDataStoreSpec)]
    assert store.kind == kind


def test_93_jdbc_id_manager_gets_a_connection_from_properties(corpus: list[Path],
                                                              tmp_path: Path) -> None:
    path = migrated(corpus, "59", tmp_path / "contexts")
    spec = load_server_config([path], environ={}, properties={
        "jetty.jdbcSession.connectionURL": PG_JDBC})
    ids = spec.session_id_manager
    assert isinstance(ids, ClusterIdManagerSpec) and ids.worker_name == "node1"
    assert ids.database_adaptor is not None
    assert ids.database_adaptor.conninfo == "postgresql://127.0.0.1:5432/test?user=postgres"


def test_ovea_server_keeps_worker_and_scavenger(corpus: list[Path], tmp_path: Path) -> None:
    path = migrated(corpus, "80", tmp_path / "contexts")
    spec = load_server_config([path], environ={})
    ids = spec.session_id_manager
    assert isinstance(ids, ClusterIdManagerSpec) and ids.worker_name == "node1"
    assert ids.house_keeper is not None and ids.house_keeper.interval_sec == 20
    (store,) = spec.beans
    assert store.redis.url == "redis://127.0.0.1:6379/0"


def test_redis_context_manager_points_at_the_server_store(corpus: list[Path],
                                                          tmp_path: Path) -> None:
    source = next(p for p in corpus if p.name.startswith("79_"))
    (result,) = migrate([source], tmp_path / "out", write=False)
    assert any("Redis store again" in f.message for f in result.findings)


APP = textwrap.dedent("""\
    def application(environ, start_response):
        session = environ["deployer.session"]
        session["count"] = session.get("count", 0) + 1
        body = str(session["count"]).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
""")


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A contexts directory with a counter at a context path no other test uses."""
    name = f"m{secrets.token_hex(4)}"
    contexts = tmp_path / "contexts"
    (contexts / name).mkdir(parents=True)
    (contexts / name / "wsgi.py").write_text(APP)
    (contexts / f"{name}.xml").write_text(textwrap.dedent(f"""\
        <?xml version="1.0"?>
        <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
        <Configure class="org.eclipse.jetty.webapp.WebAppContext">
          <Set name="contextPath">/{name}</Set>
          <Set name="war"><Property name="jetty.webapps" default="."/>/{name}</Set>
        </Configure>
    """))
    yield contexts, name
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"deployer:session:*_{name}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _counts(node: DeployerProcess, path: str) -> list[str]:
    first = httpx.get(f"{node.url}/{path}/", timeout=20)
    cookie = first.headers["set-cookie"].split(";")[0]
    second = httpx.get(f"{node.url}/{path}/", headers={"cookie": cookie}, timeout=20)
    return [first.text, second.text, cookie.partition("=")[2].partition(".")[0]]


def test_migrated_jdbc_session_store_runs_against_postgres(
        corpus: list[Path], app_dir: tuple[Path, str], pg_schema: str) -> None:
    contexts, name = app_dir
    config = migrated(corpus, "61", contexts.parent / "migrated")
    with DeployerProcess(contexts, "--config", str(config), "--scan-interval", "0",
                         "--property", f"jetty.session.jdbc.driverUrl={PG_JDBC}",
                         "--property", f"jetty.session.jdbc.schema.schemaName={pg_schema}",
                         ) as node:
        one, two, sid = _counts(node, name)
    assert (one, two) == ("1", "2")
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute(f'SELECT contextpath FROM "{pg_schema}".jettysessions '
                           "WHERE sessionid = %s", (sid,)).fetchone()
    assert row == (f"_{name}",)


def test_migrated_ovea_redis_server_runs_against_redis(
        corpus: list[Path], app_dir: tuple[Path, str]) -> None:
    contexts, name = app_dir
    config = migrated(corpus, "80", contexts.parent / "migrated")
    with DeployerProcess(contexts, "--config", str(config), "--scan-interval", "0") as node:
        one, two, sid = _counts(node, name)
    assert (one, two) == ("1", "2")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.exists(f"deployer:session:_{name}:0.0.0.0:{sid}")
    finally:
        client.close()


def test_environment_and_system_lookups_in_a_server_file_are_kept(corpus: list[Path],
                                                                  tmp_path: Path) -> None:
    """The check of a migrated server file gave <Env> and <SystemProperty> without a default
    nothing to stand for, so it dropped the lines that use them; a context file's check did not."""
    source = next(p for p in corpus if p.name.startswith("61_"))
    text = source.read_text().replace(
        '<Property name="jetty.session.gracePeriod.seconds" default="3600" />',
        '<Env name="GRACE"/>').replace(
        '<Property name="jetty.session.savePeriod.seconds" default="0" />',
        '<SystemProperty name="save.period"/>')
    assert "GRACE" in text and "save.period" in text
    (tmp_path / "session-store.xml").write_text(text)
    (result,) = migrate([tmp_path / "session-store.xml"], tmp_path / "out")
    assert result.status is Status.WITH_CHANGES and result.output is not None
    assert not [f for f in result.findings if "gracePeriodSec" in f.message
                or "savePeriodSec" in f.message], result.findings
    spec = load_server_config([Path(result.output)], environ={"GRACE": "60"},
                              system_properties={"save.period": "5"},
                              properties={"jetty.session.jdbc.driverUrl": PG_JDBC})
    (store,) = [b for b in spec.beans if isinstance(b, SessionDataStoreSpec)]
    assert (store.grace_period_sec, store.save_period_sec) == (60, 5)
