"""The SessionDataStore contract, run against SQLite, the real PostgreSQL and the real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import redis

from deployer.errors import SessionError
from deployer.sessions.datastore import (
    SessionData,
    SessionDataStore,
    SessionGone,
    StoreUnavailable,
    UnreadableSession,
    canonical_context,
    canonical_vhost,
    decode_attributes,
    encode_attributes,
)
from deployer.sessions.ids import SessionIdManager
from deployer.sessions.postgres import PostgresDataStore, TableSchema
from deployer.sessions.redisstore import RedisDataStore
from deployer.sessions.sqlitedata import SqliteDataStore
from tests.support.stores import PG_URL, REDIS_URL

IDS = SessionIdManager()


def new_data(max_inactive: int = 600, **attrs: object) -> SessionData:
    now = time.time()
    return SessionData(IDS.new_id(), now, now, now, max_inactive, dict(attrs))


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path
               ) -> Callable[..., SessionDataStore]:
    kind = request.param

    def make(context: str = "_shop", node: str = "nodeA") -> SessionDataStore:
        if kind == "sqlite":
            return SqliteDataStore(tmp_path / context, context, node=node)
        if kind == "postgres":
            schema = request.getfixturevalue("pg_schema")
            return PostgresDataStore(PG_URL, context, node=node,
                                     schema=TableSchema(schema_name=schema))
        return RedisDataStore(REDIS_URL, context, node=node,
                              prefix=request.getfixturevalue("redis_prefix"))

    make.kind = kind  # type: ignore[attr-defined]
    return make


def run(store: SessionDataStore, body: Callable[[SessionDataStore], object]) -> object:
    async def main() -> object:
        await store.start()
        try:
            return await body(store)  # type: ignore[misc]
        finally:
            await store.stop()

    return asyncio.run(main())


def test_store_load_round_trip_and_empty_map(make_store: Callable[..., SessionDataStore]) -> None:
    store = make_store()
    full, empty = new_data(count=3, name="é", nested={"a": [1, 2.5, None]}), new_data()

    async def body(s: SessionDataStore) -> tuple:
        await s.store(full)
        await s.store(empty)
        return await s.load(full.id), await s.load(empty.id), await s.load(IDS.new_id())

    got_full, got_empty, missing = run(store, body)  # type: ignore[misc]
    assert got_full.attributes == {"count": 3, "name": "é", "nested": {"a": [1, 2.5, None]}}
    assert got_full.max_inactive == 600 and abs(got_full.accessed - full.accessed) < 0.002
    assert got_empty is not None and got_empty.attributes == {}
    assert missing is None


def test_update_of_a_deleted_session_fails(make_store: Callable[..., SessionDataStore]) -> None:
    """#4646: a node must not write back a session another node deleted."""
    a, b = make_store(node="nodeA"), make_store(node="nodeB")
    data = new_data(count=1)

    async def body(s: SessionDataStore) -> SessionData | None:
        await b.start()
        try:
            await s.store(data)
            assert await b.delete(data.id)
            data.attributes["count"] = 2
            with pytest.raises(SessionGone):
                await s.store(data)
            return await b.load(data.id)
        finally:
            await b.stop()

    assert run(a, body) is None


def test_expired_candidates_tiers_and_delete_if_expired(
        make_store: Callable[..., SessionDataStore]) -> None:
    a, b = make_store(node="nodeA"), make_store(node="nodeB")
    mine, theirs, live = new_data(1), new_data(1), new_data(600)
    for d in (mine, theirs):
        d.accessed -= 100

    async def body(s: SessionDataStore) -> tuple:
        await b.start()
        try:
            await s.store(mine)
            await s.store(live)
            await b.store(theirs)
            now = time.time()
            own = await s.expired_candidates(now, node="nodeA")
            anyone = await s.expired_candidates(now, node=None)
            assert not await s.delete_if_expired(live.id, now)
            assert await s.delete_if_expired(mine.id, now)
            return own, anyone, await s.exists(live.id), await s.exists(mine.id)
        finally:
            await b.stop()

    own, anyone, live_exists, mine_exists = run(a, body)  # type: ignore[misc]
    if make_store.kind != "sqlite":  # type: ignore[attr-defined]  # one node: no lastNode
        assert own == [mine.id]
    assert sorted(anyone) == sorted([mine.id, theirs.id])
    assert live_exists and not mine_exists


