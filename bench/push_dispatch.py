"""Benchmark of the push core's dispatch: an Outlook edit plus its push request → the session → the Salesforce write.

    .venv/bin/python bench/push_dispatch.py [--edits 40] [--seconds 120] [--pass-seconds 2,30] [--database-url URL]

What it measures, for each ``--pass-seconds`` value (CALSYNC_PUSH_PASS_SECONDS: how often the leader scheduler
looks at push requests; 30 = only the existing 30-second passes):

1. the sandboxes start in this process (seed "empty"), a fresh database schema gets the four seed reps'
   mailboxes, each synced once (the initial session), and their next periodic session pushed 12 h away;
2. a real ``calsync scheduler`` (CALSYNC_SCHEDULER_INTERVAL 30, the default) and one ``calsync worker`` start;
3. ``--edits`` times, at random moments over ``--seconds``, a rep creates a meeting in Outlook (exchangelib,
   the rep's own login) and the push request a listener would make follows at once (``request_sync``, source
   ``ews``): no listener process here, so notification delivery itself (EWS streaming: under a second in
   the sandbox) is not in these figures;
4. figures: request → start of the session that served it (from the session rows), and edit → Salesforce
   write (the latency samples the session records, ``outlook_to_salesforce``, trigger ``push``): p50, p95,
   max; sessions run; requests per session.

Results go to ``bench/results/push_dispatch.json``. Redis is the server at ``--redis`` (db 8, flushed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
POSTGRES_URL = os.environ.get("CALSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
from bench.push_bench import CALSYNC, drop_schema, percentiles, schema_url  # noqa: E402


def run(pass_seconds: float, edits: int, seconds: float, database_url: str, redis_url: str, state: Path) -> dict:
    from redis import Redis
    from sqlalchemy import select, text

    from calsync.database import make_engine, make_session_factory, upgrade
    from sandbox.runner import SandboxOptions, start_sandboxes
    from sandbox.seed import REPS
    from sync import mailboxes
    from sync.job_queue import session_queue
    from sync.models import LatencySample, SyncSession
    from sync.push import request_sync
    from sync.schedule import ScheduleConfig, enqueue_session
    from tests.e2e.actors import OutlookUser

    url, schema = schema_url(database_url)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    running = start_sandboxes(SandboxOptions(state_dir=state / f"sandboxes-{pass_seconds:g}", seed="empty",
                                             salesforce_daily_budget=10_000_000))  # fmt: skip
    info = state / f"sandbox-{pass_seconds:g}.json"
    running.write_info(info)
    procs: list[subprocess.Popen] = []
    try:
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with factory() as db:
            ids = {}
            for rep in REPS:
                mailbox = mailboxes.add(db, rep.email, rep.salesforce_user_id)
                mailbox.time_zone = rep.timezone
                db.flush()
                ids[rep.email] = mailbox.id
            db.commit()
        env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(info), DATABASE_URL=url, REDIS_URL=redis_url,
                   CALSYNC_ENV="development", CALSYNC_PUSH_PASS_SECONDS=str(pass_seconds),
                   PYTHONPATH=str(ROOT))  # fmt: skip
        logs = state / f"logs-{pass_seconds:g}"
        logs.mkdir(exist_ok=True)

        def start(name: str, *args: str) -> None:
            procs.append(subprocess.Popen([CALSYNC, *args], env=env, cwd=ROOT, stdout=(logs / f"{name}.log").open("w"),
                                          stderr=subprocess.STDOUT))  # fmt: skip

        # The initial sessions, then nothing due by the schedule for 12 h.
        queue = session_queue("sync", redis)
        for mailbox_id in ids.values():
            enqueue_session(queue, mailbox_id, ScheduleConfig())
        subprocess.run([CALSYNC, "worker", "--burst"], env=env, cwd=ROOT, check=True, capture_output=True)
        with factory() as db:
            db.execute(text("UPDATE mailboxes SET next_sync_at = :at"),
                       {"at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)})  # fmt: skip
            db.commit()
            first_session = db.scalar(select(SyncSession.id).order_by(SyncSession.id.desc()).limit(1))
        start("scheduler", "scheduler")
        start("worker", "worker", "--name", f"bench-push-{pass_seconds:g}")
        time.sleep(3)  # both up (imports) before the first edit

        actors = {rep.email: OutlookUser(running.info, rep.email) for rep in REPS}
        rng = random.Random(18)
        moments = sorted(rng.uniform(0, seconds) for _ in range(edits))
        requests: list[tuple[int, float]] = []
        began = time.time()
        for n, moment in enumerate(moments):
            time.sleep(max(0.0, began + moment - time.time()))
            rep = rng.choice(REPS)
            start_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1 + n % 20, hours=n % 8)
            actors[rep.email].create(f"Pushed meeting {n}", start_at, start_at + dt.timedelta(minutes=30))
            request_sync(redis, ids[rep.email], source="ews")
            requests.append((ids[rep.email], time.time()))
        deadline = time.time() + 120
        while time.time() < deadline:  # until every request's session has run
            with factory() as db:
                rows = list(db.execute(select(SyncSession.mailbox_id, SyncSession.started_at, SyncSession.status)
                                       .where(SyncSession.id > first_session)))  # fmt: skip
            served = all(any(r.mailbox_id == m and r.started_at.timestamp() >= at and r.status != "running"
                             for r in rows) for m, at in requests)  # fmt: skip
            if served:
                break
            time.sleep(1)
        time.sleep(8)  # the last coalescing window and pass
        with factory() as db:
            sessions = list(db.execute(select(SyncSession.mailbox_id, SyncSession.started_at, SyncSession.status)
                                       .where(SyncSession.id > first_session).order_by(SyncSession.id)))  # fmt: skip
            samples = [s for (s,) in db.execute(select(LatencySample.seconds).where(
                LatencySample.direction == "outlook_to_salesforce", LatencySample.trigger == "push"))]  # fmt: skip
        waits = []
        for mailbox_id, at in requests:
            starts = [s.started_at.timestamp() for s in sessions if s.mailbox_id == mailbox_id
                      and s.started_at.timestamp() >= at - 0.001]  # fmt: skip
            if starts:
                waits.append(min(starts) - at)
        engine.dispose()
        return {
            "pass_seconds": pass_seconds,
            "edits": edits,
            "seconds": seconds,
            "sessions": len(sessions),
            "failed_sessions": sum(s.status == "failed" for s in sessions),
            "requests_per_session": round(edits / max(len(sessions), 1), 2),
            "unserved_requests": len(requests) - len(waits),
            "request_to_session_start_s": percentiles(waits),
            "edit_to_salesforce_write_s": percentiles(samples),
        }
    finally:
        from tests.support import stop_processes

        stop_processes(procs)
        running.stop()
        drop_schema(database_url, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--pass-seconds", default="2,30")
    parser.add_argument("--database-url", default=POSTGRES_URL)
    parser.add_argument("--redis", default="redis://127.0.0.1:6391/8")
    args = parser.parse_args()
    for name in ("exchangelib", "urllib3", "werkzeug", "sandbox"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        for value in (float(v) for v in args.pass_seconds.split(",")):
            result = run(value, args.edits, args.seconds, args.database_url, args.redis, Path(tmp))
            print(json.dumps(result, indent=2))
            results.append(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "push_dispatch.json").write_text(json.dumps({"measured_at": dt.datetime.now(dt.UTC).isoformat(),
                                                             "runs": results}, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
