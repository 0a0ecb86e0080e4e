"""The field-by-field merge of a linked pair whose sides were edited (the decision table's last row).

Merge of edits (projection fields, see `sync.entry`): a field changed on one side only is taken from that side;
changed on both to equal values costs nothing (docs/invariants.md #2); changed on both to different values goes to
``conflict_winner`` (``latest``: the later modification time, Exchange on a tie). ``downsync_only`` makes SF win
every changed field (an Outlook edit is reverted), ``upsync_only`` makes EX win (a SF edit is reverted).
Fields that do not flow in a direction:

- ``body`` with ``description=once``: never up after creation; never down to a meeting with attendees;
- ``attendees``: down only with ``attendees_to_exchange`` (then added, never removed);
- masked private items: subject, body, location and attendees never flow down;
- a meeting the mailbox attends but does not organise is read-only: nothing is written down, its changes still
  flow up, and a SF-only edit gives the health note ``exchange_read_only``;
- through a connector that e-mails attendees (Graph): attendees never flow down, and nothing is written down to
  a meeting the rep organises that has attendees (health note ``graph_would_notify``, `sync.planner.notify`)
  unless the policy has ``notify_attendees``.

Before writing, the target is checked against the side's limits (`salesforce_issues`, `exchange_issues`); any
issue means no write for the pair (never half of it) and health entries. Writes compare the target as the side
will hold it (its "round trip", e.g. SF has no *tentative*) with what it holds, so lossy fields never ping-pong.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sync.entry import EVENT, PROJECTION_FIELDS, Projection, Side, apply_fields, project
from sync.mapping.exchange import exchange_issues, exchange_roundtrip
from sync.mapping.issues import MappingIssue
from sync.mapping.salesforce import salesforce_issues, salesforce_roundtrip
from sync.planner import notify
from sync.planner.context import (
    MASKED_FIELDS,
    Context,
    bookkeeping,
    entry_for,
    fail_pair,
    is_masked,
    mask_entry,
    seen_by_salesforce,
)
from sync.planner.model import (
    Action,
    ChangeType,
    ExchangeChange,
    LinkState,
    LinkStatus,
    RecordHealth,
    SalesforceChange,
    UpdateExchange,
    UpdateLinkBase,
    UpdateSalesforce,
)
from sync.policies import ConflictWinner, DescriptionMode, Direction, Policy

# Health code of a Salesforce edit that cannot reach a meeting the mailbox only attends.
EXCHANGE_READ_ONLY = "exchange_read_only"


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


def merge(
    ctx: Context,
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
    ex_eff = seen_by_salesforce(policy, link.origin, ex_cur)
    ex_base_eff = seen_by_salesforce(policy, link.origin, link.exchange_base)
    sf_base = link.salesforce_base
    assert ex_eff is not None
    changed_ex = {f for f in PROJECTION_FIELDS if ex_base_eff is None or ex_eff[f] != ex_base_eff[f]}
    changed_sf = {f for f in PROJECTION_FIELDS if sf_base is None or sf_cur[f] != sf_base[f]}
    masked = is_masked(policy, link.origin, ex_cur)
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
        if f == "attendees" and (not policy.attendees_to_exchange or ctx.notifies_attendees):
            return False  # through Graph, adding attendees would invite them (sync.planner.notify)
        return not (f == "body" and policy.description is DescriptionMode.ONCE and ex_has_attendees)

    up: list[str] = []
    down: list[str] = []
    notes: list[Action] = []
    for f in PROJECTION_FIELDS:
        ce, cs = f in changed_ex, f in changed_sf
        if not ce and not cs:
            continue
        if ce and cs and ex_eff[f] == sf_cur[f]:
            continue  # the same change on both sides: nothing to write (docs/invariants.md #2)
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

    ex_entry = entry_for(ctx, link, policy, ex, ex_cur, Side.EXCHANGE)
    sf_entry = entry_for(ctx, link, policy, sf, sf_cur, Side.SALESFORCE)
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
    # A write that would e-mail the meeting's attendees is held back; the Salesforce change stays pending.
    held: list[str] = []
    attendees = notify.attendee_count(ex_cur, ctx.mailbox)
    if down and notify.holds(ctx.notifies_attendees, policy, not read_only, attendees):
        held, down = down, []
        notes.append(notify.would_notify(key, link.exchange_id, attendees, "update"))

    issues: list[MappingIssue] = []
    if up or relations_changed:
        issues += salesforce_issues(sf_target)
    if down:
        issues += exchange_issues(ex_target)
    if issues:
        return notes + fail_pair(link, issues, ex, sf)

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
    if sf_base is not None:
        new_sf_base.update({f: sf_base[f] for f in held})
    changes: dict[str, Any] = {
        "state": LinkStatus.ACTIVE,
        "exchange_base": new_ex_base,
        "salesforce_base": new_sf_base,
    }
    if relations_changed:
        assert shared is not None
        changes.update(shared_who_ids=shared.who_ids, shared_what_id=shared.what_id)
    new_link = bookkeeping(link, ex, sf, **changes)
    if new_link != link:
        actions.append(UpdateLinkBase(sync_key=key, link=new_link))
    return actions
