"""Push core through real processes: ``calsync scheduler`` and ``calsync worker`` on the sandboxes and Redis
db 9, the mailbox of `tests.e2e.engine` (EWS).

- 50 requests for one mailbox in 2 s make exactly one session, which starts after the coalescing window;
- requests while that mailbox's session runs make exactly one more session after it;
- a session's own writes, read back as the notifications they cause (an EWS pull subscription through
  exchangelib; the Salesforce rows with their SystemModstamp), are all echoes: nothing is requested or
  enqueued — and a user's edit right after is not an echo and makes a session;
- push healthy → the next periodic session in 6 h; heartbeat expired → the scheduler brings it to 30 minutes.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from sync import mailboxes
from sync.job_queue import session_queue
from sync.models import LatencySample, Mailbox, SyncSession
from sync.push import is_echo, record_channel, request_sync
from sync.push.latency import TO_OUTLOOK, TO_SALESFORCE
from sync.push.requests import pending_requests
from sync.schedule import ScheduleConfig, enqueue_session
from tests.e2e.actors import at, sf_datetime
from tests.push.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
CALSYNC = str(Path(sys.executable).with_name("calsync"))  # the console script of this virtualenv
COALESCE = 5.0  # CALSYNC_PUSH_COALESCE_SECONDS, its default
BATCH = 15.0  # CALSYNC_PUSH_BATCH_SECONDS, its default: an Outlook-sourced request waits this long (batched writes)


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        proc = subprocess.Popen([CALSYNC, *args], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.running.append(proc)
        return proc

    def run(self, name: str, *args: str) -> str:
        done = subprocess.run([CALSYNC, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def stop(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.running:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def procs(engine, sandbox_info_file, tmp_path):
    env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=engine.settings.database_url,
               REDIS_URL=REDIS_URL, PYTHONPATH=str(ROOT))  # fmt: skip
    running = Processes(env, tmp_path)
    yield running
    running.stop()


@pytest.fixture
def mailbox_id(engine) -> int:
    """The engine's mailbox, not due by the schedule (every session in these tests comes from push)."""
    with engine.factory() as db:
        mailbox = mailboxes.find(db, engine.email)
        mailbox.next_sync_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
        db.commit()
        return mailbox.id


def _sessions(engine, mailbox_id: int) -> list[SyncSession]:
    with engine.factory() as db:
        return list(
            db.scalars(select(SyncSession).where(SyncSession.mailbox_id == mailbox_id).order_by(SyncSession.id))
        )


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _finished(engine, mailbox_id: int, count: int):
    return lambda: sum(s.status != "running" for s in _sessions(engine, mailbox_id)) >= count


def test_fifty_requests_in_two_seconds_make_one_session(engine, redis, procs, mailbox_id):
    procs.start("worker", "worker", "--name", "push-burst")
    procs.start("scheduler", "scheduler")  # default passes: 30 s over the schedule, 2 s for push requests
    first = time.time()
    for _ in range(50):
        request_sync(redis, mailbox_id, source="ews")
        time.sleep(0.04)
    _wait(_finished(engine, mailbox_id, 1), 90, "the session")
    time.sleep(COALESCE + 3)  # a second session would have been enqueued by now
    sessions = _sessions(engine, mailbox_id)
    assert [s.status for s in sessions] == ["ok"], procs.log("worker")
    assert sessions[0].started_at.timestamp() >= first + COALESCE  # it waited out the coalescing window
    assert pending_requests(redis) == {}
    assert session_queue("sync", redis).count == 0
    assert "push pass: 1 sessions enqueued" in procs.log("scheduler")


def test_requests_while_the_session_runs_make_exactly_one_more(engine, world, redis, procs, mailbox_id):
    outlook = world.outlook()
    for i in range(3):
        outlook.create(f"Pushed meeting {i}", at(1 + i, 9), at(1 + i, 10))
    world.set_exchange_faults(latency_ms=700)  # a session of several seconds
    procs.start("worker", "worker", "--name", "push-again")
    procs.start("scheduler", "scheduler")
    request_sync(redis, mailbox_id, source="ews")
    _wait(lambda: any(s.status == "running" for s in _sessions(engine, mailbox_id)), 60, "the first session")
    for _ in range(10):
        request_sync(redis, mailbox_id, source="graph")
        time.sleep(0.1)
    world.set_exchange_faults(latency_ms=0)
    _wait(_finished(engine, mailbox_id, 2), 120, "the second session")
    time.sleep(COALESCE + 3)
    sessions = _sessions(engine, mailbox_id)
    assert [s.status for s in sessions] == ["ok", "ok"], procs.log("worker")
    assert sessions[1].started_at >= sessions[0].finished_at
    assert sessions[0].counts["created"]["salesforce"] == 3 and sessions[1].writes == 0
    assert pending_requests(redis) == {}


