"""What a preview (``calsync sync --dry-run``, the panel's Preview) costs next to the session it predicts (issue 19).

    .venv/bin/python bench/preview.py [--items 300] [--changes 60]

One mailbox on the sandboxes (seed "empty"): ``--items`` tagged Outlook items and ``--items`` Salesforce Events,
synced until quiet; then ``--changes`` edits (half on each side) and a switch of the event policy to
``downsync_only``. Measured: the dry run (`sync.preview.dry_run`) and then the real session, each with its wall
time and its requests per service as the sandboxes count them (Salesforce ``/__sandbox__/stats``, EWS
``/__sandbox__/log``), Salesforce record writes and EWS write calls (a dry run must have none), and whether the
session did what the dry run said. Results go to ``bench/results/preview.json``. Run by hand, never in tests.
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
    parser.add_argument("--changes", type=int, default=60)
    args = parser.parse_args()
    for name in ("exchangelib", "sandbox.exchange", "werkzeug"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from calsync.settings import Settings
    from sandbox.runner import SandboxOptions, start_sandboxes
    from sync import mailboxes, policy_store
    from sync.policies import Direction, Policy
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
            own = [outlook.create(f"Outlook {n}", at(1 + n % 40, 8 + n % 9), at(1 + n % 40, 8 + n % 9, 30))
                   for n in range(args.items)]  # fmt: skip
            events = [sf.create_event(Subject=f"Salesforce {n}", StartDateTime=at(1 + n % 40, 9),
                                      EndDateTime=at(1 + n % 40, 9, 45)) for n in range(args.items)]  # fmt: skip

            def session():
                return run_session(runtime.session_factory, email, salesforce=runtime.salesforce(),
                                   exchange=runtime.exchange(email))  # fmt: skip

            for _ in range(4):
                if session().writes == 0:
                    break
            half = args.changes // 2
            for item_id in own[:half]:
                outlook.edit(item_id, location="Edited in Outlook")
            for event_id in events[:half]:
                sf.update("Event", event_id, Location="Edited in Salesforce")
            with runtime.session_factory() as db:
                policy_store.save(db, Policy(kind="event", direction=Direction.DOWNSYNC_ONLY))
                db.commit()

            def counters():
                stats = world.salesforce_stats()
                log = world.exchange_log()
                return Counter(stats["requests"]), stats["writes"], Counter(log["requests"]), len(log["calls"])

            figures = {}
            before = counters()
            started = time.perf_counter()
            planned = dry_run(runtime.session_factory, email, salesforce=runtime.salesforce(),
                              exchange=runtime.exchange(email))  # fmt: skip
            figures["dry_run"] = _figures(time.perf_counter() - started, before, counters())
            before = counters()
            started = time.perf_counter()
            result = session()
            figures["session"] = _figures(time.perf_counter() - started, before, counters())
            same = all(planned.counts[k] == getattr(result, k) for k in ("created", "updated", "deleted", "reverted"))
            report = {"items_per_side": args.items, "changes": args.changes, **figures,
                      "dry_run_counts": planned.counts, "session_counts": result.to_json(),
                      "session_did_what_the_dry_run_said": same}  # fmt: skip
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "preview.json").write_text(json.dumps(report, indent=2, default=str))
            print(json.dumps({k: report[k] for k in ("dry_run", "session", "session_did_what_the_dry_run_said")},
                             indent=2))  # fmt: skip
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
