"""Requests per sync session with the Microsoft Graph connector, against the floor (issue 16, "Measure").

    .venv/bin/python bench/graph_connector.py [--items 100] [--changes 1,20,45,100]

One process: the sandboxes (seed "empty"), a SQLite database, real sessions (``sync.session.run_session``) with
the Salesforce connector ``sync.runtime`` builds and a `GraphCalendar` per session (tokens through msal from
the identity sandbox). Scenarios: an initial sync of ``--items`` tagged Outlook items and ``--items``
Salesforce Events; two quiet sessions; then for each N of ``--changes`` one session after N subject edits in
Outlook (Exchange → Salesforce) and one after N edits in Salesforce (Salesforce → Exchange), each followed by a
quiet session. Graph requests are counted by the connector (``usage.calls``, a ``$batch`` is one) and by the
sandbox (``/__sandbox__/log``: HTTP requests per operation and the items inside ``$batch``). The floor: a
quiet session costs 1 delta request; N changes cost ⌈N/20⌉ batches per direction (plus the delta page).
Results go to ``bench/results/graph_connector.json``. Figures for the engine's CPU per item and the 2,000 +
2,000 initial sync on both protocols are ``bench/sync_engine.py``'s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--changes", default="1,20,45,100")
    args = parser.parse_args()
    changes = [int(n) for n in args.changes.split(",") if n]
    for name in ("exchangelib", "urllib3", "werkzeug", "sandbox"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    from calsync.settings import Settings
    from sandbox.runner import SandboxOptions, start_sandboxes
    from sync import mailboxes
    from sync.runtime import Runtime
    from sync.session import run_session
    from tests.e2e.actors import World, at
    from tests.e2e.graph_support import GraphAdmin, make_calendar

    state = Path(tempfile.mkdtemp(prefix="bench-graph-"))
    running = start_sandboxes(SandboxOptions(state_dir=state / "sandboxes", seed="empty"))
    info_file = state / "info.json"
    running.write_info(info_file)
    world = World(running)
    world.reset()
    admin = GraphAdmin(running.info["graph"])
    admin.reset()
    settings = Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(info_file),
                                  "DATABASE_URL": f"sqlite:///{state / 'bench.db'}"})  # fmt: skip
    runtime = Runtime.build(settings, migrate=True)
    email = world.rep.email
    with runtime.session_factory() as db:
        mailbox = mailboxes.add(db, email, world.rep.salesforce_user_id)
        mailbox.time_zone = world.rep.timezone
        db.commit()
    outlook, sf = world.outlook(), world.salesforce()
    rows: list[dict] = []

    def session(label: str, floor: int | None = None) -> dict:
        admin.call("POST", "reset")
        exchange = make_calendar(running.info["graph"], email)
        result = run_session(runtime.session_factory, email, salesforce=runtime.salesforce(settings), exchange=exchange)
        exchange.close()
        log = admin.call("GET", "log")
        ops = Counter(log["requests"])
        batch_items = sum(1 for c in log["calls"] if c["batch_id"])
        row = {"scenario": label, "status": result.status, "writes": result.writes,
               "graph_calls": result.api_calls["exchange"], "salesforce_calls": result.api_calls["salesforce"],
               "delta": ops.get("calendarView.delta", 0), "batches": ops.get("$batch", 0),
               "batch_items": batch_items, "floor": floor}  # fmt: skip
        rows.append(row)
        print(json.dumps(row))
        return row

    items = args.items
    item_ids = [outlook.create(f"Outlook {n}", at(1 + n % 40, 9 + n % 8), at(1 + n % 40, 10 + n % 8))
                for n in range(items)]  # fmt: skip
    for n in range(items):
        sf.create_event(Subject=f"Salesforce {n}", StartDateTime=at(1 + n % 40, 8), EndDateTime=at(1 + n % 40, 9))
    session(f"initial {items}+{items}", floor=1 + math.ceil(items / 20) * 2)
    session("settle")
    session("quiet", floor=1)
    session("quiet", floor=1)
    events = [e["Id"] for e in sf.events() if e["Subject"].startswith("Salesforce ")]
    for n in changes:
        for item_id in item_ids[:n]:
            outlook.edit(item_id, subject=f"Outlook edited {n} {item_id[-6:]}")
        session(f"{n} Outlook edits", floor=1 + math.ceil(n / 20))
        session("settle")
        for event_id in events[:n]:
            sf.update("Event", event_id, Subject=f"Salesforce edited {n} {event_id[-6:]}")
        session(f"{n} Salesforce edits", floor=1 + math.ceil(n / 20))
        session("quiet", floor=1)
        session("quiet", floor=1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "graph_connector.json").write_text(json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(),
                                                              "sessions": rows}, indent=2))  # fmt: skip
    print()
    print(f"{'scenario':28} {'graph calls':>11} {'floor':>5} {'delta':>5} {'$batch':>6} {'items':>5} {'writes':>6}")
    for r in rows:
        floor = "" if r["floor"] is None else r["floor"]
        print(f"{r['scenario']:28} {r['graph_calls']:>11} {floor!s:>5} {r['delta']:>5} {r['batches']:>6} "
              f"{r['batch_items']:>5} {r['writes']:>6}")  # fmt: skip
    world.close()
    admin.close()
    running.stop()


if __name__ == "__main__":
    main()
