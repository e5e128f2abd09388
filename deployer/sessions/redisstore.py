"""Redis session store: a hash per session, a TTL past expiry, a sorted set as the expiry index.

Keys (``prefix`` default ``deployer:session:``): ``<prefix><context>:<vhost>:<id>`` is the hash
(the fields of Jetty's JettySessions row, times in ms, our JSON payload in ``map``), and
``<prefix>expiry:<context>:<vhost>`` scores each id with its expiry (ms), so the scavenger sees a
session before its TTL removes it (JETTY.md §9.7.8). The hash lives ``grace`` seconds past its
expiry; an immortal session has no TTL.

Writes are Lua scripts, so "update only if it still exists" is one atomic step: a node cannot
write back a session another node has deleted (#4646). redis-py's asyncio client (hiredis parser
when installed): the event loop never blocks on the network.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from deployer.errors import SessionError
from deployer.sessions.datastore import (
    DEFAULT_VHOST,
    SessionData,
    SessionDataStore,
    SessionGone,
    StoreUnavailable,
    UnreadableSession,
    check_id,
    client_name,
    decode_attributes,
    encode_attributes,
)
from deployer.sessions.redisbatch import CommandBatcher, is_no_script

DEFAULT_PREFIX = "deployer:session:"

# KEYS: hash, index; ARGV: mode (new|update), ttl ms (0: none), expiry ms, id, the other fields
# as one JSON object of strings, map. One argument for the times instead of one per field: each
# argument costs the client more to pack than the server to unpack.
_STORE = """
local exists = redis.call('exists', KEYS[1])
if ARGV[1] == 'update' and exists == 0 then return 0 end
if ARGV[1] == 'new' and exists == 1 then return -1 end
local fields = {'map', ARGV[6], 'id', ARGV[4], 'expiry', ARGV[3]}
for name, value in pairs(cjson.decode(ARGV[5])) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
redis.call('hset', KEYS[1], unpack(fields))
if tonumber(ARGV[2]) > 0 then redis.call('pexpire', KEYS[1], ARGV[2])
else redis.call('persist', KEYS[1]) end
if tonumber(ARGV[3]) > 0 then redis.call('zadd', KEYS[2], ARGV[3], ARGV[4])
else redis.call('zrem', KEYS[2], ARGV[4]) end
return 1
"""
# KEYS: hash, index; ARGV: now ms, id
_DELETE_EXPIRED = """
local e = tonumber(redis.call('hget', KEYS[1], 'expiry') or '0')
if e > 0 and e <= tonumber(ARGV[1]) then
  redis.call('del', KEYS[1]); redis.call('zrem', KEYS[2], ARGV[2]); return 1
