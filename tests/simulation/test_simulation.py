"""Runs the simulation (`tests.simulation.machine`): a fast profile in the normal test run, a deep one with
``CALSYNC_DEEP=1`` (``CALSYNC_DEEP_EXAMPLES`` examples, 2,000 by default, no deadline).

Every failing example the simulation found is kept as a named regression test in ``test_regressions.py``."""

from __future__ import annotations

import os
import sys

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.simulation.machine import SyncMachine

DEEP = os.environ.get("CALSYNC_DEEP") == "1"
FAST = settings(max_examples=16, stateful_step_count=20, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.generate])  # fmt: skip
DEEP_SETTINGS = settings(
    max_examples=int(os.environ.get("CALSYNC_DEEP_EXAMPLES", "2000")), stateful_step_count=40, deadline=None,
    suppress_health_check=list(HealthCheck), derandomize=False,
)  # fmt: skip


def test_sync_simulation(fresh_engine) -> None:
    examples = []

    def counted():
        examples.append(1)
        if DEEP and len(examples) % 10 == 0:
            print(f"simulation: {len(examples)} examples", file=sys.stderr, flush=True)
        return fresh_engine()

    machine = type("Machine", (SyncMachine,), {"fresh_engine": staticmethod(counted)})
    run_state_machine_as_test(machine, settings=DEEP_SETTINGS if DEEP else FAST)
    print(f"simulation: {len(examples)} examples ({'deep' if DEEP else 'fast'} profile)", file=sys.stderr)
    assert examples
