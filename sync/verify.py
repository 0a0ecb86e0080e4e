"""``calsync verify``: compare both sides of one mailbox and its link store, and say what is out of step (pure).

`compare(VerifyInputs)` → `VerifyReport`. No I/O: the caller (`sync.verify_read`) reads the **whole sync scope**
of both sides (a full Exchange listing, every Salesforce record of the rep with deleted rows, links whose record
the listing lacks read directly), plans the next session through the planner (`sync.preview`), and hands both
here. docs/verify.md has the finding kinds, the JSON schema and the exit codes; in short:

- ``fields_differ``: a live pair whose mapped fields differ (which fields, both values);
- ``exchange_only``: an Outlook item tagged for sync, in scope, with no Salesforce counterpart;
- ``salesforce_only``: a Salesforce record in scope, without a sync key, with no Outlook counterpart;
- ``salesforce_unlinked``: a Salesforce record whose sync key no link of the mailbox knows (its ``CalSync_Key__c``,
  or the key its Outlook item carries, made from the record's id): lost link rows;
- ``duplicate_exchange`` / ``duplicate_salesforce``: several items on one side for one pair (one sync key on
  several items, or an unlinked copy with the same subject and time as a linked item);
- ``duplicate_link``: several live links naming one item;
- ``exchange_gone`` / ``salesforce_gone``: a live link whose item no longer exists on that side;
- ``cannot_sync``: an item the mapping cannot read or write (its health codes say why).

Every finding carries the planner's own decision for it: ``next_session`` (the plan of the next session, read
from the saved cursors, as ``calsync sync --dry-run`` makes it) and ``after_reset`` (the plan of a session that
reads both sides in full, as after "Reset sync state"): which sides each would write, the actions, the health
codes. A divergence the next session does not fix is the one to look at.

What counts as "differ": a field differs when neither side's value, as the other side would hold it once written
(the mappings' round trips: Salesforce has no *tentative*, a masked private item shows "Private appointment"),
equals the other side's value. Fields that do not flow are not compared: ``attendees`` (Salesforce holds only the
attendees it matches to a Contact, Lead or User), and under ``description=once`` the ``body`` of a meeting with
attendees or one edited in Outlook (it never goes up).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.entry import EVENT, PROJECTION_FIELDS, Entry, Projection, Side, project
from sync.mapping.exchange import exchange_roundtrip
from sync.mapping.salesforce import salesforce_roundtrip
from sync.planner import in_scope, new_sync_key
from sync.planner.context import is_masked, mask_entry
from sync.planner.model import (
    DELETION_TYPES,
    ChangeType,
    ExchangeChange,
    LinkState,
    Plan,
    SalesforceChange,
)
from sync.policies import DescriptionMode, Direction, Policy, PolicySet, PrivateItems
from sync.preview import PlannedItem, planned_items

SCHEMA = "calsync.verify/1"
KINDS = (
    "fields_differ",
    "exchange_only",
    "salesforce_only",
    "salesforce_unlinked",
    "duplicate_exchange",
    "duplicate_salesforce",
    "duplicate_link",
    "exchange_gone",
    "salesforce_gone",
    "cannot_sync",
)
# Exit codes of `calsync verify` (docs/verify.md#exit-codes).
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# Long values (a body holds up to 32,000 characters) are cut in a report: enough to recognise them.
VALUE_CHARS = 300
# Actions that write to a side (an unlink changes only the link store).
WRITING = ("created", "updated", "deleted", "reverted", "untagged", "joined")


@dataclass(frozen=True)
class FieldDiff:
    field: str
    exchange: Any
    salesforce: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "exchange": _shown(self.exchange), "salesforce": _shown(self.salesforce)}


@dataclass(frozen=True)
class Decision:
    """What one plan does about a finding: the sides it writes (empty: none), its actions, its health codes."""

    writes: tuple[str, ...] = ()
    actions: tuple[dict[str, Any], ...] = ()
    health: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"writes": list(self.writes), "actions": list(self.actions), "health": list(self.health)}


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str
    object_kind: str = EVENT
    sync_key: str | None = None
    exchange_id: str | None = None
    salesforce_id: str | None = None
    salesforce_object: str | None = None
    subject: str | None = None
    fields: tuple[FieldDiff, ...] = ()
    related: tuple[str, ...] = ()  # the other items of a duplicate (ids), or the other links (sync keys)
    health: tuple[str, ...] = ()  # codes of the mailbox's open health entries for these items
    next_session: Decision | None = None
    after_reset: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "message": self.message, "object_kind": self.object_kind, "sync_key": self.sync_key,
            "exchange_id": self.exchange_id, "salesforce_id": self.salesforce_id,
            "salesforce_object": self.salesforce_object, "subject": self.subject,
            "fields": [f.to_json() for f in self.fields], "related": list(self.related), "health": list(self.health),
            "next_session": self.next_session.to_json() if self.next_session else None,
            "after_reset": self.after_reset.to_json() if self.after_reset else None,
        }  # fmt: skip


@dataclass
class VerifyReport:
    """One mailbox's verify report (``status`` ``failed``: it could not be read, ``error`` says why)."""

    mailbox: str
    status: str = "ok"
    error: str | None = None
    checked_at: str | None = None
    profile: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    guard: dict[str, bool] = field(default_factory=dict)  # plan name → whether the mass-deletion guard trips
    api_calls: dict[str, int] = field(default_factory=lambda: {"salesforce": 0, "exchange": 0})

    @property
    def exit_code(self) -> int:
        if self.status != "ok":
            return EXIT_ERROR
        return EXIT_FINDINGS if self.findings else EXIT_CLEAN

    def summary(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.findings).items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "mailbox": self.mailbox, "status": self.status, "error": self.error,
            "checked_at": self.checked_at, "profile": self.profile, "exit_code": self.exit_code,
            "counts": self.counts, "summary": self.summary(), "findings": [f.to_json() for f in self.findings],
            "guard": self.guard, "api_calls": self.api_calls,
        }  # fmt: skip


