"""Salesforce API calls: 30-minute polling against push + the org-wide scan, same workload, same run (issue 18).

    .venv/bin/python bench/salesforce_calls.py [--mailboxes 200] [--hours 2] [--changes-per-day 20]
        [--outlook-share 0.5] [--items 5] [--redis-url redis://127.0.0.1:6379/3] [--seed 1]
        [--arrival-reps 1000 [--active-hours 8] [--batch-seconds 15]]

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

**Arrival rate** (batched writes, docs/push.md): ``--arrival-reps R [--active-hours 8] [--batch-seconds 15]``.
How many Outlook changes share a write depends on how many arrive per batching window, that is on the org's
size, so a compressed run of a few reps says nothing about it. Here the push group's ``--mailboxes`` reps make
the changes of ``R`` reps (``--changes-per-day`` × R / mailboxes each; within ``--active-hours`` of the day:
that much faster), each at a random second of its step, on a simulated clock: the scheduler's push pass every
2 s, deciding with the scheduler's own rule (`sync.schedule.batch_groups`, the coalescing window and
CALSYNC_PUSH_BATCH_SECONDS), and the due mailboxes' real sessions run through `sync.push.batching.run_group`
(threads, one `SharedWriter`, real HTTP to the sandbox) as the group job does. The polling group's reps make
the realistic ``--changes-per-day`` each (polling's cost is each mailbox's own sessions). Per day at R reps:
polling = R × (reads per rep per day + writes per change × changes per rep per day); push = calls per change
as measured at this arrival rate × R × changes per rep per day + the scan. Outlook → Salesforce latency: from
the edit's simulated second to the end of its session's group (the sessions' own time added), in the JSON as
``outlook_to_salesforce_s``. Results go to ``bench/results/salesforce_calls_<R>_<hours>h_<window>s.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.push_bench import per_pass_calls, percentiles, quiet_logs, rep_email, rep_user, seed  # noqa: E402

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
        self.lock = threading.Lock()  # group sessions count from their threads
        self.sessions = 0
        self.session_calls = 0
        self.drain_writes = 0  # writes of changes made in the window, applied just after it

    def session(self, mailbox_id: int, *, scanned: bool, count: bool | str = True, writer: Any = None) -> Any:
        """``count``: True counts every Salesforce call of the session, ``"writes"`` only its writes (sObject
        Collections, the ``composite`` resource), False nothing. ``writer``: a `SharedWriter` of a group (its
        merged calls are counted on the session whose connector made them, once)."""
        from sync.push.salesforce_rows import ScannedSalesforce
        from sync.session import run_session

        email = self.emails[mailbox_id]
        salesforce = self.runtime.salesforce(self.settings)
        if scanned:
            salesforce = ScannedSalesforce(salesforce, self.redis, mailbox_id,
                                           healthy_seconds=self.settings.salesforce_scan_healthy_seconds)  # fmt: skip
        counted = salesforce
        if writer is not None:
            salesforce = writer.client(salesforce)
        exchange = self.runtime.exchange(email, self.settings)
        try:
            result = run_session(self.runtime.session_factory, email, salesforce=salesforce, exchange=exchange)
        finally:
            exchange.close()
        if result.status == "failed":
            raise RuntimeError(f"session of {email} failed: {result.error}")
        usage = counted.usage
        with self.lock:
            if count == "writes":
                writes = usage.by_resource.get("composite", 0)
                self.drain_writes += writes
                self.session_calls += writes
                self.calls.update({"composite": writes})
            elif count:
                self.sessions += 1
                self.session_calls += usage.calls
                self.calls.update(usage.by_resource)
        return result


@contextmanager
def _two_groups(args: argparse.Namespace, n: int) -> Iterator[tuple[Any, Any, Group, Group]]:
    """The sandboxes with ``n`` reps in each group seeded, and the polling and push groups on their own Redis
    databases; the sandboxes stop on the way out."""
    from sandbox.runner import SandboxOptions, start_sandboxes

    base_url, _, db_number = args.redis_url.rpartition("/")
    work = Path(tempfile.mkdtemp(prefix="bench-sf-calls-"))
    running = start_sandboxes(SandboxOptions(state_dir=work / "sandboxes", seed="empty",
                                             salesforce_daily_budget=10**9))  # fmt: skip
    try:
        items = seed(running, ["poll", "push"], n, args.items)
        info_file = work / "sandbox.json"
        running.write_info(info_file)
        yield (running, items, Group("poll", work, info_file, args.redis_url, n),
               Group("push", work, info_file, f"{base_url}/{int(db_number) + 1}", n))  # fmt: skip
    finally:
        running.stop()


def _warm_up(running: Any, poll: Group, push: Group) -> Any:
    """Both groups synced (not counted), the clock moved past the set-up rows, a quiet session each, and a first
    scan that covers every push mailbox; returns the push group's scanner."""
    from sync.push.requests import take_request
    from sync.push.salesforce_scan import SalesforceScanner, scan_config

    for group in (poll, push):
        for mailbox_id in group.ids:
            group.session(mailbox_id, scanned=False, count=False)
    running.salesforce.clock_offset += dt.timedelta(minutes=10)  # no set-up row in any overlap
    scanner = SalesforceScanner(push.redis, push.runtime.session_factory,
                                lambda: push.runtime.salesforce(push.settings), scan_config(push.settings))  # fmt: skip
    for group in (poll, push):
        for mailbox_id in group.ids:
            group.session(mailbox_id, scanned=False, count=False)
    for mailbox_id in scanner.scan().requested:
        take_request(push.redis, mailbox_id)
        push.session(mailbox_id, scanned=True, count=False)
    return scanner


