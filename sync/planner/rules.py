"""The planner: a pure function from (links, change feeds, policies, now) to a `Plan` of typed actions.

``plan(links, exchange_changes, salesforce_changes, policies, now, ...)`` holds all policy logic of DESIGN §5.
It does no I/O; the session runner applies the actions and persists the `LinkState` rows the plan returns.

Inputs per item pair: the link (if any), at most one Exchange change and one Salesforce change. A change is
``changed`` (with the side's current `Entry`, or mapping issues), ``deleted``/``not_found`` (a *confirmed*
deletion: EWS Delete change, ``IsDeleted``, or not-found on a direct fetch), ``unshared`` (Exchange: our category
removed or *Unshare* pressed) or ``withdrawn`` (Salesforce: the record exists but no longer belongs on a
calendar, e.g. a Task whose due date was cleared). A side without a change is taken to be at its base.
Absence from a feed never means anything (invariant 4).

Decision table, first matching row wins (EX = Exchange, SF = Salesforce; "unlink" keeps a tombstone link so
that later changes of either item are ignored):

====================================  =========================================================================
situation                             actions
====================================  =========================================================================
kind's direction is ``off``           every link of the kind: delete the EX item if sync created it from SF,
                                      then unlink (these deletions are policy, not counted by the guard)
no link, EX new item (shared)         events, two_way/upsync_only: create in SF (private: skip → health note,
                                      masked → "Private appointment", no body); downsync_only: health note
                                      ``not_sent_up``; tasks/custom: nothing (they only flow down)
no link, SF new record                create in EX with the kind's category (upsync_only too: "created in SF are
                                      still synced down once")
no link, both new with one sync key   adopt: link them and merge with no base (lost link state, invariant 12)
unlinked link                         ignored; an EX item shared again re-links (or re-creates in SF if the SF
                                      record was deleted)
mapping issues on a side              health entries for the issues, link marked ``failed``; nothing written
pair outside scope                    nothing (leaving scope never deletes)
EX private, policy ``skip``           (EX-origin items) nothing, health note ``private_item_skipped``
EX unshared                           two_way/upsync_only: ``on_unshare`` = keep_salesforce → unlink;
                                      delete_salesforce → delete SF + unlink. downsync_only: unlink
both deleted                          unlink
EX deleted (or cancelled)             downsync_only: re-create in EX (revert). Otherwise ``exchange_deletion``:
                                      delete → delete SF + unlink; keep → unlink
SF deleted                            upsync_only: re-create in SF (revert). Otherwise ``salesforce_deletion``:
                                      keep → remove category + unlink; delete_salesforce_created → delete EX if
                                      sync created it from SF, else remove category; unlink; delete → delete EX
                                      + unlink
SF withdrawn                          delete the EX item (sync created it); keep the link to bring it back
edits                                 field-by-field merge against each side's base (below)
====================================  =========================================================================

Merge of edits (projection fields, see `sync.entry`): a field changed on one side only is taken from that side;
changed on both to equal values costs nothing (invariant 2); changed on both to different values goes to
``conflict_winner`` (``latest``: the later modification time, Exchange on a tie). ``downsync_only`` makes SF win
every changed field (an Outlook edit is reverted), ``upsync_only`` makes EX win (a SF edit is reverted).
Fields that do not flow in a direction:

- ``body`` with ``description=once``: never up after creation; never down to a meeting with attendees;
- ``attendees``: down only with ``attendees_to_exchange`` (then added, never removed);
- masked private items: subject, body, location and attendees never flow down;
- a meeting the mailbox attends but does not organise is read-only: nothing is written down, its changes still
  flow up, and a SF-only edit gives the health note ``exchange_read_only``.

Before writing, the target is checked against the side's limits (`salesforce_issues`, `exchange_issues`); any
issue means no write for the pair (never half of it) and health entries. Writes compare the target as the side
will hold it (its "round trip", e.g. SF has no *tentative*) with what it holds, so lossy fields never ping-pong.

Mass-deletion guard (invariant 5): if the plan deletes more than max(5, 20 %) of the mailbox's live links, or a
full listing of a side came back empty while links exist, the plan keeps only its health entries plus a
``mass_deletion_guard`` entry, and writes nothing.

The plan is deterministic and independent of input order (invariant 13): duplicate changes for one item are
reduced by a total order, new sync keys are UUID5s of mailbox and item id, and actions are sorted canonically.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sync.attendees import Person, for_salesforce
from sync.entry import (
    EVENT,
    PROJECTION_FIELDS,
    Entry,
    Projection,
    Side,
    apply_fields,
    entry_from_projection,
    project,
    projection_hash,
)
from sync.mapping.exchange import exchange_issues, exchange_roundtrip
from sync.mapping.issues import MappingIssue
from sync.mapping.salesforce import salesforce_issues, salesforce_roundtrip
from sync.planner.model import (
    DELETION_TYPES,
    Action,
    ChangeType,
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    DeleteSalesforce,
    ExchangeChange,
    GuardOutcome,
    JoinSalesforceEvent,
    LeaveSalesforceEvent,
    LinkState,
    LinkStatus,
    MeetingEvent,
    Plan,
    RecordHealth,
    RemoveCategory,
    SalesforceChange,
    SharedRelations,
    Unlink,
    UpdateExchange,
    UpdateLinkBase,
    UpdateSalesforce,
    canonical_order,
)
from sync.policies import (
    MASKED_SUBJECT,
    ConflictWinner,
    DescriptionMode,
    Direction,
    ExchangeDeletion,
    OnUnshare,
    Policy,
    PolicySet,
    PrivateItems,
    SalesforceDeletion,
)

# Namespace of deterministic sync keys (uuid5 of mailbox + side + item id).
SYNC_KEY_NAMESPACE = uuid.UUID("6f1d7d8e-3c0b-5b7e-9a51-ca15c0de0001")
MASKED_FIELDS = ("subject", "body", "location", "attendees")

# Health codes raised by the planner (mapping issue codes come from sync.mapping.issues).
NOT_SENT_UP = "not_sent_up"
PRIVATE_ITEM_SKIPPED = "private_item_skipped"
EXCHANGE_READ_ONLY = "exchange_read_only"
MASS_DELETION_GUARD = "mass_deletion_guard"


# --- helpers -----------------------------------------------------------------------------------------


def new_sync_key(mailbox: str, side: Side, item_id: str) -> str:
    """Deterministic key for a new pair: the same item gives the same key on every retry."""
    return str(uuid.uuid5(SYNC_KEY_NAMESPACE, f"{mailbox.lower()}\x1f{side}\x1f{item_id}"))


def mask_projection(p: Projection) -> Projection:
    """What Salesforce sees of a private Exchange item under ``private_items=masked``."""
    return {**p, "subject": MASKED_SUBJECT, "body": "", "location": "", "attendees": []}


def mask_entry(entry: Entry) -> Entry:
    return entry.replace(subject=MASKED_SUBJECT, body="", location="", attendees=())


def in_scope(p: Projection, window: tuple[datetime, datetime]) -> bool:
    """Whether a projection overlaps the scope window (a series: its first start to its UNTIL)."""
    lo, hi = window
    when = p.get("when") or {}
    try:
        if when.get("all_day"):
            # A day is a day somewhere on Earth: allow ±1 day so zones never flip an item out of scope.
            start = datetime.combine(date.fromisoformat(when["start"]), time(0), tzinfo=UTC) - timedelta(days=1)
            end = datetime.combine(date.fromisoformat(when["end"]), time(0), tzinfo=UTC) + timedelta(days=1)
        else:
            start = datetime.strptime(when["start"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
            end = datetime.strptime(when["end"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    except (KeyError, TypeError, ValueError):
        return False
    rec = p.get("recurrence")
    if rec:
        end = datetime.max.replace(tzinfo=UTC)
        for part in rec["rrule"].split(";"):
            if part.startswith("UNTIL="):
                until = part[len("UNTIL=") :][:8]
                end = datetime.strptime(until, "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=2)
    return start <= hi and end >= lo


def _pick(changes: Sequence[Any]) -> Any:
    """One change per item, by a total order: a confirmed deletion wins, then the latest, then content."""

    def key(c: Any) -> tuple[Any, ...]:
        stamp = c.modified_at or datetime.min.replace(tzinfo=UTC)
        content = projection_hash(project(c.entry)) if c.entry is not None else ""
        return (c.type in DELETION_TYPES, stamp, getattr(c, "change_key", None) or "", content, str(c.type))

    return max(changes, key=key)


def _dedupe(changes: Iterable[Any], id_attr: str) -> list[Any]:
    grouped: dict[str, list[Any]] = {}
    for c in changes:
        grouped.setdefault(getattr(c, id_attr), []).append(c)
    return [_pick(grouped[k]) for k in sorted(grouped)]


@dataclass
class _Ctx:
    mailbox: str
    policies: PolicySet
    window_for: Callable[[Policy], tuple[datetime, datetime]]
    default_time_zone: str
    people: Mapping[str, Person] = field(default_factory=dict)
    meetings: Mapping[str, MeetingEvent] = field(default_factory=dict)

    def for_salesforce(
        self, entry: Entry, shared_who_ids: Sequence[str], current_who_ids: Sequence[str] | None = ()
    ) -> Entry:
        if entry.kind != EVENT:
            return entry
        return for_salesforce(entry, self.people, owner_email=self.mailbox, shared_who_ids=shared_who_ids,
                              current_who_ids=current_who_ids)  # fmt: skip


# --- the planner -------------------------------------------------------------------------------------


def plan(
    links: Iterable[LinkState],
    exchange_changes: Iterable[ExchangeChange],
    salesforce_changes: Iterable[SalesforceChange],
    policies: PolicySet,
    now: datetime,
    *,
    mailbox: str | None = None,
    exchange_full_count: int | None = None,
    salesforce_full_count: int | None = None,
    default_time_zone: str = "UTC",
    people: Mapping[str, Person] | None = None,
    meetings: Mapping[str, MeetingEvent] | None = None,
) -> Plan:
    """Plan one session of one mailbox.

    ``exchange_full_count``/``salesforce_full_count``: the number of items a *full* listing returned (pass
    ``None`` for incremental feeds); zero while links exist trips the mass-deletion guard.
    ``default_time_zone``: the mailbox's zone, for items re-created from a base snapshot.
    ``people``: attendee e-mail → matched (sObject, id), for WhoId and invitees (`sync.attendees`).
    ``meetings``: iCalUId → the Event another mailbox already made for that meeting (one meeting, one Event).
    """
    links = list(links)
    mailboxes = {link.mailbox for link in links}
    if mailbox is None:
        if len(mailboxes) > 1:
            raise ValueError("plan() takes the links of one mailbox")
        mailbox = next(iter(mailboxes), "")
    elif mailboxes - {mailbox}:
        raise ValueError(f"plan() for {mailbox} got links of {sorted(mailboxes - {mailbox})}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    ctx = _Ctx(
        mailbox=mailbox,
        policies=policies,
        window_for=lambda p: p.scope.window(now),
        default_time_zone=default_time_zone,
        people=people or {},
        meetings=meetings or {},
    )
    by_key = {link.sync_key: link for link in links}
    by_ex = {link.exchange_id: link for link in sorted(links, key=lambda x: x.sync_key) if link.exchange_id}
    by_sf = {link.salesforce_id: link for link in sorted(links, key=lambda x: x.sync_key) if link.salesforce_id}

    pairs: dict[str, list[Any]] = {}  # sync_key → [link|None, ExchangeChange|None, SalesforceChange|None]
    new_ex: list[ExchangeChange] = []
    new_sf: list[SalesforceChange] = []

    for ex in _dedupe(exchange_changes, "exchange_id"):
        link = by_ex.get(ex.exchange_id)
        if link is None and ex.sync_key in by_key and by_key[ex.sync_key].exchange_id is None:
            link = by_key[ex.sync_key]  # the item a pending create made
        if link is None:
            new_ex.append(ex)
            continue
        slot = pairs.setdefault(link.sync_key, [link, None, None])
        if slot[1] is None or ex.exchange_id == link.exchange_id:
            slot[1] = ex
    for sf in _dedupe(salesforce_changes, "salesforce_id"):
        link = by_sf.get(sf.salesforce_id)
        if link is None and sf.sync_key in by_key and by_key[sf.sync_key].salesforce_id is None:
            link = by_key[sf.sync_key]
        if link is None:
            new_sf.append(sf)
            continue
        slot = pairs.setdefault(link.sync_key, [link, None, None])
        if slot[2] is None or sf.salesforce_id == link.salesforce_id:
            slot[2] = sf

    # New items on both sides under the same (unlinked) sync key: a lost link, adopt the pair. An item that
    # carries no key was the origin of its pair, whose key is derived from its id (`new_sync_key`), so a lost
    # database still pairs every item with its counterpart instead of copying both again (invariant 12).
    def ex_key(ex: ExchangeChange) -> str:
        return ex.sync_key or new_sync_key(mailbox, Side.EXCHANGE, ex.exchange_id)

    def sf_key(sf: SalesforceChange) -> str:
        return sf.sync_key or new_sync_key(mailbox, Side.SALESFORCE, sf.salesforce_id)

    sf_by_key = {sf_key(sf): sf for sf in new_sf if sf.type is ChangeType.CHANGED and sf_key(sf) not in by_key}
    adopted: dict[str, tuple[ExchangeChange, SalesforceChange]] = {}
    for ex in new_ex:
        key = ex_key(ex)
        if ex.type is ChangeType.CHANGED and key in sf_by_key and key not in by_key and key not in adopted:
            adopted[key] = (ex, sf_by_key[key])
            pairs[key] = [None, ex, sf_by_key[key]]
    paired = {id(c) for pair in adopted.values() for c in pair}
    new_ex = [ex for ex in new_ex if id(ex) not in paired]
    new_sf = [sf for sf in new_sf if id(sf) not in paired]

    actions: list[Action] = []
    handled: set[str] = set()
    for key in sorted(pairs):
        link, ex, sf = pairs[key]
        handled.add(key)
        actions += _plan_pair(ctx, key, link, ex, sf)
    for ex in new_ex:
        key = ex.sync_key if ex.sync_key and ex.sync_key not in by_key else None
        actions += _new_exchange(ctx, ex, key or new_sync_key(mailbox, Side.EXCHANGE, ex.exchange_id))
    for sf in new_sf:
        key = sf.sync_key if sf.sync_key and sf.sync_key not in by_key else None
        actions += _new_salesforce(ctx, sf, key or new_sync_key(mailbox, Side.SALESFORCE, sf.salesforce_id))
    # Kinds switched off: links without changes are wound up too.
    for link in sorted(links, key=lambda x: x.sync_key):
        if link.sync_key not in handled and link.is_live:
            if policies.for_kind(link.kind).direction is Direction.OFF:
                actions += _off(link)

    return _guard(ctx, links, actions, exchange_full_count, salesforce_full_count)


def _guard(
    ctx: _Ctx,
    links: list[LinkState],
    actions: list[Action],
    exchange_full_count: int | None,
    salesforce_full_count: int | None,
) -> Plan:
    live = sum(1 for link in links if link.is_live)
    deletions = sum(
        1 for a in actions if isinstance(a, DeleteSalesforce) or (isinstance(a, DeleteExchange) and not a.by_policy_off)
    )
    threshold = ctx.policies.guard.threshold(live)
    # An empty listing is suspicious only where links point at items on that side (a pending create does not).
    on_exchange = sum(1 for link in links if link.is_live and link.exchange_id)
    on_salesforce = sum(1 for link in links if link.is_live and link.salesforce_id)
    reason = ""
    if on_exchange and exchange_full_count == 0:
        reason = f"Exchange listed no items while {on_exchange} links exist."
    elif on_salesforce and salesforce_full_count == 0:
        reason = f"Salesforce listed no records while {on_salesforce} links exist."
    elif ctx.policies.guard.trips(deletions, live):
        reason = (
            f"This session would delete {deletions} items of {live} linked "
            f"(more than {threshold:g}); nothing was written."
        )
    ordered = tuple(sorted(actions, key=canonical_order))
    if not reason:
        return Plan(actions=ordered, guard=GuardOutcome(False, deletions, live, threshold))
    kept = [a for a in ordered if isinstance(a, RecordHealth)]
    kept.append(
        RecordHealth(
            sync_key=None,
            code=MASS_DELETION_GUARD,
            message=f"Mass-deletion guard for {ctx.mailbox}: {reason} An admin should check the mailbox.",
            side=Side.EXCHANGE if "Exchange" in reason else Side.SALESFORCE,
            item_id=ctx.mailbox,
        )
    )
    return Plan(
        actions=tuple(sorted(kept, key=canonical_order)),
        guard=GuardOutcome(True, deletions, live, threshold, reason),
    )


def _health(key: str | None, issues: Iterable[MappingIssue], item_id: str | None, item_side: Side) -> list[Action]:
    return [
        RecordHealth(sync_key=key, code=i.code, message=i.message, side=i.side, item_id=item_id, item_side=item_side)
        for i in issues
    ]


def _off(link: LinkState) -> list[Action]:
    actions: list[Action] = []
    if link.created_by_sync_on_exchange and link.exchange_id:
        actions.append(
            DeleteExchange(
                sync_key=link.sync_key,
                kind=link.kind,
                exchange_id=link.exchange_id,
                change_key=link.exchange_change_key,
                reason="policy_off",
                by_policy_off=True,
            )
        )
    actions.append(Unlink(sync_key=link.sync_key, reason="policy_off", exchange_deleted=bool(actions)))
    return actions


def _is_private_skip(policy: Policy, origin: Side, p: Projection | None) -> bool:
    return (
        policy.kind == EVENT
        and origin is Side.EXCHANGE
        and policy.private_items is PrivateItems.SKIP
        and bool(p and p.get("is_private"))
    )


def _masked(policy: Policy, origin: Side, p: Projection | None) -> bool:
    return (
        policy.kind == EVENT
        and origin is Side.EXCHANGE
        and policy.private_items is PrivateItems.MASKED
        and bool(p and p.get("is_private"))
    )


def _eff(policy: Policy, origin: Side, p: Projection | None) -> Projection | None:
    """The Exchange projection as Salesforce may see it."""
    return mask_projection(p) if p is not None and _masked(policy, origin, p) else p


def _new_exchange(ctx: _Ctx, ex: ExchangeChange, key: str) -> list[Action]:
    policy = ctx.policies.for_kind(ex.kind)
    if ex.type is not ChangeType.CHANGED or ex.is_cancelled:
        return []  # deleting or unsharing an item we never linked: nothing to do
    if policy.kind != EVENT or policy.direction is Direction.OFF:
        return []
    if ex.entry is None:
        return _health(key, ex.issues, ex.exchange_id, Side.EXCHANGE)
    p = project(ex.entry)
    if not in_scope(p, ctx.window_for(policy)):
        return []
    if policy.direction is Direction.DOWNSYNC_ONLY:
        return [
            RecordHealth(
                sync_key=key,
                code=NOT_SENT_UP,
                message="Events sync Salesforce → Exchange only (downsync_only): items created in Outlook "
                "are not sent to Salesforce.",
                side=Side.EXCHANGE,
                item_id=ex.exchange_id,
                severity="info",
            )
        ]
    if _is_private_skip(policy, Side.EXCHANGE, p):
        return [_private_skipped(key, ex.exchange_id)]
    entry = mask_entry(ex.entry) if _masked(policy, Side.EXCHANGE, p) else ex.entry
    shared = ex.shared or SharedRelations()
    if ex.uid and ex.uid in ctx.meetings:
        return [_join(ctx, ex, key, p, ctx.meetings[ex.uid])]
    entry = entry.replace(who_ids=shared.who_ids, what_id=shared.what_id, categories=())
    entry = ctx.for_salesforce(entry, shared.who_ids)
    issues = salesforce_issues(entry)
    if issues:
        return _health(key, issues, ex.exchange_id, Side.EXCHANGE)
    link = _exchange_born_link(ctx, ex, key, p, salesforce_base=project(salesforce_roundtrip(entry)))
    return [
        CreateInSalesforce(
            sync_key=key,
            kind=EVENT,
            salesforce_object="Event",
            exchange_id=ex.exchange_id,
            entry=entry,
            link=link,
        )
    ]


def _exchange_born_link(ctx: _Ctx, ex: ExchangeChange, key: str, p: Projection, **fields: Any) -> LinkState:
    """The link of a pair that starts from a new Exchange item."""
    shared = ex.shared or SharedRelations()
    return LinkState(
        sync_key=key,
        mailbox=ctx.mailbox,
        kind=EVENT,
        origin=Side.EXCHANGE,
        state=LinkStatus.ACTIVE,
        exchange_id=ex.exchange_id,
        exchange_change_key=ex.change_key,
        exchange_base=p,
        shared_who_ids=shared.who_ids,
        shared_what_id=shared.what_id,
        exchange_read_only=not ex.is_organizer,
        exchange_uid=ex.uid,
        **fields,
    )


def _join(ctx: _Ctx, ex: ExchangeChange, key: str, p: Projection, meeting: MeetingEvent) -> JoinSalesforceEvent:
    link = _exchange_born_link(ctx, ex, key, p, salesforce_id=meeting.salesforce_id, salesforce_base=p, joined=True)
    return JoinSalesforceEvent(
        sync_key=key,
        exchange_id=ex.exchange_id,
        salesforce_id=meeting.salesforce_id,
        owner_user_id=meeting.owner_user_id,
        link=link,
    )


def _plan_joined(link: LinkState, ex: ExchangeChange | None, sf: SalesforceChange | None) -> list[Action]:
    """A mailbox invited to an Event another mailbox owns: it follows its own copy, never writes the Event."""
    key = link.sync_key
    if sf is not None and sf.type in DELETION_TYPES:
        return [Unlink(sync_key=key, reason="salesforce_deleted", salesforce_deleted=True)]
    if ex is None:
        return []
    ex_gone = ex.type in DELETION_TYPES or ex.is_cancelled
    if ex_gone or ex.type is ChangeType.UNSHARED:
        reason = "unshared" if ex.type is ChangeType.UNSHARED and not ex_gone else "exchange_deleted"
        assert link.salesforce_id is not None
        return [
            LeaveSalesforceEvent(sync_key=key, salesforce_id=link.salesforce_id, reason=reason),
            Unlink(sync_key=key, reason=reason, exchange_deleted=ex_gone),
        ]
    if ex.entry is None:
        return _failed(link, list(ex.issues), ex, None)
    new_link = _bookkeeping(link, ex, None, state=LinkStatus.ACTIVE, exchange_base=project(ex.entry))
    return [UpdateLinkBase(sync_key=key, link=new_link)] if new_link != link else []


def _private_skipped(key: str | None, item_id: str | None) -> RecordHealth:
    return RecordHealth(
        sync_key=key,
        code=PRIVATE_ITEM_SKIPPED,
        message="Private Outlook items are not synced (private_items = skip).",
        side=Side.EXCHANGE,
        item_id=item_id,
        severity="info",
    )


def _new_salesforce(ctx: _Ctx, sf: SalesforceChange, key: str) -> list[Action]:
    policy = ctx.policies.for_kind(sf.kind)
    if sf.type is not ChangeType.CHANGED or policy.direction is Direction.OFF:
        return []
    if sf.entry is None:
        return _health(key, sf.issues, sf.salesforce_id, Side.SALESFORCE)
    p = project(sf.entry)
    if not in_scope(p, ctx.window_for(policy)):
        return []
    entry = sf.entry.replace(categories=(policy.category,))
    issues = exchange_issues(entry)
    if issues:
        return _health(key, issues, sf.salesforce_id, Side.SALESFORCE)
    link = LinkState(
        sync_key=key,
        mailbox=ctx.mailbox,
        kind=sf.kind,
        origin=Side.SALESFORCE,
        state=LinkStatus.ACTIVE,
        salesforce_object=sf.salesforce_object,
        salesforce_id=sf.salesforce_id,
        salesforce_modstamp=sf.modstamp,
        salesforce_base=p,
        exchange_base=project(exchange_roundtrip(entry)),
        created_by_sync_on_exchange=True,
    )
    return [CreateInExchange(sync_key=key, kind=sf.kind, salesforce_id=sf.salesforce_id, entry=entry, link=link)]


def _plan_pair(
    ctx: _Ctx, key: str, link: LinkState | None, ex: ExchangeChange | None, sf: SalesforceChange | None
) -> list[Action]:
    if link is None:
        # Adoption: both items carry our key but the link row is gone. Merge with no base.
        assert ex is not None and sf is not None
        from_salesforce = key == new_sync_key(ctx.mailbox, Side.SALESFORCE, sf.salesforce_id)
        link = LinkState(
            sync_key=key,
            mailbox=ctx.mailbox,
            kind=sf.kind,
            origin=Side.SALESFORCE if from_salesforce else Side.EXCHANGE,
            created_by_sync_on_exchange=from_salesforce,
            exchange_id=ex.exchange_id,
            salesforce_object=sf.salesforce_object,
            salesforce_id=sf.salesforce_id,
        )
    policy = ctx.policies.for_kind(link.kind)
    direction = policy.direction
    if direction is Direction.OFF:
        return _off(link) if link.is_live else []

    if link.state is LinkStatus.UNLINKED:
        return _reshare(ctx, link, ex, policy)
    if link.joined:
        return _plan_joined(link, ex, sf)

    # Fill ids a pending create left open, from the item found by its sync key.
    if ex is not None and link.exchange_id is None and ex.type is ChangeType.CHANGED:
        link = dataclasses.replace(link, exchange_id=ex.exchange_id)
    if sf is not None and link.salesforce_id is None and sf.type is ChangeType.CHANGED:
        link = dataclasses.replace(link, salesforce_id=sf.salesforce_id)
    # A pending create that did reach Salesforce, whose record the user deleted before the link was confirmed
    # (found by the simulation): a deletion like any other, never a second create (invariant 3).
    if sf is not None and link.salesforce_id is None and sf.type in DELETION_TYPES and sf.sync_key == key:
        link = dataclasses.replace(link, salesforce_id=sf.salesforce_id)
    if ex is not None and link.exchange_id is None and ex.type in DELETION_TYPES and ex.sync_key == key:
        link = dataclasses.replace(link, exchange_id=ex.exchange_id)

    # A failed pair is planned only from both sides' current content (the session reads the side its feed
    # left out, `feeds.refresh_failed`): planned from a base that misses the refused change, it would drop
    # that change and close its health entry although the item never synced (issue 23).
    if link.state is LinkStatus.FAILED and ((link.exchange_id and ex is None) or (link.salesforce_id and sf is None)):
        return []

    issues: list[MappingIssue] = []
    if ex is not None and ex.type is ChangeType.CHANGED and ex.entry is None:
        issues += ex.issues
    if sf is not None and sf.type is ChangeType.CHANGED and sf.entry is None:
        issues += sf.issues
    if issues:
        return _failed(link, issues, ex, sf)

    ex_deleted = ex is not None and (ex.type in DELETION_TYPES or ex.is_cancelled)
    sf_deleted = sf is not None and sf.type in DELETION_TYPES
    ex_unshared = ex is not None and ex.type is ChangeType.UNSHARED and not ex_deleted
    sf_withdrawn = sf is not None and sf.type is ChangeType.WITHDRAWN
    ex_cur = project(ex.entry) if ex is not None and ex.entry is not None and not ex_deleted else link.exchange_base
    sf_cur = project(sf.entry) if sf is not None and sf.entry is not None and not sf_deleted else link.salesforce_base

    # Scope: judged on what each side holds now (or held, if deleted). Outside: nothing, ever.
    window = ctx.window_for(policy)
    for p in (ex_cur, sf_cur):
        if p is not None and not in_scope(p, window):
            return []

    # A side never created (pending link) or withdrawn (task without date): create it or wait.
    if link.salesforce_id is None or link.exchange_id is None:
        return _missing_side(ctx, link, policy, ex, sf, ex_cur, sf_cur, ex_deleted, sf_deleted, sf_withdrawn)

    if _is_private_skip(policy, link.origin, ex_cur) and not (ex_deleted or ex_unshared):
        return [_private_skipped(key, link.exchange_id)]

    if ex_unshared:
        if sf_deleted:
            return [Unlink(sync_key=key, reason="unshared", salesforce_deleted=True)]
        if direction is not Direction.DOWNSYNC_ONLY and policy.on_unshare is OnUnshare.DELETE_SALESFORCE:
            return [_delete_sf(link, "unshared"), Unlink(sync_key=key, reason="unshared", salesforce_deleted=True)]
        return [Unlink(sync_key=key, reason="unshared")]

    if ex_deleted and sf_deleted:
        return [Unlink(sync_key=key, reason="deleted_both", exchange_deleted=True, salesforce_deleted=True)]

    if ex_deleted:
        if direction is Direction.DOWNSYNC_ONLY:
            return _recreate_exchange(ctx, link, policy, sf, sf_cur)
        if policy.exchange_deletion is ExchangeDeletion.DELETE:
            return [
                _delete_sf(link, "exchange_deleted"),
                Unlink(sync_key=key, reason="exchange_deleted", exchange_deleted=True, salesforce_deleted=True),
            ]
        return [Unlink(sync_key=key, reason="exchange_deleted", exchange_deleted=True)]

    if sf_deleted:
        if direction is Direction.UPSYNC_ONLY:
            return _recreate_salesforce(ctx, link, policy, ex, ex_cur)
        return _salesforce_gone(link, policy, "salesforce_deleted")

    if sf_withdrawn:
        return _withdraw(link)

    return _merge(ctx, link, policy, ex, sf, ex_cur, sf_cur)


def _failed(
    link: LinkState, issues: list[MappingIssue], ex: ExchangeChange | None, sf: SalesforceChange | None
) -> list[Action]:
    item = {Side.EXCHANGE: link.exchange_id, Side.SALESFORCE: link.salesforce_id}
    actions: list[Action] = [
        RecordHealth(sync_key=link.sync_key, code=i.code, message=i.message, side=i.side, item_id=item[i.side])
        for i in issues
    ]
    failed = _bookkeeping(link, ex, sf, state=LinkStatus.FAILED)
    if failed != link:
        actions.append(UpdateLinkBase(sync_key=link.sync_key, link=failed))
    return actions


def _bookkeeping(link: LinkState, ex: ExchangeChange | None, sf: SalesforceChange | None, **changes: Any) -> LinkState:
    """The link with the change key, modstamp and read-only flag the feeds report."""
    if ex is not None and ex.type is ChangeType.CHANGED:
        changes.setdefault("exchange_change_key", ex.change_key or link.exchange_change_key)
        changes.setdefault("exchange_read_only", not ex.is_organizer)
    if sf is not None and sf.type is ChangeType.CHANGED and sf.modstamp is not None:
        changes.setdefault("salesforce_modstamp", sf.modstamp)
    return dataclasses.replace(link, **changes)


def _delete_sf(link: LinkState, reason: str) -> DeleteSalesforce:
    assert link.salesforce_id
    return DeleteSalesforce(
        sync_key=link.sync_key,
        kind=link.kind,
        salesforce_object=link.salesforce_object,
        salesforce_id=link.salesforce_id,
        reason=reason,
    )


def _delete_ex(link: LinkState, reason: str) -> DeleteExchange:
    assert link.exchange_id
    return DeleteExchange(
        sync_key=link.sync_key,
        kind=link.kind,
        exchange_id=link.exchange_id,
        change_key=link.exchange_change_key,
        reason=reason,
    )


def _salesforce_gone(link: LinkState, policy: Policy, reason: str) -> list[Action]:
    strategy = policy.salesforce_deletion
    delete = strategy is SalesforceDeletion.DELETE or (
        strategy is SalesforceDeletion.DELETE_SALESFORCE_CREATED and link.created_by_sync_on_exchange
    )
    first: Action
    if delete:
        first = _delete_ex(link, reason)
    else:
        assert link.exchange_id
        first = RemoveCategory(
            sync_key=link.sync_key,
            kind=link.kind,
            exchange_id=link.exchange_id,
            change_key=link.exchange_change_key,
            category=policy.category,
        )
    return [first, Unlink(sync_key=link.sync_key, reason=reason, exchange_deleted=delete, salesforce_deleted=True)]


def _withdraw(link: LinkState) -> list[Action]:
    # Only sync-made items are withdrawn (Tasks, custom objects); the link stays to bring the item back.
    actions: list[Action] = []
    if link.exchange_id and link.created_by_sync_on_exchange:
        actions.append(_delete_ex(link, "salesforce_withdrawn"))
    kept = dataclasses.replace(link, exchange_id=None, exchange_change_key=None, exchange_base=None)
    actions.append(UpdateLinkBase(sync_key=link.sync_key, link=kept))
    return actions


def _entry_for(
    ctx: _Ctx, link: LinkState, policy: Policy, change: Any, p: Projection | None, side: Side
) -> Entry | None:
    if change is not None and change.entry is not None:
        return change.entry
    if p is None:
        return None
    if side is Side.SALESFORCE:
        return entry_from_projection(
            p,
            link.kind,
            time_zone=ctx.default_time_zone,
            who_ids=link.shared_who_ids,
            what_id=link.shared_what_id,
        )
    return entry_from_projection(p, link.kind, time_zone=ctx.default_time_zone)


def _recreate_exchange(
    ctx: _Ctx,
    link: LinkState,
    policy: Policy,
    sf: SalesforceChange | None,
    sf_cur: Projection | None,
    revert: bool = True,
) -> list[Action]:
    entry = _entry_for(ctx, link, policy, sf, sf_cur, Side.SALESFORCE)
    if entry is None:
        return [Unlink(sync_key=link.sync_key, reason="exchange_deleted", exchange_deleted=True)]
    entry = entry.replace(categories=(policy.category,))
    issues = exchange_issues(entry)
    if issues:
        return _failed(link, issues, None, sf)
    new_link = _bookkeeping(
        link,
        None,
        sf,
        state=LinkStatus.ACTIVE,
        exchange_id=None,
        exchange_change_key=None,
        exchange_base=project(exchange_roundtrip(entry)),
        salesforce_base=sf_cur,
        created_by_sync_on_exchange=True,
        exchange_read_only=False,
    )
    return [
        CreateInExchange(
            sync_key=link.sync_key,
            kind=link.kind,
            salesforce_id=link.salesforce_id,
            entry=entry,
            link=new_link,
            revert=revert,
        )
    ]


def _recreate_salesforce(
    ctx: _Ctx, link: LinkState, policy: Policy, ex: ExchangeChange | None, ex_cur: Projection | None
) -> list[Action]:
    entry = _entry_for(ctx, link, policy, ex, ex_cur, Side.EXCHANGE)
    if entry is None:
        return [Unlink(sync_key=link.sync_key, reason="salesforce_deleted", salesforce_deleted=True)]
    if _masked(policy, link.origin, ex_cur):
        entry = mask_entry(entry)
    entry = entry.replace(who_ids=link.shared_who_ids, what_id=link.shared_what_id, categories=())
    entry = ctx.for_salesforce(entry, link.shared_who_ids)
    issues = salesforce_issues(entry)
    if issues:
        return _failed(link, issues, ex, None)
    new_link = _bookkeeping(
        link,
        ex,
        None,
        state=LinkStatus.ACTIVE,
        salesforce_id=None,
        salesforce_modstamp=None,
        salesforce_base=project(salesforce_roundtrip(entry)),
        exchange_base=ex_cur,
    )
    return [
        CreateInSalesforce(
            sync_key=link.sync_key,
            kind=link.kind,
            salesforce_object=link.salesforce_object,
            exchange_id=link.exchange_id,
            entry=entry,
            link=new_link,
            revert=True,
        )
    ]


def _missing_side(
    ctx: _Ctx,
    link: LinkState,
    policy: Policy,
    ex: ExchangeChange | None,
    sf: SalesforceChange | None,
    ex_cur: Projection | None,
    sf_cur: Projection | None,
    ex_deleted: bool,
    sf_deleted: bool,
    sf_withdrawn: bool,
) -> list[Action]:
    key = link.sync_key
    if link.exchange_id is None and link.salesforce_id is None:
        return [Unlink(sync_key=key, reason="no_items")]
    if link.exchange_id is None:
        # A Task/custom record withdrawn earlier, or a create in Exchange that never got confirmed.
        if sf_deleted:
            return [Unlink(sync_key=key, reason="salesforce_deleted", salesforce_deleted=True)]
        if sf_withdrawn:
            return []
        if link.state is LinkStatus.PENDING or (sf is not None and sf.entry is not None):
            return _recreate_exchange(ctx, link, policy, sf, sf_cur, revert=False)
        return []
    # Salesforce id missing: only a pending create from Exchange leaves that.
    if ex_deleted:
        return [Unlink(sync_key=key, reason="exchange_deleted", exchange_deleted=True)]
    if ex is not None and ex.type is ChangeType.UNSHARED:
        return [Unlink(sync_key=key, reason="unshared")]
    actions = _recreate_salesforce(ctx, link, policy, ex, ex_cur)
    return [dataclasses.replace(a, revert=False) if isinstance(a, CreateInSalesforce) else a for a in actions]


def _reshare(ctx: _Ctx, link: LinkState, ex: ExchangeChange | None, policy: Policy) -> list[Action]:
    """An unlinked item shared again in Outlook: link it back (or create anew if its record was deleted)."""
    if ex is None or ex.type is not ChangeType.CHANGED or ex.entry is None or ex.is_cancelled:
        return []
    if policy.kind != EVENT or policy.direction not in (Direction.TWO_WAY, Direction.UPSYNC_ONLY):
        return []
    if link.salesforce_id is None or link.salesforce_base is None:
        return _new_exchange(ctx, ex, link.sync_key)
    revived = dataclasses.replace(link, state=LinkStatus.ACTIVE, exchange_id=ex.exchange_id)
    return _plan_pair(ctx, link.sync_key, revived, ex, None)


def _winner(policy: Policy, ex: ExchangeChange | None, sf: SalesforceChange | None) -> Side:
    if policy.conflict_winner is ConflictWinner.EXCHANGE:
        return Side.EXCHANGE
    if policy.conflict_winner is ConflictWinner.SALESFORCE:
        return Side.SALESFORCE
    oldest = datetime.min.replace(tzinfo=UTC)
    ex_time = (ex.modified_at if ex else None) or oldest
    sf_time = (sf.modified_at if sf else None) or oldest
    return Side.SALESFORCE if sf_time > ex_time else Side.EXCHANGE


def _privacy_goes_down(
    policy: Policy,
    ex: ExchangeChange | None,
    sf: SalesforceChange | None,
    ex_cur: Projection,
    sf_cur: Projection,
    changed_ex: set[str],
    changed_sf: set[str],
    read_only: bool,
) -> bool:
    """Whether this merge writes Salesforce's ``is_private`` to Exchange (e.g. a revert, or SF made it public)."""
    ce, cs = "is_private" in changed_ex, "is_private" in changed_sf
    if not (ce or cs) or read_only or ex_cur["is_private"] == sf_cur["is_private"]:
        return False
    if policy.direction is Direction.DOWNSYNC_ONLY:
        return True
    if policy.direction is not Direction.TWO_WAY:
        return False
    return _winner(policy, ex, sf) is Side.SALESFORCE if (ce and cs) else cs


