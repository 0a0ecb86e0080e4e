"""The planner: a pure function from (links, change feeds, policies, now) to a `Plan` of typed actions.

``plan(links, exchange_changes, salesforce_changes, policies, now, ...)`` holds all policy logic of docs/policies.md.
It does no I/O; the session runner applies the actions and persists the `LinkState` rows the plan returns.

Inputs per item pair: the link (if any), at most one Exchange change and one Salesforce change. A change is
``changed`` (with the side's current `Entry`, or mapping issues), ``deleted``/``not_found`` (a *confirmed*
deletion: EWS Delete change, ``IsDeleted``, or not-found on a direct fetch), ``unshared`` (Exchange: our category
removed or *Unshare* pressed) or ``withdrawn`` (Salesforce: the record exists but no longer belongs on a
calendar, e.g. a Task whose due date was cleared). A side without a change is taken to be at its base.
Absence from a feed never means anything (docs/invariants.md #4).

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
no link, both new with one sync key   adopt: link them and merge with no base (lost link state, docs/invariants.md #12);
                                      a deleted SF record under the key of a new EX item: adopt, then the
                                      "SF deleted" row below; an untagged EX item whose derived key a SF record
                                      carries (unshared before the link was lost): adopt as a tombstone
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
edits                                 field-by-field merge against each side's base (`sync.planner.merge`)
====================================  =========================================================================

Through a connector that e-mails attendees (Graph), the rows above that delete, untag or update an Exchange
meeting the rep organises that has attendees give the note ``graph_would_notify`` instead, unless the policy
has ``notify_attendees``; items created in Exchange never get attendees (`sync.planner.notify`).

Merge of edits: `sync.planner.merge` (its docstring lists the fields that do not flow in a direction).
Mass-deletion guard (docs/invariants.md #5): `sync.planner.guard`.
Shared by both: the session's `Context`, masking and link bookkeeping in `sync.planner.context`.

The plan is deterministic and independent of input order (docs/invariants.md #13): duplicate changes for one item are
reduced by a total order, new sync keys are UUID5s of mailbox and item id, and actions are sorted canonically.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sync.attendees import Person
from sync.entry import EVENT, Projection, Side, project, projection_hash
from sync.mapping.exchange import exchange_issues, exchange_roundtrip
from sync.mapping.issues import MappingIssue
from sync.mapping.salesforce import salesforce_issues, salesforce_roundtrip
from sync.planner import notify
from sync.planner.context import Context, bookkeeping, entry_for, fail_pair, is_masked, mask_entry
from sync.planner.guard import guard
from sync.planner.merge import merge
from sync.planner.model import (
    DELETION_TYPES,
    Action,
    ChangeType,
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    DeleteSalesforce,
    ExchangeChange,
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
    UpdateLinkBase,
)
from sync.policies import Direction, ExchangeDeletion, OnUnshare, Policy, PolicySet, PrivateItems, SalesforceDeletion
from sync.scope import overlaps, projection_span

# Namespace of deterministic sync keys (uuid5 of mailbox + side + item id).
SYNC_KEY_NAMESPACE = uuid.UUID("6f1d7d8e-3c0b-5b7e-9a51-ca15c0de0001")

# Health codes raised by the rules (the merge's and the guard's are in their modules; mapping issue codes
# come from sync.mapping.issues).
NOT_SENT_UP = "not_sent_up"
PRIVATE_ITEM_SKIPPED = "private_item_skipped"


# --- helpers -----------------------------------------------------------------------------------------


def new_sync_key(mailbox: str, side: Side, item_id: str) -> str:
    """Deterministic key for a new pair: the same item gives the same key on every retry."""
    return str(uuid.uuid5(SYNC_KEY_NAMESPACE, f"{mailbox.lower()}\x1f{side}\x1f{item_id}"))


def in_scope(p: Projection, window: tuple[datetime, datetime]) -> bool:
    """Whether a projection overlaps the scope window (a series: its first start to its UNTIL)."""
    return overlaps(projection_span(p), window)


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
    notifies_attendees: bool = False,
) -> Plan:
    """Plan one session of one mailbox.

    ``exchange_full_count``/``salesforce_full_count``: the number of items a *full* listing returned (pass
    ``None`` for incremental feeds); zero while links exist trips the mass-deletion guard.
    ``default_time_zone``: the mailbox's zone, for items re-created from a base snapshot.
    ``people``: attendee e-mail → matched (sObject, id), for WhoId and invitees (`sync.attendees`).
    ``meetings``: iCalUId → the Event another mailbox already made for that meeting (one meeting, one Event).
    ``notifies_attendees``: the Exchange connector e-mails attendees on writes (Graph, `sync.planner.notify`).
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

    ctx = Context(
        mailbox=mailbox,
        policies=policies,
        window_for=lambda p: p.scope.window(now),
        default_time_zone=default_time_zone,
        people=people or {},
        meetings=meetings or {},
        notifies_attendees=notifies_attendees,
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
    # database still pairs every item with its counterpart instead of copying both again (docs/invariants.md #12).
    def ex_key(ex: ExchangeChange) -> str:
        return ex.sync_key or new_sync_key(mailbox, Side.EXCHANGE, ex.exchange_id)

    def sf_key(sf: SalesforceChange) -> str:
        return sf.sync_key or new_sync_key(mailbox, Side.SALESFORCE, sf.salesforce_id)

    sf_by_key = {sf_key(sf): sf for sf in new_sf if sf.type is ChangeType.CHANGED and sf_key(sf) not in by_key}
    # A deleted record (queryAll lists it) under the key of a new Exchange item: the pair's Salesforce side was
    # deleted while its link was lost; adopted, it is planned as that deletion, not as a new item to copy up
    # again (found by the checker: tests/checker/test_regressions.py, docs/invariants.md #3, #12).
    sf_gone_by_key = {sf_key(sf): sf for sf in new_sf if sf.type in DELETION_TYPES and sf_key(sf) not in by_key}
    adopted: dict[str, tuple[ExchangeChange, SalesforceChange]] = {}
    for ex in new_ex:
        key = ex_key(ex)
        if ex.type not in (ChangeType.CHANGED, ChangeType.UNSHARED) or key in by_key or key in adopted:
            continue
        # An item unshared before its link was lost (`sync.feeds.unshared_counterparts`) pairs with a live record.
        gone = sf_gone_by_key.get(key) if ex.type is ChangeType.CHANGED else None
        counterpart = sf_by_key.get(key) or gone
        if counterpart is not None:
            adopted[key] = (ex, counterpart)
            pairs[key] = [None, ex, counterpart]
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
                actions += _held(ctx, link, policies.for_kind(link.kind), None, _off(link))

    return guard(mailbox, policies.guard, links, actions, exchange_full_count, salesforce_full_count)


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


def _new_exchange(ctx: Context, ex: ExchangeChange, key: str) -> list[Action]:
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
    entry = mask_entry(ex.entry) if is_masked(policy, Side.EXCHANGE, p) else ex.entry
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


def _exchange_born_link(ctx: Context, ex: ExchangeChange, key: str, p: Projection, **fields: Any) -> LinkState:
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


def _join(ctx: Context, ex: ExchangeChange, key: str, p: Projection, meeting: MeetingEvent) -> JoinSalesforceEvent:
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
        return fail_pair(link, list(ex.issues), ex, None)
    new_link = bookkeeping(link, ex, None, state=LinkStatus.ACTIVE, exchange_base=project(ex.entry))
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


def _new_salesforce(ctx: Context, sf: SalesforceChange, key: str) -> list[Action]:
    policy = ctx.policies.for_kind(sf.kind)
    if sf.type is not ChangeType.CHANGED or policy.direction is Direction.OFF:
        return []
    if sf.entry is None:
        return _health(key, sf.issues, sf.salesforce_id, Side.SALESFORCE)
    p = project(sf.entry)
    if not in_scope(p, ctx.window_for(policy)):
        return []
    entry = sf.entry.replace(categories=(policy.category,))
    if ctx.notifies_attendees:
        entry = notify.invitees_in_body(entry, listed=policy.attendees_to_exchange)
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
    ctx: Context, key: str, link: LinkState | None, ex: ExchangeChange | None, sf: SalesforceChange | None
) -> list[Action]:
    adopting = link is None
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
        return _held(ctx, link, policy, ex, _off(link)) if link.is_live else []

    if link.state is LinkStatus.UNLINKED:
        return _reshare(ctx, link, ex, policy, sf)
    if link.joined:
        return _plan_joined(link, ex, sf)

    # Fill ids a pending create left open, from the item found by its sync key.
    if ex is not None and link.exchange_id is None and ex.type is ChangeType.CHANGED:
        link = dataclasses.replace(link, exchange_id=ex.exchange_id)
    if sf is not None and link.salesforce_id is None and sf.type is ChangeType.CHANGED:
        link = dataclasses.replace(link, salesforce_id=sf.salesforce_id)
    # A pending create that did reach Salesforce, whose record the user deleted before the link was confirmed
    # (found by the simulation): a deletion like any other, never a second create (docs/invariants.md #3).
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
        return fail_pair(link, issues, ex, sf)

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
        if not adopting:
            return [_private_skipped(key, link.exchange_id)]
        # An adopted pair stays linked, as it was before its link was lost: left unlinked, its Salesforce record
        # would look new at its next reading and be copied down beside the private item (found by the checker).
        relinked = bookkeeping(link, ex, sf, state=LinkStatus.ACTIVE, exchange_base=ex_cur, salesforce_base=sf_cur)
        return [_private_skipped(key, link.exchange_id), UpdateLinkBase(sync_key=key, link=relinked)]

    if ex_unshared and adopting:
        # Unshared before its link was lost: keep the tombstone a normal run kept (nothing is deleted now; the
        # unshare happened under whatever on_unshare was then), so the record is not taken for a new one.
        tombstone = dataclasses.replace(link, state=LinkStatus.UNLINKED, salesforce_base=sf_cur)
        return [UpdateLinkBase(sync_key=key, link=tombstone)]
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
            return _recreate(ctx, link, policy, Side.EXCHANGE, sf, sf_cur)
        if policy.exchange_deletion is ExchangeDeletion.DELETE:
            return [
                _delete_sf(link, "exchange_deleted"),
                Unlink(sync_key=key, reason="exchange_deleted", exchange_deleted=True, salesforce_deleted=True),
            ]
        return [Unlink(sync_key=key, reason="exchange_deleted", exchange_deleted=True)]

    if sf_deleted:
        if direction is Direction.UPSYNC_ONLY:
            return _recreate(ctx, link, policy, Side.SALESFORCE, ex, ex_cur)
        return _held(ctx, link, policy, ex, _salesforce_gone(link, policy, "salesforce_deleted"))

    if sf_withdrawn:
        return _held(ctx, link, policy, ex, _withdraw(link))

    return merge(ctx, link, policy, ex, sf, ex_cur, sf_cur)


