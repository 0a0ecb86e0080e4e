"""``calsync worker|scheduler|enqueue``: help texts and a scheduler pass through the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from rq import Queue

from calsync.cli import main
from sync import mailboxes
from tests.workers.conftest import REDIS_URL


@pytest.mark.parametrize("command", ["worker", "scheduler", "enqueue"])
def test_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_scheduler_once_and_enqueue(redis, database_url, db_session, monkeypatch):
    mailboxes.add(db_session, "rep@calsync.example", "005000000000000001")
    db_session.commit()
    monkeypatch.setattr("calsync.worker_commands.configure_logging", lambda level: None)  # keep pytest's logging
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
