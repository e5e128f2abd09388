"""Jetty's clustered-session classes in the registry (JETTY.md §9.1, §9.2, §9.4).

9.3: JDBCSessionIdManager (setDriverInfo, DatasourceName, workerName, scavengeInterval) with
JDBCSessionManager (saveInterval). 9.4-11 (org.eclipse.jetty.server.session.*) and 12
(org.eclipse.jetty.session.*): DefaultSessionIdManager + HouseKeeper, DefaultSessionCacheFactory /
NullSessionCacheFactory (and the per-context DefaultSessionCache / NullSessionCache),
JDBCSessionDataStoreFactory / JDBCSessionDataStore with DatabaseAdaptor and
JDBCSessionDataStore$SessionTableSchema, FileSessionDataStoreFactory / FileSessionDataStore. Redis:
deployer's own RedisSessionDataStoreFactory, with the third-party names of §9.4 as aliases (and
the Jedis pool / embedsoft config objects they are given). The specs are in sessionspecs.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from deployer.descriptor.registry import ClassInfo, Method, Param, Prop, Registry
from deployer.descriptor.sessionspecs import (
    ClusterIdManagerSpec,
    DatabaseAdaptorSpec,
    HouseKeeperSpec,
    JdbcSessionManagerSpec,
    RedisConnectionSpec,
    SessionCacheSpec,
    SessionDataStoreSpec,
    SessionTableSchemaSpec,
    _set_driver_info,
)


def _redis_url(host: str | None, port: int = 6379, ssl: bool = False, database: int = 0) -> str:
    if not host:
        raise ValueError("a Redis host is required")
    return f"{'rediss' if ssl else 'redis'}://{host}:{port}/{database}"


def _check_redis_url(value: str | None) -> str | None:
    if value is not None and urlsplit(value).scheme not in ("redis", "rediss"):
        raise ValueError(f"a Redis URL is redis://host:port/db (or rediss://), got {value!r}; "
                         "sentinel URLs are not supported")
    return value


def _non_negative(value: int) -> int:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")
    return value


def _m(*params: tuple[str, str]) -> tuple[Param, ...]:
    return tuple(Param(n, k) for n, k in params)


_ADAPTOR_PROPS = {
    "DatasourceName": Prop("datasource_name", "string"),
    "BlobType": Prop("blob_type", "string"),
    "LongType": Prop("long_type", "string"),
    "StringType": Prop("string_type", "string"),
}
_DRIVER_INFO = {"setDriverInfo": [Method(_m(("driverClass", "string"), ("url", "string")),
                                         _set_driver_info)]}
_STORE_PROPS = {
    "GracePeriodSec": Prop("grace_period_sec", "int", convert=_non_negative),
    "SavePeriodSec": Prop("save_period_sec", "int", convert=_non_negative),
}
_CACHE_PROPS = {
    "EvictionPolicy": Prop("eviction_policy", "int"),
    "SaveOnCreate": Prop("save_on_create", "bool"),
    "SaveOnInactiveEviction": Prop("save_on_inactive_eviction", "bool"),
    "SaveOnInactiveEvict": Prop("save_on_inactive_eviction", "bool"),
    "RemoveUnloadableSessions": Prop("remove_unloadable_sessions", "bool"),
    "FlushOnResponseCommit": Prop("flush_on_response_commit", "bool"),
    "InvalidateOnShutdown": Prop("invalidate_on_shutdown", "bool"),
}
_OLD, _NEW = "org.eclipse.jetty.server.session", "org.eclipse.jetty.session"


def _store_info(simple: str, kind: str, props: dict[str, Prop], *aliases: str,
                canonical: str | None = None) -> tuple[Any, ...]:
    """A store (factory) class under its 9.4 and 12 names, or ``canonical`` and ``aliases``."""
    def make(*_args: Any, location: Any = None) -> SessionDataStoreSpec:
        return SessionDataStoreSpec(kind=kind, location=location)

    names = (canonical, *aliases) if canonical else (f"{_OLD}.{simple}", f"{_NEW}.{simple}",
                                                       *aliases)
    return (ClassInfo(simple, names[0], make, SessionDataStoreSpec, {**_STORE_PROPS, **props}),
            *names[1:])


def _add(reg: Registry, info: ClassInfo, *aliases: str) -> ClassInfo:
    """Register; a spec several classes share remembers which one made it (for its setters)."""
    make, spec = info.make, info.spec
    if make is not None and spec is not None and "jetty_class" in spec.__dataclass_fields__:
        def named(*args: Any, location: Any = None) -> Any:
            made = make(*args, location=location)
            made.jetty_class = info.canonical
            return made

        info.make = named
    return reg.add(info, *aliases)


def register_session_stores(reg: Registry) -> None:
    """Add the clustered-session classes to the registry (classes.register_all calls it)."""
    _add(reg, ClassInfo("DatabaseAdaptor", f"{_OLD}.DatabaseAdaptor",
                      lambda location=None: DatabaseAdaptorSpec(location=location),
                      DatabaseAdaptorSpec, dict(_ADAPTOR_PROPS), methods=dict(_DRIVER_INFO)),
            f"{_NEW}.DatabaseAdaptor")
    schema_props = {"SchemaName": Prop("schema_name", "string"),
                    "CatalogName": Prop("catalog_name", "string"),
                    "TableName": Prop("table_name", "string")}
    for f in SessionTableSchemaSpec.__dataclass_fields__:
        if f.endswith("_column"):
            camel = "".join(w.capitalize() for w in f.split("_"))
            schema_props[camel] = Prop(f, "string")
    _add(reg, ClassInfo("JDBCSessionDataStore$SessionTableSchema",
                      f"{_OLD}.JDBCSessionDataStore$SessionTableSchema",
                      lambda location=None: SessionTableSchemaSpec(location=location),
                      SessionTableSchemaSpec, schema_props),
            f"{_NEW}.JDBCSessionDataStore$SessionTableSchema",
            f"{_OLD}.JDBCSessionDataStore.SessionTableSchema",
            f"{_OLD}.JDBCSessionIdManager$SessionTableSchema")
    jdbc = {"DatabaseAdaptor": Prop("database_adaptor", "DatabaseAdaptor"),
            "SessionTableSchema": Prop("session_table_schema", "SessionTableSchema")}
    _add(reg, *_store_info("JDBCSessionDataStoreFactory", "jdbc", jdbc))
    _add(reg, *_store_info("JDBCSessionDataStore", "jdbc", jdbc))
    file_props = {"StoreDir": Prop("store_dir", "path"),
                  "DeleteUnrestorableFiles": Prop("delete_unrestorable_files", "bool")}
    _add(reg, *_store_info("FileSessionDataStoreFactory", "file", file_props))
    _add(reg, *_store_info("FileSessionDataStore", "file", file_props))

    def set_url(store: SessionDataStoreSpec, url: str) -> None:
        store.redis = RedisConnectionSpec(url=_check_redis_url(url))

    def set_address(store: SessionDataStoreSpec, **changed: Any) -> None:
        """Host or Port: the rest of the URL stays as it was (redis://localhost:6379/0 at first)."""
        old = urlsplit(store.redis.url if store.redis and store.redis.url
                       else "redis://localhost:6379/0")
        where = {"host": old.hostname, "port": old.port or 6379, **changed}
        store.redis = RedisConnectionSpec(url=_redis_url(
            where["host"], where["port"], old.scheme == "rediss", int(old.path.strip("/") or 0)))

    def set_host(store: SessionDataStoreSpec, host: str) -> None:
        set_address(store, host=host)

    def set_port(store: SessionDataStoreSpec, port: int) -> None:
        set_address(store, port=port)

    redis_props = {
        "Uri": Prop("redis", "string", apply=set_url),
        "Url": Prop("redis", "string", apply=set_url),
        "Host": Prop("redis", "string", apply=set_host),
        "Port": Prop("redis", "int", apply=set_port),
        "KeyPrefix": Prop("key_prefix", "string"),
        "ExpirySec": Prop("grace_period_sec", "int", convert=_non_negative),
        "JedisPool": Prop("redis", "RedisConnection"),
        "Config": Prop("redis", "RedisConnection"),
    }
    _add(reg, *_store_info(
        "RedisSessionDataStoreFactory", "redis", redis_props,
        "com.cloudbees.jetty.session.redis.RedisSessionDataStoreFactory",
        "cn.embedsoft.jetty.session.redis.RedisSessionDataStoreFactory",
        "org.eclipse.jetty.redis.session.RedisSessionDataMapFactory",
        canonical="deployer.session.RedisSessionDataStoreFactory"))  # Jetty has no Redis store

    def jedis_pool(*args: Any, location: Any = None) -> RedisConnectionSpec:
        given = list(args[1:] if args and isinstance(args[0], RedisConnectionSpec) else args)
        host, port, ssl = given + [None] * (3 - len(given))
        return RedisConnectionSpec(url=_redis_url(host, port or 6379, bool(ssl)),
                                   location=location)

    _add(reg, ClassInfo("JedisPool", "redis.clients.jedis.JedisPool", jedis_pool,
                      RedisConnectionSpec,
                      constructors=[_m(("config", "RedisConnection"), ("host", "string"),
                                       ("port", "int"), ("ssl", "bool")),
                                    _m(("config", "RedisConnection"), ("host", "string"),
                                       ("port", "int")),
                                    _m(("host", "string"), ("port", "int")),
                                    _m(("host", "string"),)]))
    _add(reg, ClassInfo("JedisPoolConfig", "redis.clients.jedis.JedisPoolConfig",
                      lambda location=None: RedisConnectionSpec(location=location),
                      RedisConnectionSpec))
    _add(reg, ClassInfo("RedisConfig", "cn.embedsoft.jetty.session.redis.RedisConfig",
                      lambda location=None: RedisConnectionSpec(location=location),
                      RedisConnectionSpec,
                      {"Uri": Prop("url", "string", convert=_check_redis_url),
                       "MaxTotal": Prop("max_connections", "int", convert=_non_negative),
                       "MaxIdle": Prop("max_connections", "int", apply=lambda s, v: None),
                       "MinIdle": Prop("max_connections", "int", apply=lambda s, v: None),
                       "MaxWaitMillis": Prop("max_connections", "int", apply=lambda s, v: None),
                       "SavePeriodSec": Prop("save_period_sec", "int",
                                             convert=_non_negative)}))

    for simple, null in (("DefaultSessionCacheFactory", False), ("NullSessionCacheFactory", True),
                         ("DefaultSessionCache", False), ("NullSessionCache", True)):
        props = dict(_CACHE_PROPS)
        if null:
            props.pop("EvictionPolicy")
        per_context = not simple.endswith("Factory")
        if per_context:
            props["SessionDataStore"] = Prop("session_data_store", "SessionDataStore")
        _add(reg, ClassInfo(simple, f"{_OLD}.{simple}",
                          (lambda *_a, location=None, _null=null:
                           SessionCacheSpec(null=_null, location=location)),
                          SessionCacheSpec, props,
                          constructors=[_m(("handler", "SessionHandler"))] if per_context
                          else [()]),
                f"{_NEW}.{simple}")

    _add(reg, ClassInfo("HouseKeeper", f"{_OLD}.HouseKeeper",
                      lambda location=None: HouseKeeperSpec(location=location), HouseKeeperSpec,
                      {"IntervalSec": Prop("interval_sec", "int")}),
            f"{_NEW}.HouseKeeper")
    worker = reg.lookup(f"{_OLD}.HashSessionIdManager")
    assert worker is not None
    worker_prop = worker.props["WorkerName"]
    _add(reg, ClassInfo(
        "DefaultSessionIdManager", f"{_OLD}.DefaultSessionIdManager",
        lambda server=None, location=None: ClusterIdManagerSpec(location=location),
        ClusterIdManagerSpec,
        {"WorkerName": worker_prop,
         "SessionHouseKeeper": Prop("house_keeper", "HouseKeeper")},
        constructors=[(), _m(("server", "Server"))]),
        f"{_NEW}.DefaultSessionIdManager")

    def scavenge(manager: ClusterIdManagerSpec, seconds: int) -> None:
        manager.house_keeper = HouseKeeperSpec(interval_sec=seconds)

    def datasource(manager: ClusterIdManagerSpec, name: str | None) -> None:
        manager.database_adaptor = manager.database_adaptor or DatabaseAdaptorSpec()
        manager.database_adaptor.datasource_name = name

    def driver_info(manager: ClusterIdManagerSpec, driver: str | None, url: str | None) -> None:
        manager.database_adaptor = manager.database_adaptor or DatabaseAdaptorSpec()
        _set_driver_info(manager.database_adaptor, driver, url)

    _add(reg, ClassInfo(
        "JDBCSessionIdManager", f"{_OLD}.JDBCSessionIdManager",
        lambda server=None, location=None: ClusterIdManagerSpec(location=location),
        ClusterIdManagerSpec,
        {"WorkerName": worker_prop,
         "ScavengeInterval": Prop("house_keeper", "int", apply=scavenge),
         "DatasourceName": Prop("database_adaptor", "string", apply=datasource),
         "DeleteBlockSize": Prop("house_keeper", "int", apply=lambda m, v: None),
         "SessionTableSchema": Prop("session_table_schema", "SessionTableSchema")},
        methods={"setDriverInfo": [Method(_m(("driverClass", "string"), ("url", "string")),
                                          driver_info)]},
        constructors=[_m(("server", "Server"))]))

    hash_manager = reg.lookup(f"{_OLD}.HashSessionManager")
    assert hash_manager is not None
    _add(reg, ClassInfo(
        "JDBCSessionManager", f"{_OLD}.JDBCSessionManager",
        lambda location=None: JdbcSessionManagerSpec(location=location), JdbcSessionManagerSpec,
        {**hash_manager.props, "SaveInterval": Prop("save_interval", "int",
                                                    convert=_non_negative)},
        getters=dict(hash_manager.getters)))
