"""tests/descriptors/: a broken descriptor per error kind (each says what it expects), good ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployer.descriptor.loader import load_descriptor, validate_file
from deployer.descriptor.specs import ServerSpec

DIR = Path(__file__).resolve().parents[1] / "descriptors"
EXPECT = re.compile(r"<!-- expect: (\d+):(\d*) (.*) -->")
FILES = sorted(DIR.glob("*.xml"))
BROKEN = [f for f in FILES if EXPECT.search(f.read_text(encoding="utf-8"))]
GOOD = [f for f in FILES if f not in BROKEN]


def test_there_is_one_file_per_error_kind() -> None:
    assert len(BROKEN) >= 30 and len(GOOD) >= 2


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_descriptor_reports_its_located_problem(path: Path) -> None:
    line, column, fragment = EXPECT.search(path.read_text(encoding="utf-8")).groups()
    found = validate_file(path, environ={})
    assert found, f"{path.name} should be invalid"
    for problem in found:
        assert problem.location.file == str(path) and problem.location.line > 0
    assert any(
        p.location.line == int(line)
        and (not column or p.location.column == int(column))
        and fragment in p.message
        for p in found
    ), "\n".join(str(p) for p in found)


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_descriptor_is_valid(path: Path) -> None:
    assert validate_file(path, environ={}) == []


def test_seed_form_with_new_session_handler() -> None:
    server = ServerSpec()
    d = load_descriptor(DIR / "seed-new-session-handler.xml", properties={"jetty.base": "/srv"},
                        server=server, environ={})
    ctx = d.context
    assert ctx.kind == "webapp" and ctx.context_path == "/shop"
    assert ctx.war == str(DIR.resolve() / "shop.war")
    manager = ctx.session_handler.session_manager
    assert manager.store_directory == "/srv/sessions/shop"
    assert manager.lazy_load is True
    assert manager.session_id_manager is server.session_id_manager
    assert d.ids["idMgr"] is server.session_id_manager
    assert str(manager.locations["lazy_load"]).endswith("seed-new-session-handler.xml:15:11")


def test_seed_form_with_get_session_manager() -> None:
    d = load_descriptor(DIR / "seed-get-session-manager.xml", environ={})
    manager = d.context.session_handler.session_manager
    base = DIR.resolve().parent  # jetty.base: the parent of the descriptors' directory
    assert manager.store_directory == f"{base}/sessions/shop"
    assert manager.lazy_load is True and manager.max_inactive_interval == 600
    assert d.context.war == f"{base}/webapps/shop"
