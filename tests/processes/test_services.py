"""Services failing under a running session: Redis restarted (every key lost) while a real worker process runs
the session; the database connection terminated by PostgreSQL in the middle of a session. Each time the
session is retried, converges, and nothing is duplicated or lost (docs/invariants.md #6, #7, #10)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from redis import Redis
from sqlalchemy import event, select

from calsync.settings import Settings
from sync import mailboxes
from sync.job_queue import session_queue
from sync.models import SyncSession
from sync.schedule import enqueue_session, schedule_config
from sync.session import run_session
from tests.e2e.actors import at
from tests.e2e.engine import Engine
from tests.processes.conftest import terminate_connections

ROOT = Path(__file__).resolve().parents[2]
UP, DOWN = 12, 8


def _make_items(world) -> None:
    outlook, salesforce = world.outlook(), world.salesforce()
    for i in range(UP):
        outlook.create(f"Outlook meeting {i}", at(1 + i % 5, 9 + i % 8), at(1 + i % 5, 10 + i % 8))
    for i in range(DOWN):
        start = at(2 + i % 4, 13 + i % 3)
        salesforce.create_event(
            Subject=f"Salesforce call {i}", StartDateTime=start, EndDateTime=start + dt.timedelta(hours=1)
        )


def _assert_converged(world, engine: Engine) -> None:
    quiet = engine.converge(3)
    assert quiet.writes == 0
    again = engine.sync()
    assert again.writes == 0, again.to_json()  # docs/invariants.md #9
    subjects = Counter(e["Subject"] for e in world.salesforce().events())
    assert len(subjects) == UP + DOWN and set(subjects.values()) == {1}, subjects
    items = Counter(i["subject"] for i in world.outlook().items("Salesforce"))
    assert len(items) == UP + DOWN and set(items.values()) == {1}, items
    assert {link.state for link in engine.links()} == {"active"}


def _worker(env: dict[str, str], log: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "calsync.cli", "worker", "--burst", "--name", name],
        env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _session_enqueued(world, engine, own_redis, sandbox_info_file, **env_overrides: str):
    """The Redis-restart tests' start: items on both sides, the workers' environment on ``own_redis`` (2-second
    locks), one session of the rep's mailbox enqueued, and Exchange slowed so that the restart lands after the
    Salesforce creates and before the Exchange writes. Returns the environment, the schedule's config, the
    mailbox's id and a Redis client."""
    _make_items(world)
    env = dict(os.environ)
    env.update(
        CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=engine.settings.database_url,
        REDIS_URL=own_redis.url, CALSYNC_LOCK_TTL="2", PYTHONPATH=str(ROOT), **env_overrides,
    )  # fmt: skip
    config = schedule_config(Settings.from_env(env))
    with engine.factory() as db:
        mailbox_id = mailboxes.find(db, engine.email).id
    redis = Redis.from_url(own_redis.url)
    assert enqueue_session(session_queue(config.queue, redis), mailbox_id, config) == "enqueued"
    world.set_exchange_faults(latency_ms=400)
    return env, config, mailbox_id, redis


def test_redis_restarted_mid_session_the_session_runs_again_and_converges(
    world, engine, own_redis, sandbox_info_file, tmp_path
):
    env, config, mailbox_id, redis = _session_enqueued(
        world, engine, own_redis, sandbox_info_file, CALSYNC_JOB_RETRIES="2", CALSYNC_JOB_RETRY_INTERVALS="0"
    )
    sandbox = world.sandboxes.salesforce
    writes_before = sandbox.writes
    first = _worker(env, tmp_path / "worker1.log", "before-restart")
    try:
        deadline = time.monotonic() + 60
        while sandbox.writes == writes_before and first.poll() is None:
            assert time.monotonic() < deadline, "the session never wrote to Salesforce"
            time.sleep(0.02)
        own_redis.restart(down_for=1.0)  # queue, job, lock and progress are gone
        first.wait(90)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    world.set_exchange_faults(latency_ms=0)
    redis.close()

    # The scheduler (or a person) asks again: the session runs on a fresh Redis and finishes the job.
    redis = Redis.from_url(own_redis.url)
    # Nothing of the session survived; only the first worker, which waited for Redis, registered again.
    left = sorted(k.decode() for k in redis.keys())
    assert all(k.startswith("rq:worker") for k in left), left
    assert enqueue_session(session_queue(config.queue, redis), mailbox_id, config) == "enqueued"
    second = _worker(env, tmp_path / "worker2.log", "after-restart")
    assert second.wait(90) == 0, (tmp_path / "worker2.log").read_text()
    redis.close()
    with engine.factory() as db:
        statuses = [r.status for r in db.scalars(select(SyncSession).order_by(SyncSession.id))]
    # The first session did not need Redis to finish its work (progress and lock renewal only warn).
    assert statuses[0] == "ok", (statuses, (tmp_path / "worker1.log").read_text()[-3000:])
    _assert_converged(world, engine)
    world.assert_no_meeting_messages()


