"""What the lookups a migrated file makes without a default stand for while it is checked.

The user gives them with ``deployer run --property``/``-D`` or the environment; the check needs a
value each that every property it may feed accepts, for context and server descriptors alike.
"""

from __future__ import annotations

from lxml import etree

PG_DRIVER = "org.postgresql.Driver"


def stand_in(lookup: etree._Element) -> str:
    """A JDBC URL or driver class for those names; "/0" under a contextPath (it needs its
    leading "/"); else "0", a valid int, string and path."""
    name = (lookup.get("name") or "").lower()
    if name.endswith("url"):  # driverUrl, connectionURL
        return "jdbc:postgresql://127.0.0.1:5432/postgres"
    if name.endswith("driverclass"):
        return PG_DRIVER
    owner = lookup.getparent()
    while owner is not None and not (owner.tag == "Set" and owner.get("name")):
        owner = owner.getparent()
    return "/0" if owner is not None and owner.get("name") == "contextPath" else "0"


def stand_ins(out: etree._Element) -> dict[str, dict[str, str]]:
    """``properties``, ``system_properties`` and ``environ`` for the check: a stand-in for each
    ``<Property>``, ``<SystemProperty>`` and ``<Env>`` without a default."""
    def of(tag: str) -> dict[str, str]:
        return {p.get("name"): stand_in(p) for p in out.iter(tag)
                if p.get("name") and p.get("default") is None and not len(p)}
    return {"properties": of("Property"), "system_properties": of("SystemProperty"),
            "environ": of("Env")}
