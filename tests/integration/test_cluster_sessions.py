"""Two `deployer run` nodes sharing sessions in the real PostgreSQL and the real Redis.

Each test gets a fresh PostgreSQL schema or Redis key prefix (tests/support/stores.py), the
server descriptor of JETTY.md §9.2's 9.4 form (`run --config`), and two nodes on their own ports.
No load balancer: the test itself sends each request to the node it chooses (no stickiness).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx

from tests.integration.cluster import CONTEXT, Cluster, cookie_of, hit
from tests.integration.harness import save_atomically
from tests.support.tcpproxy import TcpProxy
from tests.support.waiting import wait_for


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
    return TcpProxy(cluster.store)


def test_store_down_at_start_then_back(cluster: Cluster) -> None:
    proxy = _outage_store(cluster)  # not started: the store is down
    try:
        a = cluster.node("nodeA", port=proxy.port)
        r = hit(a)  # answered without the store
        cookie = cookie_of(r)
        assert r.text == "1"
        a.wait_line("sessions stay in memory, retrying", timeout=20)
        proxy.start()
        a.wait_line("the store works again after", timeout=30)
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
        a.wait_line("sessions stay in memory, retrying", after=mark, timeout=20)
        proxy.start()
        a.wait_line("the store works again after", after=mark, timeout=30)
        assert a.count("sessions stay in memory, retrying") == 1  # once per outage

        wait_for(lambda: cluster.count(sid) == 6, 20, "the writes of the outage to be stored")
        b = cluster.node("nodeB")  # straight to the store
        assert hit(b, cookie).text == "7"
    finally:
        proxy.stop()


def test_a_redeploy_keeps_the_shared_sessions(cluster: Cluster) -> None:
    a = cluster.node("nodeA", scan="0.2")
    cookie = cookie_of(hit(a))
    assert hit(a, cookie).text == "2"
    mark = a.mark()
    save_atomically(cluster.contexts / "shop.xml",
                    CONTEXT.replace("<Set name=\"threads\">8</Set>",
                                    "<Set name=\"threads\">4</Set>"))
    a.wait_line(r"redeployed .*shop\.xml", after=mark, timeout=30)
    assert hit(a, cookie).text == "3"


def test_two_nodes_with_one_worker_name_are_reported(cluster: Cluster) -> None:
    a = cluster.node("twin")
    hit(a)  # its store connections are open
    b = cluster.node("twin")
    hit(b)
    b.wait_line(r"worker name 'twin' is also used by deployer:twin:", timeout=20)


def test_a_redeploy_from_a_shared_store_to_memory_and_back_keeps_serving(
        cluster: Cluster) -> None:
    a = cluster.node("nodeA", scan="0.2")
    cookie = cookie_of(hit(a))
    own = CONTEXT.replace("</Configure>", (
        '  <Get name="sessionHandler"><Get name="sessionManager">\n'
        '    <Set name="storeDirectory">own-sessions</Set>\n'
        "  </Get></Get>\n</Configure>"))
    for text, expected in ((own, "1"), (CONTEXT, "2")):
        mark = a.mark()
        save_atomically(cluster.contexts / "shop.xml", text)
        a.wait_line(r"redeployed .*shop\.xml", after=mark, timeout=30)
        # its own store knows nothing of the shared session; back on the shared store, the
        # shared session is there again
        assert hit(a, cookie).text == expected
