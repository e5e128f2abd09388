"""PostgreSQL session store: Jetty 9.4's JettySessions table, our JSON payload in ``map``.

The table is laid out as JDBCSessionDataStore makes it (JETTY.md §9.2): primary key (sessionId,
contextPath, virtualHost), times in milliseconds, maxInterval in milliseconds, the canonical
context path, vhost ``0.0.0.0``, an index on expiryTime only. Names come from the
SessionTableSchema; like Jetty's unquoted SQL they fold to lower case. Creation is idempotent and
serialised with an advisory lock, so two nodes starting at once do not race.

psycopg 3's async connections from a psycopg_pool pool: the event loop never waits on the network
except in an ``await``. A pool opened while the server is down keeps trying in the background.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from dataclasses import dataclass, fields

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from deployer.errors import SessionError
from deployer.sessions.datastore import (
    DEFAULT_VHOST,
    SessionData,
    SessionDataStore,
    SessionGone,
    StoreUnavailable,
    check_id,
    client_name,
    decode_attributes,
    encode_attributes,
)

log = logging.getLogger("deployer.sessions")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


@dataclass(frozen=True)
class TableSchema:
    """JDBCSessionDataStore$SessionTableSchema: every name settable, Jetty's defaults."""

    schema_name: str | None = None
    catalog_name: str | None = None
    table_name: str = "JettySessions"
    id_column: str = "sessionId"
    context_path_column: str = "contextPath"
    virtual_host_column: str = "virtualHost"
    last_node_column: str = "lastNode"
    access_time_column: str = "accessTime"
    last_access_time_column: str = "lastAccessTime"
    create_time_column: str = "createTime"
    cookie_time_column: str = "cookieTime"
    last_saved_time_column: str = "lastSavedTime"
    expiry_time_column: str = "expiryTime"
    max_interval_column: str = "maxInterval"
    map_column: str = "map"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("schema_name", "catalog_name"):
                if value in (None, "", "INFERRED"):  # Jetty's "use the connection's"
                    object.__setattr__(self, f.name, None)
                    continue
            elif not value:
                raise SessionError(f"session table {f.name} must not be empty")
            if not _IDENT.fullmatch(value):
                raise SessionError(f"session table {f.name} {value!r} is not a plain SQL name "
                                   "(letters, digits, _ and $, at most 63)")


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name.lower())


