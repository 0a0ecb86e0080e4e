"""Fixtures for the push core's tests: a real Redis (db 9, flushed around every test; never db 0), and the
end-to-end fixtures (sandboxes, ``world``, ``engine``) for the tests with real worker and scheduler processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from tests.e2e.conftest import sandbox_info_file, sandbox_settings, sandboxes, world  # noqa: F401
from tests.e2e.engine import engine  # noqa: F401
from tests.support import REDIS_SERVER, clean_redis

REDIS_URL = f"{REDIS_SERVER}/9"


@pytest.fixture
def redis() -> Iterator[Redis]:
    yield from clean_redis(REDIS_URL, "push tests")


@pytest.fixture
def exchange_protocol() -> str:
    """EWS mailboxes here: the echo test reads the notifications our writes cause through an EWS pull
    subscription (exchangelib), as the listener would."""
    return "ews"
