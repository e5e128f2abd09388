"""Helpers the tests and the benchmarks share (virtualenvs with real frameworks)."""
