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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.converged import converged_mailbox  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--changes", type=int, default=60)
    args = parser.parse_args()

    from sync import policy_store
    from sync.policies import Direction, Policy
    from sync.preview import dry_run

    with converged_mailbox(args.items) as mailbox:
        runtime, email = mailbox.runtime, mailbox.email
        outlook, sf = mailbox.world.outlook(), mailbox.world.salesforce()
        half = args.changes // 2
        for item_id in mailbox.outlook_items[:half]:
            outlook.edit(item_id, location="Edited in Outlook")
        for event_id in mailbox.salesforce_events[:half]:
            sf.update("Event", event_id, Location="Edited in Salesforce")
        with runtime.session_factory() as db:
            policy_store.save(db, Policy(kind="event", direction=Direction.DOWNSYNC_ONLY))
            db.commit()

        figures = {}
        planned, figures["dry_run"] = mailbox.measured(
            lambda: dry_run(runtime.session_factory, email, **mailbox.connectors())
        )
        result, figures["session"] = mailbox.measured(mailbox.session)
        same = all(planned.counts[k] == getattr(result, k) for k in ("created", "updated", "deleted", "reverted"))
        report = {"items_per_side": args.items, "changes": args.changes, **figures,
                  "dry_run_counts": planned.counts, "session_counts": result.to_json(),
                  "session_did_what_the_dry_run_said": same}  # fmt: skip
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "preview.json").write_text(json.dumps(report, indent=2, default=str))
        print(json.dumps({k: report[k] for k in ("dry_run", "session", "session_did_what_the_dry_run_said")},
                         indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
