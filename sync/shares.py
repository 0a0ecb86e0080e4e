"""Share requests from the add-in: the Who/What a rep chose when pressing *Share*, until a session sends them.

The add-in's API records a request (`request`) and tags the item with the Salesforce category, which makes the
item show up in the next session's Exchange feed; the session hands the requests to the feed
(`pending` → ``read_exchange(shared=...)``), so the planner creates the Event with that Who/What, or updates the
linked Event's Who/What. A request is consumed (`settle`) once the session's Exchange cursor moved past the
item, i.e. when every write of the session landed; otherwise it stays for the next session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sync.models import Mailbox, ShareRequest, utcnow
from sync.planner.model import SharedRelations


def request(
    db: Session, mailbox: Mailbox, item_id: str, who_ids: Sequence[str], what_id: str | None, *,
    now: dt.datetime | None = None,
) -> ShareRequest:  # fmt: skip
    """Record (or replace) the request for one item. The caller commits."""
    row = find(db, mailbox, item_id)
    if row is None:
        row = ShareRequest(mailbox_id=mailbox.id, exchange_item_id=item_id)
        db.add(row)
    row.who_ids = list(dict.fromkeys(who_ids))
    row.what_id = what_id
    row.requested_at = now or utcnow()
    return row


def find(db: Session, mailbox: Mailbox, item_id: str) -> ShareRequest | None:
    return db.scalars(
        select(ShareRequest).where(ShareRequest.mailbox_id == mailbox.id, ShareRequest.exchange_item_id == item_id)
    ).one_or_none()


def withdraw(db: Session, mailbox: Mailbox, item_id: str) -> bool:
    """Forget the request for one item (*Unshare* pressed). The caller commits."""
    result = db.execute(
        delete(ShareRequest).where(ShareRequest.mailbox_id == mailbox.id, ShareRequest.exchange_item_id == item_id)
    )
    return bool(result.rowcount)


def pending(db: Session, mailbox: Mailbox) -> dict[str, SharedRelations]:
    """Item id → the Who/What to send, for the session's Exchange feed."""
    rows = db.scalars(select(ShareRequest).where(ShareRequest.mailbox_id == mailbox.id))
    return {row.exchange_item_id: SharedRelations(tuple(row.who_ids or ()), row.what_id) for row in rows}


def settle(db: Session, mailbox: Mailbox, item_ids: Iterable[str], before: dt.datetime) -> int:
    """Consume the requests of items the session saw, made before it started (a newer one waits). The caller
    commits."""
    ids = sorted(set(item_ids))
    count = 0
    for start in range(0, len(ids), 500):
        result = db.execute(
            delete(ShareRequest).where(
                ShareRequest.mailbox_id == mailbox.id,
                ShareRequest.exchange_item_id.in_(ids[start : start + 500]),
                ShareRequest.requested_at <= before,
            )
        )
        count += result.rowcount or 0
    return count
