"""Plan without applying: read both sides of one mailbox and run the planner, writing nothing anywhere.

This is the read half of a sync session (`sync.session` runs the same two functions before it applies), so a
preview is the real decision, not an estimate (docs/policies.md#preview):

- `read_inputs(db, mailbox, salesforce, exchange, policies, now)` → `SessionInputs`: the links, both change
  feeds (from the mailbox's saved cursor and watermarks), share requests, items that entered the scope,
  attendees matched in Salesforce and the Events other mailboxes made for shared meetings. Reads only: no
  remote write, no database change (the caller's transaction is not committed here).
- `plan_inputs(inputs, now)` → the `sync.planner.model.Plan`, exactly as a session plans it.
- `preview_mailbox(...)` → `MailboxPreview`: both of the above, and what applying would do, counted the way
  `sync.apply.Applier` counts it (created, updated, deleted, reverted per side; unlinked; untagged; joined),
  the health entries it would raise, whether the mass-deletion guard would stop the session (and what it
  would stop), a few sample items per action, and the read requests the preview cost per side.

``calsync sync EMAIL --dry-run`` prints one `MailboxPreview`; the admin panel's Preview runs one per affected
mailbox in RQ jobs (`sync.preview_jobs`). Other read-only tools (a comparison of both sides, say) can build on
`read_inputs` the same way.

What is not the same as a real session: a preview does not check the mailbox's master category list (a write
when a category is missing), does not look up and store the rep's Salesforce user id if the mailbox has none
(it looks it up without storing), and does not move cursors or links, so the next real session reads the same
feeds and, if nothing changed in between, makes the same plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from sync import links, policy_store, scope_entry
from sync.attendees import Person
from sync.connectors.base import ExchangeCalendar, SalesforceOrg
from sync.entry import EVENT, Entry
from sync.feeds import (
    ExchangeFeed,
    SalesforceFeed,
    read_exchange,
    read_salesforce,
    refresh_failed,
    unshared_counterparts,
)
from sync.mapping.exchange import exchange_update
from sync.mapping.salesforce import salesforce_update
from sync.models import Mailbox
from sync.planner import plan as make_plan
from sync.planner.model import (
    ChangeType,
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    DeleteSalesforce,
    ExchangeChange,
    JoinSalesforceEvent,
    LinkState,
    MeetingEvent,
    Plan,
    RecordHealth,
    RemoveCategory,
    SharedRelations,
    Unlink,
    UpdateExchange,
    UpdateSalesforce,
)
from sync.policies import Direction, MassDeletionGuard, PolicySet
from sync.store import SessionStore, as_store

SIDES = ("salesforce", "exchange")
# The per-side buckets of a preview, as `sync.session.SessionResult` has them.
SIDED = ("created", "updated", "deleted", "reverted")
# Counted once per pair, not per side (as the Applier's report counts them).
OTHER = ("unlinked", "untagged", "joined")
SAMPLES_PER_ACTION = 3


class PreviewError(Exception):
    """The mailbox cannot be previewed (no Salesforce user, ...); the message is meant for people."""


@dataclass
class SessionInputs:
    """Everything the planner needs for one session of one mailbox, as read from both sides."""

    mailbox: str
    owner_id: str
    time_zone: str
    policies: PolicySet
    links: list[LinkState]
    exchange_feed: ExchangeFeed
    salesforce_feed: SalesforceFeed
    share_requests: dict[str, SharedRelations]
    entered: scope_entry.Entered
    people: Mapping[str, Person]
    meetings: Mapping[str, MeetingEvent]
    # The connector e-mails attendees on any write to a meeting (Graph): the planner holds such writes back.
    notifies_attendees: bool = False

    @property
    def change_count(self) -> int:
        return len(self.exchange_feed.changes) + len(self.salesforce_feed.changes)


def read_inputs(
    db: Session | SessionStore,
    mailbox: Mailbox,
    salesforce: SalesforceOrg,
    exchange: ExchangeCalendar,
    policies: PolicySet,
    now: dt.datetime,
    *,
    owner_id: str | None = None,
    full: bool = False,
) -> SessionInputs:
    """Read both sides for ``mailbox`` under ``policies`` (reads only; see the module docstring).

    ``owner_id``: the rep's Salesforce User id (default: the mailbox's). ``full``: read everything, as a
    session after lost cursors does (a full Exchange listing, every Salesforce row), and keep the Salesforce
    rows still at their link's SystemModstamp too: `sync.verify` compares both sides of every pair."""
    owner_id = owner_id or mailbox.salesforce_user_id
    if not owner_id:
        raise PreviewError(f"{mailbox.email} has no Salesforce user yet")
    store = as_store(db)
    kinds = policy_store.kinds(policies)
    previous = store.links(mailbox)
    share_requests = store.pending_shares(mailbox)  # Who/What chosen in the add-in since the last session
    # A kind on again after `off` is read from scratch: the shared calendar cursor moved past its edits (the
    # session forgets the cursor too; docs/policies.md).
    from_scratch = full or bool(policy_store.switched_on(mailbox, policies))
    ex_feed = read_exchange(
        exchange, sync_state=None if from_scratch else mailbox.exchange_sync_state, links=previous, policies=policies,
        kinds=kinds, mailbox_email=mailbox.email, time_zone=mailbox.time_zone, shared=share_requests,
    )  # fmt: skip
    sf_links = [dataclasses.replace(link, salesforce_modstamp=None) for link in previous] if full else previous
    sf_feed = read_salesforce(
        salesforce, owner_id=owner_id, policies=policies, kinds=kinds,
        watermarks={} if full else mailbox.salesforce_watermarks or {}, time_zone=mailbox.time_zone, now=now,
        linked_kinds={link.kind for link in previous if link.is_live},
        links=sf_links,
    )  # fmt: skip
    unshared_counterparts(ex_feed, sf_feed, links=previous, mailbox_email=mailbox.email)
    refresh_failed(
        exchange, salesforce, links=previous, exchange_feed=ex_feed, salesforce_feed=sf_feed, policies=policies,
        time_zone=mailbox.time_zone, mailbox_email=mailbox.email, shared=share_requests,
    )  # fmt: skip
    entered = store.scope_entered(mailbox, policies, now)  # items the scope took in since they were read
    if entered:
        scope_entry.read_entered(
            entered, exchange, salesforce, exchange_feed=ex_feed, salesforce_feed=sf_feed, links=previous,
            policies=policies, time_zone=mailbox.time_zone, mailbox_email=mailbox.email, shared=share_requests,
        )  # fmt: skip
    meeting_changes = meetings_going_up(ex_feed.changes, policies)
    emails = sorted({a.email for c in meeting_changes for a in c.entry.attendees if a.email})  # type: ignore[union-attr]
    people = salesforce.people_by_email(emails) if emails else {}
    known = {link.exchange_id for link in previous if link.exchange_id}
    meetings = store.meeting_events(mailbox, {c.uid for c in meeting_changes if c.uid and c.exchange_id not in known})
    return SessionInputs(
        mailbox=mailbox.email, owner_id=owner_id, time_zone=mailbox.time_zone, policies=policies, links=previous,
        exchange_feed=ex_feed, salesforce_feed=sf_feed, share_requests=share_requests, entered=entered,
        people=people, meetings=meetings, notifies_attendees=exchange.notifies_attendees,
    )  # fmt: skip