def test_contexts_are_separate(make_store: Callable[..., SessionDataStore]) -> None:
    if make_store.kind == "sqlite":  # type: ignore[attr-defined]
        pytest.skip("one SQLite store a context directory: separate by construction")
    shop, blog = make_store("_shop"), make_store("_blog")
    data = new_data(x=1)

    async def body(s: SessionDataStore) -> object:
        await blog.start()
        try:
            await s.store(data)
            return await blog.load(data.id)
        finally:
            await blog.stop()

    assert run(shop, body) is None


def test_payload_is_versioned_json_and_java_is_unreadable() -> None:
    assert decode_attributes("x", encode_attributes({})) == {}
    assert encode_attributes({}).startswith(b'{"format":"deployer-session"')
    with pytest.raises(UnreadableSession, match="Java-serialized"):
        decode_attributes("x", b"\xac\xed\x00\x05sr\x00")
    with pytest.raises(UnreadableSession, match="version"):
        decode_attributes("x", b'{"format":"deployer-session","version":99,"attributes":{}}')


def test_canonical_names_are_jettys() -> None:
    assert canonical_context("/shop") == "_shop"
    assert canonical_context("/") == "_"
    assert canonical_context("/a.b c") == "_a_b_c"
    assert canonical_vhost([]) == "0.0.0.0"
    assert canonical_vhost(["example.com@conn"]) == "example_com"


def test_postgres_table_is_jettys_layout_and_creation_is_idempotent(pg_schema: str) -> None:
    schema = TableSchema(schema_name=pg_schema, table_name="MySessions", map_column="data")
    stores = [PostgresDataStore(PG_URL, "_shop", schema=schema) for _ in range(3)]
    data = new_data(n=1)

    async def main() -> None:
        for s in stores:
            await s.start()
        try:  # three stores create the same table at once
            await asyncio.gather(*(s.exists(data.id) for s in stores))
            await stores[0].store(data)
        finally:
            for s in stores:
                await s.stop()

    asyncio.run(main())
    with psycopg.connect(PG_URL) as conn:
        cols = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'mysessions'", (pg_schema,)).fetchall())
        pk = [r[0] for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (f"{pg_schema}.mysessions",)).fetchall()]
        row = conn.execute(f"SELECT contextpath, virtualhost, maxinterval, expirytime, "
                           f"accesstime, lastnode FROM {pg_schema}.mysessions").fetchone()
    assert cols["data"] == "bytea" and cols["expirytime"] == "bigint"
    assert sorted(pk) == ["contextpath", "sessionid", "virtualhost"]
    assert row[0] == "_shop" and row[1] == "0.0.0.0" and row[2] == 600_000
    assert row[3] == row[4] + 600_000 and row[5] == "node0"


def test_postgres_java_row_is_unreadable_not_absent(pg_schema: str) -> None:
    store = PostgresDataStore(PG_URL, "_shop", schema=TableSchema(schema_name=pg_schema))
    data = new_data()

    async def main() -> None:
        await store.start()
        try:
            await store.store(data)
            async with store._pool.connection() as conn:
                await conn.execute(f"UPDATE {pg_schema}.jettysessions SET map = %s",
                                   (b"\xac\xed\x00\x05w\x04\x00\x00\x00\x00",))
            with pytest.raises(UnreadableSession):
                await store.load(data.id)
            assert await store.delete(data.id)
        finally:
            await store.stop()

    asyncio.run(main())


