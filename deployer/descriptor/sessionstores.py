"""Jetty's clustered-session vocabulary (JETTY.md §9.1, §9.2, §9.4) as specs: data only.

9.3: JDBCSessionIdManager (setDriverInfo, DatasourceName, workerName, scavengeInterval) with
JDBCSessionManager (saveInterval). 9.4-11 (org.eclipse.jetty.server.session.*) and 12
(org.eclipse.jetty.session.*): DefaultSessionIdManager + HouseKeeper, DefaultSessionCacheFactory /
NullSessionCacheFactory (and the per-context DefaultSessionCache / NullSessionCache),
JDBCSessionDataStoreFactory / JDBCSessionDataStore with DatabaseAdaptor and
JDBCSessionDataStore$SessionTableSchema, FileSessionDataStoreFactory / FileSessionDataStore. Redis:
deployer's own RedisSessionDataStoreFactory, with the third-party names of §9.4 as aliases (and
the Jedis pool / embedsoft config objects they are given).

The JDBC URL is checked here, where the line is known: only PostgreSQL is served, and a JDBC URL
becomes the libpq URL the deploy layer hands to psycopg. A datasource name is resolved later,
against ``--property`` (a JNDI name means nothing outside a Java container).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from deployer.descriptor.registry import ClassInfo, Method, Param, Prop, Registry
from deployer.descriptor.specs import SessionIdManagerSpec, SessionManagerSpec, Spec

POSTGRES_DRIVER = "org.postgresql.Driver"
JDBC_FORM = (f"setDriverInfo with {POSTGRES_DRIVER} and jdbc:postgresql://host:port/database?"
             "user=NAME&password=SECRET (or a Redis store: deployer.session."
             "RedisSessionDataStoreFactory)")
# JDBC URL parameters libpq understands, by their pgJDBC spelling
_JDBC_PARAMS = {"user": "user", "password": "password", "sslmode": "sslmode",
                "connectTimeout": "connect_timeout", "ApplicationName": "application_name",
                "applicationName": "application_name", "options": "options",
                "sslcert": "sslcert", "sslkey": "sslkey", "sslrootcert": "sslrootcert",
                "targetServerType": "target_session_attrs"}


def jdbc_to_conninfo(url: str) -> str:
    """``jdbc:postgresql://host:port/db?user=u`` -> ``postgresql://host:port/db?user=u``;
    ValueError naming what to write instead for any other database or form."""
    url = url.strip()
    if not url.startswith("jdbc:"):
        if url.startswith(("postgresql://", "postgres://")):
            return url  # already a libpq URL (e.g. supplied with --property)
        raise ValueError(f"{url!r} is not a JDBC URL; write {JDBC_FORM}")
    rest = url[len("jdbc:"):]
    vendor = rest.partition(":")[0]
    if vendor != "postgresql":
        raise ValueError(f"a {vendor or 'JDBC'} database is not supported as a session store "
                         f"(deployer's JDBC store is PostgreSQL); write {JDBC_FORM}")
    parts = urlsplit(rest)
    if not parts.netloc:
        raise ValueError(f"{url!r} names no host; write {JDBC_FORM}")
    params = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "ssl":
            params.append(("sslmode", "require" if value.lower() == "true" else "disable"))
        elif key in _JDBC_PARAMS:
            params.append((_JDBC_PARAMS[key], value))
        else:
            raise ValueError(f"JDBC URL parameter {key!r} has no PostgreSQL (libpq) equivalent "
                             f"deployer knows; known: {', '.join(sorted(_JDBC_PARAMS))}, ssl")
    query = f"?{urlencode(params, quote_via=quote)}" if params else ""
    return f"postgresql://{parts.netloc}{parts.path or '/'}{query}"


def _driver(value: str | None) -> str | None:
    if value is not None and value.strip() not in (POSTGRES_DRIVER, ""):
        raise ValueError(f"driver {value!r} is not supported: deployer's JDBC session store is "
                         f"PostgreSQL through psycopg; write {JDBC_FORM}")
    return value


@dataclass
class DatabaseAdaptorSpec(Spec):
    """DatabaseAdaptor (9.4+) or the connection part of 9.3's JDBCSessionIdManager."""

    driver_class: str | None = None
    conninfo: str | None = None  # libpq URL, from setDriverInfo's JDBC URL
    datasource_name: str | None = None  # resolved against --property by the deploy layer
    blob_type: str | None = None  # accepted and ignored: the column is bytea
    long_type: str | None = None
    string_type: str | None = None


