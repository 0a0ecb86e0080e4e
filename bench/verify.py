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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.converged import converged_mailbox  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--drift", type=int, default=10)
    args = parser.parse_args()

    from sync import verify_read
    from sync.preview import dry_run

    with converged_mailbox(args.items) as mailbox:
        runtime, email = mailbox.runtime, mailbox.email

        def verify():
            return verify_read.verify(runtime.session_factory, email,
                                      lambda e: (runtime.salesforce(), runtime.exchange(e)))  # fmt: skip

        figures = {}
        _, figures["quiet_session"] = mailbox.measured(mailbox.session)
        _, figures["dry_run"] = mailbox.measured(
            lambda: dry_run(runtime.session_factory, email, **mailbox.connectors())
        )
        clean, figures["verify_clean"] = mailbox.measured(verify)
        sf = mailbox.world.salesforce()
        for event_id in mailbox.salesforce_events[: args.drift]:
            sf.update("Event", event_id, Location="Edited in Salesforce")
        drifted, figures["verify_drift"] = mailbox.measured(verify)
        report = {"items_per_side": args.items, "drift": args.drift, **figures,
                  "clean_findings": len(clean.findings), "drift_findings": drifted.summary(),
                  "links": clean.counts["links"]}  # fmt: skip
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "verify.json").write_text(json.dumps(report, indent=2, default=str))
        print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
