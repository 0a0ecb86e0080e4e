"""The operator view /admin/ops: queues, workers, running progress and failed jobs with requeue (real Redis)."""

from __future__ import annotations

import datetime as dt

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry

from backend.globals import runtime_of
from calsync.database import upgrade
from calsync.settings import Settings
from calsync.web import create_app
from sync import mailboxes
from sync.models import utcnow
from sync.schedule import ScheduleConfig, enqueue_session
from tests.admin_panel.conftest import ADMIN, VIEWER, add_accounts, csrf_of, log_in
from tests.workers.conftest import REDIS_URL


def _app(tmp_path, **env):
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}", "REDIS_URL": REDIS_URL, **env})
    upgrade(settings.database_url)
    add_accounts(settings.database_url)
    return create_app(settings, {"TESTING": True})


def _admin(client, account=ADMIN):
    assert log_in(client, *account).status_code == 303
    return client


def _failed_job(redis) -> str:
    queue = Queue("sync", connection=redis)
    enqueue_session(queue, 5, ScheduleConfig(retries=0))
    # No worker context in this process: the job fails (as an infrastructure failure would).
    SimpleWorker([queue], connection=redis).work(burst=True)
    assert "sync-5" in FailedJobRegistry(queue=queue)
    return "sync-5"


def test_ops_lists_failed_jobs_and_requeues_them(tmp_path, redis):
    job_id = _failed_job(redis)
    client = _admin(_app(tmp_path).test_client())
    data = client.get("/admin/ops/?format=json").get_json()
    assert data["queues"] == [
        {"name": "sync", "queued": 0, "started": 0, "scheduled": 0, "deferred": 0, "finished": 0, "failed": 1}
    ]
    assert data["failed"][0]["id"] == job_id and "no worker context" in data["failed"][0]["error"]
    page = client.get("/admin/ops/")
    assert page.status_code == 200 and b"Requeue" in page.data and job_id.encode() in page.data
    assert client.post(f"/admin/ops/failed/{job_id}/requeue").status_code == 400  # no CSRF token
    answer = client.post(f"/admin/ops/failed/{job_id}/requeue", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 303
    assert Queue("sync", connection=redis).job_ids == [job_id]
    assert Job.fetch(job_id, connection=redis).get_status() == "queued"
    assert (
        client.post(f"/admin/ops/failed/{job_id}/requeue?format=json", data={"csrf_token": csrf_of(page)}).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("env", "headers", "status"),
    [
        ({}, {}, 302),  # to the admin login
        ({"CALSYNC_OPS_TOKEN": "s3cret"}, {"Authorization": "Bearer s3cret"}, 200),
        ({"CALSYNC_OPS_TOKEN": "s3cret"}, {"Authorization": "Bearer nope"}, 302),
    ],
)
def test_ops_needs_the_admin_login_or_the_ops_token(tmp_path, redis, env, headers, status):
    client = _app(tmp_path, **env).test_client()
    answer = client.get("/admin/ops/?format=json", headers=headers, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert answer.status_code == status
    if status == 302:
        assert "/admin/login" in answer.headers["Location"]


def test_a_viewer_may_look_at_ops_but_not_requeue(tmp_path, redis):
    job_id = _failed_job(redis)
    client = _admin(_app(tmp_path).test_client(), VIEWER)
    page = client.get("/admin/ops/")
    assert page.status_code == 200
    assert client.post(f"/admin/ops/failed/{job_id}/requeue", data={"csrf_token": csrf_of(page)}).status_code == 403


def test_ops_shows_mailboxes_paused_by_the_api_budget(tmp_path, redis):
    app = _app(tmp_path)
    now = utcnow()
    with runtime_of(app).session_factory() as db:
        paused, running = (mailboxes.add(db, f"{name}@calsync.example", "005000000000000001") for name in ("p", "r"))
        paused.backoff_until = now + dt.timedelta(hours=2.5)
        paused.backoff_reason = "Salesforce API budget exhausted: the org has used 950 of 1000 daily API requests"
        running.backoff_until = now - dt.timedelta(minutes=1)  # its pause is over
        db.commit()
    client = _admin(app.test_client())
    data = client.get("/admin/ops/?format=json").get_json()
    assert [m["email"] for m in data["paused"]] == ["p@calsync.example"]
    assert data["paused"][0]["reason"].startswith("Salesforce API budget exhausted")
    assert b"950 of 1000 daily API requests" in client.get("/admin/ops/").data