def _held(
    ctx: Context, link: LinkState, policy: Policy, ex: ExchangeChange | None, actions: list[Action]
) -> list[Action]:
    """Exchange deletions and category removals that would e-mail attendees, held back (`sync.planner.notify`)."""
    organiser, p = notify.exchange_now(link, ex)
    attendees = notify.attendee_count(p, ctx.mailbox)
    if not notify.holds(ctx.notifies_attendees, policy, organiser, attendees):
        return actions
    return notify.hold_deletions(actions, link, attendees)


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


def _recreate(
    ctx: Context,
    link: LinkState,
    policy: Policy,
    missing: Side,
    source: ExchangeChange | SalesforceChange | None,
    source_cur: Projection | None,
    revert: bool = True,
) -> list[Action]:
    """Create the ``missing`` side's item anew from the other side (its change, else its base snapshot).

    A one-way policy reverting a deletion (``revert``), or a create that never got confirmed (``revert=False``).
    """
    key = link.sync_key
    ex, sf = (None, source) if missing is Side.EXCHANGE else (source, None)
    entry = entry_for(ctx, link, policy, source, source_cur, missing.other)
    if entry is None:
        return [
            Unlink(
                sync_key=key,
                reason=f"{missing}_deleted",
                exchange_deleted=missing is Side.EXCHANGE,
                salesforce_deleted=missing is Side.SALESFORCE,
            )
        ]
    if missing is Side.EXCHANGE:
        entry = entry.replace(categories=(policy.category,))
        if ctx.notifies_attendees:
            entry = notify.invitees_in_body(entry, listed=policy.attendees_to_exchange)
        issues = exchange_issues(entry)
    else:
        if is_masked(policy, link.origin, source_cur):
            entry = mask_entry(entry)
        entry = entry.replace(who_ids=link.shared_who_ids, what_id=link.shared_what_id, categories=())
        entry = ctx.for_salesforce(entry, link.shared_who_ids)
        issues = salesforce_issues(entry)
    if issues:
        return fail_pair(link, issues, ex, sf)
    if missing is Side.EXCHANGE:
        new_link = bookkeeping(
            link,
            ex,
            sf,
            state=LinkStatus.ACTIVE,
            exchange_id=None,
            exchange_change_key=None,
            exchange_base=project(exchange_roundtrip(entry)),
            salesforce_base=source_cur,
            created_by_sync_on_exchange=True,
            exchange_read_only=False,
        )
        return [
            CreateInExchange(
                sync_key=key,
                kind=link.kind,
                salesforce_id=link.salesforce_id,
                entry=entry,
                link=new_link,
                revert=revert,
            )
        ]
    new_link = bookkeeping(
        link,
        ex,
        sf,
        state=LinkStatus.ACTIVE,
        salesforce_id=None,
        salesforce_modstamp=None,
        salesforce_base=project(salesforce_roundtrip(entry)),
        exchange_base=source_cur,
    )
    return [
        CreateInSalesforce(
            sync_key=key,
            kind=link.kind,
            salesforce_object=link.salesforce_object,
            exchange_id=link.exchange_id,
            entry=entry,
            link=new_link,
            revert=revert,
        )
    ]


