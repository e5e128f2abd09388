"""The specs of Jetty's clustered-session vocabulary (JETTY.md §9.1, §9.2, §9.4): data only.

The classes that make them are registered by sessionstores.py.

The JDBC URL is checked here, where the line is known: only PostgreSQL is served, and a JDBC URL
becomes the libpq URL the deploy layer hands to psycopg. A datasource name is resolved later,
against ``--property`` (a JNDI name means nothing outside a Java container).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

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
    """JDBCSessionDataStore$SessionTableSchema: the names a descriptor set; None keeps Jetty's
    default, which the store's own schema (sessions/postgres.TableSchema) holds."""

    schema_name: str | None = None
    catalog_name: str | None = None
    table_name: str | None = None
    id_column: str | None = None
    context_path_column: str | None = None
    virtual_host_column: str | None = None
    last_node_column: str | None = None
    access_time_column: str | None = None
    last_access_time_column: str | None = None
    create_time_column: str | None = None
    cookie_time_column: str | None = None
    last_saved_time_column: str | None = None
    expiry_time_column: str | None = None
    max_interval_column: str | None = None
    map_column: str | None = None


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


