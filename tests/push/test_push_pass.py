"""The scheduler's push pass in this process, on real Redis and a migrated database (no worker: the queue is
inspected). Real processes: test_push_processes.py."""

from __future__ import annotations

import datetime as dt

import pytest
from rq.job import Job

from calsync.database import make_session_factory
from sync.job_queue import session_queue
from sync.models import Mailbox
from sync.push import PushConfig, record_channel, request_sync, take_request
from sync.push.requests import outlook_requests, pending_requests
from sync.schedule import ScheduleConfig, Scheduler, job_id

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


class Epoch:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def factory(db_engine):
    return make_session_factory(db_engine)


def _mailboxes(factory, count=3, **fields):
    with factory() as db:
        rows = [Mailbox(email=f"rep{i}@example.com", next_sync_at=NOW + dt.timedelta(hours=1), **fields)
                for i in range(count)]  # fmt: skip
        db.add_all(rows)
        db.commit()
        return [row.id for row in rows]


def _scheduler(redis, factory, epoch, **push):
    """Without the batching window unless asked (its own tests below): the coalescing rule alone."""
    push.setdefault("batch_seconds", 0)
    config = ScheduleConfig(push=PushConfig(coalesce_seconds=5, **push))
    return Scheduler(redis, factory, config, interval=30, clock=lambda: NOW, epoch=epoch)


def test_requests_wait_out_the_window_then_enqueue_once(redis, factory):
    a, b, _ = _mailboxes(factory)
    epoch = Epoch(1000.0)
    scheduler = _scheduler(redis, factory, epoch)
    for i in range(50):
        request_sync(redis, a, source="graph", now=1000 + i * 0.04)
    request_sync(redis, b, source="ews", now=1003)
    epoch.at = 1004.9
    assert scheduler.push_tick().pushed == []  # inside the window
    epoch.at = 1005.0
    assert scheduler.push_tick().pushed == [a]
    queue = session_queue("sync", redis)
    assert queue.job_ids == [job_id(a)]
    job = Job.fetch(job_id(a), connection=redis, serializer=queue.serializer)
    assert list(job.args) == [a, "push"]
    epoch.at = 1008.0
    assert scheduler.push_tick().pushed == [b]  # a's job is still queued: a duplicate, not a second job
    assert sorted(queue.job_ids) == sorted([job_id(a), job_id(b)])
    assert set(pending_requests(redis)) == {a, b}  # until their sessions start and take them
    scheduler.close()


def test_a_full_pass_enqueues_push_requests_too(redis, factory):
    (a,) = _mailboxes(factory, 1)
    epoch = Epoch(1010.0)
    scheduler = _scheduler(redis, factory, epoch)
    request_sync(redis, a, source="ews", now=1000)
    report = scheduler.tick()
    assert report.enqueued == [] and report.pushed == [a]  # not due by the schedule, due by push
    scheduler.close()


def test_disabled_and_removed_mailboxes_drop_their_requests(redis, factory):
    (a,) = _mailboxes(factory, 1, enabled=False)
    scheduler = _scheduler(redis, factory, Epoch(1010.0))
    request_sync(redis, a, source="ews", now=1000)
    request_sync(redis, 999, source="ews", now=1000)
    assert scheduler.push_tick().pushed == []
    assert pending_requests(redis) == {}
    scheduler.close()


def test_a_mailbox_backing_off_keeps_its_request_for_later(redis, factory):
    (a,) = _mailboxes(factory, 1, backoff_until=NOW + dt.timedelta(hours=2))
    scheduler = _scheduler(redis, factory, Epoch(1010.0))
    request_sync(redis, a, source="salesforce", now=1000)
    assert scheduler.push_tick().pushed == []
    assert set(pending_requests(redis)) == {a}
    scheduler.close()


def test_only_the_leader_makes_push_passes(redis, factory):
    (a,) = _mailboxes(factory, 1)
    first, second = _scheduler(redis, factory, Epoch(1010.0)), _scheduler(redis, factory, Epoch(1010.0))
    request_sync(redis, a, source="ews", now=1000)
    assert first.push_tick().leader
    assert second.push_tick() == second.push_tick().__class__(leader=False)
    first.close()
    second.close()


def test_a_request_taken_by_a_running_session_leaves_nothing_to_enqueue(redis, factory):
    (a,) = _mailboxes(factory, 1)
    scheduler = _scheduler(redis, factory, Epoch(1010.0))
    request_sync(redis, a, source="ews", now=1000)
    take_request(redis, a, started=1001)  # a periodic session started meanwhile and reads the change
    assert scheduler.push_tick().pushed == []
    scheduler.close()


