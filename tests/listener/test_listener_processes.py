"""Real processes: ``calsync listener``, ``calsync scheduler`` and ``calsync worker`` against the sandboxes over
HTTP, Redis (db 7) and the test database. An Outlook edit reaches Salesforce through a streaming notification
without any periodic session; our own writes request nothing; a listener SIGKILLed mid-stream and started again
misses nothing (its subscription resumed), also when the server expired the subscription meanwhile (recreated,
the gap covered by one session); two listeners split the mailboxes and one takes over when the other dies."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from sandbox.seed import REPS
from sync import mailboxes
from sync.models import Mailbox, SyncSession
from sync.push import exchange_push_state
from sync.push.health import status_key
from sync.push.leases import load_subscription
from sync.push.requests import pending_requests, take_request
from tests.e2e.actors import at
from tests.listener.conftest import REDIS_URL, expire_subscriptions

ROOT = Path(__file__).resolve().parents[2]
CALSYNC = str(Path(sys.executable).with_name("calsync"))


def _env(sandbox_info_file: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CALSYNC_ENV="test", CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL, PYTHONPATH=str(ROOT), CALSYNC_LOCK_TTL="5", CALSYNC_JOB_RETRIES="0",
        CALSYNC_LISTENER_INTERVAL="0.5", CALSYNC_LISTENER_LEASE_TTL="3", CALSYNC_LISTENER_CONNECTION_MINUTES="1",
        CALSYNC_PUSH_COALESCE_SECONDS="0.5", CALSYNC_PUSH_PASS_SECONDS="0.3", CALSYNC_SCHEDULER_INTERVAL="1",
    )  # fmt: skip
    return env


class Processes:
    """Started processes, each with its log; all stopped at the end of the test."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("a")
        process = subprocess.Popen([CALSYNC, *args], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.running[name] = process
        return process

    def listener(self, name: str) -> subprocess.Popen:
        return self.start(name, "listener", "--name", name, "--log-level", "DEBUG")

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.terminate()
        for process in self.running.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.running.clear()


@pytest.fixture
def processes(sandbox_info_file, engine, redis, tmp_path, fast_minutes) -> Iterator[Processes]:
    procs = Processes(_env(sandbox_info_file, engine.settings.database_url), tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


# A process's start (imports, migrations) takes seconds, and more on a loaded machine.
STARTUP = 120


def _wait(predicate, timeout: float, what: str, procs: Processes | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            logs = "".join(f"\n--- {n}\n{procs.log(n)[-3000:]}" for n in procs.running) if procs else ""
            raise AssertionError(f"timed out waiting for {what}{logs}")
        time.sleep(0.1)


def _mailbox_id(engine, email: str | None = None) -> int:
    with engine.factory() as db:
        return mailboxes.find(db, email or engine.email).id


def _no_periodic_sessions(engine) -> None:
    """Every mailbox's next periodic session a day away: whatever runs now was asked for by a notification."""
    with engine.factory() as db:
        db.execute(update(Mailbox).values(next_sync_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))
        db.commit()


def _sessions(engine) -> int:
    with engine.factory() as db:
        return db.scalar(select(func.count()).select_from(SyncSession))


def _listening(engine, redis, processes, listener: str) -> int:
    """The rep's mailbox converged with no periodic session due, a worker, a scheduler and the listener
    ``listener`` running, and its streaming channel up; returns the mailbox's id."""
    engine.converge()
    _no_periodic_sessions(engine)
    mid = _mailbox_id(engine)
    processes.start("worker", "worker", "--name", "push-worker")
    processes.start("scheduler", "scheduler", "--interval", "1")
    processes.listener(listener)
    _wait(lambda: exchange_push_state(redis, mid) == "up", STARTUP, "the streaming channel to be up", processes)
    return mid


def _status(redis, name: str) -> dict:
    raw = redis.get(status_key("listener", name))
    return json.loads(raw) if raw else {}


def test_an_outlook_edit_reaches_salesforce_through_the_listener_and_our_writes_request_nothing(
    world, engine, redis, processes
):
    outlook, salesforce = world.outlook(), world.salesforce()
    mid = _listening(engine, redis, processes, "listener")
    # The new subscription's catch-up session runs and finds nothing.
    _wait(lambda: _sessions(engine) >= 2 and mid not in pending_requests(redis), 60, "the catch-up session",
          processes)  # fmt: skip

    outlook.create("Booked in Outlook", at(1, 9), at(1, 10))
    _wait(lambda: salesforce.find_event("Booked in Outlook") is not None, 60, "the event in Salesforce", processes)
    event_id = salesforce.find_event("Booked in Outlook")["Id"]
    item_id = outlook.find("Booked in Outlook")["id"]
    outlook.edit(item_id, subject="Moved in Outlook")
    _wait(lambda: (salesforce.get("Event", event_id) or {}).get("Subject") == "Moved in Outlook", 60,
          "the edit in Salesforce", processes)  # fmt: skip

    # A session that writes to Exchange (a Salesforce event, synced on demand) requests no second session: the
    # notifications of its own writes are echoes.
    _wait(lambda: mid not in pending_requests(redis), 10, "the queue to drain", processes)
    time.sleep(2)
    before = _sessions(engine)
    echoes = _status(redis, "listener")["echoes"]
    start = at(2, 14)
    end = start + dt.timedelta(hours=1)
    salesforce.create_event(Subject="Booked in Salesforce", StartDateTime=start, EndDateTime=end,
                            OwnerId=world.rep.salesforce_user_id)  # fmt: skip
    subprocess.run([CALSYNC, "enqueue", engine.email], env=processes.env, cwd=ROOT, check=True, capture_output=True)
    _wait(lambda: outlook.find("Booked in Salesforce") is not None, 60, "the item in Outlook", processes)
    _wait(lambda: _status(redis, "listener")["echoes"] > echoes, 15, "the echo of our write", processes)
    time.sleep(3)  # a wrongly requested session would be enqueued and run by now
    assert _sessions(engine) == before + 1
    assert mid not in pending_requests(redis)
    status = _status(redis, "listener")
    assert status["streaming"] == 1 and status["lost"] == 0 and status["ews_calls"]["GetStreamingEvents"] >= 2


def test_a_sigkilled_listener_misses_nothing_after_a_restart_even_if_the_subscription_expired(
    world, engine, redis, processes
):
    outlook, salesforce = world.outlook(), world.salesforce()
    mid = _listening(engine, redis, processes, "first")
    subscription = load_subscription(redis, mid)["id"]
    outlook.create("Heard mid-stream", at(1, 9), at(1, 10))
    _wait(lambda: salesforce.find_event("Heard mid-stream") is not None, 60, "the first edit", processes)

    processes.kill("first")  # mid-stream: its connection is open
    outlook.create("Made while the listener was dead", at(1, 11), at(1, 12))
    processes.listener("second")
    _wait(lambda: salesforce.find_event("Made while the listener was dead") is not None, STARTUP,
          "the edit made while it was down", processes)  # fmt: skip
    assert f"resuming streaming subscription {subscription[-10:]}" in processes.log("second")
    assert load_subscription(redis, mid)["id"] == subscription

    processes.kill("second")
    outlook.create("Made while the subscription expired", at(1, 13), at(1, 14))
    expire_subscriptions(world)
    processes.listener("third")
    _wait(lambda: salesforce.find_event("Made while the subscription expired") is not None, STARTUP,
          "the edit made while the subscription expired", processes)  # fmt: skip
    log = processes.log("third")
    assert "streaming subscription lost on the server (ErrorExpiredSubscription)" in log, log
    _wait(lambda: load_subscription(redis, mid).get("id") not in ("", subscription), 10, "a new subscription")
    outlook.create("On the new subscription", at(1, 15), at(1, 16))
    _wait(lambda: salesforce.find_event("On the new subscription") is not None, 60, "an edit on the new one",
          processes)  # fmt: skip


def test_two_listener_processes_split_the_mailboxes_and_one_takes_over_from_the_other(world, engine, redis, processes):
    for rep in REPS[1:4]:
        engine.add_mailbox(rep.email)
    ids = {_mailbox_id(engine, r.email): r.email for r in REPS[:4]}
    processes.listener("left")
    processes.listener("right")
    _wait(lambda: _status(redis, "left").get("mailboxes") == 2 and _status(redis, "right").get("mailboxes") == 2,
          STARTUP, "an even split", processes)  # fmt: skip
    holders = {m: load_subscription(redis, m).get("holder") for m in ids}
    assert sorted(holders.values()) == ["left", "left", "right", "right"]
    for m in ids:
        _wait(lambda m=m: exchange_push_state(redis, m) == "up", 15, f"mailbox {m}'s channel", processes)
    processes.kill("right")
    orphans = [m for m, h in holders.items() if h == "right"]
    _wait(lambda: _status(redis, "left").get("mailboxes") == 4, 30, "left to take every mailbox", processes)
    for m in ids:
        take_request(redis, m, started=time.time() + 1)
    world.outlook(ids[orphans[0]]).create("After the takeover", at(2, 9), at(2, 10))
    _wait(lambda: orphans[0] in pending_requests(redis), 15, "the request from the surviving listener", processes)
    assert set(pending_requests(redis)) == {orphans[0]}
    assert all(load_subscription(redis, m)["holder"] == "left" for m in ids)
