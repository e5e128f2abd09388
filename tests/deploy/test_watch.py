"""What of a webapp redeploys it: patterns, the sources' signatures and which event paths matter."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.deploy.patterns import CODE_PATTERNS, WAR_PATTERNS, Patterns
from deployer.deploy.watch import CodeTree, Dependencies, Entry, Packages, site_packages

WAR = Patterns(WAR_PATTERNS)


@pytest.mark.parametrize("rel", [
    "wsgi.py", "pkg/mod.py", "a/b/c/d.py", "old.pyc", "ext.cpython-311-x86_64-linux-gnu.so",
    "win.pyd", "extra.pth", "lib/six.py", "lib/pkg/data.json", "lib/pkg-1.0.dist-info/RECORD",
])
def test_defaults_take_code_and_lib(rel: str) -> None:
    assert WAR.matches(rel)


@pytest.mark.parametrize("rel", [
    "db.sqlite3", "data/app.db-journal", "uploads/2024/photo.jpg", "logs/app.log",
    "static/app.js", "templates/base.html", "wsgi.py.bak", "library/x.txt", "py", "a.pyx",
])
def test_defaults_leave_data_alone(rel: str) -> None:
    assert not WAR.matches(rel)


def test_double_star_is_any_depth_and_single_star_one_segment() -> None:
    p = Patterns(("templates/**/*.html", "*.cfg", "conf/*.ini", "static/"))
    assert p.matches("templates/a.html")
    assert p.matches("templates/x/y/z/a.html")
    assert not p.matches("templates/a.txt")
    assert not p.matches("other/templates/a.html")
    assert p.matches("app.cfg") and not p.matches("sub/app.cfg")  # relative to the war
    assert p.matches("conf/a.ini") and not p.matches("conf/sub/a.ini")
    assert p.matches("static/css/site.css")  # a trailing "/" is the whole directory
    assert not p.matches("static")


def test_character_classes_stay_in_one_segment() -> None:
    p = Patterns(("v?.py", "[ab].txt", "[!x]y.txt", "[^q]z.txt"))
    assert p.matches("v1.py") and not p.matches("v12.py") and not p.matches("v/.py")
    assert p.matches("a.txt") and not p.matches("c.txt")
    assert p.matches("ay.txt") and not p.matches("xy.txt") and not p.matches("/y.txt")
    assert p.matches("az.txt") and not p.matches("qz.txt")


def test_excludes_win_and_prune_whole_directories() -> None:
    p = Patterns((*WAR_PATTERNS, "templates/**"), ("scripts/**", "lib/cache/", "**/gen_*.py",
                                                   "templates/**/*.bak"))
    assert p.matches("wsgi.py") and p.matches("lib/pkg/x.py")
    assert not p.matches("scripts/tool.py")
    assert not p.matches("lib/cache/blob")
    assert not p.matches("gen_models.py") and not p.matches("pkg/gen_x.py")
    assert p.matches("templates/a.html") and not p.matches("templates/x/a.bak")
    assert p.prunes("scripts") and p.prunes("lib/cache")
    assert not p.prunes("lib") and not p.prunes("templates") and not p.prunes("pkg")


def test_patterns_compare_by_value() -> None:
    assert Patterns(("a",), ("b",)) == Patterns(("a",), ("b",))
    assert hash(CodeTree(Path("/x"))) == hash(CodeTree(Path("/x")))
    assert CodeTree(Path("/x"), Patterns(("a",))) != CodeTree(Path("/x"))


def make_war(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "wsgi.py").write_text("application = None\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "lib" / "dep").mkdir(parents=True)
    (root / "lib" / "dep" / "__init__.py").write_text("")
    (root / "lib" / "dep" / "table.json").write_text("{}")
    for skipped in ("__pycache__", ".git", "node_modules", ".venv", "pkg/__pycache__",
                    "venv/lib/python3.11/site-packages"):
        (root / skipped).mkdir(parents=True, exist_ok=True)
        (root / skipped / "hidden.py").write_text("")
    (root / ".#wsgi.py").write_text("")  # an editor's lock file
    (root / "#wsgi.py#").write_text("")
    (root / "static").mkdir()
    (root / "static" / "app.js").write_text("")
    return root


def names(signature: tuple[tuple[str, int, int, int], ...] | None) -> list[str]:
    assert signature is not None
    return [entry[0] for entry in signature]


def test_tree_signature_holds_code_only(tmp_path: Path) -> None:
    war = make_war(tmp_path / "war")
    tree = CodeTree(war)
    assert names(tree.signature()) == ["lib/dep/__init__.py", "lib/dep/table.json",
                                       "pkg/__init__.py", "wsgi.py"]


def test_data_the_app_writes_leaves_the_signature_alone(tmp_path: Path) -> None:
    war = make_war(tmp_path / "war")
    tree = CodeTree(war)
    before = tree.signature()
    with sqlite3.connect(war / "db.sqlite3") as db:
        db.execute("create table t (x)")
        db.execute("insert into t values (1)")
    db.close()
    (war / "uploads" / "2024").mkdir(parents=True)
    (war / "uploads" / "2024" / "photo.jpg").write_bytes(b"\xff\xd8")
    (war / "logs").mkdir()
    (war / "logs" / "app.log").write_text("GET /\n")
    (war / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    assert tree.signature() == before
    (war / "pkg" / "new.py").write_text("")
    assert "pkg/new.py" in names(tree.signature())


def test_an_edit_that_keeps_the_size_is_seen(tmp_path: Path) -> None:
    war = make_war(tmp_path / "war")
    tree = CodeTree(war)
    before = tree.signature()
    tmp = war / ".wsgi.py.tmp"
    tmp.write_text("application = Nome\n")
    os.replace(tmp, war / "wsgi.py")  # a rename-over: same size, new inode
    assert tree.signature() != before


def test_no_cap_on_the_number_of_files(tmp_path: Path) -> None:
    """The old walk stopped at its 5000th file: an edit past it was never seen."""
    war = tmp_path / "war"
    (war / "aaa").mkdir(parents=True)
    for i in range(5100):
        (war / "aaa" / f"{i}.css").write_text("")
    (war / "zzz").mkdir()
    (war / "zzz" / "late.py").write_text("")
    assert names(CodeTree(war).signature()) == ["zzz/late.py"]


def test_a_missing_tree_has_no_signature(tmp_path: Path) -> None:
    assert CodeTree(tmp_path / "nothing").signature() is None


@pytest.mark.parametrize("rel,is_dir,gone,expected", [
    ("wsgi.py", False, False, True),
    ("pkg/mod.py", False, True, True),
    ("lib/dep/table.json", False, False, True),
    ("db.sqlite3", False, False, False),
    ("db.sqlite3-journal", False, True, False),
    ("uploads/2024/a.jpg", False, False, False),
    ("uploads/2024", True, False, False),  # a new directory: its files tell for themselves
    ("pkg", True, True, True),  # gone with whatever it held, and no event for its files
    ("__pycache__/wsgi.cpython-311.pyc", False, False, False),
    (".git/index", False, False, False),
    ("node_modules/x/index.py", False, False, False),
    (".#wsgi.py", False, False, False),
    ("wsgi.py.swp", False, False, False),
    ("scripts/tool.py", False, False, False),  # excluded below
    ("scripts", True, True, False),
    ("", True, True, True),  # the war itself went
])
def test_which_events_matter(tmp_path: Path, rel: str, is_dir: bool, gone: bool,
                             expected: bool) -> None:
    tree = CodeTree(tmp_path, Patterns(WAR_PATTERNS, ("scripts/**",)))
    path = str(tmp_path / rel) if rel else str(tmp_path)
    assert tree.relevant(path, is_dir, gone) is expected
    assert not tree.relevant(str(tmp_path.parent / "elsewhere.py"), False, False)


def test_an_archive_and_a_directory_by_themselves(tmp_path: Path) -> None:
    archive = tmp_path / "app.pyz"
    archive.write_bytes(b"PK")
    one = Entry(archive)
    sig = one.signature()
    assert sig is not None and one.watch_roots() == ((tmp_path, False),)
    assert one.relevant(str(archive), False, False)
    assert not one.relevant(str(tmp_path / "other.pyz"), False, False)
    assert one.modified_since(sig, sig[0]) and not one.modified_since(sig, sig[0] + 1)
    assert Entry(tmp_path / "gone.pyz").signature() is None
    war = make_war(tmp_path / "war")
    before = Entry(war).signature()
    (war / "wsgi.py").write_text("changed = True\n")
    assert Entry(war).signature() == before  # what is inside is the CodeTree's business
    war.rename(tmp_path / "war.old")
    make_war(tmp_path / "war")
    assert Entry(war).signature() not in (before, None)
    assert Entry(war).relevant(str(war), True, True)


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A real virtualenv (no pip inside: pip comes from deployer's own environment)."""
    path = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


