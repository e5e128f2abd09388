"""Jetty's clustered-session vocabulary: server descriptors (`run --config`) and per-context forms,
evaluated and checked, then wired by the deploy layer to the stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.deploy.sessionstores import cached_manager
from deployer.descriptor.loader import load_descriptor, load_server_config
from deployer.descriptor.sessionspecs import (
    ClusterIdManagerSpec,
    SessionCacheSpec,
    SessionDataStoreSpec,
    SessionTableSchemaSpec,
    jdbc_to_conninfo,
)
from deployer.descriptor.specs import ServerSpec, SessionManagerSpec
from deployer.errors import DescriptorErrors
from deployer.sessions.cache import CachedSessionManager
from deployer.sessions.ids import SessionIdManager
from deployer.sessions.postgres import PostgresDataStore
from deployer.sessions.redisstore import RedisDataStore
from tests.conftest import CORPUS
from tests.descriptor.helpers import HEAD, write

SERVER = 'class="org.eclipse.jetty.server.Server"'
PG_JDBC = "jdbc:postgresql://db.example:5433/shop?user=app&amp;password=s3cret"


def server_file(tmp_path: Path, body: str, name: str = "server.xml") -> Path:
    path = tmp_path / name
    path.write_text(f'{HEAD}<Configure id="Server" {SERVER}>\n{body}\n</Configure>\n')
    return path


def server(tmp_path: Path, body: str, **kwargs: object) -> ServerSpec:
    return load_server_config([server_file(tmp_path, body)], **kwargs)  # type: ignore[arg-type]


def errors(tmp_path: Path, body: str, **kwargs: object) -> list[str]:
    with pytest.raises(DescriptorErrors) as info:
        server(tmp_path, body, **kwargs)
    return [f"{p.location.line}:{p.location.column}: {p.message}" for p in info.value.problems]


ADAPTOR = f'''
  <New id="databaseAdaptor" class="{{pkg}}.DatabaseAdaptor">
    <Call name="setDriverInfo">
      <Arg>org.postgresql.Driver</Arg>
      <Arg>{PG_JDBC}</Arg>
    </Call>
  </New>'''

STORE_94 = '''
  <Call name="addBean">
    <Arg>
      <New class="{pkg}.JDBCSessionDataStoreFactory">
        <Set name="gracePeriodSec">60</Set>
        <Set name="savePeriodSec">5</Set>
        <Set name="databaseAdaptor"><Ref refid="databaseAdaptor"/></Set>
        <Set name="sessionTableSchema">
          <New class="{pkg}.JDBCSessionDataStore$SessionTableSchema">
            <Set name="schemaName">web</Set>
            <Set name="tableName">Sess</Set>
            <Set name="idColumn">sid</Set>
            <Set name="contextPathColumn">ctx</Set>
            <Set name="virtualHostColumn">vh</Set>
            <Set name="lastNodeColumn">node</Set>
            <Set name="accessTimeColumn">at</Set>
            <Set name="lastAccessTimeColumn">lat</Set>
            <Set name="createTimeColumn">ct</Set>
            <Set name="cookieTimeColumn">kt</Set>
            <Set name="lastSavedTimeColumn">st</Set>
            <Set name="expiryTimeColumn">et</Set>
            <Set name="maxIntervalColumn">mi</Set>
            <Set name="mapColumn">data</Set>
          </New>
        </Set>
      </New>
    </Arg>
  </Call>
  <Call name="addBean">
    <Arg>
      <New class="{pkg}.NullSessionCacheFactory">
        <Set name="saveOnCreate">true</Set>
        <Set name="removeUnloadableSessions">true</Set>
      </New>
    </Arg>
  </Call>'''


@pytest.mark.parametrize("pkg", ["org.eclipse.jetty.server.session", "org.eclipse.jetty.session"])
def test_94_and_12_server_descriptors_give_every_table_name(tmp_path: Path, pkg: str) -> None:
    spec = server(tmp_path, (ADAPTOR + STORE_94).format(pkg=pkg))
    store, cache = spec.beans
    assert isinstance(store, SessionDataStoreSpec) and isinstance(cache, SessionCacheSpec)
    assert store.kind == "jdbc" and store.grace_period_sec == 60 and store.save_period_sec == 5
    assert store.database_adaptor is not None
    assert store.database_adaptor.conninfo == (
        "postgresql://db.example:5433/shop?user=app&password=s3cret")
    schema = store.session_table_schema
    assert schema == SessionTableSchemaSpec(
        schema_name="web", table_name="Sess", id_column="sid", context_path_column="ctx",
        virtual_host_column="vh", last_node_column="node", access_time_column="at",
        last_access_time_column="lat", create_time_column="ct", cookie_time_column="kt",
        last_saved_time_column="st", expiry_time_column="et", max_interval_column="mi",
        map_column="data")
    assert cache.null and cache.save_on_create and cache.remove_unloadable_sessions


def test_the_deploy_layer_wires_them_to_a_postgres_store(tmp_path: Path) -> None:
    spec = server(tmp_path, (ADAPTOR + STORE_94).format(pkg="org.eclipse.jetty.session"))
    ctx = load_descriptor(_context(tmp_path), environ={}).context
    manager = cached_manager(ctx, ctx.session_handler.session_manager if ctx.session_handler
                             else _default_manager(), spec, {}, SessionIdManager("n1"), "shop")
    assert isinstance(manager, CachedSessionManager)
    store = manager.data_store
    assert isinstance(store, PostgresDataStore)
    assert store.context == "_shop" and store.vhost == "0.0.0.0" and store.node == "n1"
    assert store.schema.table_name == "Sess" and store.schema.map_column == "data"
    assert manager.config.null_cache and manager.config.grace_period == 60
    assert manager.config.flush_on_response_commit  # deployer's default for a shared store
    assert manager.config.save_period == 5


def _default_manager() -> SessionManagerSpec:
    return SessionManagerSpec()


def _context(tmp_path: Path, body: str = "") -> Path:
    (tmp_path / "shop").mkdir(exist_ok=True)
    return write(tmp_path, f'<Set name="contextPath">/shop</Set>\n<Set name="war">shop</Set>\n'
                           f"{body}", name="shop.xml")


def _wired(tmp_path: Path, spec: ServerSpec, body: str,
           worker_name: str | None = None) -> CachedSessionManager | None:
    """What the deploy layer makes of the session manager of a context written with ``body``
    under the server ``spec``."""
    ctx = load_descriptor(_context(tmp_path, body), environ={}, server=spec).context
    assert ctx.session_handler is not None
    return cached_manager(ctx, ctx.session_handler.session_manager, spec, {},
                          SessionIdManager(worker_name), "shop")


def test_oracle_and_other_drivers_are_refused_at_their_line(tmp_path: Path) -> None:
    found = errors(tmp_path, '''
  <New class="org.eclipse.jetty.server.session.DatabaseAdaptor">
    <Call name="setDriverInfo">
      <Arg>oracle.jdbc.OracleDriver</Arg>
      <Arg>jdbc:oracle:thin:@db:1521:orcl</Arg>
    </Call>
  </New>''')
    assert len(found) == 1 and found[0].startswith("6:5: ")  # the <Call> line
    assert "oracle.jdbc.OracleDriver" in found[0] and "jdbc:postgresql://host:port" in found[0]
    found = errors(tmp_path, '''
  <New class="org.eclipse.jetty.server.session.DatabaseAdaptor">
    <Call name="setDriverInfo">
      <Arg>org.postgresql.Driver</Arg>
      <Arg>jdbc:mysql://db/shop</Arg>
    </Call>
  </New>''')
    assert "a mysql database is not supported" in found[0]


def test_jdbc_url_forms() -> None:
    assert jdbc_to_conninfo("jdbc:postgresql://h:1/d?user=u&ssl=true") == (
        "postgresql://h:1/d?user=u&sslmode=require")
    with pytest.raises(ValueError, match="no PostgreSQL"):
        jdbc_to_conninfo("jdbc:postgresql://h/d?loggerLevel=DEBUG")
    assert jdbc_to_conninfo("postgresql://h/d") == "postgresql://h/d"


def test_a_jndi_datasource_needs_a_property_naming_its_connection(tmp_path: Path) -> None:
    body = '''
  <New id="databaseAdaptor" class="org.eclipse.jetty.server.session.DatabaseAdaptor">
    <Set name="DatasourceName">jdbc/sessions</Set>
  </New>
  <Call name="addBean"><Arg>
    <New class="org.eclipse.jetty.server.session.JDBCSessionDataStoreFactory">
      <Set name="databaseAdaptor"><Ref refid="databaseAdaptor"/></Set>
    </New>
  </Arg></Call>'''
    spec = server(tmp_path, body)
    ctx = load_descriptor(_context(tmp_path), environ={}).context
    with pytest.raises(DescriptorErrors) as info:
        cached_manager(ctx, _default_manager(), spec, {}, SessionIdManager(), "shop")
    problem = info.value.problems[0]
    assert problem.location.line == 6  # the <Set name="DatasourceName"> line
    assert "--property jdbc/sessions=jdbc:postgresql://" in problem.message
    manager = cached_manager(ctx, _default_manager(), spec,
                             {"jdbc/sessions": "jdbc:postgresql://127.0.0.1/test?user=postgres"},
                             SessionIdManager(), "shop")
    assert isinstance(manager, CachedSessionManager)
    assert manager.data_store.conninfo == "postgresql://127.0.0.1/test?user=postgres"  # type: ignore[attr-defined]


def test_93_jdbc_id_manager_and_per_context_jdbc_session_manager(tmp_path: Path) -> None:
    spec = server(tmp_path, f'''
  <Set name="sessionIdManager">
    <New id="idMgr" class="org.eclipse.jetty.server.session.JDBCSessionIdManager">
      <Arg><Ref refid="Server"/></Arg>
      <Set name="workerName">node1</Set>
      <Set name="scavengeInterval">120</Set>
      <Call name="setDriverInfo">
        <Arg>org.postgresql.Driver</Arg>
        <Arg>{PG_JDBC}</Arg>
      </Call>
    </New>
  </Set>''')
    ids = spec.session_id_manager
    assert isinstance(ids, ClusterIdManagerSpec) and ids.worker_name == "node1"
    assert ids.house_keeper is not None and ids.house_keeper.interval_sec == 120
    manager = _wired(tmp_path, spec, '''
<Ref refid="Server"><Call id="idMgr" name="getSessionIdManager"/></Ref>
<Set name="sessionHandler">
  <New class="org.eclipse.jetty.server.session.SessionHandler">
    <Arg>
      <New class="org.eclipse.jetty.server.session.JDBCSessionManager">
        <Set name="sessionIdManager"><Ref refid="idMgr"/></Set>
        <Set name="saveInterval">30</Set>
        <Set name="maxInactiveInterval">600</Set>
      </New>
    </Arg>
  </New>
</Set>''', worker_name="node1")
    assert isinstance(manager, CachedSessionManager)
    assert isinstance(manager.data_store, PostgresDataStore)
    assert manager.config.save_period == 30 and manager.config.scavenge_interval == 120
    assert manager.config.max_inactive_interval == 600


def test_a_context_cannot_add_beans_to_the_shared_server(tmp_path: Path) -> None:
    path = _context(tmp_path, '''
<Ref refid="Server"><Call name="addBean"><Arg>
  <New class="org.eclipse.jetty.server.session.NullSessionCacheFactory"/>
</Arg></Call></Ref>''')
    with pytest.raises(DescriptorErrors, match="shared by every context|may read it"):
        load_descriptor(path, environ={})


def test_per_context_cache_and_store_override_the_server(tmp_path: Path) -> None:
    spec = server(tmp_path, (ADAPTOR + STORE_94).format(pkg="org.eclipse.jetty.server.session"))
    manager = _wired(tmp_path, spec, '''
<Call id="sh" name="getSessionHandler">
  <Set name="sessionCache">
    <New class="org.eclipse.jetty.server.session.DefaultSessionCache">
      <Arg><Ref refid="sh"/></Arg>
      <Set name="evictionPolicy">-1</Set>
      <Set name="sessionDataStore">
        <New class="deployer.session.RedisSessionDataStoreFactory">
          <Set name="uri">redis://127.0.0.1:6379/2</Set>
          <Set name="keyPrefix">shop:</Set>
        </New>
      </Set>
    </New>
  </Set>
</Call>''')
    assert isinstance(manager, CachedSessionManager)
    assert isinstance(manager.data_store, RedisDataStore)
    assert manager.data_store.url == "redis://127.0.0.1:6379/2"
    assert manager.data_store.prefix == "shop:"
    assert manager.config.eviction_policy == -1 and not manager.config.null_cache


def test_a_hash_session_manager_store_directory_keeps_its_meaning(tmp_path: Path) -> None:
    spec = server(tmp_path, (ADAPTOR + STORE_94).format(pkg="org.eclipse.jetty.server.session"))
    assert _wired(tmp_path, spec, '''
<Get name="sessionHandler"><Get name="sessionManager">
  <Set name="storeDirectory">sessions</Set>
</Get></Get>''') is None


@pytest.mark.parametrize("number,url", [
    ("85", "redis://127.0.0.1:6379/0"), ("86", "redis://localhost:6379/0")])
def test_third_party_redis_factories_of_the_corpus_run_as_written(
        corpus: list[Path], tmp_path: Path, number: str, url: str) -> None:
    path = next(p for p in corpus if p.name.startswith(f"{number}_"))
    spec = load_server_config([path], environ={})
    (store,) = spec.beans
    assert isinstance(store, SessionDataStoreSpec) and store.kind == "redis"
    ctx = load_descriptor(_context(tmp_path), environ={}).context
    manager = cached_manager(ctx, _default_manager(), spec, {}, SessionIdManager(), "shop")
    assert isinstance(manager, CachedSessionManager)
    assert manager.data_store.url == url  # type: ignore[attr-defined]


def test_jettys_split_session_store_files_chain_their_ids(corpus: list[Path],
                                                          tmp_path: Path) -> None:
    """session-store.xml refers to the databaseAdaptor driver.xml makes: given in order with
    --config, they share ids as start.jar's etc/ files do."""
    driver = server_file(tmp_path, '''
  <New id="databaseAdaptor" class="org.eclipse.jetty.server.session.DatabaseAdaptor">
    <Call name="setDriverInfo">
      <Arg><Property name="jetty.session.jdbc.driverClass"/></Arg>
      <Arg><Property name="jetty.session.jdbc.driverUrl"/></Arg>
    </Call>
  </New>''', "driver.xml")
    store_xml = next(p for p in corpus if p.name.startswith("61_"))
    spec = load_server_config([driver, store_xml], environ={}, properties={
        "jetty.session.jdbc.driverClass": "org.postgresql.Driver",
        "jetty.session.jdbc.driverUrl": "jdbc:postgresql://127.0.0.1:5432/test?user=postgres"})
    (store,) = spec.beans
    assert store.database_adaptor.conninfo == "postgresql://127.0.0.1:5432/test?user=postgres"
    assert store.session_table_schema.table_name == "JettySessions"
    assert CORPUS.is_dir()


def test_a_server_descriptor_sees_the_system_properties_a_context_sees(tmp_path: Path) -> None:
    """<SystemProperty name="user.home"/> read as null in a server descriptor (a context had its
    natural value): load_server_config passed only the -D values."""
    spec = server(tmp_path, '''
  <Call name="addBean"><Arg>
    <New class="org.eclipse.jetty.server.session.FileSessionDataStoreFactory">
      <Set name="storeDir"><SystemProperty name="user.home"/>/sessions</Set>
    </New>
  </Arg></Call>''')
    (store,) = [b for b in spec.beans if getattr(b, "store_dir", None)]
    assert store.store_dir == f"{Path.home()}/sessions"
