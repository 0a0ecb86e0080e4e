"""The mailbox page's verify section: "Run verify" enqueues the mailbox's job, a real RQ worker (in-process, burst
mode) runs it against the sandboxes on both Exchange protocols, and the page shows the report; bad requests are
clear errors, never a 500."""

from __future__ import annotations

from dataclasses import replace

from rq import SimpleWorker
from sqlalchemy import select

from backend.globals import runtime_of
from sync import jobs, verify_jobs, verify_read
from sync.job_queue import session_queue, worker_options
from sync.models import AuditEntry, Mailbox
from sync.runtime import Runtime
from sync.verify import Decision, Finding, VerifyReport
from tests.admin_panel.conftest import REDIS_URL, VIEWER, csrf_of, log_in
from tests.e2e.actors import at
from tests.e2e.test_verify import writes


def _mailbox_id(app, email: str) -> int:
    with runtime_of(app).session_factory() as db:
        return db.scalars(select(Mailbox.id).where(Mailbox.email == email)).one()


def _run_jobs(sandbox_settings) -> int:
    """What `calsync worker` does with the queued jobs, in this process; returns how many there were."""
    runtime = Runtime.build(replace(sandbox_settings, redis_url=REDIS_URL))
    jobs.install(runtime.worker_context())
    try:
        queue = session_queue(runtime.settings.sync_queue, runtime.redis)
        count = queue.count
        SimpleWorker([queue], connection=runtime.redis, **worker_options()).work(burst=True, with_scheduler=False)
        return count
    finally:
        jobs.install(None)
        runtime.close()


def test_run_verify_from_the_mailbox_page_shows_the_findings(app, admin_client, engine, world, sandbox_settings):
    world.outlook().create("Panel check", at(1, 10), at(1, 11))
    engine.converge()
    event = world.salesforce().find_event("Panel check")
    world.salesforce().update("Event", event["Id"], Subject="Panel check (SF)")
    mailbox_id = _mailbox_id(app, engine.email)
    page = admin_client.get(f"/admin/mailboxes/{mailbox_id}")
    assert page.status_code == 200
    assert "No verify has run for this mailbox yet." in page.get_data(as_text=True)
    token = csrf_of(page)

    started = admin_client.post(f"/admin/mailboxes/{mailbox_id}/verify", data={"csrf_token": token})
    assert started.status_code == 303 and started.location.endswith(f"/admin/mailboxes/{mailbox_id}#verify")
    queued = admin_client.get(f"/admin/mailboxes/{mailbox_id}").get_data(as_text=True)
    assert "verify enqueued" in queued and "A verify is queued." in queued
    again = admin_client.post(
        f"/admin/mailboxes/{mailbox_id}/verify", data={"csrf_token": token}, follow_redirects=True
    )
    assert "a verify is already queued or running" in again.get_data(as_text=True)

    before = writes(world)
    assert _run_jobs(sandbox_settings) == 1  # the second click added nothing
    assert writes(world) == before, "the verify job wrote to a side"
    shown = admin_client.get(f"/admin/mailboxes/{mailbox_id}").get_data(as_text=True)
    assert "1 finding</strong> (fields_differ 1)" in shown
    assert "by admin@calsync.example" in shown
    assert "subject: Panel check / Panel check (SF)" in shown
    with runtime_of(app).session_factory() as db:
        stored = verify_read.last_report(db, mailbox_id)
        audited = db.scalars(select(AuditEntry).where(AuditEntry.action == "mailbox.verify")).all()
    assert stored["findings"][0]["next_session"]["writes"] == ["exchange"]
    assert [a.after for a in audited] == [{"outcome": "enqueued"}, {"outcome": "duplicate"}]

    engine.sync()  # the session fixes it; the next verify says so
    admin_client.post(f"/admin/mailboxes/{mailbox_id}/verify", data={"csrf_token": token})
    _run_jobs(sandbox_settings)
    assert "<strong>clean</strong>" in admin_client.get(f"/admin/mailboxes/{mailbox_id}").get_data(as_text=True)


def test_the_page_lists_findings_with_their_health_codes(app, admin_client):
    with runtime_of(app).session_factory() as db:
        mailbox = Mailbox(email="erin@calsync.example")
        db.add(mailbox)
        db.flush()
        finding = Finding("exchange_only", "the Outlook item is tagged for sync but has no Salesforce record",
                          exchange_id="AAMk9", subject="Two-week trip", health=("duration_over_14_days",),
                          next_session=Decision())  # fmt: skip
        report = VerifyReport(mailbox=mailbox.email, checked_at="2026-12-04T18:00:00+00:00", findings=[finding],
                              counts={"links": 0, "pairs_compared": 0})  # fmt: skip
        verify_read.store(db, mailbox, report, requested_by="cli")
        db.commit()
        mailbox_id = mailbox.id
    page = admin_client.get(f"/admin/mailboxes/{mailbox_id}").get_data(as_text=True)
    assert "1 finding</strong> (exchange_only 1)" in page
    assert "nothing (health: duration_over_14_days)" in page and "Two-week trip" in page


def test_a_report_that_could_not_be_read_says_why(app, admin_client):
    with runtime_of(app).session_factory() as db:
        mailbox = Mailbox(email="carol@calsync.example")
        db.add(mailbox)
        db.flush()
        failed = VerifyReport(mailbox=mailbox.email, status="failed", error="ConnectorError: Salesforce said 503",
                              checked_at="2026-12-04T18:00:00+00:00")  # fmt: skip
        verify_read.store(db, mailbox, failed, requested_by="cli")
        db.commit()
        mailbox_id = mailbox.id
    page = admin_client.get(f"/admin/mailboxes/{mailbox_id}").get_data(as_text=True)
    assert "could not verify</strong>: ConnectorError: Salesforce said 503" in page
    assert "Last run 2026-12-04 18:00 UTC by cli" in page


def test_bad_verify_requests_are_clear_errors(app, admin_client, client):
    with runtime_of(app).session_factory() as db:
        mailbox = Mailbox(email="dave@calsync.example")
        db.add(mailbox)
        db.commit()
        mailbox_id = mailbox.id
    token = csrf_of(admin_client.get(f"/admin/mailboxes/{mailbox_id}"))
    assert admin_client.post("/admin/mailboxes/999/verify", data={"csrf_token": token}).status_code == 404
    assert admin_client.post(f"/admin/mailboxes/{mailbox_id}/verify", data={}).status_code == 400  # no CSRF token
    admin_client.post("/admin/logout", data={"csrf_token": token})
    log_in(client, *VIEWER)
    token = csrf_of(client.get(f"/admin/mailboxes/{mailbox_id}"))
    refused = client.post(f"/admin/mailboxes/{mailbox_id}/verify", data={"csrf_token": token})
    assert refused.status_code == 403
    assert verify_jobs.state(runtime_of(app).redis, mailbox_id) is None  # nothing was queued
