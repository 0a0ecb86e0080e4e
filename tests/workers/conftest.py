"""Fixtures for worker and schedule tests: a real Redis (db 13, flushed around every test; never db 0), a
`ScheduleConfig` with short times, and a job context installed in this process.

The end-to-end fixtures (``world``, ``sandbox_settings``, ``engine``) come from ``tests/e2e``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import pytest
from redis import Redis

from sync import jobs
from sync.runtime import Runtime
from sync.schedule import ScheduleConfig
from tests.e2e.conftest import sandbox_info_file, sandbox_settings, sandboxes, world  # noqa: F401
from tests.e2e.engine import engine  # noqa: F401
from tests.support import REDIS_SERVER, clean_redis

REDIS_DB = 13
REDIS_URL = f"{REDIS_SERVER}/{REDIS_DB}"


@pytest.fixture
def redis() -> Iterator[Redis]:
    yield from clean_redis(REDIS_URL, "worker tests")


@pytest.fixture
def config() -> ScheduleConfig:
    return ScheduleConfig(lock_ttl=2, retries=2, retry_intervals=(0,), job_timeout=60)


class Clock:
    """A controllable UTC clock."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(redis, sandbox_settings, config, clock) -> Iterator[jobs.WorkerContext]:  # noqa: F811
    """The job context a worker installs, on the sandboxes and the test database, with the test clock."""
    ctx = replace(Runtime.build(sandbox_settings, redis=redis).worker_context(), config=config, clock=clock)
    jobs.install(ctx)
    yield ctx
    jobs.install(None)


@pytest.fixture
def exchange_protocol() -> str:
    """The e2e engine's mailboxes stay on EWS here: these tests are about the API and the workers, not a protocol
    (tests/e2e runs the engine on both, tests/graph covers the add-in API on Graph mailboxes)."""
    return "ews"
