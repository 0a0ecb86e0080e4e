"""`calsync listener --once` also runs the Graph subscriptions keeper when that part is installed
(``sync.push.graph_subscriptions``): one process serves the EWS mailboxes' streaming and the Graph mailboxes'
subscriptions. Skipped where the Graph push part is not there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.seed import REPS
from sync import mailboxes
from sync.push.health import channels_of, status_key
from tests.listener.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
CALSYNC = str(Path(sys.executable).with_name("calsync"))


def test_one_pass_serves_the_ews_mailboxes_and_keeps_the_graph_subscriptions(engine, redis, sandbox_info_file):
    pytest.importorskip("sync.push.graph_subscriptions")
    with engine.factory() as db:
        mailboxes.add(db, REPS[1].email, REPS[1].salesforce_user_id, backend="graph")
        db.commit()
        ews_id = mailboxes.find(db, engine.email).id
        graph_id = mailboxes.find(db, REPS[1].email).id
    env = {**os.environ, "CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(sandbox_info_file),
           "DATABASE_URL": engine.settings.database_url, "REDIS_URL": REDIS_URL, "PYTHONPATH": str(ROOT),
           "CALSYNC_PUBLIC_URL": "https://calsync.example.com"}  # fmt: skip
    done = subprocess.run([CALSYNC, "listener", "--once", "--name", "once"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 mailbox(es) (1 streaming, 0 pull)" in done.stdout
    assert set(channels_of(redis, ews_id)) == {"ews-streaming"}
    assert set(channels_of(redis, graph_id)) == {"graph-webhook"}  # the keeper reported the Graph mailbox
    status = json.loads(redis.get(status_key("listener", "once")))
    assert status["keeper_errors"] == {}
