"""Real worker processes (``calsync worker``) against the sandboxes and Redis db 13:
a worker SIGKILLed mid-session, its session handed back by the scheduler and run again by a new worker, with
no duplicate and no loss (docs/invariants.md #6 and #7); two ``calsync scheduler`` processes enqueue each session once,
and the second takes over when the leader dies."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from rq.registry import StartedJobRegistry
from sqlalchemy import select

from calsync.database import make_engine, make_session_factory
from calsync.settings import Settings
from sync import mailboxes
from sync.job_queue import session_queue
from sync.models import SyncSession
from sync.schedule import Scheduler, enqueue_session, job_id, lock_key, schedule_config
from sync.worker_names import holder
from tests.e2e.actors import at
from tests.support import CALSYNC, ROOT, sigkill_tree, start_calsync, wait_for
from tests.workers.conftest import REDIS_URL


def _env(sandbox_info_file: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=database_url, REDIS_URL=REDIS_URL,
        CALSYNC_LOCK_TTL="2", CALSYNC_JOB_RETRIES="2", CALSYNC_JOB_RETRY_INTERVALS="0", PYTHONPATH=str(ROOT),
    )  # fmt: skip
    return env


def _start_worker(env: dict[str, str], log: Path, name: str) -> subprocess.Popen:
    return start_calsync(["worker", "--burst", "--name", name], env, log)


def test_sigkilled_worker_session_runs_again_and_converges(world, engine, redis, sandbox_info_file, tmp_path):
    outlook, salesforce = world.outlook(), world.salesforce()
    for i in range(12):
        outlook.create(f"Outlook meeting {i}", at(1 + i % 5, 9 + i % 8), at(1 + i % 5, 10 + i % 8))
    for i in range(8):
        start = at(2 + i % 4, 13 + i % 3)
        end = start + dt.timedelta(hours=1)
        salesforce.create_event(
            Subject=f"Salesforce call {i}", StartDateTime=start, EndDateTime=end, OwnerId=world.rep.salesforce_user_id
        )
    env = _env(sandbox_info_file, engine.settings.database_url)
    config = schedule_config(Settings.from_env(env))
    with engine.factory() as db:
        mailbox_id = mailboxes.find(db, engine.email).id
    queue = session_queue(config.queue, redis)
    assert enqueue_session(queue, mailbox_id, config) == "enqueued"

    # Slow Exchange down so that the kill lands after the Salesforce creates and before the Exchange writes.
    world.set_exchange_faults(latency_ms=800)
    sandbox = world.sandboxes.salesforce
    writes_before = sandbox.writes
    first = _start_worker(env, tmp_path / "worker1.log", "doomed")
    try:
        wait_for(lambda: sandbox.writes > writes_before or first.poll() is not None, 60, "the Salesforce creates")
        assert first.poll() is None, (tmp_path / "worker1.log").read_text()
        sigkill_tree(first)  # the work horse and the worker: a dead machine
    finally:
        if first.poll() is None:
            first.kill()
    world.set_exchange_faults(latency_ms=0)
    # Killed mid-session: the pairs the session was creating are still pending.
    assert "pending" in {link.state for link in engine.links()}
    assert job_id(mailbox_id) in StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)
    assert redis.exists(lock_key(mailbox_id))  # left behind; it expires because nobody renews it

    scheduler = Scheduler(redis, engine.factory, config, interval=1)
    assert scheduler.tick().abandoned == []  # the lock still stands: the session might be alive
    wait_for(lambda: not redis.exists(lock_key(mailbox_id)), config.lock_ttl + 2, "the lock to expire")
    time.sleep(0.1)
    report = scheduler.tick()
    scheduler.close()
    assert report.abandoned == [job_id(mailbox_id)]
    assert queue.job_ids == [job_id(mailbox_id)]  # retried at once (retry interval 0), not duplicated

    second = _start_worker(env, tmp_path / "worker2.log", "heir")
    assert second.wait(60) == 0, (tmp_path / "worker2.log").read_text()
    log = (tmp_path / "worker2.log").read_text()
    session_lines = [line for line in log.splitlines() if "calsync.session: session {" in line]
    assert len(session_lines) == 1, log  # one structured line per session

    with engine.factory() as db:
        rows = list(db.scalars(select(SyncSession).order_by(SyncSession.id)))
    assert [r.status for r in rows] == ["abandoned", "ok"]
    assert rows[1].counts["created"]["salesforce"] == 0, rows[1].counts  # nothing created twice
    assert {link.state for link in engine.links()} == {"active"}
    quiet = engine.converge(1)  # the next session finds nothing to do: converged
    assert quiet.writes == 0
    subjects = Counter(e["Subject"] for e in salesforce.events())
    assert len(subjects) == 20 and set(subjects.values()) == {1}, subjects
    items = Counter(i["subject"] for i in outlook.items("Salesforce"))
    assert len(items) == 20 and set(items.values()) == {1}, items
    assert queue.count == 0 and not StartedJobRegistry(queue=queue).get_job_ids()


def _scheduler(env: dict[str, str], log: Path) -> subprocess.Popen:
    return start_calsync(["scheduler", "--interval", "0.2"], env, log)


def _enqueued(log: Path) -> int:
    return sum(int(n) for n in re.findall(r"scheduler pass: (\d+) enqueued", log.read_text()))


def test_two_scheduler_processes_enqueue_each_session_once_and_fail_over(redis, database_url, tmp_path):
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as db:
        added = [mailboxes.add(db, f"rep{i}@calsync.example", f"005{i:015d}") for i in range(20)]
        db.commit()
        ids = [m.id for m in added]
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=REDIS_URL, CALSYNC_SCHEDULER_LEADER_TTL="2",
               PYTHONPATH=str(ROOT))  # fmt: skip
    queue = session_queue("sync", redis)
    logs = [tmp_path / "scheduler-a.log", tmp_path / "scheduler-b.log"]
    procs = [_scheduler(env, log) for log in logs]
    try:
        wait_for(lambda: queue.count >= 20, 60, "the first pass")
        time.sleep(2)  # ten more passes of each: nothing more is due, and the follower never acts
        assert sorted(queue.job_ids) == sorted(job_id(i) for i in ids)
        leaders = [i for i, log in enumerate(logs) if "this scheduler is the leader" in log.read_text()]
        assert len(leaders) == 1, [log.read_text() for log in logs]
        assert [_enqueued(log) for log in logs] == [20 if i in leaders else 0 for i in range(2)]

        # The leader dies: the other takes over once the leader lock expires, and picks up a new mailbox.
        leader, follower = procs[leaders[0]], procs[1 - leaders[0]]
        leader.kill()
        leader.wait(10)
        with factory() as db:
            newcomer = mailboxes.add(db, "newcomer@calsync.example", "005000000000000099")
            db.commit()
            new_id = newcomer.id
        wait_for(lambda: job_id(new_id) in queue.job_ids, 30, "the follower to take over")
        assert "this scheduler is the leader" in logs[1 - leaders[0]].read_text()
        assert _enqueued(logs[1 - leaders[0]]) == 1 and queue.count == 21
        assert follower.poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        engine.dispose()


def _holder_pid(redis, name: str) -> str | None:
    found = holder(redis, name)
    return found["pid"] if found else None


def test_a_named_worker_restarts_after_a_sigkill_and_a_live_name_is_refused(redis, database_url, tmp_path):
    """Found by the chaos soak (docs/soak.md): a ``--name``d worker killed outright left its name "active" in Redis,
    so its restart exited with RQ's traceback until the name's key expired (up to 7 minutes)."""
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=REDIS_URL, PYTHONPATH=str(ROOT))
    first = start_calsync(["worker", "--name", "steady"], env, tmp_path / "first.log")
    second = None
    try:
        wait_for(lambda: _holder_pid(redis, "steady") == str(first.pid), 60, "the first worker's birth")
        # A second worker under the same name while the first lives: one clear line, no traceback.
        twin = subprocess.run([CALSYNC, "worker", "--name", "steady"], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert twin.returncode == 1, twin
        assert "a worker named 'steady' is running (host" in twin.stderr and "Traceback" not in twin.stderr, twin
        first.kill()  # no clean shutdown: its name stays registered as active
        first.wait(10)
        assert _holder_pid(redis, "steady") == str(first.pid)
        second = start_calsync(["worker", "--name", "steady"], env, tmp_path / "second.log")
        wait_for(lambda: _holder_pid(redis, "steady") == str(second.pid) or second.poll() is not None, 60,
              "the second worker's birth")  # fmt: skip
        assert second.poll() is None, (tmp_path / "second.log").read_text()
        assert "held by a dead worker: taken over" in (tmp_path / "second.log").read_text()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
