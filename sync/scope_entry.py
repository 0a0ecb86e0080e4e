"""Items that enter the scope sync at the next session (issue 23, point 3).

The planner leaves alone whatever lies outside the scope (and leaving it never deletes anything), and the
feeds move their cursors past such items: without a memory, an item that later *enters* the scope -- the admin
widens it, or the calendar moves on -- would sync only once someone edits it. So each session remembers the
tagged items it left alone for scope, with the span of time each covers (`OutOfScopeItem`), and the next
session whose window overlaps a remembered span reads that item directly and plans it like a feed change.

Why a memory rather than re-reading the band of days that entered the scope: the memory costs no API call in
a quiet session (one indexed database query), while a band read costs a FindItem and a SOQL query per kind in
every session whose window moved (all of them: the window moves with the clock). Entering items cost one
GetItem and one Salesforce read per object kind in the session they enter, batched.

Bookkeeping, after the session applied its plan (``remember``): an item a feed reported outside the scope is
remembered (its span refreshed); an item a feed reported inside the scope, deleted, untagged or unreadable is
forgotten (the planner has it now). Remembered items that entered are forgotten once planned, unless the
session could not finish its writes (then they are read again next time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sync.connectors.base import ExchangeCalendar, SalesforceOrg
from sync.entry import Side, project
from sync.feeds import ExchangeFeed, SalesforceFeed, exchange_changes_for, salesforce_changes_for
from sync.models import Mailbox, OutOfScopeItem
from sync.planner.model import ChangeType, ExchangeChange, LinkState, SalesforceChange, SharedRelations
from sync.policies import Direction, PolicySet
from sync.scope import overlaps, projection_span


@dataclass(frozen=True)
class Entered:
    """Remembered items whose span entered the scope this session, per side: [(item id, kind)]."""

    exchange: tuple[tuple[str, str], ...] = ()
    salesforce: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.exchange or self.salesforce)


def _window(policies: PolicySet, kind: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return policies.for_kind(kind).scope.window(now)


def entered(db: Session, mailbox: Mailbox, policies: PolicySet, now: dt.datetime) -> Entered:
    """Remembered items of ``mailbox`` whose span overlaps their kind's scope window at ``now``."""
    kinds = {row for row in db.scalars(select(OutOfScopeItem.kind).where(OutOfScopeItem.mailbox_id == mailbox.id))}
    if not kinds:
        return Entered()
    windows = {k: _window(policies, k, now) for k in kinds if policies.for_kind(k).direction is not Direction.OFF}
    if not windows:
        return Entered()
    latest_hi = max(hi for _, hi in windows.values())
    earliest_lo = min(lo for lo, _ in windows.values())
    rows = db.scalars(
        select(OutOfScopeItem)
        .where(
            OutOfScopeItem.mailbox_id == mailbox.id,
            OutOfScopeItem.starts_at <= latest_hi,
            OutOfScopeItem.ends_at >= earliest_lo,
        )
        .order_by(OutOfScopeItem.side, OutOfScopeItem.item_id)
    )
    return entered_among(rows, policies, now)


def entered_among(rows: Iterable[OutOfScopeItem], policies: PolicySet, now: dt.datetime) -> Entered:
    """`entered` on remembered rows already read (any objects with the ``OutOfScopeItem`` attributes, in the
    order side, item id)."""
    windows: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    ex: list[tuple[str, str]] = []
    sf: list[tuple[str, str]] = []
    for row in rows:
        if row.kind not in windows:
            off = policies.for_kind(row.kind).direction is Direction.OFF
            windows[row.kind] = None if off else _window(policies, row.kind, now)  # type: ignore[assignment]
        window = windows[row.kind]
        if window is not None and overlaps((row.starts_at, row.ends_at), window):
            (ex if row.side == str(Side.EXCHANGE) else sf).append((row.item_id, row.kind))
    return Entered(tuple(ex), tuple(sf))


def read_entered(
    found: Entered,
    exchange: ExchangeCalendar,
    salesforce: SalesforceOrg,
    *,
    exchange_feed: ExchangeFeed,
    salesforce_feed: SalesforceFeed,
    links: Sequence[LinkState],
    policies: PolicySet,
    time_zone: str,
    mailbox_email: str,
    shared: dict[str, SharedRelations] | None = None,
) -> None:
    """Read the entered items directly and add them to the feeds (items a feed already reports are left to
    the feed, which is as fresh)."""
    in_ex = {c.exchange_id for c in exchange_feed.changes}
    in_sf = {c.salesforce_id for c in salesforce_feed.changes}
    exchange_feed.changes += exchange_changes_for(
        exchange, [(i, k) for i, k in found.exchange if i not in in_ex], policies=policies, time_zone=time_zone,
        mailbox_email=mailbox_email, shared=shared,
    )  # fmt: skip
    salesforce_feed.changes += salesforce_changes_for(
        salesforce, [(i, k) for i, k in found.salesforce if i not in in_sf], policies=policies, links=links,
        time_zone=time_zone,
    )  # fmt: skip