def plan_inputs(inputs: SessionInputs, now: dt.datetime, *, policies: PolicySet | None = None) -> Plan:
    """The session's plan (``policies``: plan the same reads under other policies, e.g. without the guard)."""
    return make_plan(
        inputs.links, inputs.exchange_feed.changes, inputs.salesforce_feed.changes, policies or inputs.policies, now,
        mailbox=inputs.mailbox, exchange_full_count=inputs.exchange_feed.full_count,
        salesforce_full_count=inputs.salesforce_feed.full_count, default_time_zone=inputs.time_zone,
        people=inputs.people, meetings=inputs.meetings, notifies_attendees=inputs.notifies_attendees,
    )  # fmt: skip


def meetings_going_up(changes: list[ExchangeChange], policies: PolicySet) -> list[ExchangeChange]:
    """Changed Exchange Events whose attendees may reach Salesforce this session."""
    if policies.for_kind(EVENT).direction in (Direction.OFF, Direction.DOWNSYNC_ONLY):
        return []
    return [
        c
        for c in changes
        if c.kind == EVENT and c.type is ChangeType.CHANGED and c.entry is not None and c.entry.attendees
    ]


meeting_events = links.meeting_events  # kept here for callers of this module


# -- what a plan would do ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedItem:
    """One item a plan touches: the action (``created``, ``deleted``, ...), the side written, the pair's sync
    key, the item's id on that side (None for a create), its subject, and why (deletions and unlinks)."""

    action: str
    side: str
    sync_key: str | None
    item_id: str | None
    subject: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _subject(entry: Entry | None, link: LinkState | None = None) -> str | None:
    if entry is not None:
        return entry.subject
    for base in (link.exchange_base, link.salesforce_base) if link is not None else ():
        if base and base.get("subject"):
            return str(base["subject"])
    return None


