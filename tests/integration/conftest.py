"""Integration tests need every layer; skip cleanly while one is still missing from the tree."""

from __future__ import annotations

import importlib.util

import pytest

from tests.integration.cluster import cluster  # noqa: F401 - the shared-store nodes fixture

_LAYERS = ("deployer.descriptor.loader", "deployer.web.server", "deployer.sessions.manager")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [m for m in _LAYERS if importlib.util.find_spec(m) is None]
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"not in the tree yet: {', '.join(missing)}")
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(skip)
