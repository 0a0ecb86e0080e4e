"""Throughput of the planner-level checker (tests/checker, docs/checker.md): scenarios a minute, total explored.

    .venv/bin/python bench/checker.py [--seconds 60] [--tier memory|database|both]

Random histories (`tests.checker.strategies.histories`, Hypothesis generation without shrinking) replayed on the
real session over the in-memory sides, every invariant checked after every step, for ``--seconds`` per tier
(``memory``: the fast tier, the session's database in memory; ``database``: SQLAlchemy on SQLite). Reports the
scenarios and sessions run, their rate a minute, the time inside `sync.session.run_session` (the engine) against
the checker's own (model, invariants, Hypothesis), and the API calls the sessions made. A failure stops the run
and prints the shrunk history's failure (run the test to shrink it). Results go to ``bench/results/checker.json``.
Run by hand, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tier", choices=("memory", "database", "both"), default="both")
    args = parser.parse_args()
    os.environ.setdefault("CALSYNC_ENV", "test")
    tiers = ("memory", "database") if args.tier == "both" else (args.tier,)
    reports = {tier: run(tier, args.seconds) for tier in tiers}
    reports["load_average"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "checker.json").write_text(json.dumps(reports, indent=2) + "\n")
    print(json.dumps(reports, indent=2))


def run(tier: str, seconds: float) -> dict:

    from hypothesis import HealthCheck, Phase, given, settings

    from tests.checker import history
    from tests.checker.strategies import histories
    from tests.checker.world import Database, MemoryBackend, World

    db = MemoryBackend() if tier == "memory" else Database()
    counts = {"scenarios": 0, "sessions": 0, "steps": 0, "engine_s": 0.0, "exchange_calls": 0, "salesforce_calls": 0}
    real_session = World.session

    def timed_session(self, **faults):
        started = time.perf_counter()
        try:
            return real_session(self, **faults)
        finally:
            counts["engine_s"] += time.perf_counter() - started
            counts["sessions"] += 1

    World.session = timed_session  # the bench's own stopwatch around the checker's session call
    deadline = time.monotonic() + seconds

    # Rounds of 100 random histories until the time is up (a round ends when its examples are drawn).
    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate])  # fmt: skip
    @given(steps=histories)
    def explore(steps) -> None:
        world = history.run(db, steps)
        counts["scenarios"] += 1
        counts["steps"] += len(steps) + 1  # and the final converge
        counts["exchange_calls"] += world.calendar.usage.calls
        counts["salesforce_calls"] += world.org.usage.calls

    started = time.monotonic()
    try:
        while time.monotonic() < deadline:
            explore()
    finally:
        elapsed = time.monotonic() - started
        minute = 60 / elapsed
        World.session = real_session
        report = {
            "tier": tier,
            "seconds": round(elapsed, 1),
            "scenarios": counts["scenarios"],
            "scenarios_per_minute": round(counts["scenarios"] * minute),
            "steps_per_scenario": round(counts["steps"] / max(1, counts["scenarios"]), 1),
            "sessions": counts["sessions"],
            "sessions_per_minute": round(counts["sessions"] * minute),
            "ms_per_session": round(1000 * counts["engine_s"] / max(1, counts["sessions"]), 2),
            "engine_share": round(counts["engine_s"] / elapsed, 3),
            "api_calls_per_scenario": {
                "exchange": round(counts["exchange_calls"] / max(1, counts["scenarios"]), 1),
                "salesforce": round(counts["salesforce_calls"] / max(1, counts["scenarios"]), 1),
            },
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(report), file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
