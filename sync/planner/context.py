"""What the rules and the merge share: the session's `Context`, masking of private items, link bookkeeping.

Pure helpers of `sync.planner.rules` and `sync.planner.merge`; no decisions of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.attendees import Person, for_salesforce
from sync.entry import EVENT, Entry, Projection, Side, entry_from_projection
from sync.mapping.issues import MappingIssue
from sync.planner.model import (
    Action,
    ChangeType,
    ExchangeChange,
    LinkState,
    LinkStatus,
    MeetingEvent,
    RecordHealth,
    SalesforceChange,
    UpdateLinkBase,
)
from sync.policies import MASKED_SUBJECT, Policy, PolicySet, PrivateItems

# Fields a masked private item never sends down (``private_items=masked``).
MASKED_FIELDS = ("subject", "body", "location", "attendees")


def mask_projection(p: Projection) -> Projection:
    """What Salesforce sees of a private Exchange item under ``private_items=masked``."""
    return {**p, "subject": MASKED_SUBJECT, "body": "", "location": "", "attendees": []}


def mask_entry(entry: Entry) -> Entry:
    return entry.replace(subject=MASKED_SUBJECT, body="", location="", attendees=())


@dataclass
class Context:
    """What every rule of one `plan()` call sees: the mailbox, its policies, scope, people and meetings."""

    mailbox: str
    policies: PolicySet
    window_for: Callable[[Policy], tuple[datetime, datetime]]
    default_time_zone: str
    people: Mapping[str, Person] = field(default_factory=dict)
    meetings: Mapping[str, MeetingEvent] = field(default_factory=dict)
    # The Exchange connector e-mails attendees on writes (Graph): `sync.planner.notify` applies.
    notifies_attendees: bool = False

    def for_salesforce(
        self, entry: Entry, shared_who_ids: Sequence[str], current_who_ids: Sequence[str] | None = ()
    ) -> Entry:
        if entry.kind != EVENT:
            return entry
        return for_salesforce(entry, self.people, owner_email=self.mailbox, shared_who_ids=shared_who_ids,
                              current_who_ids=current_who_ids)  # fmt: skip


def is_masked(policy: Policy, origin: Side, p: Projection | None) -> bool:
    return (
        policy.kind == EVENT
        and origin is Side.EXCHANGE
        and policy.private_items is PrivateItems.MASKED
        and bool(p and p.get("is_private"))
    )


def seen_by_salesforce(policy: Policy, origin: Side, p: Projection | None) -> Projection | None:
    """The Exchange projection as Salesforce may see it."""
    return mask_projection(p) if p is not None and is_masked(policy, origin, p) else p


def entry_for(
    ctx: Context, link: LinkState, policy: Policy, change: Any, p: Projection | None, side: Side
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


def fail_pair(
    link: LinkState, issues: list[MappingIssue], ex: ExchangeChange | None, sf: SalesforceChange | None
) -> list[Action]:
    item = {Side.EXCHANGE: link.exchange_id, Side.SALESFORCE: link.salesforce_id}
    actions: list[Action] = [
        RecordHealth(sync_key=link.sync_key, code=i.code, message=i.message, side=i.side, item_id=item[i.side])
        for i in issues
    ]
    failed = bookkeeping(link, ex, sf, state=LinkStatus.FAILED)
    if failed != link:
        actions.append(UpdateLinkBase(sync_key=link.sync_key, link=failed))
    return actions


def bookkeeping(link: LinkState, ex: ExchangeChange | None, sf: SalesforceChange | None, **changes: Any) -> LinkState:
    """The link with the change key, modstamp and read-only flag the feeds report."""
    if ex is not None and ex.type is ChangeType.CHANGED:
        changes.setdefault("exchange_change_key", ex.change_key or link.exchange_change_key)
        changes.setdefault("exchange_read_only", not ex.is_organizer)
    if sf is not None and sf.type is ChangeType.CHANGED and sf.modstamp is not None:
        changes.setdefault("salesforce_modstamp", sf.modstamp)
    return dataclasses.replace(link, **changes)
