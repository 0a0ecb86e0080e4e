"""The EWS listener in this process (`sync.push.listener.Listener` on `EwsBackend`) against the EWS sandbox over
HTTP through exchangelib, a real Redis and the test database: streaming events request sessions, our own
writes do not, connections are reopened at the end of their lifetime without losing events, pull subscriptions
resume from their watermark, subscriptions lost on the server are recreated with a catch-up session, and two
listeners split the mailboxes and take over from each other. The real processes are in
tests/processes/test_listener_processes.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sandbox.seed import REPS
from sync import mailboxes
from sync.jobs import MailboxLock
from sync.push import exchange_push_state, record_writes
from sync.push.ews_streaming import CALLS, EwsBackend
from sync.push.leases import lease_key, load_subscription
from sync.push.listener import Listener, ListenerConfig
from sync.push.requests import pending_requests, take_request
from tests.e2e.actors import at
from tests.listener.conftest import expire_subscriptions


def _config(**kw) -> ListenerConfig:
    values = {"interval": 0.3, "connection_minutes": 1, "lease_ttl": 2, "pull_timeout_minutes": 5,
              "heartbeat_ttl": 30, "defer_max": 30.0}  # fmt: skip
    values.update(kw)
    return ListenerConfig(**values)


def _listener(redis, engine, name: str, *, retry_seconds: float = 10.0, **kw) -> Listener:
    backend = EwsBackend(engine.runtime.exchange, retry_seconds=retry_seconds)
    return Listener(redis, engine.factory, backend, _config(**kw), name=name)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Running:
    """A listener's `run` loop on a thread, stopped at the end."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.stop = threading.Event()
        self.thread = threading.Thread(target=listener.run, kwargs={"stop": self.stop}, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self.listener

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive()


def _mailbox_id(engine, email: str | None = None) -> int:
    with engine.factory() as db:
        return mailboxes.find(db, email or engine.email).id


@pytest.fixture
def mid(engine) -> int:
    return _mailbox_id(engine)


def _served(redis, mailbox_id: int) -> bool:
    """Take the mailbox's pending request, as its session would: True if there was one."""
    return take_request(redis, mailbox_id, started=time.time() + 1).requested


def test_a_streamed_change_requests_a_session_across_reconnects(world, engine, redis, fast_minutes, mid):
    outlook = world.outlook()
    listener = _listener(redis, engine, "solo")
    status = listener.tick()
    assert (status["mailboxes"], status["streaming"], status["pull"]) == (1, 1, 0)
    # A new subscription asks for one catch-up session: the edits before it were heard by nobody.
    assert _served(redis, mid) and status["gaps"] == 1
    saved = load_subscription(redis, mid)
    assert saved["kind"] == "streaming" and saved["id"]
    with Running(listener):
        outlook.create("Moved in Outlook", at(1, 9), at(1, 10))
        _wait(lambda: mid in pending_requests(redis), 10, "the session request")
        assert _served(redis, mid)
        # Connections last one sandbox minute (1 s): after a few, an edit still arrives on the same subscription.
        _wait(lambda: listener.stats.connections >= 3, 10, "reconnects at the end of each connection's lifetime")
        outlook.create("After reconnects", at(2, 9), at(2, 10))
        _wait(lambda: mid in pending_requests(redis), 10, "the request after reconnects")
        assert exchange_push_state(redis, mid) == "up"
    assert load_subscription(redis, mid)["id"] == saved["id"]  # one subscription throughout
    assert listener.stats.lost == 0
    assert not redis.exists(lease_key(mid))  # handed over at shutdown
    assert CALLS.snapshot()["GetStreamingEvents"] >= 3


def test_our_own_writes_request_nothing_while_foreign_edits_do(world, engine, redis, fast_minutes, mid):
    outlook = world.outlook()
    listener = _listener(redis, engine, "echoes")
    listener.tick()
    assert _served(redis, mid)
    with Running(listener):
        # What a session does: under the mailbox lock, write, then record the writes (id, change key).
        with MailboxLock(redis, mid, 30) as lock:
            assert lock.held
            item_id = outlook.create("Written by our session", at(3, 9), at(3, 10))
            time.sleep(0.5)  # the events arrive meanwhile and wait for the session's end
            record_writes(redis, mid, "exchange", [(item_id, outlook.get(item_id)["changekey"])])
        _wait(lambda: listener.stats.echoes >= 1, 10, "the echo to be judged")
        time.sleep(0.5)
        assert mid not in pending_requests(redis)
        outlook.edit(item_id, subject="Edited by the rep")  # a new change key: not ours
        _wait(lambda: mid in pending_requests(redis), 10, "the request for the rep's edit")
    assert listener.stats.requests == 1


def test_pull_resumes_from_its_watermark_after_a_restart_and_an_expiry(world, engine, redis, fast_minutes, mid):
    outlook = world.outlook()
    first = _listener(redis, engine, "pull-1", mode="pull")
    assert first.tick()["pull"] == 1
    assert _served(redis, mid)
    first.close()  # a clean stop: the watermark is exact
    outlook.create("While no listener ran", at(4, 9), at(4, 10))
    expire_subscriptions(world)  # and the server dropped the subscription meanwhile
    second = _listener(redis, engine, "pull-2", mode="pull")
    second.tick()  # resumes the saved subscription: lost, subscribes again from the saved watermark
    second.tick()  # GetEvents replays the edit made while nobody listened
    assert second.stats.lost == 1 and second.stats.gaps == 0  # nothing to cover: the watermark replayed it
    assert mid in pending_requests(redis)
    second.close()


def test_a_lost_streaming_subscription_is_recreated_and_the_gap_covered(world, engine, redis, fast_minutes, mid):
    outlook = world.outlook()
    first = _listener(redis, engine, "stream-1")
    first.tick()
    old = load_subscription(redis, mid)["id"]
    first.close()
    assert _served(redis, mid)
    outlook.create("While the subscription expired", at(5, 9), at(5, 10))
    expire_subscriptions(world)
    with Running(_listener(redis, engine, "stream-2")) as second:
        _wait(lambda: second.stats.lost == 1, 10, "the lost subscription to be noticed")
        _wait(lambda: load_subscription(redis, mid).get("id") not in ("", old), 10, "a new subscription")
        assert mid in pending_requests(redis)  # the catch-up session covers the edit nobody heard
        assert _served(redis, mid)
        outlook.create("On the new subscription", at(6, 9), at(6, 10))
        _wait(lambda: mid in pending_requests(redis), 10, "the request on the new subscription")


@pytest.fixture
def four_mailboxes(engine) -> Iterator[list[int]]:
    for rep in REPS[1:4]:
        engine.add_mailbox(rep.email)
    yield [_mailbox_id(engine, r.email) for r in REPS[:4]]


def test_two_listeners_split_the_mailboxes_and_one_takes_over_from_a_dead_one(
    world, engine, redis, fast_minutes, four_mailboxes
):
    a, b = _listener(redis, engine, "a"), _listener(redis, engine, "b")
    for _ in range(3):
        a.tick()
        b.tick()
    assert len(a.held) == len(b.held) == 2
    assert set(a.held) | set(b.held) == set(four_mailboxes)
    for listener in (a, b):
        for mailbox_id in listener.held:
            assert load_subscription(redis, mailbox_id)["holder"] == listener.name
    b_mailboxes = sorted(b.held)
    for mailbox_id in four_mailboxes:
        take_request(redis, mailbox_id, started=time.time() + 1)
    # b dies without a word: its connections go, its leases stay until they expire.
    for stream in b.streams:
        stream.retire(close=True)
    rep = next(r for r in REPS if _mailbox_id(engine, r.email) == b_mailboxes[0])
    world.outlook(rep.email).create("While b was dead", at(1, 11), at(1, 12))
    _wait(lambda: not any(redis.exists(lease_key(m)) for m in b_mailboxes), 5, "b's leases to expire")
    time.sleep(0.1)
    with Running(a):
        _wait(lambda: len(a.held) == 4, 10, "a to take every mailbox")
        # Resumed b's subscriptions (queued on the server meanwhile), plus one catch-up session each for what b
        # had received and not handled.
        for mailbox_id in b_mailboxes:
            _wait(lambda m=mailbox_id: m in pending_requests(redis), 10, f"the takeover request for {mailbox_id}")
        assert a.stats.lost == 0


def test_a_mailbox_whose_streaming_keeps_failing_falls_back_to_pull(world, engine, redis, fast_minutes, mid):
    outlook = world.outlook()
    # Every GetStreamingEvents answers IIS's "Server Error in '/EWS' Application" (exchangelib retries it
    # within the listener's short retry budget, then gives up).
    world.set_exchange_faults(http_500_rate=1.0, operations=["GetStreamingEvents"])
    listener = _listener(redis, engine, "fallback", stream_failures=3, retry_seconds=0.5)
    with Running(listener):
        _wait(lambda: listener.held.get(mid) is not None and listener.held[mid].kind == "pull", 30,
              "the fall-back to pull")  # fmt: skip
        _wait(lambda: exchange_push_state(redis, mid) == "up", 10, "the pull channel to be up")
        assert _served(redis, mid)  # the new pull subscription's catch-up session
        outlook.create("Heard by pull", at(7, 9), at(7, 10))
        _wait(lambda: mid in pending_requests(redis), 10, "the request from GetEvents")
    assert load_subscription(redis, mid)["kind"] == "pull"
    assert CALLS.snapshot()["GetEvents"] >= 1
