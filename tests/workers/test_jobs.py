"""Session jobs against the sandboxes and a real Redis: progress, adaptive interval, the mailbox lock and its
expiry, the API budget guard and its back-off, "sync now", and RQ's retry of a busy mailbox's job."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import replace

import pytest
from rq import SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from sync import jobs, mailboxes
from sync.job_queue import SERIALIZER, fetch_job, session_queue, worker_options
from sync.models import HealthEntry, Mailbox, SyncSession
from sync.schedule import BUDGET_HEALTH_CODE, Scheduler, enqueue_session, job_id, lock_key, sync_now
from tests.e2e.actors import at

H = dt.timedelta(hours=1)


@pytest.fixture
def mailbox_id(engine) -> int:
    with engine.factory() as db:
        return mailboxes.find(db, engine.email).id


def _mailbox(engine, mailbox_id: int) -> Mailbox:
    with engine.factory() as db:
        return db.get(Mailbox, mailbox_id)


def _budget_entry(engine, mailbox_id: int) -> HealthEntry | None:
    with engine.factory() as db:
        return db.scalars(
            select(HealthEntry).where(HealthEntry.mailbox_id == mailbox_id, HealthEntry.code == BUDGET_HEALTH_CODE)
        ).one_or_none()


def test_job_reports_progress_and_adapts_the_interval(world, engine, context, clock, redis, mailbox_id, monkeypatch):
    outlook = world.outlook()
    for i in range(3):
        outlook.create(f"Call {i}", at(1 + i, 10), at(1 + i, 11))
    job = Job.create(jobs.sync_mailbox, args=(mailbox_id,), connection=redis, id=f"sync-{mailbox_id}",
                     serializer=SERIALIZER)  # fmt: skip
    job.save()
    phases = []
    save_meta = job.save_meta

    def recording_save_meta():
        phases.append(dict(job.meta["progress"]))
        save_meta()

    monkeypatch.setattr(job, "save_meta", recording_save_meta)
    monkeypatch.setattr(jobs, "get_current_job", lambda: job)

    first = jobs.sync_mailbox(mailbox_id)
    assert first["status"] == "ok" and first["created"]["salesforce"] == 3
    assert [p["phase"] for p in phases][:3] == ["reading", "planning", "applying"]
    assert phases[-1] == {"phase": "done", "done": 3, "total": 3}
    assert fetch_job(job.id, redis).meta["progress"] == phases[-1]

    start = clock.now
    intervals = []
    for _ in range(3):  # after the change: 30; then quiet sessions: 60, 120, 120
        mailbox = _mailbox(engine, mailbox_id)
        intervals.append(mailbox.sync_interval_minutes)
        assert mailbox.next_sync_at == clock.now + dt.timedelta(minutes=mailbox.sync_interval_minutes)
        clock.advance(minutes=mailbox.sync_interval_minutes)
        assert jobs.sync_mailbox(mailbox_id)["writes"] == 0
    intervals.append(_mailbox(engine, mailbox_id).sync_interval_minutes)
    assert intervals == [30, 60, 120, 120]
    world.salesforce().create_event(Subject="Planned in Salesforce", StartDateTime=at(3, 14), EndDateTime=at(3, 15),
                                    OwnerId=world.rep.salesforce_user_id)  # fmt: skip
    assert jobs.sync_mailbox(mailbox_id)["created"]["exchange"] == 1
    assert _mailbox(engine, mailbox_id).sync_interval_minutes == 30
    assert clock.now - start == dt.timedelta(minutes=30 + 60 + 120)


def test_two_sessions_of_one_mailbox_never_overlap_and_the_lock_is_renewed(world, engine, context, mailbox_id):
    for i in range(3):
        world.outlook().create(f"Visit {i}", at(2, 9 + i), at(2, 10 + i))
    # The session lasts about 4 s, longer than the 2-second lock TTL.
    world.set_exchange_faults(latency_ms=500)
    world.set_salesforce_faults(latency_ms=500)
    outcomes: dict[str, object] = {}

    def first() -> None:
        outcomes["first"] = jobs.sync_mailbox(mailbox_id)

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(context.config.lock_ttl + 0.5)  # past the TTL: only renewal keeps the lock
    assert thread.is_alive(), "the session should still be running"
    with pytest.raises(jobs.MailboxBusy):
        jobs.sync_mailbox(mailbox_id)
    thread.join()
    world.set_exchange_faults(latency_ms=0)
    world.set_salesforce_faults(latency_ms=0)
    assert outcomes["first"]["status"] == "ok"
    assert not context.redis.exists(lock_key(mailbox_id))  # released at the end
    with engine.factory() as db:
        sessions = list(db.scalars(select(SyncSession).where(SyncSession.mailbox_id == mailbox_id)))
    assert len(sessions) == 1  # the refused job never started a session
    assert len(world.salesforce().events()) == 3


def test_lock_left_by_a_dead_worker_expires(world, engine, context, mailbox_id):
    # What a killed worker leaves: the lock, no longer renewed.
    context.redis.set(lock_key(mailbox_id), "dead-worker-token", px=context.config.lock_ttl * 1000)
    with pytest.raises(jobs.MailboxBusy):
        jobs.sync_mailbox(mailbox_id)
    time.sleep(context.config.lock_ttl + 0.2)
    assert jobs.sync_mailbox(mailbox_id)["status"] == "ok"


def test_budget_guard_stops_sessions_cleanly_and_backs_off(world, engine, context, clock, mailbox_id):
    world.outlook().create("Pricing call", at(1, 10), at(1, 11))
    world.set_salesforce_faults(daily_budget=1000, api_used=950)  # 95 % > the 90 % guard

    def stop(expected_hours: float) -> Mailbox:
        result = jobs.sync_mailbox(mailbox_id)
        mailbox = _mailbox(engine, mailbox_id)
        assert result["status"] in {"failed", "skipped"}
        assert mailbox.backoff_until == mailbox.next_sync_at == clock.now + expected_hours * H
        assert "API budget" in mailbox.backoff_reason and f"{expected_hours:g} h" in mailbox.backoff_reason
        return mailbox

    stop(2.5)  # the session read both sides, saw 95x/1000 and stopped before writing
    assert world.salesforce().events() == []
    stop(4.5)  # at once again ("sync now"): the usage just seen stops it before it starts
    clock.advance(hours=5)
    stop(6.5)  # later: the remembered usage is too old, the session starts and the guard stops it again
    entry = _budget_entry(engine, mailbox_id)
    assert (entry.status, entry.attempts, entry.side) == ("open", 3, "salesforce")

    world.set_salesforce_faults(api_used=0)  # a new day
    clock.advance(hours=7)
    result = jobs.sync_mailbox(mailbox_id)
    assert result["status"] == "ok" and result["created"]["salesforce"] == 1
    mailbox = _mailbox(engine, mailbox_id)
    assert (mailbox.backoff_until, mailbox.backoff_reason) == (None, None)
    assert mailbox.next_sync_at == clock.now + dt.timedelta(minutes=30)
    assert _budget_entry(engine, mailbox_id).status == "resolved"


def test_request_limit_exceeded_backs_off_too(world, engine, context, clock, mailbox_id):
    world.set_salesforce_faults(daily_budget=1000, api_used=1000)  # Salesforce itself refuses
    result = jobs.sync_mailbox(mailbox_id)
    assert result["status"] == "failed" and result["error"].startswith(jobs.BUDGET_PREFIX)
    mailbox = _mailbox(engine, mailbox_id)
    assert mailbox.backoff_until == clock.now + 2.5 * H and "REQUEST_LIMIT" not in (mailbox.backoff_reason or "x")
    assert _budget_entry(engine, mailbox_id).attempts == 1


def test_sync_now_runs_a_session_at_once_though_none_is_due(world, engine, context, clock, redis, mailbox_id):
    world.outlook().create("Demo for the buyer", at(1, 10), at(1, 11))
    with engine.factory() as db:
        db.get(Mailbox, mailbox_id).next_sync_at = clock.now + 2 * H
        db.commit()
    scheduler = Scheduler(redis, engine.factory, context.config, clock=clock)
    try:
        assert scheduler.tick().enqueued == []  # not due for two hours
    finally:
        scheduler.close()
    queue = session_queue(context.config.queue, redis)
    assert sync_now(queue, mailbox_id, context.config) == "enqueued"
    assert queue.job_ids == [job_id(mailbox_id)]
    # Runs the job here, with the installed context.
    SimpleWorker([queue], connection=redis, **worker_options()).work(burst=True)
    assert [e["Subject"] for e in world.salesforce().events()] == ["Demo for the buyer"]
    mailbox = _mailbox(engine, mailbox_id)
    assert mailbox.next_sync_at == clock.now + dt.timedelta(minutes=30)  # the schedule starts again from now
    assert queue.count == 0 and not redis.exists(Job.key_for(job_id(mailbox_id)))  # done: the id is free again


def test_busy_mailbox_job_is_retried_after_its_back_off_by_rqs_scheduler(world, engine, context, redis, mailbox_id):
    world.outlook().create("Quarterly review", at(2, 10), at(2, 11))
    config = replace(context.config, retries=2, retry_intervals=(1,))
    queue = session_queue(config.queue, redis)
    redis.set(lock_key(mailbox_id), "a session on another worker", px=60_000)
    assert enqueue_session(queue, mailbox_id, config) == "enqueued"
    SimpleWorker([queue], connection=redis, **worker_options()).work(burst=True)
    # MailboxBusy: RQ's Retry put the job in the scheduled registry for its back-off, not back in the queue.
    scheduled = ScheduledJobRegistry(queue=queue)
    assert scheduled.get_job_ids() == [job_id(mailbox_id)] and queue.count == 0
    assert fetch_job(job_id(mailbox_id), redis).retries_left == 1
    assert enqueue_session(queue, mailbox_id, config) == "duplicate"  # its id stays taken while it waits
    redis.delete(lock_key(mailbox_id))  # the other session ends
    time.sleep(1.1)
    scheduler = Scheduler(redis, engine.factory, config)
    try:
        report = scheduler.tick()  # RQ's scheduler moves the retry; the due mailbox is not enqueued twice
    finally:
        scheduler.close()
    assert report.enqueued == [] and report.duplicates == [mailbox_id]
    assert queue.job_ids == [job_id(mailbox_id)] and scheduled.count == 0
    SimpleWorker([queue], connection=redis, **worker_options()).work(burst=True)
    assert [e["Subject"] for e in world.salesforce().events()] == ["Quarterly review"]
