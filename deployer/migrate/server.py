"""Migrating a Jetty server file that configures sessions into a server descriptor for
``deployer run --config``: JDBC (9.3 JDBCSessionIdManager, 9.4+ JDBCSessionDataStoreFactory),
session caches and the Redis factories of JETTY.md §9.4. (A server-wide file store goes into
each context instead: serverstore.py.)

The file is kept as written where deployer evaluates it; what it cannot (connectors, thread pools,
handlers, JNDI) is commented out and reported by the same validate-and-repair loop contexts go
through, with ``load_server_config`` as the judge. Two things Jetty's start.jar would have
supplied are added: the ``databaseAdaptor`` that session-store.xml refers to (made by Jetty's
driver.xml from ``jetty.session.jdbc.driverClass`` / ``driverUrl``), and the connection of a
9.3 JDBCSessionIdManager whose connection lines are commented out (``jetty.jdbcSession.*``).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from lxml import etree

from deployer.migrate import writer
from deployer.migrate.reader import Source, local
from deployer.migrate.report import Action, FileResult
from deployer.migrate.standins import PG_DRIVER, stand_ins

_SESSION_CLASSES = frozenset({
    "JDBCSessionIdManager", "DefaultSessionIdManager", "HouseKeeper", "DatabaseAdaptor",
    "JDBCSessionDataStoreFactory", "JDBCSessionDataStore", "DefaultSessionCacheFactory",
    "NullSessionCacheFactory", "RedisSessionDataStoreFactory",
    "JDBCSessionDataStore$SessionTableSchema",
})  # a server-wide FileSessionDataStoreFactory alone is serverstore.py's: onto each context
_ADAPTOR_ID = "databaseAdaptor"  # what Jetty's sessions/jdbc/driver.xml names it
_OVEA_IDS = "com.ovea.jetty.session.redis.RedisSessionIdManager"
_JNDI_RESOURCES = ("org.eclipse.jetty.plus.jndi.Resource", "org.mortbay.jetty.plus.naming.Resource")
_JEDIS_POOL = "redis.clients.jedis.JedisPool"


def _registry():  # the descriptor layer is optional to migrate (it only reads names)
    try:
        from deployer.descriptor.registry import REGISTRY
    except ImportError:  # pragma: no cover
        return None
    return REGISTRY


def session_server(src: Source) -> bool:
    """A <Configure> of the Server that makes at least one session bean deployer knows."""
    root, reg = src.root, _registry()
    if reg is None or local(root.tag) != "Configure":
        return False
    info = reg.lookup(root.get("class") or "")
    if info is None or info.simple != "Server":
        return False
    for elem in root.iter("New"):
        found = reg.lookup(elem.get("class") or "")
        if found is not None and found.simple in _SESSION_CLASSES or \
                elem.get("class") == _OVEA_IDS:
            return True
    return False


def _property_arg(name: str, default: str | None = None) -> etree._Element:
    arg = etree.Element("Arg")
    prop = etree.SubElement(arg, "Property", {"name": name})
    if default is not None:
        prop.set("default", default)
    return arg


def _driver_info(class_property: str, url_property: str) -> etree._Element:
    call = etree.Element("Call", {"name": "setDriverInfo"})
    call.append(_property_arg(class_property, PG_DRIVER))
    call.append(_property_arg(url_property))
    return call


def _add_adaptor(out: etree._Element, result: FileResult) -> None:
    ids = {e.get("id") for e in out.iter() if isinstance(e.tag, str) and e.get("id")}
    refs = [e for e in out.iter("Ref") if (e.get("refid") or e.get("id")) == _ADAPTOR_ID]
    if not refs or _ADAPTOR_ID in ids:
        return
    adaptor = etree.Element("New", {"id": _ADAPTOR_ID,
                                    "class": "org.eclipse.jetty.server.session.DatabaseAdaptor"})
    adaptor.append(_driver_info("jetty.session.jdbc.driverClass", "jetty.session.jdbc.driverUrl"))
    writer.indent_created(adaptor, 1)
    adaptor.tail = out.text
    out.insert(0, adaptor)
    result.add(refs[0].sourceline, Action.CHANGED, (
        "added the databaseAdaptor Jetty's sessions/jdbc/driver.xml makes: run with --property "
        "jetty.session.jdbc.driverUrl=jdbc:postgresql://host:5432/db?user=... (PostgreSQL only)"))


def _add_93_connection(out: etree._Element, result: FileResult) -> None:
    reg = _registry()  # not None: session_server found the file's session beans with it
    for new in out.iter("New"):
        info = reg.lookup(new.get("class") or "")
        if info is None or info.simple != "JDBCSessionIdManager":
            continue
        has = any(isinstance(c.tag, str) and (c.get("name") or "").lower() in (
            "setdriverinfo", "datasourcename", "datasource") for c in new)
        if has:
            continue
        call = _driver_info("jetty.jdbcSession.driverClass", "jetty.jdbcSession.connectionURL")
        writer.indent_created(call, 3)
        call.tail = "\n    "
        new.append(call)
        result.add(new.sourceline, Action.CHANGED, (
            "JDBCSessionIdManager had no connection (its DatasourceName and setDriverInfo are "
            "commented out): added setDriverInfo from --property jetty.jdbcSession.connectionURL="
            "jdbc:postgresql://host:5432/db?user=... ; every context without a storeDirectory "
            "then keeps its sessions there"))


def _ovea(out: etree._Element, result: FileResult) -> None:
    """ovea's 9.3 Redis sessions (JETTY.md §9.4): RedisSessionIdManager(Server, jndiName) and a
    JNDI Resource holding a JedisPool become DefaultSessionIdManager (+ HouseKeeper) and our
    RedisSessionDataStoreFactory given that pool."""
    for new in list(out.iter("New")):
        if new.get("class") == _OVEA_IDS:
            new.set("class", "org.eclipse.jetty.server.session.DefaultSessionIdManager")
            args = [c for c in new if c.tag == "Arg"]
            for extra in args[1:]:
                new.remove(extra)
            result.add(new.sourceline, Action.CHANGED, (
                f"{_OVEA_IDS} -> DefaultSessionIdManager (its JNDI pool name is replaced by the "
                "Redis store factory below)"))
            for child in list(new):
                if child.tag == "Set" and child.get("name") == "scavengerInterval":
                    _house_keeper(new, child, result)
        elif new.get("class") in _JNDI_RESOURCES:
            pool = next((n for n in new.iter("New") if n.get("class") == _JEDIS_POOL), None)
            if pool is not None:
                _pool_bean(new, pool, result)


def _house_keeper(manager: etree._Element, interval: etree._Element,
                  result: FileResult) -> None:
    text = (interval.text or "").strip()
    if not text.isdigit():
        return
    keeper = etree.Element("Set", {"name": "sessionHouseKeeper"})
    new = etree.SubElement(keeper, "New", {
        "class": "org.eclipse.jetty.server.session.HouseKeeper"})
    etree.SubElement(new, "Set", {"name": "intervalSec"}).text = str(max(1, int(text) // 1000))
    writer.indent_created(keeper, 3)
    keeper.tail = interval.tail
    manager.replace(interval, keeper)
    result.add(interval.sourceline, Action.CHANGED, (
        f"scavengerInterval {text} ms -> HouseKeeper intervalSec {max(1, int(text) // 1000)}"))


def _pool_bean(resource: etree._Element, pool: etree._Element, result: FileResult) -> None:
    pool = copy.deepcopy(pool)
    first = next((c for c in pool if c.tag == "Arg"), None)
    if first is not None and any(isinstance(c.tag, str) for c in first):
        for child in list(first):
            first.remove(child)
        etree.SubElement(first, "New", {"class": "redis.clients.jedis.JedisPoolConfig"})
    call = etree.Element("Call", {"name": "addBean"})
    factory = etree.SubElement(etree.SubElement(call, "Arg"), "New", {
        "class": "deployer.session.RedisSessionDataStoreFactory"})
    etree.SubElement(factory, "Set", {"name": "jedisPool"}).append(pool)
    writer.indent_created(call, 1)
    call.tail = resource.tail
    resource.getparent().replace(resource, call)
    result.add(resource.sourceline, Action.CHANGED, (
        "JNDI Resource of a JedisPool -> addBean RedisSessionDataStoreFactory with that pool "
        "(deployer has no JNDI; pool settings other than host, port and TLS are dropped)"))


def migrate_server(src: Source, result: FileResult) -> tuple:
    """The server file as a deployer server descriptor (validated by ``finish``)."""
    root = src.root
    out = copy.deepcopy(root)
    result.add(root.sourceline, Action.KEPT, (
        "server session configuration: a server descriptor for `deployer run --config` "
        "(the session beans; the rest of a jetty.xml is deployer's own)"))
    _ovea(out, result)
    _add_adaptor(out, result)
    _add_93_connection(out, result)
    before, after = writer.outer_comments(root)
    note = writer.comment(f" Migrated by `deployer migrate` from {src.path.name}: a server "
                          "descriptor, run with `deployer run --config THIS_FILE`. ")
    return out, [note, *before], after


def validate_server(text: str, name: str, out: etree._Element) -> list:
    """The problems ``deployer run --config`` would report for the migrated text."""
    from deployer.descriptor.loader import load_server_config
    from deployer.errors import DescriptorErrors

    with tempfile.TemporaryDirectory(prefix="deployer-migrate-") as tmp:
        path = Path(tmp) / f"{name}.xml"
        path.write_text(text, encoding="utf-8")
        try:
            load_server_config([path], **stand_ins(out))
        except DescriptorErrors as errors:
            return list(errors.problems)
    return []
