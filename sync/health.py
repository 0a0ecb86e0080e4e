"""Health entries: every item that cannot sync, with a stable code, a message for people, and attempts.

One open entry per (mailbox, item, code): seeing the same problem again bumps ``attempts`` and ``last_seen``
instead of adding rows, so the admin panel shows how long something has been failing.

Rule (issue 23): an entry closes only when the item it is about has actually synced -- its pair was planned
from both sides' current content, every write of it landed, and its link was saved active or ended. A session
that merely sees the pair (an automated Salesforce update, the other side's feed) without syncing the refused
change leaves the entry open: the panel keeps saying the change has not reached the other side.
(`sync.apply.Applier._resolve_health` applies it; `sync.feeds.refresh_failed` reads the missing side.)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.models import HealthEntry

MAILBOX_REF = "mailbox"


def record(
    db: Session,
    *,
    mailbox_id: int | None,
    item_ref: str,
    side: str,
    code: str,
    message: str,
    now: dt.datetime,
) -> HealthEntry:
    """Open (or re-open and bump) the entry for this item and code. The caller commits."""
    entry = db.scalars(
        select(HealthEntry).where(
            HealthEntry.mailbox_id == mailbox_id, HealthEntry.item_ref == item_ref, HealthEntry.code == code
        )
    ).one_or_none()
    if entry is None:
        entry = HealthEntry(
            mailbox_id=mailbox_id, item_ref=item_ref, side=side, code=code, message=message,
            first_seen=now, last_seen=now, attempts=1, status="open",
        )  # fmt: skip
        db.add(entry)
        return entry
    return seen_again(entry, side=side, message=message, now=now)


def seen_again(entry: HealthEntry, *, side: str, message: str, now: dt.datetime) -> HealthEntry:
    """The problem of an existing entry (a ``HealthEntry`` or any object with its attributes) seen again:
    re-opened and bumped, unless an admin ignores it."""
    if entry.status == "ignored":
        entry.last_seen = now  # an admin chose to ignore it: keep it quiet
        return entry
    if entry.status == "resolved":
        entry.first_seen = now
        entry.attempts = 0
    entry.status = "open"
    entry.attempts += 1
    entry.last_seen = now
    entry.message = message
    entry.side = side
    return entry


def resolve(db: Session, *, mailbox_id: int | None, item_ref: str, codes: set[str] | None = None) -> int:
    """Mark the item's open entries resolved (it synced); returns how many."""
    query = select(HealthEntry).where(
        HealthEntry.mailbox_id == mailbox_id, HealthEntry.item_ref == item_ref, HealthEntry.status == "open"
    )
    count = 0
    for entry in db.scalars(query):
        if codes is None or entry.code in codes:
            entry.status = "resolved"
            count += 1
    return count


def resolve_items(db: Session, *, mailbox_id: int, item_refs: set[str], keep: set[tuple[str, str]]) -> int:
    """Resolve open entries of items that synced, except the (item_ref, code) pairs raised again just now."""
    if not item_refs:
        return 0
    count = 0
    refs = sorted(item_refs)
    for start in range(0, len(refs), 500):
        query = select(HealthEntry).where(
            HealthEntry.mailbox_id == mailbox_id,
            HealthEntry.status == "open",
            HealthEntry.item_ref.in_(refs[start : start + 500]),
        )
        for entry in db.scalars(query):
            if (entry.item_ref, entry.code) not in keep:
                entry.status = "resolved"
                count += 1
    return count


def open_entries(db: Session, mailbox_id: int | None = None) -> list[HealthEntry]:
    query = select(HealthEntry).where(HealthEntry.status == "open")
    if mailbox_id is not None:
        query = query.where(HealthEntry.mailbox_id == mailbox_id)
    return list(db.scalars(query.order_by(HealthEntry.last_seen.desc(), HealthEntry.id)))