def _arrivals(rng: random.Random, n: int, steps: int, per_mailbox: float, outlook_share: float,
              step_seconds: int) -> dict[int, list[tuple[int, str, float]]]:  # fmt: skip
    """step → [(rep, side, offset seconds in the step)]: ``per_mailbox`` changes per rep over the window."""
    out: dict[int, list[tuple[int, str, float]]] = {}
    for i in range(n):
        count = int(per_mailbox) + (1 if rng.random() < per_mailbox - int(per_mailbox) else 0)
        for _ in range(count):
            side = "outlook" if rng.random() < outlook_share else "salesforce"
            out.setdefault(rng.randrange(steps), []).append((i, side, rng.uniform(0, step_seconds)))
    for edits in out.values():
        edits.sort(key=lambda e: e[2])
    return out


def main_arrival(args: argparse.Namespace) -> None:
    """``--arrival-reps R``: the push group's changes arrive at the rate of R reps (see the module docstring,
    "Arrival rate"); the window's simulated clock runs the scheduler's push pass every 2 s."""
    from sync.push import PushConfig
    from sync.push.batching import run_group
    from sync.push.requests import pending_requests, take_request
    from sync.schedule import batch_groups

    quiet_logs()
    n, steps = args.mailboxes, int(args.hours * 60)
    day = 24 / args.hours  # windows per day at this rate: per-day figures are per edit, below
    busy = 24 / args.active_hours  # the day's changes within the active hours: this much faster meanwhile
    started = time.monotonic()
    with _two_groups(args, n) as (running, items, poll, push):
        config = PushConfig(coalesce_seconds=push.settings.push_coalesce_seconds, batch_seconds=args.batch_seconds,
                            batch_mailboxes=push.settings.push_batch_mailboxes)  # fmt: skip
        scanner = _warm_up(running, poll, push)
        setup_s = time.monotonic() - started

        rng = random.Random(args.seed)
        # Polling: each rep at the realistic rate (its cost is its own sessions'); push: all reps together at the
        # rate of --arrival-reps reps (what batching depends on).
        poll_edits = _arrivals(rng, n, steps, args.changes_per_day * args.hours / 24 * busy, args.outlook_share,
                               SCAN_SECONDS)  # fmt: skip
        push_edits = _arrivals(rng, n, steps, args.changes_per_day * args.arrival_reps / n * args.hours / 24 * busy,
                               args.outlook_share, SCAN_SECONDS)  # fmt: skip
        counts = {name: Counter(side for edits in table.values() for _i, side, _o in edits)
                  for name, table in (("poll", poll_edits), ("push", push_edits))}  # fmt: skip
        with running.salesforce.lock:
            running.salesforce.requests.clear()
        scan_passes = scan_calls = 0
        held: dict[int, float] = {}  # mailbox → its first Outlook request not yet served (simulated seconds)
        waiting: dict[int, list[float]] = {}  # mailbox → its Outlook edits' times not yet served
        latencies: list[float] = []
        sizes: list[int] = []  # mailboxes per group run
        merged = 0  # merged write calls of the groups
        measured = time.monotonic()
        step = 0
        while step < steps + DRAIN_STEPS or held:
            drain, t0 = step >= steps, step * SCAN_SECONDS
            count: bool | str = "writes" if drain else True
            for i, side, _offset in poll_edits.get(step, []):
                key = ("poll", i)
                if side == "outlook":
                    edit_outlook(running, rep_email("poll", i), rng.choice(items[key]["outlook"]), f"edit {step}")
                else:
                    edit_salesforce(running, rep_user("poll", i), rng.choice(items[key]["salesforce"]), f"edit {step}")
            for i, mailbox_id in enumerate(poll.ids):
                if step < steps + DRAIN_STEPS and (step - i * POLL_MINUTES // n) % POLL_MINUTES == 0:
                    poll.session(mailbox_id, scanned=False, count=count)
            # push: Salesforce edits of the step before the scan pass; the pass's requests run at once, each alone
            for i, side, _offset in push_edits.get(step, []):
                if side == "salesforce":
                    edit_salesforce(running, rep_user("push", i), rng.choice(items[("push", i)]["salesforce"]),
                                    f"edit {step} salesforce")  # fmt: skip
            report = scanner.scan()
            if not drain:
                scan_passes += 1
                scan_calls += report.calls
            for mailbox_id in sorted(pending_requests(push.redis)):
                if mailbox_id in held:
                    continue  # it has an Outlook request too: it waits in the batching window (as in the pass)
                take_request(push.redis, mailbox_id)
                push.session(mailbox_id, scanned=True, count=count)
            outlook = [(i, offset) for i, side, offset in push_edits.get(step, []) if side == "outlook"]
            for tick in range(2, SCAN_SECONDS + 2, 2):  # the push pass every 2 s (the last one is the next step's 0)
                now = t0 + tick
                while outlook and outlook[0][1] <= tick:  # an Outlook edit and its notification
                    i, offset = outlook.pop(0)
                    edit_outlook(running, rep_email("push", i), rng.choice(items[("push", i)]["outlook"]),
                                 f"edit {step} outlook")  # fmt: skip
                    held.setdefault(push.ids[i], t0 + offset)
                    waiting.setdefault(push.ids[i], []).append(t0 + offset)
                ready = {m: first for m, first in held.items() if first <= now - config.coalesce_seconds}
                if config.batch_seconds > 0:
                    groups = batch_groups(ready, now, config) or []
                else:
                    groups = [[m] for m in sorted(ready)]
                for group in groups:
                    wall = time.monotonic()
                    for mailbox_id in group:
                        take_request(push.redis, mailbox_id)
                    if len(group) == 1:
                        push.session(group[0], scanned=True, count=count)
                    else:
                        outcomes, stats = run_group(
                            [lambda w, m=m, c=count: push.session(m, scanned=True, count=c, writer=w) for m in group],
                            wait_seconds=push.settings.push_batch_wait_seconds,
                        )
                        errors = [o for o in outcomes if isinstance(o, BaseException)]
                        if errors:
                            raise errors[0]
                        merged += stats.calls
                    elapsed = time.monotonic() - wall  # the sessions' own time, in the simulated clock too
                    sizes.append(len(group))
                    for mailbox_id in group:
                        held.pop(mailbox_id, None)
                        latencies.extend(now - at + elapsed for at in waiting.pop(mailbox_id, []))
            step += 1
        measured_s = time.monotonic() - measured
        with running.salesforce.lock:
            sandbox_counted = dict(running.salesforce.requests)

    objects, chunk = 2, push.settings.salesforce_scan_owner_chunk
    passes_per_day = 24 * 3600 / SCAN_SECONDS
    writes = sum(v for k, v in poll.calls.items() if k == "composite")
    poll_reads_rep_day = (poll.session_calls - writes) / n * day
    poll_per_edit = writes / max(1, sum(counts["poll"].values()))
    push_per_edit = push.session_calls / max(1, sum(counts["push"].values()))

    def poll_day(reps: int) -> float:
        return reps * (poll_reads_rep_day + poll_per_edit * args.changes_per_day)

    def push_day(reps: int) -> float:
        return push_per_edit * reps * args.changes_per_day + passes_per_day * per_pass_calls(reps, objects, chunk)

    reps = args.arrival_reps
    result = {
        "mode": "arrival", "mailboxes": n, "arrival_reps": reps, "hours": args.hours,
        "active_hours": args.active_hours, "batch_seconds": args.batch_seconds,
        "batch_mailboxes": config.batch_mailboxes,
        "changes_per_rep_day": args.changes_per_day, "outlook_share": args.outlook_share,
        "changes": {k: dict(v) for k, v in counts.items()}, "setup_s": round(setup_s, 1),
        "measured_s": round(measured_s, 1),
        "polling": {"sessions": poll.sessions, "salesforce_calls": poll.session_calls,
                    "by_resource": dict(poll.calls), "reads_per_rep_day": round(poll_reads_rep_day, 2),
                    "writes_per_change": round(poll_per_edit, 3)},
        "push": {"sessions": push.sessions, "session_calls": push.session_calls, "by_resource": dict(push.calls),
                 "drain_writes": push.drain_writes, "calls_per_change": round(push_per_edit, 3),
                 "calls_per_outlook_change": round(push.session_calls / max(1, counts["push"]["outlook"]), 3),
                 "group_runs": len(sizes), "mailboxes_per_run": round(sum(sizes) / max(1, len(sizes)), 2),
                 "largest_run": max(sizes, default=0), "merged_calls": merged,
                 "scan_passes": scan_passes, "scan_calls": scan_calls},
        "outlook_to_salesforce_s": percentiles(latencies),
        "sandbox_requests": sandbox_counted,
        "per_day": {
            str(reps): {"polling": round(poll_day(reps)), "push_scan": round(push_day(reps)),
                        "ratio": round(push_day(reps) / poll_day(reps), 4)},
        },
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"salesforce_calls_{reps}_{int(args.active_hours)}h_{args.batch_seconds:g}s.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--changes-per-day", type=float, default=20.0)
    parser.add_argument("--outlook-share", type=float, default=0.5)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--arrival-reps",
        type=int,
        default=0,
        help="push changes arrive at the rate of this many reps (batched writes; 0: the same "
        "changes as the polling group)",
    )
    parser.add_argument(
        "--active-hours",
        type=float,
        default=24.0,
        help="with --arrival-reps: a day's changes fall within this many hours (8: business hours)",
    )
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=15.0,
        help="with --arrival-reps: CALSYNC_PUSH_BATCH_SECONDS (0: each mailbox's session alone)",
    )
    args = parser.parse_args()
    if args.arrival_reps:
        main_arrival(args)
        return
    quiet_logs()
    from sync.push.requests import pending_requests, take_request

    n, steps = args.mailboxes, int(args.hours * 60)
    started = time.monotonic()
    with _two_groups(args, n) as (running, items, poll, push):
        scanner = _warm_up(running, poll, push)
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
