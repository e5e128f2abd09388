"""Two `deployer run` nodes sharing sessions in the real PostgreSQL and the real Redis.

Each test gets a fresh PostgreSQL schema or Redis key prefix (tests/support/stores.py), the
server descriptor of JETTY.md §9.2's 9.4 form (`run --config`), and two nodes on their own ports.
No load balancer: the test itself sends each request to the node it chooses (no stickiness).
"""

from __future__ import annotations

import json
import signal
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from tests.integration.harness import DeployerProcess
from tests.support.stores import PG_URL, REDIS_URL
from tests.support.tcpproxy import TcpProxy
from tests.support.waiting import wait_for

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
                                  ("Content-Length", str(len(body)))])
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
      <Arg>jdbc:postgresql://127.0.0.1:{port}/test?user=postgres</Arg>
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
        <Set name="uri">redis://127.0.0.1:{port}/0</Set>
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

    def config(self, port: int | None = None) -> Path:
        default = 5432 if self.kind == "postgres" else 6379
        text = (POSTGRES if self.kind == "postgres" else REDIS).format(
            port=port or default, name=self.name)
        path = self.root / f"server-{port or default}.xml"
        path.write_text(text)
        return path

    def node(self, worker: str, *, port: int | None = None) -> DeployerProcess:
        node = DeployerProcess(self.contexts, "--config", str(self.config(port)),
                               "--worker-name", worker, "--scan-interval", "0",
                               cwd=self.root)
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


def test_counter_through_two_nodes_in_turn_never_loses_or_repeats_a_step(
        cluster: Cluster) -> None:
    a, b = cluster.node("nodeA"), cluster.node("nodeB")
    first = hit(a)
    cookie = cookie_of(first)
    seen = [int(first.text)]
    for i in range(30):
        seen.append(int(hit(b if i % 2 == 0 else a, cookie).text))
    assert seen == list(range(1, 32))
    assert cluster.stored(cookie.partition("=")[2])


def test_sigkill_under_16_clients_loses_no_acknowledged_increment(cluster: Cluster) -> None:
    a, b = cluster.node("nodeA"), cluster.node("nodeB")
    acknowledged: dict[int, int] = {}
    cookies: dict[int, str] = {}
    killed = threading.Event()
    errors: list[BaseException] = []
    progress = threading.Semaphore(0)

    def client(n: int) -> None:
        try:
            r = hit(a)
            cookies[n], acknowledged[n] = cookie_of(r), int(r.text)
            i = 0
            while not (killed.is_set() and i > 40):
                node = b if killed.is_set() or i % 2 else a
                i += 1
                try:
                    r = httpx.get(node.url + "/shop/", headers={"cookie": cookies[n]},
                                  timeout=20)
                except httpx.TransportError:
                    continue  # node A died under this request: no acknowledgement
                if r.status_code != 200:
                    continue
                value = int(r.text)
                assert value > acknowledged[n], (n, value, acknowledged[n])
                acknowledged[n] = value
                progress.release()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for _ in range(16 * 5):  # every client well under way on both nodes
        assert progress.acquire(timeout=60), "the clients made no progress"
    a.send(signal.SIGKILL)
    a.wait_exit()
    killed.set()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for n in range(16):
        after = int(hit(b, cookies[n]).text)
        # the last acknowledged increment survived; at most one unacknowledged one was also
        # written (it was flushed before node A could answer, and A died before it did)
        assert acknowledged[n] + 1 <= after <= acknowledged[n] + 2, (n, acknowledged[n], after)


def test_invalidated_on_a_is_gone_on_b_and_a_late_write_does_not_resurrect_it(
        cluster: Cluster, tmp_path: Path) -> None:
    a, b = cluster.node("nodeA"), cluster.node("nodeB")
    cookie = cookie_of(hit(a))
    sid = cookie.partition("=")[2]
    marker = tmp_path / "held"
    held: dict[str, httpx.Response] = {}
    slow = threading.Thread(target=lambda: held.setdefault(
        "r", hit(a, cookie, f"/shop/hold?{marker}")))
    slow.start()
    wait_for(lambda: Path(f"{marker}.started").exists(), 20, "the held request on node A")
    assert hit(b, cookie, "/shop/invalidate").text == "invalidated"
    assert not cluster.stored(sid)
    Path(f"{marker}.release").touch()
    slow.join(30)
    assert held["r"].text == "2"  # the app saw the session it was given...
    assert not cluster.stored(sid)  # ...but its write did not bring the session back
    a.wait_line("no longer in", timeout=10)
    again = hit(b, cookie)
    assert again.text == "1" and cookie_of(again) != cookie


def test_a_session_expires_across_nodes(cluster: Cluster) -> None:
    a, b = cluster.node("nodeA"), cluster.node("nodeB")
    r = hit(a, path="/shop/short")  # max inactive interval 1 s
    cookie = cookie_of(r)
    sid = cookie.partition("=")[2]
    assert cluster.stored(sid)
    # nobody touches it: one of the nodes' scavengers (1 s, grace 1 s) deletes it
    wait_for(lambda: not cluster.stored(sid), 20, "the expired session to be scavenged")
    again = hit(b, cookie)
    assert again.text == "1"


def _outage_store(cluster: Cluster) -> TcpProxy:
    return TcpProxy(("127.0.0.1", 5432 if cluster.kind == "postgres" else 6379))


def test_store_down_at_start_then_back(cluster: Cluster) -> None:
    proxy = _outage_store(cluster)  # not started: the store is down
    try:
        a = cluster.node("nodeA", port=proxy.port)
        r = hit(a)  # answered without the store
        cookie = cookie_of(r)
        assert r.text == "1"
        a.wait_line("session store unavailable", timeout=20)
        proxy.start()
        a.wait_line("is back", timeout=30)
        wait_for(lambda: cluster.stored(cookie.partition("=")[2]), 20,
                 "the session made during the outage to be written")
        assert hit(a, cookie).text == "2"
    finally:
        proxy.stop()


def test_store_going_away_while_serving(cluster: Cluster) -> None:
    proxy = _outage_store(cluster).start()
    try:
        a = cluster.node("nodeA", port=proxy.port)
        cookie = cookie_of(hit(a))
        sid = cookie.partition("=")[2]
        assert cluster.stored(sid)
        proxy.stop()
        mark = a.mark()
        values = [int(hit(a, cookie).text) for _ in range(5)]  # answered all along
        assert values == [2, 3, 4, 5, 6]
        a.wait_line("session store unavailable", after=mark, timeout=20)
        proxy.start()
        a.wait_line("is back", after=mark, timeout=30)
        assert a.count("session store unavailable") == 1  # once per outage

        wait_for(lambda: cluster.count(sid) == 6, 20, "the writes of the outage to be stored")
        b = cluster.node("nodeB")  # straight to the store
        assert hit(b, cookie).text == "7"
    finally:
        proxy.stop()
