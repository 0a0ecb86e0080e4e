"""``calsync verify`` of one mailbox as an RQ job: the admin panel's "Run verify" (docs/verify.md#the-panel).

`start` enqueues ``sync.verify_jobs.verify_job(mailbox_id, requested_by)`` under a fixed job id per mailbox, so a
second click while one is queued or running adds nothing; the job reads both sides through
`sync.verify_read.verify`, writes nothing to either side, and keeps the report as the mailbox's last one
(`sync.verify_read.store`), which the mailbox page shows. `state` says whether one is queued or running.

Like a preview job, a verify job takes no mailbox lock: it writes nothing to the sides, so it cannot disturb a
session; one that runs while a session applies may report some of that session's work as not done yet.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError

from sync import verify_read
from sync.job_queue import fetch_job
from sync.models import Mailbox

JOB_FUNCTION = "sync.verify_jobs.verify_job"
RESULT_TTL = 24 * 3600
ACTIVE = ("queued", "started", "deferred", "scheduled")


def job_id(mailbox_id: int) -> str:
    return f"verify-{mailbox_id}"


def state(redis: Redis, mailbox_id: int) -> str | None:
    """``queued``, ``started``, ``finished``, ``failed``... of the mailbox's last verify job (None: none kept)."""
    try:
        job = fetch_job(job_id(mailbox_id), redis)
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    return str(getattr(status, "value", status) or "queued")


def start(queue: Queue, mailbox: Mailbox, *, requested_by: str, job_timeout: int = 600) -> str:
    """Enqueue a verify of ``mailbox``: ``enqueued``, or ``duplicate`` when one is already queued or running."""
    if state(queue.connection, mailbox.id) in ACTIVE:
        return "duplicate"
    queue.enqueue(
        JOB_FUNCTION, mailbox.id, requested_by, job_id=job_id(mailbox.id), result_ttl=RESULT_TTL,
        failure_ttl=RESULT_TTL, job_timeout=job_timeout, description=f"verify {mailbox.email}",
    )  # fmt: skip
    return "enqueued"


def verify_job(mailbox_id: int, requested_by: str) -> dict[str, Any]:
    """RQ job: verify one mailbox and keep its report; returns the report's summary."""
    from sync.jobs import current_context

    context = current_context()
    factory = context.db()
    with factory() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        if mailbox is None:
            return {"mailbox_id": mailbox_id, "status": "failed", "error": "the mailbox was removed"}
        email = mailbox.email
    report = verify_read.verify(factory, email, lambda e: (context.salesforce(), context.exchange(e)),
                                now=context.clock())  # fmt: skip
    with factory() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        if mailbox is not None:
            verify_read.store(db, mailbox, report, requested_by=requested_by)
            db.commit()
    return {"mailbox_id": mailbox_id, "status": report.status, "exit_code": report.exit_code,
            "summary": report.summary(), "error": report.error}  # fmt: skip
