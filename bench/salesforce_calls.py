"""Salesforce API calls: 30-minute polling against push + the org-wide scan, same workload, same run (issue 18).

    .venv/bin/python bench/salesforce_calls.py [--mailboxes 200] [--hours 2] [--changes-per-day 20]
        [--outlook-share 0.5] [--items 5] [--redis-url redis://127.0.0.1:6379/3] [--seed 1]

Two groups of ``--mailboxes`` reps each, on one set of sandboxes (started in this process, seed "empty"), with
a database each (SQLite) and a Redis database each (``--redis-url`` and the next number):

- **polling**: every mailbox has a session every 30 minutes (staggered), with the session's own Salesforce
  queries, as before push;
- **push**: `calsync salesforce-scan`'s `SalesforceScanner` passes once a minute; an Outlook change requests its
  mailbox's session at once (what the EWS / Graph notification does, `request_sync(source="ews")`); the scan
  requests the mailboxes whose Salesforce rows changed; each mailbox also has its 6-hour safety-net session
  (staggered); sessions run on the worker's connector (`ScannedSalesforce`: the scan's rows, no query).

``--hours`` of a day are simulated, one step a scan interval (60 s), compressed (a step takes what its sessions
take, not a minute): each rep makes ``--changes-per-day`` × hours / 24 changes at random steps (seeded), an
``--outlook-share`` of them subject edits in Outlook (the Exchange store, in process), the rest subject edits of
the rep's Salesforce Events (the sandbox store, as the rep). Rep *i* of both groups makes the same changes at the
same steps. Each mailbox starts with ``--items`` Outlook appointments and ``--items`` Salesforce Events, synced
before the measurement; the Salesforce clock then moves 10 minutes on so that no set-up row is in any overlap.

The window is followed by 30 drain steps without changes, where only the sessions' writes count: the
changes of the window's last half hour reach the other side there (polling writes them at its next session).

Counted: Salesforce API requests by each connector (``usage.calls``, per resource; a session's ``composite``
is sObject Collections writes) and by the sandbox (``requests`` per endpoint, drain steps included: its
``composite`` is the scan's Composite requests). Per day = counted × 24 / hours; per 1,000 and 10,000 reps:
session calls scale with the reps, scan calls are passes per day × Composite requests per pass for that many
reps (⌈objects × ⌈reps / owner chunk⌉ / 5⌉, rows per pass far below a page). Results go to
``bench/results/salesforce_calls.json``. The defaults take about 40 minutes on a loaded 2-core machine
(set-up 15, measurement 25); ``--mailboxes 20 --hours 1`` about 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.push_bench import per_pass_calls, quiet_logs, rep_email, rep_user, seed  # noqa: E402

RESULTS = ROOT / "bench" / "results"
POLL_MINUTES, SAFETY_MINUTES, SCAN_SECONDS = 30, 360, 60
DRAIN_STEPS = POLL_MINUTES
WRITES = {"collection_create", "collection_update", "collection_delete", "collection_upsert"}


def edit_outlook(running: Any, email: str, item_id: str, subject: str) -> None:
    from sandbox.exchange.xml import el, t

    ex = running.exchange
    with ex.store.lock:
        mb = ex.store.mailbox(email)
        item = mb.items[item_id]
        item.fields["Subject"] = el(t("Subject"), subject)
        ex.store.touch(item)


def edit_salesforce(running: Any, user_id: str, event_id: str, subject: str) -> None:
    from sandbox.salesforce.schema import OBJECTS

    sf = running.salesforce
    with sf.lock:
        sf.store.update(OBJECTS["Event"], event_id, {"Subject": subject}, user_id)


class Group:
    """One group's database, Redis, runtime and call counters."""

    def __init__(self, name: str, work: Path, info_file: Path, redis_url: str, n: int) -> None:
        from redis import Redis

        from calsync.settings import Settings
        from sync import mailboxes
        from sync.runtime import Runtime

        self.name, self.n = name, n
        self.settings = Settings.from_env({
            "CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(info_file),
            "DATABASE_URL": f"sqlite:///{work / (name + '.db')}", "REDIS_URL": redis_url,
            "SALESFORCE_AUTH": "client_credentials",
        })  # fmt: skip
        Redis.from_url(redis_url).flushdb()
        self.runtime = Runtime.build(self.settings, migrate=True)
        self.redis = self.runtime.redis
        self.ids: list[int] = []
        with self.runtime.session_factory() as db:
            for i in range(n):
                mailbox = mailboxes.add(db, rep_email(name, i), rep_user(name, i))
                db.flush()
                self.ids.append(mailbox.id)
            db.commit()
        self.emails = {mid: rep_email(name, i) for i, mid in enumerate(self.ids)}
        self.calls: Counter[str] = Counter()  # Salesforce requests per resource, sessions only
        self.sessions = 0
        self.session_calls = 0
        self.drain_writes = 0  # writes of changes made in the window, applied just after it

    def session(self, mailbox_id: int, *, scanned: bool, count: bool | str = True) -> Any:
        """``count``: True counts every Salesforce call of the session, ``"writes"`` only its writes (sObject
        Collections, the ``composite`` resource), False nothing."""
        from sync.push.salesforce_rows import ScannedSalesforce
        from sync.session import run_session

        email = self.emails[mailbox_id]
        salesforce = self.runtime.salesforce(self.settings)
        if scanned:
            salesforce = ScannedSalesforce(salesforce, self.redis, mailbox_id,
                                           healthy_seconds=self.settings.salesforce_scan_healthy_seconds)  # fmt: skip
        exchange = self.runtime.exchange(email, self.settings)
        try:
            result = run_session(self.runtime.session_factory, email, salesforce=salesforce, exchange=exchange)
        finally:
            exchange.close()
        if result.status == "failed":
            raise RuntimeError(f"session of {email} failed: {result.error}")
        if count == "writes":
            writes = salesforce.usage.by_resource.get("composite", 0)
            self.drain_writes += writes
            self.session_calls += writes
            self.calls.update({"composite": writes})
        elif count:
            self.sessions += 1
            self.session_calls += salesforce.usage.calls
            self.calls.update(salesforce.usage.by_resource)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--changes-per-day", type=float, default=20.0)
    parser.add_argument("--outlook-share", type=float, default=0.5)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    quiet_logs()
    from sandbox.runner import SandboxOptions, start_sandboxes
    from sync.push.requests import pending_requests, take_request
    from sync.push.salesforce_scan import SalesforceScanner, scan_config

    n, steps = args.mailboxes, int(args.hours * 60)
    base_url, _, db_number = args.redis_url.rpartition("/")
    work = Path(tempfile.mkdtemp(prefix="bench-sf-calls-"))
    started = time.monotonic()
    running = start_sandboxes(SandboxOptions(state_dir=work / "sandboxes", seed="empty",
                                             salesforce_daily_budget=10**9))  # fmt: skip
    try:
        items = seed(running, ["poll", "push"], n, args.items)
        info_file = work / "sandbox.json"
        running.write_info(info_file)
        poll = Group("poll", work, info_file, args.redis_url, n)
        push = Group("push", work, info_file, f"{base_url}/{int(db_number) + 1}", n)
        for group in (poll, push):  # initial sync (not counted), then a quiet session each
            for mailbox_id in group.ids:
                group.session(mailbox_id, scanned=False, count=False)
        running.salesforce.clock_offset += dt.timedelta(minutes=10)  # no set-up row in any overlap
        scanner = SalesforceScanner(push.redis, push.runtime.session_factory,
                                    lambda: push.runtime.salesforce(push.settings),
                                    scan_config(push.settings))  # fmt: skip
        for group in (poll, push):
            for mailbox_id in group.ids:
                group.session(mailbox_id, scanned=False, count=False)
        first = scanner.scan()  # covers every mailbox (not counted)
        for mailbox_id in first.requested:
            take_request(push.redis, mailbox_id)
            push.session(mailbox_id, scanned=True, count=False)
        setup_s = time.monotonic() - started

        rng = random.Random(args.seed)
        per_rep = args.changes_per_day * args.hours / 24
        changes: dict[int, list[tuple[int, str]]] = {}
        total_changes = 0
        for i in range(n):
            count = int(per_rep) + (1 if rng.random() < per_rep - int(per_rep) else 0)
            for _ in range(count):
                side = "outlook" if rng.random() < args.outlook_share else "salesforce"
                changes.setdefault(rng.randrange(steps), []).append((i, side))
                total_changes += 1
        with running.salesforce.lock:
            running.salesforce.requests.clear()
        scan_passes = scan_calls = 0
        scan_queries = 0
        measured = time.monotonic()
        # The window, then DRAIN more steps without changes: the changes of the window's last half hour reach the
        # other side there too (polling would write them at its next session), of which only the writes count.
        for step in range(steps + DRAIN_STEPS):
            drain = step >= steps
            for i, side in changes.get(step, []):
                for group in (poll, push):
                    key = (group.name, i)
                    subject = f"edit {step} {side}"
                    if side == "outlook":
                        edit_outlook(running, rep_email(group.name, i), rng.choice(items[key]["outlook"]), subject)
                        if group is push:  # the EWS / Graph notification
                            from sync.push import request_sync

                            request_sync(push.redis, push.ids[i], source="ews")
                    else:
                        edit_salesforce(running, rep_user(group.name, i), rng.choice(items[key]["salesforce"]),
                                        subject)  # fmt: skip
            # polling: each mailbox every 30 minutes, staggered
            for i, mailbox_id in enumerate(poll.ids):
                if (step - i * POLL_MINUTES // n) % POLL_MINUTES == 0:
                    poll.session(mailbox_id, scanned=False, count="writes" if drain else True)
            # push: the scan pass, the 6-hour safety net (staggered), then every requested session
            report = scanner.scan()
            if not drain:
                scan_passes += 1
                scan_calls += report.calls
                scan_queries += report.queries
            for i, mailbox_id in enumerate(push.ids):
                if not drain and (step - i * SAFETY_MINUTES // n) % SAFETY_MINUTES == 0:
                    from sync.push import request_sync

                    request_sync(push.redis, mailbox_id, source="ews")
            for mailbox_id in sorted(pending_requests(push.redis)):
                take_request(push.redis, mailbox_id)
                push.session(mailbox_id, scanned=True, count="writes" if drain else True)
        measured_s = time.monotonic() - measured
        with running.salesforce.lock:
            sandbox_counted = dict(running.salesforce.requests)
    finally:
        running.stop()

    day = 24 / args.hours
    objects = 2  # Event two-way, Task down (the default policies)
    chunk = push.settings.salesforce_scan_owner_chunk
    passes_per_day = 24 * 3600 / SCAN_SECONDS
    poll_rep_day = poll.session_calls / n * day
    push_sessions_rep_day = push.session_calls / n * day

    def push_day(reps: int) -> float:
        return push_sessions_rep_day * reps + passes_per_day * per_pass_calls(reps, objects, chunk)

    result = {
        "mailboxes": n, "hours": args.hours, "changes_per_rep_day": args.changes_per_day,
        "outlook_share": args.outlook_share, "changes": total_changes, "setup_s": round(setup_s, 1),
        "measured_s": round(measured_s, 1),
        "polling": {"sessions": poll.sessions, "salesforce_calls": poll.session_calls, "by_resource": dict(poll.calls),
                    "drain_writes": poll.drain_writes, "calls_per_rep_day": round(poll_rep_day, 2)},
        "push": {"sessions": push.sessions, "session_calls": push.session_calls, "by_resource": dict(push.calls),
                 "drain_writes": push.drain_writes,
                 "scan_passes": scan_passes, "scan_queries": scan_queries, "scan_calls": scan_calls,
                 "session_calls_per_rep_day": round(push_sessions_rep_day, 2),
                 "calls_per_rep_day_measured": round((push.session_calls + scan_calls) / n * day, 2)},
        # Everything, drain steps included (their queries and scans are not in the figures above).
        "sandbox_requests": sandbox_counted,
        "per_day": {
            str(reps): {"polling": round(poll_rep_day * reps), "push_scan": round(push_day(reps)),
                        "ratio": round(push_day(reps) / (poll_rep_day * reps), 4)}
            for reps in (n, 1000, 10000)
        },
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "salesforce_calls.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"\n{'reps':>6} {'polling/day':>12} {'push+scan/day':>14} {'ratio':>7}")
    for reps, row in result["per_day"].items():
        print(f"{reps:>6} {row['polling']:>12} {row['push_scan']:>14} {row['ratio']:>7.1%}")


if __name__ == "__main__":
    main()
