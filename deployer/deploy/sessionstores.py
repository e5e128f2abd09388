"""Which session manager a context gets when its sessions live in a SessionDataStore: the
evaluated Jetty beans (descriptor/sessionstores.py) wired to the stores (sessions/).

Precedence, as in Jetty 9.4's SessionHandler.doStart: the context's own SessionCache (with its
SessionDataStore), or its 9.3 JDBCSessionManager; a context that sets a HashSessionManager
``storeDirectory`` keeps it; otherwise the server descriptor's SessionDataStoreFactory and
SessionCacheFactory beans, or else the connection of its 9.3 JDBCSessionIdManager (in 9.3 every
context had to say JDBCSessionManager; here the server's JDBC id manager is enough). Nothing of
that: None, and the context keeps HashSessionManager.

Defaults for a store several nodes share (deployer's, JETTY.md §9.7.5): flushOnResponseCommit,
saveOnCreate, and eviction when the last request leaves, unless the descriptor says otherwise, so
a client whose next request lands on another node sees its last write.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from deployer.descriptor.sessionspecs import (
    ClusterIdManagerSpec,
    DatabaseAdaptorSpec,
    JdbcSessionManagerSpec,
    SessionCacheSpec,
    SessionDataStoreSpec,
    jdbc_to_conninfo,
)
from deployer.descriptor.specs import ContextSpec, ServerSpec, SessionManagerSpec, Spec
from deployer.errors import DescriptorError, DescriptorErrors, Location
from deployer.sessions.cache import CacheConfig, CachedSessionManager, default_node_name
from deployer.sessions.datastore import SessionDataStore, canonical_context, canonical_vhost
from deployer.sessions.ids import SessionIdManager
from deployer.sessions.postgres import PostgresDataStore, TableSchema
from deployer.sessions.redisstore import DEFAULT_PREFIX, RedisDataStore
from deployer.sessions.sqlitedata import SqliteDataStore

DEFAULT_MAX_INACTIVE = 1800  # webdefault.xml's 30 minutes (every session manager's default)


def _error(spec: Spec | None, field: str, message: str) -> DescriptorErrors:
    where = (spec.locations.get(field) or spec.location) if spec is not None else None
    return DescriptorErrors([DescriptorError(where or Location("?"), message)])


def choose(manager: SessionManagerSpec, server: ServerSpec
           ) -> tuple[SessionDataStoreSpec, SessionCacheSpec | None] | None:
    """The store and cache specs that apply to this context, or None (HashSessionManager)."""
    cache = manager.session_cache if isinstance(manager.session_cache, SessionCacheSpec) else None
    server_store = next((b for b in server.beans if isinstance(b, SessionDataStoreSpec)), None)
    if server_store is None:
        server_store = _jdbc_of(server.session_id_manager)
    server_cache = next((b for b in server.beans if isinstance(b, SessionCacheSpec)), None)
    if cache is not None:
        store = cache.session_data_store or server_store
        if store is None:
            raise _error(cache, "session_data_store", "this SessionCache has no "
                         "sessionDataStore, and the server descriptor adds no "
                         "SessionDataStoreFactory; set one of them")
        return store, cache
    if isinstance(manager, JdbcSessionManagerSpec):
        store = _jdbc_of(manager.session_id_manager or server.session_id_manager,
                         manager.save_interval)
        if store is None:
            raise _error(manager, "save_interval", "JDBCSessionManager needs the server's "
                         "JDBCSessionIdManager with setDriverInfo (a server descriptor given "
                         "with --config) or a sessionIdManager of its own")
        return store, server_cache
    if manager.store_directory or server_store is None:
        return None
    return server_store, server_cache


def _jdbc_of(ids: object, save_interval: int = 60) -> SessionDataStoreSpec | None:
    """9.3: the store a JDBCSessionIdManager's connection makes (JDBCSessionManager's
    saveInterval throttling writes of times only)."""
    if not isinstance(ids, ClusterIdManagerSpec) or ids.database_adaptor is None:
        return None
    return SessionDataStoreSpec(kind="jdbc", database_adaptor=ids.database_adaptor,
                                session_table_schema=ids.session_table_schema,
                                save_period_sec=save_interval, location=ids.location)


def _conninfo(adaptor: DatabaseAdaptorSpec | None, store: SessionDataStoreSpec,
              properties: Mapping[str, str]) -> str:
    if adaptor is None:
        raise _error(store, "database_adaptor", "this JDBC session store has no databaseAdaptor "
                     "(a DatabaseAdaptor with setDriverInfo org.postgresql.Driver, "
                     "jdbc:postgresql://host:port/db?user=...)")
    if adaptor.conninfo:
        return adaptor.conninfo
    name = adaptor.datasource_name or "jdbc/sessions"  # Jetty's JNDI fallback name
    supplied = properties.get(name)
    if supplied is None:
        raise _error(adaptor, "datasource_name", (
            f"datasource {name!r} is a JNDI name, and deployer has no JNDI: give its connection "
            f"with --property {name}=jdbc:postgresql://host:port/db?user=... , or write "
            "<Call name=\"setDriverInfo\"><Arg>org.postgresql.Driver</Arg>"
            "<Arg>jdbc:postgresql://host:port/db?user=...</Arg></Call> instead"))
    try:
        return jdbc_to_conninfo(supplied)
    except ValueError as exc:
        raise _error(adaptor, "datasource_name", f"--property {name}: {exc}") from None


def _redis_url(url: str) -> tuple[str, float | None]:
    """The URL redis-py takes, and the timeout (s) a Jedis-style ``timeout=ms`` gave."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    timeout = query.pop("timeout", None)
    seconds = int(timeout) / 1000 if timeout and timeout.isdigit() and int(timeout) else None
    return urlunsplit(parts._replace(query=urlencode(query))), seconds


