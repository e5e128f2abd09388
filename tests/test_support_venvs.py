"""tests/support/venvs.py: built once into place, reused, never half-built, one build at a time."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support import venvs


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPLOYER_CACHE", str(tmp_path))
    return tmp_path


def test_a_venv_is_built_into_place_then_reused(cache: Path) -> None:
    venv = venvs.framework_venv(packages=())  # no packages: no pip, no network
    assert venv.parent == cache / "venvs"
    prefix = subprocess.run([str(venv / "bin" / "python"), "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert Path(prefix) == venv  # its own interpreter, not deployer's
    (venv / "marker").write_text("kept")
    assert venvs.framework_venv(packages=()) == venv
    assert (venv / "marker").read_text() == "kept"  # reused, not rebuilt
    assert sorted(p.name for p in venv.parent.iterdir()) == [venv.name, venv.name + ".lock"]


def test_a_half_built_venv_is_never_reused_and_is_cleared(cache: Path) -> None:
    venv = venvs.framework_venv(packages=())
    half = venv.parent / f".{venv.name}.killed"  # what a build killed midway leaves
    shutil.rmtree(venv)
    half.mkdir()
    (half / "pyvenv.cfg").write_text("")
    assert venvs.framework_venv(packages=()) == venv
    assert (venv / "bin" / "python").exists() and not half.exists()


def test_two_builders_at_once_get_the_same_venv(cache: Path) -> None:
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(venvs.framework_venv(packages=())))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and results[0] == results[1]
    assert (results[0] / "bin" / "python").exists()
    assert [p.name for p in results[0].parent.iterdir() if p.name.startswith(".")] == []
