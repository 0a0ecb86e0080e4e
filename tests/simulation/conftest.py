"""Fixtures of the simulation: the e2e sandboxes and world, and a fresh migrated database per example.

Hypothesis runs many examples inside one test, so the per-test fixtures (``database_url``, ``engine``) cannot
give each example its own state: ``fresh_engine()`` copies a database migrated once and registers the mailbox.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from exchangelib.protocol import BaseProtocol

from calsync.database import upgrade
from calsync.settings import Settings
from tests.e2e.conftest import REDIS_URL, sandbox_info_file, sandboxes, world  # noqa: F401 - fixtures reused
from tests.e2e.engine import Engine


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sim-template") / "calsync.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def fresh_engine(
    world,  # noqa: F811
    sandbox_info_file,  # noqa: F811
    migrated_template,
    tmp_path,
    monkeypatch,
    exchange_protocol,
) -> Iterator[Callable[[], Engine]]:
    """``fresh_engine()``: the sandboxes back to the empty seed and an `Engine` on a new database, its mailbox on
    ``exchange_protocol`` (the simulation runs on EWS and on Graph)."""
    # exchangelib waits 10 s, then 20 s, ... before retrying after an HTTP 500 or a timeout: the same retries,
    # without the wall-clock wait, keep thousands of simulated sessions affordable.
    monkeypatch.setattr(BaseProtocol, "RETRY_WAIT", 0.05)
    made: list[Engine] = []

    def make() -> Engine:
        world.reset()
        world.reset_graph()
        for actor in [*world._outlook.values(), *world._salesforce.values()]:  # noqa: SLF001
            actor.close()  # actors of the previous example: their clients hold sessions of their own
        world._outlook.clear()  # noqa: SLF001
        world._salesforce.clear()  # noqa: SLF001
        path = tmp_path / f"sim-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(migrated_template, path)
        settings = Settings.from_env(
            {
                "CALSYNC_ENV": "test",
                "CALSYNC_SANDBOX_INFO": str(sandbox_info_file),
                "DATABASE_URL": f"sqlite:///{path}",
                "REDIS_URL": REDIS_URL,
            }  # fmt: skip
        )
        engine = Engine(settings, world, world.rep.email, protocol=exchange_protocol)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.factory.kw["bind"].dispose()
