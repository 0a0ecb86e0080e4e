"""The mailbox page's verify section: the last `calsync verify` report and "Run verify" (docs/verify.md#the-panel).

"Run verify" enqueues the mailbox's verify job (`sync.verify_jobs`): a worker reads both sides, writes nothing to
either, and keeps the report, which this page then shows. Without Redis the button says so (no 500).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from redis.exceptions import RedisError

from admin_panel import audit
from admin_panel.blueprint import bp
from admin_panel.views import _mailbox_or_404, actor, redis
from backend.globals import db_session, settings
from sync import verify_jobs, verify_read
from sync.job_queue import session_queue
from sync.models import Mailbox

# Findings shown on the mailbox page; the CLI's --json has them all.
ROWS_SHOWN = 100


@bp.app_context_processor
def _verify_globals() -> dict[str, Any]:
    return {"verify_rows": ROWS_SHOWN}


@bp.app_template_global("verify_report")
def verify_report(mailbox: Mailbox) -> dict[str, Any] | None:
    """The mailbox's last verify report (as ``calsync verify --json`` prints it), or None."""
    return verify_read.last_report(db_session(), mailbox.id)


@bp.app_template_global("verify_state")
def verify_state(mailbox: Mailbox) -> str | None:
    """Whether a verify job of the mailbox is queued or running (None: none, or Redis does not answer)."""
    try:
        state = verify_jobs.state(redis(), mailbox.id)
    except RedisError:
        return None
    return state if state in verify_jobs.ACTIVE else None


@bp.post("/mailboxes/<int:mailbox_id>/verify")
def mailbox_verify(mailbox_id: int):
    db = db_session()
    mailbox = _mailbox_or_404(mailbox_id)
    back = url_for("admin.mailbox_detail", mailbox_id=mailbox.id, _anchor="verify")
    try:
        queue = session_queue(settings().sync_queue, redis())
        outcome = verify_jobs.start(queue, mailbox, requested_by=actor(), job_timeout=settings().job_timeout)
    except RedisError as exc:
        flash(f"{mailbox.email}: Redis does not answer ({exc}); verify runs as a job and needs the queue.", "error")
        return redirect(back, 303)
    audit.record(db, actor=actor(), action="mailbox.verify", target=f"mailbox:{mailbox.email}",
                 after={"outcome": outcome})  # fmt: skip
    db.commit()
    flash({"enqueued": f"{mailbox.email}: verify enqueued; the report appears here once a worker has run it.",
           "duplicate": f"{mailbox.email}: a verify is already queued or running."}[outcome])  # fmt: skip
    return redirect(back, 303)