def total(reports: Sequence[VerifyReport]) -> dict[str, Any]:
    """The sum over mailboxes (``calsync verify --all``), with the exit code of the whole run."""
    kinds: Counter[str] = Counter()
    for r in reports:
        kinds.update(r.summary())
    code = max((r.exit_code for r in reports), default=EXIT_CLEAN)
    return {
        "mailboxes": len(reports), "failed": sum(1 for r in reports if r.status != "ok"),
        "with_findings": sum(1 for r in reports if r.findings), "findings": sum(kinds.values()),
        "summary": dict(sorted(kinds.items())), "exit_code": code,
    }  # fmt: skip


@dataclass(frozen=True)
class VerifyInputs:
    """Both sides of one mailbox as read in full, its links, and the plans to explain findings by.

    ``exchange``/``salesforce``: one change record per item read (`sync.feeds`; ``changed`` with the mapped
    entry, or a confirmed deletion). ``known_elsewhere``: sync keys and record ids other mailboxes' links hold
    (a shared meeting's Event belongs to its organiser's link)."""

    mailbox: str
    links: Sequence[LinkState]
    exchange: Sequence[ExchangeChange]
    salesforce: Sequence[SalesforceChange]
    policies: PolicySet
    now: dt.datetime
    next_plan: Plan | None = None
    reset_plan: Plan | None = None
    known_elsewhere: frozenset[str] = frozenset()
    # Open health entries of the mailbox: item ref ("exchange:<id>", "salesforce:<id>") → codes.
    open_health: Mapping[str, Sequence[str]] = field(default_factory=dict)


# -- comparing one pair -----------------------------------------------------------------------------------
def compared_fields(policy: Policy, ex_p: Projection, exchange_base: Projection | None) -> tuple[str, ...]:
    """The projection fields a pair must agree on (see the module docstring). Under ``description=once`` the
    body never goes up and never down to a meeting with attendees (`sync.planner.merge`): it is compared only
    where Salesforce's body would have come down, a non-meeting whose Outlook body is as last synced."""
    skip = {"attendees"}
    if policy.description is DescriptionMode.ONCE:
        outlook_edit = exchange_base is None or ex_p.get("body") != exchange_base.get("body")
        if outlook_edit or ex_p.get("attendees"):
            skip.add("body")
    return tuple(f for f in PROJECTION_FIELDS if f not in skip)


