"""Two or more `deployer run` nodes sharing one session store, for the integration tests: the
session counter app, the 9.4-form server descriptors, and a fixture per store (PostgreSQL, Redis)
with a fresh schema or key prefix."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from tests.integration.harness import DeployerProcess
from tests.support.stores import PG_URL, REDIS_URL

APP = textwrap.dedent('''\
    import os
    import time


    def application(environ, start_response):
        session = environ["deployer.session"]
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if path == "/invalidate":
            session.invalidate()
            body = b"invalidated"
        else:
            if path == "/hold":  # the test releases it: a request in flight, made visible
                open(query + ".started", "w").close()
                deadline = time.time() + 30
                while not os.path.exists(query + ".release") and time.time() < deadline:
                    time.sleep(0.01)
            if path == "/short":
                session.max_inactive_interval = 1
            count = session.get("count", 0) + 1
            session["count"] = count
            body = str(count).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body))),
                                  ("X-Front", str(os.getppid()))])  # which node answered
        return [body]
''')

CONTEXT = textwrap.dedent('''\
    <?xml version="1.0"?>
    <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
    <Configure class="org.eclipse.jetty.webapp.WebAppContext">
      <Set name="contextPath">/shop</Set>
      <Set name="war"><Property name="jetty.webapps" default="."/>/shop</Set>
      <Set name="threads">8</Set>
    </Configure>
''')

SERVER_HEAD = '''<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure id="Server" class="org.eclipse.jetty.server.Server">
  <Set name="sessionIdManager">
    <New class="org.eclipse.jetty.server.session.DefaultSessionIdManager">
      <Arg><Ref refid="Server"/></Arg>
      <Set name="sessionHouseKeeper">
        <New class="org.eclipse.jetty.server.session.HouseKeeper">
          <Set name="intervalSec">1</Set>
        </New>
      </Set>
    </New>
  </Set>
'''

POSTGRES = SERVER_HEAD + '''
  <New id="databaseAdaptor" class="org.eclipse.jetty.server.session.DatabaseAdaptor">
    <Call name="setDriverInfo">
      <Arg>org.postgresql.Driver</Arg>
      <Arg>jdbc:postgresql://{host}:{port}/test?user=postgres</Arg>
    </Call>
  </New>
  <Call name="addBean">
    <Arg>
      <New class="org.eclipse.jetty.server.session.JDBCSessionDataStoreFactory">
        <Set name="gracePeriodSec">1</Set>
        <Set name="databaseAdaptor"><Ref refid="databaseAdaptor"/></Set>
        <Set name="sessionTableSchema">
          <New class="org.eclipse.jetty.server.session.JDBCSessionDataStore$SessionTableSchema">
            <Set name="schemaName">{name}</Set>
          </New>
        </Set>
      </New>
    </Arg>
  </Call>
</Configure>
'''

REDIS = SERVER_HEAD + '''
  <Call name="addBean">
    <Arg>
      <New class="deployer.session.RedisSessionDataStoreFactory">
        <Set name="uri">redis://{host}:{port}/0</Set>
        <Set name="keyPrefix">{name}</Set>
        <Set name="gracePeriodSec">1</Set>
      </New>
    </Arg>
  </Call>
</Configure>
'''


class Cluster:
    """The store kind, its fresh name, the contexts directory and the nodes started."""

    def __init__(self, kind: str, name: str, root: Path) -> None:
        self.kind, self.name, self.root = kind, name, root
        self.contexts = root / "contexts"
        (self.contexts / "shop").mkdir(parents=True)
        (self.contexts / "shop" / "wsgi.py").write_text(APP)
        (self.contexts / "shop.xml").write_text(CONTEXT)
        self.nodes: list[DeployerProcess] = []

    @property
    def store(self) -> tuple[str, int]:
        """Where the real store of this kind listens on this host."""
        return ("127.0.0.1", 5432 if self.kind == "postgres" else 6379)

    def config(self, port: int | None = None, host: str = "127.0.0.1") -> Path:
        port = port or self.store[1]
        text = (POSTGRES if self.kind == "postgres" else REDIS).format(
            port=port, name=self.name, host=host)
        path = self.root / f"server-{host}-{port}.xml"
        path.write_text(text)
        return path

    def node(self, worker: str, *, port: int | None = None, scan: str = "0",
             store_host: str = "127.0.0.1", host: str = "127.0.0.1",
             prefix: tuple[str, ...] = ()) -> DeployerProcess:
        """A node; ``store_host``/``port`` where it finds the store, ``host`` where it listens
        (with ``prefix``, e.g. ``ip netns exec NAME``, on a test host of its own)."""
        node = DeployerProcess(self.contexts, "--config", str(self.config(port, store_host)),
                               "--worker-name", worker, "--scan-interval", scan,
                               "--host", host, cwd=self.root, prefix=prefix, host=host)
        self.nodes.append(node)
        return node.start()

    def count(self, session_id: str) -> int | None:
        """The stored session's "count" attribute, read from the store directly."""
        session_id = session_id.partition(".")[0]
        if self.kind == "postgres":
            with psycopg.connect(PG_URL) as conn:
                row = conn.execute(f'SELECT map FROM "{self.name}".jettysessions WHERE '
                                   "sessionid = %s", (session_id,)).fetchone()
            payload = row[0] if row else None
        else:
            client = redis.Redis.from_url(REDIS_URL)
            try:
                payload = client.hget(f"{self.name}_shop:0.0.0.0:{session_id}", "map")
            finally:
                client.close()
        return None if payload is None else json.loads(bytes(payload))["attributes"]["count"]

    def stored(self, session_id: str) -> bool:
        """Whether the store holds this session (cluster id), asked directly."""
        sid = session_id.partition(".")[0]
        if self.kind == "postgres":
            with psycopg.connect(PG_URL) as conn:
                try:
                    return conn.execute(f'SELECT 1 FROM "{self.name}".jettysessions WHERE '
                                        "sessionid = %s", (sid,)).fetchone() is not None
                except psycopg.errors.UndefinedTable:  # nothing written yet
                    return False
        client = redis.Redis.from_url(REDIS_URL)
        try:
            return bool(client.exists(f"{self.name}_shop:0.0.0.0:{sid}"))
        finally:
            client.close()


@pytest.fixture(params=["postgres", "redis"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    name = request.getfixturevalue("pg_schema" if request.param == "postgres"
                                   else "redis_prefix")
    c = Cluster(request.param, name, tmp_path)
    try:
        yield c
    finally:
        for node in c.nodes:
            node.stop()


def cookie_of(response: httpx.Response) -> str:
    value = response.headers["set-cookie"].split(";")[0]
    assert value.startswith("JSESSIONID=")
    return value


def hit(node: DeployerProcess, cookie: str | None = None, path: str = "/shop/",
        timeout: float = 20) -> httpx.Response:
    headers = {"cookie": cookie} if cookie else {}
    r = httpx.get(node.url + path, headers=headers, timeout=timeout)
    assert r.status_code == 200, r.text
    return r


