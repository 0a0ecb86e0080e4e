"""``CALSYNC_SANDBOX_REPS``: the roster the sandboxes share, grown for the chaos soak (docs/sandboxes.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json; from sandbox.seed import REPS; "
    "print(json.dumps([[r.email, r.salesforce_user_id, r.exchange_online] for r in REPS]))"
)


def _roster(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CALSYNC_SANDBOX_REPS"}
    if value is not None:
        env["CALSYNC_SANDBOX_REPS"] = value
    return subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True)


def test_the_roster_grows_to_the_asked_size_with_distinct_ids():
    default = json.loads(_roster(None).stdout)
    assert [r[0] for r in default] == [
        "alice.archer@calsync.example", "bob.baker@calsync.example", "carol.chen@calsync.example",
        "dan.diaz@calsync.example",
    ]  # fmt: skip
    grown = json.loads(_roster("20").stdout)
    assert grown[:4] == default and len(grown) == 20
    assert grown[4][0] == "soak.rep05@calsync.example" and grown[19][1] == "005000000000000020"
    assert len({r[0] for r in grown}) == len({r[1] for r in grown}) == 20
    assert [r[0] for r in grown if not r[2]] == [
        "dan.diaz@calsync.example", "soak.rep08@calsync.example", "soak.rep12@calsync.example",
        "soak.rep16@calsync.example", "soak.rep20@calsync.example",
    ]  # fmt: skip


def test_a_bad_roster_size_is_refused_with_its_range():
    for bad in ("3", "51", "twenty"):
        done = _roster(bad)
        assert done.returncode != 0
        assert "CALSYNC_SANDBOX_REPS must be a number from 4 to 50" in done.stderr, done.stderr
