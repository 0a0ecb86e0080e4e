"""What ``calsync verify`` costs on a converged mailbox, next to a quiet session and a dry run (issue 20).

    .venv/bin/python bench/verify.py [--items 300] [--drift 10]

One mailbox on the sandboxes (seed "empty"): ``--items`` tagged Outlook items and ``--items`` Salesforce Events,
synced until quiet. Measured, each with its wall time and requests per service as the sandboxes count them
(Salesforce ``/__sandbox__/stats``, EWS ``/__sandbox__/log``) and the writes made (verify must make none): a
quiet session, the dry run, and verify (`sync.verify_read.verify`) on the converged mailbox, then verify again
after ``--drift`` Salesforce edits (it must find exactly those). Results go to ``bench/results/verify.json``.
Run by hand, never in tests.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--drift", type=int, default=10)
    args = parser.parse_args()
    for name in ("exchangelib", "sandbox.exchange", "werkzeug"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from calsync.settings import Settings
    from sandbox.runner import SandboxOptions, start_sandboxes
    from sync import mailboxes, verify_read
    from sync.preview import dry_run
    from sync.runtime import Runtime
    from sync.session import run_session
    from tests.e2e.actors import World, at

    with tempfile.TemporaryDirectory() as tmp:
        running = start_sandboxes(SandboxOptions(state_dir=Path(tmp) / "sandboxes", seed="empty"))
        try:
            info = Path(tmp) / "sandbox.json"
            running.write_info(info)
            settings = Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(info),
                                          "DATABASE_URL": f"sqlite:///{tmp}/bench.db"})  # fmt: skip
            world = World(running)
            world.reset()
            runtime = Runtime.build(settings, migrate=True)
            email = world.rep.email
            with runtime.session_factory() as db:
                mailboxes.add(db, email, world.rep.salesforce_user_id, time_zone=world.rep.timezone)
                db.commit()
            outlook, sf = world.outlook(), world.salesforce()
            for n in range(args.items):
                outlook.create(f"Outlook {n}", at(1 + n % 40, 8 + n % 9), at(1 + n % 40, 8 + n % 9, 30))
            events = [sf.create_event(Subject=f"Salesforce {n}", StartDateTime=at(1 + n % 40, 9),
                                      EndDateTime=at(1 + n % 40, 9, 45)) for n in range(args.items)]  # fmt: skip

            def session():
                return run_session(runtime.session_factory, email, salesforce=runtime.salesforce(),
                                   exchange=runtime.exchange(email))  # fmt: skip

            def verify():
                return verify_read.verify(runtime.session_factory, email,
                                          lambda e: (runtime.salesforce(), runtime.exchange(e)))  # fmt: skip

            for _ in range(4):
                if session().writes == 0:
                    break

            def counters():
                stats = world.salesforce_stats()
                log = world.exchange_log()
                return Counter(stats["requests"]), stats["writes"], Counter(log["requests"]), len(log["calls"])

            def measured(run):
                before = counters()
                started = time.perf_counter()
                out = run()
                return out, _figures(time.perf_counter() - started, before, counters())

            figures = {}
            _, figures["quiet_session"] = measured(session)
            _, figures["dry_run"] = measured(lambda: dry_run(runtime.session_factory, email,
                                                             salesforce=runtime.salesforce(),
                                                             exchange=runtime.exchange(email)))  # fmt: skip
            clean, figures["verify_clean"] = measured(verify)
            for event_id in events[: args.drift]:
                sf.update("Event", event_id, Location="Edited in Salesforce")
            drifted, figures["verify_drift"] = measured(verify)
            report = {"items_per_side": args.items, "drift": args.drift, **figures,
                      "clean_findings": len(clean.findings), "drift_findings": drifted.summary(),
                      "links": clean.counts["links"]}  # fmt: skip
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "verify.json").write_text(json.dumps(report, indent=2, default=str))
            print(json.dumps(report, indent=2, default=str))
            runtime.close()
            world.close()
        finally:
            running.stop()


def _figures(seconds: float, before, after) -> dict:
    sf_requests = after[0] - before[0]
    ex_requests = after[2] - before[2]
    return {"seconds": round(seconds, 3), "salesforce_requests": sum(sf_requests.values()),
            "salesforce_by_endpoint": dict(sf_requests), "salesforce_record_writes": after[1] - before[1],
            "exchange_requests": sum(ex_requests.values()), "exchange_by_operation": dict(ex_requests),
            "exchange_write_calls": after[3] - before[3]}  # fmt: skip


if __name__ == "__main__":
    main()