def test_redis_hash_has_ttl_past_expiry_and_an_index(redis_prefix: str) -> None:
    store = RedisDataStore(REDIS_URL, "_shop", prefix=redis_prefix, grace=60)
    data = new_data(100, n=1)
    asyncio.run(run_store(store, data))
    client = redis.Redis.from_url(REDIS_URL)
    try:
        key = f"{redis_prefix}_shop:0.0.0.0:{data.id}"
        ttl = client.pttl(key)
        assert 100_000 < ttl <= 160_000
        score = client.zscore(f"{redis_prefix}expiry:_shop:0.0.0.0", data.id)
        assert score == int(data.expiry * 1000)
    finally:
        client.close()


async def run_store(store: SessionDataStore, data: SessionData) -> None:
    await store.start()
    try:
        await store.store(data)
    finally:
        await store.stop()


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_unreachable_store_is_unavailable_not_absent(kind: str) -> None:
    """Nothing listens on port 9: an error the cache can log once, never a None."""
    store: SessionDataStore = (
        PostgresDataStore("postgresql://postgres@127.0.0.1:9/test", "_x", timeout=0.5)
        if kind == "postgres" else RedisDataStore("redis://127.0.0.1:9/0", "_x", timeout=0.5))

    async def main() -> None:
        await store.start()
        try:
            with pytest.raises(StoreUnavailable):
                await store.load(IDS.new_id())
        finally:
            await store.stop()

    asyncio.run(main())


def test_bad_table_names_are_refused() -> None:
    with pytest.raises(SessionError, match="plain SQL name"):
        TableSchema(table_name="x; DROP TABLE y")
    assert TableSchema(schema_name="INFERRED").schema_name is None


def test_redis_commands_of_one_loop_turn_share_a_pipeline(redis_prefix: str) -> None:
    store = RedisDataStore(REDIS_URL, "_shop", prefix=redis_prefix)
    sessions = [new_data(n=i) for i in range(50)]

    async def main() -> list:
        await store.start()
        try:
            await asyncio.gather(*(store.store(d) for d in sessions))
            return await asyncio.gather(*(store.load(d.id) for d in sessions))
        finally:
            await store.stop()

    loaded = asyncio.run(main())
    assert [d.attributes["n"] for d in loaded] == list(range(50))
    batcher = store._batcher
    assert batcher is not None and batcher.commands == 100 and batcher.batches <= 10


def test_redis_store_survives_a_server_that_lost_its_scripts(redis_prefix: str) -> None:
    store = RedisDataStore(REDIS_URL, "_shop", prefix=redis_prefix)
    data = new_data(n=1)

    async def main() -> SessionData | None:
        await store.start()
        try:
            await store.store(data)
            await store._client.script_flush()  # type: ignore[union-attr]  # a restarted server
            data.attributes["n"] = 2
            await store.store(data)
            return await store.load(data.id)
        finally:
            await store.stop()

    got = asyncio.run(main())
    assert got is not None and got.attributes["n"] == 2


def test_postgres_orphans_of_any_context_are_deleted_past_the_bound(pg_schema: str) -> None:
    """The third tier: sessions of contexts no node serves any more, expired long ago."""
    schema = TableSchema(schema_name=pg_schema)
    shop, gone = (PostgresDataStore(PG_URL, ctx, schema=schema) for ctx in ("_shop", "_gone"))
    old, recent = new_data(1), new_data(1)
    old.accessed -= 10_000
    recent.accessed -= 100

    async def main() -> tuple[int, bool, bool]:
        await shop.start()
        await gone.start()
        try:
            await gone.store(old)
            await gone.store(recent)
            deleted = await shop.delete_orphans(time.time() - 1000)
            return deleted, await _row(gone, old.id), await _row(gone, recent.id)
        finally:
            await shop.stop()
            await gone.stop()

    assert asyncio.run(main()) == (1, False, True)


async def _row(store: PostgresDataStore, sid: str) -> bool:
    async with store._pool.connection() as conn:
        cur = await conn.execute(f'SELECT 1 FROM "{store.schema.schema_name}".jettysessions '
                                 "WHERE sessionid = %s", (sid,))
        return await cur.fetchone() is not None