def data_store(store: SessionDataStoreSpec, context: str, vhost: str, node: str,
               properties: Mapping[str, str]) -> SessionDataStore:
    """The SessionDataStore a store spec describes, for one context."""
    if store.kind == "jdbc":
        conninfo = _conninfo(store.database_adaptor, store, properties)
        schema_spec = store.session_table_schema
        set_names = {f.name: value for f in fields(TableSchema)
                     if (value := getattr(schema_spec, f.name, None)) is not None}
        schema = TableSchema(**set_names)  # what the descriptor did not set: Jetty's names
        return PostgresDataStore(conninfo, context, vhost, node, schema=schema)
    if store.kind == "redis":
        if store.redis is None or not store.redis.url:
            raise _error(store, "redis", "this Redis session store has no server: set "
                         "<Set name=\"uri\">redis://host:port/db</Set>")
        url, timeout = _redis_url(store.redis.url)
        return RedisDataStore(url, context, vhost, node, prefix=store.key_prefix or DEFAULT_PREFIX,
                              grace=store.grace_period_sec, timeout=timeout or 3.0,
                              max_connections=store.redis.max_connections or 16)
    if not store.store_dir:
        raise _error(store, "store_dir", "this FileSessionDataStore has no storeDir")
    directory = Path(os.path.abspath(os.path.expanduser(store.store_dir)))
    return SqliteDataStore(directory / f"{context}_{vhost}", context, vhost, node,
                           delete_unrestorable=store.delete_unrestorable_files)


def cache_config(store: SessionDataStoreSpec, cache: SessionCacheSpec | None,
                 manager: SessionManagerSpec, server: ServerSpec, shared: bool) -> CacheConfig:
    c = cache or SessionCacheSpec()

    def pick(value: bool | None) -> bool:
        return shared if value is None else value

    ids = manager.session_id_manager or server.session_id_manager
    keeper = ids.house_keeper if isinstance(ids, ClusterIdManagerSpec) else None
    save_period = store.save_period_sec or (store.redis.save_period_sec or 0 if store.redis
                                            else 0)
    return CacheConfig(
        eviction_policy=(0 if shared else -1) if c.eviction_policy is None else c.eviction_policy,
        save_on_create=pick(c.save_on_create),
        save_on_inactive_eviction=bool(c.save_on_inactive_eviction),
        remove_unloadable=bool(c.remove_unloadable_sessions),
        flush_on_response_commit=pick(c.flush_on_response_commit),
        invalidate_on_shutdown=bool(c.invalidate_on_shutdown),
        null_cache=c.null,
        save_period=save_period,
        grace_period=store.grace_period_sec,
        scavenge_interval=(keeper.interval_sec if keeper is not None
                           else CacheConfig.scavenge_interval),
        max_inactive_interval=(DEFAULT_MAX_INACTIVE if manager.max_inactive_interval is None
                               else manager.max_inactive_interval),
    )


def cached_manager(spec: ContextSpec, manager: SessionManagerSpec, server: ServerSpec,
                   properties: Mapping[str, str], id_manager: SessionIdManager,
                   name: str) -> CachedSessionManager | None:
    """The context's CachedSessionManager, or None when HashSessionManager applies.
    DescriptorErrors (with the line) for a store deployer cannot reach as written."""
    chosen = choose(manager, server)
    if chosen is None:
        return None
    store_spec, cache_spec = chosen
    node = id_manager.worker_name or default_node_name()
    store = data_store(store_spec, canonical_context(spec.context_path),
                       canonical_vhost(spec.virtual_hosts), node, properties)
    config = cache_config(store_spec, cache_spec, manager, server, store.shared)
    return CachedSessionManager(config, store, id_manager, name)