def _missing_side(
    ctx: Context,
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
            return _recreate(ctx, link, policy, Side.EXCHANGE, sf, sf_cur, revert=False)
        return []
    # Salesforce id missing: only a pending create from Exchange leaves that.
    if ex_deleted:
        return [Unlink(sync_key=key, reason="exchange_deleted", exchange_deleted=True)]
    if ex is not None and ex.type is ChangeType.UNSHARED:
        return [Unlink(sync_key=key, reason="unshared")]
    if policy.direction is Direction.DOWNSYNC_ONLY:
        # The create was cut short, then the kind became downsync_only: Salesforce is read-only now
        # (docs/invariants.md #8), so the create waits, pending, for a direction that sends items up (found by the
        # checker: a busy upsert, a switch to downsync_only, then the retry).
        return []
    return _recreate(ctx, link, policy, Side.SALESFORCE, ex, ex_cur, revert=False)


def _reshare(
    ctx: Context, link: LinkState, ex: ExchangeChange | None, policy: Policy, sf: SalesforceChange | None = None
) -> list[Action]:
    """An unlinked item shared again in Outlook: link it back (or create anew if its record was deleted before).

    A deletion of the record in this session's feed is planned with the revived pair, as the Salesforce deletion
    it is (the feeds cannot tell whether it came before or after the reshare): left out, the pair's update of
    the deleted record was refused at every session (found by the checker)."""
    if ex is None or ex.type is not ChangeType.CHANGED or ex.entry is None or ex.is_cancelled:
        return []
    if policy.kind != EVENT or policy.direction is Direction.OFF:
        return []
    if link.salesforce_id is None or link.salesforce_base is None:
        if policy.direction is Direction.DOWNSYNC_ONLY:
            return []  # no record to link back to, and none may be made in Salesforce
        return _new_exchange(ctx, ex, link.sync_key)
    # Under downsync_only too: the pair is linked back and Salesforce's values win, as for any linked pair
    # (found by the checker: left unlinked, the reshared item kept its Outlook edit for good, #10).
    revived = dataclasses.replace(link, state=LinkStatus.ACTIVE, exchange_id=ex.exchange_id)
    # The record's own change in this feed (an edit made while the kind was off: its watermark stayed, so the
    # first session with the kind on again reads it) is planned with the pair, against the base, like any edit.
    mine = sf if sf is not None and sf.salesforce_id == link.salesforce_id else None
    actions = _plan_pair(ctx, link.sync_key, revived, ex, mine)
    if not actions:
        # Nothing to write: the pair is linked again all the same, so that its later changes sync (a kind switched
        # on again reads every tagged item in a full listing; docs/policies.md).
        actions = [UpdateLinkBase(sync_key=link.sync_key, link=revived)]
    return actions


__all__ = ["NOT_SENT_UP", "PRIVATE_ITEM_SKIPPED", "in_scope", "new_sync_key", "plan"]
