"""The planner-level checker (docs/checker.md): random histories on the real session, every invariant after every
step. ``make test`` runs the short profile; ``make check MINUTES=N`` (``CALSYNC_CHECK_MINUTES``) the deep one.

Every failing history found is kept, shrunk, as a named test in ``test_regressions.py``."""

from __future__ import annotations

import sys
import time

from hypothesis import given

from tests.checker import history
from tests.checker.conftest import MINUTES, PROFILE
from tests.checker.strategies import histories


def test_random_histories_keep_every_invariant(checker_db) -> None:
    explored = []

    @PROFILE
    @given(steps=histories)
    def check(steps) -> None:
        explored.append(1)
        history.run(checker_db, steps)

    started = time.monotonic()
    check()
    while MINUTES and time.monotonic() - started < MINUTES * 60:
        check()
    elapsed = time.monotonic() - started
    rate = len(explored) / elapsed * 60 if elapsed else 0.0
    print(f"checker: {len(explored)} scenarios in {elapsed:.1f} s ({rate:,.0f} a minute)", file=sys.stderr)
    assert explored
