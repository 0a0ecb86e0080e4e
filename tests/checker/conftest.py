"""The checker's Hypothesis profiles and its process-wide backends (the two tiers of `tests.checker.world`).

- short (the default, in ``make test``): ``CALSYNC_CHECK_EXAMPLES`` histories on the fast tier (2,500 by default)
  and ``CALSYNC_CHECK_DATABASE_EXAMPLES`` on the database tier (150), derandomized, so a normal run is
  reproducible and the folder takes well under a minute;
- deep (``CALSYNC_CHECK_MINUTES=N``, or ``make check MINUTES=N``): random histories for N minutes on the fast tier
  and N/10 on the database tier (rounds of the example counts until the time is up), each failure shrunk to a
  minimal history.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.checker.world import Backend, Database, MemoryBackend

MINUTES = float(os.environ.get("CALSYNC_CHECK_MINUTES", "0") or 0)
EXAMPLES = int(os.environ.get("CALSYNC_CHECK_EXAMPLES", "2500"))
DATABASE_EXAMPLES = int(os.environ.get("CALSYNC_CHECK_DATABASE_EXAMPLES", "150"))


def profile(examples: int) -> settings:
    """The short profile (derandomized) or, with ``CALSYNC_CHECK_MINUTES``, one round of the deep one. No example
    database, no health checks (the histories are cheap to draw and deliberately slow to run); shrinking on."""
    return settings(
        max_examples=examples, deadline=None, derandomize=not MINUTES, database=None,
        suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
    )  # fmt: skip


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