def _set_driver_info(adaptor: DatabaseAdaptorSpec, driver: str | None, url: str | None) -> None:
    _driver(driver)
    if url is None:
        raise ValueError(f"no connection URL; write {JDBC_FORM}")
    adaptor.driver_class, adaptor.conninfo = driver, jdbc_to_conninfo(url)


@dataclass
class SessionTableSchemaSpec(Spec):
    """JDBCSessionDataStore$SessionTableSchema: every column name, Jetty's defaults."""

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


@dataclass
class RedisConnectionSpec(Spec):
    """Where Redis is: a JedisPool, embedsoft's RedisConfig, or the factory's own settings."""

    jetty_class: str = field(default="", repr=False)  # which registered class made it

    url: str | None = None
    max_connections: int | None = None
    save_period_sec: int | None = None


@dataclass
class SessionDataStoreSpec(Spec):
    """A SessionDataStore or its factory: ``kind`` is jdbc, redis or file."""

    jetty_class: str = field(default="", repr=False)  # which registered class made it

    kind: str = "jdbc"
    grace_period_sec: int = 3600  # Jetty's XML default (the 9.4 code default is 0)
    save_period_sec: int = 0
    database_adaptor: DatabaseAdaptorSpec | None = None
    session_table_schema: SessionTableSchemaSpec | None = None
    redis: RedisConnectionSpec | None = None
    key_prefix: str | None = None
    store_dir: str | None = None
    delete_unrestorable_files: bool = False


@dataclass
class SessionCacheSpec(Spec):
    """DefaultSessionCache(Factory) / NullSessionCache(Factory); None: deployer's default."""

    jetty_class: str = field(default="", repr=False)  # which registered class made it

    null: bool = False
    eviction_policy: int | None = None
    save_on_create: bool | None = None
    save_on_inactive_eviction: bool | None = None
    remove_unloadable_sessions: bool | None = None
    flush_on_response_commit: bool | None = None
    invalidate_on_shutdown: bool | None = None
    session_data_store: SessionDataStoreSpec | None = None  # the per-context form


@dataclass
class HouseKeeperSpec(Spec):
    """HouseKeeper: the server-wide scavenger; intervalSec <= 0 disables it."""

    interval_sec: int = 600


@dataclass
class ClusterIdManagerSpec(SessionIdManagerSpec):
    """DefaultSessionIdManager with its HouseKeeper, or 9.3's JDBCSessionIdManager."""

    jetty_class: str = field(default="", repr=False)  # which registered class made it

    house_keeper: HouseKeeperSpec | None = None
    database_adaptor: DatabaseAdaptorSpec | None = None  # JDBCSessionIdManager's connection
    session_table_schema: SessionTableSchemaSpec | None = None


@dataclass
class JdbcSessionManagerSpec(SessionManagerSpec):
    """9.3's JDBCSessionManager: HashSessionManager's settings plus saveInterval."""

    save_interval: int = 60


BEAN_KINDS: dict[str, type] = {
    "DatabaseAdaptor": DatabaseAdaptorSpec, "SessionTableSchema": SessionTableSchemaSpec,
    "SessionDataStore": SessionDataStoreSpec, "SessionCache": SessionCacheSpec,
    "HouseKeeper": HouseKeeperSpec, "RedisConnection": RedisConnectionSpec,
}


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

    def set_host(store: SessionDataStoreSpec, host: str) -> None:
        old = urlsplit(store.redis.url if store.redis and store.redis.url
                       else "redis://localhost:6379/0")
        store.redis = RedisConnectionSpec(
            url=_redis_url(host, old.port or 6379, old.scheme == "rediss",
                           int(old.path.strip("/") or 0)))

    def set_port(store: SessionDataStoreSpec, port: int) -> None:
        old = urlsplit(store.redis.url if store.redis and store.redis.url
                       else "redis://localhost:6379/0")
        store.redis = RedisConnectionSpec(url=_redis_url(old.hostname, port,
                                                         old.scheme == "rediss",
                                                         int(old.path.strip("/") or 0)))

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
        host, port, ssl = (list(args[1:]) if args and isinstance(args[0], RedisConnectionSpec)
                           else list(args)) + [None] * (3 - len(args))
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
