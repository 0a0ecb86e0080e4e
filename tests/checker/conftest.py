"""The checker's Hypothesis profiles and its process-wide database.

- ``checker-short`` (the default, in ``make test``): ``CALSYNC_CHECK_EXAMPLES`` histories (100 by default),
  derandomized, so a normal run is reproducible and takes well under a minute;
- ``checker-deep`` (``CALSYNC_CHECK_MINUTES=N``, or ``make check MINUTES=N``): random histories for N minutes
  (rounds of 200 until the time is up), each failure shrunk to a minimal history.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.checker.world import Backend, Database, MemoryBackend

MINUTES = float(os.environ.get("CALSYNC_CHECK_MINUTES", "0") or 0)
EXAMPLES = int(os.environ.get("CALSYNC_CHECK_EXAMPLES", "100"))

settings.register_profile(
    "checker-short", max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
)  # fmt: skip
# The deep profile runs in rounds of 200 random histories until the minutes are up.
settings.register_profile(
    "checker-deep", max_examples=200, deadline=None, derandomize=False, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
PROFILE = settings.get_profile("checker-deep" if MINUTES else "checker-short")


@pytest.fixture(scope="session")
def memory_backend() -> Iterator[MemoryBackend]:
    yield MemoryBackend()


@pytest.fixture(scope="session")
def database_backend() -> Iterator[Database]:
    db = Database()
    yield db
    db.close()


@pytest.fixture(params=["memory", "database"])
def checker_db(request) -> Backend:
    """Each regression runs on both tiers: the in-memory store and SQLAlchemy on SQLite."""
    return request.getfixturevalue(f"{request.param}_backend")
