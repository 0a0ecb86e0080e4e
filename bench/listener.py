"""Benchmark of `calsync listener` (sync.push.listener on EWS) against the EWS sandbox over HTTP through exchangelib.

    .venv/bin/python bench/listener.py --redis redis://127.0.0.1:6379/8 [--mailboxes 200] [--writes 100]

The Redis database given is flushed first (use one nothing else uses). Starts the sandboxes in this process, adds
``--mailboxes`` EWS mailboxes (sandbox and calsync database), and reports:

- the first pass: subscriptions made, seconds, EWS calls, streaming connections (200 subscriptions each);
- edit-to-request latency: from an item write (CreateItem through exchangelib, impersonating the mailbox) to the
  mailbox's `request_sync` in Redis, p50 / p95 over ``--writes`` writes spread over the mailboxes;
- EWS calls per hour at the defaults (25-minute connections), measured over one sandbox hour with sandbox
  minutes shortened (``--minute-seconds``), per listener and per mailbox.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone  # noqa: E402
from redis import Redis  # noqa: E402

from calsync.settings import Settings  # noqa: E402
from sandbox.runner import SandboxOptions, start_sandboxes  # noqa: E402
from sync import mailboxes  # noqa: E402
from sync.push.ews_streaming import CALLS, EwsBackend  # noqa: E402
from sync.push.listener import Listener, ListenerConfig  # noqa: E402
from sync.push.requests import PENDING_KEY, take_request  # noqa: E402
from sync.runtime import Runtime  # noqa: E402

UTC = EWSTimeZone("UTC")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", required=True, help="a Redis database URL this benchmark may flush")
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--minute-seconds", type=float, default=0.2)
    args = parser.parse_args()
    for name in ("exchangelib", "sandbox", "calsync"):
        logging.getLogger(name).setLevel(logging.ERROR)
    redis = Redis.from_url(args.redis)
    redis.flushdb()
    work = Path(tempfile.mkdtemp(prefix="bench-listener-"))
    running = start_sandboxes(SandboxOptions(state_dir=work / "sandboxes", seed="empty"))
    try:
        run(args, redis, running, work)
    finally:
        running.stop()
        redis.flushdb()


def run(args, redis: Redis, running, work: Path) -> None:
    running.write_info(work / "sandbox.json")
    env = {"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(work / "sandbox.json"),
           "DATABASE_URL": f"sqlite:///{work / 'calsync.db'}", "REDIS_URL": args.redis}  # fmt: skip
    settings = Settings.from_env(env)
    runtime = Runtime.build(settings, migrate=True)
    store = running.exchange.store
    emails = [f"bench{i:04d}@calsync.example" for i in range(args.mailboxes)]
    with store.lock:
        for email in emails:
            store.add_mailbox(email, "bench-password", email.split("@")[0], "UTC")
    with runtime.session_factory() as db:
        ids = {mailboxes.add(db, email, f"005{i:015d}").email: None for i, email in enumerate(emails)}
        db.commit()
        ids = {email: mailboxes.find(db, email).id for email in ids}

    config = ListenerConfig(interval=1.0, connection_minutes=25, lease_ttl=60, heartbeat_ttl=180,
                            subscribe_batch=args.mailboxes)  # fmt: skip
    listener = Listener(redis, runtime.session_factory, EwsBackend(runtime.exchange), config, name="bench")
    began = time.perf_counter()
    status = listener.tick()
    first_pass = time.perf_counter() - began
    calls = CALLS.snapshot()
    print(f"first pass: {status['streaming']} streaming subscriptions in {first_pass:.1f} s, "
          f"{sum(calls.values())} EWS calls ({calls}), {len(listener.streams)} connection(s)")  # fmt: skip
    for mailbox_id in ids.values():
        take_request(redis, mailbox_id, started=time.time() + 1)

    stop = threading.Event()
    loop = threading.Thread(target=listener.run, kwargs={"stop": stop}, daemon=True)
    loop.start()
    try:
        time.sleep(1.0)  # the connections open
        writers = {email: runtime.exchange(email) for email in random.sample(emails, min(20, len(emails)))}
        latencies = []
        for n in range(args.writes):
            email = random.choice(list(writers))
            connector, mailbox_id = writers[email], ids[email]
            start = EWSDateTime(2026, 11, 2, 9, tzinfo=UTC) + dt.timedelta(hours=n)
            item = CalendarItem(account=connector.account, folder=connector.calendar, subject=f"bench {n}",
                                start=start, end=start + dt.timedelta(minutes=30))  # fmt: skip
            item.save(send_meeting_invitations="SendToNone")
            written = time.perf_counter()
            while redis.zscore(PENDING_KEY, str(mailbox_id)) is None:
                if time.perf_counter() - written > 30:
                    raise SystemExit(f"no request within 30 s for write {n}")
                time.sleep(0.002)
            latencies.append((time.perf_counter() - written) * 1000)
            take_request(redis, mailbox_id, started=time.time() + 1)
        print(f"edit -> request_sync: p50 {statistics.median(latencies):.0f} ms, p95 {pct(latencies, 0.95):.0f} ms "
              f"({len(latencies)} writes over {len(writers)} mailboxes)")  # fmt: skip

        # One sandbox hour at the default 25-minute connections.
        running.exchange.notifications.minute_seconds = args.minute_seconds
        before = CALLS.snapshot()
        time.sleep(60 * args.minute_seconds)
        after = CALLS.snapshot()
        hour = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}
        total = sum(hour.values())
        print(f"EWS calls per hour, {len(ids)} mailboxes, no changes: {total} ({hour}); "
              f"{total / len(ids):.3f} per mailbox")  # fmt: skip
    finally:
        stop.set()
        loop.join(30)
        runtime.close()


if __name__ == "__main__":
    main()