end
if e == 0 and redis.call('exists', KEYS[1]) == 0 then redis.call('zrem', KEYS[2], ARGV[2]) end
return 0
"""
_FIELDS = ("id", "created", "accessed", "last_accessed", "max_inactive", "node", "cookie",
           "saved", "map")


def _unavailable(exc: BaseException) -> bool:
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError))


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


class RedisDataStore(SessionDataStore):
    """One context's sessions in Redis."""

    def __init__(self, url: str, context: str, vhost: str = DEFAULT_VHOST,
                 node: str = "node0", *, prefix: str = DEFAULT_PREFIX, grace: float = 3600,
                 timeout: float = 3.0, max_connections: int = 16) -> None:
        super().__init__(context, vhost, node)
        if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise SessionError(f"a Redis URL is redis://host:port/db (or rediss://), got {url!r}")
        self.url = url
        self.prefix = prefix
        self.grace = grace
        self.timeout = timeout
        self._max_connections = max_connections
        self._client: aredis.Redis | None = None
        self._index = f"{prefix}expiry:{context}:{vhost}"
        self._context_json, self._vhost_json, self._node_json = (
            json.dumps(context), json.dumps(vhost), json.dumps(node))
        self._scripts: dict[str, Any] = {}
        self._batcher: CommandBatcher | None = None

    @property
    def where(self) -> str:
        return f"{redacted(self.url)} prefix {self.prefix}"

    def key(self, session_id: str) -> str:
        check_id(session_id)
        return f"{self.prefix}{self.context}:{self.vhost}:{session_id}"

    async def start(self) -> None:
        if self._client is None:
            self._client = aredis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                max_connections=self._max_connections, retry_on_timeout=False,
                client_name=client_name(self.node))
            self._scripts = {"store": self._client.register_script(_STORE),
                             "expired": self._client.register_script(_DELETE_EXPIRED)}
            self._batcher = CommandBatcher(self._client)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _do(self, call):  # noqa: ANN001, ANN202
        if self._client is None:
            await self.start()
        try:
            return await call(self._client)
        except (RedisError, OSError) as exc:
            failure = exc
        raise self._error(failure)

    def _error(self, exc: BaseException) -> SessionError:
        """A Redis failure in the store's terms, raised outside the ``except``: unavailable (the
        cache retries; the network's traceback is noise) or an error caused by Redis's own."""
        if _unavailable(exc):
            return StoreUnavailable(f"{self.where}: {exc}")
        error = SessionError(f"{self.where}: {exc}")
        error.__cause__ = exc
        return error

    async def _batched(self, *args: Any, script: str | None = None) -> Any:
        """One command through the batcher (see redisbatch.py); ``script``: the EVALSHA of that
        registered script, loaded and run again when the server lost it."""
        if self._batcher is None:
            await self.start()
        assert self._batcher is not None
        try:
            return await self._batcher.call(*args)
        except (RedisError, OSError) as exc:
            failure = exc
        if script is None or not is_no_script(failure):
            raise self._error(failure)
        keys, rest = args[3:3 + args[2]], args[3 + args[2]:]
        return await self._do(lambda r: self._scripts[script](keys=list(keys), args=list(rest)))

    async def load(self, session_id: str) -> SessionData | None:
        key = self.key(session_id)
        values = await self._batched("HMGET", key, *_FIELDS)
        if all(v is None for v in values):
            return None
        sid, created, accessed, last, maxi, node, cookie, saved, payload = values
        try:
            numbers = [int(v or 0) for v in (created, accessed, last, maxi, cookie, saved)]
        except ValueError:
            raise UnreadableSession(session_id, "times are not integers") from None
        attrs = decode_attributes(session_id, payload)
        return SessionData(session_id, numbers[0] / 1000, numbers[1] / 1000, numbers[2] / 1000,
                           numbers[3] // 1000 if numbers[3] > 0 else -1, attrs,
                           last_node=(node or b"").decode(errors="replace"),
                           cookie_set=numbers[4] / 1000, last_saved=numbers[5] / 1000)

    async def store(self, data: SessionData) -> None:
        now = time.time()
        key = self.key(data.id)
        expiry_ms = int(data.expiry * 1000)
        ttl_ms = max(1, expiry_ms - int(now * 1000) + int(self.grace * 1000)) if expiry_ms else 0
        mode = "new" if data.last_saved <= 0 else "update"
        meta = (f'{{"context":{self._context_json},"vhost":{self._vhost_json},'
                f'"node":{self._node_json},"created":"{int(data.created * 1000)}",'
                f'"accessed":"{int(data.accessed * 1000)}",'
                f'"last_accessed":"{int(data.last_accessed * 1000)}",'
                f'"max_inactive":"{data.max_inactive * 1000 if data.max_inactive > 0 else -1}",'
                f'"cookie":"{int(data.cookie_set * 1000)}","saved":"{int(now * 1000)}"}}')
        args = [mode, ttl_ms, expiry_ms, data.id, meta, encode_attributes(data.attributes)]
        result = await self._batched("EVALSHA", self._scripts["store"].sha, 2, key, self._index,
                                     *args, script="store")
        if result == 0:
            raise SessionGone(f"session {data.id} is no longer in {self.where} "
                              "(invalidated or expired by another node); not written back")
        if result == -1:
            raise SessionError(f"{self.where}: session {data.id} already exists; a new session "
                               "never reuses an id")
        data.last_saved = now
        data.last_node = self.node

    async def delete(self, session_id: str) -> bool:
        key = self.key(session_id)

        async def run(r: aredis.Redis) -> int:
            async with r.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.zrem(self._index, session_id)
                deleted, _ = await pipe.execute()
            return deleted

        return bool(await self._do(run))

    async def exists(self, session_id: str) -> bool:
        key = self.key(session_id)
        expiry = await self._do(lambda r: r.hget(key, "expiry"))
        if expiry is None:
            return False
        e = int(expiry)
        return e <= 0 or e > time.time() * 1000

    async def expired_candidates(self, before: float, *, node: str | None) -> list[str]:
        ids = [i.decode() for i in await self._do(
            lambda r: r.zrangebyscore(self._index, 1, int(before * 1000)))]
        if not node or not ids:
            return ids

        async def nodes(r: aredis.Redis) -> list:
            async with r.pipeline(transaction=False) as pipe:
                for sid in ids:
                    pipe.hget(f"{self.prefix}{self.context}:{self.vhost}:{sid}", "node")
                return await pipe.execute()

        owners = await self._do(nodes)
        return [sid for sid, owner in zip(ids, owners, strict=True)
                if owner is None or owner.decode(errors="replace") == node]

    async def node_conflicts(self) -> list[str]:
        me = client_name(self.node)
        node = me.rsplit(":", 1)[0] + ":"
        clients = await self._do(lambda r: r.client_list())
        return sorted({c["name"] for c in clients
                       if c.get("name", "").startswith(node) and c["name"] != me})

    async def delete_if_expired(self, session_id: str, now: float) -> bool:
        key = self.key(session_id)
        return bool(await self._do(lambda r: self._scripts["expired"](
            keys=[key, self._index], args=[int(now * 1000), session_id])))
