"""Fixtures for the EWS listener's tests: a real Redis (db 7, flushed around every test; never db 0), the e2e
sandboxes and engine on EWS mailboxes, and sandbox minutes of one second (a 1-minute streaming connection
closes after a second, so reconnects happen within a test)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis import Redis

from tests.e2e.conftest import sandbox_info_file, sandbox_settings, sandboxes, world  # noqa: F401
from tests.e2e.engine import engine  # noqa: F401
from tests.support import REDIS_SERVER, clean_redis

REDIS_DB = 7
REDIS_URL = f"{REDIS_SERVER}/{REDIS_DB}"
MINUTE = 1.0  # real seconds per sandbox minute in these tests


@pytest.fixture
def redis() -> Iterator[Redis]:
    yield from clean_redis(REDIS_URL, "listener tests")


@pytest.fixture
def exchange_protocol() -> str:
    """The listener is for EWS mailboxes (Graph mailboxes have webhooks)."""
    return "ews"


@pytest.fixture
def fast_minutes(world) -> Iterator[float]:  # noqa: F811
    world._ex("PUT", "notifications", {"minute_seconds": MINUTE})  # noqa: SLF001 - the sandbox admin endpoint
    try:
        yield MINUTE
    finally:
        world._ex("PUT", "notifications", {"minute_seconds": 60, "expire": "all"})  # noqa: SLF001


def expire_subscriptions(world, timeout: float = 10.0) -> None:  # noqa: F811
    """Expire every subscription on the sandbox, waiting for connections a stopped listener left to be noticed
    as gone (the sandbox spares connected subscriptions, as Exchange does)."""
    deadline = time.monotonic() + timeout
    while world._ex("PUT", "notifications", {"expire": "all"})["subscriptions"]:  # noqa: SLF001
        assert time.monotonic() < deadline, "subscriptions still connected"
        time.sleep(0.1)