def _out_of_scope(
    change: ExchangeChange | SalesforceChange,
    link: LinkState | None,
    other: ExchangeChange | SalesforceChange | None,
    side: Side,
    policies: PolicySet,
    now: dt.datetime,
) -> tuple[dt.datetime, dt.datetime] | None:
    """The span to remember when the planner left this change alone for scope (as `planner._plan_pair` and
    `_new_*` judge it: the pair is outside when either side's current projection is), else ``None``."""
    if change.type is not ChangeType.CHANGED or change.entry is None:
        return None
    policy = policies.for_kind(change.kind)
    if policy.direction is Direction.OFF:
        return None
    window = policy.scope.window(now)
    mine = projection_span(project(change.entry))
    if not overlaps(mine, window):
        return mine
    if link is None or not link.is_live:
        return None
    if other is not None and other.type is ChangeType.CHANGED and other.entry is not None:
        theirs = projection_span(project(other.entry))
    else:
        base = link.salesforce_base if side is Side.EXCHANGE else link.exchange_base
        theirs = projection_span(base) if base is not None else None
    if theirs is not None and not overlaps(theirs, window):
        return theirs
    return None


def remember(
    db: Session,
    mailbox: Mailbox,
    *,
    exchange_changes: Iterable[ExchangeChange],
    salesforce_changes: Iterable[SalesforceChange],
    links: Sequence[LinkState],
    policies: PolicySet,
    now: dt.datetime,
    found: Entered,
    finished: bool,
) -> None:
    """Update the memory after a session applied its plan (the caller commits). ``finished``: every write
    landed (else entered items stay remembered, to be read again)."""
    keep, forget = to_remember(
        exchange_changes=exchange_changes, salesforce_changes=salesforce_changes, links=links, policies=policies,
        now=now, found=found, finished=finished,
    )  # fmt: skip
    write_memory(db, mailbox, keep, forget, now)


Spans = dict[tuple[str, str], tuple[str, tuple[dt.datetime, dt.datetime]]]


def to_remember(
    *,
    exchange_changes: Iterable[ExchangeChange],
    salesforce_changes: Iterable[SalesforceChange],
    links: Sequence[LinkState],
    policies: PolicySet,
    now: dt.datetime,
    found: Entered,
    finished: bool,
) -> tuple[Spans, set[tuple[str, str]]]:
    """What `remember` writes: (side, item id) → (kind, span) to keep remembered, and the refs to forget."""
    ex_changes, sf_changes = list(exchange_changes), list(salesforce_changes)
    by_ex = {link.exchange_id: link for link in links if link.exchange_id}
    by_sf = {link.salesforce_id: link for link in links if link.salesforce_id}
    by_key = {link.sync_key: link for link in links}
    ex_by_link = {by_ex[c.exchange_id].sync_key: c for c in ex_changes if c.exchange_id in by_ex}
    sf_by_link = {by_sf[c.salesforce_id].sync_key: c for c in sf_changes if c.salesforce_id in by_sf}

    keep: Spans = {}
    forget: set[tuple[str, str]] = set()
    for change in ex_changes:
        link = by_ex.get(change.exchange_id) or by_key.get(change.sync_key or "")
        other = sf_by_link.get(link.sync_key) if link is not None else None
        span = _out_of_scope(change, link, other, Side.EXCHANGE, policies, now)
        ref = (str(Side.EXCHANGE), change.exchange_id)
        if span is None:
            forget.add(ref)
        else:
            keep[ref] = (change.kind, span)
    for change in sf_changes:
        link = by_sf.get(change.salesforce_id) or by_key.get(change.sync_key or "")
        other = ex_by_link.get(link.sync_key) if link is not None else None
        span = _out_of_scope(change, link, other, Side.SALESFORCE, policies, now)
        ref = (str(Side.SALESFORCE), change.salesforce_id)
        if span is None:
            forget.add(ref)
        else:
            keep[ref] = (change.kind, span)
    if not finished:
        forget -= {(str(Side.EXCHANGE), i) for i, _ in found.exchange}
        forget -= {(str(Side.SALESFORCE), i) for i, _ in found.salesforce}
    return keep, forget


def write_memory(db: Session, mailbox: Mailbox, keep: Spans, forget: set[tuple[str, str]], now: dt.datetime) -> None:
    """Store `to_remember`'s answer (the caller commits)."""
    if not keep and not forget:
        return
    refs = sorted(set(keep) | forget)
    existing: dict[tuple[str, str], OutOfScopeItem] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        for row in db.scalars(
            select(OutOfScopeItem).where(
                OutOfScopeItem.mailbox_id == mailbox.id,
                OutOfScopeItem.item_id.in_(sorted({i for _, i in chunk})),
            )
        ):
            existing[(row.side, row.item_id)] = row
    gone = [existing[ref].id for ref in sorted(forget) if ref in existing]
    for start in range(0, len(gone), 500):
        db.execute(delete(OutOfScopeItem).where(OutOfScopeItem.id.in_(gone[start : start + 500])))
    for (side, item_id), (kind, (starts, ends)) in sorted(keep.items()):
        row = existing.get((side, item_id))
        if row is None:
            row = OutOfScopeItem(mailbox_id=mailbox.id, side=side, item_id=item_id)
            db.add(row)
        row.kind, row.starts_at, row.ends_at, row.seen_at = kind, starts, ends, now
