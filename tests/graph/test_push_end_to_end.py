"""Graph change notifications end to end, with real processes: the web app over HTTPS as Graph's webhook, the
keeper's subscription in the Graph sandbox, a real ``calsync scheduler`` (its push pass) and ``calsync worker``.
An Outlook edit in a Graph mailbox reaches Salesforce without any periodic session (the mailbox's next periodic
session is hours away); a session's own write to Outlook is notified by Graph and enqueues nothing more."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from sync import mailboxes
from sync.models import SyncSession
from sync.push import request_sync
from sync.push.requests import PENDING_KEY
from tests.e2e.actors import at

from .push_support import pending, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "calsync.cli", *args], env=env, cwd=ROOT,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _sessions(engine) -> list[SyncSession]:
    with engine.factory() as db:
        mailbox = mailboxes.find(db, engine.email)
        return list(db.scalars(select(SyncSession).where(SyncSession.mailbox_id == mailbox.id)
                               .order_by(SyncSession.id)))  # fmt: skip


@dataclass(frozen=True)
class _Running:
    mailbox_id: int
    before: int  # the mailbox's sessions before the processes started
    worker_log: Path


@contextmanager
def _push_processes(gengine, keeper, webhook, redis, sandbox_info_file: Path, tmp_path: Path,
                    worker_name: str) -> Iterator[_Running]:  # fmt: skip
    """The mailbox synced once and subscribed, its next periodic session hours away, then a real worker and
    scheduler (a fast push pass) until the block ends."""
    gengine.sync()  # the mailbox's first (full) session: links and the delta cursor exist
    assert keeper.tick().created == 1
    redis.delete(PENDING_KEY)  # the catch-up request: nothing changed since that session
    with gengine.factory() as db:
        mailbox = mailboxes.find(db, gengine.email)
        mailbox.next_sync_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)  # the stretched safety interval
        db.commit()
        mailbox_id = mailbox.id
    before = len(_sessions(gengine))
    env = dict(os.environ)
    env.update(
        CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=gengine.settings.database_url,
        REDIS_URL=gengine.settings.redis_url, CALSYNC_PUSH_PASS_SECONDS="0.5", CALSYNC_PUSH_COALESCE_SECONDS="1",
        CALSYNC_PUBLIC_URL=webhook.url, PYTHONPATH=str(ROOT),
    )  # fmt: skip
    worker_log, scheduler_log = tmp_path / "worker.log", tmp_path / "scheduler.log"
    worker = _process(["worker", "--name", worker_name], env, worker_log)
    scheduler = _process(["scheduler", "--interval", "60"], env, scheduler_log)
    try:
        # Both processes up (their imports take seconds on a busy machine): the latency is the path's only.
        wait_until(lambda: "Listening on" in worker_log.read_text(), timeout=120, what="the worker")
        wait_until(lambda: "is the leader" in scheduler_log.read_text(), timeout=120, what="the scheduler")
        yield _Running(mailbox_id, before, worker_log)
    finally:
        _stop(scheduler)
        _stop(worker)


def test_an_outlook_edit_reaches_salesforce_through_the_webhook_without_a_periodic_session(
    gengine, world, keeper, webhook, redis, sandbox_info_file, tmp_path
):
    with _push_processes(gengine, keeper, webhook, redis, sandbox_info_file, tmp_path, "graph-push") as run:
        mailbox_id, before = run.mailbox_id, run.before
        edited = time.time()
        world.outlook().create("Pushed from Outlook", at(2, 10), at(2, 11))
        event = wait_until(lambda: world.salesforce().find_event("Pushed from Outlook"), timeout=60,
                           what="the Outlook item in Salesforce")  # fmt: skip
        assert event is not None
        wait_until(lambda: len(_sessions(gengine)) > before and _sessions(gengine)[-1].status != "running",
                   what="the session's end")  # fmt: skip

        [first] = _sessions(gengine)[before:]
        assert first.status == "ok", first.error
        latency = first.finished_at.timestamp() - edited  # the Outlook edit → its session wrote Salesforce

        # A Salesforce change (the org scan asks for the session) is written to Outlook through Graph: Graph
        # notifies that write, and the webhook knows it for our own (the session recorded its change key).
        world.salesforce().create_event(Subject="Pushed from Salesforce", StartDateTime=at(3, 9),
                                        EndDateTime=at(3, 10))  # fmt: skip
        seen = len(webhook.deliveries("change"))
        request_sync(redis, mailbox_id, source="salesforce")
        wait_until(lambda: world.outlook().find("Pushed from Salesforce"), timeout=60, what="the item in Outlook")
        wait_until(lambda: len(_sessions(gengine)) == before + 2 and _sessions(gengine)[-1].status != "running",
                   what="the second session's end")  # fmt: skip
        wait_until(lambda: len(webhook.deliveries("change")) > seen, what="Graph's notification of our write")
        time.sleep(3)  # more than the coalescing window and a push pass: nothing may be enqueued
        assert pending(redis) == {}
        sessions = _sessions(gengine)[before:]
        assert [s.status for s in sessions] == ["ok", "ok"], [(s.status, s.error) for s in sessions]
    log = run.worker_log.read_text()
    jobs = [line for line in log.splitlines() if "Successfully completed sync mailbox" in line]
    assert len(jobs) == 2 and all("(push)" in line for line in jobs), log[-3000:]
    counters = {k.decode(): int(v) for k, v in redis.hgetall("calsync:push:graph:webhook").items()}
    assert counters.get("echoes", 0) >= 1 and counters.get("client_state_mismatch", 0) == 0, counters
    print(f"edit → Salesforce through the Graph webhook: {latency:.1f} s; webhook counters {counters}")


def _delta_rounds(graph_admin, mailbox: str, since: int) -> list[str]:
    """The kind of each calendarView/delta request for ``mailbox`` from call ``since`` on: ``full`` (a new round
    from startDateTime: no cursor trusted), ``incremental`` ($deltatoken) or ``page`` ($skiptoken)."""
    kinds = []
    for call in graph_admin.calls()[since:]:
        if call["operation"] != "calendarView.delta" or (call["mailbox"] or "").lower() != mailbox.lower():
            continue
        query = set(call["query"])
        kinds.append("incremental" if "$deltatoken" in query else "page" if "$skiptoken" in query else "full")
    return kinds


def test_a_missed_lifecycle_notification_makes_the_next_session_read_graph_from_scratch(
    gengine, world, keeper, webhook, redis, graph_admin, graph_info, sandbox_info_file, tmp_path
):
    """Graph says it `missed` notifications: through the real lifecycle webhook, the real scheduler's push pass
    and a real worker, the next session forgets its delta cursor and lists the calendar again (a full round), and
    the change nobody was notified of reaches Salesforce. An ordinary notified change before it is incremental."""
    from .push_support import full_requested, graph_subscriptions

    with _push_processes(gengine, keeper, webhook, redis, sandbox_info_file, tmp_path, "graph-missed") as run, \
            closing(webhook.http()) as http:  # fmt: skip
        mailbox_id, before = run.mailbox_id, run.before
        # A notified change: an incremental round.
        mark = len(graph_admin.calls())
        world.outlook().create("Notified change", at(2, 9), at(2, 10))
        wait_until(lambda: world.salesforce().find_event("Notified change"), timeout=60, what="the notified change")
        wait_until(lambda: len(_sessions(gengine)) == before + 1 and _sessions(gengine)[-1].status != "running",
                   what="the first session's end")  # fmt: skip
        assert "full" not in _delta_rounds(graph_admin, gengine.email, mark)
        assert "incremental" in _delta_rounds(graph_admin, gengine.email, mark)
        cursor = _cursor(gengine)

        # Graph misses the next change (notifications held back) and says so with a `missed` lifecycle event.
        http.put(graph_info["admin_url"] + "/notifications", json={"paused": True}, timeout=30).raise_for_status()
        world.outlook().create("Missed change", at(3, 9), at(3, 10))
        time.sleep(2)  # more than the coalescing window and a push pass: no session without the lifecycle event
        assert pending(redis) == {} and len(_sessions(gengine)) == before + 1
        mark = len(graph_admin.calls())
        [sub] = graph_subscriptions(graph_info)
        sent = http.post(f"{graph_info['admin_url']}/subscriptions/{sub['id']}/lifecycle", json={"event": "missed"},
                         timeout=30).json()  # fmt: skip
        assert sent["status"] == 202
        wait_until(lambda: world.salesforce().find_event("Missed change"), timeout=60, what="the missed change")
        wait_until(lambda: len(_sessions(gengine)) == before + 2 and _sessions(gengine)[-1].status != "running",
                   what="the full session's end")  # fmt: skip
        rounds = _delta_rounds(graph_admin, gengine.email, mark)
        assert rounds and rounds[0] == "full" and "incremental" not in rounds, rounds
        assert _cursor(gengine) not in (None, cursor)  # the full round's new cursor
        assert not full_requested(redis, mailbox_id)
        sessions = _sessions(gengine)[before:]
        assert [(s.status, s.trigger) for s in sessions] == [("ok", "push"), ("ok", "push")]
    counters = {k.decode(): int(v) for k, v in redis.hgetall("calsync:push:graph:webhook").items()}
    assert counters.get("lifecycle:missed") == 1, counters


def _cursor(engine) -> str | None:
    with engine.factory() as db:
        return mailboxes.find(db, engine.email).exchange_sync_state
