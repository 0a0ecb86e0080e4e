"""The planner-level checker (docs/checker.md): random histories on the real session, every invariant after every
step, in two tiers: the fast one on the in-memory store (`tests.checker.memory_store`) and the database one on
SQLAlchemy (SQLite). ``make test`` runs the short profile; ``make check MINUTES=N`` (``CALSYNC_CHECK_MINUTES``) the
deep one: the fast tier for N minutes, the database tier for a tenth of that.

Every failing history found is kept, shrunk, as a named test in ``test_regressions.py``."""

from __future__ import annotations

import sys
import time

from hypothesis import given

from tests.checker import history
from tests.checker.conftest import DATABASE_EXAMPLES, EXAMPLES, MINUTES, profile
from tests.checker.strategies import histories
from tests.checker.world import Backend


def explore(backend: Backend, examples: int, minutes: float) -> int:
    """Histories on ``backend``: ``examples`` of them (derandomized), or random ones for ``minutes``."""
    explored: list[int] = []

    @profile(examples)
    @given(steps=histories)
    def check(steps) -> None:
        history.run(backend, steps)
        explored.append(len(steps) + 1)

    started = time.monotonic()
    check()
    while minutes and time.monotonic() - started < minutes * 60:
        check()
    elapsed = time.monotonic() - started
    rate = len(explored) / elapsed * 60 if elapsed else 0.0
    steps = sum(explored) / max(1, len(explored))
    print(f"checker ({backend.tier} tier): {len(explored)} scenarios of {steps:.1f} steps on average in "
          f"{elapsed:.1f} s ({rate:,.0f} a minute)", file=sys.stderr)  # fmt: skip
    return len(explored)


def test_random_histories_keep_every_invariant_on_the_memory_store(memory_backend) -> None:
    assert explore(memory_backend, EXAMPLES, MINUTES) >= min(EXAMPLES, 1)


def test_random_histories_keep_every_invariant_on_the_database(database_backend) -> None:
    assert explore(database_backend, DATABASE_EXAMPLES, MINUTES / 10) >= min(DATABASE_EXAMPLES, 1)
