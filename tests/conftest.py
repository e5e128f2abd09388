"""Shared fixtures: the real Jetty corpus (when ../shared is beside the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "jetty-corpus"


def corpus_files() -> list[Path]:
    """Every XML file of the shared Jetty corpus, or [] when the folder is absent."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.suffix == ".xml")


@pytest.fixture
def corpus() -> list[Path]:
    files = corpus_files()
    if not files:
        pytest.skip("../shared/jetty-corpus is not beside the repository")
    return files
