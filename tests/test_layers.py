"""The layer rules of DESIGN.md, checked on the source: nothing imports upward, and the worker
side, which runs in the webapp's own interpreter, imports only the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "deployer"

FORBIDDEN = {
    "descriptor": ("deployer.web", "deployer.sessions", "deployer.deploy", "uvicorn", "watchdog"),
    "sessions": ("deployer.web", "deployer.descriptor", "deployer.deploy", "deployer.manage",
                 "lxml", "uvicorn"),
    "web": ("deployer.descriptor", "deployer.deploy", "deployer.manage", "lxml", "watchdog"),
    "deploy": ("deployer.manage", "deployer.commands"),
    "manage": ("deployer.commands", "deployer.cli"),
}
# the framework adapters import their framework, which the app's environment has
ADAPTERS = {"flask.py": "flask", "django.py": "django"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_does_not_import_upward(layer: str) -> None:
    files = sorted((PKG / layer).glob("*.py"))
    assert files, f"deployer/{layer} has no modules"
    bad = [
        f"{f.relative_to(PKG)} imports {name}"
        for f in files
        for name in imported_modules(f)
        if name.startswith(FORBIDDEN[layer])
    ]
    assert not bad, "\n".join(bad)


def test_the_worker_imports_only_the_standard_library_and_itself() -> None:
    files = sorted((PKG / "worker").glob("*.py"))
    assert files, "deployer/worker has no modules"
    bad = []
    for f in files:
        for name in imported_modules(f):
            top = name.partition(".")[0]
            if name == "deployer.worker" or name.startswith("deployer.worker."):
                continue
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if ADAPTERS.get(f.name) == top:
                continue
            bad.append(f"{f.relative_to(PKG)} imports {name}")
    assert not bad, "\n".join(bad)
