"""``python -m tests.soak``: one soak run (``make soak`` runs this with ``SOAK_MINUTES``; docs/soak.md)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
from pathlib import Path

from tests.soak.runner import Options, run
from tests.support import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument(
        "--minutes",
        type=float,
        default=float(os.environ.get("SOAK_MINUTES") or 20),
        help="how long the workload and the faults run (default: SOAK_MINUTES or 20)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one, printed)")
    parser.add_argument("--mailboxes", type=int, default=20, help="rep mailboxes (sandbox roster size), 4 to 50")
    parser.add_argument("--ops-per-second", type=float, default=1.0, help="workload edits per second")
    parser.add_argument("--fault-every", type=float, default=30.0, help="mean seconds between two faults")
    parser.add_argument(
        "--database",
        choices=("postgresql", "sqlite"),
        default=None,
        help="default: PostgreSQL when CALSYNC_TEST_POSTGRES_URL is set, else SQLite",
    )
    parser.add_argument("--no-graph", action="store_true", help="every mailbox on EWS")
    parser.add_argument(
        "--no-push", action="store_true", help="no webhook server (Graph change notifications) and no Salesforce scan"
    )
    parser.add_argument(
        "--safety-minutes", type=int, default=2, help="the periodic session under a mailbox whose push is up"
    )
    parser.add_argument(
        "--redis-port", type=int, default=None, help="the soak's own redis-server (default: a free port)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="default: instance/soak/<UTC time>-<seed>")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    postgres = os.environ.get("CALSYNC_TEST_POSTGRES_URL", "")
    if args.database == "sqlite":
        postgres = ""
    elif args.database == "postgresql" and not postgres:
        parser.error("--database postgresql needs CALSYNC_TEST_POSTGRES_URL (an admin URL to create the database)")
    workdir = args.workdir or ROOT / "instance" / "soak" / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stdout), logging.FileHandler(workdir / "soak.log")],
    )
    for noisy in ("exchangelib", "urllib3", "requests_ntlm", "simple_salesforce"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    print(f"soak seed: {seed}  (repeat with --seed {seed})", flush=True)
    report = run(
        Options(
            minutes=args.minutes,
            seed=seed,
            workdir=workdir,
            mailboxes=args.mailboxes,
            postgres_admin_url=postgres,
            ops_per_second=args.ops_per_second,
            fault_every=args.fault_every,
            graph=not args.no_graph,
            push=not args.no_push,
            redis_port=args.redis_port,
            safety_minutes=args.safety_minutes,
        )
    )
    summary = {
        k: report.get(k)
        for k in (
            "seed",
            "outcome",
            "run",
            "faults",
            "workload",
            "items",
            "quiesce",
            "sessions",
            "queue",
            "push",
            "problems",
            "verify",
        )
    }
    print(json.dumps(summary, indent=2, default=str))
    print(f"soak {report.get('outcome')}: seed {seed}, report {workdir / 'report.json'}", flush=True)
    return 0 if report.get("outcome") == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