def _notifications(calendar, subscription: str, watermark: str) -> list[tuple[str, str | None]]:
    """What the calendar's pull subscription reports: (item id, change key) per item event."""
    found = []
    for notification in calendar.get_events(subscription, watermark):
        for event in notification.events:
            item = getattr(event, "item_id", None)
            if item is not None:
                found.append((item.id, item.changekey))
    return found


def test_own_writes_enqueue_nothing_and_a_user_edit_after_them_does(engine, world, redis, procs, mailbox_id):
    outlook, salesforce = world.outlook(), world.salesforce()
    for i in range(3):
        outlook.create(f"Outlook meeting {i}", at(1 + i, 9), at(1 + i, 10))
    for i in range(2):
        start, owner = at(2 + i, 14), world.rep.salesforce_user_id
        salesforce.create_event(Subject=f"Salesforce call {i}", StartDateTime=start,
                                EndDateTime=start + dt.timedelta(hours=1), OwnerId=owner)  # fmt: skip
    subscription, watermark = outlook.calendar.subscribe_to_pull(event_types=["CreatedEvent", "ModifiedEvent"])
    time.sleep(1.1)  # SystemModstamp has whole seconds: the user's creates are all before ``started``
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert enqueue_session(session_queue("sync", redis), mailbox_id, ScheduleConfig()) == "enqueued"
    procs.run("worker", "worker", "--burst", "--name", "push-echo")
    (session,) = _sessions(engine, mailbox_id)
    assert session.status == "ok" and session.counts["created"] == {"salesforce": 3, "exchange": 2}

    # The listener's rule on every notification our session caused: an echo, or a request.
    exchange_notes = _notifications(outlook.calendar, subscription, watermark)
    assert len(exchange_notes) >= 2  # at least the two items created in Outlook
    salesforce_rows = salesforce.records("Event", where=f"SystemModstamp >= {started:%Y-%m-%dT%H:%M:%SZ}")
    assert len(salesforce_rows) >= 3
    not_echo = []
    for item_id, change_key in exchange_notes:
        if not is_echo(redis, mailbox_id, "exchange", item_id, change_key):
            not_echo.append(("exchange", item_id, change_key))
            request_sync(redis, mailbox_id, source="ews")
    for row in salesforce_rows:
        stamp = row["SystemModstamp"]
        stamp = sf_datetime(stamp) if isinstance(stamp, dt.datetime) else stamp  # as the REST API spells it
        if not is_echo(redis, mailbox_id, "salesforce", row["Id"], stamp):
            not_echo.append(("salesforce", row["Id"], stamp))
            request_sync(redis, mailbox_id, source="salesforce")
    assert not_echo == [], (not_echo, exchange_notes, sorted(k.decode() for k in redis.keys("calsync:push:echo:*")))
    assert pending_requests(redis) == {}
    assert "enqueued for push requests 0" in procs.run("scheduler", "scheduler", "--once")
    assert session_queue("sync", redis).count == 0

    # Latency samples of that session: one per item carried across, measured from the edit.
    with engine.factory() as db:
        samples = list(db.scalars(select(LatencySample).where(LatencySample.mailbox_id == mailbox_id)))
    assert sorted(s.direction for s in samples) == sorted([TO_OUTLOOK] * 2 + [TO_SALESFORCE] * 3)
    assert all(0 <= s.seconds < 120 and s.trigger == "schedule" for s in samples)

    # The user moves a meeting right after: not an echo, one session.
    meeting = outlook.find("Outlook meeting 0")
    outlook.edit(meeting["id"], subject="Outlook meeting 0 (moved)")
    edited = _notifications(outlook.calendar, subscription, watermark)  # a queue: only what came since
    assert edited and not any(is_echo(redis, mailbox_id, "exchange", i, ck) for i, ck in edited)
    request_sync(redis, mailbox_id, source="ews", now=time.time() - BATCH)
    assert "enqueued for push requests 1" in procs.run("scheduler", "scheduler", "--once")


