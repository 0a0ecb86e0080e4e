"""Schedule decisions under a controllable clock, dedupe of session jobs, the leader lock (real Redis)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from types import SimpleNamespace

import pytest
from rq import Queue
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from calsync.database import make_engine, make_session_factory
from sync import mailboxes
from sync.job_queue import fetch_job, session_queue
from sync.models import Mailbox
from sync.schedule import (
    LeaderLock,
    ScheduleConfig,
    Scheduler,
    after_session,
    budget_backoff,
    due_mailboxes,
    enqueue_group,
    enqueue_session,
    is_due,
    job_id,
    next_interval,
    over_budget,
    recover_stranded,
    sync_now,
)
from tests.workers.conftest import Clock

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def _mailbox(**kw):
    values = {"enabled": True, "next_sync_at": None, "backoff_until": None, **kw}
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    ("mailbox", "due"),
    [
        (_mailbox(), True),  # never synced: at once
        (_mailbox(next_sync_at=T0), True),
        (_mailbox(next_sync_at=T0 + dt.timedelta(seconds=1)), False),
        (_mailbox(next_sync_at=T0 - H, enabled=False), False),
        (_mailbox(next_sync_at=T0 - H, backoff_until=T0 + H), False),
        (_mailbox(next_sync_at=T0 - H, backoff_until=T0), True),
    ],
)
def test_is_due(mailbox, due):
    assert is_due(mailbox, T0) is due


def test_adaptive_interval_steps_up_after_quiet_sessions_and_back_after_a_change():
    steps = (30, 60, 120)
    interval, seen = 30, []
    for changed in (False, False, False, True, False):
        interval = next_interval(interval, changed, steps)
        seen.append(interval)
    assert seen == [60, 120, 120, 30, 60]
    assert next_interval(45, False, steps) == 60  # an interval set by hand joins the ladder


def test_budget_backoff_sequence_and_cap():
    config = ScheduleConfig()
    assert [budget_backoff(n, config) / H for n in (1, 2, 3, 4)] == [2.5, 4.5, 6.5, 8.5]
    assert budget_backoff(50, config) == dt.timedelta(hours=24.5)


def test_over_budget_by_count_or_percent():
    percent = ScheduleConfig(budget_max_percent=90.0)
    assert not over_budget(None, None, percent)
    assert not over_budget(899, 1000, percent)
    assert over_budget(900, 1000, percent)
    count = ScheduleConfig(budget_max_requests=500, budget_max_percent=0)
    assert over_budget(500, 100_000, count) and not over_budget(499, 100_000, count)


def test_after_session_decisions():
    config = ScheduleConfig()
    quiet = after_session(30, status="ok", changed=False, now=T0, config=config)
    assert (quiet.interval, quiet.next_sync_at, quiet.backoff_until) == (60, T0 + H, None)
    busy = after_session(120, status="partial", changed=True, now=T0, config=config)
    assert (busy.interval, busy.next_sync_at) == (30, T0 + dt.timedelta(minutes=30))
    failed = after_session(60, status="failed", changed=False, now=T0, config=config)
    assert (failed.interval, failed.next_sync_at) == (60, T0 + H)
    stop = after_session(60, status="failed", changed=False, now=T0, config=config, budget_attempt=2,
                         budget_reason="Salesforce API budget exhausted: 95 of 100")  # fmt: skip
    assert stop.backoff_until == stop.next_sync_at == T0 + 4.5 * H
    assert stop.interval == 60 and "95 of 100" in stop.backoff_reason and "4.5 h" in stop.backoff_reason


@pytest.fixture
def factory(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _add(factory, n: int) -> list[int]:
    with factory() as db:
        added = [mailboxes.add(db, f"rep{i}@calsync.example", f"005{i:015d}") for i in range(n)]
        db.commit()
        return [m.id for m in added]


def test_due_mailboxes_query_follows_is_due(factory):
    ids = _add(factory, 5)
    with factory() as db:
        values = [
            {"next_sync_at": None},
            {"next_sync_at": T0 - H},
            {"next_sync_at": T0 + H},
            {"next_sync_at": T0 - H, "enabled": False},
            {"next_sync_at": T0 - H, "backoff_until": T0 + H},
        ]
        for mailbox_id, change in zip(ids, values, strict=True):
            mailbox = db.get(Mailbox, mailbox_id)
            for key, value in change.items():
                setattr(mailbox, key, value)
        db.commit()
        due = due_mailboxes(db, T0)
        assert [m.id for m in due] == [ids[0], ids[1]]
        assert all(is_due(m, T0) for m in due)
        later = due_mailboxes(db, T0 + 2 * H)
        assert {m.id for m in later} == {ids[0], ids[1], ids[2], ids[4]}


def test_enqueue_dedupes_until_the_job_is_gone(redis):
    queue = session_queue("sync", redis)
    config = ScheduleConfig()
    assert enqueue_session(queue, 7, config) == "enqueued"
    assert enqueue_session(queue, 7, config) == "duplicate"
    assert sync_now(queue, 7, config) == "duplicate"
    assert queue.job_ids == [job_id(7)]
    job = fetch_job(job_id(7), redis)
    assert (job.timeout, job.result_ttl, job.retries_left) == (config.job_timeout, 0, config.retries)
    assert job.retry_intervals == list(config.retry_intervals)
    # A failed job keeps its id (failure_ttl); the next request requeues it instead of being refused.
    queue.remove(job)
    job.set_status(JobStatus.FAILED)
    FailedJobRegistry(queue=queue).add(job, ttl=config.failure_ttl, exc_string="boom")
    assert sync_now(queue, 7, config) == "requeued"
    assert queue.job_ids == [job_id(7)] and job_id(7) not in FailedJobRegistry(queue=queue)
    # Once the job is deleted (success with result_ttl=0), the id is free again.
    fetch_job(job_id(7), redis).delete()
    assert sync_now(queue, 7, config) == "enqueued"


def test_a_session_a_dead_worker_took_off_the_queue_goes_back_on_it(redis):
    """Found by the chaos soak (docs/soak.md): a worker SIGKILLed between taking a job off the queue (RQ's move to
    its intermediate list) and starting it left the job in neither the queue nor the started registry, still
    ``queued``: every later request of the mailbox was a ``duplicate``, and it had no session for minutes."""
    queue = session_queue("sync", redis)
    config = ScheduleConfig()
    assert enqueue_session(queue, 7, config) == "enqueued"
    assert Queue.lmove(redis, queue.key, None) is not None  # a worker's dequeue; the worker dies right after
    assert queue.job_ids == [] and queue.intermediate_queue.get_job_ids() == [job_id(7)]
    assert enqueue_session(queue, 7, config) == "duplicate"
    assert recover_stranded(queue, config) == []  # first seen now: a live worker may be about to start it
    assert recover_stranded(queue, config, now=time.time() + 1) == []
    assert recover_stranded(queue, config, now=time.time() + config.lock_ttl + 1) == [job_id(7)]
    assert queue.job_ids == [job_id(7)] and queue.intermediate_queue.get_job_ids() == []
    assert fetch_job(job_id(7), redis).get_status() == JobStatus.QUEUED
    assert enqueue_session(queue, 7, config) == "duplicate"  # queued once, not twice
    # A job that started is the started registry's business (recover_abandoned), never put back from here.
    fetch_job(job_id(7), redis).delete()
    assert enqueue_session(queue, 8, config) == "enqueued"
    Queue.lmove(redis, queue.key, None)
    redis.zadd(StartedJobRegistry(queue=queue).key, {f"{job_id(8)}:execution": time.time() + 60})  # it started
    recover_stranded(queue, config)
    assert recover_stranded(queue, config, now=time.time() + config.lock_ttl + 1) == []


def test_a_group_job_a_dead_worker_took_off_the_queue_goes_back_on_it(redis):
    """A stranded group job stays ``queued``, so the push pass leaves its mailboxes to it (their claims last the
    job timeout): without this its mailboxes would wait some 16 minutes for a session."""
    queue = session_queue("sync", redis)
    config = ScheduleConfig()
    group_id = enqueue_group(queue, [7, 8], config)
    assert Queue.lmove(redis, queue.key, None) is not None  # a worker's dequeue; the worker dies right after
    assert recover_stranded(queue, config) == []
    assert recover_stranded(queue, config, now=time.time() + config.lock_ttl + 1) == [group_id]
    assert queue.job_ids == [group_id] and fetch_job(group_id, redis).get_status() == JobStatus.QUEUED


def test_leader_lock_is_exclusive_renewed_and_expires(redis):
    first, second = LeaderLock(redis, ttl=1), LeaderLock(redis, ttl=1)
    assert first.hold() and not second.hold()
    assert first.hold()  # renewal
    first.held = False  # a leader that died: its lock is left to expire
    assert not second.hold()
    redis.pexpire("calsync:scheduler:leader", 50)
    threading.Event().wait(0.1)
    assert second.hold()
    second.release()
    assert first.hold()


def test_two_schedulers_enqueue_each_due_session_once(redis, factory):
    ids = _add(factory, 20)
    clock = Clock(T0)
    config = ScheduleConfig()
    schedulers = [Scheduler(redis, factory, config, interval=30, clock=clock) for _ in range(2)]
    barrier = threading.Barrier(2)
    reports = [None, None]

    def run(index: int) -> None:
        barrier.wait()
        reports[index] = schedulers[index].tick()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.leader for r in reports) == [False, True]
    leader = next(r for r in reports if r.leader)
    assert sorted(leader.enqueued) == ids
    queue = session_queue("sync", redis)
    assert sorted(queue.job_ids) == sorted(job_id(i) for i in ids)
    # The claimed mailboxes are not due again at once; when they are, their jobs still dedupe.
    leading = next(s for s in schedulers if s.leader.held)
    follower = next(s for s in schedulers if not s.leader.held)
    assert leading.tick().enqueued == []
    clock.advance(minutes=31)
    assert follower.tick().leader is False
    again = leading.tick()
    assert again.enqueued == [] and sorted(again.duplicates) == ids
    assert queue.count == 20
    for scheduler in schedulers:
        scheduler.close()