def test_the_full_pass_pulls_stretched_mailboxes_back_when_push_goes_down(redis, factory):
    last = NOW - dt.timedelta(minutes=50)
    up, down, never = _mailboxes(factory, 3, sync_interval_minutes=360)
    with factory() as db:
        for mailbox in db.query(Mailbox):
            mailbox.next_sync_at = last + dt.timedelta(minutes=360)
        db.get(Mailbox, never).sync_interval_minutes = 120
        db.get(Mailbox, never).next_sync_at = last + dt.timedelta(minutes=120)
        db.commit()
    record_channel(redis, up, "graph-webhook", "up", ttl=600, now=1000)
    record_channel(redis, down, "ews-streaming", "up", ttl=60, now=1000)  # its heartbeat expires at 1060
    scheduler = _scheduler(redis, factory, Epoch(1100.0))
    assert scheduler.tick().pulled_back == [down]
    with factory() as db:
        rows = {m.id: (m.sync_interval_minutes, m.next_sync_at) for m in db.query(Mailbox)}
    assert rows[down] == (30, last + dt.timedelta(minutes=30))
    assert rows[up] == (360, last + dt.timedelta(minutes=360))
    assert rows[never] == (120, last + dt.timedelta(minutes=120))
    assert scheduler.tick().pulled_back == []  # once
    scheduler.close()


# -- batched writes: Outlook requests wait for the batching window, then go as group jobs (docs/push.md) -----------
def _group_jobs(redis) -> list[Job]:
    queue = session_queue("sync", redis)
    jobs = [Job.fetch(i, connection=redis, serializer=queue.serializer) for i in queue.job_ids]
    return [job for job in jobs if job.func_name == "sync.jobs.sync_group"]


def test_outlook_requests_are_held_for_the_batching_window_then_share_one_group_job(redis, factory):
    a, b, c, d = _mailboxes(factory, 4)
    epoch = Epoch(1010.0)
    scheduler = _scheduler(redis, factory, epoch, batch_seconds=15)
    request_sync(redis, a, source="ews", now=1000)
    request_sync(redis, b, source="graph", now=1008)
    request_sync(redis, c, source="ews", now=1013)
    request_sync(redis, d, source="salesforce", now=1009)
    assert scheduler.push_tick().pushed == [d]  # Salesforce-sourced: its own session, at once
    epoch.at = 1014.9
    assert scheduler.push_tick().pushed == []  # the window counts from a's request (1000)
    epoch.at = 1015.0
    assert sorted(scheduler.push_tick().pushed) == sorted([a, b])  # c is inside its coalescing window still
    (group,) = _group_jobs(redis)
    assert group.args[0] == [a, b] and group.args[1] == "push" and group.id == group.args[2]
    assert group.retries_left is None  # no RQ retry: a failed group leaves the requests pending
    assert session_queue("sync", redis).job_ids == [job_id(d), group.id]
    epoch.at = 1027.9
    assert scheduler.push_tick().pushed == []  # a and b wait for their group job; c's window runs from 1013
    epoch.at = 1028.0
    assert scheduler.push_tick().pushed == [c]  # alone: an ordinary session of its own
    assert len(_group_jobs(redis)) == 1 and job_id(c) in session_queue("sync", redis).job_ids
    assert set(pending_requests(redis)) == {a, b, c, d}  # until their sessions start and take them
    take_request(redis, c, started=1029)
    assert outlook_requests(redis, [a, b, c]) == {a: 1000.0, b: 1008.0}
    scheduler.close()


def test_a_lost_group_job_leaves_its_requests_to_the_next_pass(redis, factory):
    a, b = _mailboxes(factory, 2)
    epoch = Epoch(1020.0)
    scheduler = _scheduler(redis, factory, epoch, batch_seconds=15)
    request_sync(redis, a, source="ews", now=1000)
    request_sync(redis, b, source="ews", now=1001)
    assert sorted(scheduler.push_tick().pushed) == [a, b]
    (group,) = _group_jobs(redis)
    epoch.at = 1022
    assert scheduler.push_tick().pushed == []  # queued: left to it
    # A worker took it and died: started long ago, no mailbox lock held any more.
    session_queue("sync", redis).remove(group.id)
    redis.hset(group.key, mapping={"status": "started", "started_at": "2001-01-01T00:00:00Z"})
    assert sorted(scheduler.push_tick().pushed) == [a, b]
    second = [job for job in _group_jobs(redis) if job.id != group.id]
    assert len(second) == 1 and second[0].args[0] == [a, b]
    # A group job that is running and holds a's lock keeps a; b's session in it is over (claim released).
    from sync.schedule import lock_key, release_group_claim

    session_queue("sync", redis).remove(second[0].id)
    redis.hset(second[0].key, mapping={"status": "started", "started_at": "2001-01-01T00:00:00Z"})
    redis.set(lock_key(a), "token", ex=60)
    release_group_claim(redis, b, second[0].id)
    assert scheduler.push_tick().pushed == [b]  # alone now: its own session
    # The job itself vanished (deleted, expired): the claim no longer counts.
    redis.delete(lock_key(a), second[0].key)
    epoch.at = 1030
    assert scheduler.push_tick().pushed == [a]
    scheduler.close()


def test_groups_hold_at_most_the_configured_number_of_mailboxes(redis, factory):
    ids = _mailboxes(factory, 5)
    scheduler = _scheduler(redis, factory, Epoch(1020.0), batch_seconds=15, batch_mailboxes=2)
    for n, mailbox_id in enumerate(ids):
        request_sync(redis, mailbox_id, source="graph", now=1000 + n)
    assert sorted(scheduler.push_tick().pushed) == sorted(ids)
    assert [job.args[0] for job in _group_jobs(redis)] == [ids[0:2], ids[2:4]]
    assert job_id(ids[4]) in session_queue("sync", redis).job_ids  # the fifth alone: its own session
    scheduler.close()