def test_database_connection_terminated_while_link_rows_are_written_then_retried_converges(
    world, sandbox_info_file, postgres_url
):
    settings = Settings.from_env(
        {"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": postgres_url}
    )
    engine = Engine(settings, world, world.rep.email)
    _make_items(world)
    terminated: list[int] = []

    # The moment the Applier starts writing the link rows of the pairs it created (both remote creates done, the
    # links still pending), PostgreSQL drops every connection of ours, as a failover or an admin would.
    def drop(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("UPDATE LINKS") and not terminated:
            terminated.append(terminate_connections(postgres_url))

    bind = engine.factory.kw["bind"]
    event.listen(bind, "before_cursor_execute", drop)
    try:
        result = run_session(engine.factory, engine.email, **engine.connectors())
    finally:
        event.remove(bind, "before_cursor_execute", drop)
    assert terminated and terminated[0] >= 1
    # The session noticed (it could not commit its links), said so, and its row was still written.
    assert result.status == "failed" and "internal error" in (result.error or ""), result.to_json()
    with engine.factory() as db:
        rows = list(db.scalars(select(SyncSession)))
    assert [r.status for r in rows] == ["failed"]
    assert "pending" in {link.state for link in engine.links()}
    assert len(world.salesforce().events()) == DOWN + UP  # the creates landed before the drop
    _assert_converged(world, engine)  # the retry finds its pending creates by sync key: no duplicate
    world.assert_no_meeting_messages()


def test_database_connection_terminated_between_sessions_is_invisible(world, sandbox_info_file, postgres_url):
    settings = Settings.from_env(
        {"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": postgres_url}
    )
    engine = Engine(settings, world, world.rep.email)
    _make_items(world)
    engine.sync()
    assert terminate_connections(postgres_url) >= 1  # the pooled connections die while idle
    world.outlook().create("After the drop", at(3, 15), at(3, 16))
    result = engine.sync()  # pre-ping replaces the dead connections
    assert result.status == "ok" and result.created["salesforce"] == 1, result.to_json()
    assert world.salesforce().find_event("After the drop") is not None


def test_a_worker_rides_out_a_redis_restart_and_runs_the_next_session(
    world, engine, own_redis, sandbox_info_file, tmp_path
):
    """RQ's loop quits on the first ConnectionError after a job; calsync's worker waits for Redis and carries on
    (found by the chaos soak, docs/soak.md): the same process runs the session enqueued after the restart."""
    env, config, mailbox_id, redis = _session_enqueued(
        world, engine, own_redis, sandbox_info_file, CALSYNC_JOB_RETRIES="0"
    )
    sandbox = world.sandboxes.salesforce
    writes_before = sandbox.writes
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "calsync.cli", "worker", "--name", "rides-out"],
        env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while sandbox.writes == writes_before:
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the session never wrote to Salesforce"
            time.sleep(0.02)
        own_redis.restart(down_for=1.0)
        world.set_exchange_faults(latency_ms=0)
        with engine.factory() as db:  # the first session finishes without Redis
            deadline = time.monotonic() + 90
            while db.scalars(select(SyncSession.status).order_by(SyncSession.id)).first() in (None, "running"):
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
                db.expire_all()
        redis.close()
        redis = Redis.from_url(own_redis.url)
        assert enqueue_session(session_queue(config.queue, redis), mailbox_id, config) == "enqueued"
        deadline = time.monotonic() + 90
        with engine.factory() as db:
            while len(db.scalars(select(SyncSession).where(SyncSession.status != "running")).all()) < 2:
                assert worker.poll() is None, log.read_text()[-3000:]  # still alive: it waited for Redis
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
                db.expire_all()
        assert "has Redis again" in log.read_text()
    finally:
        worker.terminate()
        worker.wait(30)
        redis.close()
    _assert_converged(world, engine)