def planned_items(plan: Plan, links_by_key: Mapping[str, LinkState]) -> list[PlannedItem]:
    """The items ``plan`` writes or unlinks, labelled as `sync.apply.Applier` counts them (an update that maps
    to no field change is no write there, and none here)."""
    out: list[PlannedItem] = []
    for a in plan.actions:
        link = links_by_key.get(a.sync_key or "")
        label = "reverted" if getattr(a, "revert", False) else None
        if isinstance(a, CreateInSalesforce):
            out.append(PlannedItem(label or "created", "salesforce", a.sync_key, None, _subject(a.entry), None))
        elif isinstance(a, CreateInExchange):
            out.append(PlannedItem(label or "created", "exchange", a.sync_key, None, _subject(a.entry), None))
        elif isinstance(a, UpdateSalesforce):
            if salesforce_update(a.current, a.entry)[0]:
                out.append(PlannedItem(label or "updated", "salesforce", a.sync_key, a.salesforce_id,
                                       _subject(a.entry), ", ".join(a.fields)))  # fmt: skip
        elif isinstance(a, UpdateExchange):
            if "recurrence" in a.fields or exchange_update(a.current, a.entry, a.fields)[0]:
                out.append(PlannedItem(label or "updated", "exchange", a.sync_key, a.exchange_id,
                                       _subject(a.entry), ", ".join(a.fields)))  # fmt: skip
        elif isinstance(a, DeleteSalesforce):
            out.append(
                PlannedItem("deleted", "salesforce", a.sync_key, a.salesforce_id, _subject(None, link), a.reason)
            )
        elif isinstance(a, DeleteExchange):
            out.append(PlannedItem("deleted", "exchange", a.sync_key, a.exchange_id, _subject(None, link), a.reason))
        elif isinstance(a, RemoveCategory):
            out.append(PlannedItem("untagged", "exchange", a.sync_key, a.exchange_id, _subject(None, link),
                                   f"remove category {a.category!r}"))  # fmt: skip
        elif isinstance(a, JoinSalesforceEvent):
            out.append(PlannedItem("joined", "salesforce", a.sync_key, a.salesforce_id, _subject(None, a.link), None))
        elif isinstance(a, Unlink):
            item = link.exchange_id or link.salesforce_id if link is not None else None
            out.append(PlannedItem("unlinked", "both", a.sync_key, item, _subject(None, link), a.reason))
    return out


def _counts(items: list[PlannedItem]) -> dict[str, Any]:
    tally = Counter((i.action, i.side) for i in items)
    out: dict[str, Any] = {name: {side: tally[(name, side)] for side in SIDES} for name in SIDED}
    for name in OTHER:
        out[name] = sum(n for (action, _side), n in tally.items() if action == name)
    return out


def _health(action: RecordHealth) -> dict[str, Any]:
    return {"code": action.code, "side": str(action.side), "item_id": action.item_id, "message": action.message,
            "severity": action.severity}  # fmt: skip


@dataclass
class MailboxPreview:
    """What the next session of one mailbox would do under the previewed policies."""

    mailbox: str
    status: str = "ok"  # ok | failed (could not read: ``error`` says why)
    counts: dict[str, Any] = field(default_factory=lambda: _counts([]))
    items: list[PlannedItem] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    guard: dict[str, Any] = field(default_factory=dict)
    # What the guard would stop: the plan's items without the guard (empty when it does not trip).
    stopped: list[PlannedItem] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    profile: str | None = None
    error: str | None = None

    @property
    def writes(self) -> int:
        return sum(1 for i in self.items if i.action != "unlinked")

    def samples(self, per_action: int = SAMPLES_PER_ACTION) -> dict[str, list[dict[str, Any]]]:
        """A few items per action and side (``"deleted:exchange"`` → [...])."""
        out: dict[str, list[dict[str, Any]]] = {}
        for item in self.items:
            bucket = out.setdefault(f"{item.action}:{item.side}", [])
            if len(bucket) < per_action:
                bucket.append(item.to_json())
        return out

    def to_json(self, *, all_items: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mailbox": self.mailbox, "status": self.status, "profile": self.profile, "counts": self.counts,
            "writes": self.writes, "health": self.health, "guard": self.guard, "api_calls": self.api_calls,
            "samples": self.samples(), "stopped_by_guard": _counts(self.stopped) if self.stopped else None,
            "error": self.error,
        }  # fmt: skip
        if all_items:
            data["items"] = [i.to_json() for i in self.items]
        return data