def differing_fields(
    policy: Policy, origin: Side, ex_entry: Entry, sf_entry: Entry, exchange_base: Projection | None = None
) -> list[FieldDiff]:
    """The fields on which neither side, written to the other, would give the other's value (``exchange_base``:
    the link's, for the fields that flow one way only)."""
    ex_p = project(ex_entry)
    sf_p = project(sf_entry)
    up_entry = mask_entry(ex_entry) if is_masked(policy, origin, ex_p) else ex_entry
    up = project(salesforce_roundtrip(up_entry))  # Exchange's value as Salesforce would hold it
    down = project(exchange_roundtrip(sf_entry))  # Salesforce's value as Exchange would hold it
    return [
        FieldDiff(f, ex_p.get(f), sf_p.get(f))
        for f in compared_fields(policy, ex_p, exchange_base)
        if up.get(f) != sf_p.get(f) and ex_p.get(f) != down.get(f)
    ]


def stays_in_outlook(policy: Policy, entry: Entry) -> bool:
    """Whether the policy keeps this tagged Outlook item out of Salesforce by design (the decision table's "no
    link, EX new item" row): tasks and custom objects only flow down, ``downsync_only`` sends nothing up, and a
    private item under ``private_items=skip`` stays in Outlook."""
    if policy.kind != EVENT or policy.direction in (Direction.DOWNSYNC_ONLY, Direction.OFF):
        return True
    return entry.is_private and policy.private_items is PrivateItems.SKIP


def _shown(value: Any) -> Any:
    if isinstance(value, str) and len(value) > VALUE_CHARS:
        return value[:VALUE_CHARS] + "…"
    return value


def _same_content(a: Projection, b: Projection) -> bool:
    return bool(a.get("subject")) and a.get("subject") == b.get("subject") and a.get("when") == b.get("when")


# -- the planner's decisions ------------------------------------------------------------------------------
class _Decisions:
    """A plan's planned items and health entries, found by sync key or item id."""

    def __init__(self, plan: Plan | None, links: Sequence[LinkState]) -> None:
        self.plan = plan
        self.items: dict[str, list[PlannedItem]] = defaultdict(list)
        self.health: dict[str, list[str]] = defaultdict(list)
        if plan is None:
            return
        for item in planned_items(plan, {link.sync_key: link for link in links}):
            for ref in {item.sync_key, item.item_id} - {None}:
                self.items[ref].append(item)  # type: ignore[index]
        for h in plan.health:
            for ref in {h.sync_key, h.item_id} - {None}:
                self.health[ref].append(h.code)  # type: ignore[index]

    def about(self, refs: Iterable[str | None]) -> Decision | None:
        if self.plan is None:
            return None
        found: list[PlannedItem] = []
        codes: list[str] = []
        for ref in dict.fromkeys(r for r in refs if r):
            found += [i for i in self.items.get(ref, []) if i not in found]
            codes += [c for c in self.health.get(ref, []) if c not in codes]
        actions = tuple({"action": i.action, "side": i.side, "reason": i.reason} for i in found)
        writes = tuple(sorted({i.side for i in found if i.action in WRITING}))
        return Decision(writes=writes, actions=actions, health=tuple(sorted(codes)))


# -- the comparison ---------------------------------------------------------------------------------------
def _subject(*sources: Any) -> str | None:
    for s in sources:
        if isinstance(s, Entry) and s.subject:
            return s.subject
        if isinstance(s, Mapping) and s.get("subject"):
            return str(s["subject"])
    return None


def _by_id(changes: Iterable[Any], attr: str) -> dict[str, Any]:
    """One record per item: a confirmed deletion wins over content (as the planner's order has it)."""
    out: dict[str, Any] = {}
    for c in changes:
        key = getattr(c, attr)
        if key not in out or c.type in DELETION_TYPES:
            out[key] = c
    return out


def _issues(change: Any) -> str:
    return "; ".join(f"{i.code}: {i.message}" for i in change.issues) or "it cannot be mapped"


