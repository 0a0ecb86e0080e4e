"""Small helpers the ``/api/v1`` views share: the last session, queueing a session, session errors in words."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api import remote
from sync.models import Mailbox, SyncSession
from sync.push import exchange_push_state
from sync.push.requests import PENDING_KEY
from sync.schedule import job_id, sync_now


def session_summary(row: SyncSession | None) -> dict[str, Any] | None:
    """A session as ``schemas.LastSession`` writes it."""
    if row is None:
        return None
    return {"status": row.status, "started_at": row.started_at, "finished_at": row.finished_at, "error": row.error,
            "trigger": row.trigger}  # fmt: skip


def push_state(mailbox: Mailbox) -> dict[str, Any] | None:
    """Whether Outlook changes of the mailbox are notified (`sync.push` health) and a noticed change waits for
    its session, as ``schemas.PushState``; None when Redis does not answer (the pane then says nothing of it)."""
    try:
        redis = remote.redis()
        state = exchange_push_state(redis, mailbox.id)
        pending = redis.zscore(PENDING_KEY, str(mailbox.id)) is not None
    except RedisError:
        return None
    return {"state": state, "pending": pending}


def last_session(db: Session, mailbox: Mailbox) -> dict[str, Any] | None:
    row = db.scalars(
        select(SyncSession)
        .where(SyncSession.mailbox_id == mailbox.id)
        .order_by(SyncSession.started_at.desc(), SyncSession.id.desc())
        .limit(1)
    ).first()
    return session_summary(row)


def queue_session(mailbox_id: int, *, reason: str) -> dict[str, str]:
    """Put a session of the mailbox on the RQ queue now (deduplicated: one queued or running per mailbox)."""
    try:
        outcome = sync_now(remote.queue(), mailbox_id, remote.schedule_config())
    except RedisError:
        raise remote.unavailable(
            "The sync queue cannot be reached; try again in a moment.", "queue_unavailable"
        ) from None
    return {"id": job_id(mailbox_id), "status": outcome, "reason": reason}


_PLAIN = (
    ("salesforce refused our credentials",
     "Salesforce did not accept calsync's connection ({detail}). Ask your admin to reconnect Salesforce."),
    ("exchange refused our credentials",
     "Exchange did not accept calsync's service account ({detail}). Ask your admin to check it."),
    ("Salesforce API budget exhausted",
     "Salesforce's daily API allowance is nearly used up, so sync is paused for a while ({detail})."),
)  # fmt: skip


def plain_session_error(error: str | None) -> str | None:
    """A failed session's error (``SessionResult.error``) as a sentence for the rep."""
    if not error:
        return None
    for prefix, sentence in _PLAIN:
        if error.startswith(prefix):
            detail = error[len(prefix) :].lstrip(": ").strip() or "no details"
            return sentence.format(detail=detail)
    return error[:1].upper() + error[1:]