def preview_mailbox(
    db: Session,
    mailbox: Mailbox,
    salesforce: SalesforceOrg,
    exchange: ExchangeCalendar,
    policies: PolicySet,
    now: dt.datetime,
    *,
    profile: str | None = None,
) -> MailboxPreview:
    """Read and plan ``mailbox`` under ``policies`` without applying (see the module docstring).

    Connector errors propagate (the caller decides: the CLI exits, a preview job marks the mailbox failed);
    the caller's database session is left without changes to commit."""
    calls_before = {"salesforce": salesforce.usage.calls, "exchange": exchange.usage.calls}
    owner = mailbox.salesforce_user_id or salesforce.active_user_id(mailbox.email)
    if not owner:
        raise PreviewError(f"no active Salesforce user has the e-mail {mailbox.email}")
    inputs = read_inputs(db, mailbox, salesforce, exchange, policies, now, owner_id=owner)
    plan = plan_inputs(inputs, now)
    by_key = {link.sync_key: link for link in inputs.links}
    result = MailboxPreview(mailbox=mailbox.email, profile=profile)
    result.items = planned_items(plan, by_key) if not plan.guard.tripped else []
    result.counts = _counts(result.items)
    result.health = [_health(a) for a in plan.health]
    result.guard = {"tripped": plan.guard.tripped, "reason": plan.guard.reason, "deletions": plan.guard.deletions,
                    "links": plan.guard.links, "threshold": plan.guard.threshold}  # fmt: skip
    if plan.guard.tripped:
        # The same reads planned without the guard: what the guard would stop (pure, so this costs nothing).
        unguarded = dataclasses.replace(policies, guard=MassDeletionGuard(min_count=10**9, fraction=1.0))
        result.stopped = planned_items(plan_inputs(inputs, now, policies=unguarded), by_key)
        if result.guard["deletions"] == 0:
            result.guard["deletions"] = sum(1 for i in result.stopped if i.action == "deleted")
    result.api_calls = {side: c.usage.calls - calls_before[side]
                        for side, c in (("salesforce", salesforce), ("exchange", exchange))}  # fmt: skip
    return result


def total(previews: list[MailboxPreview]) -> dict[str, Any]:
    """The sum over mailboxes: counts, health entries by code, mailboxes the guard would stop, requests."""
    counts = _counts([])
    for p in previews:  # summed from each preview's counts (a job's stored result keeps no item list)
        for name in SIDED:
            for side in SIDES:
                counts[name][side] += p.counts.get(name, {}).get(side, 0)
        for name in OTHER:
            counts[name] += p.counts.get(name, 0)
    codes = Counter(h["code"] for p in previews for h in p.health)
    return {
        "mailboxes": len(previews),
        "failed": sum(1 for p in previews if p.status != "ok"),
        "counts": counts,
        "writes": sum(sum(counts[n].values()) for n in SIDED) + counts["untagged"] + counts["joined"],
        "health": dict(sorted(codes.items())),
        "guard_stops": sorted(p.mailbox for p in previews if p.guard.get("tripped")),
        "api_calls": {side: sum(p.api_calls.get(side, 0) for p in previews) for side in SIDES},
    }


def dry_run(
    db_factory: Any,
    mailbox_email: str,
    *,
    salesforce: SalesforceOrg,
    exchange: ExchangeCalendar,
    policies: PolicySet | None = None,
    now: dt.datetime | None = None,
) -> MailboxPreview:
    """``calsync sync EMAIL --dry-run``: the plan of the mailbox's next session under its own policies (its
    effective profile, the rep's Salesforce user read again for the rules if due, without storing it), or
    under ``policies``. Nothing is written anywhere."""
    from sync import mailboxes, profiles  # profiles imports the policy store; keep this module's imports light

    now = now or dt.datetime.now(dt.UTC)
    with db_factory() as db:
        mailbox = mailboxes.find(db, mailbox_email)
        if mailbox is None:
            raise PreviewError(f"{mailbox_email} is not a synced mailbox (add it with `calsync mailboxes add`)")
        name = None
        if policies is None:
            facts = profiles.refresh_facts(db, mailbox, salesforce, now, persist=False)
            policies, eff = profiles.policies_for(db, mailbox, facts=facts)
            name = eff.name
        result = preview_mailbox(db, mailbox, salesforce, exchange, policies, now, profile=name)
        db.rollback()  # a dry run keeps nothing (it changed nothing: this makes sure)
        return result
