"""Fixtures for end-to-end tests: the three sandboxes once per test session, reset to the empty seed before
every test, and a `World` (actors, logs, counters, faults) per test.

- ``sandboxes``: `RunningSandboxes` (seed "empty", EWS schema validation on, free ports). At the end of the session
  the Exchange sandbox must have recorded no schema violation and no internal error.
- ``world``: a `World` on fresh sandboxes (data, faults, Salesforce budget and clock, EWS log, request counters
  reset); at the end of the test, the Exchange sandbox must have recorded no new schema violation or internal
  error during it.
- ``sandbox_info_file``: the info JSON in ``tmp_path``, for ``CALSYNC_SANDBOX_INFO``.
- ``sandbox_settings``: ``Settings.from_env`` on that file, the test database (``database_url``) and Redis db 15.
- ``engine`` (`tests.e2e.engine`): the sync engine on the rep's mailbox, once per Exchange protocol
  (``exchange_protocol``, tests/conftest.py).

A test on both protocols runs its Graph half on SQLite only (tests/conftest.py, `pytest_collection_modifyitems`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.settings import Settings
from sandbox.runner import RunningSandboxes, SandboxOptions, start_sandboxes
from tests.e2e.actors import World
from tests.support import REDIS_SERVER, clean_redis

SALESFORCE_DAILY_BUDGET = SandboxOptions.salesforce_daily_budget
REDIS_URL = f"{REDIS_SERVER}/15"


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory) -> Iterator[RunningSandboxes]:
    # exchangelib logs every request at DEBUG and retries at WARNING; tests assert behaviour instead.
    for name in ("exchangelib", "sandbox.exchange"):
        logging.getLogger(name).setLevel(logging.ERROR)
    options = SandboxOptions(
        state_dir=tmp_path_factory.mktemp("e2e-sandboxes"),
        seed="empty",
        validate_schema=True,
        salesforce_daily_budget=SALESFORCE_DAILY_BUDGET,
    )
    # The engine's Redis (db 15, where the Graph token cache lives): flushed before and after the run. Here rather
    # than in a fixture of its own, so that folders importing these fixtures (tests/graph) need no other name.
    redis = clean_redis(REDIS_URL, "end-to-end tests")
    next(redis)
    running = start_sandboxes(options)
    try:
        yield running
    finally:
        running.stop()
        next(redis, None)
    exchange = running.exchange
    assert not exchange.schema_errors, "EWS schema violations:\n" + "\n".join(exchange.schema_errors[:20])
    assert not exchange.internal_errors, "Exchange sandbox internal errors:\n" + "\n".join(
        exchange.internal_errors[:20]
    )


@pytest.fixture
def world(sandboxes) -> Iterator[World]:
    w = World(sandboxes, salesforce_daily_budget=SALESFORCE_DAILY_BUDGET)
    w.reset()
    try:
        yield w
    finally:
        w.close()
    schema_errors, internal_errors = w.new_exchange_errors()
    if schema_errors or internal_errors:
        pytest.fail(
            "Exchange sandbox during this test:\n" + "\n".join([*schema_errors, *internal_errors][:20]), pytrace=False
        )


@pytest.fixture
def sandbox_info_file(tmp_path, sandboxes) -> Path:
    path = tmp_path / "sandbox.json"
    sandboxes.write_info(path)
    return path


@pytest.fixture
def sandbox_settings(sandbox_info_file, database_url) -> Settings:
    return Settings.from_env(
        {
            "CALSYNC_ENV": "test",
            "CALSYNC_SANDBOX_INFO": str(sandbox_info_file),
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
        }  # fmt: skip
    )


from tests.e2e.engine import engine  # noqa: E402,F401 - the sync engine fixture for e2e tests
from tests.e2e.graph_support import graph_admin, graph_calendar, graph_info  # noqa: E402,F401 - Graph connector fixtures
