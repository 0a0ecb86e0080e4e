"""The link store: link rows (``sync.models.Link``) ⇄ the planner's ``LinkState``.

A create writes its link as *pending* (with the sync key) and commits before the remote call, so a retry after
a crash finds the item by that key instead of making a second one (docs/sync-model.md, docs/invariants.md #6).

A link stays *pending* after its create, too, until the session saves an Exchange cursor that covers its item
(`confirm`): SyncFolderItems folds an item that entered the calendar after the client's cursor and left it again
into nothing, so a link whose item the saved cursor does not cover would never hear of its deletion. The
Exchange feed checks such links directly (`sync.feeds`). Hence: an active or failed link's item is one the saved
cursor covers (found by the simulation: a session crashed after saving its links, before moving the cursor; the
user deleted the new item; the Event lived on).

A session reaches these functions through its store (`sync.store.SqlStore`); `to_state`, `fill`, `unlink`,
`stays_pending` and `confirms` work on any row with the ``Link`` attributes, so the checker's in-memory store
(tests/checker/memory_store.py) shares them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.entry import EVENT, Side
from sync.models import Link, Mailbox
from sync.planner.model import LinkState, LinkStatus, MeetingEvent


def to_state(row: Link, mailbox_email: str) -> LinkState:
    return LinkState(
        sync_key=row.sync_key,
        mailbox=mailbox_email,
        kind=row.kind,
        origin=Side(row.origin),
        state=LinkStatus(row.state),
        exchange_id=row.exchange_item_id,
        exchange_change_key=row.exchange_change_key,
        salesforce_object=row.salesforce_object or "Event",
        salesforce_id=row.salesforce_id,
        salesforce_modstamp=row.salesforce_modstamp,
        exchange_base=row.exchange_base,
        salesforce_base=row.salesforce_base,
        shared_who_ids=tuple(row.shared_who_ids or ()),
        shared_what_id=row.shared_what_id,
        created_by_sync_on_exchange=row.created_by_sync_on_exchange,
        exchange_read_only=row.exchange_read_only,
        exchange_uid=row.exchange_uid,
        joined=row.joined_event,
    )


def fill(row: Link, state: LinkState) -> None:
    """Copy ``state`` onto ``row`` (a ``Link`` or any object with its attributes)."""
    row.kind = state.kind
    row.origin = str(state.origin)
    row.state = str(state.state)
    row.exchange_item_id = state.exchange_id
    row.exchange_change_key = state.exchange_change_key
    row.salesforce_object = state.salesforce_object
    row.salesforce_id = state.salesforce_id
    row.salesforce_modstamp = state.salesforce_modstamp
    row.exchange_base = dict(state.exchange_base) if state.exchange_base is not None else None
    row.salesforce_base = dict(state.salesforce_base) if state.salesforce_base is not None else None
    row.shared_who_ids = list(state.shared_who_ids) or None
    row.shared_what_id = state.shared_what_id
    row.created_by_sync_on_exchange = state.created_by_sync_on_exchange
    row.exchange_read_only = state.exchange_read_only
    row.exchange_uid = state.exchange_uid
    row.joined_event = state.joined


def load(db: Session, mailbox: Mailbox) -> list[LinkState]:
    rows = db.scalars(select(Link).where(Link.mailbox_id == mailbox.id).order_by(Link.sync_key))
    return [to_state(row, mailbox.email) for row in rows]


def rows_by_key(db: Session, mailbox: Mailbox, keys: Iterable[str]) -> dict[str, Link]:
    keys = list(keys)
    if not keys:
        return {}
    found: dict[str, Link] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for row in db.scalars(select(Link).where(Link.mailbox_id == mailbox.id, Link.sync_key.in_(chunk))):
            found[row.sync_key] = row
    return found


def save(db: Session, mailbox: Mailbox, state: LinkState, row: Link | None = None, *, lookup: bool = True) -> Link:
    """Insert or update the row for ``state.sync_key``. The caller commits.

    ``lookup=False``: the caller already knows no row exists (it asked `rows_by_key` for a batch), which saves
    one SELECT per new link."""
    if row is None and lookup:
        row = db.scalars(select(Link).where(Link.sync_key == state.sync_key)).one_or_none()
    if row is None:
        row = Link(mailbox_id=mailbox.id, sync_key=state.sync_key)
        db.add(row)
    fill(row, state)
    return row


def unlink(row: Link, *, exchange_deleted: bool, salesforce_deleted: bool) -> None:
    """Keep the row as a tombstone so later changes of its items are ignored; forget deleted sides."""
    row.state = str(LinkStatus.UNLINKED)
    if exchange_deleted:
        row.exchange_item_id = None
        row.exchange_change_key = None
    if salesforce_deleted:
        row.salesforce_id = None


def stays_pending(row: Link | None, state: LinkState) -> bool:
    """Whether ``state``, planned *active*, must be saved *pending*: its Exchange item may have entered the
    calendar after the saved cursor (a new link, a pending one, a tombstone brought back, or another item)."""
    if state.state is not LinkStatus.ACTIVE or not (state.exchange_id and state.salesforce_id):
        return False
    covered = (str(LinkStatus.ACTIVE), str(LinkStatus.FAILED))
    return row is None or row.state not in covered or row.exchange_item_id != state.exchange_id


def confirm(db: Session, mailbox: Mailbox, *, except_keys: Iterable[str] = ()) -> int:
    """Pending links with both sides' ids become active: the Exchange cursor saved in the same commit covers
    their items (``except_keys``: items created after the feed was read that the cursor did not move past).
    The caller commits."""
    rows = db.scalars(
        select(Link).where(
            Link.mailbox_id == mailbox.id,
            Link.state == str(LinkStatus.PENDING),
            Link.exchange_item_id.is_not(None),
            Link.salesforce_id.is_not(None),
        )
    )
    return confirms(rows, except_keys)


def confirms(rows: Iterable[Link], except_keys: Iterable[str] = ()) -> int:
    """`confirm` on rows already read: those pending with both ids, but ``except_keys``, become active."""
    skip = set(except_keys)
    confirmed = 0
    for row in rows:
        if row.state == str(LinkStatus.PENDING) and row.exchange_item_id is not None and row.salesforce_id is not None:
            if row.sync_key not in skip:
                row.state = str(LinkStatus.ACTIVE)
                confirmed += 1
    return confirmed


LIVE_STATES = (str(LinkStatus.PENDING), str(LinkStatus.ACTIVE), str(LinkStatus.FAILED))


def meeting_events(db: Session, mailbox: Mailbox, uids: set[str]) -> dict[str, MeetingEvent]:
    """iCalUId → the Event another mailbox's link made for that meeting (one meeting, one Event)."""
    if not uids:
        return {}
    rows = db.execute(
        select(Link.exchange_uid, Link.salesforce_id, Mailbox.salesforce_user_id)
        .join(Mailbox, Link.mailbox_id == Mailbox.id)
        .where(
            Link.exchange_uid.in_(sorted(uids)),
            Link.mailbox_id != mailbox.id,
            Link.kind == EVENT,
            Link.joined_event.is_(False),
            Link.state.in_(LIVE_STATES),
            Link.salesforce_id.is_not(None),
        )
        .order_by(Link.created_at, Link.id)
    )
    found: dict[str, MeetingEvent] = {}
    for uid, salesforce_id, owner in rows:
        found.setdefault(uid, MeetingEvent(salesforce_id=salesforce_id, owner_user_id=owner))
    return found
