"""Fixtures for the push core's tests: a real Redis (db 9, flushed around every test; never db 0)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from tests.support import REDIS_SERVER, clean_redis

REDIS_URL = f"{REDIS_SERVER}/9"


@pytest.fixture
def redis() -> Iterator[Redis]:
    yield from clean_redis(REDIS_URL, "push tests")
