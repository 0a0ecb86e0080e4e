"""The planner's model: link state, change records, actions and the plan (shared by links, feeds, apply, API).

Plain frozen data, no rules: `sync.planner.rules` decides, `sync.apply` carries the actions out, `sync.links`
persists `LinkState`, `sync.feeds` builds the change records. Kept apart from the rules so that those modules
depend on the vocabulary, not on the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sync.entry import EVENT, Entry, Projection, Side, projection_hash
from sync.mapping.issues import MappingIssue


class LinkStatus(StrEnum):
    # Written before a remote create (the created side's id not known yet), and kept after it until the saved
    # Exchange cursor covers the item (sync.links): planned like active, the item checked at every session.
    PENDING = "pending"
    ACTIVE = "active"
    UNLINKED = "unlinked"  # a tombstone: changes of its items are ignored
    FAILED = "failed"  # the last attempt had issues (health entries); planned like active


LIVE_STATES = (LinkStatus.PENDING, LinkStatus.ACTIVE, LinkStatus.FAILED)


@dataclass(frozen=True)
class SharedRelations:
    """Who/What chosen in the add-in when sharing (win over attendee matching)."""

    who_ids: tuple[str, ...] = ()
    what_id: str | None = None


@dataclass(frozen=True)
class LinkState:
    """One link row: everything the planner needs to persist per item pair.

    ``exchange_base``/``salesforce_base`` are the projections of each side as last synced (per side, because
    some fields legitimately differ between sides: lossy values, fields that only flow one way); their hashes
    (``exchange_hash``/``salesforce_hash``) recognise echoes. ``created_by_sync_on_exchange`` says the EX item
    was made by sync from SF (it may then be removed by ``delete_salesforce_created`` and by ``off``).
    """

    sync_key: str
    mailbox: str
    kind: str = EVENT
    origin: Side = Side.EXCHANGE
    state: LinkStatus = LinkStatus.ACTIVE
    exchange_id: str | None = None
    exchange_change_key: str | None = None
    salesforce_object: str = "Event"
    salesforce_id: str | None = None
    salesforce_modstamp: datetime | None = None
    exchange_base: Projection | None = None
    salesforce_base: Projection | None = None
    shared_who_ids: tuple[str, ...] = ()
    shared_what_id: str | None = None
    created_by_sync_on_exchange: bool = False
    exchange_read_only: bool = False
    exchange_uid: str | None = None  # the meeting's iCalUId
    # The Event belongs to another mailbox's link (one meeting, one Event): this mailbox is an invitee and
    # never writes the Event; leaving the meeting removes only its own EventRelation.
    joined: bool = False

    @property
    def exchange_hash(self) -> str | None:
        return projection_hash(self.exchange_base)

    @property
    def salesforce_hash(self) -> str | None:
        return projection_hash(self.salesforce_base)

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES


class ChangeType(StrEnum):
    CHANGED = "changed"
    DELETED = "deleted"  # confirmed by the feed (EWS Delete change, IsDeleted / getDeleted)
    NOT_FOUND = "not_found"  # confirmed by a direct fetch
    UNSHARED = "unshared"  # Exchange: category removed or Unshare pressed; the item still exists
    WITHDRAWN = "withdrawn"  # Salesforce: the record exists but maps to no calendar entry any more


DELETION_TYPES = (ChangeType.DELETED, ChangeType.NOT_FOUND)


@dataclass(frozen=True)
class ExchangeChange:
    """What the Exchange feed (or a direct fetch) says about one item.

    ``entry`` is the mapped item for ``changed`` (``None`` with ``issues`` when it cannot be mapped);
    ``sync_key`` the extended property on the item, ``is_organizer=False`` marks a meeting the mailbox only
    attends (read-only), ``is_cancelled`` a cancelled meeting (handled as a deletion), ``shared`` the Who/What
    the add-in recorded for it.
    """

    exchange_id: str
    type: ChangeType = ChangeType.CHANGED
    kind: str = EVENT
    entry: Entry | None = None
    issues: tuple[MappingIssue, ...] = ()
    change_key: str | None = None
    sync_key: str | None = None
    modified_at: datetime | None = None
    is_organizer: bool = True
    is_cancelled: bool = False
    shared: SharedRelations | None = None
    uid: str | None = None  # iCalUId of a meeting (the same in every attendee's copy)


@dataclass(frozen=True)
class SalesforceChange:
    """What the Salesforce feed (queryAll) or a direct fetch says about one record."""

    salesforce_id: str
    type: ChangeType = ChangeType.CHANGED
    kind: str = EVENT
    salesforce_object: str = "Event"
    entry: Entry | None = None
    issues: tuple[MappingIssue, ...] = ()
    sync_key: str | None = None
    modstamp: datetime | None = None
    modified_at: datetime | None = None


# --- actions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    sync_key: str | None

    @property
    def writes(self) -> bool:
        """Whether applying it writes to Salesforce or Exchange."""
        return False


@dataclass(frozen=True)
class WriteAction(Action):
    """An action that writes to Salesforce or Exchange."""

    @property
    def writes(self) -> bool:
        return True


@dataclass(frozen=True)
class CreateInSalesforce(WriteAction):
    """Upsert by ``CalSync_Key__c = sync_key``. Save ``link`` as *pending* first, then, after success, with
    ``salesforce_id`` (and modstamp) from the result."""

    kind: str
    salesforce_object: str
    exchange_id: str | None
    entry: Entry
    link: LinkState
    revert: bool = False


@dataclass(frozen=True)
class CreateInExchange(WriteAction):
    """Create with the sync key extended property (find it first by that key on retry). Save ``link`` as
    *pending* first, then with ``exchange_id``/change key from the result."""

    kind: str
    salesforce_id: str | None
    entry: Entry
    link: LinkState
    revert: bool = False


@dataclass(frozen=True)
class UpdateSalesforce(WriteAction):
    """Send ``salesforce_update(current, entry)``; ``fields`` are the projection fields that change (plus
    ``who_what`` for add-in relations)."""

    kind: str
    salesforce_object: str
    salesforce_id: str
    fields: tuple[str, ...]
    entry: Entry
    current: Entry
    revert: bool = False


@dataclass(frozen=True)
class UpdateExchange(WriteAction):
    """Send ``exchange_update(current, entry, fields)`` with ``update_fields`` and ``SendToNone``."""

    kind: str
    exchange_id: str
    change_key: str | None
    fields: tuple[str, ...]
    entry: Entry
    current: Entry
    revert: bool = False


@dataclass(frozen=True)
class DeleteSalesforce(WriteAction):
    kind: str
    salesforce_object: str
    salesforce_id: str
    reason: str


@dataclass(frozen=True)
class DeleteExchange(WriteAction):
    """Delete without sending cancellations. ``by_policy_off``: removal because the kind was switched off
    (not counted by the mass-deletion guard)."""

    kind: str
    exchange_id: str
    change_key: str | None
    reason: str
    by_policy_off: bool = False


@dataclass(frozen=True)
class JoinSalesforceEvent(WriteAction):
    """The meeting already has an Event (made from another rep's copy): add this mailbox's user as an
    invitee and save ``link`` (``joined``) instead of creating a second Event."""

    exchange_id: str
    salesforce_id: str
    owner_user_id: str | None
    link: LinkState


@dataclass(frozen=True)
class LeaveSalesforceEvent(WriteAction):
    """A joined meeting left this mailbox (deleted, unshared, cancelled): remove its user's invitee row."""

    salesforce_id: str
    reason: str


@dataclass(frozen=True)
class RemoveCategory(WriteAction):
    kind: str
    exchange_id: str
    change_key: str | None
    category: str


@dataclass(frozen=True)
class Unlink(Action):
    """Set the link's state to *unlinked*; clear the id of a side whose item is (being) deleted."""

    reason: str
    exchange_deleted: bool = False
    salesforce_deleted: bool = False


@dataclass(frozen=True)
class UpdateLinkBase(Action):
    """Persist ``link`` (bases, change key, modstamp, state) once every write of this sync key succeeded."""

    link: LinkState


@dataclass(frozen=True)
class RecordHealth(Action):
    code: str
    message: str
    side: Side
    item_id: str | None = None
    severity: str = "error"  # error | warning | info
    item_side: Side | None = None  # the side ``item_id`` lives on, when not ``side`` (the side that refuses)


_RANK = {
    DeleteSalesforce: 0,
    DeleteExchange: 1,
    CreateInSalesforce: 2,
    CreateInExchange: 3,
    JoinSalesforceEvent: 3,
    LeaveSalesforceEvent: 3,
    UpdateSalesforce: 4,
    UpdateExchange: 5,
    RemoveCategory: 6,
    Unlink: 7,
    UpdateLinkBase: 8,
    RecordHealth: 9,
}


def canonical_order(action: Action) -> tuple[Any, ...]:
    """Sort key of a plan's actions: by sync key, then the order they apply in (docs/invariants.md #13)."""
    return (
        action.sync_key is None,
        action.sync_key or "",
        _RANK[type(action)],
        getattr(action, "item_id", None) or "",
        getattr(action, "code", ""),
        getattr(action, "message", ""),
    )


@dataclass(frozen=True)
class GuardOutcome:
    tripped: bool = False
    deletions: int = 0
    links: int = 0
    threshold: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    guard: GuardOutcome = field(default_factory=GuardOutcome)

    @property
    def writes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.writes)

    @property
    def health(self) -> tuple[RecordHealth, ...]:
        return tuple(a for a in self.actions if isinstance(a, RecordHealth))

    def of_type(self, cls: type) -> tuple[Any, ...]:
        return tuple(a for a in self.actions if isinstance(a, cls))


@dataclass(frozen=True)
class MeetingEvent:
    """The Event another mailbox's link made for a meeting (by iCalUId), and the user who owns it."""

    salesforce_id: str
    owner_user_id: str | None = None
