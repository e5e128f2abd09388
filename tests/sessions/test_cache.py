"""The SessionCache policies and the §9.5 rules, over the real Redis and PostgreSQL stores.

Two CachedSessionManagers over one store stand for two nodes; everything runs on one event loop,
as the front runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from deployer.lifecycle import State
from deployer.sessions import cache, health
from deployer.sessions.cache import CacheConfig, CachedSessionManager
from deployer.sessions.datastore import SessionDataStore
from deployer.sessions.ids import SessionIdManager
from deployer.sessions.postgres import PostgresDataStore, TableSchema
from deployer.sessions.redisstore import RedisDataStore
from deployer.sessions.session import LazySession
from tests.support.stores import PG_URL, REDIS_URL
from tests.support.tcpproxy import TcpProxy

Node = CachedSessionManager
Nodes = Callable[..., tuple[Node, Node]]


StoreAt = Callable[..., SessionDataStore]


@pytest.fixture(params=["redis", "postgres"])
def store_at(request: pytest.FixtureRequest) -> StoreAt:
    """store_at(node, port=None) -> a data store over one fresh store of the real server,
    reached at ``port`` on 127.0.0.1 (a TcpProxy's in front of it), or at the server's own."""
    kind = request.param
    name = request.getfixturevalue("redis_prefix" if kind == "redis" else "pg_schema")

    def store(node: str, port: int | None = None) -> SessionDataStore:
        if kind == "redis":
            return RedisDataStore(_at(REDIS_URL, port), "_shop", node=node, prefix=name)
        return PostgresDataStore(_at(PG_URL, port), "_shop", node=node,
                                 schema=TableSchema(schema_name=name))

    return store


def _at(url: str, port: int | None) -> str:
    return url if port is None else url.replace(f":{_port(url)}/", f":{port}/")


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


@pytest.fixture
def nodes(store_at: StoreAt) -> Nodes:
    """nodes(**config) -> two started managers ("nodeA", "nodeB") over one fresh store."""
    def make(**config: Any) -> tuple[CachedSessionManager, CachedSessionManager]:
        cfg = CacheConfig(**{"scavenge_interval": 0, **config})
        made = []
        for node in ("nodeA", "nodeB"):
            m = CachedSessionManager(cfg, store_at(node), SessionIdManager(node), f"shop@{node}")
            m.start()
            made.append(m)
        return made[0], made[1]

    return make


def run(nodes: Nodes, body: Callable[[Node, Node], Awaitable[None]], **config: Any) -> None:
    """``body(a, b)`` on two nodes made with ``config``, on a fresh loop; both stopped after."""
    async def main() -> None:
        a, b = nodes(**config)
        try:
            await body(a, b)
        finally:
            await stop(a, b)

    asyncio.run(main())


async def stop(*managers: CachedSessionManager) -> None:
    """The public stop(), as the deploy layer calls it: from another thread than the loop's,
    waiting there for the final writes (CachedSessionManager.do_stop's bridge)."""
    for m in managers:
        await asyncio.to_thread(m.stop)


async def request(m: CachedSessionManager, sid: str | None,
                  change: Callable[[LazySession], None]) -> LazySession:
    """One request through the manager as the web layer makes it: look up, change, flush before
    the head (when configured), complete."""
    found = await m.aget(sid) if sid else None
    lazy = LazySession(m, found)  # type: ignore[arg-type]
    change(lazy)
    if m.before_commit is not None:
        await m.before_commit(lazy)
    if lazy.session is not None:
        await m.acomplete(lazy.session)
    return lazy


def incr(lazy: LazySession) -> None:
    lazy["n"] = lazy.get("n", 0) + 1


def test_null_cache_reads_the_other_nodes_last_write(nodes: Nodes) -> None:
    async def body(a: Node, b: Node) -> None:
        lazy = await request(a, None, incr)
        sid = lazy.id
        for i in range(6):
            lazy = await request(b if i % 2 == 0 else a, sid, incr)
        assert lazy["n"] == 7
        assert a.sessions == 0 and b.sessions == 0  # evicted when the request left

    run(nodes, body, null_cache=True, flush_on_response_commit=True)


def test_never_evict_cache_serves_its_own_copy_as_jetty_does(nodes: Nodes) -> None:
    """DefaultSessionCache with evictionPolicy -1 never re-reads: behind a non-sticky balancer
    a node serves its stale copy and writes it back over the other node's (Jetty's documented
    behaviour, JETTY.md §9.2): why deployer's default for a shared store evicts on exit."""
    async def body(a: Node, b: Node) -> None:
        sid = (await request(a, None, incr)).id
        await request(b, sid, incr)  # n = 2 in the store
        before = await a.data_store.load(sid)  # type: ignore[arg-type]
        assert before is not None and before.attributes["n"] == 2
        stale = await request(a, sid, lambda lazy: None)
        assert stale["n"] == 1
        after = await a.data_store.load(sid)  # type: ignore[arg-type]
        assert after is not None and after.attributes["n"] == 1  # B's write lost

    run(nodes, body, eviction_policy=-1, flush_on_response_commit=True)


def test_save_on_create_stores_before_the_request_ends(nodes: Nodes) -> None:
    async def body(a: Node, b: Node) -> None:
        s = a.create()
        await asyncio.gather(*a._tasks)
        await b._ready()
        assert await b.data_store.exists(s.id)
        await a.acomplete(s)

    run(nodes, body, save_on_create=True)


def test_update_after_another_node_invalidated_is_dropped_not_resurrected(
        nodes: Nodes, caplog: pytest.LogCaptureFixture) -> None:
    async def body(a: Node, b: Node) -> None:
        sid = (await request(a, None, incr)).id
        held = await a.aget(sid)  # a long request on A
        assert held is not None
        await request(b, sid, lambda lazy: lazy.invalidate())
        held["n"] = 99
        await a.acomplete(held)
        assert not held.is_valid
        assert not await b.data_store.exists(sid)  # type: ignore[arg-type]
        assert await b.aget(sid) is None  # type: ignore[arg-type]

    with caplog.at_level(logging.INFO, "deployer.sessions"):
        run(nodes, body, null_cache=True, flush_on_response_commit=True)
    assert "no longer in" in caplog.text


def test_unreadable_is_kept_unless_remove_unloadable(nodes: Nodes,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    async def body(a: Node, b: Node) -> None:
        sid = (await request(a, None, incr)).id
        await _corrupt(a.data_store, sid)  # type: ignore[arg-type]
        assert await b.aget(sid) is None  # type: ignore[arg-type]
        still = await _raw_exists(a.data_store, sid)  # type: ignore[arg-type]
        assert still is (not a.config.remove_unloadable)

    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        for remove in (False, True):
            run(nodes, body, null_cache=True, remove_unloadable=remove)
    assert "kept in" in caplog.text and "removeUnloadableSessions" in caplog.text


async def _corrupt(store: SessionDataStore, sid: str) -> None:
    java = b"\xac\xed\x00\x05w\x04\x00\x00\x00\x00"
    if isinstance(store, RedisDataStore):
        await store._client.hset(store.key(sid), "map", java)  # type: ignore[union-attr]
    else:
        assert isinstance(store, PostgresDataStore)
        async with store._pool.connection() as conn:
            await conn.execute(f'UPDATE "{store.schema.schema_name}".jettysessions SET map = %s '
                               "WHERE sessionid = %s", (java, sid))


async def _raw_exists(store: SessionDataStore, sid: str) -> bool:
    if isinstance(store, RedisDataStore):
        return bool(await store._client.exists(store.key(sid)))  # type: ignore[union-attr]
    async with store._pool.connection() as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(f'SELECT 1 FROM "{store.schema.schema_name}".jettysessions '  # type: ignore[attr-defined]
                                 "WHERE sessionid = %s", (sid,))
        return await cur.fetchone() is not None


def test_scavenge_never_expires_a_session_in_use_here(nodes: Nodes) -> None:
    async def body(a: Node, b: Node) -> None:
        busy = a.create()
        idle = a.create()
        for s in (busy, idle):
            s.max_inactive_interval = 1
        await a.acomplete(idle)
        await a._save(busy)
        later = time.time() + 5
        assert await a.scavenge(later) == 1  # the idle one; the busy one is in use
        assert busy.is_valid and not idle.is_valid
        assert await _raw_exists(a.data_store, busy.id)
        assert not await _raw_exists(a.data_store, idle.id)
        await a.acomplete(busy)

    run(nodes, body, eviction_policy=-1, grace_period=0)


def test_tiers_other_nodes_sessions_wait_for_the_grace_period(nodes: Nodes) -> None:
    async def body(a: Node, b: Node) -> None:
        s = b.create()
        s.max_inactive_interval = 1
        await b.acomplete(s)  # written by B, then evicted
        t = time.time() + 5
        a._last_expiry_check = t - 1  # A checked other nodes' sessions a moment ago
        assert await a.scavenge(t) == 0  # not A's, and within the grace period
        assert await a.scavenge(t + 101) == 1  # the grace period passed: any node's

    run(nodes, body, null_cache=True, grace_period=100)


def test_save_period_throttles_writes_of_times_only(nodes: Nodes) -> None:
    async def body(a: Node, b: Node) -> None:
        sid = (await request(a, None, incr)).id
        writes = a.stats.saved
        await request(a, sid, lambda lazy: None)  # only the access time moved
        assert a.stats.saved == writes
        await request(a, sid, incr)  # an attribute changed: written at once
        assert a.stats.saved == writes + 1

    run(nodes, body, eviction_policy=-1, save_period=3600)


def test_empty_session_is_stored_and_loaded(nodes: Nodes) -> None:
    async def body(a: Node, b: Node) -> None:
        s = a.create()
        await a.acomplete(s)
        got = await b.aget(s.id)
        assert got is not None and dict(got) == {}
        await b.acomplete(got)

    run(nodes, body, null_cache=True, save_on_create=True)


def test_eviction_after_idle_seconds_saves_and_drops_from_memory(nodes: Nodes) -> None:
    async def body(a: Node, b: Node) -> None:
        sid = (await request(a, None, incr)).id
        assert a.sessions == 1  # kept: not idle long enough
        await a.scavenge(time.time() + 30)
        assert a.sessions == 1
        await a.scavenge(time.time() + 120)  # idle past evictionPolicy: stored, evicted
        assert a.sessions == 0
        again = await request(a, sid, incr)  # loaded back from the store
        assert again["n"] == 2

    run(nodes, body, eviction_policy=60, save_on_inactive_eviction=True)


def observer_and_proxy(store_at: StoreAt) -> tuple[SessionDataStore, TcpProxy]:
    """A store that reads the real server directly, and a started proxy to that server, through
    which the versions under test reach it (stopping the proxy is the outage)."""
    store = store_at("observer")
    real = _port(REDIS_URL if isinstance(store, RedisDataStore) else PG_URL)
    return store, TcpProxy(("127.0.0.1", real)).start()


@contextlib.asynccontextmanager
async def watching(store: SessionDataStore, *managers: CachedSessionManager,
                   proxy: TcpProxy | None = None) -> AsyncIterator[None]:
    """The observer started; afterwards, however the test ends, the proxy (if any), the
    managers and the observer stopped."""
    await store.start()
    try:
        yield
    finally:
        if proxy is not None:
            proxy.stop()
        await stop(*managers)
        await store.stop()


async def until(done: Callable[[], Awaitable[bool]], what: str) -> None:
    """A deadline for what the real store shows, polled: the store sends no event."""
    deadline = time.monotonic() + 60
    while not await done():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


def versions(store_at: StoreAt, count: int, *, port: int | None = None,
             **config: Any) -> tuple[SessionIdManager, list[CachedSessionManager]]:
    """``count`` versions of one context on nodeA, not started, sharing the id manager as the
    versions on one server do."""
    cfg = CacheConfig(**{"eviction_policy": -1, "scavenge_interval": 0, **config})
    ids = SessionIdManager("nodeA")
    return ids, [CachedSessionManager(cfg, store_at("nodeA", port), ids, f"shop@nodeA v{n}")
                 for n in range(1, count + 1)]


def test_a_redeploy_during_an_outage_hands_the_retries_to_the_new_version(
        store_at: StoreAt) -> None:
    """A logout and a change made while the store was down, then a redeploy (take_over from
    another thread, as the deploy layer calls it, and the old version stopped): once the store
    is back, the new version deletes the logged-out session and writes the change."""
    store, proxy = observer_and_proxy(store_at)
    _, (old, new) = versions(store_at, 2, port=proxy.port, flush_on_response_commit=True)

    async def main() -> None:
        old.start()
        async with watching(store, new, old, proxy=proxy):
            gone = (await request(old, None, incr)).id
            kept = (await request(old, None, incr)).id
            proxy.stop()
            await request(old, gone, lambda lazy: lazy.invalidate())  # its delete fails
            assert (await request(old, kept, incr))["n"] == 2  # its write fails
            await asyncio.to_thread(new.take_over, old)
            new.start()
            await asyncio.to_thread(old.stop)
            assert old.state is State.STOPPED
            proxy.start()

            async def retried() -> bool:
                return not await store.exists(gone) and await _count(store, kept) == 2

            await until(retried, "the new version did not retry")

    asyncio.run(main())


def test_a_session_made_after_the_take_over_is_handed_on(store_at: StoreAt) -> None:
    """Requests reach the old version until the route swaps: a session it makes then, whose
    write the store refused, is the new version's to write once the old one stopped."""
    store, proxy = observer_and_proxy(store_at)
    ids, (old, new) = versions(store_at, 2, port=proxy.port, flush_on_response_commit=True)

    async def main() -> None:
        old.start()
        async with watching(store, new, old, proxy=proxy):
            await request(old, None, incr)  # the store is in use before the outage
            await asyncio.to_thread(new.take_over, old)
            await asyncio.to_thread(new.start)
            proxy.stop()
            late = (await request(old, None, incr)).id  # before the swap; its write fails
            await asyncio.to_thread(old.stop)
            proxy.start()

            async def written() -> bool:
                return await _count(store, late) == 1

            await until(written, "nobody wrote the session made late")
            assert (await request(new, late, incr))["n"] == 2
            await stop(new)
            assert not ids.in_use(SessionIdManager.cluster_id(late))

    asyncio.run(main())


def test_a_version_that_fails_to_start_gives_the_sessions_back(store_at: StoreAt) -> None:
    """A redeploy whose new version fails after taking the sessions over (its context's start
    raises after the sessions started) leaves the old one serving: its sessions go back to it
    with their ids still in use, and the failed version leaves no housekeeper behind."""
    ids, (old, new) = versions(store_at, 2, flush_on_response_commit=True)
    store = store_at("observer")

    def housekeepers() -> int:
        return sum("_housekeeping" in repr(t.get_coro()) for t in asyncio.all_tasks())

    async def main() -> None:
        old.start()
        async with watching(store, new, old):
            sid = (await request(old, None, incr)).id
            await asyncio.to_thread(new.take_over, old)
            await asyncio.to_thread(new.start)
            await asyncio.to_thread(new.stop)  # the context's start failed: stopped at once
            assert housekeepers() == 1  # the old version's
            assert ids.in_use(SessionIdManager.cluster_id(sid))
            assert (await request(old, sid, incr))["n"] == 2  # served, and written by the old
            assert await _count(store, sid) == 2
            await stop(old)
            assert not ids.in_use(SessionIdManager.cluster_id(sid))

    asyncio.run(main())


def test_a_version_that_fails_before_any_request_gives_back_too(store_at: StoreAt) -> None:
    """No request had bound the old version to a loop when the new one took over and failed:
    the old one is whole again, and its stop ends its sessions (ids released)."""
    ids, (old, new) = versions(store_at, 2, flush_on_response_commit=True)

    async def main() -> None:
        old.start()
        try:
            await asyncio.to_thread(new.take_over, old)
            await asyncio.to_thread(new.start)
            await stop(new)  # its context failed to start
            sid = (await request(old, None, incr)).id
            await stop(old)
            assert not ids.in_use(SessionIdManager.cluster_id(sid))
        finally:
            await stop(new, old)

    asyncio.run(main())


def test_two_redeploys_within_a_drain_keep_the_sessions_with_the_newest(
        store_at: StoreAt) -> None:
    """v1 still drains (started) when v3 takes over from v2 and v2 is retired: v2 served, so
    its stop gives nothing back to v1, and v1's later stop leaves v3's sessions alone."""
    ids, (v1, v2, v3) = versions(store_at, 3, flush_on_response_commit=True)

    async def main() -> None:
        v1.start()
        try:
            lazy = await request(v1, None, incr)
            for old, new in ((v1, v2), (v2, v3)):
                await asyncio.to_thread(new.take_over, old)
                await asyncio.to_thread(new.start)
            await stop(v2, v1)  # v2 retired at once, v1's drain ends later
            assert lazy.session is not None and lazy.session._manager is v3
            assert ids.in_use(SessionIdManager.cluster_id(lazy.id))
            assert (await request(v3, lazy.id, incr))["n"] == 2
        finally:
            await stop(v3, v2, v1)

    asyncio.run(main())


def test_a_request_across_the_take_over_ends_the_session_once(store_at: StoreAt) -> None:
    """Evicted when its last request leaves (the shared stores' default): a request that
    began on the old version and ends there after the take over evicts the one cached copy, so
    the new version reads the store (another node's later write), and the id is released once."""
    cfg = CacheConfig(eviction_policy=0, flush_on_response_commit=True, scavenge_interval=0)
    ids, (v1, v2) = versions(store_at, 2, eviction_policy=0, flush_on_response_commit=True)
    other = CachedSessionManager(cfg, store_at("nodeB"), SessionIdManager("nodeB"), "shop@nodeB")

    async def main() -> None:
        v1.start()
        other.start()
        try:
            sid = (await request(v1, None, incr)).id
            s = await v1.aget(sid)  # a request in flight on v1...
            assert s is not None
            await asyncio.to_thread(v2.take_over, v1)
            await asyncio.to_thread(v2.start)
            s["n"] = 2
            await v1.acomplete(s)  # ...ends there, after the take over
            assert not ids.in_use(SessionIdManager.cluster_id(sid)) and v2.sessions == 0
            assert (await request(other, sid, incr))["n"] == 3
            assert (await request(v2, sid, incr))["n"] == 4  # read from the store, not stale
        finally:
            await stop(v2, v1, other)

    asyncio.run(main())


def test_a_redeploy_onto_another_store_leaves_the_sessions_in_the_old(
        store_at: StoreAt, redis_prefix: str) -> None:
    """Nothing is taken over across stores: the old version keeps its sessions and writes
    them to its own store when it stops; the new one starts empty (and is never told to update
    a session its store does not hold)."""
    cfg = CacheConfig(eviction_policy=-1, flush_on_response_commit=False, scavenge_interval=0)
    ids = SessionIdManager("nodeA")
    v1 = CachedSessionManager(cfg, store_at("nodeA"), ids, "shop@nodeA v1")
    elsewhere = RedisDataStore(REDIS_URL, "_shop", node="nodeA", prefix=redis_prefix + "new:")
    v2 = CachedSessionManager(cfg, elsewhere, ids, "shop@nodeA v2")
    store = store_at("observer")

    async def main() -> None:
        v1.start()
        async with watching(store, v2, v1):
            lazy = await request(v1, None, incr)
            await asyncio.to_thread(v2.take_over, v1)
            await asyncio.to_thread(v2.start)
            assert v2.sessions == 0 and lazy.session is not None and lazy.session._manager is v1
            assert (await request(v1, lazy.id, incr))["n"] == 2  # still v1's until it stops
            await stop(v1)
            assert await _count(store, lazy.id) == 2
            assert not await elsewhere.exists(lazy.id)

    asyncio.run(main())


def test_a_version_stopped_during_its_predecessors_drain_gives_back(store_at: StoreAt) -> None:
    """v2 served, then is undeployed while v1 still drains: v1 holds the sessions again (a
    change made on v2 included) and writes them and releases their ids when it stops."""
    ids, (v1, v2) = versions(store_at, 2, flush_on_response_commit=False)
    store = store_at("observer")

    async def main() -> None:
        v1.start()
        async with watching(store, v2, v1):
            await asyncio.to_thread(v2.take_over, v1)
            await asyncio.to_thread(v2.start)
            lazy = await request(v2, None, incr)  # the route swapped: v2 serves
            lazy.session["n"] = 2  # type: ignore[index]  # changed, not yet written
            await stop(v2)
            assert lazy.session._manager is v1  # type: ignore[union-attr]
            await stop(v1)
            assert await _count(store, lazy.id) == 2
            assert not ids.in_use(SessionIdManager.cluster_id(lazy.id))

    asyncio.run(main())


def test_a_late_session_of_a_draining_version_reaches_the_newest(store_at: StoreAt) -> None:
    """A session v1 makes after v2 took over (before the route swapped) is still held by the
    newest version after two redeploys and both old versions' stops."""
    ids, (v1, v2, v3) = versions(store_at, 3, flush_on_response_commit=True)

    async def main() -> None:
        v1.start()
        try:
            await asyncio.to_thread(v2.take_over, v1)
            await asyncio.to_thread(v2.start)
            late = await request(v1, None, incr)
            await asyncio.to_thread(v3.take_over, v2)
            await asyncio.to_thread(v3.start)
            await stop(v2, v1)
            assert late.session is not None and late.session._manager is v3
            assert (await request(v3, late.id, incr))["n"] == 2
            await stop(v3)
            assert not ids.in_use(SessionIdManager.cluster_id(late.id))
        finally:
            await stop(v3, v2, v1)

    asyncio.run(main())


def test_a_request_outliving_its_versions_drain_ends_on_the_newest(store_at: StoreAt) -> None:
    """The drain ran out: the old version stopped (its store closed) while a request on it
    still ran. The request ends on the version holding the sessions now, whose store takes the
    write; the closed store reports no outage of the one that works."""
    ids, (v1, v2) = versions(store_at, 2, flush_on_response_commit=False)
    store = store_at("observer")

    async def main() -> None:
        v1.start()
        async with watching(store, v2, v1):
            sid = (await request(v1, None, incr)).id
            s = await v1.aget(sid)  # a request on v1, in flight
            assert s is not None
            await asyncio.to_thread(v2.take_over, v1)
            await asyncio.to_thread(v2.start)
            s["n"] = 2
            await stop(v1)  # the drain ran out
            await v1.acomplete(s)  # the request's end, through v1's binder
            assert await _count(store, sid) == 2 and v2.health.failures == 0

    asyncio.run(main())


def test_an_invalidate_after_the_stop_touches_nothing(store_at: StoreAt) -> None:
    """The last version stopped (its sessions written, their ids released) while a request
    held a session that another context of this server also uses; the request then logs out:
    the other context's hold on the id stays, and the stopped manager's store stays closed."""
    cfg = CacheConfig(eviction_policy=-1, scavenge_interval=0)
    ids = SessionIdManager("nodeA")
    m = CachedSessionManager(cfg, store_at("nodeA"), ids, "shop@nodeA")

    async def main() -> None:
        m.start()
        try:
            sid = (await request(m, None, incr)).id
            ids.register(SessionIdManager.cluster_id(sid))  # another context uses it too
            s = await m.aget(sid)
            assert s is not None
            await stop(m)
            s.invalidate()
            assert ids.in_use(SessionIdManager.cluster_id(sid))
            assert not m._deleting  # no delete started on a stopped manager
        finally:
            await stop(m)

    asyncio.run(main())


def test_a_take_over_that_timed_out_never_happens_later(
        store_at: StoreAt, monkeypatch: pytest.MonkeyPatch) -> None:
    """The front's loop stalled past the deploy thread's wait: the redeploy fails, and the old
    version, which keeps serving, is not handed over once the loop gets to it."""
    monkeypatch.setattr(cache, "_STOP_TIMEOUT", 0.1)  # not 30 s
    ids, (v1, v2) = versions(store_at, 2)

    async def main() -> None:
        v1.start()
        try:
            lazy = await request(v1, None, incr)  # v1 is bound to this loop
            asyncio.get_running_loop().call_soon(time.sleep, 0.5)  # the loop stalls
            with pytest.raises(TimeoutError):
                await asyncio.to_thread(v2.take_over, v1)
            assert lazy.session is not None and lazy.session._manager is v1
            assert (await request(v1, lazy.id, incr))["n"] == 2
        finally:
            await stop(v2, v1)

    asyncio.run(main())


async def _count(store: SessionDataStore, sid: str) -> object:
    data = await store.load(sid)
    return None if data is None else data.attributes.get("n")


def test_a_store_that_stays_down_is_reminded_of_then_ended_once(
        store_at: StoreAt, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As SessionManager's: one line when the outage starts, "still fails" reminders while the
    housekeeper's retries fail, one line when it works again, and the held write done."""
    monkeypatch.setattr(health, "REMINDER_EVERY", 0.5)  # not five minutes
    store, proxy = observer_and_proxy(store_at)
    cfg = CacheConfig(eviction_policy=-1, flush_on_response_commit=True, scavenge_interval=0)
    m = CachedSessionManager(cfg, store_at("nodeA", proxy.port), SessionIdManager("nodeA"),
                             "shop@nodeA")

    def said(text: str) -> int:
        return sum(text in r.getMessage() for r in caplog.records)

    async def main() -> None:
        m.start()
        async with watching(store, m, proxy=proxy):
            sid = (await request(m, None, incr)).id
            proxy.stop()
            await request(m, sid, incr)  # held: written when the store is back

            async def reminded() -> bool:
                return said("the store still fails") >= 2

            await until(reminded, "no reminder while the store stayed down")
            proxy.start()

            async def written() -> bool:
                return await _count(store, sid) == 2

            await until(written, "the held write was not done")

    with caplog.at_level(logging.WARNING, "deployer.sessions"):
        asyncio.run(main())
    assert said("sessions stay in memory, retrying") == 1
    assert said("the store works again after") == 1


def test_stop_from_another_thread_waits_for_the_final_writes(nodes: Nodes) -> None:
    async def body(a: Node, b: Node) -> None:
        s = a.create()
        s["n"] = 1
        a.complete(s)  # the write is a task that has not run yet
        await stop(a)
        assert a.state is State.STOPPED and a.stats.saved == 1  # written before stop returned
        got = await b.aget(s.id)
        assert got is not None and got["n"] == 1
        await b.acomplete(got)

    run(nodes, body, eviction_policy=-1)
