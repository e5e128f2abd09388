"""Real PostgreSQL and Redis for the session store tests: a fresh schema or key prefix each time,
dropped afterwards (the servers are the machine's, shared with other runs)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
import redis

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def fresh_name(kind: str) -> str:
    return f"t_{kind}_{secrets.token_hex(5)}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema name no other test uses; dropped with its tables at teardown."""
    name = fresh_name("pg")
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted at teardown."""
    prefix = f"{fresh_name('redis')}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