def compare(inputs: VerifyInputs) -> VerifyReport:
    """The findings of one mailbox (see the module docstring); deterministic, independent of input order."""
    policies, mailbox = inputs.policies, inputs.mailbox
    links = sorted(inputs.links, key=lambda link: link.sync_key)
    live = [link for link in links if link.is_live]
    by_key = {link.sync_key: link for link in links}
    ex_by_id: dict[str, ExchangeChange] = _by_id(inputs.exchange, "exchange_id")
    sf_by_id: dict[str, SalesforceChange] = _by_id(inputs.salesforce, "salesforce_id")
    nxt, reset = _Decisions(inputs.next_plan, links), _Decisions(inputs.reset_plan, links)
    findings: list[Finding] = []

    def add(kind: str, message: str, *, refs: Iterable[str | None] = (), **kw: Any) -> None:
        # The plans' actions about the finding's own items (a duplicate's copies come in ``refs``; the linked item
        # a copy resembles does not: its pair's actions are not about the copy).
        keys = [kw.get("sync_key"), kw.get("exchange_id"), kw.get("salesforce_id"), *refs]
        items = [f"exchange:{kw['exchange_id']}" if kw.get("exchange_id") else "",
                 f"salesforce:{kw['salesforce_id']}" if kw.get("salesforce_id") else ""]  # fmt: skip
        health = tuple(sorted({c for ref in items for c in inputs.open_health.get(ref, ())}))
        findings.append(Finding(kind, message, health=health, next_session=nxt.about(keys),
                                after_reset=reset.about(keys), **kw))  # fmt: skip

    def window_has(kind: str, *projections: Projection | None) -> bool:
        window = policies.for_kind(kind).scope.window(inputs.now)
        return any(p is not None and in_scope(p, window) for p in projections)

    # Live links that name one item twice.
    for attr, side in (("exchange_id", "Outlook item"), ("salesforce_id", "Salesforce record")):
        groups: dict[str, list[LinkState]] = defaultdict(list)
        for link in live:
            if getattr(link, attr) and not (attr == "salesforce_id" and link.joined):
                groups[getattr(link, attr)].append(link)
        for item_id, group in sorted(groups.items()):
            if len(group) > 1:
                first = group[0]
                add("duplicate_link", f"{len(group)} live links name the {side} {item_id}", object_kind=first.kind,
                    sync_key=first.sync_key, subject=_subject(first.exchange_base, first.salesforce_base),
                    related=tuple(link.sync_key for link in group[1:]), refs=[link.sync_key for link in group[1:]],
                    **({attr: item_id}), salesforce_object=first.salesforce_object)  # fmt: skip

    accounted_ex: set[str] = set()
    accounted_sf: set[str] = set()
    linked_ex: list[tuple[str, Projection]] = []  # (item id, projection) of linked Outlook items, for copies
    linked_sf: list[tuple[str, Projection]] = []
    compared = 0
    # The item a pending create made carries the link's key before the link has its id (as the planner pairs it).
    ex_by_key = {c.sync_key: c for c in ex_by_id.values() if c.sync_key and c.type is ChangeType.CHANGED}
    sf_by_key = {c.sync_key: c for c in sf_by_id.values() if c.sync_key and c.type is ChangeType.CHANGED}
    for link in live:
        ex = ex_by_id.get(link.exchange_id) if link.exchange_id else ex_by_key.get(link.sync_key)
        sf = sf_by_id.get(link.salesforce_id) if link.salesforce_id else sf_by_key.get(link.sync_key)
        ex_id = link.exchange_id or (ex.exchange_id if ex else None)
        sf_id = link.salesforce_id or (sf.salesforce_id if sf else None)
        accounted_ex |= {ex_id} if ex_id else set()
        accounted_sf |= {sf_id} if sf_id else set()
        ids = {"sync_key": link.sync_key, "exchange_id": ex_id, "salesforce_id": sf_id,
               "salesforce_object": link.salesforce_object, "object_kind": link.kind}  # fmt: skip
        subject = _subject(ex.entry if ex else None, sf.entry if sf else None, link.exchange_base, link.salesforce_base)
        ex_gone = ex is not None and (ex.type in DELETION_TYPES or ex.is_cancelled)  # the planner's reading too
        sf_gone = sf is not None and sf.type in DELETION_TYPES
        if ex_gone:
            why = "was cancelled" if ex.is_cancelled else "no longer exists (deleted or moved out of the calendar)"
            add("exchange_gone", f"the link's Outlook item {why}", subject=subject, **ids)
        if sf_gone:
            add("salesforce_gone", "the link's Salesforce record no longer exists (deleted)", subject=subject, **ids)
        if ex_gone or sf_gone:
            continue
        ex_ok = ex is not None and ex.type is ChangeType.CHANGED
        sf_ok = sf is not None and sf.type is ChangeType.CHANGED
        for change, name in ((ex, "Outlook item"), (sf, "Salesforce record")):
            if change is not None and change.type is ChangeType.CHANGED and change.entry is None:
                add("cannot_sync", f"the {name} cannot be synced: {_issues(change)}", subject=subject, **ids)
        if ex_ok and ex.entry is not None:
            linked_ex.append((ex.exchange_id, project(ex.entry)))
        if sf_ok and sf.entry is not None:
            linked_sf.append((sf.salesforce_id, project(sf.entry)))
        if ex_ok and ex.entry is not None and not sf_id:
            if window_has(link.kind, project(ex.entry)):
                add("exchange_only", "the Outlook item's Salesforce record was never created (a create cut short)",
                    subject=subject, **ids)  # fmt: skip
            continue
        if sf_ok and sf.entry is not None and not ex_id:
            if window_has(link.kind, project(sf.entry)):
                add("salesforce_only", "the Salesforce record's Outlook item was never created (a create cut short)",
                    subject=subject, **ids)  # fmt: skip
            continue
        if link.joined or not (ex_ok and sf_ok) or ex.entry is None or sf.entry is None:
            continue  # a joined Event is its organiser's pair to keep; an unshared item is the planner's to unlink
        if not window_has(link.kind, project(ex.entry), project(sf.entry)):
            continue  # outside the scope nothing syncs (leaving scope never deletes)
        compared += 1
        policy = policies.for_kind(link.kind)
        diffs = differing_fields(policy, link.origin, ex.entry, sf.entry, link.exchange_base)
        if diffs:
            names = ", ".join(d.field for d in diffs)
            add("fields_differ", f"the two sides differ on {names}", subject=subject, fields=tuple(diffs), **ids)

    # One sync key on several items of one side: copies (an Outlook copy keeps the key) or a second record.
    for side, changes, accounted, attr in (
        ("exchange", ex_by_id, accounted_ex, "exchange_id"),
        ("salesforce", sf_by_id, accounted_sf, "salesforce_id"),
    ):
        keyed: dict[str, list[Any]] = defaultdict(list)
        for c in changes.values():
            if c.sync_key and c.type is ChangeType.CHANGED:
                keyed[c.sync_key].append(c)
        for key, group in sorted(keyed.items()):
            link = by_key.get(key)
            linked_id = getattr(link, attr) if link is not None and link.is_live else None
            group.sort(key=lambda c: (getattr(c, attr) != linked_id, getattr(c, attr)))
            if len(group) < 2 and not (linked_id and getattr(group[0], attr) != linked_id):
                continue
            copies = [getattr(c, attr) for c in group if getattr(c, attr) != linked_id]
            if side == "exchange":
                extra = {"exchange_id": linked_id or copies[0], "salesforce_id": link.salesforce_id if link else None}
            else:
                extra = {"salesforce_id": linked_id or copies[0], "exchange_id": link.exchange_id if link else None,
                         "salesforce_object": group[0].salesforce_object}  # fmt: skip
            related = tuple(i for i in copies if i != extra[attr])
            where = "Outlook items" if side == "exchange" else "Salesforce records"
            add(f"duplicate_{side}", f"{len(set(copies) | {extra[attr]})} {where} carry the sync key {key}",
                object_kind=group[0].kind, sync_key=key, subject=_subject(*(c.entry for c in group)), related=related,
                refs=related, **extra)  # fmt: skip
            accounted |= set(copies)

    # Unlinked items, side by side (an item and a record under one unlinked key: the next session adopts them).
    sf_unlinked_keys: dict[str, str] = {}
    for sf in sorted(sf_by_id.values(), key=lambda c: c.salesforce_id):
        if sf.salesforce_id in accounted_sf or sf.type is not ChangeType.CHANGED:
            continue
        if sf.salesforce_id in inputs.known_elsewhere or (sf.sync_key or "") in inputs.known_elsewhere:
            continue
        if sf.sync_key and sf.sync_key in by_key:
            continue  # a tombstone's record (unlinked on purpose), or a live link's second record (above)
        ids = {"salesforce_id": sf.salesforce_id, "salesforce_object": sf.salesforce_object, "object_kind": sf.kind}
        if sf.entry is None:
            add("cannot_sync", f"the Salesforce record cannot be synced: {_issues(sf)}", sync_key=sf.sync_key, **ids)
            continue
        p = project(sf.entry)
        if sf.sync_key:
            # The Outlook item of the same pair: it carries the key, or (the pair's origin) its id gives the key.
            twin = next((e for e in sorted(ex_by_id.values(), key=lambda c: c.exchange_id)
                         if e.type is ChangeType.CHANGED and e.exchange_id not in accounted_ex
                         and sf.sync_key in (e.sync_key, new_sync_key(mailbox, Side.EXCHANGE, e.exchange_id))),
                        None)  # fmt: skip
            sf_unlinked_keys[sf.sync_key] = sf.salesforce_id
            where = f" (the Outlook item {twin.exchange_id} carries it too)" if twin else ""
            add("salesforce_unlinked", f"the Salesforce record carries the sync key {sf.sync_key}, which no link "
                f"knows{where}", sync_key=sf.sync_key, subject=sf.entry.subject,
                exchange_id=twin.exchange_id if twin else None,
                refs=[new_sync_key(mailbox, Side.SALESFORCE, sf.salesforce_id)], **ids)  # fmt: skip
            if twin is not None:
                accounted_ex.add(twin.exchange_id)
            continue
        derived = new_sync_key(mailbox, Side.SALESFORCE, sf.salesforce_id)
        twin = next((e for e in sorted(ex_by_id.values(), key=lambda c: c.exchange_id)
                     if e.type is ChangeType.CHANGED and e.exchange_id not in accounted_ex and e.sync_key == derived
                     and derived not in by_key), None)  # fmt: skip
        if twin is not None:  # a pair made from Salesforce: its Outlook item carries the key the record's id gives
            accounted_ex.add(twin.exchange_id)
            add("salesforce_unlinked", f"the Outlook item {twin.exchange_id} carries the sync key {derived} made from "
                "this record's id, which no link knows", sync_key=derived, subject=sf.entry.subject,
                exchange_id=twin.exchange_id, **ids)  # fmt: skip
            continue
        if not window_has(sf.kind, p):
            continue
        copy_of = next((i for i, q in linked_sf if _same_content(p, q)), None)
        if copy_of is not None:
            add("duplicate_salesforce", f"an unlinked Salesforce record has the subject and time of the linked "
                f"record {copy_of}", subject=sf.entry.subject, related=(copy_of,),
                refs=[new_sync_key(mailbox, Side.SALESFORCE, sf.salesforce_id)], **ids)  # fmt: skip
            continue
        add("salesforce_only", "the Salesforce record has no Outlook item", subject=sf.entry.subject,
            refs=[new_sync_key(mailbox, Side.SALESFORCE, sf.salesforce_id)], **ids)  # fmt: skip

    for ex in sorted(ex_by_id.values(), key=lambda c: c.exchange_id):
        if ex.exchange_id in accounted_ex or ex.type is not ChangeType.CHANGED or ex.is_cancelled:
            continue  # a cancelled meeting is a deletion to the planner: it never syncs
        if (ex.sync_key or "") in inputs.known_elsewhere:
            continue
        ids = {"exchange_id": ex.exchange_id, "object_kind": ex.kind}
        key = ex.sync_key if ex.sync_key and ex.sync_key not in by_key else None
        refs = [key or new_sync_key(mailbox, Side.EXCHANGE, ex.exchange_id)]
        if ex.entry is None:
            add("cannot_sync", f"the Outlook item cannot be synced: {_issues(ex)}", sync_key=ex.sync_key, refs=refs,
                **ids)  # fmt: skip
            continue
        p = project(ex.entry)
        if not window_has(ex.kind, p) or stays_in_outlook(policies.for_kind(ex.kind), ex.entry):
            continue
        copy_of = next((i for i, q in linked_ex if _same_content(p, q)), None)
        if copy_of is not None:
            add("duplicate_exchange", f"an unlinked Outlook item has the subject and time of the linked item "
                f"{copy_of}", subject=ex.entry.subject, related=(copy_of,), refs=refs, **ids)  # fmt: skip
            continue
        add("exchange_only", "the Outlook item is tagged for sync but has no Salesforce record",
            sync_key=ex.sync_key, subject=ex.entry.subject, refs=refs, **ids)  # fmt: skip

    findings.sort(key=lambda f: (KINDS.index(f.kind), f.sync_key or "", f.exchange_id or "", f.salesforce_id or ""))
    return VerifyReport(
        mailbox=mailbox,
        checked_at=inputs.now.isoformat(),
        counts={
            "links": len(live),
            "exchange_items": sum(1 for c in ex_by_id.values() if c.type is ChangeType.CHANGED),
            "salesforce_records": sum(1 for c in sf_by_id.values() if c.type is ChangeType.CHANGED),
            "pairs_compared": compared,
        },
        findings=findings,
        guard={name: bool(p.guard.tripped) for name, p in (("next_session", inputs.next_plan),
                                                            ("after_reset", inputs.reset_plan)) if p is not None},
    )  # fmt: skip