def _merge(
    ctx: _Ctx,
    link: LinkState,
    policy: Policy,
    ex: ExchangeChange | None,
    sf: SalesforceChange | None,
    ex_cur: Projection | None,
    sf_cur: Projection | None,
) -> list[Action]:
    key = link.sync_key
    assert ex_cur is not None and sf_cur is not None and link.exchange_id and link.salesforce_id
    direction = policy.direction
    read_only = link.exchange_read_only if ex is None or ex.type is not ChangeType.CHANGED else not ex.is_organizer
    ex_eff = _eff(policy, link.origin, ex_cur)
    ex_base_eff = _eff(policy, link.origin, link.exchange_base)
    sf_base = link.salesforce_base
    assert ex_eff is not None
    changed_ex = {f for f in PROJECTION_FIELDS if ex_base_eff is None or ex_eff[f] != ex_base_eff[f]}
    changed_sf = {f for f in PROJECTION_FIELDS if sf_base is None or sf_cur[f] != sf_base[f]}
    masked = _masked(policy, link.origin, ex_cur)
    # Masking protects what the Exchange item will be after this session: a Salesforce edit that makes it
    # public again lets the real values flow down with it.
    if (
        masked
        and not sf_cur["is_private"]
        and _privacy_goes_down(policy, ex, sf, ex_cur, sf_cur, changed_ex, changed_sf, read_only)
    ):
        masked = False
    ex_has_attendees = bool(ex_cur.get("attendees"))

    def flows_up(f: str) -> bool:
        if direction is Direction.DOWNSYNC_ONLY or policy.kind != EVENT:
            return False
        return not (f == "body" and policy.description is DescriptionMode.ONCE)

    def flows_down(f: str) -> bool:
        if direction is Direction.UPSYNC_ONLY or read_only:
            return False
        if masked and f in MASKED_FIELDS:
            return False
        if f == "attendees" and not policy.attendees_to_exchange:
            return False
        return not (f == "body" and policy.description is DescriptionMode.ONCE and ex_has_attendees)

    up: list[str] = []
    down: list[str] = []
    notes: list[Action] = []
    for f in PROJECTION_FIELDS:
        ce, cs = f in changed_ex, f in changed_sf
        if not ce and not cs:
            continue
        if ce and cs and ex_eff[f] == sf_cur[f]:
            continue  # the same change on both sides: nothing to write (invariant 2)
        if direction is Direction.DOWNSYNC_ONLY:
            winner = Side.SALESFORCE
        elif direction is Direction.UPSYNC_ONLY:
            winner = Side.EXCHANGE
        elif ce and cs:
            winner = _winner(policy, ex, sf)
        else:
            winner = Side.EXCHANGE if ce else Side.SALESFORCE
        if winner is Side.SALESFORCE and read_only:
            if ce and direction is not Direction.DOWNSYNC_ONLY:
                winner = Side.EXCHANGE  # the organiser's copy is what the attendee has: it flows up
            else:
                notes.append(
                    RecordHealth(
                        sync_key=key,
                        code=EXCHANGE_READ_ONLY,
                        message="This meeting is organised by someone else: Salesforce changes to it are not "
                        "written to Outlook.",
                        side=Side.EXCHANGE,
                        item_id=link.exchange_id,
                        severity="info",
                    )
                )
                continue
        if winner is Side.EXCHANGE and flows_up(f) and ex_eff[f] != sf_cur[f]:
            up.append(f)
        elif winner is Side.SALESFORCE and flows_down(f) and sf_cur[f] != ex_cur[f]:
            down.append(f)

    ex_entry = _entry_for(ctx, link, policy, ex, ex_cur, Side.EXCHANGE)
    sf_entry = _entry_for(ctx, link, policy, sf, sf_cur, Side.SALESFORCE)
    assert ex_entry is not None and sf_entry is not None
    ex_source = mask_entry(ex_entry) if masked else ex_entry

    # Who/What chosen in the add-in since the last session go up with the rest.
    shared = ex.shared if ex is not None and ex.type is ChangeType.CHANGED else None
    relations_changed = (
        shared is not None
        and policy.kind == EVENT
        and direction is not Direction.DOWNSYNC_ONLY
        and (shared.who_ids, shared.what_id) != (link.shared_who_ids, link.shared_what_id)
    )

    sf_target = apply_fields(sf_entry, ex_source, up)
    if relations_changed:
        assert shared is not None
        sf_target = sf_target.replace(who_ids=shared.who_ids, what_id=shared.what_id)
    if "attendees" in up:
        # Only matched attendees can be invitees; a Who comes from them when none was chosen or set.
        chosen = shared.who_ids if relations_changed and shared is not None else link.shared_who_ids
        current_who = sf_entry.who_ids if sf is not None and sf.entry is not None else None
        sf_target = ctx.for_salesforce(sf_target, chosen, current_who)
    ex_target = apply_fields(ex_entry, sf_entry, down)
    if "attendees" in down:
        # Salesforce invitees are added to the meeting, never removed from it.
        merged = {a.email: a for a in sf_entry.attendees} | {a.email: a for a in ex_entry.attendees}
        ex_target = ex_target.replace(attendees=tuple(sorted(merged.values())))

    sf_rt = project(salesforce_roundtrip(sf_target)) if up else sf_cur
    ex_rt = project(exchange_roundtrip(ex_target)) if down else ex_cur
    up = [f for f in up if sf_rt[f] != sf_cur[f]]
    down = [f for f in down if ex_rt[f] != ex_cur[f]]

    issues: list[MappingIssue] = []
    if up or relations_changed:
        issues += salesforce_issues(sf_target)
    if down:
        issues += exchange_issues(ex_target)
    if issues:
        return notes + _failed(link, issues, ex, sf)

    actions: list[Action] = list(notes)
    if up or relations_changed:
        actions.append(
            UpdateSalesforce(
                sync_key=key,
                kind=link.kind,
                salesforce_object=link.salesforce_object,
                salesforce_id=link.salesforce_id,
                fields=tuple(up) + (("who_what",) if relations_changed else ()),
                entry=sf_target,
                current=sf_entry,
                revert=direction is Direction.UPSYNC_ONLY and bool(set(up) & changed_sf),
            )
        )
    if down:
        actions.append(
            UpdateExchange(
                sync_key=key,
                kind=link.kind,
                exchange_id=link.exchange_id,
                change_key=ex.change_key if ex is not None and ex.change_key else link.exchange_change_key,
                fields=tuple(down),
                entry=ex_target,
                current=ex_entry,
                revert=direction is Direction.DOWNSYNC_ONLY and bool(set(down) & changed_ex),
            )
        )
    new_sf_base = {**sf_cur, **{f: sf_rt[f] for f in up}}
    new_ex_base = {**ex_cur, **{f: ex_rt[f] for f in down}}
    changes: dict[str, Any] = {
        "state": LinkStatus.ACTIVE,
        "exchange_base": new_ex_base,
        "salesforce_base": new_sf_base,
    }
    if relations_changed:
        assert shared is not None
        changes.update(shared_who_ids=shared.who_ids, shared_what_id=shared.what_id)
    new_link = _bookkeeping(link, ex, sf, **changes)
    if new_link != link:
        actions.append(UpdateLinkBase(sync_key=key, link=new_link))
    return actions


__all__ = ["in_scope", "mask_entry", "mask_projection", "new_sync_key", "plan"]
