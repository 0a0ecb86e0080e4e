"""``calsync worker|scheduler|enqueue``: help texts, a scheduler pass through the command line, and the mailbox
lock around an inline ``calsync sync``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from rq import Queue

from calsync.cli import main
from sync import mailboxes
from sync.schedule import lock_key
from tests.e2e.actors import at
from tests.workers.conftest import REDIS_URL


@pytest.mark.parametrize("command", ["worker", "scheduler", "enqueue"])
def test_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_scheduler_once_and_enqueue(redis, database_url, db_session, monkeypatch):
    mailboxes.add(db_session, "rep@calsync.example", "005000000000000001")
    db_session.commit()
    monkeypatch.setattr("calsync.cli.workers.configure_logging", lambda level: None)  # keep pytest's logging
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    result = runner.invoke(main, ["scheduler", "--once", "--log-level", "warning"])
    assert result.exit_code == 0, result.output
    assert "enqueued 1," in result.output
    assert Queue("sync", connection=redis).job_ids == ["sync-1"]
    again = runner.invoke(main, ["enqueue", "rep@calsync.example"])
    assert again.exit_code == 0 and "already queued or running" in again.output
    unknown = runner.invoke(main, ["enqueue", "nobody@calsync.example"])
    assert unknown.exit_code == 1 and "not a synced mailbox" in unknown.output


def test_inline_sync_takes_the_mailbox_lock(world, engine, redis, sandbox_info_file, database_url):
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL}
    with engine.factory() as db:
        mailbox_id = mailboxes.find(db, engine.email).id
    world.outlook().create("Renewal call", at(1, 10), at(1, 11))
    redis.set(lock_key(mailbox_id), "a worker's session", px=30_000)
    runner = CliRunner()
    busy = runner.invoke(main, ["sync", engine.email], env=env)
    assert busy.exit_code == 1 and "running on a worker" in busy.output
    assert world.salesforce().events() == []  # refused before any session started
    redis.delete(lock_key(mailbox_id))
    done = runner.invoke(main, ["sync", engine.email, "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["created"]["salesforce"] == 1
    assert not redis.exists(lock_key(mailbox_id))  # released