class PostgresDataStore(SessionDataStore):
    """One context's sessions in a JettySessions table."""

    def __init__(self, conninfo: str, context: str, vhost: str = DEFAULT_VHOST,
                 node: str = "node0", *, schema: TableSchema | None = None,
                 pool_size: int = 10, timeout: float = 3.0) -> None:
        super().__init__(context, vhost, node)
        self.conninfo = conninfo
        self.schema = schema or TableSchema()
        self.timeout = timeout
        self._pool = AsyncConnectionPool(conninfo, min_size=1, max_size=max(1, pool_size),
                                         open=False, timeout=timeout,
                                         kwargs={"autocommit": True,
                                                 "connect_timeout": max(1, int(timeout)),
                                                 "application_name": client_name(node)},
                                         reconnect_timeout=float("inf"),
                                         name=f"sessions-{context}")
        self._ready = False
        self._opened = False
        s = self.schema
        table = (sql.SQL(".").join([_ident(s.schema_name), _ident(s.table_name)])
                 if s.schema_name else _ident(s.table_name))
        c = {f.name: _ident(getattr(s, f.name)) for f in fields(s) if f.name.endswith("_column")}
        self._table, self._c = table, c
        key = sql.SQL("{} = %(id)s AND {} = %(ctx)s AND {} = %(vh)s").format(
            c["id_column"], c["context_path_column"], c["virtual_host_column"])
        cols = [c[n] for n in ("id_column", "create_time_column", "access_time_column",
                               "last_access_time_column", "max_interval_column",
                               "last_node_column", "cookie_time_column",
                               "last_saved_time_column", "map_column")]
        self._select = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(cols), table, key)
        written = {"last_node_column": "node", "access_time_column": "accessed",
                   "last_access_time_column": "last", "cookie_time_column": "cookie",
                   "last_saved_time_column": "saved", "expiry_time_column": "expiry",
                   "max_interval_column": "maxi", "map_column": "map"}
        self._update = sql.SQL("UPDATE {} SET {} WHERE {}").format(
            table, sql.SQL(", ").join(sql.SQL("{} = {}").format(c[k], sql.Placeholder(v))
                                      for k, v in written.items()), key)
        insert_cols = {"id_column": "id", "context_path_column": "ctx",
                       "virtual_host_column": "vh", "create_time_column": "created", **written}
        self._insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table, sql.SQL(", ").join(c[k] for k in insert_cols),
            sql.SQL(", ").join(sql.Placeholder(v) for v in insert_cols.values()))
        self._delete = sql.SQL("DELETE FROM {} WHERE {}").format(table, key)
        expiry = c["expiry_time_column"]
        self._delete_expired = sql.SQL(
            "DELETE FROM {} WHERE {} AND {} > 0 AND {} <= %(now)s").format(
            table, key, expiry, expiry)
        self._exists = sql.SQL(
            "SELECT 1 FROM {} WHERE {} AND ({} <= 0 OR {} > %(now)s)").format(
            table, key, expiry, expiry)
        here = sql.SQL("{} = %(ctx)s AND {} = %(vh)s").format(
            c["context_path_column"], c["virtual_host_column"])
        self._expired = sql.SQL(
            "SELECT {} FROM {} WHERE {} AND {} > 0 AND {} <= %(before)s").format(
            c["id_column"], table, here, expiry, expiry)
        self._expired_mine = self._expired + sql.SQL(" AND {} = %(node)s").format(
            c["last_node_column"])
        self._orphans = sql.SQL("DELETE FROM {} WHERE {} > 0 AND {} <= %(before)s").format(
            table, expiry, expiry)

    @property
    def where(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.conninfo)
        info.pop("password", None)
        s = self.schema
        table = f"{s.schema_name}.{s.table_name}" if s.schema_name else s.table_name
        return (f"postgresql://{info.get('host', '')}:{info.get('port', 5432)}/"
                f"{info.get('dbname', '')} table {table.lower()}")

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if not self._opened:
            self._opened = True
            await self._pool.open(wait=False)

    async def stop(self) -> None:
        if self._opened:
            self._opened = False
            await self._pool.close()

    async def _ensure_table(self, conn: psycopg.AsyncConnection) -> None:
        """CREATE ... IF NOT EXISTS, once per store, under a transaction-scoped advisory lock."""
        s, c = self.schema, self._c
        lock = zlib.crc32(f"{s.schema_name}.{s.table_name}".lower().encode()) & 0x7FFFFFFF
        text, big = sql.SQL("varchar(120)"), sql.SQL("bigint")
        columns = [
            (c["id_column"], text), (c["context_path_column"], sql.SQL("varchar(60)")),
            (c["virtual_host_column"], sql.SQL("varchar(60)")),
            (c["last_node_column"], sql.SQL("varchar(60)")),
            (c["access_time_column"], big), (c["last_access_time_column"], big),
            (c["create_time_column"], big), (c["cookie_time_column"], big),
            (c["last_saved_time_column"], big), (c["expiry_time_column"], big),
            (c["max_interval_column"], big), (c["map_column"], sql.SQL("bytea")),
        ]
        index = _ident(f"idx_{s.table_name}_expiry")
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            if s.schema_name:
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    _ident(s.schema_name)))
            await conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}, {}, {}))").format(
                self._table, sql.SQL(", ").join(sql.SQL("{} {}").format(n, t)
                                                for n, t in columns),
                c["id_column"], c["context_path_column"], c["virtual_host_column"]))
            await conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                index, self._table, c["expiry_time_column"]))
        self._ready = True

    async def _run(self, query: sql.Composable, params: dict, fetch: str = "") -> object:
        """One statement on a pooled connection; network trouble becomes StoreUnavailable."""
        try:
            async with self._pool.connection() as conn:
                if not self._ready:
                    await self._ensure_table(conn)
                cur = await conn.execute(query, params)
                if fetch == "one":
                    return await cur.fetchone()
                if fetch == "all":
                    return await cur.fetchall()
                return cur.rowcount
        except PoolTimeout as exc:
            raise StoreUnavailable(f"{self.where}: no connection within {self.timeout:g} s "
                                   f"({exc})") from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"{self.where}: {exc}".strip()) from None
        except psycopg.Error as exc:
            raise SessionError(f"{self.where}: {exc}".strip()) from exc

    def _key(self, session_id: str) -> dict:
        check_id(session_id)
        return {"id": session_id, "ctx": self.context, "vh": self.vhost}

    # -- the contract -------------------------------------------------------------------------
    async def load(self, session_id: str) -> SessionData | None:
        row = await self._run(self._select, self._key(session_id), "one")
        if row is None:
            return None
        sid, created, accessed, last, maxi, node, cookie, saved, payload = row  # type: ignore
        attrs = decode_attributes(sid, payload)
        return SessionData(sid, (created or 0) / 1000, (accessed or 0) / 1000,
                           (last or 0) / 1000, int((maxi or 0) // 1000), attrs,
                           last_node=node or "", cookie_set=(cookie or 0) / 1000,
                           last_saved=(saved or 0) / 1000)

    async def store(self, data: SessionData) -> None:
        now = time.time()
        params = self._key(data.id)
        params.update(node=self.node, accessed=int(data.accessed * 1000),
                      last=int(data.last_accessed * 1000), cookie=int(data.cookie_set * 1000),
                      saved=int(now * 1000), expiry=int(data.expiry * 1000),
                      maxi=data.max_inactive * 1000 if data.max_inactive > 0 else -1,
                      map=encode_attributes(data.attributes), created=int(data.created * 1000))
        if data.last_saved <= 0:
            try:
                await self._run(self._insert, params)
            except SessionError as exc:
                if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                    raise SessionError(f"{self.where}: session {data.id} already exists; a new "
                                       "session never reuses an id") from None
                raise
        elif await self._run(self._update, params) == 0:
            raise SessionGone(f"session {data.id} is no longer in {self.where} "
                              "(invalidated or expired by another node); not written back")
        data.last_saved = now
        data.last_node = self.node

    async def delete(self, session_id: str) -> bool:
        return bool(await self._run(self._delete, self._key(session_id)))

    async def exists(self, session_id: str) -> bool:
        params = {**self._key(session_id), "now": int(time.time() * 1000)}
        return await self._run(self._exists, params, "one") is not None

    async def expired_candidates(self, before: float, *, node: str | None) -> list[str]:
        params = {"ctx": self.context, "vh": self.vhost, "before": int(before * 1000),
                  "node": node}
        rows = await self._run(self._expired_mine if node else self._expired, params, "all")
        return [r[0] for r in rows]  # type: ignore[union-attr]

    async def delete_if_expired(self, session_id: str, now: float) -> bool:
        params = {**self._key(session_id), "now": int(now * 1000)}
        return bool(await self._run(self._delete_expired, params))

    async def node_conflicts(self) -> list[str]:
        me = client_name(self.node)
        node = me.rsplit(":", 1)[0] + ":"
        rows = await self._run(sql.SQL(
            "SELECT DISTINCT application_name FROM pg_stat_activity "
            "WHERE starts_with(application_name, %(node)s) AND application_name <> %(me)s"),
            {"node": node, "me": me}, "all")
        return [r[0] for r in rows]  # type: ignore[union-attr]

    async def delete_orphans(self, before: float) -> int:
        return int(await self._run(self._orphans, {"before": int(before * 1000)}))  # type: ignore