def test_packages_see_installs_not_files(venv: Path) -> None:
    [sp] = site_packages(venv)
    packages = Packages(sp)
    before = packages.signature()
    assert before is not None
    (sp / "tiny").mkdir()
    (sp / "tiny" / "__init__.py").write_text("")
    (sp / "__pycache__").mkdir()
    assert packages.signature() == before  # files of a package: pip is not done yet
    (sp / "tiny-1.0.dist-info").mkdir()
    (sp / "tiny-1.0.dist-info" / "METADATA").write_text("Name: tiny\n")
    after = packages.signature()
    assert after != before and [n for n, _ in after.entries] == ["tiny-1.0.dist-info"]
    assert packages.modified_since(after, after.newest)
    assert packages.relevant(str(sp / "tiny-1.0.dist-info"), True, False)
    assert packages.relevant(str(sp / "__editable__.x.pth"), False, False)
    assert not packages.relevant(str(sp / "tiny"), True, False)
    assert not packages.relevant(str(sp / "tiny-1.0.dist-info" / "RECORD"), False, False)


def test_dependencies_of_a_webapp(tmp_path: Path, venv: Path) -> None:
    war = make_war(tmp_path / "war")
    shared = tmp_path / "shared"
    shared.mkdir()
    egg = tmp_path / "extra.zip"
    egg.write_bytes(b"PK")
    deps = Dependencies.of_webapp(war, includes=["templates/**"], excludes=["scripts/**"],
                                  virtualenv=venv, python_path=[shared, egg])
    [sp] = site_packages(venv)
    assert deps.sources == (
        Entry(war),
        CodeTree(war, Patterns((*WAR_PATTERNS, "templates/**"), ("scripts/**",))),
        Entry(venv),
        Entry(venv / "pyvenv.cfg"),
        Packages(sp),
        Entry(shared),
        CodeTree(shared, Patterns(CODE_PATTERNS)),
        Entry(egg),
    )
    assert Dependencies.of_webapp(egg).sources == (Entry(egg),)
    assert not Dependencies.of_webapp(None) and not Dependencies()