def test_the_safety_interval_follows_push_health(engine, redis, procs, mailbox_id):
    record_channel(redis, mailbox_id, "ews-streaming", "up", "listener test", ttl=600)
    queue = session_queue("sync", redis)
    assert enqueue_session(queue, mailbox_id, ScheduleConfig()) == "enqueued"
    procs.run("worker", "worker", "--burst", "--name", "push-healthy")
    (session,) = _sessions(engine, mailbox_id)
    with engine.factory() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        interval, next_at = mailbox.sync_interval_minutes, mailbox.next_sync_at
    assert interval == 360
    assert abs((next_at - session.finished_at).total_seconds() - 6 * 3600) < 60

    # The listener dies: its heartbeat expires, and the scheduler's pass brings the next session forward.
    record_channel(redis, mailbox_id, "ews-streaming", "up", "listener test", ttl=1)
    time.sleep(1.2)
    assert "back to fallback polling 1" in procs.run("scheduler", "scheduler", "--once")
    with engine.factory() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        assert mailbox.sync_interval_minutes == 30
        assert abs((mailbox.next_sync_at - session.finished_at).total_seconds() - 30 * 60) < 60
        mailbox.next_sync_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # not due: the next one is by hand
        db.commit()
    # The next session, push still down: 30 minutes again.
    assert enqueue_session(queue, mailbox_id, ScheduleConfig()) == "enqueued"
    procs.run("worker", "worker", "--burst", "--name", "push-down")
    second = _sessions(engine, mailbox_id)[-1]
    with engine.factory() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        assert mailbox.sync_interval_minutes == 30
        assert abs((mailbox.next_sync_at - second.finished_at).total_seconds() - 30 * 60) < 60


def test_outlook_edits_of_several_mailboxes_in_one_window_share_one_salesforce_write(engine, world, redis, procs):
    """Batched writes (docs/push.md): four mailboxes' Outlook changes within the batching window run as one group
    job in the worker; their four creates are one sObject Collections call, each session's record is its own."""
    from sandbox.seed import REPS
    from sync.session import run_session

    emails = [rep.email for rep in REPS]
    ids = []
    for email in emails[1:]:
        engine.add_mailbox(email)
    for email in emails:
        assert run_session(engine.factory, email, **engine.connectors(email)).status == "ok"
        with engine.factory() as db:
            mailbox = mailboxes.find(db, email)
            mailbox.next_sync_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
            db.commit()
            ids.append(mailbox.id)
    procs.env.update(CALSYNC_PUSH_BATCH_SECONDS="4")
    procs.start("worker", "worker", "--name", "push-group")
    procs.start("scheduler", "scheduler")
    before = world.salesforce_requests()
    first = time.time()
    for n, (email, mailbox_id) in enumerate(zip(emails, ids, strict=True)):
        world.outlook(email).create(f"Grouped {n}", at(2, 9 + n), at(2, 10 + n))
        request_sync(redis, mailbox_id, source="ews" if n % 2 else "graph")  # as the listener / webhook would
    _wait(lambda: all(_finished(engine, m, 2)() for m in ids), 120, "the four push sessions")
    counted = world.salesforce_requests() - before
    pushed = [_sessions(engine, m)[-1] for m in ids]
    assert [s.status for s in pushed] == ["ok"] * 4, procs.log("worker")
    assert all(s.trigger == "push" and s.counts["created"]["salesforce"] == 1 for s in pushed)
    assert min(s.started_at.timestamp() for s in pushed) >= first + 4  # they waited out the batching window
    assert counted["collection_upsert"] == 1, dict(counted)  # one call for the four mailboxes' creates
    # The records' counters add up to what Salesforce counted: the shared call once, on one session.
    assert sum(s.api_calls["salesforce"] for s in pushed) == sum(counted.values()), dict(counted)
    assert "4 mailboxes in 1 group jobs" in procs.log("scheduler")
    for n, (email, mailbox_id) in enumerate(zip(emails, ids, strict=True)):
        event = world.salesforce(email).find_event(f"Grouped {n}")
        assert event is not None
        # Each mailbox recorded its own write of the shared call: the scan's row for it is an echo of that mailbox.
        stamp = event["SystemModstamp"]
        stamp = sf_datetime(stamp) if isinstance(stamp, dt.datetime) else stamp
        assert is_echo(redis, mailbox_id, "salesforce", event["Id"], stamp)
        assert not is_echo(redis, ids[(n + 1) % 4], "salesforce", event["Id"], stamp)
    time.sleep(COALESCE + 3)
    assert pending_requests(redis) == {}
    assert all(len(_sessions(engine, m)) == 2 for m in ids)  # no second session of any of them
    assert session_queue("sync", redis).count == 0
